"""Seeded city-scale walk networks and point tables for the equality tests and benchmarks.

A test-support module (not a test module): `tests/test_engine_equality.py` and
`benchmarks/run.py` both import it from here.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from planner.network import ComponentReport, StreetNetwork
from planner.readers import valid_points

#: UTM zone 50N: Puning / Liusha lies at about 116.2 E, 23.3 N.
CRS = "EPSG:32650"
#: South-west corner of the generated grid (metres, near Liusha).
ORIGIN = (400_000.0, 2_560_000.0)


def _grid_edges(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical neighbour pairs of a rows x cols node grid."""
    idx = np.arange(rows * cols).reshape(rows, cols)
    h = np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()])
    v = np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()])
    return np.vstack([h, v]), idx


def synthetic_network(
    n_nodes: int = 200_000,
    *,
    seed: int = 0,
    spacing: float = 90.0,
    jitter: float = 18.0,
    missing: float = 0.12,
    diagonal: float = 0.06,
    dead_ends: float = 0.05,
    bent: float = 0.3,
) -> StreetNetwork:
    """Generate a perturbed street grid with dead ends, missing links and diagonals.

    Parameters
    ----------
    n_nodes
        Approximate number of grid nodes (spur nodes come on top; the largest connected
        component is kept, so the result is a little smaller or larger).
    seed
        Random seed; the same arguments always give the same network.
    spacing
        Block size in metres.
    jitter
        Standard deviation of node displacement in metres.
    missing
        Share of grid links removed.
    diagonal
        Share of blocks crossed by a diagonal shortcut.
    dead_ends
        Share of nodes given a dead-end spur.
    bent
        Share of edges drawn with a bent (two-segment) geometry.

    Returns
    -------
    network
        A projected (`CRS`) StreetNetwork; edge lengths are geometry lengths.
    """
    rng = np.random.default_rng(seed)
    side = max(round(np.sqrt(n_nodes)), 2)
    rows, cols = side, max(round(n_nodes / side), 2)
    grid, idx = _grid_edges(rows, cols)
    jj, ii = np.meshgrid(np.arange(cols), np.arange(rows))
    x = ORIGIN[0] + jj.ravel() * spacing + rng.normal(0, jitter, rows * cols)
    y = ORIGIN[1] + ii.ravel() * spacing + rng.normal(0, jitter, rows * cols)
    grid = grid[rng.random(len(grid)) >= missing]
    # diagonal shortcuts across random blocks, in either direction
    blocks = idx[:-1, :-1].ravel()
    pick = blocks[rng.random(len(blocks)) < diagonal]
    flip = rng.random(len(pick)) < 0.5
    diag = np.where(
        flip[:, None],
        np.column_stack([pick + 1, pick + cols]),
        np.column_stack([pick, pick + cols + 1]),
    )
    # dead-end spurs to new nodes
    base = np.flatnonzero(rng.random(rows * cols) < dead_ends)
    angle = rng.uniform(0, 2 * np.pi, len(base))
    reach = rng.uniform(25.0, 0.6 * spacing, len(base))
    spur_nodes = rows * cols + np.arange(len(base))
    x = np.concatenate([x, x[base] + reach * np.cos(angle)])
    y = np.concatenate([y, y[base] + reach * np.sin(angle)])
    spur = np.column_stack([base, spur_nodes])
    edges = np.vstack([grid, diag, spur])
    n = len(x)
    # keep the largest connected component, as the planner does with real data
    adj = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, label = connected_components(adj, directed=False)
    sizes = np.bincount(label)
    keep_label = int(np.argmax(sizes))
    keep = label == keep_label
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[keep] = np.arange(int(keep.sum()))
    edges = new_index[edges[keep[edges[:, 0]]]]
    x, y = x[keep], y[keep]
    u, v = edges[:, 0], edges[:, 1]
    # geometries: straight, or bent through a displaced midpoint
    m = len(u)
    is_bent = rng.random(m) < bent
    mx = (x[u] + x[v]) / 2
    my = (y[u] + y[v]) / 2
    dx, dy = x[v] - x[u], y[v] - y[u]
    norm = np.hypot(dx, dy)
    shift = rng.uniform(-0.15, 0.15, m) * norm
    mx = mx - dy / np.where(norm > 0, norm, 1.0) * shift
    my = my + dx / np.where(norm > 0, norm, 1.0) * shift
    n_pts = np.where(is_bent, 3, 2)
    coords = np.empty((int(n_pts.sum()), 2))
    start = np.concatenate([[0], np.cumsum(n_pts)[:-1]])
    coords[start] = np.column_stack([x[u], y[u]])
    coords[start + n_pts - 1] = np.column_stack([x[v], y[v]])
    coords[start[is_bent] + 1] = np.column_stack([mx[is_bent], my[is_bent]])
    geometry = np.asarray(
        shapely.linestrings(coords, indices=np.repeat(np.arange(m), n_pts)), dtype=object
    )
    highway = np.full(m, "residential", dtype=object)
    highway[is_bent] = "footway"
    names = np.array([f"Street {i % 997}" for i in range(m)], dtype=object)
    names[rng.random(m) < 0.2] = ""
    dropped = pd.DataFrame(
        [
            {"nodes": int(s), "edges": 0, "length_m": 0.0, "names": "", "example_node": int(lbl)}
            for lbl, s in enumerate(sizes)
            if lbl != keep_label
        ],
        columns=["nodes", "edges", "length_m", "names", "example_node"],
    )
    return StreetNetwork(
        crs=CRS,
        node_ids=np.arange(len(x), dtype=np.int64) + 1_000_000_000,
        node_x=x,
        node_y=y,
        edge_u=u.astype(np.int64),
        edge_v=v.astype(np.int64),
        edge_length=shapely.length(geometry).astype(float),
        edge_geometry=geometry,
        edge_name=names,
        edge_highway=highway,
        components=ComponentReport(kept_nodes=len(x), kept_edges=m, dropped=dropped),
    )


def to_multidigraph(network: StreetNetwork) -> nx.MultiDiGraph:
    """Express a StreetNetwork as an osmnx-style projected MultiDiGraph.

    Nodes are OSM-like ids with ``x``/``y``; every edge is stored in both directions with
    ``length``, ``geometry`` (reversed for the v->u copy), ``name`` and ``highway``.

    Parameters
    ----------
    network
        The network.

    Returns
    -------
    G
        The graph (``G.graph["crs"]`` is the network CRS).
    """
    G = nx.MultiDiGraph(crs=network.crs)
    ids = network.node_ids
    G.add_nodes_from(
        (int(n), {"x": float(x), "y": float(y)})
        for n, x, y in zip(ids, network.node_x, network.node_y, strict=True)
    )
    reverse = shapely.reverse(network.edge_geometry)
    for i, (u, v) in enumerate(zip(ids[network.edge_u], ids[network.edge_v], strict=True)):
        attrs = {
            "length": float(network.edge_length[i]),
            "name": network.edge_name[i],
            "highway": network.edge_highway[i],
        }
        G.add_edge(int(u), int(v), geometry=network.edge_geometry[i], **attrs)
        G.add_edge(int(v), int(u), geometry=reverse[i], **attrs)
    return G


def random_points(
    network: StreetNetwork,
    n: int,
    *,
    seed: int,
    prefix: str,
    entrances: int = 1,
    kinds: tuple[str, ...] = ("shop", "restaurant", "pharmacy", "clinic", "bank"),
) -> pd.DataFrame:
    """Uniformly scattered points over the network's extent, in the readers' table layout.

    Parameters
    ----------
    network
        The network (its CRS and bounds).
    n
        Number of points (ids).
    seed
        Random seed.
    prefix
        Id prefix (``F`` for facilities, ``P`` for POIs).
    entrances
        Up to this many rows per id, placed within 60 m of each other (several entrances).
    kinds
        POI kinds, assigned at random.

    Returns
    -------
    table
        ``row, id, name, kind, lon, lat, x_orig, y_orig, crs_orig, status, usable,
        reason`` with WGS-84 lon/lat, plus ``x``/``y`` in the network CRS.
    """
    rng = np.random.default_rng(seed)
    x0, x1 = float(network.node_x.min()), float(network.node_x.max())
    y0, y1 = float(network.node_y.min()), float(network.node_y.max())
    x = rng.uniform(x0, x1, n)
    y = rng.uniform(y0, y1, n)
    ids = np.array([f"{prefix}{i:06d}" for i in range(n)], dtype=object)
    if entrances > 1:
        extra = rng.integers(0, entrances, n)
        rep = np.repeat(np.arange(n), 1 + extra)
        first = np.r_[True, rep[1:] != rep[:-1]]
        x = x[rep] + np.where(first, 0.0, rng.uniform(-60, 60, len(rep)))
        y = y[rep] + np.where(first, 0.0, rng.uniform(-60, 60, len(rep)))
        ids = ids[rep]
    lon, lat = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True).transform(x, y)
    table = valid_points(
        ids,
        lon,
        lat,
        names=[f"name {i}" for i in ids],
        kinds=np.asarray(kinds, dtype=object)[rng.integers(0, len(kinds), len(ids))].tolist(),
        first_row=2,
    )
    return table.assign(x=x, y=y)

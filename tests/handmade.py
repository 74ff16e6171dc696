"""Small hand-made street networks whose answers are worked out by hand in the tests."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import shapely

from planner.network import StreetNetwork, routable_network, street_network
from planner.readers import valid_points

CRS = "EPSG:32649"  # UTM 49N, metres
# Hand-made coordinates are small numbers; they are placed at this origin (near Puning).
X0, Y0 = 500_000.0, 2_577_000.0


def make_network(nodes: dict[int, tuple[float, float]], edges: list[tuple]) -> StreetNetwork:
    """Build a StreetNetwork from node coordinates and edges, every component kept.

    ``edges`` items are ``(u, v)`` for a straight edge or ``(u, v, [(x, y), ...])`` with
    the full geometry from u to v.
    """
    return street_network(make_graph(nodes, edges))


def make_routable_network(
    nodes: dict[int, tuple[float, float]], edges: list[tuple]
) -> StreetNetwork:
    """Like `make_network`, but as the loader builds it: the largest component only, the
    others dropped (and kept as ``dropped_geometry``/``dropped_piece``)."""
    return routable_network(make_graph(nodes, edges))


def make_graph(nodes: dict[int, tuple[float, float]], edges: list[tuple]) -> nx.MultiDiGraph:
    """The projected osmnx-style graph of `make_network` (both directions of every edge)."""
    G = nx.MultiDiGraph(crs=CRS)
    for n, (x, y) in nodes.items():
        G.add_node(n, x=x + X0, y=y + Y0)
    for osmid, e in enumerate(edges):
        u, v = e[0], e[1]
        coords = [(x + X0, y + Y0) for x, y in (e[2] if len(e) > 2 else [nodes[u], nodes[v]])]
        geom = shapely.LineString(coords)
        attrs = {"osmid": osmid, "length": geom.length, "highway": "footway", "name": f"{u}-{v}"}
        G.add_edge(u, v, geometry=geom, **attrs)
        G.add_edge(v, u, geometry=shapely.LineString(coords[::-1]), **attrs)
    return G


def points(rows: list[tuple]) -> pd.DataFrame:
    """A reader-layout table from (id, x, y[, kind]) rows given in the network CRS.

    The lon/lat columns are computed from the projected x/y so the pipeline's projection
    brings them back to the same metres.
    """
    from pyproj import Transformer

    t = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    ids = [r[0] for r in rows]
    x = np.array([r[1] for r in rows], dtype=float) + X0
    y = np.array([r[2] for r in rows], dtype=float) + Y0
    lon, lat = t.transform(x, y)
    return valid_points(
        ids,
        lon,
        lat,
        names=[f"name {i}" for i in ids],
        kinds=[r[3] if len(r) > 3 else "shop:test" for r in rows],
        first_row=2,
    )


def assert_same_network(a: StreetNetwork, b: StreetNetwork) -> None:
    """The very same arrays in the same order, CRS, component report and dropped streets (so
    a cache filled from either network is the same file)."""
    for name in ("node_ids", "node_x", "node_y", "edge_u", "edge_v", "edge_length"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert len(a.edge_geometry) == len(b.edge_geometry)
    assert shapely.equals_exact(a.edge_geometry, b.edge_geometry, tolerance=0).all()
    assert list(a.edge_name) == list(b.edge_name)
    assert list(a.edge_highway) == list(b.edge_highway)
    assert a.crs == b.crs
    assert a.components.kept_nodes == b.components.kept_nodes
    assert a.components.kept_edges == b.components.kept_edges
    pd.testing.assert_frame_equal(a.components.dropped, b.components.dropped)
    assert a.dropped_piece.dtype == b.dropped_piece.dtype == np.int64
    np.testing.assert_array_equal(a.dropped_piece, b.dropped_piece)
    assert len(a.dropped_geometry) == len(b.dropped_geometry)
    assert shapely.equals_exact(a.dropped_geometry, b.dropped_geometry, tolerance=0).all()

"""Band polygons grown from the street pieces each facility reaches, partial edges included."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import contourpy
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from planner._i18n import _
from planner.network import StreetNetwork
from planner.reach import Anchors, NodeReach


@dataclass(frozen=True)
class EdgeCoords:
    """Edge geometries as flat coordinates, for cutting many stretches at once.

    Edge ``e`` owns coordinates ``offsets[e]:offsets[e+1]``; ``along`` is each vertex's
    distance from the start of its edge and ``key`` the same distance plus ``base[e]`` (the
    total length of all previous edges), which is non-decreasing over the whole array.
    """

    xy: np.ndarray
    offsets: np.ndarray
    along: np.ndarray
    base: np.ndarray
    key: np.ndarray

    @classmethod
    def from_network(cls, network: StreetNetwork) -> EdgeCoords:
        """Flatten the network's edge geometries."""
        xy = shapely.get_coordinates(network.edge_geometry)
        counts = shapely.get_num_coordinates(network.edge_geometry).astype(np.int64)
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        step = np.zeros(len(xy))
        if len(xy) > 1:
            step[1:] = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
        step[offsets[:-1][counts > 0]] = 0.0  # no step into the first vertex of an edge
        total = np.cumsum(step)
        first = offsets[:-1][counts > 0]
        start_total = np.zeros(len(counts))
        start_total[counts > 0] = total[first]
        along = total - np.repeat(start_total, counts)
        base = np.zeros(len(counts))
        ends = offsets[1:][counts > 0] - 1
        lengths = np.zeros(len(counts))
        lengths[counts > 0] = along[ends]
        base[1:] = np.cumsum(lengths)[:-1]
        return cls(
            xy=xy, offsets=offsets, along=along, base=base, key=along + np.repeat(base, counts)
        )


def _point_on(
    coords: EdgeCoords, edge: np.ndarray, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Vertex index after which `at` metres along `edge` lies, and the point's coordinates."""
    lo = coords.offsets[edge]
    hi = coords.offsets[edge + 1] - 1
    i = np.searchsorted(coords.key, coords.base[edge] + at, side="right")
    i = np.clip(i, lo + 1, hi)  # segment (i-1, i)
    a0, a1 = coords.along[i - 1], coords.along[i]
    seg = a1 - a0
    f = np.where(seg > 0, (at - a0) / np.where(seg > 0, seg, 1.0), 0.0)
    f = np.clip(f, 0.0, 1.0)
    p = coords.xy[i - 1] + f[:, None] * (coords.xy[i] - coords.xy[i - 1])
    return i, p


def cut_lines(
    network: StreetNetwork,
    coords: EdgeCoords,
    edge: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> np.ndarray:
    """Vectorised ``shapely.ops.substring`` of many edges at once.

    Parameters
    ----------
    network
        The street network.
    coords
        `EdgeCoords` of the same network.
    edge, start, end
        Edge index and stretch (metres from the edge's u end, ``start <= end``).

    Returns
    -------
    lines
        LineStrings (the edge's own geometry when the stretch is the whole edge; a Point
        when it has zero length).
    """
    edge = np.asarray(edge, dtype=np.int64)
    length = network.edge_length[edge]
    start = np.clip(np.asarray(start, dtype=float), 0.0, length)
    end = np.clip(np.asarray(end, dtype=float), start, length)
    out = np.empty(len(edge), dtype=object)
    full = (start <= 0) & (end >= length)
    out[full] = network.edge_geometry[edge[full]]
    point = ~full & (end <= start)
    if point.any():
        _index, p = _point_on(coords, edge[point], start[point])
        out[point] = shapely.points(p)
    part = np.flatnonzero(~full & ~point)
    if len(part):
        e, s, t = edge[part], start[part], end[part]
        i0, p0 = _point_on(coords, e, s)  # first interior vertex candidate: i0
        i1, p1 = _point_on(coords, e, t)  # interior vertices: i0 .. i1-1
        # a vertex lying exactly at s or t is the cut point itself, not an interior vertex
        i0 = i0 + (coords.along[i0] <= s)
        i1 = i1 - (coords.along[i1 - 1] >= t)
        n_inner = np.maximum(i1 - i0, 0)
        n_pts = n_inner + 2
        first = np.zeros(len(part), dtype=np.int64)
        np.cumsum(n_pts[:-1], out=first[1:])
        xy = np.empty((int(n_pts.sum()), 2))
        xy[first] = p0
        xy[first + n_pts - 1] = p1
        piece = np.repeat(np.arange(len(part)), n_inner)
        k = np.arange(len(piece)) - np.repeat(np.cumsum(n_inner) - n_inner, n_inner)
        xy[first[piece] + 1 + k] = coords.xy[i0[piece] + k]
        out[part] = shapely.linestrings(xy, indices=np.repeat(np.arange(len(part)), n_pts))
    return out


def _incidence(network: StreetNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges touching each node: CSR ``indptr``, edge index, and whether the node is u."""
    node = np.concatenate([network.edge_u, network.edge_v])
    edge = np.concatenate([np.arange(network.n_edges)] * 2)
    at_u = np.repeat([True, False], network.n_edges)
    order = np.argsort(node, kind="stable")
    indptr = np.searchsorted(node[order], np.arange(network.n_nodes + 1))
    return indptr, edge[order], at_u[order]


def band_growth(
    network: StreetNetwork,
    reach: NodeReach,
    sources: Anchors,
    bands_m: list[float],
) -> pd.DataFrame:
    """Street stretches each band adds to the band inside it, for all facilities at once.

    Every reached stretch grows with the budget: from a reached end node ``[0, r]`` (or
    ``[L - r, L]``), from an entrance ``[offset - r, offset + r]``. Band ``k``'s linework is
    band ``k-1``'s plus, per stretch, the part that grew; only that part is returned for
    ``k > 0`` (stretches first reached in band ``k`` are returned whole, a zero-length one
    included). The union of the stretches of bands ``0..k`` is all the street within band
    ``k``'s budget (``r`` = budget - distance at the node; budget - access leg at an
    entrance).

    Parameters
    ----------
    network
        The street network.
    reach
        Node distances per facility.
    sources
        All facility anchors.
    bands_m
        Band distances in metres, ascending.

    Returns
    -------
    growth
        Columns ``facility`` (row position in `reach`), ``band``, ``edge``, ``start``,
        ``end``; sorted by facility, band and edge.
    """
    indptr, inc_edge, inc_at_u = _incidence(network)
    length = network.edge_length
    row = np.repeat(np.arange(len(reach.facilities)), np.diff(reach.indptr))
    deg = indptr[reach.node + 1] - indptr[reach.node]
    pos = np.repeat(indptr[reach.node] - np.cumsum(np.r_[0, deg[:-1]]), deg) + np.arange(deg.sum())
    n_row = np.repeat(row, deg)
    n_dist = np.repeat(reach.dist, deg)
    n_edge = inc_edge[pos]
    n_at_u = inc_at_u[pos]
    row_of = pd.Index(reach.facilities).get_indexer(sources.owner)
    e_ok = row_of >= 0
    e_row, e_edge = row_of[e_ok], sources.edge[e_ok]
    e_off, e_acc = sources.offset[e_ok], sources.access[e_ok]
    # each stretch: (row, edge, anchor, direction, distance at anchor); it covers
    # [anchor, anchor + r] towards `direction` (+1 / -1), r = budget - distance, clipped
    s_row = np.concatenate([n_row, e_row, e_row])
    s_edge = np.concatenate([n_edge, e_edge, e_edge])
    s_anchor = np.concatenate([np.where(n_at_u, 0.0, length[n_edge]), e_off, e_off])
    s_dir = np.concatenate([np.where(n_at_u, 1.0, -1.0), np.ones(len(e_row)), -np.ones(len(e_row))])
    s_dist = np.concatenate([n_dist, e_acc, e_acc])
    s_len = length[s_edge]

    def covered(budget: float) -> tuple[np.ndarray, np.ndarray]:
        r = budget - s_dist
        lo = np.where(s_dir > 0, s_anchor, np.maximum(s_anchor - r, 0.0))
        hi = np.where(s_dir > 0, np.minimum(s_anchor + r, s_len), s_anchor)
        return lo, hi

    frames = []
    prev_reached = np.zeros(len(s_row), dtype=bool)
    prev_lo, prev_hi = np.zeros(len(s_row)), np.zeros(len(s_row))
    for b, budget in enumerate(sorted(bands_m)):
        reached = s_dist <= budget
        lo, hi = covered(budget)
        new = reached & ~prev_reached
        grew = reached & prev_reached
        # the grown part lies at the far side of the stretch from its anchor
        g_lo = np.where(s_dir > 0, prev_hi, lo)
        g_hi = np.where(s_dir > 0, hi, prev_lo)
        grew &= g_hi > g_lo
        keep = new | grew
        frames.append(
            pd.DataFrame(
                {
                    "facility": s_row[keep],
                    "band": b,
                    "edge": s_edge[keep],
                    "start": np.where(new, lo, g_lo)[keep],
                    "end": np.where(new, hi, g_hi)[keep],
                }
            )
        )
        prev_reached, prev_lo, prev_hi = reached, lo, hi
    df = pd.concat(frames, ignore_index=True)
    return _merge_stretches(df)


def _merge_stretches(df: pd.DataFrame) -> pd.DataFrame:
    """Merge overlapping or touching stretches of the same facility, band and edge."""
    if df.empty:
        return df
    df = df.sort_values(["facility", "band", "edge", "start", "end"], ignore_index=True)
    group = ["facility", "band", "edge"]
    same = (df[group] == df[group].shift()).all(axis=1)
    reach_end = df.groupby(group, sort=False)["end"].cummax().shift()
    df["run"] = (~same | (df["start"] > reach_end)).cumsum()
    merged = df.groupby("run", sort=False).agg(
        facility=("facility", "first"),
        band=("band", "first"),
        edge=("edge", "first"),
        start=("start", "min"),
        end=("end", "max"),
    )
    return merged.reset_index(drop=True)


#: Threads drawing polygons (GEOS releases the GIL; one facility per task).
POLYGON_THREADS = max(1, min(2, os.cpu_count() or 1))

#: How band polygons are drawn: ``"exact"`` (GEOS buffer and union of every reached street
#: piece) or ``"grid"`` (a distance grid per facility contoured at the corridor edge).
ISOCHRONE_METHODS = ("exact", "grid")
#: Cell size of the ``"grid"`` method in metres.
GRID_CELL_M = 4.0
#: Largest cell size accepted: above it the grid outline may stray beyond `GRID_BOUND_M`.
GRID_CELL_MAX_M = 4.0
#: How far a ``"grid"`` outline may lie from the exact corridor (metres): every point of
#: either polygon is within this distance of the other (Hausdorff distance of the two
#: areas), for any cell size up to `GRID_CELL_MAX_M`; tested on hand-made networks, the
#: sample and the benchmark's city workload.
GRID_BOUND_M = 5.0


def isochrones(
    network: StreetNetwork,
    reach: NodeReach,
    sources: Anchors,
    bands_m: list[float],
    *,
    buffer_m: float = 25.0,
    method: str = "exact",
    cell_m: float = GRID_CELL_M,
) -> gpd.GeoDataFrame:
    """Band polygons per facility: reached street pieces buffered by `buffer_m`.

    Holes between reached streets are kept and no convex hull is taken. With
    ``method="exact"`` the polygon is the GEOS union of every reached piece buffered by
    `buffer_m`, and bands are nested by construction (each band is the one inside it
    unioned with the buffered stretches that grew, see `band_growth`). With
    ``method="grid"`` each facility gets one grid of `cell_m` cells; the reached pieces are
    sampled onto it, the distance to them computed per band (scipy's exact Euclidean
    distance transform) and contoured at `buffer_m` (contourpy): about twice as fast, and
    within `GRID_BOUND_M` of the exact polygon for `cell_m` up to `GRID_CELL_MAX_M`.

    Parameters
    ----------
    network
        The street network.
    reach
        Node distances per facility, bounded by at least ``max(bands_m)``.
    sources
        All facility anchors.
    bands_m
        Band distances in metres, ascending.
    buffer_m
        Half-width of the drawn street corridor in metres.
    method
        ``"exact"`` or ``"grid"`` (`ISOCHRONE_METHODS`).
    cell_m
        Cell size of the ``"grid"`` method in metres (0 < `cell_m` <= `GRID_CELL_MAX_M`).

    Returns
    -------
    polygons
        Columns ``facility`` (index), ``band`` (position in `bands_m`), ``distance_m``,
        ``geometry`` (network CRS; empty when nothing is reached).
    """
    if method not in ISOCHRONE_METHODS:
        raise ValueError(
            _("method: expected one of {isochrone_methods}, got {method!r}").format(
                isochrone_methods=", ".join(ISOCHRONE_METHODS), method=method
            )
        )
    if not 0 < cell_m <= GRID_CELL_MAX_M:
        raise ValueError(
            _("cell_m: {cell_m:g} m is outside (0, {grid_cell_max_m:g}]").format(
                cell_m=cell_m, grid_cell_max_m=GRID_CELL_MAX_M
            )
        )
    bands = sorted(bands_m)
    growth = band_growth(network, reach, sources, bands)
    lines = cut_lines(
        network,
        EdgeCoords.from_network(network),
        growth["edge"].to_numpy(),
        growth["start"].to_numpy(),
        growth["end"].to_numpy(),
    )
    n_rows = len(reach.facilities)
    if method == "grid":
        draw = _grid_drawer(lines, growth, n_rows, len(bands), buffer_m, cell_m)
    else:
        draw = _exact_drawer(lines, growth, n_rows, len(bands), buffer_m)
    if POLYGON_THREADS > 1 and n_rows > 1:
        with ThreadPoolExecutor(POLYGON_THREADS) as pool:
            drawn = list(pool.map(draw, range(n_rows)))
    else:
        drawn = [draw(i) for i in range(n_rows)]
    return gpd.GeoDataFrame(
        {
            "facility": np.repeat(np.asarray(reach.facilities, dtype=int), len(bands)),
            "band": np.tile(np.arange(len(bands)), n_rows),
            "distance_m": np.tile(np.asarray(bands, dtype=float), n_rows),
        },
        geometry=[g for row in drawn for g in row],
        crs=network.crs,
    )


def _exact_drawer(
    lines: np.ndarray, growth: pd.DataFrame, n_rows: int, n_bands: int, buffer_m: float
) -> Callable[[int], list[shapely.Geometry]]:
    """Per facility: GEOS buffer of every piece, unioned band by band onto the band inside."""
    key = growth["facility"].to_numpy() * n_bands + growth["band"].to_numpy()
    bounds = np.searchsorted(key, np.arange(n_rows * n_bands + 1))

    def draw(i: int) -> list[shapely.Geometry]:
        previous = shapely.Polygon()
        out = []
        for b in range(n_bands):
            k = i * n_bands + b
            pieces = lines[bounds[k] : bounds[k + 1]]
            if len(pieces):
                # buffering each piece then one union is far faster than buffering a collection
                grown = shapely.union_all(shapely.buffer(pieces, buffer_m))
                previous = shapely.union(previous, grown)
            out.append(previous)
        return out

    return draw


def _grid_drawer(
    lines: np.ndarray,
    growth: pd.DataFrame,
    n_rows: int,
    n_bands: int,
    buffer_m: float,
    cell_m: float,
) -> Callable[[int], list[shapely.Geometry]]:
    """Per facility: one grid, the distance to each band's pieces, contoured at `buffer_m`.

    The pieces are sampled every ``cell_m / 2`` (vertices kept) and each sample marks its
    cell; the distance from a cell centre to the nearest marked centre then differs from
    the distance to the pieces by less than ``cell_m / sqrt(2) + cell_m / 4``. The contour
    is drawn ``cell_m / 4`` inside `buffer_m`, which centres that error on zero, and
    simplified by ``cell_m / 8``.
    """
    xy, piece = _samples(lines, cell_m / 2)
    facility = growth["facility"].to_numpy()[piece]
    band = growth["band"].to_numpy()[piece].astype(np.int16)
    order = np.argsort(facility, kind="stable")
    xy, facility, band = xy[order], facility[order], band[order]
    bounds = np.searchsorted(facility, np.arange(n_rows + 1))
    margin = int(np.ceil(buffer_m / cell_m)) + 2  # cells around the pieces: contours close
    level = buffer_m - cell_m / 4

    def draw(i: int) -> list[shapely.Geometry]:
        pts, pb = xy[bounds[i] : bounds[i + 1]], band[bounds[i] : bounds[i + 1]]
        if not len(pts):
            return [shapely.Polygon()] * n_bands
        origin = np.floor(pts.min(axis=0) / cell_m) * cell_m - margin * cell_m
        cell = np.floor((pts - origin) / cell_m).astype(np.int64)  # (column, row)
        out = []
        for b in range(n_bands):
            mine = pb <= b  # the street within band b is the pieces of bands 0..b
            if not mine.any():
                out.append(shapely.Polygon())
                continue
            c = cell[mine]
            n_cols, n_lines = c.max(axis=0) + margin + 1
            free = np.ones((n_lines, n_cols), dtype=bool)
            free[c[:, 1], c[:, 0]] = False
            dist = ndimage.distance_transform_edt(free, sampling=cell_m)
            gen = contourpy.contour_generator(z=dist, fill_type=contourpy.FillType.OuterOffset)
            filled = gen.filled(-1.0, level)
            drawn = _polygons(filled, origin + cell_m / 2, cell_m)
            # nested like the exact bands: add the band inside (almost always covered already)
            out.append(drawn)
        return out

    return draw


def _samples(lines: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along `lines` no more than `step` apart, vertices included, and their line.

    Like ``shapely.segmentize`` followed by ``get_coordinates``, without building geometries.
    """
    xy, line = shapely.get_coordinates(lines, return_index=True)
    if len(xy) < 2:
        return xy, line
    same = line[1:] == line[:-1]  # segment k runs from vertex k to k + 1 of the same line
    start, seg_line = xy[:-1][same], line[:-1][same]
    delta = xy[1:][same] - start
    n = np.maximum(np.ceil(np.hypot(delta[:, 0], delta[:, 1]) / step), 1).astype(np.int64)
    seg = np.repeat(np.arange(len(start)), n)
    frac = (np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n, n)
    inner = start[seg] + frac[:, None] * delta[seg]  # segment starts and the points between
    ends = np.r_[~same, True]  # last vertex of each line (and points: single vertices)
    return np.concatenate([inner, xy[ends]]), np.concatenate([seg_line[seg], line[ends]])


def _polygons(filled: Any, origin: np.ndarray, cell_m: float) -> shapely.Geometry:
    """Shapely (Multi)Polygon from contourpy's ``OuterOffset`` output in grid units."""
    parts = []
    for points, offsets in zip(*filled, strict=True):
        ring = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        rings = shapely.linearrings(points * cell_m + origin, indices=ring)
        parts.append(shapely.Polygon(rings[0], rings[1:]))
    if not parts:
        return shapely.Polygon()
    geom = parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
    # the contour has a vertex on every cell side it crosses: drop those within cell/8 of
    # the line through their neighbours (straight street sides become a few vertices)
    geom = shapely.simplify(geom, cell_m / 8, preserve_topology=False)
    return geom if shapely.is_valid(geom) else shapely.make_valid(geom)

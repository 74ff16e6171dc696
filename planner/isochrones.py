"""Band polygons grown from the street pieces each facility reaches, partial edges included."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import contourpy
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import _polycache
from planner._cpus import usable_cpus
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
    f, b, e = (df[c].to_numpy() for c in ("facility", "band", "edge"))
    s, t = df["start"].to_numpy(dtype=float), df["end"].to_numpy(dtype=float)
    order = np.lexsort((t, s, e, b, f))
    f, b, e, s, t = f[order], b[order], e[order], s[order], t[order]
    first = np.r_[True, (f[1:] != f[:-1]) | (b[1:] != b[:-1]) | (e[1:] != e[:-1])]
    # the running maximum of `end` within each group
    reach_end = pd.Series(t).groupby(np.cumsum(first)).cummax().to_numpy()
    run = first.copy()
    run[1:] |= s[1:] > reach_end[:-1]
    at = np.flatnonzero(run)
    return pd.DataFrame(
        {
            "facility": f[at],
            "band": b[at],
            "edge": e[at],
            "start": s[at],
            "end": np.maximum.reduceat(t, at),
        }
    )


#: Threads drawing polygons (GEOS releases the GIL; one facility per task).
POLYGON_THREADS = min(2, usable_cpus())
#: From this many facilities polygons are drawn by as many forked processes as threads
#: instead (where fork exists): much of the drawing is numpy on small arrays, which holds
#: the GIL, so two threads reach about 1.4 CPUs. Two processes: city (500 facilities)
#: 7.6 -> 5.3 s, Nanjing Xinjiekou (20) 0.186 -> 0.165 s; the sample (6) 0.095 -> 0.102 s.
POLYGON_PROCESS_MIN_FACILITIES = 16

#: Keep the grid method's polygons in the user cache (`planner._polycache`) and reuse them
#: for a facility whose street segments, bands and drawing settings are all unchanged (the
#: key is a digest of exactly what draws it, the drawing code and library versions): the
#: same polygons, bit for bit (WKB), without drawing them again.
POLYGON_CACHE = True
#: Environment variable: ``0`` turns the polygon cache off for the process and its children
#: (the benchmarks that time the drawing set it).
POLYGON_CACHE_ENV = "PLANNER_POLYGON_CACHE"

#: In a forked polygon worker: the drawing function it was started with (`_start_worker`).
_DRAW: Callable[[int], list[shapely.Geometry]] | None = None

#: How band polygons are drawn: ``"exact"`` (GEOS buffer and union of every reached street
#: piece) or ``"grid"`` (exact distances on a grid per facility, contoured at the corridor
#: edge).
ISOCHRONE_METHODS = ("exact", "grid")
#: Cell size of the ``"grid"`` method in metres.
GRID_CELL_M = 6.0
#: Largest cell size accepted: above it the grid outline may stray beyond `GRID_BOUND_M`.
GRID_CELL_MAX_M = 6.0
#: The ``"grid"`` method needs a corridor at least this many cells wide on each side of a
#: street (`buffer_m` >= this x `cell_m`); narrower corridors are drawn exactly.
GRID_MIN_BUFFER_CELLS = 1.0
#: How far a ``"grid"`` outline may lie from the exact corridor (metres): every point of
#: either polygon is within this distance of the other (Hausdorff distance of the two
#: areas), for any cell size up to `GRID_CELL_MAX_M`; tested on hand-made networks, the
#: sample and the benchmark's city workload.
GRID_BOUND_M = 5.0
#: The ``"grid"`` outlines are simplified by this many metres (Douglas-Peucker per ring):
#: contoured on a grid, a curve has a vertex on every cell side it crosses. The simplified
#: outline lies within this distance of the contoured one, which lies within 3.48 m of the
#: exact one (measured worst, benchmarks/notes/outline.md): 3.48 + 1.5 < `GRID_BOUND_M`.
GRID_SIMPLIFY_M = 1.5


def isochrones(
    network: StreetNetwork,
    reach: NodeReach,
    sources: Anchors,
    bands_m: list[float],
    *,
    buffer_m: float = 25.0,
    method: str = "exact",
    cell_m: float = GRID_CELL_M,
    simplify_m: float | None = None,
    cache: bool | None = None,
) -> gpd.GeoDataFrame:
    """Band polygons per facility: reached street pieces buffered by `buffer_m`.

    Holes between reached streets are kept and no convex hull is taken. With
    ``method="exact"`` the polygon is the GEOS union of every reached piece buffered by
    `buffer_m`, and bands are nested by construction (each band is the one inside it
    unioned with the buffered stretches that grew, see `band_growth`). With
    ``method="grid"`` each facility gets one grid of `cell_m` cells for all its bands;
    every node within a cell of a band's outline holds its exact distance to that band's
    pieces (`_distance_grids`) and the grid is contoured at `buffer_m` (contourpy). The
    outline is then exact along straight corridor sides and strays only where the
    corridor has detail finer than a cell (round ends, corners of holes, holes smaller than
    a cell): within `GRID_BOUND_M` of the exact polygon for `cell_m` up to
    `GRID_CELL_MAX_M`, and several times faster. Bands are nested (each band's distances
    are at most the band inside's, so its outline only moves out). Each ring of the
    contour is then simplified by `simplify_m` (Douglas-Peucker) and each band unioned
    with the simplified band inside it, so bands stay nested and every outline lies within
    `simplify_m` of the contoured one (and within `GRID_BOUND_M` of the exact one with the
    default `simplify_m`); a facility with a simplified band that is not valid keeps its
    contoured rings. A corridor narrower than `GRID_MIN_BUFFER_CELLS` cells is drawn
    exactly.

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
    simplify_m
        How far the ``"grid"`` method's simplified rings may lie from the contoured ones,
        in metres (None: `GRID_SIMPLIFY_M`; 0 keeps every contoured vertex).
    cache
        Reuse and keep the ``"grid"`` method's polygons in the user cache
        (`planner._polycache`; None: `POLYGON_CACHE`, unless the environment variable
        ``PLANNER_POLYGON_CACHE`` is ``0``): a facility whose street segments, bands and
        settings are unchanged gets the polygons drawn before, bit for bit.

    Returns
    -------
    polygons
        Columns ``facility`` (index), ``band`` (position in `bands_m`), ``distance_m``,
        ``geometry`` (network CRS; empty when nothing is reached).
    """
    return start_isochrones(
        network,
        reach,
        sources,
        bands_m,
        buffer_m=buffer_m,
        method=method,
        cell_m=cell_m,
        simplify_m=simplify_m,
        cache=cache,
    ).result()


class PendingIsochrones:
    """Band polygons being drawn, from `start_isochrones`; `result` waits for them.

    Use it as a context manager (or call `cancel`) so that polygons no longer wanted stop
    being drawn when the code between start and `result` raises.
    """

    def __init__(
        self,
        collect: Callable[[], list[list[shapely.Geometry]]],
        stop: Callable[[], None],
        frame: Callable[[list[list[shapely.Geometry]]], gpd.GeoDataFrame],
    ) -> None:
        self._collect = collect
        self._stop = stop
        self._frame = frame
        self._result: gpd.GeoDataFrame | None = None

    def result(self) -> gpd.GeoDataFrame:
        """Return the polygons (the `isochrones` table), waiting for them if need be."""
        if self._result is None:
            try:
                self._result = self._frame(self._collect())
            finally:
                self._stop()
        return self._result

    def cancel(self) -> None:
        """Stop drawing (nothing happens once `result` has returned)."""
        self._stop()

    def __enter__(self) -> PendingIsochrones:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


def start_isochrones(
    network: StreetNetwork,
    reach: NodeReach,
    sources: Anchors,
    bands_m: list[float],
    *,
    buffer_m: float = 25.0,
    method: str = "exact",
    cell_m: float = GRID_CELL_M,
    simplify_m: float | None = None,
    cache: bool | None = None,
) -> PendingIsochrones:
    """Start drawing the band polygons of `isochrones`; the caller may work meanwhile.

    Where `isochrones` draws in forked processes (from `POLYGON_PROCESS_MIN_FACILITIES`
    facilities, see `_in_processes`) they start now and draw while this process goes on
    with other work (in ``planner run``: the coverage tables, service gaps and policy
    types; city workload analysis 10.0-10.6 -> 7.9-8.0 s); otherwise the polygons are drawn
    when `PendingIsochrones.result` is called. Either way they are the polygons
    `isochrones` draws, bit for bit. Parameters as for `isochrones`.

    Returns
    -------
    pending
        Its `~PendingIsochrones.result` is the `isochrones` table.
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
    n_rows = len(reach.facilities)
    keys: list[str] | None = None
    if method == "grid" and buffer_m >= cell_m * GRID_MIN_BUFFER_CELLS:
        if simplify_m is None:
            simplify_m = GRID_SIMPLIFY_M
        segments = _grid_segments(network, growth, n_rows)
        draw = _grid_drawer(segments, len(bands), buffer_m, cell_m, simplify_m)
        if _cache_on(cache):
            keys = _grid_keys(segments, len(bands), buffer_m, cell_m, simplify_m)
    else:
        lines = cut_lines(
            network,
            EdgeCoords.from_network(network),
            growth["edge"].to_numpy(),
            growth["start"].to_numpy(),
            growth["end"].to_numpy(),
        )
        draw = _exact_drawer(lines, growth, n_rows, len(bands), buffer_m)
    stored = _polycache.read(keys) if keys else [None] * n_rows
    todo = [i for i, found in enumerate(stored) if found is None]

    def frame(drawn: list[list[shapely.Geometry]]) -> gpd.GeoDataFrame:
        rows: list[list[shapely.Geometry]] = [[] for i in range(n_rows)]
        for i, polygons in zip(todo, drawn, strict=True):
            rows[i] = polygons
        for i, found in enumerate(stored):
            if found is not None:
                rows[i] = shapely.from_wkb(found).tolist()
        if keys and todo:
            _polycache.write({keys[i]: shapely.to_wkb(rows[i]).tolist() for i in todo})
        return gpd.GeoDataFrame(
            {
                "facility": np.repeat(np.asarray(reach.facilities, dtype=int), len(bands)),
                "band": np.tile(np.arange(len(bands)), n_rows),
                "distance_m": np.tile(np.asarray(bands, dtype=float), n_rows),
            },
            geometry=[g for row in rows for g in row],
            crs=network.crs,
        )

    if _in_processes(len(todo)):
        collect, stop = _start_processes(draw, todo, len(bands))
        return PendingIsochrones(collect, stop, frame)

    def later() -> list[list[shapely.Geometry]]:
        if POLYGON_THREADS > 1 and len(todo) > 1:
            with ThreadPoolExecutor(POLYGON_THREADS) as pool:
                return list(pool.map(draw, todo))
        return [draw(i) for i in todo]

    return PendingIsochrones(later, lambda: None, frame)


def _cache_on(cache: bool | None) -> bool:
    """Whether to use the polygon cache: `cache`; None: `POLYGON_CACHE`, unless off by env."""
    if cache is not None:
        return cache
    return POLYGON_CACHE and os.environ.get(POLYGON_CACHE_ENV, "").strip() != "0"


def _in_processes(n_rows: int) -> bool:
    """Whether to draw `n_rows` facilities' polygons in forked processes."""
    import multiprocessing

    return (
        POLYGON_THREADS > 1
        and n_rows >= POLYGON_PROCESS_MIN_FACILITIES
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon  # (a pool worker may have no children)
    )


def _start_worker(draw: Callable[[int], list[shapely.Geometry]]) -> None:
    """In a forked worker, once: keep the drawing function (inherited, not pickled)."""
    global _DRAW
    _DRAW = draw


def _draw_some(rows: list[int]) -> list[bytes]:
    """In a forked worker: the WKB of the polygons of facilities `rows`."""
    assert _DRAW is not None
    return [shapely.to_wkb(g) for i in rows for g in _DRAW(i)]


def _start_processes(
    draw: Callable[[int], list[shapely.Geometry]], rows: list[int], n_bands: int
) -> tuple[Callable[[], list[list[shapely.Geometry]]], Callable[[], None]]:
    """Start ``[draw(i) for i in rows]`` in `POLYGON_THREADS` forked processes.

    The workers are started with `draw` (a forked process inherits it and everything it
    reads: nothing is pickled on the way in, and calls from several threads at once each
    start their own workers); the polygons come back as WKB, which keeps every coordinate
    exactly. Returns ``collect`` (waits; an error in a worker is raised there as it was, a
    worker that dies fails it with `concurrent.futures.process.BrokenProcessPool`) and
    ``stop`` (cancels what has not started and lets the workers go; call it always).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    step = max(1, -(-len(rows) // (POLYGON_THREADS * 8)))
    chunks = [rows[a : a + step] for a in range(0, len(rows), step)]
    pool = ProcessPoolExecutor(
        POLYGON_THREADS,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(draw,),
    )
    try:
        futures = [pool.submit(_draw_some, chunk) for chunk in chunks]
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise

    def collect() -> list[list[shapely.Geometry]]:
        wkb = [g for f in futures for g in f.result()]
        geoms = shapely.from_wkb(wkb).tolist()
        return [geoms[i * n_bands : (i + 1) * n_bands] for i in range(len(rows))]

    def stop() -> None:
        pool.shutdown(wait=True, cancel_futures=True)

    return collect, stop


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


def _grid_segments(
    network: StreetNetwork, growth: pd.DataFrame, n_rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The segments the grid method draws: starts, ends, bands, each facility's first (n + 1).

    All facilities' segments, by facility; facility ``i`` has ``bounds[i]:bounds[i + 1]``.
    """
    xy, piece = _stretch_xy(
        network,
        EdgeCoords.from_network(network),
        growth["edge"].to_numpy(),
        growth["start"].to_numpy(),
        growth["end"].to_numpy(),
    )
    a, b, seg_piece = _segments(xy, piece)
    facility = growth["facility"].to_numpy()[seg_piece]  # growth is sorted by facility
    band = growth["band"].to_numpy()[seg_piece].astype(np.int64)
    bounds = np.searchsorted(facility, np.arange(n_rows + 1))
    return a, b, band, bounds


def _grid_keys(
    segments: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    n_bands: int,
    buffer_m: float,
    cell_m: float,
    simplify_m: float,
) -> list[str]:
    """Per facility: the polygon cache key of everything `_grid_drawer`'s ``draw(i)`` reads."""
    a, b, band, bounds = segments
    settings = (n_bands, buffer_m, cell_m, simplify_m)
    return [
        _polycache.key((a[lo:hi], b[lo:hi], band[lo:hi]), settings)
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
    ]


def _grid_drawer(
    segments: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    n_bands: int,
    buffer_m: float,
    cell_m: float,
    simplify_m: float,
) -> Callable[[int], list[shapely.Geometry]]:
    """Per facility: one grid of exact distances for all bands, contoured at `buffer_m`.

    Every grid node within one cell of a band's outline holds its exact distance to the
    nearest street piece of that band (see `_distance_grids`), so the outline crosses each
    cell side where the distance, interpolated linearly, equals `buffer_m`: exactly along
    the straight sides of a corridor, and within a cell elsewhere (round caps, the corners
    of holes, holes smaller than a cell). Each ring is then simplified (Douglas-Peucker,
    `simplify_m`) and each band unioned with the band inside it (`_nested`); a facility
    with a simplified band that is not valid keeps its rings as contoured. ``draw(i)``
    reads only facility ``i``'s segments (`_grid_segments`) and the settings.
    """
    a, b, band, bounds = segments
    # a node exactly on the level would put one contour vertex on two cells' sides: the
    # level is raised by a relative 1e-12 (a picometre) so that no distance equals it
    level = buffer_m / cell_m * (1.0 + 1e-12)

    def draw(i: int) -> list[shapely.Geometry]:
        lo, hi = bounds[i], bounds[i + 1]
        if lo == hi:
            return [shapely.Polygon()] * n_bands
        planes, origin, boxes = _distance_grids(
            a[lo:hi], b[lo:hi], band[lo:hi], n_bands, buffer_m, cell_m
        )
        contoured: list[_Rings | None] = []
        touched = False  # the outline passes (almost) through a node: rings may meet
        for k in range(n_bands):
            box = boxes[k]
            if box is None:
                contoured.append(None)
                continue
            gen = contourpy.contour_generator(
                z=planes[k], fill_type=contourpy.FillType.ChunkCombinedOffsetOffset
            )
            filled = cast("tuple[Any, Any, Any]", gen.filled(-1.0, level))
            points, rings, polys = filled
            contoured.append(
                _contour_rings(points[0], rings[0], polys[0], planes[k], level, box, origin, cell_m)
            )
            touched |= bool(np.any(np.abs(planes[k] - level) < 1e-6))
        if simplify_m > 0 and not touched:
            simple = [_polygons(c, simplify_m) for c in contoured]
            if shapely.is_valid(simple).all():
                return _nested(simple)
        out = []
        for c in contoured:
            drawn = _polygons(c)
            if touched and not shapely.is_valid(drawn):
                drawn = shapely.make_valid(drawn)
            out.append(drawn)
        return out

    return draw


def _stretch_xy(
    network: StreetNetwork,
    coords: EdgeCoords,
    edge: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of many edge stretches, and the stretch of each (what `cut_lines` draws).

    A zero-length stretch gives its point twice (a segment of zero length).
    """
    edge = np.asarray(edge, dtype=np.int64)
    length = network.edge_length[edge]
    start = np.clip(np.asarray(start, dtype=float), 0.0, length)
    end = np.clip(np.asarray(end, dtype=float), start, length)
    full = (start <= 0) & (end >= length)
    # every stretch: an optional first cut point, edge vertices [v0, v1), a last point
    v0 = coords.offsets[edge].copy()
    v1 = coords.offsets[edge + 1].copy()
    p0 = np.zeros((len(edge), 2))
    p1 = np.zeros((len(edge), 2))
    cut = np.flatnonzero(~full)
    if len(cut):
        e, s, t = edge[cut], start[cut], end[cut]
        i0, p0[cut] = _point_on(coords, e, s)
        i1, p1[cut] = _point_on(coords, e, t)
        # a vertex lying exactly at s or t is the cut point itself, not an interior vertex
        v0[cut] = i0 + (coords.along[i0] <= s)
        v1[cut] = np.maximum(i1 - (coords.along[i1 - 1] >= t), v0[cut])
        point = t <= s
        v1[cut[point]] = v0[cut[point]]
        p1[cut[point]] = p0[cut[point]]
    ends = (~full).astype(np.int64)
    n_pts = (v1 - v0) + 2 * ends
    first = np.cumsum(n_pts) - n_pts
    owner = np.repeat(np.arange(len(edge)), n_pts)
    k = np.arange(len(owner)) - first[owner] - ends[owner]  # vertex number after the cut
    xy = coords.xy[np.clip(v0[owner] + k, 0, max(len(coords.xy) - 1, 0))]
    head = first[cut]
    xy[head] = p0[cut]
    xy[head + n_pts[cut] - 1] = p1[cut]
    return xy, owner


def _segments(xy: np.ndarray, piece: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments of the pieces: start points, end points and the piece of each."""
    same = piece[1:] == piece[:-1]
    return xy[:-1][same], xy[1:][same], piece[:-1][same]


def _spans(
    ax: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    length: np.ndarray,
    yr: np.ndarray,
    radii: tuple[float, ...],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per segment and grid row: the interval of x within each radius of the segment.

    The segment runs from ``(ax, 0)`` by ``(dx, dy)`` (`length` long); the row is the line
    at height `yr`. The points within ``r`` of a segment form a capsule, which is convex,
    so its section by a line is one interval: the union of the sections of the two end
    disks and of the band between them. Empty: ``lo > hi``.
    """
    # the band: 0 <= p.u <= length and |p x u| <= r with u = d / length; a zero component
    # of u is replaced by a tiny one of the same sign (its bounds become huge)
    with np.errstate(divide="ignore", invalid="ignore"):
        ux = np.where(length > 0, dx / length, 1.0)
        uy = np.where(length > 0, dy / length, 1.0)
    tiny = 1e-12
    ux = np.where(np.abs(ux) < tiny, np.copysign(tiny, ux), ux)
    uy = np.where(np.abs(uy) < tiny, np.copysign(tiny, uy), uy)
    s0 = -yr * uy / ux
    s1 = (length - yr * uy) / ux
    s_lo, s_hi = np.minimum(s0, s1), np.maximum(s0, s1)
    q_mid = yr * ux / uy
    inv_uy = np.abs(1.0 / uy)
    far = (yr - dy) ** 2
    near = yr * yr
    has_band = length > 0
    out = []
    for r in radii:
        lo = np.maximum(s_lo, q_mid - r * inv_uy)
        hi = np.minimum(s_hi, q_mid + r * inv_uy)
        empty = ~has_band | (lo > hi)
        lo[empty] = np.inf
        hi[empty] = -np.inf
        for cx, h2 in ((0.0, near), (dx, far)):  # the end disks
            w2 = r * r - h2
            w = np.sqrt(np.maximum(w2, 0.0))
            outside = w2 < 0
            np.minimum(lo, np.where(outside, np.inf, cx - w), out=lo)
            np.maximum(hi, np.where(outside, -np.inf, cx + w), out=hi)
        out.append((lo + ax, hi + ax))
    return out


def _distance_grids(
    a: np.ndarray, b: np.ndarray, band: np.ndarray, n_bands: int, buffer_m: float, cell_m: float
) -> tuple[list[np.ndarray], np.ndarray, list[tuple[int, int, int, int] | None]]:
    """Distance in cells from grid nodes to the segments of each band and the bands inside it.

    Grid node ``(row, col)`` lies at ``origin + (col, row) * cell_m``. Each segment visits
    the rows within ``buffer_m + cell_m`` of it and, per row, computes the exact distance
    at the nodes between ``buffer_m - cell_m`` and ``buffer_m + cell_m`` from it (its
    shell); the nodes nearer than ``buffer_m - cell_m`` (its core) are only marked, and
    hold ``buffer_m - cell_m``. So a node within one cell of a band's outline holds its
    exact distance (its nearest segment has it in its shell, and a node whose distance is
    within a cell of ``buffer_m`` lies in no segment's core); a node nearer holds a value
    below ``buffer_m`` and one farther a value above it. Those are all that marching squares
    reads: a cell side crosses the outline only between two nodes within a cell of it.

    Returns
    -------
    planes, origin, boxes
        Per band the distances in cells over the rows and columns ``(r0, r1, c0, c1)`` of
        its box (all of its outline; None: no piece in the band or inside it), and the
        grid's origin.
    """
    r_out = buffer_m / cell_m + 1.0 + 1e-6  # a node exactly a cell beyond is kept too
    r_core = buffer_m / cell_m - 1.0
    pad = int(np.ceil(r_out)) + 1
    low = np.minimum(a.min(axis=0), b.min(axis=0))
    origin = (np.floor(low / cell_m) - pad) * cell_m
    a = (a - origin) / cell_m
    b = (b - origin) / cell_m
    top = np.maximum(a, b)
    n_cols, n_rows = (np.ceil(top.max(axis=0)).astype(np.int64) + pad + 1).tolist()
    ax, ay = a[:, 0], a[:, 1]
    dx, dy = b[:, 0] - ax, b[:, 1] - ay
    length = np.hypot(dx, dy)
    bottom = np.minimum(a, b)
    # per band, the rows and columns its pieces (and those of the bands inside) can touch
    boxes: list[tuple[int, int, int, int] | None] = []
    box_lo, box_hi = np.full(2, np.inf), np.full(2, -np.inf)
    for k in range(n_bands):
        mine = band == k
        if mine.any():
            box_lo = np.minimum(box_lo, bottom[mine].min(axis=0))
            box_hi = np.maximum(box_hi, top[mine].max(axis=0))
        if not np.isfinite(box_lo).all():
            boxes.append(None)
            continue
        c0, r0 = (np.maximum(np.floor(box_lo - r_out).astype(np.int64) - 1, 0)).tolist()
        c1, r1 = (
            np.minimum(np.ceil(box_hi + r_out).astype(np.int64) + 2, [n_cols, n_rows])
        ).tolist()
        boxes.append((r0, r1, c0, c1))

    # every segment's rows
    j0 = np.ceil(bottom[:, 1] - r_out).astype(np.int64)
    j1 = np.floor(top[:, 1] + r_out).astype(np.int64)
    per = j1 - j0 + 1
    seg = np.repeat(np.arange(len(ax)), per)
    row = np.arange(len(seg)) - np.repeat(np.cumsum(per) - per - j0, per)
    yr = row - ay[seg]
    radii = (r_out, r_core) if r_core > 0 else (r_out,)
    spans = _spans(ax[seg], dx[seg], dy[seg], length[seg], yr, radii)
    o_lo, o_hi = spans[0]
    i0 = np.ceil(np.clip(o_lo, 0, n_cols)).astype(np.int64)
    i1 = np.floor(np.clip(o_hi, -1, n_cols - 1)).astype(np.int64)
    if r_core > 0:
        c_lo, c_hi = spans[1]
        c0 = np.maximum(np.ceil(np.clip(c_lo, 0, n_cols)).astype(np.int64), i0)
        c1 = np.minimum(np.floor(np.clip(c_hi, -1, n_cols - 1)).astype(np.int64), i1)
        core = c0 <= c1
    else:
        c0 = c1 = i0
        core = np.zeros(len(seg), dtype=bool)
    # one plane per band over its box, all in one buffer
    shape = np.array([(b[1] - b[0], b[3] - b[2]) if b else (0, 0) for b in boxes], dtype=np.int64)
    r0 = np.array([b[0] if b else 0 for b in boxes], dtype=np.int64)
    c0_band = np.array([b[2] if b else 0 for b in boxes], dtype=np.int64)
    size = shape[:, 0] * shape[:, 1]
    start = np.cumsum(size) - size
    seg_band = band[seg]
    base = start[seg_band] + (row - r0[seg_band]) * shape[seg_band, 1] - c0_band[seg_band]
    planes = []
    inner = np.zeros(int(size.sum()), dtype=bool)  # in the core of a band or one inside it
    if core.any():
        # core runs marked +1 at their first node and -1 after their last, then summed
        width = shape[:, 1] + 1
        size2 = shape[:, 0] * width
        start2 = np.cumsum(size2) - size2
        cb = seg_band[core]
        at = start2[cb] + (row[core] - r0[cb]) * width[cb] - c0_band[cb]
        # (integers: numpy sums them along a row far faster than floats)
        marks = np.bincount(at + c0[core], minlength=int(size2.sum())) - np.bincount(
            at + c1[core] + 1, minlength=int(size2.sum())
        )
        for k in range(n_bands):
            if boxes[k] is None:
                continue
            run = marks[start2[k] : start2[k] + size2[k]].reshape(shape[k, 0], width[k])
            mine = inner[start[k] : start[k] + size[k]].reshape(shape[k])
            np.greater(np.cumsum(run, axis=1)[:, :-1], 0, out=mine)
            if k and boxes[k - 1] is not None:
                mine[_inside(boxes[k - 1], boxes[k])] |= inner[
                    start[k - 1] : start[k - 1] + size[k - 1]
                ].reshape(shape[k - 1])
            # reuse the marks as the count of core nodes left of each node in its row
            run[:, 0] = 0
            np.cumsum(mine, axis=1, out=run[:, 1:])
    # the shell of each row: nodes i0 .. c0-1 and c1+1 .. i1 (all of i0 .. i1 without core),
    # less those in another segment's core
    n_left = np.maximum(np.where(core, c0 - i0, i1 - i0 + 1), 0)
    n_shell = n_left + np.where(core, i1 - c1, 0)
    jump = c1 + 1 - i0 - n_left
    if core.any():
        # rows whose whole shell lies in cores are skipped (dense streets: most of them)
        at = start2[seg_band] + (row - r0[seg_band]) * width[seg_band] - c0_band[seg_band]
        left_end = i0 + n_left
        covered = marks[at + left_end] - marks[at + i0]
        right = n_shell > n_left
        covered[right] += (marks[at + i1 + 1] - marks[at + c1 + 1])[right]
        n_shell[covered >= n_shell] = 0
    entry = np.repeat(np.arange(len(seg)), n_shell)
    at = _runs(base + i0, n_shell, n_left, jump)  # buffer position of every shell node
    keep = ~inner[at]
    entry, at = entry[keep], at[keep]
    s = seg[entry]
    px = (at - base[entry]) - ax[s]
    py = yr[entry]
    ex, ey = dx[s], dy[s]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(length > 0, 1.0 / (length * length), 0.0)
    t = np.clip((px * ex + py * ey) * inv[s], 0.0, 1.0)
    px -= t * ex
    py -= t * ey
    buffer = np.full(int(size.sum()), r_out * r_out + 1.0)
    np.minimum.at(buffer, at, px * px + py * py)
    buffer[inner] = r_core * r_core
    for k in range(n_bands):
        planes.append(buffer[start[k] : start[k] + size[k]].reshape(shape[k]))
        if k and boxes[k] is not None and boxes[k - 1] is not None:
            sub = planes[k][_inside(boxes[k - 1], boxes[k])]
            np.minimum(sub, planes[k - 1], out=sub)
    np.sqrt(buffer, out=buffer)
    return planes, origin, boxes


def _runs(first: np.ndarray, count: np.ndarray, split: np.ndarray, jump: np.ndarray) -> np.ndarray:
    """Concatenated runs of consecutive integers, each with one gap.

    Run ``e`` has ``count[e]`` values: ``first[e], first[e] + 1, ...``, and from its
    ``split[e]``-th value on ``jump[e]`` more (one cumulative sum of the steps).
    """
    total = int(count.sum())
    step = np.ones(total, dtype=np.int64)
    runs = np.flatnonzero(count > 0)
    if not len(runs):
        return step[:0]
    at = (np.cumsum(count) - count)[runs]
    n, cut, skip = count[runs], split[runs], jump[runs]
    head = first[runs] + np.where(cut <= 0, skip, 0)
    tail = first[runs] + n - 1 + np.where(n - 1 >= cut, skip, 0)
    step[at[0]] = head[0]
    step[at[1:]] = head[1:] - tail[:-1]
    inner = (cut > 0) & (cut < n)
    step[at[inner] + cut[inner]] += skip[inner]
    return np.cumsum(step)


def _inside(
    box: tuple[int, int, int, int] | None, outer: tuple[int, int, int, int] | None
) -> tuple[slice, slice]:
    """Rows and columns of `outer`'s plane that `box` covers (`box` lies within `outer`)."""
    assert box is not None and outer is not None
    return slice(box[0] - outer[0], box[1] - outer[0]), slice(box[2] - outer[2], box[3] - outer[2])


@dataclass(frozen=True)
class _Rings:
    """One band's contour rings.

    Vertices in metres, the ring of each vertex (rings closed), and the first ring of each
    polygon (its shell; the rings up to the next polygon's are its holes), the ring count
    last.
    """

    xy: np.ndarray
    ring: np.ndarray
    outers: np.ndarray


def _contour_rings(
    points: np.ndarray | None,
    rings: np.ndarray | None,
    outers: np.ndarray | None,
    plane: np.ndarray,
    level: float,
    box: tuple[int, int, int, int],
    origin: np.ndarray,
    cell_m: float,
) -> _Rings | None:
    """Rings from contourpy's ``ChunkCombinedOffsetOffset`` output, in metres.

    Every vertex lies on a cell side (a node value on either side of the level); its place
    along the side is interpolated again from the plane's two node values and put in
    whole-grid coordinates, so that wherever two bands' planes hold the same values (a hole
    both bands share) their vertices are the same numbers, whatever the bands' boxes.
    Vertices lying on the straight line through their neighbours (to 1e-9 cell) are
    dropped: along a straight street the outline has one on every cell side it crosses.
    """
    if points is None or rings is None or outers is None or not len(points):
        return None
    n_rows, n_cols = (int(n) for n in plane.shape)
    ring = np.repeat(np.arange(len(rings) - 1), np.diff(rings))
    x, y = points[:, 0], points[:, 1]
    on_row = np.abs(y - np.round(y)) <= np.abs(x - np.round(x))  # the side joins a row's nodes
    side = np.round(np.where(on_row, y, x)).astype(np.int64)
    along = np.floor(np.where(on_row, x, y)).astype(np.int64)
    along = np.clip(along, 0, np.where(on_row, n_cols - 2, n_rows - 2))
    first = np.where(on_row, side * n_cols + along, along * n_cols + side)
    flat = plane.reshape(-1)
    z0 = flat[first]
    z1 = flat[first + np.where(on_row, 1, n_cols)]
    t = np.clip((level - z0) / (z1 - z0), 0.0, 1.0)
    xy = np.empty_like(points)
    xy[:, 0] = np.where(on_row, along + t, side) + box[2]
    xy[:, 1] = np.where(on_row, side, along + t) + box[0]
    xy = _from_lowest(xy, np.asarray(rings))
    keep = np.ones(len(xy), dtype=bool)
    if len(xy) > 2:
        prev, here, nxt = xy[:-2], xy[1:-1], xy[2:]
        chord = nxt - prev
        cross = chord[:, 0] * (here[:, 1] - prev[:, 1]) - chord[:, 1] * (here[:, 0] - prev[:, 0])
        straight = np.abs(cross) <= 1e-9 * np.hypot(chord[:, 0], chord[:, 1])
        straight &= (ring[:-2] == ring[1:-1]) & (ring[2:] == ring[1:-1])
        # a vertex next to one (almost) on top of it stays: each decision is taken against
        # the original neighbours, and two coinciding ones would both look straight
        step = np.hypot(*np.diff(xy, axis=0).T) > 1e-6
        straight &= step[:-1] & step[1:]
        keep[1:-1] = ~straight
        # a ring keeps at least four vertices (a degenerate one stays as drawn)
        short = np.bincount(ring[keep], minlength=len(rings) - 1) < 4
        keep |= short[ring]
    return _Rings(xy[keep] * cell_m + origin, ring[keep], np.asarray(outers))


def _from_lowest(xy: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Closed rings ``offsets[r]:offsets[r+1]`` of `xy`, each started at its lowest vertex.

    Lowest, then leftmost: the same ring comes out the same whichever vertex contourpy
    began it at, and is simplified alike.
    """
    first, n = offsets[:-1], np.diff(offsets) - 1  # without the closing vertex
    ring = np.repeat(np.arange(len(n)), n + 1)
    pos = np.arange(len(xy)) - offsets[ring]
    open_ = pos < n[ring]
    x = np.where(open_, xy[:, 0], np.inf)
    y = np.where(open_, xy[:, 1], np.inf)
    y_min = np.minimum.reduceat(y, first)
    x_min = np.minimum.reduceat(np.where(y == y_min[ring], x, np.inf), first)
    low = np.flatnonzero((y == y_min[ring]) & (x == x_min[ring]))
    rings_at, first_low = np.unique(ring[low], return_index=True)  # each ring's first one
    start = np.zeros(len(n), dtype=np.int64)
    start[rings_at] = pos[low[first_low]]
    at = offsets[ring] + (pos + start[ring]) % n[ring]  # the closing vertex: the new first
    return xy[at]


def _polygons(rings: _Rings | None, simplify_m: float = 0.0) -> shapely.Geometry:
    """A band's (Multi)Polygon, each ring simplified by `simplify_m` metres (0: as drawn).

    Douglas-Peucker per ring (GEOS, topology not kept: the caller checks validity): every
    drawn vertex lies within `simplify_m` of its simplified ring and every point of that
    ring within `simplify_m` of the drawn one. A hole that collapses (all of it within
    `simplify_m` of a line, so no point of it farther than that from the band) is dropped;
    a shell that would collapse stays as drawn.
    """
    if rings is None:
        return shapely.Polygon()
    owner = np.repeat(np.arange(len(rings.outers) - 1), np.diff(rings.outers))
    if simplify_m > 0:
        # as closed lines: GEOS may also drop a ring's first vertex, judged against the
        # simplified neighbours alone, which can leave dropped vertices farther away
        lines = shapely.linestrings(rings.xy, indices=rings.ring)
        simple = shapely.simplify(lines, simplify_m, preserve_topology=False)
        count = shapely.get_num_coordinates(simple)
        shell = np.zeros(len(count), dtype=bool)
        shell[rings.outers[:-1]] = True
        kept = count >= 4  # a collapsed hole is dropped, a collapsed shell stays as drawn
        xy, index = shapely.get_coordinates(simple, return_index=True)
        parts = [xy[kept[index]], rings.xy[(shell & ~kept)[rings.ring]]]
        ring = np.concatenate([index[kept[index]], rings.ring[(shell & ~kept)[rings.ring]]])
        order = np.argsort(ring, kind="stable")
        xy = np.concatenate(parts)[order]
        ring = ring[order]
        survivors = np.flatnonzero(kept | shell)
        made = shapely.linearrings(xy, indices=np.searchsorted(survivors, ring))
        owner = owner[survivors]
    else:
        made = shapely.linearrings(rings.xy, indices=rings.ring)
    parts = shapely.polygons(made, indices=owner)
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _nested(polygons: list[shapely.Geometry]) -> list[shapely.Geometry]:
    """Each band unioned with the (already nested) band inside it."""
    out = list(polygons)
    for k in range(1, len(out)):
        if not out[k - 1].is_empty:
            out[k] = shapely.union(out[k], out[k - 1])
    return out

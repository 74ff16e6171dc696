"""Snap points to their nearest walkable edge: edge, position along it, access distance."""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from planner._cpus import usable_cpus
from planner._memo import memo
from planner.network import StreetNetwork
from planner.schema import Status

#: A dropped piece counts as nearer than the routed network only by more than this (metres).
SKIP_TOLERANCE_M = 1e-6
#: Points per block of the vectorised nearest-segment search (bounds its memory).
BLOCK = 65_536
#: Most cells of a `SegmentGrid` (its cell grows on very wide networks).
MAX_CELLS = 20_000_000
#: Cell width over the mean spacing of segments (area / segments) ** 0.5.
CELL_FACTOR = 0.5
#: Widest block searched cell by cell (2 * MAX_RING + 1 cells a side); farther, GEOS.
MAX_RING = 4
#: Threads that search parts of the points at once (numpy's array loops release the GIL).
THREADS = min(usable_cpus(), 4)


@dataclass(frozen=True)
class SegmentGrid:
    """The straight segments of a set of lines, bucketed in a uniform grid of square cells.

    A segment is listed in every cell its bounding box overlaps, so any point of a segment
    lies in one of the cells listing it. ``item`` is the line a segment belongs to;
    ``start`` its distance from the line's first vertex, summed segment by segment as
    GEOS does for ``line_locate_point``.
    """

    ax: np.ndarray
    ay: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    item: np.ndarray  # int64 line index per segment
    start: np.ndarray  # metres along the line to the segment's first vertex
    seg_len: np.ndarray
    x0: float
    y0: float
    cell: float
    ni: int  # cells along x
    nj: int  # cells along y
    ptr: np.ndarray  # cell (i, j) lists seg[ptr[i * nj + j] : ptr[i * nj + j + 1]]
    seg: np.ndarray
    e_ax: np.ndarray  # the listed segments' end points, in listing order (contiguous reads)
    e_ay: np.ndarray
    e_bx: np.ndarray
    e_by: np.ndarray

    @classmethod
    def from_lines(cls, lines: np.ndarray) -> SegmentGrid:
        """Build the grid over an array of LineStrings (segments in vertex order)."""
        coords, line = shapely.get_coordinates(np.asarray(lines, dtype=object), return_index=True)
        same = line[1:] == line[:-1]
        a = np.flatnonzero(same)  # segment k runs from vertex a[k] to a[k] + 1
        ax, ay = coords[a, 0], coords[a, 1]
        bx, by = coords[a + 1, 0], coords[a + 1, 1]
        item = line[a].astype(np.int64)
        seg_len = np.sqrt((bx - ax) * (bx - ax) + (by - ay) * (by - ay))
        start = _starts(item, seg_len)
        n = len(a)
        x0 = float(min(ax.min(), bx.min())) if n else 0.0
        x1 = float(max(ax.max(), bx.max())) if n else 0.0
        y0 = float(min(ay.min(), by.min())) if n else 0.0
        y1 = float(max(ay.max(), by.max())) if n else 0.0
        area = max((x1 - x0) * (y1 - y0), 1.0)
        # about two segments per cell over the bounding box, at most MAX_CELLS cells
        cell = float(np.clip(CELL_FACTOR * math.sqrt(area / max(n, 1)), 5.0, 1000.0))
        cell = max(cell, math.sqrt(area / MAX_CELLS) * 1.01)
        ni = int((x1 - x0) // cell) + 1
        nj = int((y1 - y0) // cell) + 1
        i0 = ((np.minimum(ax, bx) - x0) // cell).astype(np.int64)
        i1 = ((np.maximum(ax, bx) - x0) // cell).astype(np.int64)
        j0 = ((np.minimum(ay, by) - y0) // cell).astype(np.int64)
        j1 = ((np.maximum(ay, by) - y0) // cell).astype(np.int64)
        nrow, ncol = i1 - i0 + 1, j1 - j0 + 1
        cnt = nrow * ncol
        seg = np.repeat(np.arange(n, dtype=np.int64), cnt)
        k = np.arange(int(cnt.sum()), dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        width = ncol[seg]
        row = (k / width).astype(np.int64)  # exact: k and width are small integers
        key = (i0[seg] + row) * nj + (j0[seg] + (k - row * width))
        order = np.argsort(key, kind="stable")
        seg = seg[order]
        ptr = np.zeros(ni * nj + 1, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=ni * nj), out=ptr[1:])
        return cls(
            ax,
            ay,
            bx,
            by,
            item,
            start,
            seg_len,
            x0,
            y0,
            cell,
            ni,
            nj,
            ptr,
            seg,
            ax[seg],
            ay[seg],
            bx[seg],
            by[seg],
        )


def _starts(item: np.ndarray, seg_len: np.ndarray) -> np.ndarray:
    """Distance from each line's first vertex to each segment's start, added in order."""
    start = np.zeros(len(item))
    if not len(item):
        return start
    first = np.r_[True, item[1:] != item[:-1]]
    pos = np.arange(len(item)) - np.maximum.accumulate(np.where(first, np.arange(len(item)), 0))
    for p in range(1, int(pos.max()) + 1):  # one step per vertex position: sequential sums
        at = np.flatnonzero(pos == p)
        start[at] = start[at - 1] + seg_len[at - 1]
    return start


def segment_grid(network: StreetNetwork, which: str = "edges") -> SegmentGrid:
    """The network's `SegmentGrid` of routed edges (``edges``) or dropped streets (``dropped``).

    Built on first use and kept while the network lives.
    """
    lines = network.edge_geometry if which == "edges" else network.dropped_geometry
    return memo(network, f"segment_grid:{which}", lambda: SegmentGrid.from_lines(lines))


def _distance(
    px: np.ndarray, py: np.ndarray, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray
) -> np.ndarray:
    """Point-to-segment distance with GEOS's arithmetic (``Distance::pointToSegment``).

    Computed the same way, distances (and so ties between them) come out as GEOS has them.
    """
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    degenerate = len2 == 0
    safe = np.where(degenerate, 1.0, len2)
    r = ((px - ax) * dx + (py - ay) * dy) / safe
    s = ((ay - py) * dx - (ax - px) * dy) / safe
    da = np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    db = np.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    d = np.where(r <= 0, da, np.where(r >= 1, db, np.abs(s) * np.sqrt(safe)))
    return np.where(degenerate, da, d)


def _factor(
    px: np.ndarray, py: np.ndarray, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray
) -> np.ndarray:
    """Projection factor of a point on a segment (GEOS ``LineSegment::projectionFactor``)."""
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    r = ((px - ax) * dx + (py - ay) * dy) / np.where(len2 == 0, 1.0, len2)
    r = np.where((px == bx) & (py == by), 1.0, r)
    return np.where(((px == ax) & (py == ay)) | (len2 == 0), 0.0, r)


@dataclass(frozen=True)
class Nearest:
    """Nearest line of each point: its index (-1: none within the limit) and where on it."""

    item: np.ndarray
    distance: np.ndarray
    segment: np.ndarray  # segment of the grid nearest the point on that line (-1: none)
    factor: np.ndarray  # projection factor of the point on that segment


def nearest(
    grid: SegmentGrid,
    x: np.ndarray,
    y: np.ndarray,
    max_distance: float,
    tie_key: np.ndarray | None = None,
    tree: shapely.STRtree | None = None,
) -> Nearest:
    """Nearest line within `max_distance` of each point, ties to the lowest line index.

    Large inputs are split in `THREADS` parts searched at once (each point's answer
    depends on that point only); see `_nearest` for the search.

    Parameters
    ----------
    grid
        Segments to search.
    x, y
        Points (finite).
    max_distance
        Farthest line to take, metres (inclusive).
    tie_key
        Non-negative int per line: of equally near lines the one with the lowest key wins
        (then the lowest index); default the line index.
    tree
        STRtree over the same lines, for points far from every street.

    Returns
    -------
    nearest
        Per point: line index, distance, segment and projection factor.
    """
    n = len(x)
    parts = min(THREADS, n // BLOCK)
    if parts < 2:
        return _nearest(grid, x, y, max_distance, tie_key, tree)
    if tree is not None:
        tree.query(shapely.points(x[:1], y[:1]))  # built once, before the threads share it
    cuts = np.linspace(0, n, parts + 1).astype(np.int64)
    with ThreadPoolExecutor(parts) as pool:
        found = list(
            pool.map(
                lambda s: _nearest(grid, x[s], y[s], max_distance, tie_key, tree),
                [slice(int(a), int(b)) for a, b in itertools.pairwise(cuts)],
            )
        )
    return Nearest(
        np.concatenate([f.item for f in found]),
        np.concatenate([f.distance for f in found]),
        np.concatenate([f.segment for f in found]),
        np.concatenate([f.factor for f in found]),
    )


def _nearest(
    grid: SegmentGrid,
    x: np.ndarray,
    y: np.ndarray,
    max_distance: float,
    tie_key: np.ndarray | None = None,
    tree: shapely.STRtree | None = None,
) -> Nearest:
    """Nearest line within `max_distance` of each point, ties to the lowest line index.

    Searches the 3 x 3 cells around each point first; a point whose nearest segment there
    lies within one cell width is done (any nearer segment would pass through those
    cells); the others search a wider block, doubling until it covers `max_distance`.
    On the line, the nearest segment is its first one at the smallest distance, as
    GEOS's ``line_locate_point`` takes it.

    Parameters
    ----------
    grid
        Segments to search.
    x, y
        Points (finite).
    max_distance
        Farthest line to take, metres (inclusive).
    tie_key
        Non-negative int per line: of equally near lines the one with the lowest key wins
        (then the lowest index); default the line index.
    tree
        STRtree over the same lines: points with no line within `MAX_RING` cells (far
        from every street) are finished with one GEOS nearest search each, instead of
        ever wider blocks of cells.

    Returns
    -------
    nearest
        Per point: line index, distance, segment and projection factor.
    """
    n = len(x)
    out = Nearest(
        np.full(n, -1, dtype=np.int64),
        np.full(n, np.nan),
        np.full(n, -1, dtype=np.int64),
        np.full(n, np.nan),
    )
    if not n or not len(grid.item):
        return out
    cell = grid.cell
    # points farther than the limit from the segments' bounding box cannot snap
    gx1, gy1 = grid.x0 + grid.ni * cell, grid.y0 + grid.nj * cell
    gap = np.hypot(
        np.maximum(np.maximum(grid.x0 - x, x - gx1), 0.0),
        np.maximum(np.maximum(grid.y0 - y, y - gy1), 0.0),
    )
    todo = np.flatnonzero(gap <= max_distance)
    n_items = int(grid.item.max()) + 1
    rank = (
        grid.item
        if tie_key is None
        else np.asarray(tie_key, np.int64)[grid.item] * n_items + grid.item
    )
    ci = ((x - grid.x0) // cell).astype(np.int64)  # finite and near the grid where used
    cj = ((y - grid.y0) // cell).astype(np.int64)
    # distance from each point to the border of its own cell
    fx = (x - grid.x0) - ci * cell
    fy = (y - grid.y0) - cj * cell
    border = np.minimum(np.minimum(fx, cell - fx), np.minimum(fy, cell - fy))
    bound = np.full(n, float(max_distance))  # no answer lies farther than this
    k = 0
    while len(todo):
        final = k * cell >= max_distance
        if not final and k > MAX_RING and tree is not None:
            _search_geos(grid, tree, x, y, todo, max_distance, rank, out)
            break
        block = max(64, BLOCK * 9 // (2 * k + 1) ** 2)
        for s in range(0, len(todo), block):
            idx = todo[s : s + block]
            accept = np.full(len(idx), max_distance) if final else k * cell + border[idx]
            _search(grid, x, y, ci, cj, idx, k, np.minimum(accept, max_distance), bound, rank, out)
        if final:
            break
        todo = todo[out.item[todo] < 0]
        k = 1 if k == 0 else 2 * k
    return out


def _search_geos(
    grid: SegmentGrid,
    tree: shapely.STRtree,
    x: np.ndarray,
    y: np.ndarray,
    idx: np.ndarray,
    max_distance: float,
    rank: np.ndarray,
    out: Nearest,
) -> None:
    """Nearest line of points `idx` by GEOS (``STRtree.query_nearest``), same tie rule."""
    (pi, li), dist = tree.query_nearest(
        shapely.points(x[idx], y[idx]),
        max_distance=max_distance,
        return_distance=True,
        all_matches=True,
    )
    if not len(pi):
        return
    line_rank = np.full(int(grid.item.max()) + 1, np.iinfo(np.int64).max)
    line_rank[grid.item] = rank
    o = np.lexsort((line_rank[li], pi))
    pi, li, dist = pi[o], li[o], dist[o]
    first = np.r_[True, pi[1:] != pi[:-1]]
    pi, li, dist = pi[first], li[first], dist[first]
    rows = idx[pi]
    # the first segment of that line at the smallest distance
    seg_ptr = np.searchsorted(grid.item, np.arange(len(line_rank) + 1))
    lo, hi = seg_ptr[li], seg_ptr[li + 1]
    cnt = hi - lo
    seg = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))
    p = np.repeat(rows, cnt)
    d = _distance(x[p], y[p], grid.ax[seg], grid.ay[seg], grid.bx[seg], grid.by[seg])
    starts = np.cumsum(cnt) - cnt
    dmin = np.minimum.reduceat(d, starts)
    big = np.iinfo(np.int64).max
    bseg = np.minimum.reduceat(np.where(d == np.repeat(dmin, cnt), seg, big), starts)
    out.item[rows] = li
    out.distance[rows] = dmin
    out.segment[rows] = bseg
    out.factor[rows] = _factor(
        x[rows], y[rows], grid.ax[bseg], grid.ay[bseg], grid.bx[bseg], grid.by[bseg]
    )


def _search(
    grid: SegmentGrid,
    x: np.ndarray,
    y: np.ndarray,
    ci: np.ndarray,
    cj: np.ndarray,
    idx: np.ndarray,
    k: int,
    accept: np.ndarray,
    bound: np.ndarray,
    rank: np.ndarray,
    out: Nearest,
) -> None:
    """Search the (2k+1)^2 cells around points `idx`; keep answers within `accept` (per point).

    Only cells within ``min(accept, bound)`` of the point are read; ``bound`` (an upper
    limit on each point's answer, from earlier rounds) is lowered to what this round finds.
    """
    m = len(idx)
    if k == 0:
        i, j = ci[idx], cj[idx]
        inside = (i >= 0) & (i < grid.ni) & (j >= 0) & (j < grid.nj)
    else:
        off = np.arange(-k, k + 1, dtype=np.int64)
        shape = (m, len(off), len(off))
        i = np.broadcast_to(ci[idx][:, None, None] + off[None, :, None], shape).ravel()
        j = np.broadcast_to(cj[idx][:, None, None] + off[None, None, :], shape).ravel()
        # distance from the point to each cell of the block
        c = grid.cell
        px = np.repeat(x[idx] - grid.x0, len(off) ** 2)
        py = np.repeat(y[idx] - grid.y0, len(off) ** 2)
        gx = np.maximum(np.maximum(i * c - px, px - (i + 1) * c), 0.0)
        gy = np.maximum(np.maximum(j * c - py, py - (j + 1) * c), 0.0)
        reach = np.repeat(np.minimum(accept, bound[idx]), len(off) ** 2)
        inside = (
            (i >= 0)
            & (i < grid.ni)
            & (j >= 0)
            & (j < grid.nj)
            & (gx * gx + gy * gy <= reach * reach)
        )
    cellno = np.where(inside, i * grid.nj + j, 0)
    lo = grid.ptr[cellno]
    cnt = np.where(inside, grid.ptr[cellno + 1] - lo, 0)
    total = int(cnt.sum())
    if not total:
        return
    per_point = cnt.reshape(m, -1).sum(axis=1)
    pos = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(total)
    d = _distance(
        np.repeat(x[idx], per_point),
        np.repeat(y[idx], per_point),
        grid.e_ax[pos],
        grid.e_ay[pos],
        grid.e_bx[pos],
        grid.e_by[pos],
    )
    # pairs come grouped by point: reduce per point that has any
    has = np.flatnonzero(per_point)
    group = per_point[has]
    starts = np.cumsum(group) - group
    dmin = np.minimum.reduceat(d, starts)
    # the segments at that distance (usually one): lowest rank, then first segment
    tie = np.flatnonzero(d == np.repeat(dmin, group))
    seg = grid.seg[pos[tie]]
    t_owner = np.repeat(np.arange(len(has)), group)[tie]
    t_starts = np.flatnonzero(np.r_[True, t_owner[1:] != t_owner[:-1]])
    t_rank = rank[seg]
    best_rank = np.minimum.reduceat(t_rank, t_starts)
    on_best = t_rank == np.repeat(best_rank, np.diff(np.r_[t_starts, len(tie)]))
    bseg = np.minimum.reduceat(np.where(on_best, seg, np.iinfo(np.int64).max), t_starts)
    bound[idx[has]] = np.minimum(bound[idx[has]], dmin)
    take = dmin <= accept[has]
    rows = idx[has[take]]
    seg_t = bseg[take]
    out.item[rows] = grid.item[seg_t]
    out.distance[rows] = dmin[take]
    out.segment[rows] = seg_t
    out.factor[rows] = _factor(
        x[rows], y[rows], grid.ax[seg_t], grid.ay[seg_t], grid.bx[seg_t], grid.by[seg_t]
    )


def snap_points(
    network: StreetNetwork, x: np.ndarray, y: np.ndarray, max_distance: float = 300.0
) -> pd.DataFrame:
    """Snap points (network CRS) to the nearest point of the nearest edge.

    The access leg is the straight-line distance from the point to that on-edge point.
    Ties between equally near edges go to the lowest edge index, so results are repeatable.
    Distances, positions along the edge and on-edge points are computed in bulk with
    GEOS's own formulas (point to segment, ``line_locate_point``, ``line_interpolate_point``),
    so they equal what shapely gives for each point.

    Points are snapped to the routed network only. When a street of a dropped component
    (``network.dropped_geometry``) is nearer than the routed network, the point is still
    snapped to the routed network, and the skip is reported: ``skipped_piece`` names the
    dropped piece and ``skipped_extra_m`` is the access leg's extra length (access leg
    minus the distance to that piece).

    Parameters
    ----------
    network
        The street network.
    x, y
        Point coordinates in the network's projected CRS (NaN for missing points).
    max_distance
        Snapping limit in metres; farther points get status ``too_far_from_network`` and
        no edge.

    Returns
    -------
    snapped
        One row per input point, in order, with the `planner.schema.SNAP_COLUMNS`:
        ``edge`` (int, -1 when not snapped), ``offset`` (metres from the edge geometry's
        start, i.e. from node ``edge_u``), ``access_m``, ``snap_x``, ``snap_y``, ``status``
        (``ok``, ``too_far_from_network`` or ``no_coordinates``), ``skipped_piece`` (int, -1
        when the nearest street of any component is on the routed network, or none lies
        within the limit) and ``skipped_extra_m`` (NaN unless the point was snapped past a
        dropped piece; a point beyond the limit of the routed network but within it of a
        dropped piece has a ``skipped_piece`` and NaN extra metres).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(x)
    edge = np.full(n, -1, dtype=np.int64)
    access = np.full(n, np.nan)
    offset = np.full(n, np.nan)
    snap_x = np.full(n, np.nan)
    snap_y = np.full(n, np.nan)
    valid = np.isfinite(x) & np.isfinite(y)
    status = np.where(valid, Status.TOO_FAR_FROM_NETWORK.value, Status.NO_COORDINATES.value).astype(
        object
    )
    idx = np.flatnonzero(valid)
    if len(idx) and network.n_edges:
        grid = segment_grid(network, "edges")
        found = nearest(grid, x[idx], y[idx], max_distance, tree=network.tree)
        hit = found.item >= 0
        rows = idx[hit]
        seg = found.segment[hit]
        f = found.factor[hit]
        seg_len = grid.seg_len[seg]
        # LengthIndexOfPoint::segmentNearestMeasure, then clipped to the edge as before
        off = np.where(
            f <= 0,
            grid.start[seg],
            np.where(f <= 1, grid.start[seg] + f * seg_len, grid.start[seg] + seg_len),
        )
        e = found.item[hit]
        off = np.clip(off, 0.0, network.edge_length[e])
        sx, sy = _point_at(grid, seg, off)
        edge[rows] = e
        access[rows] = found.distance[hit]
        offset[rows] = off
        snap_x[rows] = sx
        snap_y[rows] = sy
        status[rows] = Status.OK.value
    skipped, extra = _skipped_pieces(network, x, y, valid, access, max_distance)
    return pd.DataFrame(
        {
            "edge": edge,
            "offset": offset,
            "access_m": access,
            "snap_x": snap_x,
            "snap_y": snap_y,
            "status": status,
            "skipped_piece": skipped,
            "skipped_extra_m": extra,
        }
    )


def _point_at(grid: SegmentGrid, seg: np.ndarray, off: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The point `off` metres along the line, on segment `seg` or a later one (GEOS's walk).

    Mirrors ``LengthLocationMap::getLocationForward``: the location is on the first
    segment whose end lies beyond `off`; a zero-length segment never holds it; past the
    last segment it is the line's last vertex.
    """
    seg = seg.copy()
    n_seg = len(grid.item)
    while True:  # move on while this segment ends at or before `off` (rarely more than once)
        end = grid.start[seg] + grid.seg_len[seg]
        nxt = seg + 1
        move = ~(end > off) & (nxt < n_seg)
        move &= grid.item[np.minimum(nxt, n_seg - 1)] == grid.item[seg]
        if not move.any():
            break
        seg[move] = nxt[move]
    ax, ay, bx, by = grid.ax[seg], grid.ay[seg], grid.bx[seg], grid.by[seg]
    seg_len = grid.seg_len[seg]
    last = ~(grid.start[seg] + seg_len > off)  # at or past the line's end: its last vertex
    frac = (off - grid.start[seg]) / np.where(seg_len > 0, seg_len, 1.0)
    frac = np.where(last, 1.0, frac)
    px = np.where(frac <= 0, ax, np.where(frac >= 1, bx, (bx - ax) * frac + ax))
    py = np.where(frac <= 0, ay, np.where(frac >= 1, by, (by - ay) * frac + ay))
    return px, py


def _skipped_pieces(
    network: StreetNetwork,
    x: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    access: np.ndarray,
    max_distance: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Find each point's dropped piece nearer than the routed network (-1: none), extra metres.

    Only points with a dropped street within `max_distance` are compared; ties between
    equally near pieces go to the lowest piece id.
    """
    n = len(x)
    skipped = np.full(n, -1, dtype=np.int64)
    extra = np.full(n, np.nan)
    idx = np.flatnonzero(valid)
    if not (len(idx) and len(network.dropped_geometry)):
        return skipped, extra
    pieces = np.asarray(network.dropped_piece, dtype=np.int64)
    found = nearest(
        segment_grid(network, "dropped"),
        x[idx],
        y[idx],
        max_distance,
        pieces,
        tree=network.dropped_tree,
    )
    hit = found.item >= 0
    # the nearest dropped street; ties to the lowest piece id among equally near streets
    rows, dist = idx[hit], found.distance[hit]
    piece = pieces[found.item[hit]]
    main = access[rows]
    nearer = ~(main <= dist + SKIP_TOLERANCE_M)  # NaN access: routed network beyond the limit
    skipped[rows[nearer]] = piece[nearer]
    extra[rows[nearer]] = main[nearer] - dist[nearer]
    return skipped, extra

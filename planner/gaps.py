"""Service gaps: uncovered merchants and unreached streets per 100 m cell; crow-fly vs walking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra

from planner import reach, snap
from planner.isochrones import EdgeCoords, cut_lines
from planner.network import StreetNetwork
from planner.schema import Status
from planner.style import within_band

if TYPE_CHECKING:
    from planner.result import Result

__all__ = [
    "CELL_M",
    "Gaps",
    "band_gaps",
    "cell_grid",
    "compute",
    "crowfly_table",
    "gaps_of",
    "node_distance",
    "placed_mask",
    "summary_sections",
    "unreached_stretches",
]

#: Side of a gap cell in metres (cells lie on a lattice of this step in the network CRS).
CELL_M = 100.0
#: Unreached stretches shorter than this (metres) are rounding noise and are dropped.
MIN_STRETCH_M = 1e-6
#: How the gap counts are made, as written in summary.json.
GAPS_METHOD = (
    "a merchant is covered in a band when its walking time to the nearest facility is "
    "within the band (any facility); the total counts places as pois_total does: rows with "
    "status duplicate_id are not counted again; rows not routed (no coordinates, outside "
    "the study area, beyond the snapping limit, unreachable) count as uncovered. Cells: "
    "100 m squares of the network CRS lattice; only merchants with usable coordinates are "
    "placed in a cell. Unreached street: length of the routed network farther than the "
    "largest band from every facility (access legs and partial entrance edges exact)."
)


@dataclass(frozen=True)
class Gaps:
    """Gaps of one result.

    Attributes
    ----------
    cells
        One row per 100 m cell with an uncovered merchant or unreached street (EPSG:4326):
        ``cell_id``, ``x0``, ``y0`` (south-west corner in the network CRS), ``uncovered_<b>``
        per band, ``unreached_street_m`` (beyond the largest band), geometry.
    crowfly
        One row per facility and band: ``facility_id``, ``band_min``, ``radius_m``,
        ``crowfly_count``, ``walking_count``, ``ratio`` (walking / crow-fly, NaN when no
        merchant is within the radius), ``crowfly_not_walkable``.
    bands
        The ``bands`` part of the summary's ``gaps`` section (see `band_gaps`).
    unreached_m
        Street metres beyond each band (band label -> metres), and ``street_m`` total.
    """

    cells: gpd.GeoDataFrame
    crowfly: pd.DataFrame
    bands: dict[str, Any]
    unreached_m: dict[str, float]


def _key(band: float) -> str:
    return f"{band:g}"


def placed_mask(pois: pd.DataFrame, usable: np.ndarray | None = None) -> np.ndarray:
    """Which POI rows have a place: usable coordinates and not a repeated id.

    Parameters
    ----------
    pois
        POI table (`planner.Result.pois` layout).
    usable
        The reader's ``usable`` flag per row (`planner.Result.poi_rows`); None: any row
        with finite coordinates and status other than ``duplicate_id``/``outside_study_area``.

    Returns
    -------
    placed
        Boolean array, one per row.
    """
    lon = pois["lon"].to_numpy(dtype=float)
    lat = pois["lat"].to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    status = pois["status"].to_numpy(dtype=object)
    ok &= (status != Status.DUPLICATE_ID) & (status != Status.OUTSIDE_STUDY_AREA)
    if usable is not None:
        ok &= np.asarray(usable, dtype=bool)
    return np.asarray(ok, dtype=bool)


def band_gaps(pois: pd.DataFrame, bands_min: tuple[float, ...] | list[float]) -> dict[str, Any]:
    """Merchants covered and uncovered per band, overall and by kind.

    Covered in band ``b`` means ``within_band(minutes_to_nearest, b)``: within ``b`` of ANY
    facility. The total counts places like summary.json's ``pois_total``: ``duplicate_id``
    rows are not counted again; rows not routed count as uncovered. So
    ``covered + uncovered == total`` in every band and kind.

    Parameters
    ----------
    pois
        POI table (`planner.Result.pois` layout).
    bands_min
        Bands in minutes.

    Returns
    -------
    bands
        Band label -> ``covered``, ``uncovered``, ``total``, ``share_uncovered``,
        ``uncovered_not_routed`` (of the uncovered: rows with no walking time) and
        ``by_kind`` (kind -> ``total``, ``covered``, ``uncovered``).
    """
    counted = (pois["status"] != Status.DUPLICATE_ID).to_numpy()
    minutes = pois["minutes_to_nearest"].to_numpy(dtype=float)[counted]
    kinds = pois["kind"].astype(str).to_numpy()[counted]
    total = int(counted.sum())
    not_routed = ~np.isfinite(minutes)
    out: dict[str, Any] = {}
    for b in sorted(float(x) for x in bands_min):
        inside = within_band(minutes, b)
        covered = int(inside.sum())
        by_kind: dict[str, dict[str, int]] = {}
        for kind in sorted(set(kinds)):
            k = kinds == kind
            c = int((inside & k).sum())
            by_kind[kind] = {"total": int(k.sum()), "covered": c, "uncovered": int(k.sum()) - c}
        out[_key(b)] = {
            "total": total,
            "covered": covered,
            "uncovered": total - covered,
            "share_uncovered": (total - covered) / total if total else None,
            "uncovered_not_routed": int(not_routed.sum()),
            "by_kind": by_kind,
        }
    return out


def node_distance(network: StreetNetwork, sources: reach.Anchors, limit: float) -> np.ndarray:
    """Walking metres from the nearest facility to every node (inf beyond `limit`).

    One multi-source Dijkstra (``min_only``) over the facilities' virtual source nodes, so
    access legs and the partial edges to the entrances are included.

    Parameters
    ----------
    network
        The street network.
    sources
        Facility anchors.
    limit
        Search radius in metres.

    Returns
    -------
    distance
        Metres per node.
    """
    if not len(sources) or not network.n_nodes:
        return np.full(network.n_nodes, np.inf)
    n_owners = int(sources.owner.max()) + 1
    csr, first = reach.source_graph(network, sources, n_owners)
    active = np.unique(sources.owner)
    dist = dijkstra(csr, directed=True, indices=first + active, min_only=True, limit=limit)
    return np.asarray(dist[: network.n_nodes], dtype=float)


def unreached_stretches(
    network: StreetNetwork, node_dist: np.ndarray, sources: reach.Anchors, budget: float
) -> pd.DataFrame:
    """Stretches of street farther than `budget` metres from every facility.

    On an edge of length ``L`` with end distances ``du``, ``dv`` the stretches
    ``[0, B - du]`` and ``[L - (B - dv), L]`` are reached (so the reached length is
    ``min(L, max(0, B - du) + max(0, B - dv))``); on an edge holding a facility entrance
    at ``a`` metres with access leg ``α``, also ``[a - (B - α), a + (B - α)]``. The rest
    is unreached. Exact, given the node distances of `node_distance`.

    Parameters
    ----------
    network
        The street network.
    node_dist
        `node_distance` with a limit >= `budget`.
    sources
        Facility anchors.
    budget
        Walking metres (largest band × metres per minute).

    Returns
    -------
    stretches
        ``edge``, ``start``, ``end`` (metres from the edge's u end), ``length``.
    """
    length = network.edge_length
    with np.errstate(invalid="ignore"):
        ru = np.clip(np.nan_to_num(budget - node_dist[network.edge_u], nan=0.0), 0.0, length)
        rv = np.clip(np.nan_to_num(budget - node_dist[network.edge_v], nan=0.0), 0.0, length)
    start, end = ru, length - rv
    edges = np.arange(network.n_edges)
    has_entrance = np.zeros(network.n_edges, dtype=bool)
    has_entrance[sources.edge] = True
    simple = ~has_entrance & (end - start > MIN_STRETCH_M)
    rows = [(edges[simple], start[simple], end[simple])]
    for e in np.flatnonzero(has_entrance):
        spans = [(0.0, ru[e]), (length[e] - rv[e], length[e])]
        on = sources.edge == e
        for a, alpha in zip(sources.offset[on], sources.access[on], strict=True):
            r = budget - alpha
            if r >= 0:
                spans.append((max(0.0, a - r), min(length[e], a + r)))
        gaps, at = [], 0.0
        for s, t in sorted(spans):
            if s > at + MIN_STRETCH_M:
                gaps.append((at, s))
            at = max(at, t)
        if length[e] > at + MIN_STRETCH_M:
            gaps.append((at, float(length[e])))
        if gaps:
            g = np.asarray(gaps)
            rows.append((np.full(len(g), e), g[:, 0], g[:, 1]))
    edge = np.concatenate([r[0] for r in rows]).astype(np.int64)
    s = np.concatenate([r[1] for r in rows]).astype(float)
    t = np.concatenate([r[2] for r in rows]).astype(float)
    return pd.DataFrame({"edge": edge, "start": s, "end": t, "length": t - s})


def _cell_index(x: np.ndarray, y: np.ndarray, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    return np.floor(x / cell_m).astype(np.int64), np.floor(y / cell_m).astype(np.int64)


def _lengths_per_cell(lines: np.ndarray, cell_m: float) -> pd.Series:
    """Length of `lines` in each lattice cell, indexed by (ix, iy).

    Each segment is cut where it crosses a lattice line and every piece is credited to the
    cell holding its middle, which is what clipping the line to every cell box of its
    bounds gives (a piece lying on a lattice line also goes to the cell on its other side
    when the line's bounds reach into it). Lengths under `MIN_STRETCH_M` per line and cell
    are dropped.
    """
    lines = lines[~shapely.is_empty(lines)]
    if not len(lines):
        return pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], []]))
    xy, line = shapely.get_coordinates(lines, return_index=True)
    same = line[1:] == line[:-1]
    p, q, owner = xy[:-1][same], xy[1:][same], line[:-1][same]
    # the points where each segment enters a new cell: its ends, then every lattice line
    # it crosses, ordered along it by the fraction t
    seg_ids, ts, pts = (
        [np.arange(len(p)), np.arange(len(p))],
        [np.zeros(len(p)), np.ones(len(p))],
        [p, q],
    )
    d = q - p
    for axis in (0, 1):
        a0 = np.minimum(p[:, axis], q[:, axis]) / cell_m
        a1 = np.maximum(p[:, axis], q[:, axis]) / cell_m
        first = np.floor(a0).astype(np.int64) + 1
        n = np.maximum(np.ceil(a1).astype(np.int64) - first, 0)
        seg = np.repeat(np.arange(len(p)), n)
        k = first[seg] + np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)
        at = k * cell_m
        t = (at - p[seg, axis]) / d[seg, axis]
        pt = np.empty((len(seg), 2))
        pt[:, axis] = at
        other = 1 - axis
        pt[:, other] = p[seg, other] + t * d[seg, other]
        seg_ids.append(seg)
        ts.append(t)
        pts.append(pt)
    seg = np.concatenate(seg_ids)
    t = np.concatenate(ts)
    pt = np.concatenate(pts)
    order = np.lexsort((t, seg))
    seg, pt = seg[order], pt[order]
    piece = seg[1:] == seg[:-1]
    a, b, seg = pt[:-1][piece], pt[1:][piece], seg[:-1][piece]
    length = np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
    mid = (a + b) / 2 / cell_m
    ix, iy = np.floor(mid[:, 0]).astype(np.int64), np.floor(mid[:, 1]).astype(np.int64)
    # a piece on a lattice line lies on the sides of two cells: clipping the line to the
    # boxes of the cells its bounds cover gives it to each of those it borders
    low = np.floor(shapely.bounds(lines)[:, :2] / cell_m).astype(np.int64)[owner[seg]]
    on_x = (a[:, 0] == b[:, 0]) & (np.floor(a[:, 0] / cell_m) * cell_m == a[:, 0])
    on_x &= ix - 1 >= low[:, 0]
    on_y = (a[:, 1] == b[:, 1]) & (np.floor(a[:, 1] / cell_m) * cell_m == a[:, 1])
    on_y &= iy - 1 >= low[:, 1]
    frame = pd.DataFrame(
        {
            "line": np.concatenate([owner[seg], owner[seg[on_x]], owner[seg[on_y]]]),
            "ix": np.concatenate([ix, ix[on_x] - 1, ix[on_y]]),
            "iy": np.concatenate([iy, iy[on_x], iy[on_y] - 1]),
            "m": np.concatenate([length, length[on_x], length[on_y]]),
        }
    )
    per_line = frame.groupby(["line", "ix", "iy"], sort=False)["m"].sum().reset_index()
    per_line = per_line[per_line["m"] > MIN_STRETCH_M]
    return per_line.groupby(["ix", "iy"])["m"].sum()


def cell_grid(
    network: StreetNetwork,
    x: np.ndarray,
    y: np.ndarray,
    uncovered: dict[str, np.ndarray],
    unreached_lines: np.ndarray,
    cell_m: float = CELL_M,
) -> gpd.GeoDataFrame:
    """Count uncovered merchants per band and unreached street metres per lattice cell.

    Parameters
    ----------
    network
        The network (its CRS is the lattice's).
    x, y
        Merchant positions in the network CRS (NaN where not placed).
    uncovered
        Band label -> boolean mask of merchants uncovered in that band.
    unreached_lines
        Unreached street pieces (network CRS).
    cell_m
        Cell side in metres; cell ``(i, j)`` is ``[i·c, (i+1)·c) × [j·c, (j+1)·c)``.

    Returns
    -------
    cells
        See `Gaps.cells`; sorted by ``y0`` then ``x0``; EPSG:4326.
    """
    placed = np.isfinite(x) & np.isfinite(y)
    ix, iy = _cell_index(np.where(placed, x, 0.0), np.where(placed, y, 0.0), cell_m)
    cols: dict[str, pd.Series] = {}
    for key, mask in uncovered.items():
        m = np.asarray(mask, dtype=bool) & placed
        cols[f"uncovered_{key}"] = (
            pd.DataFrame({"ix": ix[m], "iy": iy[m]}).groupby(["ix", "iy"]).size().astype(float)
        )
    cols["unreached_street_m"] = _lengths_per_cell(unreached_lines, cell_m)
    frame = pd.DataFrame(cols).fillna(0.0)
    names = [f"uncovered_{k}" for k in uncovered]
    frame = frame.reindex(columns=[*names, "unreached_street_m"], fill_value=0.0)
    frame = frame.reset_index()
    if len(frame):
        frame.columns = ["ix", "iy", *names, "unreached_street_m"]
    else:
        frame = pd.DataFrame(columns=["ix", "iy", *names, "unreached_street_m"])
    frame = frame.sort_values(["iy", "ix"], kind="stable").reset_index(drop=True)
    cx = frame["ix"].to_numpy(dtype=np.int64)
    cy = frame["iy"].to_numpy(dtype=np.int64)
    out = pd.DataFrame(
        {
            "cell_id": _cell_ids(cx, cy, cell_m),
            "x0": cx * cell_m,
            "y0": cy * cell_m,
        }
    )
    for n in names:
        out[n] = frame[n].to_numpy(dtype=np.int64)
    out["unreached_street_m"] = np.round(frame["unreached_street_m"].to_numpy(dtype=float), 2)
    geometry = shapely.box(cx * cell_m, cy * cell_m, (cx + 1) * cell_m, (cy + 1) * cell_m)
    return gpd.GeoDataFrame(out, geometry=geometry, crs=network.crs).to_crs(4326)


def _cell_ids(cx: np.ndarray, cy: np.ndarray, cell_m: float) -> list[str]:
    """``E<x0>N<y0>`` per cell, corners in whole metres (``f"{x0:.0f}"``)."""
    if float(cell_m).is_integer() and len(cx):
        # whole-metre cells: the corners are integers, written by numpy in one pass
        x0 = (cx * int(cell_m)).astype(str)
        y0 = (cy * int(cell_m)).astype(str)
        return np.char.add(np.char.add(np.char.add("E", x0), "N"), y0).tolist()
    return [f"E{i * cell_m:.0f}N{j * cell_m:.0f}" for i, j in zip(cx, cy, strict=True)]


def _to_network(network: StreetNetwork, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    t = Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
    x, y = t.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])


def crowfly_table(
    facility_ids: list[Any],
    entrance_owner: np.ndarray,
    entrance_xy: np.ndarray,
    poi_ids: np.ndarray,
    poi_xy: np.ndarray,
    coverage: pd.DataFrame,
    bands_min: tuple[float, ...] | list[float],
    metres_per_minute: float,
) -> pd.DataFrame:
    """Merchants within the crow-fly radius of each facility versus those reached on foot.

    The crow-fly distance of a merchant is the straight line to the facility's nearest
    entrance (minimum over the entrances the walk starts from: those on the street network
    within the snapping limit); it is "within" band ``b`` when
    ``within_band(distance / speed, b)``. The walking count is the coverage pairs of the
    facility within the band (the summary's per-facility numbers).

    Parameters
    ----------
    facility_ids
        Facility ids, in the result's order.
    entrance_owner
        Facility index per entrance row with coordinates.
    entrance_xy
        Entrance positions (network CRS), one row per `entrance_owner`.
    poi_ids, poi_xy
        Ids and positions (network CRS) of the placed merchants.
    coverage
        The result's coverage table.
    bands_min
        Bands in minutes.
    metres_per_minute
        Walking speed.

    Returns
    -------
    crowfly
        See `Gaps.crowfly`.
    """
    rows = []
    bands = sorted(float(b) for b in bands_min)
    cov_min = coverage["minutes"].to_numpy(dtype=float)
    cov_poi = coverage["poi_id"].to_numpy(dtype=object)
    # the coverage pairs of each facility, and the merchants by x: a facility only looks
    # at those within the largest radius (and a margin) of its entrances' box
    code = pd.Index(facility_ids).get_indexer(coverage["facility_id"].to_numpy(dtype=object))
    by_fac = np.argsort(code, kind="stable")
    cov_at = np.searchsorted(code[by_fac], np.arange(len(facility_ids) + 1))
    by_x = np.argsort(poi_xy[:, 0], kind="stable") if len(poi_xy) else np.zeros(0, np.int64)
    sorted_x = poi_xy[by_x, 0] if len(poi_xy) else np.zeros(0)
    reach_m = (max(bands, default=0.0) * 1.01 + 1.0) * metres_per_minute
    for i, fid in enumerate(facility_ids):
        xy = entrance_xy[entrance_owner == i]
        if len(xy) and len(poi_xy):
            lo = np.searchsorted(sorted_x, xy[:, 0].min() - reach_m, side="left")
            hi = np.searchsorted(sorted_x, xy[:, 0].max() + reach_m, side="right")
            near = by_x[lo:hi]
            y = poi_xy[near, 1]
            near = near[(y >= xy[:, 1].min() - reach_m) & (y <= xy[:, 1].max() + reach_m)]
            dx = poi_xy[near, None, 0] - xy[None, :, 0]
            d = np.min(np.hypot(dx, poi_xy[near, None, 1] - xy[None, :, 1]), axis=1)
        else:
            near, d = np.zeros(0, dtype=np.int64), np.zeros(0)
        mine = by_fac[cov_at[i] : cov_at[i + 1]]
        for b in bands:
            crow = within_band(d / metres_per_minute, b)
            walk = mine[within_band(cov_min[mine], b)]
            crow_ids, walk_ids = set(poi_ids[near[crow]]), set(cov_poi[walk])
            n_crow, n_walk = int(crow.sum()), len(walk_ids)
            rows.append(
                {
                    "facility_id": fid,
                    "band_min": b,
                    "radius_m": b * metres_per_minute,
                    "crowfly_count": n_crow,
                    "walking_count": n_walk,
                    "ratio": n_walk / n_crow if n_crow else np.nan,
                    "crowfly_not_walkable": len(crow_ids - walk_ids),
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "facility_id",
            "band_min",
            "radius_m",
            "crowfly_count",
            "walking_count",
            "ratio",
            "crowfly_not_walkable",
        ],
    )


def compute(result: Result) -> Gaps:
    """Compute the gaps of a result from the result alone.

    The facility entrances are snapped again exactly as the pipeline snaps them (same
    network, same snapping limit), so the node distances include access legs and the
    partial edges at the entrances.

    Parameters
    ----------
    result
        The analysis.

    Returns
    -------
    gaps
        Cells, crow-fly table, per-band counts and unreached street metres.
    """
    network, settings = result.network, result.settings
    mpm = settings.metres_per_minute
    bands = settings.bands_min
    fac_ids = list(result.facilities["facility_id"])
    ent = result.entrances
    usable = ent["usable"].to_numpy(dtype=bool) if "usable" in ent else np.ones(len(ent), bool)
    lon = np.where(usable, ent["lon"].to_numpy(dtype=float), np.nan)
    lat = np.where(usable, ent["lat"].to_numpy(dtype=float), np.nan)
    ent_xy = _to_network(network, lon, lat)
    owner = pd.Index(fac_ids).get_indexer(pd.Index(ent["id"]))
    snapped = snap.snap_points(network, ent_xy[:, 0], ent_xy[:, 1], settings.snap_limit_m)
    sources = reach.Anchors.from_snapped(snapped, owner)
    keep = sources.owner >= 0
    sources = reach.Anchors(
        owner=sources.owner[keep],
        edge=sources.edge[keep],
        offset=sources.offset[keep],
        access=sources.access[keep],
    )

    largest = settings.largest_band_min * mpm
    dist = node_distance(network, sources, largest)
    unreached_m = {"street_m": float(network.edge_length.sum())}
    last = pd.DataFrame()
    for b in bands:
        last = unreached_stretches(network, dist, sources, b * mpm)
        unreached_m[_key(b)] = float(last["length"].sum())
    lines = (
        cut_lines(
            network,
            EdgeCoords.from_network(network),
            last["edge"].to_numpy(),
            last["start"].to_numpy(),
            last["end"].to_numpy(),
        )
        if len(last)
        else np.empty(0, dtype=object)
    )

    pois = result.pois
    rows_usable = (
        result.poi_rows["usable"].to_numpy(dtype=bool)
        if "usable" in result.poi_rows and len(result.poi_rows) == len(pois)
        else None
    )
    placed = placed_mask(pois, rows_usable)
    poi_xy = _to_network(
        network,
        np.where(placed, pois["lon"].to_numpy(dtype=float), np.nan),
        np.where(placed, pois["lat"].to_numpy(dtype=float), np.nan),
    )
    counted = (pois["status"] != Status.DUPLICATE_ID).to_numpy()
    minutes = pois["minutes_to_nearest"].to_numpy(dtype=float)
    uncovered = {_key(b): counted & ~within_band(minutes, b) for b in bands}
    cells = cell_grid(network, poi_xy[:, 0], poi_xy[:, 1], uncovered, lines)

    # the entrances the walk starts from: a crow-fly circle around an entrance too far
    # from every street would compare with a walk that never starts there
    has_xy = np.isfinite(ent_xy).all(axis=1) & (owner >= 0) & (snapped["edge"].to_numpy() >= 0)
    crowfly = crowfly_table(
        fac_ids,
        owner[has_xy],
        ent_xy[has_xy],
        pois["poi_id"].to_numpy(dtype=object)[placed],
        poi_xy[placed],
        result.coverage,
        bands,
        mpm,
    )
    summary = band_gaps(pois, bands)
    for key, mask in uncovered.items():
        summary[key]["uncovered_placed"] = int((mask & placed).sum())
    return Gaps(cells=cells, crowfly=crowfly, bands=summary, unreached_m=unreached_m)


def gaps_of(result: Result) -> Gaps:
    """The result's gaps: ``result.gaps`` when the pipeline filled it, else computed.

    Parameters
    ----------
    result
        The analysis.

    Returns
    -------
    gaps
        See `Gaps`.
    """
    found = getattr(result, "gaps", None)
    return found if isinstance(found, Gaps) else compute(result)


def summary_sections(gaps: Gaps, cell_m: float = CELL_M) -> dict[str, Any]:
    """The ``gaps`` and ``crowfly`` sections of summary.json.

    Parameters
    ----------
    gaps
        See `compute`.
    cell_m
        Cell side written with the section.

    Returns
    -------
    sections
        ``{"gaps": {...}, "crowfly": [...]}``, JSON-ready.
    """
    km = {k: round(v / 1000.0, 3) for k, v in gaps.unreached_m.items() if k != "street_m"}
    cf = gaps.crowfly
    crowfly = [
        {
            "facility_id": str(fid),
            "band_min": float(band),
            "radius_m": round(float(radius), 2),
            "crowfly_count": int(n_crow),
            "walking_count": int(n_walk),
            "ratio": None if not np.isfinite(ratio) else round(float(ratio), 4),
            "crowfly_not_walkable": int(n_not),
        }
        for fid, band, radius, n_crow, n_walk, ratio, n_not in zip(
            cf["facility_id"].to_numpy(dtype=object),
            cf["band_min"].to_numpy(dtype=float),
            cf["radius_m"].to_numpy(dtype=float),
            cf["crowfly_count"].to_numpy(dtype=np.int64),
            cf["walking_count"].to_numpy(dtype=np.int64),
            cf["ratio"].to_numpy(dtype=float),
            cf["crowfly_not_walkable"].to_numpy(dtype=np.int64),
            strict=True,
        )
    ]
    return {
        "gaps": {
            "method": GAPS_METHOD,
            "bands": gaps.bands,
            "cell_size_m": cell_m,
            "cells": len(gaps.cells),
            "street_km": round(gaps.unreached_m["street_m"] / 1000.0, 3),
            "unreached_street_km": km,
        },
        "crowfly": crowfly,
    }

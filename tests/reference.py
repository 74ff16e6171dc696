"""The planner's earlier, per-point GEOS paths, kept as references for the vectorised ones.

A test-support module (not a test module): the equality tests compare `planner.snap`,
`planner.reach` and `planner.coverage` with these on hand-made and seeded networks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from planner.coverage import band_of
from planner.network import StreetNetwork, adjacency
from planner.reach import Anchors, NodeReach, _same_edge
from planner.schema import FACILITY_COLUMNS, Status
from planner.snap import SKIP_TOLERANCE_M
from planner.style import within_band


def snap_points_geos(
    network: StreetNetwork, x: np.ndarray, y: np.ndarray, max_distance: float = 300.0
) -> pd.DataFrame:
    """Snap points (network CRS) to the nearest point of the nearest edge.

    The access leg is the straight-line distance from the point to that on-edge point.
    Ties between equally near edges go to the lowest edge index, so results are repeatable.

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
    status = np.full(n, Status.NO_COORDINATES.value, dtype=object)
    valid = np.isfinite(x) & np.isfinite(y)
    status[valid] = Status.TOO_FAR_FROM_NETWORK.value
    idx = np.flatnonzero(valid)
    if len(idx) and network.n_edges:
        points = shapely.points(x[idx], y[idx])
        (pi, ei), dist = network.tree.query_nearest(
            points, max_distance=max_distance, return_distance=True, all_matches=True
        )
        # keep the lowest edge index per point among equally near matches
        order = np.lexsort((ei, pi))
        pi, ei, dist = pi[order], ei[order], dist[order]
        first = np.ones(len(pi), dtype=bool)
        first[1:] = pi[1:] != pi[:-1]
        pi, ei, dist = pi[first], ei[first], dist[first]
        edge[idx[pi]] = ei
        access[idx[pi]] = dist
        status[idx[pi]] = Status.OK.value
    offset = np.full(n, np.nan)
    snap_x = np.full(n, np.nan)
    snap_y = np.full(n, np.nan)
    ok = edge >= 0
    if ok.any():
        geoms = network.edge_geometry[edge[ok]]
        pts = shapely.points(x[ok], y[ok])
        off = shapely.line_locate_point(geoms, pts)
        off = np.clip(off, 0.0, network.edge_length[edge[ok]])
        on_edge = shapely.line_interpolate_point(geoms, off)
        offset[ok] = off
        snap_x[ok] = shapely.get_x(on_edge)
        snap_y[ok] = shapely.get_y(on_edge)
    skipped, extra = _skipped_pieces_geos(network, x, y, valid, access, max_distance)
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


def _skipped_pieces_geos(
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
    (pi, ei), dist = network.dropped_tree.query_nearest(
        shapely.points(x[idx], y[idx]),
        max_distance=max_distance,
        return_distance=True,
        all_matches=True,
    )
    piece = np.asarray(network.dropped_piece, dtype=np.int64)[ei]
    order = np.lexsort((piece, pi))
    pi, piece, dist = pi[order], piece[order], dist[order]
    first = np.ones(len(pi), dtype=bool)
    first[1:] = pi[1:] != pi[:-1]
    pi, piece, dist = pi[first], piece[first], dist[first]
    main = access[idx[pi]]
    nearer = ~(main <= dist + SKIP_TOLERANCE_M)  # NaN access: routed network beyond the limit
    rows = idx[pi[nearer]]
    skipped[rows] = piece[nearer]
    extra[rows] = main[nearer] - dist[nearer]
    return skipped, extra


def source_graph_old(
    network: StreetNetwork, sources: Anchors, n_owners: int
) -> tuple[sparse.csr_matrix, int]:
    """Add one virtual source node per owner to the network adjacency.

    Parameters
    ----------
    network
        The street network.
    sources
        Facility anchors (owner = facility index).
    n_owners
        Number of facilities (virtual nodes), including ones without anchors.

    Returns
    -------
    csr, first
        The (N + n_owners) square adjacency and the index of the first virtual node.
    """
    n = network.n_nodes
    length = network.edge_length[sources.edge]
    owner = n + sources.owner
    # streets in both directions, virtual edges out of the source nodes only; one adjacency
    # call keeps zero-weight entries (an entrance on a node with no access leg), which
    # adding two sparse matrices would silently drop
    u = np.concatenate([network.edge_u, network.edge_v, owner, owner])
    v = np.concatenate(
        [network.edge_v, network.edge_u, network.edge_u[sources.edge], network.edge_v[sources.edge]]
    )
    w = np.concatenate(
        [
            network.edge_length,
            network.edge_length,
            sources.access + sources.offset,
            sources.access + (length - sources.offset),
        ]
    )
    return adjacency(n + n_owners, u, v, w, symmetric=False), n


def node_reach_old(
    network: StreetNetwork,
    sources: Anchors,
    n_owners: int,
    limit: float,
    *,
    chunk: int = 64,
) -> NodeReach:
    """Bounded multi-facility Dijkstra: distance to every node within `limit` metres.

    Parameters
    ----------
    network
        The street network.
    sources
        Facility anchors.
    n_owners
        Number of facilities.
    limit
        Search radius in metres (access leg included).
    chunk
        Facilities per Dijkstra call (bounds memory at chunk x nodes floats).

    Returns
    -------
    reach
        Reached nodes per facility.
    """
    csr, first = source_graph_old(network, sources, n_owners)
    n = network.n_nodes
    indptr = [0]
    nodes: list[np.ndarray] = []
    dists: list[np.ndarray] = []
    for start in range(0, n_owners, chunk):
        ids = np.arange(start, min(start + chunk, n_owners))
        d = dijkstra(csr, directed=True, indices=first + ids, limit=limit)[:, :n]
        for row in d:
            hit = np.flatnonzero(np.isfinite(row))
            nodes.append(hit)
            dists.append(row[hit])
            indptr.append(indptr[-1] + len(hit))
    return NodeReach(
        facilities=np.arange(n_owners),
        indptr=np.asarray(indptr, dtype=np.int64),
        node=np.concatenate(nodes) if nodes else np.zeros(0, dtype=np.int64),
        dist=np.concatenate(dists) if dists else np.zeros(0),
    )


def reach_pairs_old(
    network: StreetNetwork,
    reach: NodeReach,
    sources: Anchors,
    targets: Anchors,
    limit: float,
) -> pd.DataFrame:
    """Compute the walking distance of every facility-target pair within `limit` metres.

    Parameters
    ----------
    network
        The street network.
    reach
        Output of `node_reach` for the same sources, computed with a limit >= `limit`.
    sources
        Facility anchors.
    targets
        POI anchors (owner = POI index).
    limit
        Largest distance to report, metres.

    Returns
    -------
    pairs
        Columns ``facility``, ``poi``, ``distance_m``; one row per pair within the limit,
        sorted by facility then POI.
    """
    tol = 1e-9 * max(limit, 1.0)
    n = network.n_nodes
    tu = network.edge_u[targets.edge]
    tv = network.edge_v[targets.edge]
    to_u = targets.offset
    to_v = network.edge_length[targets.edge] - targets.offset
    # targets indexed by end node, to touch only the targets next to reached nodes
    ends = np.concatenate([tu, tv])
    leg = np.concatenate([to_u, to_v])
    tgt = np.concatenate([np.arange(len(targets)), np.arange(len(targets))])
    order = np.argsort(ends, kind="stable")
    ends, leg, tgt = ends[order], leg[order], tgt[order]
    starts = np.searchsorted(ends, np.arange(n + 1))
    frames = []
    for i, fac in enumerate(reach.facilities):
        node, dist = reach.row(i)
        if len(node):
            cnt = starts[node + 1] - starts[node]
            pos = np.repeat(starts[node] - np.cumsum(np.r_[0, cnt[:-1]]), cnt) + np.arange(
                cnt.sum()
            )
            t = tgt[pos]
            d = np.repeat(dist, cnt) + leg[pos] + targets.access[t]
            keep = d <= limit + tol
            frames.append(
                pd.DataFrame(
                    {"facility": fac, "poi": targets.owner[t[keep]], "distance_m": d[keep]}
                )
            )
    same = _same_edge(sources, targets)
    if len(same):
        same = same.rename(columns={"source": "facility", "target": "poi", "dist": "distance_m"})
        frames.append(same[same["distance_m"] <= limit + tol])
    if not frames:
        return pd.DataFrame(
            {
                "facility": pd.Series(dtype=np.int64),
                "poi": pd.Series(dtype=np.int64),
                "distance_m": pd.Series(dtype=float),
            }
        )
    pairs = pd.concat(frames, ignore_index=True)
    pairs = pairs.groupby(["facility", "poi"], as_index=False, sort=True)["distance_m"].min()
    pairs["facility"] = pairs["facility"].astype(np.int64)
    pairs["poi"] = pairs["poi"].astype(np.int64)
    return pairs


def nearest_facility_old(
    network: StreetNetwork, sources: Anchors, n_owners: int, targets: Anchors, n_targets: int
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest facility of every target from one unbounded multi-source search.

    Parameters
    ----------
    network
        The street network.
    sources
        Facility anchors.
    n_owners
        Number of facilities.
    targets
        POI anchors.
    n_targets
        Number of POIs (targets without anchors get no facility).

    Returns
    -------
    facility, distance_m
        Per POI: the nearest facility index (-1 when unreachable or not snapped) and the
        walking distance in metres (NaN likewise). Exact ties may go to either facility;
        `planner.coverage` breaks ties within the bands by facility order.
    """
    facility = np.full(n_targets, -1, dtype=np.int64)
    distance = np.full(n_targets, np.nan)
    if not len(sources) or not len(targets):
        return facility, distance
    csr, first = source_graph_old(network, sources, n_owners)
    active = np.unique(sources.owner)
    dist, _, src = dijkstra(
        csr, directed=True, indices=first + active, min_only=True, return_predecessors=True
    )
    tu = network.edge_u[targets.edge]
    tv = network.edge_v[targets.edge]
    du = dist[tu] + targets.offset
    dv = dist[tv] + (network.edge_length[targets.edge] - targets.offset)
    best = np.where(dv < du, dv, du)
    best_src = np.where(dv < du, src[tv], src[tu])
    cand = pd.DataFrame(
        {"poi": targets.owner, "dist": best + targets.access, "facility": best_src - first}
    )
    cand = cand[np.isfinite(cand["dist"])]
    same = _same_edge(sources, targets).rename(columns={"source": "facility", "target": "poi"})
    cand = pd.concat([cand, same], ignore_index=True).sort_values(["poi", "dist", "facility"])
    cand = cand.drop_duplicates("poi")
    facility[cand["poi"].to_numpy()] = cand["facility"].to_numpy()
    distance[cand["poi"].to_numpy()] = cand["dist"].to_numpy()
    return facility, distance


def coverage_table_old(
    pairs: pd.DataFrame,
    facility_ids: np.ndarray,
    pois: pd.DataFrame,
    metres_per_minute: float,
    bands_min: list[float] | tuple[float, ...],
) -> pd.DataFrame:
    """One row per facility-POI pair within the largest band.

    Parameters
    ----------
    pairs
        ``facility`` (index into `facility_ids`), ``poi`` (row position in `pois`),
        ``distance_m``.
    facility_ids
        Facility id per facility index.
    pois
        POI table with ``id`` and ``kind``.
    metres_per_minute
        Walking speed.
    bands_min
        Bands, ascending.

    Returns
    -------
    coverage
        The `planner.schema.COVERAGE_COLUMNS` (``facility_id, poi_id, poi_kind, distance_m,
        minutes, band_min``), sorted by facility (input order), then minutes, then POI id.
    """
    minutes = pairs["distance_m"].to_numpy() / metres_per_minute
    out = pd.DataFrame(
        {
            "facility_id": np.asarray(facility_ids, dtype=object)[pairs["facility"].to_numpy()],
            "poi_id": pois["id"].to_numpy()[pairs["poi"].to_numpy()],
            "poi_kind": pois["kind"].to_numpy()[pairs["poi"].to_numpy()],
            "distance_m": pairs["distance_m"].to_numpy(),
            "minutes": minutes,
            "band_min": band_of(minutes, bands_min),
        }
    )
    out = out[out["band_min"].notna()]
    out["_f"] = pairs["facility"].to_numpy()[out.index]
    out = out.sort_values(["_f", "minutes", "poi_id"], kind="stable").drop(columns="_f")
    return out.reset_index(drop=True)


def facility_summary_old(facilities: pd.DataFrame, snapped: pd.DataFrame) -> pd.DataFrame:
    """Summarise the entrances of each facility id (`planner.schema.FACILITY_COLUMNS`).

    Parameters
    ----------
    facilities
        Facility rows (`planner.read_points` layout; repeated ids are entrances).
    snapped
        `planner.snap.snap_points` output for those rows.

    Returns
    -------
    facilities
        One row per facility id, in order of first appearance: name and kind of its first
        row, entrances in and snapped, the mean position of the snapped entrances, and
        status ``ok`` or ``no_usable_entrance``.
    """
    df = facilities.assign(_snapped=(snapped["status"].to_numpy() == Status.OK))
    rows = []
    for fid, g in df.groupby("id", sort=False):
        n_ok = int(g["_snapped"].sum())
        rows.append(
            {
                "facility_id": fid,
                "name": g["name"].iloc[0],
                "kind": g["kind"].iloc[0],
                "entrances": len(g),
                "entrances_snapped": n_ok,
                "lon": float(g.loc[g["_snapped"], "lon"].mean()) if n_ok else np.nan,
                "lat": float(g.loc[g["_snapped"], "lat"].mean()) if n_ok else np.nan,
                "status": (Status.OK if n_ok else Status.NO_USABLE_ENTRANCE).value,
            }
        )
    return pd.DataFrame(rows, columns=list(FACILITY_COLUMNS))


def summarise_old(
    coverage: pd.DataFrame,
    poi_table: pd.DataFrame,
    facilities: pd.DataFrame,
    bands_min: list[float] | tuple[float, ...],
) -> dict[str, Any]:
    """Per facility and band: POIs reached, by kind; overall shares within each band.

    Parameters
    ----------
    coverage
        Output of `coverage_table`.
    poi_table
        Output of `nearest_table`.
    facilities
        Facility table with ``facility_id``, ``name``, ``kind``, ``status`` (one row per
        facility).
    bands_min
        Bands, ascending.

    Returns
    -------
    summary
        JSON-ready dict with ``facilities`` and ``overall`` sections. ``pois_total`` and
        the shares count places: rows with status ``duplicate_id`` (an id already used) are
        not counted again; ``pois_by_status`` still lists them.
    """
    bands = sorted(float(b) for b in bands_min)
    # counts per (band, facility, kind) in one grouping per band, not one scan per facility
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for b in bands:
        within = coverage[within_band(coverage["minutes"].to_numpy(dtype=float), b)]
        grouped = within.groupby(["facility_id", "poi_kind"], sort=True).size()
        per: dict[str, dict[str, int]] = {}
        for (fid, kind), n in grouped.items():
            per.setdefault(str(fid), {})[str(kind)] = int(n)
        counts[_band_key_old(b)] = per
    per_facility = []
    for f in facilities.itertuples(index=False):
        fid = str(f.facility_id)
        by_band = {}
        for key, per in counts.items():
            kinds = per.get(fid, {})
            by_band[key] = {"pois": sum(kinds.values()), "by_kind": kinds}
        per_facility.append(
            {
                "facility_id": fid,
                "name": str(f.name),
                "kind": str(f.kind),
                "status": str(f.status),
                "bands": by_band,
            }
        )
    total = int((poi_table["status"] != Status.DUPLICATE_ID).sum())  # a repeated id is one place
    minutes_all = poi_table["minutes_to_nearest"].to_numpy(dtype=float)
    valid = int(np.isfinite(minutes_all).sum() + (poi_table["status"] == Status.UNREACHABLE).sum())
    minutes = poi_table["minutes_to_nearest"].to_numpy(dtype=float)
    overall: dict[str, dict[str, Any]] = {}
    for b in bands:
        n = int(np.sum(within_band(minutes, b)))
        overall[_band_key_old(b)] = {
            "pois_within": n,
            "share_of_all_pois": n / total if total else None,
            "share_of_routable_pois": n / valid if valid else None,
        }
    return {
        "facilities": per_facility,
        "overall": {
            "pois_total": total,
            "pois_routable": valid,
            "pois_by_status": {
                str(k): int(v) for k, v in poi_table["status"].value_counts().sort_index().items()
            },
            "bands": overall,
            "left_out_beyond_largest_band": int(
                total - overall[_band_key_old(bands[-1])]["pois_within"]
            ),
        },
    }


def _band_key_old(band: float) -> str:
    return f"{band:g}"

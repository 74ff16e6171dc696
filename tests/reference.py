"""The planner's earlier, per-point GEOS paths, kept as references for the vectorised ones.

A test-support module (not a test module): the equality tests compare `planner.snap`,
`planner.reach` and `planner.coverage` with these on hand-made and seeded networks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from planner.network import StreetNetwork
from planner.schema import Status
from planner.snap import SKIP_TOLERANCE_M


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

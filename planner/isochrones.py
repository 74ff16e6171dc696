"""Band polygons grown from the street pieces each facility reaches, partial edges included."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner.network import StreetNetwork
from planner.reach import Anchors, NodeReach


def reached_intervals(
    network: StreetNetwork,
    nodes: np.ndarray,
    dist: np.ndarray,
    entrances: Anchors,
    budget: float,
) -> pd.DataFrame:
    """Which stretch of each edge lies within `budget` metres of a facility.

    From a reached end node with remaining budget ``r`` the walker covers ``r`` metres
    into the edge; from an entrance on the edge itself it covers ``budget - access`` metres
    both ways. Overlapping stretches are merged; an edge reached all along gives [0, L].

    Parameters
    ----------
    network
        The street network.
    nodes, dist
        Reached nodes and their distances (one `NodeReach` row).
    entrances
        The facility's own anchors.
    budget
        Band distance in metres.

    Returns
    -------
    intervals
        Columns ``edge``, ``start``, ``end`` (metres from the edge's u end), one row per
        disjoint reached stretch.
    """
    remaining = np.full(network.n_nodes, -1.0)
    inside = dist <= budget
    remaining[nodes[inside]] = budget - dist[inside]
    ru = remaining[network.edge_u]
    rv = remaining[network.edge_v]
    length = network.edge_length
    parts = []
    e = np.flatnonzero(ru >= 0)
    parts.append((e, np.zeros(len(e)), np.minimum(ru[e], length[e])))
    e = np.flatnonzero(rv >= 0)
    parts.append((e, np.maximum(length[e] - rv[e], 0.0), length[e]))
    r = budget - entrances.access
    ok = r >= 0
    e = entrances.edge[ok]
    parts.append(
        (e, np.maximum(entrances.offset[ok] - r[ok], 0.0), np.minimum(entrances.offset[ok] + r[ok], length[e]))
    )
    df = pd.DataFrame(
        {
            "edge": np.concatenate([p[0] for p in parts]),
            "start": np.concatenate([p[1] for p in parts]),
            "end": np.concatenate([p[2] for p in parts]),
        }
    ).sort_values(["edge", "start", "end"], ignore_index=True)
    if df.empty:
        return df
    # merge overlapping intervals per edge
    new_run = (df["edge"] != df["edge"].shift()) | (df["start"] > df.groupby("edge")["end"].cummax().shift())
    df["run"] = new_run.cumsum()
    merged = df.groupby("run", sort=True).agg(edge=("edge", "first"), start=("start", "min"), end=("end", "max"))
    return merged.reset_index(drop=True)


def interval_lines(network: StreetNetwork, intervals: pd.DataFrame) -> np.ndarray:
    """Cut the reached stretches out of the edge geometries.

    Parameters
    ----------
    network
        The street network.
    intervals
        Output of `reached_intervals`.

    Returns
    -------
    lines
        Shapely geometries (LineStrings; a zero-length stretch becomes a Point).
    """
    edge = intervals["edge"].to_numpy()
    start = intervals["start"].to_numpy()
    end = intervals["end"].to_numpy()
    geoms = network.edge_geometry[edge].copy()
    full = (start <= 0) & (end >= network.edge_length[edge])
    for i in np.flatnonzero(~full):
        geoms[i] = shapely.ops.substring(geoms[i], start[i], end[i])
    return geoms


def isochrones(
    network: StreetNetwork,
    reach: NodeReach,
    sources: Anchors,
    bands_m: list[float],
    *,
    buffer_m: float = 25.0,
) -> gpd.GeoDataFrame:
    """Band polygons per facility: reached street pieces buffered by `buffer_m`.

    Bands are nested by construction (each band is unioned with the one inside it), holes
    between reached streets are kept, and no convex hull is taken.

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

    Returns
    -------
    polygons
        Columns ``facility`` (index), ``band`` (position in `bands_m`), ``distance_m``,
        ``geometry`` (network CRS; empty when nothing is reached).
    """
    rows = []
    for i, fac in enumerate(reach.facilities):
        nodes, dist = reach.row(i)
        own = sources.subset(sources.owner == fac)
        previous = shapely.Polygon()
        for b, budget in enumerate(sorted(bands_m)):
            iv = reached_intervals(network, nodes, dist, own, budget)
            if len(iv):
                lines = interval_lines(network, iv)
                poly = shapely.buffer(shapely.GeometryCollection(list(lines)), buffer_m)
                poly = shapely.union(poly, previous)
            else:
                poly = previous
            rows.append({"facility": int(fac), "band": b, "distance_m": float(budget), "geometry": poly})
            previous = poly
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=network.crs)

"""Coverage tables and summaries: who each facility reaches, who is left out."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

#: POI status when it is reachable from at least one facility (any distance).
REACHABLE = "ok"
#: POI status when it snapped to the network but no facility can reach it.
UNREACHABLE = "unreachable"
#: POI status of a repeated id (`planner.readers.STATUS_DUPLICATE`): not counted again.
DUPLICATE = "duplicate_id"
#: Walking distances closer than this (metres) count as a tie for the nearest facility.
TIE_TOLERANCE_M = 1e-6


def band_of(minutes: np.ndarray, bands_min: list[float] | tuple[float, ...]) -> np.ndarray:
    """Smallest band (minutes) that contains each time; NaN when beyond all bands.

    Parameters
    ----------
    minutes
        Walking times.
    bands_min
        Band limits, ascending.

    Returns
    -------
    band
        Band limit per time.
    """
    minutes = np.asarray(minutes, dtype=float)
    bands = np.asarray(sorted(bands_min), dtype=float)
    tol = 1e-9 * max(bands.max(), 1.0)
    pos = np.searchsorted(bands, minutes - tol, side="left")
    out = np.full(len(minutes), np.nan)
    ok = np.isfinite(minutes) & (pos < len(bands))
    out[ok] = bands[pos[ok]]
    return out


def coverage_table(
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
        ``facility_id, poi_id, poi_kind, distance_m, minutes, band_min``, sorted by facility
        (input order), then minutes, then POI id.
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


def nearest_table(
    pois: pd.DataFrame,
    snap_status: np.ndarray,
    nearest_facility: np.ndarray,
    nearest_distance: np.ndarray,
    pairs: pd.DataFrame,
    facility_ids: np.ndarray,
    metres_per_minute: float,
) -> pd.DataFrame:
    """Every POI that went in, with its nearest facility and a status.

    Within the bands the nearest facility is taken from the exact pair distances, ties going
    to the facility listed first; beyond them from the one multi-source search.

    Parameters
    ----------
    pois
        POI table (`planner.readers.read_points` layout).
    snap_status
        Snapping status per POI (``ok``, ``too_far_from_network``, ``no_coordinates``).
    nearest_facility, nearest_distance
        From `planner.reach.nearest_facility`.
    pairs
        Pair distances within the largest band.
    facility_ids
        Facility id per facility index.
    metres_per_minute
        Walking speed.

    Returns
    -------
    table
        ``poi_id, name, kind, lon, lat, nearest_facility_id, minutes_to_nearest, status,
        reason`` plus the input's provenance columns.
    """
    fac = nearest_facility.copy()
    dist = nearest_distance.copy()
    if len(pairs):
        # distances within TIE_TOLERANCE_M are a tie, won by the facility listed first
        best_d = pairs.groupby("poi")["distance_m"].transform("min")
        best = pairs[pairs["distance_m"] <= best_d + TIE_TOLERANCE_M]
        best = best.sort_values(["poi", "facility"], kind="stable").drop_duplicates("poi")
        fac[best["poi"].to_numpy()] = best["facility"].to_numpy()
        dist[best["poi"].to_numpy()] = best["distance_m"].to_numpy()
    ids = np.asarray(facility_ids, dtype=object)
    status = np.asarray(pois["status"], dtype=object).copy()
    reason = np.asarray(pois["reason"], dtype=object).copy()
    usable = pois["usable"].to_numpy(dtype=bool)
    snapped = usable & (np.asarray(snap_status) == "ok")
    far = usable & (np.asarray(snap_status) != "ok")
    status[far] = np.asarray(snap_status)[far]
    limit_msg = "no walkable street within the snapping limit"
    reason[far] = [f"{r}; {limit_msg}" if r else limit_msg for r in reason[far]]
    unreachable = snapped & (fac < 0)
    status[unreachable] = UNREACHABLE
    reason[unreachable] = "no facility can reach it on the walk network"
    minutes = np.where(fac >= 0, dist / metres_per_minute, np.nan)
    table = pd.DataFrame(
        {
            "poi_id": pois["id"].to_numpy(),
            "name": pois["name"].to_numpy(),
            "kind": pois["kind"].to_numpy(),
            "lon": pois["lon"].to_numpy(),
            "lat": pois["lat"].to_numpy(),
            "nearest_facility_id": [ids[f] if f >= 0 else None for f in fac],
            "minutes_to_nearest": minutes,
            "status": status,
            "reason": reason,
        }
    )
    for col in ("row", "x_orig", "y_orig", "crs_orig", "source"):
        if col in pois:
            table[col] = pois[col].to_numpy()
    table.attrs = copy.deepcopy(pois.attrs)  # file-level input problems travel with the rows
    return table


def summarise(
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
        within = coverage[coverage["minutes"] <= b + 1e-9 * max(b, 1.0)]
        grouped = within.groupby(["facility_id", "poi_kind"], sort=True).size()
        per: dict[str, dict[str, int]] = {}
        for (fid, kind), n in grouped.items():
            per.setdefault(str(fid), {})[str(kind)] = int(n)
        counts[_band_key(b)] = per
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
    total = int((poi_table["status"] != DUPLICATE).sum())  # a repeated id is one place
    minutes_all = poi_table["minutes_to_nearest"].to_numpy(dtype=float)
    valid = int(np.isfinite(minutes_all).sum() + (poi_table["status"] == UNREACHABLE).sum())
    minutes = poi_table["minutes_to_nearest"].to_numpy(dtype=float)
    overall = {}
    for b in bands:
        n = int(np.sum(minutes <= b + 1e-9 * max(b, 1.0)))
        overall[_band_key(b)] = {
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
                total - overall[_band_key(bands[-1])]["pois_within"]
            ),
        },
    }


def _band_key(band: float) -> str:
    return f"{band:g}"

"""Coverage tables and summaries: who each facility reaches, who is left out."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from planner._i18n import N_, _
from planner.schema import LAYOUTS, POI_INPUT_COLUMNS, POI_LAYOUT, READ_COLUMNS, Status
from planner.style import band_index, within_band

#: Walking distances closer than this (metres) count as a tie for the nearest facility.
TIE_TOLERANCE_M = 1e-6
#: Reason of a usable point with no walkable street within the snapping limit.
LIMIT_REASON = N_("no walkable street within the snapping limit")


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
    bands = np.sort(np.asarray(bands_min, dtype=float))
    idx = band_index(np.asarray(minutes, dtype=float), bands)  # len(bands) and up: outside
    return np.where(idx < len(bands), bands[np.minimum(idx, len(bands) - 1)], np.nan)


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
    keep = out["band_min"].notna().to_numpy()
    fac = pairs["facility"].to_numpy()[keep]
    out = out[keep]
    try:  # POI ids as ranks: one numeric sort instead of comparing strings row by row
        _uniq, rank = np.unique(pois["id"].to_numpy(), return_inverse=True)
    except TypeError:  # ids of mixed types: let pandas order them as before
        out = out.assign(_f=fac).sort_values(["_f", "minutes", "poi_id"], kind="stable")
        return out.drop(columns="_f").reset_index(drop=True)
    poi_rank = rank.ravel()[pairs["poi"].to_numpy()[keep]]
    order = np.lexsort((poi_rank, out["minutes"].to_numpy(), fac))  # stable on full ties
    return out.iloc[order].reset_index(drop=True)


#: Columns of a read POI table that are not carried to ``Result.pois`` as extra columns:
#: the reader's own, and those the planner computes (an earlier pois.csv read back has them).
_NOT_CARRIED = frozenset(
    {*READ_COLUMNS, *POI_LAYOUT, *LAYOUTS["snap"], *LAYOUTS["skipped"], "geometry", "x", "y", "crs"}
)
#: ``status_src`` and the like of an earlier pois.csv read back: the reader renamed the
#: planner's columns of that run; they are computed again, not carried.
_EARLIER_OUTPUT = re.compile(
    r"^(area_id|(row|x_orig|y_orig|crs_orig|status|reason|area_id)(_src)+)$"
)  # area_id: a region's pois.csv


#: Names a carried column may not take, whatever its case: the region's and GIS files' own
#: (a GeoPackage's ``fid`` must be an integer key; its field names ignore case).
_TAKEN = frozenset({"area_id", "fid", "ogc_fid", "geom", "geometry"})


def carried_columns(pois: pd.DataFrame, columns: Iterable[str]) -> list[tuple[str, str]]:
    """A merchants table's own further columns and the names they take in ``Result.pois``.

    Parameters
    ----------
    pois
        The read POI rows (`planner.read_points` layout and the file's own columns).
    columns
        The columns the output table already has.

    Returns
    -------
    carried
        ``(input column, output name)``: the table's own columns (电话, 地址, a status of its
        own as ``status_src``), not the reader's or the planner's (an earlier pois.csv read
        back has those); a name another column has, in any case, or a GIS key name
        (``fid``, ``area_id``) gets ``_src`` until it is free.
    """
    read_back = "minutes_to_nearest" in pois  # an earlier pois.csv: its *_src are ours
    used = {str(c).lower() for c in columns} | set(_TAKEN)
    used |= {str(c).lower() for c in _NOT_CARRIED}
    out = []
    for col in pois.columns:
        if col in columns or col in _NOT_CARRIED:
            continue
        if read_back and _EARLIER_OUTPUT.match(str(col)):
            continue
        name = str(col)
        while name.lower() in used:
            name += "_src"
        used.add(name.lower())
        out.append((col, name))
    return out


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
        The `planner.schema.POI_COLUMNS` (``poi_id, name, kind, lon, lat,
        nearest_facility_id, minutes_to_nearest, status, reason``), then those of
        `planner.schema.POI_INPUT_COLUMNS` the input has.
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
    snapped = usable & (np.asarray(snap_status) == Status.OK)
    far = usable & (np.asarray(snap_status) != Status.OK)
    status[far] = np.asarray(snap_status)[far]
    where = [
        _("row {row}, POI {id}").format(row=row, id=json.dumps(str(pid), ensure_ascii=False))
        for row, pid in zip(pois["row"].to_numpy()[far], pois["id"].to_numpy()[far], strict=True)
    ]
    reason[far] = [
        f"{r}; {w}: {_(LIMIT_REASON)}" if r else f"{w}: {_(LIMIT_REASON)}"
        for r, w in zip(reason[far], where, strict=True)
    ]
    unreachable = snapped & (fac < 0)
    status[unreachable] = Status.UNREACHABLE.value
    reason[unreachable] = _("no facility can reach it on the walk network")
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
    for col in POI_INPUT_COLUMNS:
        if col in pois:
            table[col] = pois[col].to_numpy()
    # the table's own further columns (电话, 地址, a status of its own as status_src), as
    # the facilities keep theirs; not the planner's columns of an earlier pois.csv
    for col, name in carried_columns(pois, table.columns):
        table[name] = pois[col].to_numpy()
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
    # counts per (band, facility, kind): facilities and kinds coded once, one bincount a band
    f_code, f_names = _codes(coverage["facility_id"].to_numpy())
    k_code, k_names = _codes(coverage["poi_kind"].to_numpy())
    n_k = max(len(k_names), 1)
    minutes_cov = coverage["minutes"].to_numpy(dtype=float)
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for b in bands:
        within = within_band(minutes_cov, b) & (f_code >= 0) & (k_code >= 0)
        grid = np.bincount(
            f_code[within] * n_k + k_code[within], minlength=len(f_names) * n_k
        ).reshape(len(f_names), n_k)
        per: dict[str, dict[str, int]] = {}
        for i, j in zip(*np.nonzero(grid), strict=True):  # row-major: kinds in sorted order
            per.setdefault(f_names[i], {})[k_names[j]] = int(grid[i, j])
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
    total = int((poi_table["status"] != Status.DUPLICATE_ID).sum())  # a repeated id is one place
    minutes_all = poi_table["minutes_to_nearest"].to_numpy(dtype=float)
    valid = int(np.isfinite(minutes_all).sum() + (poi_table["status"] == Status.UNREACHABLE).sum())
    minutes = poi_table["minutes_to_nearest"].to_numpy(dtype=float)
    overall: dict[str, dict[str, Any]] = {}
    for b in bands:
        n = int(np.sum(within_band(minutes, b)))
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


def add_skipped_columns(
    table: pd.DataFrame, snapped: pd.DataFrame, dropped: pd.DataFrame | None
) -> pd.DataFrame:
    """Add the `planner.schema.SKIPPED_COLUMNS` to a POI or facility table, in place.

    Parameters
    ----------
    table
        Output table, one row per snapped row (same order), with ``status`` and ``reason``.
    snapped
        `planner.snap.snap_points` output for its rows.
    dropped
        The network's dropped components (``ComponentReport.dropped``; None when unknown);
        a piece id is a row position in it.

    Returns
    -------
    table
        The same table with ``skipped_piece`` (Int64, empty when the point's nearest street
        is on the routed network), ``skipped_piece_node`` (Int64, the piece's example OSM
        node), ``skipped_piece_name`` (its street names, "" when none) and
        ``skipped_extra_m`` (extra access metres because the piece was skipped; NaN when
        none, or when the point is not routed). A point beyond the snapping limit that has
        a dropped piece within it gets a reason naming the piece.
    """
    piece = snapped["skipped_piece"].to_numpy(dtype=np.int64)
    has = piece >= 0
    dropped = dropped if dropped is not None else pd.DataFrame()
    node = np.zeros(len(table), dtype=np.int64)
    name = np.full(len(table), "", dtype=object)
    node_known = has & ("example_node" in dropped)
    if node_known.any():
        node[node_known] = dropped["example_node"].to_numpy(dtype=np.int64)[piece[node_known]]
    if has.any() and "names" in dropped:
        names = dropped["names"].to_numpy(dtype=object)[piece[has]]
        name[has] = [n if isinstance(n, str) else "" for n in names]
    table["skipped_piece"] = pd.arrays.IntegerArray(np.where(has, piece, 0), ~has)
    table["skipped_piece_node"] = pd.arrays.IntegerArray(node, ~node_known)
    table["skipped_piece_name"] = name
    table["skipped_extra_m"] = snapped["skipped_extra_m"].to_numpy(dtype=float)
    reason = table["reason"].to_numpy(dtype=object).copy()
    for i in np.flatnonzero(has & (table["status"].to_numpy() == Status.TOO_FAR_FROM_NETWORK)):
        where = _("OSM node {node}").format(node=node[i]) if node_known[i] else _("no OSM node")
        text = _(
            "no street of the routed network within the snapping limit; the nearest walkable "
            "street is in disconnected piece {piece} ({name}{where}), not routed"
        ).format(piece=piece[i], name=name[i] + ", " if name[i] else "", where=where)
        old = reason[i] if isinstance(reason[i], str) else ""
        if _(LIMIT_REASON) in old:
            reason[i] = old.replace(_(LIMIT_REASON), text)
        else:
            reason[i] = f"{old}; {text}" if old else text
    table["reason"] = reason
    return table


def skipped_summary(
    pois: pd.DataFrame, facilities: pd.DataFrame, dropped: pd.DataFrame | None
) -> dict[str, Any]:
    """Summarise the points snapped past a dropped (disconnected) piece, for summary.json.

    Parameters
    ----------
    pois, facilities
        POI table and facility rows (entrances) with the `planner.schema.SKIPPED_COLUMNS`.
    dropped
        The network's dropped components (None when unknown).

    Returns
    -------
    summary
        ``pieces`` (dropped pieces in the network); for ``pois`` and ``facility_rows``:
        ``affected`` (routed although their nearest street is in a dropped piece),
        ``extra_m_max``, ``extra_m_median`` (None when none is affected) and
        ``not_routed`` (beyond the snapping limit of the routed network, with a dropped
        piece within it); ``by_piece``: one entry per piece skipped by at least one point
        (``piece``, ``example_node``, ``names``, ``pois``, ``facility_rows``), by piece id.
    """

    def group(table: pd.DataFrame) -> dict[str, Any]:
        extra = table["skipped_extra_m"].to_numpy(dtype=float)
        extra = extra[np.isfinite(extra)]
        has = table["skipped_piece"].notna().to_numpy()
        return {
            "affected": len(extra),
            "extra_m_max": round(float(extra.max()), 2) if len(extra) else None,
            "extra_m_median": round(float(np.median(extra)), 2) if len(extra) else None,
            "not_routed": int(has.sum()) - len(extra),
        }

    counts = {
        key: table["skipped_piece"].dropna().astype(int).value_counts()
        for key, table in (("pois", pois), ("facility_rows", facilities))
    }
    by_piece = []
    dropped = dropped if dropped is not None else pd.DataFrame()
    for piece in sorted(set(counts["pois"].index) | set(counts["facility_rows"].index)):
        row = dropped.iloc[piece] if piece < len(dropped) else {}
        example = row.get("example_node")
        by_piece.append(
            {
                "piece": int(piece),
                "example_node": int(example) if example is not None else None,
                "names": str(row.get("names") or ""),
                "pois": int(counts["pois"].get(piece, 0)),
                "facility_rows": int(counts["facility_rows"].get(piece, 0)),
            }
        )
    return {
        "pieces": len(dropped),
        "pois": group(pois),
        "facility_rows": group(facilities),
        "by_piece": by_piece,
    }


def _codes(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Code each value by its text (``str``), texts in sorted order; -1 for missing values."""
    codes, uniques = pd.factorize(values)
    names = np.asarray([str(u) for u in uniques], dtype=object)
    text, inverse = np.unique(names, return_inverse=True) if len(names) else (names, codes[:0])
    coded = np.where(codes >= 0, np.asarray(inverse, dtype=np.int64).ravel()[codes], -1)
    return coded, [str(t) for t in text]


def _band_key(band: float) -> str:
    return f"{band:g}"

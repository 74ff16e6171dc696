"""Add, move or remove facilities and get the coverage again at once, reusing everything else."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from planner import pipeline, reach
from planner._errors import PlannerError
from planner._i18n import _
from planner.readers import valid_points
from planner.result import Result
from planner.schema import SNAP_COLUMNS

__all__ = ["Coverage", "LiveCoverage"]

#: What a facility row's snap depends on (besides the network and the snapping limit).
_ROW_KEY = ("lon", "lat", "usable")
#: Column types of `planner.snap.snap_points` output.
_SNAP_DTYPES = {
    "edge": np.int64,
    "offset": float,
    "access_m": float,
    "snap_x": float,
    "snap_y": float,
    "status": object,
    "skipped_piece": np.int64,
    "skipped_extra_m": float,
}


@dataclass
class Coverage:
    """The coverage answer after an edit: the tables of `planner.Result`, without geometry.

    Attributes
    ----------
    coverage
        Facility–POI pairs within the largest band (``Result.coverage``).
    pois
        Every POI with its nearest facility, minutes and status (``Result.pois``).
    facilities
        One row per facility id (``Result.facilities``).
    entrances
        One row per facility row (``Result.entrances``).
    summary
        ``inputs``, ``facilities``, ``overall`` and ``disconnected_pieces`` as in
        ``Result.summary`` (the gap sections come with `LiveCoverage.result`).
    facility_rows
        The facility input rows this answer is for (`planner.read_points` layout).
    """

    coverage: pd.DataFrame
    pois: pd.DataFrame
    facilities: pd.DataFrame
    entrances: pd.DataFrame
    summary: dict[str, Any]
    facility_rows: pd.DataFrame


@dataclass(frozen=True)
class _Reach:
    """One facility's reach: reached nodes and the POIs within the largest band."""

    node: np.ndarray
    dist: np.ndarray
    poi: np.ndarray
    poi_dist: np.ndarray


def check_position(what: str, facility_id: object, lon: float, lat: float) -> None:
    """Refuse a position that is not a WGS-84 longitude and latitude, saying what it is.

    Parameters
    ----------
    what
        The edit, for the message (``add``, ``move``).
    facility_id
        The facility, for the message.
    lon, lat
        The position given.

    Raises
    ------
    PlannerError
        A coordinate is missing or not finite, or outside -180…180 / -90…90 (swapped?).
    """
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        x = y = math.nan
    if math.isfinite(x) and math.isfinite(y) and abs(x) <= 180 and abs(y) <= 90:
        return
    hint = _("; latitude and longitude swapped?") if abs(y) > 90 >= abs(x) else ""
    raise PlannerError(
        _(
            "{what} {facility_id!r}: lon {lon!r}, lat {lat!r} is not a WGS-84 position "
            "(longitude -180…180, latitude -90…90){hint}"
        ).format(what=what, facility_id=facility_id, lon=lon, lat=lat, hint=hint)
    )


class LiveCoverage:
    """Edit a result's facilities and recompute its coverage in milliseconds.

    Built from a `planner.Result`, it keeps the network, the POIs' snaps and each
    facility's reach (its bounded Dijkstra and the POIs it reaches). An edit snaps only the
    facility rows it adds or moves and searches only from the facilities whose entrances
    changed; the tables are then rebuilt exactly as `planner.analyse` builds them, so the
    answer equals a full analysis of the edited facility table.

    Parameters
    ----------
    result
        The starting analysis (its network, POIs, facilities and settings).

    Examples
    --------
    >>> live = planner.LiveCoverage(result)
    >>> after = live.add("NEW", lon=116.21, lat=23.31, name="新服务点")
    >>> after.summary["overall"]["bands"]["15"]["share_of_all_pois"]
    >>> live.move("NEW", lon=116.215, lat=23.312)
    >>> live.remove("F03")
    >>> live.result()  # a full Result (band polygons, gaps) for the map and writers
    """

    def __init__(self, result: Result) -> None:
        self._base = result
        self.network = result.network
        self.settings = result.settings
        s = self.settings
        self._limit = s.largest_band_min * s.metres_per_minute
        pois = result.poi_rows
        self._pois = pois
        self._poi_snap = pipeline._snap_table(self.network, pois, s.snap_limit_m)
        self._targets = reach.Anchors.from_snapped(self._poi_snap)
        self._row_snaps: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._reach: dict[tuple[Any, ...], _Reach] = {}
        self._rows = result.facility_rows.reset_index(drop=True)
        self._current = self._compute(self._rows)

    # ------------------------------------------------------------------ state
    @property
    def facility_rows(self) -> pd.DataFrame:
        """The current facility rows (`planner.read_points` layout)."""
        return self._rows.copy()

    @property
    def current(self) -> Coverage:
        """The coverage of the current facilities."""
        return self._current

    # ------------------------------------------------------------------ edits
    def add(
        self,
        facility_id: str,
        lon: float | list[float],
        lat: float | list[float],
        *,
        name: str = "",
        kind: str = "",
    ) -> Coverage:
        """Add a facility (one entrance, or several with lists of lon/lat).

        Parameters
        ----------
        facility_id
            A new id.
        lon, lat
            WGS-84 position of each entrance.
        name, kind
            Name and kind shown in the tables.

        Returns
        -------
        coverage
            The coverage with the facility added (it comes last, as an appended row would).
        """
        if facility_id in set(self._rows["id"]):
            raise PlannerError(
                _("facility {facility_id!r} is already in the table").format(
                    facility_id=facility_id
                )
            )
        lons = np.atleast_1d(np.asarray(lon, dtype=float))
        lats = np.atleast_1d(np.asarray(lat, dtype=float))
        if len(lons) != len(lats) or not len(lons):
            raise PlannerError(_("add: give as many longitudes as latitudes, at least one"))
        for x, y in zip(lons.tolist(), lats.tolist(), strict=True):
            check_position("add", facility_id, x, y)
        first = int(self._rows["row"].max()) + 1 if len(self._rows) else 1
        rows = valid_points(
            [facility_id] * len(lons),
            lons,
            lats,
            names=[name] * len(lons),
            kinds=kind,
            first_row=first,
        )
        return self.update(pd.concat([self._rows, rows], ignore_index=True))

    def move(self, facility_id: str, lon: float, lat: float) -> Coverage:
        """Move a facility: its first entrance to lon/lat, the others by the same shift.

        Parameters
        ----------
        facility_id
            An id in the table.
        lon, lat
            New WGS-84 position of its first entrance.

        Returns
        -------
        coverage
            The coverage with the facility moved (it keeps its place in the table).
        """
        rows = self._rows.copy()
        mine = (rows["id"] == facility_id).to_numpy()
        if not mine.any():
            raise PlannerError(
                _("facility {facility_id!r} is not in the table").format(facility_id=facility_id)
            )
        check_position("move", facility_id, lon, lat)
        at = np.flatnonzero(mine)
        d_lon = float(lon) - float(rows.loc[at[0], "lon"])
        d_lat = float(lat) - float(rows.loc[at[0], "lat"])
        rows.loc[mine, "lon"] = rows.loc[mine, "lon"].to_numpy(dtype=float) + d_lon
        rows.loc[mine, "lat"] = rows.loc[mine, "lat"].to_numpy(dtype=float) + d_lat
        rows.loc[at[0], ["lon", "lat"]] = [float(lon), float(lat)]
        return self.update(rows)

    def remove(self, facility_id: str) -> Coverage:
        """Remove a facility (all its entrances).

        Parameters
        ----------
        facility_id
            An id in the table.

        Returns
        -------
        coverage
            The coverage without it.
        """
        mine = (self._rows["id"] == facility_id).to_numpy()
        if not mine.any():
            raise PlannerError(
                _("facility {facility_id!r} is not in the table").format(facility_id=facility_id)
            )
        return self.update(self._rows[~mine].reset_index(drop=True))

    def update(self, facility_rows: pd.DataFrame) -> Coverage:
        """Replace the facility table; facilities whose rows did not change keep their reach.

        Parameters
        ----------
        facility_rows
            The new facility rows (`planner.read_points` layout).

        Returns
        -------
        coverage
            The coverage of the new table, equal to ``planner.reanalyse(result,
            facilities=facility_rows)``'s tables.
        """
        pipeline._check_table(facility_rows, "facilities")
        rows = facility_rows.reset_index(drop=True)
        self._current = self._compute(rows)
        self._rows = rows
        return self._current

    def result(self) -> Result:
        """Return the full `planner.Result` of the current facilities (polygons and gaps too).

        Returns
        -------
        result
            What `planner.reanalyse` gives for the current facility table.
        """
        return pipeline.reanalyse(self._base, facilities=self._rows)

    # ------------------------------------------------------------------ work
    def _snap_rows(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Snap the rows, reusing the snap of every row seen before at the same place."""
        keys = list(rows[list(_ROW_KEY)].itertuples(index=False, name=None))
        new = [i for i, k in enumerate(keys) if k not in self._row_snaps]
        if new:
            fresh = pipeline._snap_table(self.network, rows.iloc[new], self.settings.snap_limit_m)
            for i, values in zip(new, fresh.itertuples(index=False, name=None), strict=True):
                self._row_snaps[keys[i]] = values
        snaps = [self._row_snaps[k] for k in keys]
        return pd.DataFrame(
            {
                c: np.asarray([r[i] for r in snaps], dtype=_SNAP_DTYPES[c])
                for i, c in enumerate(SNAP_COLUMNS)
            }
        )

    def _facility_reach(self, anchors: reach.Anchors) -> _Reach:
        """One facility's reach, from the cache when its snapped entrances were seen before."""
        key = (
            tuple(anchors.edge.tolist()),
            tuple(anchors.offset.tolist()),
            tuple(anchors.access.tolist()),
        )
        hit = self._reach.get(key)
        if hit is not None:
            return hit
        one = replace(anchors, owner=np.zeros(len(anchors), dtype=np.int64))
        nr = reach.node_reach(self.network, one, 1, self._limit)
        pairs = reach.reach_pairs(self.network, nr, one, self._targets, self._limit)
        hit = _Reach(
            nr.node,
            nr.dist,
            pairs["poi"].to_numpy(dtype=np.int64),
            pairs["distance_m"].to_numpy(dtype=float),
        )
        self._reach[key] = hit
        return hit

    def _compute(self, rows: pd.DataFrame) -> Coverage:
        fac_snap = self._snap_rows(rows)
        fac_ids = np.asarray(pd.unique(rows["id"]), dtype=object)
        owner = pd.Index(fac_ids).get_indexer(pd.Index(rows["id"]))
        sources = reach.Anchors.from_snapped(fac_snap, owner)
        parts = []
        for i in range(len(fac_ids)):
            mine = sources.owner == i
            anchors = reach.Anchors(
                sources.owner[mine], sources.edge[mine], sources.offset[mine], sources.access[mine]
            )
            empty = _Reach(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
            parts.append(self._facility_reach(anchors) if len(anchors) else empty)
        counts = np.array([len(p.node) for p in parts], dtype=np.int64)
        indptr = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        node_reach = reach.NodeReach(
            facilities=np.arange(len(fac_ids)),
            indptr=indptr,
            node=np.concatenate([p.node for p in parts]) if parts else np.zeros(0, np.int64),
            dist=np.concatenate([p.dist for p in parts]) if parts else np.zeros(0),
        )
        n_pairs = [len(p.poi) for p in parts]
        pairs = pd.DataFrame(
            {
                "facility": np.repeat(np.arange(len(parts), dtype=np.int64), n_pairs),
                "poi": np.concatenate([p.poi for p in parts]) if parts else np.zeros(0, np.int64),
                "distance_m": np.concatenate([p.poi_dist for p in parts]) if parts else [],
            }
        ).astype({"distance_m": float})
        near_f, near_d = reach.nearest_facility(
            self.network, sources, len(fac_ids), self._targets, len(self._pois), reach=node_reach
        )
        coverage, poi_table, fac_rows, fac_table, summary = pipeline.coverage_tables(
            self.network,
            rows,
            self._pois,
            self.settings,
            fac_snap,
            self._poi_snap,
            fac_ids,
            pairs,
            near_f,
            near_d,
        )
        inputs = pipeline.summary_inputs(
            self.settings, self._base.provenance, self.network, rows, self._pois
        )
        return Coverage(
            coverage=coverage,
            pois=poi_table,
            facilities=fac_table,
            entrances=fac_rows,
            summary={"inputs": inputs, **summary},
            facility_rows=rows.copy(),  # the caller's own: editing it leaves this state alone
        )

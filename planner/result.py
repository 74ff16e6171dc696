"""The result of one analysis: its settings, where its data came from, tables and polygons."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from planner._errors import PlannerError
from planner._i18n import _
from planner.schema import Status

if TYPE_CHECKING:  # annotations only: importing this module stays light
    import geopandas as gpd
    import pandas as pd

    from planner.gaps import Gaps
    from planner.network import StreetNetwork

__all__ = [
    "DEFAULT_BANDS_MIN",
    "DEFAULT_BUFFER_M",
    "DEFAULT_ISOCHRONE_METHOD",
    "DEFAULT_SNAP_LIMIT_M",
    "DEFAULT_SPEED_KMH",
    "Provenance",
    "Result",
    "Settings",
    "SettingsError",
    "review_line",
]

#: Walking speed in km/h (4.5 km/h = 75 m/min).
DEFAULT_SPEED_KMH = 4.5
#: Walking-time bands in minutes.
DEFAULT_BANDS_MIN: tuple[float, ...] = (5.0, 10.0, 15.0)
#: Points farther than this from every walkable street are not routed (metres).
DEFAULT_SNAP_LIMIT_M = 300.0
#: Half-width of the street corridor drawn as band polygons (metres).
DEFAULT_BUFFER_M = 25.0
#: How band polygons are drawn: "grid" (fast, within 5 m of the exact corridor) or "exact"
#: (`planner.isochrones.isochrones`); coverage tables are exact either way.
DEFAULT_ISOCHRONE_METHOD: Final = "grid"
ISOCHRONE_METHODS = ("grid", "exact")
#: Bounds accepted for the settings (the scenario schema uses the same).
SPEED_RANGE_KMH = (0.5, 10.0)
SNAP_LIMIT_MAX_M = 5000.0
BUFFER_MAX_M = 500.0


class SettingsError(PlannerError, ValueError):
    """An analysis setting (speed, bands, snapping limit, buffer) is out of range."""


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise SettingsError(
            _("{name}: expected a number, got {value!r}").format(name=name, value=value)
        )
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(
            _("{name}: expected a number, got {value!r}").format(name=name, value=value)
        ) from exc
    if not math.isfinite(number):
        raise SettingsError(
            _("{name}: expected a finite number, got {value!r}").format(name=name, value=value)
        )
    return number


@dataclass(frozen=True)
class Settings:
    """The analysis settings a result was computed with (checked on creation).

    Parameters
    ----------
    speed_kmh
        Walking speed, 0.5–10 km/h.
    bands_min
        Walking-time bands in minutes: positive and distinct; stored sorted.
    snap_limit_m
        Points farther than this from every walkable street are not routed.
    buffer_m
        Half-width of the street corridor drawn as band polygons.
    isochrone_method
        How band polygons are drawn: ``"grid"`` (a distance grid per facility, within 5 m
        of the exact corridor) or ``"exact"`` (GEOS union of the buffered street pieces).
    """

    speed_kmh: float = DEFAULT_SPEED_KMH
    bands_min: tuple[float, ...] = DEFAULT_BANDS_MIN
    snap_limit_m: float = DEFAULT_SNAP_LIMIT_M
    buffer_m: float = DEFAULT_BUFFER_M
    isochrone_method: str = DEFAULT_ISOCHRONE_METHOD

    def __post_init__(self) -> None:
        """Check the settings; store them as floats, bands sorted."""
        speed = _number(self.speed_kmh, "speed_kmh")
        if not SPEED_RANGE_KMH[0] <= speed <= SPEED_RANGE_KMH[1]:
            low, high = SPEED_RANGE_KMH
            raise SettingsError(
                _("speed_kmh: {speed:g} km/h is outside {low:g}-{high:g} km/h").format(
                    speed=speed, low=low, high=high
                )
            )
        if isinstance(self.bands_min, str | bytes) or not hasattr(self.bands_min, "__iter__"):
            raise SettingsError(
                _("bands_min: expected a list of minutes, got {bands_min!r}").format(
                    bands_min=self.bands_min
                )
            )
        bands = tuple(_number(b, "bands_min") for b in self.bands_min)
        if not bands or min(bands) <= 0:
            raise SettingsError(
                _("bands_min: expected positive minutes, got {bands_min!r}").format(
                    bands_min=self.bands_min
                )
            )
        if len(set(bands)) != len(bands):
            raise SettingsError(
                _("bands_min: bands must be distinct, got {bands_min!r}").format(
                    bands_min=self.bands_min
                )
            )
        snap = _number(self.snap_limit_m, "snap_limit_m")
        if not 0 < snap <= SNAP_LIMIT_MAX_M:
            raise SettingsError(
                _("snap_limit_m: {snap:g} m is outside (0, {snap_limit_max_m:g}]").format(
                    snap=snap, snap_limit_max_m=SNAP_LIMIT_MAX_M
                )
            )
        buffer = _number(self.buffer_m, "buffer_m")
        if not 0 < buffer <= BUFFER_MAX_M:
            raise SettingsError(
                _("buffer_m: {buffer:g} m is outside (0, {buffer_max_m:g}]").format(
                    buffer=buffer, buffer_max_m=BUFFER_MAX_M
                )
            )
        if self.isochrone_method not in ISOCHRONE_METHODS:
            raise SettingsError(
                _("isochrone_method: expected {choices}, got {method!r}").format(
                    choices=_(" or ").join(map(repr, ISOCHRONE_METHODS)),
                    method=self.isochrone_method,
                )
            )
        object.__setattr__(self, "speed_kmh", speed)
        object.__setattr__(self, "bands_min", tuple(sorted(bands)))
        object.__setattr__(self, "snap_limit_m", snap)
        object.__setattr__(self, "buffer_m", buffer)

    @property
    def metres_per_minute(self) -> float:
        """Walking speed in metres per minute."""
        return self.speed_kmh * 1000.0 / 60.0

    @property
    def largest_band_min(self) -> float:
        """The largest band in minutes."""
        return self.bands_min[-1]

    def band_label(self, band: float) -> str:
        """Return a band as it is written in tables and keys: ``5``, ``7.5``."""
        return f"{band:g}"


def review_line(review_number: str = "", issuing_unit: str = "", *, cjk: bool = True) -> str:
    """The map review line every map carries: 审图号 (map review number) and 编制单位.

    Without a review number the line says so: such a map may only be used internally (it
    must not be published or printed for the public).

    Parameters
    ----------
    review_number, issuing_unit
        The scenario's ``[report]`` values (`Provenance`), or "".
    cjk
        Chinese first, English second; False: English only (a page without a CJK font).

    Returns
    -------
    line
        E.g. ``审图号：无（内部使用，不得公开） Map review no.: none (internal use only, not
        for publication) · 编制单位：未填写 Issued by: not given``.
    """

    def label(zh: str, en: str) -> str:
        return f"{zh} {en}" if cjk else en

    if review_number:
        number = label("审图号", "Map review no.:") + f" {review_number}"
    else:
        number = label(
            "审图号：无（内部使用，不得公开）",
            "Map review no.: none (internal use only, not for publication)",
        )
    unit = (
        label("编制单位", "Issued by:") + f" {issuing_unit}"
        if issuing_unit
        else label("编制单位：未填写", "Issued by: not given")
    )
    return f"{number} · {unit}"


@dataclass(frozen=True)
class Provenance:
    """Where a result's data came from: shown on maps and written to summary.json."""

    name: str = "analysis"
    title: str = ""
    place: str = ""
    network_source: str = ""
    network_file: str | None = None
    network_date: str = ""
    attribution: str = "© OpenStreetMap contributors (ODbL)"
    facilities_file: str | None = None
    pois_file: str | None = None
    review_number: str = ""  # 审图号 (map review number) of the scenario's [report]
    issuing_unit: str = ""  # 编制单位 of the scenario's [report]


@dataclass
class Result:
    """One analysis in memory: the single product every writer reads.

    Geographic tables are in EPSG:4326; ``facilities``, ``entrances`` and ``pois`` are
    GeoDataFrames of points (empty geometry where a row has no usable coordinates).

    Attributes
    ----------
    settings
        Speed, bands (sorted), snapping limit and buffer that made this result.
    provenance
        Scenario name, title, data source, date and attribution.
    network
        The routed street network (projected), with the disconnected pieces left out.
    facilities
        One row per facility id: name, kind, entrances, status.
    entrances
        One row per input facility row (an entrance), with status and access leg.
    pois
        One row per input merchant / service point, with nearest facility and minutes.
    coverage
        Facility–POI pairs within the largest band (a plain table: join ``poi_id`` to
        ``pois`` for the points).
    isochrones
        One polygon per facility and band.
    summary
        What summary.json holds: ``inputs``, ``facilities``, ``overall``,
        ``disconnected_pieces``.
    facility_rows, poi_rows
        The input tables as read (`planner.readers.read_points` layout), kept so the
        analysis can be recomputed with other settings (`planner.reanalyse`).
    timings
        Seconds per step.
    files
        Files written from this result, by name (filled by `planner.run`).
    policy
        Policy business types per facility (and origin) × band × type
        (`planner.policy.policy_table`), or None; filled by `planner.analyse_scenario`.
    policy_inputs
        What made ``policy`` (`planner.policy.add_policy`): the types table and the origin
        rows (or None), so that a result computed again from this one (`planner.reanalyse`,
        `planner.apply_proposal`, `planner.LiveCoverage.result`) has its policy too.
    gaps
        Uncovered merchants per 100 m cell and the crow-fly vs walking table
        (`planner.gaps.Gaps`; None: the writers compute it from the result).
    """

    settings: Settings
    provenance: Provenance
    network: StreetNetwork
    facilities: gpd.GeoDataFrame
    entrances: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    coverage: pd.DataFrame
    isochrones: gpd.GeoDataFrame
    summary: dict[str, Any]
    facility_rows: pd.DataFrame
    poi_rows: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    policy: pd.DataFrame | None = None
    gaps: Gaps | None = None
    policy_inputs: tuple[Any, pd.DataFrame | None] | None = None

    def problems(self) -> list[str]:
        """Every input problem: file-level ones first, then one per row with a problem.

        Rows of the facilities, the merchants and the policy's origin points (``[origins]``).

        Returns
        -------
        problems
            Messages naming the file, row and field; routed rows (``ok``, ``unreachable``)
            and points that only skipped a disconnected piece are not problems.
        """
        from planner.readers import ATTR_FILE_PROBLEMS

        found = [
            str(p)
            for t in (self.facility_rows, self.poi_rows)
            for p in t.attrs.get(ATTR_FILE_PROBLEMS, [])
        ]
        for table in (self.entrances, self.pois):
            bad = table[~table["status"].isin([Status.OK, Status.UNREACHABLE])]
            for row, status, reason in zip(bad["row"], bad["status"], bad["reason"], strict=True):
                found.append(str(reason or _("row {row}: {status}").format(row=row, status=status)))
        # the policy's origin points ([origins]): their rows, kept in the policy summary
        origins = (self.summary.get("policy") or {}).get("origins") or []
        for o in origins:
            if o.get("status") not in (Status.OK, Status.UNREACHABLE):
                found.append(
                    str(
                        o.get("reason")
                        or _("origin {origin_id}: {status}").format(
                            origin_id=o.get("origin_id"), status=o.get("status")
                        )
                    )
                )
        return found

    def __repr__(self) -> str:
        """Return one line: name, facility and POI counts, bands and speed."""
        s = self.settings
        bands = "/".join(f"{b:g}" for b in s.bands_min)
        return (
            f"<Result {self.provenance.name!r}: {len(self.facilities)} facilities, "
            f"{len(self.pois)} POIs, bands {bands} min at {s.speed_kmh:g} km/h>"
        )

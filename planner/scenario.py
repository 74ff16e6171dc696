"""Scenario files: study area, network source, inputs and analysis settings (TOML)."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from planner._i18n import N_, _

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from planner import _paths
from planner import crs as crs_mod
from planner._errors import ScenarioError
from planner.readers import ROLES
from planner.result import (
    BUFFER_MAX_M,
    DEFAULT_BANDS_MIN,
    DEFAULT_BUFFER_M,
    DEFAULT_ISOCHRONE_METHOD,
    DEFAULT_SNAP_LIMIT_M,
    DEFAULT_SPEED_KMH,
    SNAP_LIMIT_MAX_M,
    SPEED_RANGE_KMH,
    Provenance,
    Settings,
)

#: Folder holding the bundled scenarios (``<name>/scenario.toml``): ``planner/_data`` when
#: installed from a wheel or sdist, else the repository's ``data/`` (checkout, editable install).
DATA_DIR = _paths.data_dir()

DEFAULT_DOWNLOAD_MARGIN_M = 300.0
DEFAULT_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"
SPEED_MIN_KMH, SPEED_MAX_KMH = SPEED_RANGE_KMH
DOWNLOAD_MARGIN_MAX_M = 10_000.0
NETWORK_SOURCES = ("osm_xml", "overpass", "graphml", "pbf")


@dataclass(frozen=True)
class PointSource:
    """A table of points (facilities or POIs) and how to read it."""

    path: Path
    crs: str = "WGS84"
    columns: dict[str, str] = field(default_factory=dict)
    sheet: str | int | None = None
    layer: str | None = None


@dataclass(frozen=True)
class Scenario:
    """Everything one planning run needs; paths are absolute."""

    name: str
    title: str
    folder: Path
    place: str = ""
    study_bbox: tuple[float, float, float, float] | None = None  # W, S, E, N (WGS-84)
    network_source: str = "osm_xml"  # "osm_xml" | "overpass" | "graphml" | "pbf"
    network_path: Path | None = None
    network_date: str = ""
    attribution: str = DEFAULT_ATTRIBUTION
    download_margin_m: float = DEFAULT_DOWNLOAD_MARGIN_M
    facilities: PointSource | None = None
    pois: PointSource | None = None
    pois_from_osm: bool = True
    origins: PointSource | None = None  # [origins]: points walked from, e.g. 社区居委会
    policy: Path | None = None  # [policy] types: the policy business types table (CSV)
    proposals: tuple[Path, ...] = ()  # [proposals] files: proposal TOML files to compare
    speed_kmh: float = DEFAULT_SPEED_KMH
    bands_min: tuple[float, ...] = DEFAULT_BANDS_MIN
    snap_limit_m: float = DEFAULT_SNAP_LIMIT_M
    buffer_m: float = DEFAULT_BUFFER_M
    isochrone_method: str = DEFAULT_ISOCHRONE_METHOD
    notes: str = ""
    review_number: str = ""  # [report]: 审图号 (map review number) printed on the PDF page
    issuing_unit: str = ""  # [report]: 编制单位 (issuing unit) printed on the PDF page
    file: Path | None = None  # the scenario file it was read from

    @property
    def cache_dir(self) -> Path:
        """Where downloads for this scenario are cached.

        ``<folder>/cache`` when that is writable and not inside an installed package, else a
        folder under the user cache (see `planner._paths.scenario_cache_dir`).
        """
        return _paths.scenario_cache_dir(self.folder, self.name)

    @property
    def metres_per_minute(self) -> float:
        """Walking speed in metres per minute."""
        return self.speed_kmh * 1000.0 / 60.0

    def settings(self) -> Settings:
        """The analysis settings this scenario asks for."""
        return Settings(
            speed_kmh=self.speed_kmh,
            bands_min=tuple(self.bands_min),
            snap_limit_m=self.snap_limit_m,
            buffer_m=self.buffer_m,
            isochrone_method=self.isochrone_method,
        )

    def provenance(self) -> Provenance:
        """Where this scenario's data come from (for maps and summary.json)."""
        return Provenance(
            name=self.name,
            title=self.title,
            place=self.place,
            network_source=self.network_source,
            network_file=self.network_path.name if self.network_path else None,
            network_date=self.network_date,
            attribution=self.attribution,
            facilities_file=self.facilities.path.name if self.facilities else None,
            pois_file=self.pois.path.name if self.pois else None,
            review_number=self.review_number,
            issuing_unit=self.issuing_unit,
        )

    def with_overrides(
        self,
        *,
        bands_min: tuple[float, ...] | None = None,
        speed_kmh: float | None = None,
        network_path: Path | None = None,
    ) -> Scenario:
        """Return a copy with command-line overrides applied and checked."""
        s = self
        if bands_min is not None:
            s = replace(s, bands_min=_check_bands(bands_min, "--minutes"))
        if speed_kmh is not None:
            s = replace(s, speed_kmh=_check_speed(speed_kmh, "--speed-kmh"))
        if network_path is not None:
            source = "graphml" if network_path.suffix.lower() == ".graphml" else "osm_xml"
            if network_path.name.lower().endswith(".pbf"):
                source = "pbf"  # a regional extract, cut to the study area on load
            from planner._pbf import data_date

            # the file's own date, not the date of the file the scenario names
            s = replace(
                s,
                network_source=source,
                network_path=network_path.resolve(),
                network_date=data_date(network_path),
            )
        return s


def _bands_problem(values: tuple[float, ...]) -> str | None:
    """Return what is wrong with band minutes, or None."""
    if not values or any(not math.isfinite(b) or b <= 0 for b in values):
        return _("bands must be positive minutes")
    if len(set(values)) != len(values):
        return _("bands must be distinct")
    return None


def _check_bands(bands: Any, where: str) -> tuple[float, ...]:
    try:
        values = tuple(float(b) for b in bands)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(
            _("{where}: bands must be numbers of minutes, got {bands!r}").format(
                where=where, bands=bands
            )
        ) from exc
    problem = _bands_problem(values)
    if problem:
        raise ScenarioError(
            _("{where}: {problem}, got {bands!r}").format(where=where, problem=problem, bands=bands)
        )
    return tuple(sorted(values))


def _check_speed(speed: Any, where: str) -> float:
    try:
        value = float(speed)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(
            _("{where}: {speed!r} is not a number (walking speed in km/h)").format(
                where=where, speed=speed
            )
        ) from exc
    if not math.isfinite(value) or not SPEED_MIN_KMH <= value <= SPEED_MAX_KMH:
        raise ScenarioError(
            _("{where}: walking speed {speed!r} km/h is outside 0.5-10 km/h").format(
                where=where, speed=speed
            )
        )
    return value


def parse_bands(text: str) -> tuple[float, ...]:
    """Parse ``"5,10,15"`` into sorted band minutes.

    Parameters
    ----------
    text
        Comma-separated minutes.

    Returns
    -------
    bands
        Sorted, distinct, positive minutes.
    """
    return _check_bands([t for t in text.replace("，", ",").split(",") if t.strip()], "--minutes")


def find_scenario(name_or_path: str | Path) -> Path:
    """Resolve a scenario name (bundled) or path to its ``scenario.toml``.

    Parameters
    ----------
    name_or_path
        ``sample``, ``liusha``, a folder holding ``scenario.toml``, or a TOML file.

    Returns
    -------
    path
        The scenario file.
    """
    p = Path(name_or_path)
    candidates = [p, p / "scenario.toml", DATA_DIR / str(name_or_path) / "scenario.toml"]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    known = sorted(d.name for d in DATA_DIR.glob("*") if (d / "scenario.toml").is_file())
    raise ScenarioError(
        _(
            "scenario {name_or_path!r} not found (bundled scenarios: {known}; or "
            "pass a path to a scenario.toml)"
        ).format(name_or_path=str(name_or_path), known=", ".join(known))
    )


# --------------------------------------------------------------------------- schema
# One pydantic model per TOML table. Types are strict (no "false" -> False, no "300" -> 300;
# an integer is accepted for a float), unknown keys are errors, NaN/inf are refused. The
# models only validate: `load_scenario` builds the `Scenario` dataclass from them.


def _bbox_problem(w: float, s: float, e: float, n: float) -> str | None:
    """Return what is wrong with a (west, south, east, north) WGS-84 box, or None."""
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        return _("the four values must be finite numbers")
    if abs(w) > 180 or abs(e) > 180:
        return _("west and east are longitudes, within -180..180")
    if abs(s) > 90 or abs(n) > 90:
        return _("south and north are latitudes, within -90..90")
    if not w < e:
        return _("west {w:.10g} must be less than east {e:.10g}").format(w=w, e=e)
    if not s < n:
        return _("south {s:.10g} must be less than north {n:.10g}").format(s=s, n=n)
    return None


def check_bbox(values: list[float] | tuple[float, ...]) -> tuple[float, float, float, float]:
    """Check a study box written as ``[west, south, east, north]`` in WGS-84 degrees.

    Parameters
    ----------
    values
        The four numbers as written in the scenario.

    Returns
    -------
    bbox
        ``(west, south, east, north)`` as floats.

    Raises
    ------
    ValueError
        With a one-line explanation; a box written in lat/lon order (``[south, west, north,
        east]``) is recognised when the values as given are impossible but swapped are not.
    """
    if len(values) != 4:
        raise ValueError(
            _("expected 4 numbers [west, south, east, north] (WGS-84 degrees), got {count}").format(
                count=len(values)
            )
        )
    w, s, e, n = (float(v) for v in values)
    problem = _bbox_problem(w, s, e, n)
    if problem is None:
        return (w, s, e, n)
    if _bbox_problem(s, w, n, e) is None:
        fixed = ", ".join(f"{v:.10g}" for v in (s, w, n, e))
        raise ValueError(
            _(
                "looks like [south, west, north, east] (lat/lon order); write [west, "
                "south, east, north] = [{fixed}]"
            ).format(fixed=fixed)
        )
    raise ValueError(
        _("{problem}; expected [west, south, east, north] in WGS-84 degrees").format(
            problem=problem
        )
    )


def _existing_file(value: str | None, info: ValidationInfo) -> str | None:
    """Check that a path (relative to the scenario's folder) names an existing file."""
    if value is None:
        return None
    if not value.strip():
        raise ValueError(_("expected the name of a file, got an empty string"))
    folder = Path((info.context or {}).get("folder", "."))
    try:
        resolved = (folder / value).resolve()
        is_file, is_dir = resolved.is_file(), resolved.is_dir()
    except (OSError, ValueError) as exc:
        raise ValueError(_("not a usable file path ({exc})").format(exc=exc)) from exc
    if is_dir:
        raise ValueError(_("{resolved} is a folder; expected a file").format(resolved=resolved))
    if not is_file:
        if resolved.exists():
            raise ValueError(
                _(
                    "{resolved} is not a regular file (a device, pipe or socket); expected a file"
                ).format(resolved=resolved)
            )
        raise ValueError(_("no such file: {resolved}").format(resolved=resolved))
    return value


class _Table(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class _ScenarioTable(_Table):
    name: str | None = None
    title: str | None = None
    place: str = ""
    study_bbox: list[float] | None = None
    notes: str = ""

    @field_validator("name")
    @classmethod
    def _name_is_a_file_name(cls, value: str | None) -> str | None:
        if value is not None and not _paths.is_file_name(value):
            raise ValueError(
                _(
                    "expected a non-empty name usable as a file name (it names out/<name>/ "
                    'and maps/<name>.html; no / \\ : * ? " < > |)'
                )
            )
        return value

    @field_validator("study_bbox")
    @classmethod
    def _bbox(cls, value: list[float] | None) -> list[float] | None:
        return None if value is None else list(check_bbox(value))


class _NetworkTable(_Table):
    source: Literal["osm_xml", "overpass", "graphml", "pbf"] = "osm_xml"
    path: str | None = None
    data_date: str | dt.datetime | dt.date = ""
    attribution: str = DEFAULT_ATTRIBUTION
    download_margin_m: float = Field(DEFAULT_DOWNLOAD_MARGIN_M, ge=0, le=DOWNLOAD_MARGIN_MAX_M)

    _path = field_validator("path")(_existing_file)


class _FacilitiesTable(_Table):
    path: str
    crs: str = "WGS84"
    columns: dict[str, str] = Field(default_factory=dict)
    sheet: str | int | None = None
    layer: str | None = None

    _path = field_validator("path")(_existing_file)

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str) -> str:
        crs_mod.normalize_crs(value)  # its ValueError names the accepted values
        return value

    @field_validator("columns")
    @classmethod
    def _known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        for role in value:
            if role not in ROLES:
                close = difflib.get_close_matches(role, ROLES, n=1)
                hint = _("did you mean {close}? ").format(close=close[0]) if close else ""
                raise ValueError(
                    _("unknown role {role!r} ({hint}roles: {roles})").format(
                        role=role, hint=hint, roles=", ".join(ROLES)
                    )
                )
        return value

    @field_validator("sheet")
    @classmethod
    def _sheet_index(cls, value: str | int | None) -> str | int | None:
        if isinstance(value, int) and value < 0:
            raise ValueError(_("a sheet index counts from 0"))
        return value


class _PoisTable(_FacilitiesTable):
    path: str | None = None  # type: ignore[assignment]  # optional here, required for facilities
    from_osm: bool = True


class _OriginsTable(_FacilitiesTable):
    """[origins]: a table of points walked from (e.g. community committees), like [facilities]."""


class _PolicyTable(_Table):
    types: str | None = None

    _types = field_validator("types")(_existing_file)


class _ProposalsTable(_Table):
    files: list[str] = Field(default_factory=list)

    @field_validator("files")
    @classmethod
    def _existing(cls, value: list[str], info: ValidationInfo) -> list[str]:
        for name in value:
            _existing_file(name, info)
        return value


class _AnalysisTable(_Table):
    speed_kmh: float = Field(DEFAULT_SPEED_KMH, ge=SPEED_MIN_KMH, le=SPEED_MAX_KMH)
    bands_min: list[float] = Field(default_factory=lambda: list(DEFAULT_BANDS_MIN), min_length=1)
    snap_limit_m: float = Field(DEFAULT_SNAP_LIMIT_M, gt=0, le=SNAP_LIMIT_MAX_M)
    buffer_m: float = Field(DEFAULT_BUFFER_M, gt=0, le=BUFFER_MAX_M)
    isochrone_method: Literal["grid", "exact"] = DEFAULT_ISOCHRONE_METHOD

    @field_validator("bands_min")
    @classmethod
    def _bands(cls, value: list[float]) -> list[float]:
        problem = _bands_problem(tuple(value))
        if problem:
            raise ValueError(_("{problem}, e.g. [5, 10, 15]").format(problem=problem))
        return sorted(value)


class _ReportTable(_Table):
    """[report]: the footer of the printable page (maps/<name>.pdf)."""

    review_number: str = ""
    issuing_unit: str = ""

    @field_validator("review_number", "issuing_unit")
    @classmethod
    def _one_line_text(cls, value: str) -> str:
        if _LINE_BREAKING.search(value):
            raise ValueError(_("expected one line of text (no line breaks or control characters)"))
        return value.strip()


class _ScenarioFile(_Table):
    scenario: _ScenarioTable = Field(default_factory=lambda: _ScenarioTable())
    network: _NetworkTable = Field(default_factory=lambda: _NetworkTable())
    facilities: _FacilitiesTable
    pois: _PoisTable = Field(default_factory=lambda: _PoisTable())
    origins: _OriginsTable | None = None
    policy: _PolicyTable = Field(default_factory=lambda: _PolicyTable())
    proposals: _ProposalsTable = Field(default_factory=lambda: _ProposalsTable())
    analysis: _AnalysisTable = Field(default_factory=lambda: _AnalysisTable())
    report: _ReportTable = Field(default_factory=lambda: _ReportTable())


#: The tables of a scenario file and the model of each.
TABLES: dict[str, type[_Table]] = {
    "scenario": _ScenarioTable,
    "network": _NetworkTable,
    "facilities": _FacilitiesTable,
    "pois": _PoisTable,
    "origins": _OriginsTable,
    "policy": _PolicyTable,
    "proposals": _ProposalsTable,
    "analysis": _AnalysisTable,
    "report": _ReportTable,
}

_POINT_KEYS = {
    "path": N_("a string naming the file, relative to the scenario file"),
    "crs": N_("a CRS name: {crs_names}"),
    "columns": N_(
        'a table of role = "column name" (roles: {roles}), e.g. {{ lon = "经度", lat = "纬度" }}'
    ),
    "sheet": N_("an Excel sheet name (string) or 0-based index (integer)"),
    "layer": N_("a GeoPackage layer name (string)"),
}

#: The values of the placeholders in `EXPECTED` (filled in after translation).
_EXPECTED_ARGS = {
    "crs_names": crs_mod.ACCEPTED_CRS_NAMES,
    "roles": ", ".join(ROLES),
    "sources": ", ".join(f'"{s}"' for s in NETWORK_SOURCES),
    "download_margin_max_m": DOWNLOAD_MARGIN_MAX_M,
    "speed_min_kmh": SPEED_MIN_KMH,
    "speed_max_kmh": SPEED_MAX_KMH,
    "snap_limit_max_m": SNAP_LIMIT_MAX_M,
    "buffer_max_m": BUFFER_MAX_M,
}

#: What each key expects, as said in error messages (and the README's scenario section):
#: English templates, translated and filled with `_EXPECTED_ARGS` where they are shown.
EXPECTED: dict[tuple[str, str], str] = {
    ("scenario", "name"): N_("a non-empty string usable as a file name"),
    ("scenario", "title"): N_("a string"),
    ("scenario", "place"): N_("a string"),
    ("scenario", "study_bbox"): N_("[west, south, east, north]: 4 finite numbers, WGS-84 degrees"),
    ("scenario", "notes"): N_("a string"),
    ("network", "source"): N_("one of {sources}"),
    ("network", "path"): N_(
        "a string naming the OSM XML, OSM PBF or GraphML file, relative to the scenario file"
    ),
    ("network", "data_date"): N_('a string or a TOML date, e.g. "2021-03-17"'),
    ("network", "attribution"): N_("a string"),
    ("network", "download_margin_m"): N_("a number of metres, 0 to {download_margin_max_m:g}"),
    **{("facilities", k): v for k, v in _POINT_KEYS.items()},
    **{("pois", k): v for k, v in _POINT_KEYS.items()},
    ("pois", "from_osm"): N_("true or false (a TOML boolean, unquoted)"),
    **{("origins", k): v for k, v in _POINT_KEYS.items()},
    ("policy", "types"): N_(
        "a string naming the policy business types CSV, relative to the "
        "scenario file (default: the shipped planner/policy_types.csv)"
    ),
    ("proposals", "files"): N_(
        "a list of proposal TOML files, relative to the scenario file, "
        'e.g. ["east-gate.toml"] (see planner compare)'
    ),
    ("analysis", "speed_kmh"): N_("a number of km/h from {speed_min_kmh:g} to {speed_max_kmh:g}"),
    ("analysis", "bands_min"): N_("a list of distinct positive minutes, e.g. [5, 10, 15]"),
    ("analysis", "snap_limit_m"): N_("a number of metres, > 0 and <= {snap_limit_max_m:g}"),
    ("analysis", "buffer_m"): N_("a number of metres, > 0 and <= {buffer_max_m:g}"),
    ("analysis", "isochrone_method"): N_(
        '"grid" (fast, within 5 m of the exact outline) or "exact"'
    ),
    (
        "report",
        "review_number",
    ): N_('a string, the map review number (审图号), e.g. "粤S(2024)01-02号"'),
    ("report", "issuing_unit"): N_("a string, the unit issuing the map (编制单位)"),
}


# --------------------------------------------------------------------------- messages
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# characters that end a line for str.splitlines(), and other control characters
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _one_line(text: str) -> str:
    """Escape line breaks and control characters so a message stays on one line."""
    return _LINE_BREAKING.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def _key(key: Any) -> str:
    key = str(key)
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _show(value: Any, limit: int = 80) -> str:
    """Write a TOML value back the way it looks in the file (shortened)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float):
        text = "nan" if math.isnan(value) else repr(value)
    elif isinstance(value, list):
        text = "[" + ", ".join(_show(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {_show(v, limit)}" for k, v in value.items())
        text = "{ " + inner + " }" if inner else "{}"
    elif isinstance(value, dt.date | dt.time):
        text = value.isoformat()
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unknown_key(table: str, key: str, tables: Mapping[str, type[BaseModel]]) -> str:
    known = list(tables[table].model_fields)
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return _("unknown key (did you mean {close}?)").format(close=close[0])
    home = [t for t, model in tables.items() if key in model.model_fields]
    if home:
        return _("unknown key in [{table}] (it belongs in [{home}])").format(
            table=table, home=home[0]
        )
    return _("unknown key (known keys of [{table}]: {known})").format(
        table=table, known=", ".join(known)
    )


def _top_level_issue(
    name: str, kind: str, doc: dict[str, Any], models: Mapping[str, type[BaseModel]]
) -> str:
    value = doc.get(name)
    tables = ", ".join(f"[{t}]" for t in models)
    if kind == "missing":
        if name in models and "path" in models[name].model_fields:
            return _("missing [{name}] table (it needs at least path = the {name} file)").format(
                name=name
            )
        return _("missing [{name}] table").format(name=name)
    if kind != "extra_forbidden":
        return _("{key} = {value}: expected a table [{name}]").format(
            key=_key(name), value=_show(value), name=name
        )
    if isinstance(value, dict):
        close = difflib.get_close_matches(name, list(models), n=1)
        hint = (
            _("did you mean [{close}]?").format(close=close[0])
            if close
            else _("known tables: {tables}").format(tables=tables)
        )
        return _("[{key}]: unknown table ({hint})").format(key=_key(name), hint=hint)
    home = [t for t, model in models.items() if name in model.model_fields]
    hint = (
        _("it belongs under the [{home}] header").format(home=home[0])
        if home
        else _("known tables: {tables}").format(tables=tables)
    )
    return _("{key} = {value}: unknown key outside any table ({hint})").format(
        key=_key(name), value=_show(value), hint=hint
    )


def validation_issues(
    exc: ValidationError,
    doc: dict[str, Any],
    tables: Mapping[str, type[BaseModel]] | None = None,
    expected: Mapping[tuple[str, str], str] | None = None,
) -> list[str]:
    """One message per bad table or key of a pydantic validation error.

    Parameters
    ----------
    exc
        The error of validating `doc`.
    doc
        The TOML document as read.
    tables, expected
        The file's tables and the ``(table, key)`` → expected-value texts (marked with
        `N_`); default: the scenario file's (`TABLES`, `EXPECTED`). Region files pass theirs.

    Returns
    -------
    issues
        Translated messages naming the table, key, value and what is expected.
    """
    tables = TABLES if tables is None else tables
    expected_texts = EXPECTED if expected is None else expected
    issues: list[str] = []
    seen: set[tuple[Any, ...]] = set()
    for err in exc.errors(include_url=False):
        head = tuple(err["loc"][:2])
        if head in seen:
            continue
        seen.add(head)
        kind = err["type"]
        if len(head) == 1:
            issues.append(_top_level_issue(str(head[0]), kind, doc, tables))
            continue
        table, key = str(head[0]), str(head[1])
        where = f"[{table}] {_key(key)}"
        text = expected_texts.get((table, key), "")
        wanted = _(text).format(**_EXPECTED_ARGS) if text else ""
        value = doc.get(table, {}).get(key) if isinstance(doc.get(table), dict) else None
        if kind == "extra_forbidden":
            issues.append(
                _("{where} = {value}: {problem}").format(
                    where=where, value=_show(value), problem=_unknown_key(table, key, tables)
                )
            )
        elif kind == "missing":
            issues.append(
                _("{where} is missing: expected {expected}").format(where=where, expected=wanted)
            )
        elif kind == "value_error":
            detail = str(err.get("ctx", {}).get("error", err["msg"]))
            issues.append(
                _("{where} = {value}: {problem}").format(
                    where=where, value=_show(value), problem=detail
                )
            )
        else:
            issues.append(
                _("{where} = {value}: expected {expected}").format(
                    where=where, value=_show(value), expected=wanted
                )
            )
    return issues


def _consistency_issues(model: _ScenarioFile, doc: dict[str, Any]) -> list[str]:
    """Problems between keys that each are valid on their own."""
    issues = []
    network, pois = model.network, model.pois
    if network.source != "overpass" and network.path is None:
        issues.append(
            _(
                '[network] path is missing: source = "{source}" needs the street '
                'network file (or use source = "overpass" and `planner fetch`)'
            ).format(source=network.source)
        )
    if network.source == "overpass" and network.path is not None:
        issues.append(
            _(
                '[network] path = {path}: not used with source = "overpass" (`planner '
                'fetch` downloads the network); remove it or set source = "osm_xml" / '
                '"graphml" / "pbf"'
            ).format(path=_show(network.path))
        )
    if (
        network.source == "pbf"
        and network.path is not None
        and not network.path.lower().endswith(".pbf")
    ):
        issues.append(
            _(
                '[network] path = {path}: source = "pbf" needs an OSM PBF file '
                '(name ending in .pbf, e.g. "guangdong-latest.osm.pbf"); for an OSM XML file use '
                'source = "osm_xml"'
            ).format(path=_show(network.path))
        )
    if pois.path is None:
        for key in ("crs", "columns", "sheet", "layer"):
            if key in pois.model_fields_set:
                issues.append(
                    _(
                        "[pois] {key} = {value}: only used with [pois] path (a table of "
                        "merchants), which is missing"
                    ).format(key=key, value=_show(doc["pois"][key]))
                )
    return issues


def _error(path: Path, issues: list[str]) -> ScenarioError:
    shown = _("; ").join(issues[:4])
    if len(issues) > 4:
        shown += _("; and {count} more").format(count=len(issues) - 4)
    return ScenarioError(_one_line(_("{path}: {problem}").format(path=path, problem=shown)))


def _point_source(table: _FacilitiesTable, folder: Path) -> PointSource | None:
    if table.path is None:
        return None
    return PointSource(
        path=(folder / table.path).resolve(),
        crs=table.crs,
        columns=dict(table.columns),
        sheet=table.sheet,
        layer=table.layer,
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file.

    The whole file is checked before anything else happens, against one schema (see
    `TABLES` and `EXPECTED`): strict types, no unknown tables or keys, ranges, an existing
    file for each path, known CRS names, and a sane ``study_bbox``.

    Parameters
    ----------
    name_or_path
        See `find_scenario`.

    Returns
    -------
    scenario
        The parsed scenario with absolute paths.

    Raises
    ------
    ScenarioError
        One line naming the file, and for each bad key (up to four) the key, its value and
        what is expected.
    """
    path = find_scenario(name_or_path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # Notepad may add a BOM
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(
            _one_line(_("{path}: cannot read scenario ({exc})").format(path=path, exc=exc))
        ) from exc
    folder = path.parent
    try:
        model = _ScenarioFile.model_validate(doc, context={"folder": folder})
    except ValidationError as exc:
        raise _error(path, validation_issues(exc, doc)) from None
    issues = _consistency_issues(model, doc)
    if issues:
        raise _error(path, issues)
    meta, network, analysis = model.scenario, model.network, model.analysis
    name = meta.name if meta.name is not None else folder.name
    date = network.data_date
    return Scenario(
        name=name,
        title=meta.title if meta.title is not None else name,
        folder=folder,
        place=meta.place,
        study_bbox=check_bbox(meta.study_bbox) if meta.study_bbox is not None else None,
        network_source=network.source,
        network_path=(folder / network.path).resolve() if network.path is not None else None,
        network_date=date if isinstance(date, str) else date.isoformat(),
        attribution=network.attribution,
        download_margin_m=network.download_margin_m,
        facilities=_point_source(model.facilities, folder),
        pois=_point_source(model.pois, folder),
        pois_from_osm=model.pois.from_osm,
        origins=_point_source(model.origins, folder) if model.origins is not None else None,
        policy=(folder / model.policy.types).resolve() if model.policy.types else None,
        proposals=tuple((folder / f).resolve() for f in model.proposals.files),
        speed_kmh=analysis.speed_kmh,
        bands_min=tuple(analysis.bands_min),
        snap_limit_m=analysis.snap_limit_m,
        buffer_m=analysis.buffer_m,
        isochrone_method=analysis.isochrone_method,
        notes=meta.notes,
        review_number=model.report.review_number,
        issuing_unit=model.report.issuing_unit,
        file=path,
    )

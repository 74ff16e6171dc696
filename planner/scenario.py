"""Scenario files: study area, network source, inputs and analysis settings (TOML)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomllib

from planner._errors import ScenarioError

#: Folder holding the bundled scenarios (``data/<name>/scenario.toml``).
DATA_DIR = Path(__file__).resolve().parent.parent / "data"

DEFAULT_SPEED_KMH = 4.5
DEFAULT_BANDS_MIN = (5.0, 10.0, 15.0)
DEFAULT_SNAP_LIMIT_M = 300.0


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
    network_source: str = "osm_xml"  # "osm_xml" | "overpass" | "graphml"
    network_path: Path | None = None
    network_date: str = ""
    attribution: str = "© OpenStreetMap contributors (ODbL)"
    download_margin_m: float = 300.0
    facilities: PointSource | None = None
    pois: PointSource | None = None
    pois_from_osm: bool = True
    speed_kmh: float = DEFAULT_SPEED_KMH
    bands_min: tuple[float, ...] = DEFAULT_BANDS_MIN
    snap_limit_m: float = DEFAULT_SNAP_LIMIT_M
    buffer_m: float = 25.0
    notes: str = ""

    @property
    def cache_dir(self) -> Path:
        """Where downloads for this scenario are cached."""
        return self.folder / "cache"

    @property
    def metres_per_minute(self) -> float:
        """Walking speed in metres per minute."""
        return self.speed_kmh * 1000.0 / 60.0

    @property
    def bands_m(self) -> list[float]:
        """Band limits in metres."""
        return [b * self.metres_per_minute for b in self.bands_min]

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
            s = replace(s, network_source=source, network_path=network_path.resolve())
        return s


def _check_bands(bands: Any, where: str) -> tuple[float, ...]:
    try:
        values = tuple(float(b) for b in bands)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: bands must be numbers of minutes, got {bands!r}") from exc
    if not values or any(not math.isfinite(b) or b <= 0 for b in values):
        raise ScenarioError(f"{where}: bands must be positive minutes, got {bands!r}")
    if len(set(values)) != len(values):
        raise ScenarioError(f"{where}: bands must be distinct, got {bands!r}")
    return tuple(sorted(values))


def _check_speed(speed: Any, where: str) -> float:
    try:
        value = float(speed)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: walking speed must be a number (km/h)") from exc
    if not math.isfinite(value) or not 0.5 <= value <= 10:
        raise ScenarioError(f"{where}: walking speed {speed!r} km/h is outside 0.5-10 km/h")
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


def _point_source(table: dict[str, Any], folder: Path, where: str) -> PointSource:
    if "path" not in table:
        raise ScenarioError(f"{where}: missing 'path'")
    return PointSource(
        path=(folder / table["path"]).resolve(),
        crs=str(table.get("crs", "WGS84")),
        columns=dict(table.get("columns", {})),
        sheet=table.get("sheet"),
        layer=table.get("layer"),
    )


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
        f"scenario {str(name_or_path)!r} not found (bundled scenarios: {', '.join(known)}; "
        "or pass a path to a scenario.toml)"
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read a scenario TOML file.

    Parameters
    ----------
    name_or_path
        See `find_scenario`.

    Returns
    -------
    scenario
        The parsed scenario with absolute paths.
    """
    path = find_scenario(name_or_path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read scenario ({exc})") from exc
    folder = path.parent
    meta = doc.get("scenario", {})
    net = doc.get("network", {})
    ana = doc.get("analysis", {})
    name = str(meta.get("name", folder.name))
    bbox = meta.get("study_bbox")
    if bbox is not None:
        if len(bbox) != 4 or not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
            raise ScenarioError(f"{path}: study_bbox must be [west, south, east, north]")
        bbox = tuple(float(b) for b in bbox)
    source = str(net.get("source", "osm_xml"))
    if source not in {"osm_xml", "overpass", "graphml"}:
        raise ScenarioError(f"{path}: [network] source must be osm_xml, overpass or graphml")
    if source != "overpass" and "path" not in net:
        raise ScenarioError(f"{path}: [network] needs a 'path' for source {source!r}")
    network_path = (folder / net["path"]).resolve() if "path" in net else None
    if "facilities" not in doc:
        raise ScenarioError(f"{path}: missing [facilities] table")
    pois = doc.get("pois", {})
    return Scenario(
        name=name,
        title=str(meta.get("title", name)),
        folder=folder,
        place=str(meta.get("place", "")),
        study_bbox=bbox,
        network_source=source,
        network_path=network_path,
        network_date=str(net.get("data_date", "")),
        attribution=str(net.get("attribution", "© OpenStreetMap contributors (ODbL)")),
        download_margin_m=float(net.get("download_margin_m", 300.0)),
        facilities=_point_source(doc["facilities"], folder, f"{path} [facilities]"),
        pois=_point_source(pois, folder, f"{path} [pois]") if "path" in pois else None,
        pois_from_osm=bool(pois.get("from_osm", True)),
        speed_kmh=_check_speed(ana.get("speed_kmh", DEFAULT_SPEED_KMH), f"{path} speed_kmh"),
        bands_min=_check_bands(ana.get("bands_min", DEFAULT_BANDS_MIN), f"{path} bands_min"),
        snap_limit_m=float(ana.get("snap_limit_m", DEFAULT_SNAP_LIMIT_M)),
        buffer_m=float(ana.get("buffer_m", 25.0)),
        notes=str(meta.get("notes", "")),
    )

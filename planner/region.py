"""Many study areas in one job: cut the region by area with a halo, one task per area, merge."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pickle
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from planner._cpus import usable_cpus
from planner._i18n import N_, _

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, ValidationError, field_validator

from planner import _paths, _pbf
from planner import crs as crs_mod
from planner import scenario as sc
from planner._errors import PlannerError, ScenarioError
from planner._types import Progress, quiet
from planner.result import Provenance, Settings
from planner.scenario import PointSource
from planner.schema import COVERAGE_COLUMNS, POI_COLUMNS, POI_INPUT_COLUMNS, ROUTED_STATUSES

__all__ = [
    "AREA_STATUSES",
    "Region",
    "RegionResult",
    "analyse_whole",
    "area_tasks",
    "load_region",
    "run_region",
]

#: Bump when a per-area result file changes meaning (old files are then recomputed).
TASK_FORMAT_VERSION = (
    5  # 2: split_pieces; 3: cpu_seconds; 4: policy required_min; 5: no unreachable
)

#: Areas whose cut boxes centre in one tile of this many degrees share one pass over the
#: regional file: the tile (the union of their cut boxes) is cut once, as PBF, and each area
#: is cut from the tile. A cut of a cut is the same cut (complete ways of the smaller box).
TILE_DEG = 0.25

#: Status of a row of the areas file in circles.csv.
AREA_STATUSES = {
    "ok": "computed",
    "failed": "the task failed (reason says why); run the command again to retry it",
    "bad_geometry": "no usable polygon or point (empty, invalid, or of another type)",
    "duplicate_id": "an earlier row has the same area id",
    "missing_id": "the area id is empty",
}


# --------------------------------------------------------------------------- region file
class _RegionTable(sc._Table):
    name: str | None = None
    title: str | None = None
    notes: str = ""

    _name = field_validator("name")(sc._ScenarioTable._name_is_a_file_name.__func__)  # type: ignore[attr-defined]


class _AreasTable(sc._Table):
    path: str
    id: str = "id"
    name: str = "name"
    radius_m: float | None = Field(None, gt=0, le=10_000)
    layer: str | None = None
    crs: str | None = None  # the coordinates' system, when the file cannot say (GCJ-02)

    _path = field_validator("path")(sc._existing_file)

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str | None) -> str | None:
        if value is not None:
            crs_mod.normalize_crs(value)  # its ValueError names the accepted values
        return value


class _RegionNetworkTable(sc._Table):
    source: Literal["osm_xml", "pbf"] = "pbf"
    path: str
    data_date: Any = ""
    attribution: str = sc.DEFAULT_ATTRIBUTION

    _path = field_validator("path")(sc._existing_file)


class _RegionFile(sc._Table):
    region: _RegionTable = Field(default_factory=lambda: _RegionTable())
    areas: _AreasTable
    network: _RegionNetworkTable
    facilities: sc._FacilitiesTable
    pois: sc._PoisTable = Field(default_factory=lambda: sc._PoisTable())
    policy: sc._PolicyTable = Field(default_factory=lambda: sc._PolicyTable())
    analysis: sc._AnalysisTable = Field(default_factory=lambda: sc._AnalysisTable())


_TABLES: dict[str, type[BaseModel]] = {
    "region": _RegionTable,
    "areas": _AreasTable,
    "network": _RegionNetworkTable,
    "facilities": sc._FacilitiesTable,
    "pois": sc._PoisTable,
    "policy": sc._PolicyTable,
    "analysis": sc._AnalysisTable,
}

_EXPECTED: dict[tuple[str, str], str] = {
    **{k: v for k, v in sc.EXPECTED.items() if k[0] in _TABLES},
    ("region", "name"): N_("a non-empty string usable as a file name"),
    ("region", "title"): N_("a string"),
    ("region", "notes"): N_("a string"),
    ("areas", "path"): N_(
        "a string naming a GeoJSON or GeoPackage file of study areas "
        "(polygons, or points with radius_m), relative to the region file"
    ),
    ("areas", "id"): N_("the name of the column holding each area's id"),
    ("areas", "name"): N_("the name of the column holding each area's name"),
    ("areas", "radius_m"): N_("a number of metres, > 0 and <= 10000 (the radius of point areas)"),
    ("areas", "layer"): N_("a GeoPackage layer name (string)"),
    ("network", "source"): N_('one of "pbf", "osm_xml"'),
    ("network", "path"): N_(
        "a string naming the regional OSM PBF (or OSM XML) file, relative to the region file"
    ),
}


@dataclass(frozen=True)
class Region:
    """A region file: study areas, one regional network file, inputs and settings."""

    name: str
    title: str
    folder: Path
    file: Path
    areas_path: Path
    areas_id: str
    areas_name: str
    areas_radius_m: float | None
    areas_layer: str | None
    areas_crs: str | None
    network_source: str
    network_path: Path
    network_date: str
    attribution: str
    facilities: PointSource
    pois: PointSource | None
    pois_from_osm: bool
    policy: Path | None
    settings: Settings
    notes: str = ""

    @property
    def reach_m(self) -> float:
        """The largest band's walking distance in metres."""
        return self.settings.largest_band_min * self.settings.metres_per_minute

    @property
    def halo_m(self) -> float:
        """How far around an area its task reads streets and inputs: reach + snap limit."""
        return self.reach_m + self.settings.snap_limit_m

    def provenance(self) -> Provenance:
        """Where the region's data come from."""
        return Provenance(
            name=self.name,
            title=self.title,
            network_source=self.network_source,
            network_file=self.network_path.name,
            network_date=self.network_date,
            attribution=self.attribution,
            facilities_file=self.facilities.path.name,
            pois_file=self.pois.path.name if self.pois else None,
        )


def load_region(path: str | Path) -> Region:
    """Read and validate a region TOML file.

    The whole file is checked first, like a scenario file (`planner.load_scenario`): strict
    types, no unknown tables or keys, ranges, existing files.

    Parameters
    ----------
    path
        The region file, its folder, or the name of a bundled region (``sample_region``).

    Returns
    -------
    region
        The region with absolute paths.

    Raises
    ------
    ScenarioError
        One line naming the file, and for each bad key (up to four) the key, its value and
        what is expected.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "region.toml"
    if not path.is_file() and (sc.DATA_DIR / str(path) / "region.toml").is_file():
        path = sc.DATA_DIR / str(path) / "region.toml"  # a bundled region by name
    if not path.is_file():
        raise ScenarioError(_("region file not found: {path}").format(path=path))
    path = path.resolve()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # Notepad may add a BOM
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(sc._one_line(f"{path}: cannot read region file ({exc})")) from exc
    folder = path.parent
    try:
        model = _RegionFile.model_validate(doc, context={"folder": folder})
    except ValidationError as exc:
        raise sc._error(path, sc.validation_issues(exc, doc, _TABLES, _EXPECTED)) from None
    network = model.network
    if network.source == "pbf" and not network.path.lower().endswith(".pbf"):
        raise sc._error(
            path,
            [
                f'[network] path = {sc._show(network.path)}: source = "pbf" needs an OSM PBF '
                'file (name ending in .pbf); for an OSM XML file use source = "osm_xml"'
            ],
        )
    if model.pois.path is None and not model.pois.from_osm:
        raise sc._error(path, ["[pois]: no merchants (no path, and from_osm = false)"])
    analysis = model.analysis
    name = model.region.name if model.region.name is not None else folder.name
    date = network.data_date
    pois = sc._point_source(model.pois, folder)
    facilities = sc._point_source(model.facilities, folder)
    assert facilities is not None
    return Region(
        name=name,
        title=model.region.title if model.region.title is not None else name,
        folder=folder,
        file=path,
        areas_path=(folder / model.areas.path).resolve(),
        areas_id=model.areas.id,
        areas_name=model.areas.name,
        areas_radius_m=model.areas.radius_m,
        areas_layer=model.areas.layer,
        areas_crs=crs_mod.normalize_crs(model.areas.crs) if model.areas.crs else None,
        network_source=network.source,
        network_path=(folder / network.path).resolve(),
        network_date=date if isinstance(date, str) else str(date),
        attribution=network.attribution,
        facilities=facilities,
        pois=pois,
        pois_from_osm=model.pois.from_osm,
        policy=(folder / model.policy.types).resolve() if model.policy.types else None,
        settings=Settings(
            speed_kmh=analysis.speed_kmh,
            bands_min=tuple(analysis.bands_min),
            snap_limit_m=analysis.snap_limit_m,
            buffer_m=analysis.buffer_m,
        ),
        notes=model.region.notes,
    )


# --------------------------------------------------------------------------- areas
def _areas_to_wgs84(gdf: Any, crs: str | None) -> Any:
    """Return the areas in WGS-84.

    As the file says, or as ``[areas] crs`` says: GCJ-02 (Amap) or BD-09 (Baidu) vertices
    are converted as the points are; an EPSG code is projected.
    """
    import shapely

    if crs is None or crs == crs_mod.WGS84:
        return (gdf if gdf.crs is not None else gdf.set_crs(4326)).to_crs(4326)
    if crs.startswith("EPSG:"):
        return gdf.set_crs(crs, allow_override=True).to_crs(4326)

    def convert(xy: np.ndarray) -> np.ndarray:
        lon, lat = crs_mod.to_wgs84(xy[:, 0], xy[:, 1], crs)
        return np.column_stack([lon, lat])

    out = gdf.set_crs(4326, allow_override=True)
    return out.set_geometry(shapely.transform(out.geometry.to_numpy(), convert), crs=4326)


def _id_text(value: Any) -> str:
    """Return an area id as written.

    A number column with a gap is read as floats: the code 440305001001 must not become
    "440305001001.0".
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def read_areas(region: Region) -> Any:
    """Read the study areas as polygons in EPSG:4326, one row per input row, with a status.

    Parameters
    ----------
    region
        The region.

    Returns
    -------
    areas
        GeoDataFrame with ``row`` (1-based), ``area_id``, ``name``, ``status``, ``reason``
        and the polygon (points grown by their radius: a ``radius_m`` column, else
        ``[areas] radius_m``); a ``bad_geometry`` row has none, a row with an id problem
        keeps its polygon (merchants inside it are ``area_not_usable``) but is not computed.
    """
    import geopandas as gpd

    path = region.areas_path
    try:
        gdf = gpd.read_file(path, layer=region.areas_layer) if region.areas_layer else None
        if gdf is None:
            gdf = gpd.read_file(path)
    except Exception as exc:
        raise PlannerError(sc._one_line(f"{path}: cannot read study areas ({exc})")) from exc
    if gdf.empty:
        raise PlannerError(_("{path}: the file holds no study areas").format(path=path))
    if region.areas_id not in gdf.columns:
        raise PlannerError(
            _(
                "{path}: no column {areas_id!r} for the area id ([areas] id in "
                "{region_file}); columns: {str}"
            ).format(
                path=path,
                areas_id=region.areas_id,
                region_file=region.file,
                str=", ".join(map(str, gdf.columns)),
            )
        )
    gdf = _areas_to_wgs84(gdf, region.areas_crs)
    metric = _metric_crs(gdf)
    ids = gdf[region.areas_id].map(_id_text)
    names = (
        gdf[region.areas_name].map(lambda v: "" if pd.isna(v) else str(v))
        if region.areas_name in gdf.columns
        else ids
    )
    radius = (
        pd.to_numeric(gdf["radius_m"], errors="coerce")
        if "radius_m" in gdf.columns
        else pd.Series(region.areas_radius_m, index=gdf.index, dtype=float)
    )
    geoms: list[Any] = []
    status: list[str] = []
    reasons: list[str] = []
    seen: dict[str, int] = {}
    for i, (aid, geom, r) in enumerate(zip(ids, gdf.geometry, radius, strict=True)):
        row = i + 1
        where = f"{path.name} row {row}"
        poly, problem = _area_polygon(geom, r, metric, where, region.file.name)
        if not aid:
            status.append("missing_id")
            reasons.append(
                _("{where}: column {areas_id!r} is empty").format(
                    where=where, areas_id=region.areas_id
                )
            )
        elif aid in seen:
            status.append("duplicate_id")
            reasons.append(
                _("{where}: area id {aid!r} already used by row {seen}").format(
                    where=where, aid=aid, seen=seen[aid]
                )
            )
        elif problem:
            status.append("bad_geometry")
            reasons.append(problem)
        else:
            status.append("ok")
            reasons.append("")
        if aid and aid not in seen:
            seen[aid] = row
        geoms.append(poly)
    return gpd.GeoDataFrame(
        {
            "row": np.arange(1, len(gdf) + 1),
            "area_id": ids.to_numpy(dtype=object),
            "name": names.to_numpy(dtype=object),
            "status": status,
            "reason": reasons,
        },
        geometry=gpd.GeoSeries(geoms, crs=4326),
    )


def _area_polygon(
    geom: Any, radius: float | None, metric: Any, where: str, region_file_name: str
) -> tuple[Any, str]:
    """An area row's polygon (a point grown by its radius), or None and what is wrong.

    A row with an id problem keeps its polygon too: merchants inside it are said to be in
    an area row that could not be used, not in no area at all.
    """
    import geopandas as gpd
    import shapely

    if geom is None or geom.is_empty:
        return None, _("{where}: no geometry").format(where=where)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        poly = geom if geom.is_valid else shapely.make_valid(geom)
        if poly.area <= 0:
            return None, _("{where}: the polygon has no area").format(where=where)
        return poly, ""
    if geom.geom_type == "Point":
        if radius is None or not np.isfinite(radius) or radius <= 0:
            return None, _(
                "{where}: a point area needs a radius (a radius_m column or [areas] "
                "radius_m in {region_file_name})"
            ).format(where=where, region_file_name=region_file_name)
        pt = gpd.GeoSeries([geom], crs=4326).to_crs(metric).buffer(float(radius), 64)
        return pt.to_crs(4326).iloc[0], ""
    return None, _("{where}: a {geom_type} is not an area (polygon or point)").format(
        where=where, geom_type=geom.geom_type
    )


def _metric_crs(gdf: Any) -> Any:
    """A local metric CRS (UTM) for a GeoDataFrame in EPSG:4326."""
    try:
        crs = gdf.estimate_utm_crs()
    except Exception:
        crs = None
    return crs if crs is not None else "EPSG:3857"


# --------------------------------------------------------------------------- tasks
@dataclass
class AreaTask:
    """What one area's task needs; picklable, sent to a worker."""

    index: int
    area_id: str
    name: str
    polygon: bytes  # WKB, EPSG:4326
    earlier: list[bytes]  # WKB of earlier areas overlapping this one (they own shared POIs)
    origin: tuple[float, float]  # lon, lat: the area's representative point (policy checks)
    cut_bbox: tuple[float, float, float, float]
    tile_bbox: tuple[float, float, float, float]  # the union of its tile's cut boxes
    source: str
    facilities: pd.DataFrame
    pois: pd.DataFrame | None
    pois_from_osm: bool
    settings: Settings
    policy: str | None
    provenance: Provenance
    work: str
    job: str
    # file of the merchants table's ids (JSON list), when OSM POIs are read too: an OSM POI
    # with such an id is the table's row, wherever in the region that row is
    table_ids: str | None = None

    @property
    def result_path(self) -> Path:
        """The area's result file in the work folder (written atomically)."""
        return Path(self.work) / "areas" / f"{self.index:06d}.pkl"


def _job_key(
    region: Region, areas: Any, facilities: pd.DataFrame, pois: pd.DataFrame | None
) -> str:
    """A digest of everything that decides the per-area results.

    The planner's version and code (an upgraded or edited planner computes again), the
    network file's bytes, the settings, the policy types table's bytes (an edited table computes
    again), the areas and the input rows.
    """
    from planner import __version__
    from planner._paths import code_digest

    h = hashlib.sha256()
    h.update(f"{TASK_FORMAT_VERSION}|{__version__}|{code_digest()}|".encode())
    # the network file's bytes: an edit that keeps its size and time (cp -p, rsync -a) counts
    h.update(f"{region.network_path}|{_pbf.file_sha256(region.network_path)}|".encode())
    h.update(json.dumps(dataclasses.asdict(region.settings), sort_keys=True).encode())
    h.update(str(region.policy).encode())
    if region.policy is not None and Path(region.policy).is_file():
        h.update(Path(region.policy).read_bytes())
    h.update(str(region.pois_from_osm).encode())
    h.update(
        pd.util.hash_pandas_object(areas.drop(columns="geometry"), index=False).to_numpy().tobytes()
    )
    h.update(b"".join(g.wkb for g in areas.geometry if g is not None))
    for table in (facilities, pois):
        if table is not None:
            h.update(
                pd.util.hash_pandas_object(table.astype(str), index=False).to_numpy().tobytes()
            )
    return h.hexdigest()[:16]


#: File that marks a folder as a planner's region work folder.
WORK_MARK = ".liusha-planner-region-work"
#: A marker of a task that is running: ``<area index>-<pid>``.
_RUNNING_NAME = re.compile(r"^\d{6}-\d+$")


def claim_work_dir(folder: Path) -> None:
    """Make `folder` a region work folder, or check it is one; never take a user's folder.

    Parameters
    ----------
    folder
        The work folder: missing, empty, or already marked (`WORK_MARK`).

    Raises
    ------
    PlannerError
        `folder` is a file, or a folder with other content and no mark: the planner would
        write ``areas/``, ``cuts/`` and ``running/`` among the user's files.
    """
    if folder.exists() and not folder.is_dir():
        raise PlannerError(_("--work {folder}: is a file; expected a folder").format(folder=folder))
    mark = folder / WORK_MARK
    # a folder an earlier planner made (before the mark) holds only these
    ours = {"areas", "cuts", "running", WORK_MARK}
    if folder.is_dir() and not mark.is_file() and any(p.name not in ours for p in folder.iterdir()):
        raise PlannerError(
            _(
                "--work {folder}: the folder holds files the planner did not make; "
                "give an empty or new folder"
            ).format(folder=folder)
        )
    folder.mkdir(parents=True, exist_ok=True)
    if not mark.is_file():
        mark.write_text("liusha-planner region work folder\n", encoding="utf-8")


def default_work_dir(region: Region) -> Path:
    """Where a region's per-area results are kept: the user cache, by region file."""
    return _paths.user_cache_dir() / "regions" / f"{region.name}-{_paths.path_digest(region.file)}"


def area_tasks(
    region: Region,
    work: str | Path | None = None,
) -> tuple[Any, list[AreaTask], pd.DataFrame, pd.DataFrame | None]:
    """Cut the region's work by area: one task per usable area.

    Each task gets its area, the box its network is cut to (the area's bounds grown by the
    largest band's distance plus the snapping limit: a walk is never shorter than the
    straight line, so every walk of the largest band that ends in the area, and every
    street a point in the area snaps to, lies inside), the facility entrances within the
    largest band's distance of the area (only those can reach inside), and the table POIs
    within the halo.

    Parameters
    ----------
    region
        The region.
    work
        Work folder for per-area results (default: `default_work_dir`).

    Returns
    -------
    areas, tasks, facilities, pois
        The areas table (`read_areas`), the tasks, and the region's facilities and table
        POIs as read (`planner.read_points` layout; POIs None without a table).
    """
    import geopandas as gpd
    import shapely

    from planner import inputs

    areas = read_areas(region)
    facilities = inputs.read_source(
        region.facilities, id_prefix="facility", allow_repeated_ids=True
    )
    if facilities.empty:
        raise PlannerError(_("{path}: no facility rows").format(path=region.facilities.path))
    if not facilities["usable"].to_numpy(dtype=bool).any():  # nothing could be walked from
        first = str(facilities["reason"].iloc[0] or facilities["status"].iloc[0])
        raise PlannerError(
            _("{path}: no usable facility row (e.g. {first})").format(
                path=region.facilities.path, first=first
            )
        )
    pois = inputs.read_source(region.pois, id_prefix="poi") if region.pois is not None else None
    # absolute: workers started elsewhere (--scheduler) write where the command reads
    work_dir = (Path(work) if work is not None else default_work_dir(region)).resolve()
    claim_work_dir(work_dir)
    job = _job_key(region, areas, facilities, pois)
    table_ids = None
    if pois is not None and region.pois_from_osm:  # settled once for the whole region
        ids_file = work_dir / f"table-ids-{job}.json"
        if not ids_file.is_file():
            from planner.io import write_atomic

            text = json.dumps(sorted(set(pois["id"].astype(str))), ensure_ascii=False)

            def write(path: Path) -> None:
                path.write_text(text, encoding="utf-8")

            write_atomic(ids_file, write)
        table_ids = str(ids_file)
    ok = areas[areas["status"] == "ok"]
    metric = _metric_crs(ok if len(ok) else areas)
    ok_m = ok.to_crs(metric)
    # slack for the scale error of one UTM zone across a province (about 0.5% 6 degrees from
    # its central meridian at 23 N). Taking a point that cannot reach in changes nothing: its
    # straight line to the area is longer than the largest band, and so is any walk in the
    # cut. Leaving out one that can would lose pairs.
    reach = region.reach_m * 1.02 + 1.0
    halo = region.halo_m * 1.02 + 1.0

    def points_m(table: pd.DataFrame) -> Any:
        usable = table["usable"].to_numpy(dtype=bool)
        lon = table["lon"].to_numpy(dtype=float)
        lat = table["lat"].to_numpy(dtype=float)
        pts = shapely.points(lon, lat)
        pts[~usable | ~np.isfinite(lon) | ~np.isfinite(lat)] = None
        return gpd.GeoSeries(pts, crs=4326).to_crs(metric), usable

    fac_m, fac_ok = points_m(facilities)
    fac_tree = shapely.STRtree(fac_m.to_numpy())
    if pois is not None:
        poi_m, _unused = points_m(pois)
        poi_tree = shapely.STRtree(poi_m.to_numpy())
    area_tree = shapely.STRtree(ok.geometry.to_numpy())
    tasks = []
    for pos, (idx, area) in enumerate(ok.iterrows()):
        geom_m = ok_m.geometry.iloc[pos]
        near_f = fac_tree.query(geom_m, predicate="dwithin", distance=reach)
        near_f = np.sort(near_f[fac_ok[near_f]])
        task_pois = None
        if pois is not None:
            near_p = np.sort(poi_tree.query(geom_m, predicate="dwithin", distance=halo))
            task_pois = pois.iloc[near_p].copy()
        overl = area_tree.query(area.geometry, predicate="intersects")
        earlier = [ok.geometry.iloc[j].wkb for j in sorted(overl) if j < pos]
        rep = area.geometry.representative_point()
        tasks.append(
            AreaTask(
                index=int(idx),
                area_id=str(area["area_id"]),
                name=str(area["name"]),
                polygon=area.geometry.wkb,
                earlier=earlier,
                origin=(float(rep.x), float(rep.y)),
                cut_bbox=_pbf.pad_bbox(tuple(area.geometry.bounds), region.halo_m),
                tile_bbox=(0.0, 0.0, 0.0, 0.0),  # set below
                source=str(region.network_path),
                facilities=facilities.iloc[near_f].copy(),
                pois=task_pois,
                pois_from_osm=region.pois_from_osm,
                settings=region.settings,
                policy=str(region.policy) if region.policy else None,
                provenance=region.provenance(),
                work=str(work_dir),
                job=job,
                table_ids=table_ids,
            )
        )
    tiles: dict[tuple[int, int], list[AreaTask]] = {}
    for task in tasks:
        w, s, e, n = task.cut_bbox
        key = (int(np.floor((w + e) / 2 / TILE_DEG)), int(np.floor((s + n) / 2 / TILE_DEG)))
        tiles.setdefault(key, []).append(task)
    for members in tiles.values():
        boxes = np.array([t.cut_bbox for t in members])
        tile = (
            float(boxes[:, 0].min()),
            float(boxes[:, 1].min()),
            float(boxes[:, 2].max()),
            float(boxes[:, 3].max()),
        )
        for t in members:
            t.tile_bbox = tile
    return areas, tasks, facilities, pois


def cut_tile(source: str, bbox: tuple[float, float, float, float], work: str) -> str:
    """Cut a tile of the regional file once (PBF, in the work folder); its path."""
    return str(_pbf.cut_cached(source, bbox, Path(work) / "cuts", pbf=True))


def _peak_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 1024.0 / 1024.0


def _pieces_at_cut_edge(network: Any, bbox: tuple[float, float, float, float]) -> int:
    """Disconnected pieces left out of a cut that reach its edge (they may join outside)."""
    import shapely
    from pyproj import Transformer

    if not len(network.dropped_geometry):
        return 0
    coords = shapely.get_coordinates(network.dropped_geometry)
    owner = np.repeat(
        np.asarray(network.dropped_piece),
        shapely.get_num_coordinates(network.dropped_geometry),
    )
    to_wgs = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(coords[:, 0], coords[:, 1])
    w, s, e, n = bbox
    out = (
        (np.asarray(lon) < w)
        | (np.asarray(lon) > e)
        | (np.asarray(lat) < s)
        | (np.asarray(lat) > n)
    )
    return len(np.unique(owner[out]))


def _read_result(path: Path, job: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("job") == job else None


def _origin_rows(task: AreaTask) -> pd.DataFrame:
    from planner.readers import valid_points

    lon, lat = task.origin
    return valid_points([task.area_id], [lon], [lat], names=[task.name], kinds="area")


def run_area(task: AreaTask, tile: str | None = None) -> dict[str, Any]:
    """Compute one area: cut its network, analyse with `planner.analyse`, keep its own POIs.

    The result is written atomically to ``task.result_path`` (so a task that is killed
    leaves nothing, and one that runs twice writes the same file again); an existing result
    of the same job is reused.

    Parameters
    ----------
    task
        The area's task (`area_tasks`).
    tile
        Its tile, already cut (`cut_tile`); None: cut here (or reuse the work folder's).

    Returns
    -------
    status
        ``area_id``, ``status`` (``ok`` or ``failed``), ``reason``, ``seconds`` (wall),
        ``cpu_seconds`` (this process's CPU time), ``pid``, ``peak_rss_mb`` and ``reused``.
    """
    import shapely

    from planner import _cache, readers
    from planner import pois as osm_pois
    from planner.io import write_atomic
    from planner.pipeline import analyse
    from planner.policy import analyse_origins, policy_table

    started = time.perf_counter()
    cpu_started = time.process_time()
    base = {"area_id": task.area_id, "index": task.index, "pid": os.getpid()}
    existing = _read_result(task.result_path, task.job)
    if existing is not None:
        return {**base, **existing["status"], "reused": True}
    running = Path(task.work) / "running" / f"{task.index:06d}-{os.getpid()}"
    running.parent.mkdir(parents=True, exist_ok=True)
    running.write_text(json.dumps({"area_id": task.area_id, "pid": os.getpid()}))
    try:
        cuts = Path(task.work) / "cuts"
        if tile is None:
            tile = cut_tile(task.source, task.tile_bbox, task.work)
        cut = _pbf.cut_cached(tile, task.cut_bbox, cache_dir=cuts)
        network = _cache.load_network_cached(cut, cache_dir=cuts)
        frames = [task.pois] if task.pois is not None else []
        if task.pois_from_osm:
            osm = osm_pois.pois_from_osm_xml(cut)
            if task.table_ids:  # an id of the table is its row's, even when that row is far
                taken = set(json.loads(Path(task.table_ids).read_text(encoding="utf-8")))
                osm = osm[~osm["id"].astype(str).isin(taken)]
            frames.append(osm)
        pois = readers.combine_sources(frames).reset_index(drop=True)
        s = task.settings
        result = analyse(
            network,
            task.facilities,
            pois,
            speed_kmh=s.speed_kmh,
            bands_min=s.bands_min,
            snap_limit_m=s.snap_limit_m,
            buffer_m=s.buffer_m,
            about=task.provenance,
            polygons=False,  # a region writes no band polygons: its tables only
        )
        area = shapely.from_wkb(task.polygon)
        earlier = [shapely.from_wkb(w) for w in task.earlier]
        lon = pois["lon"].to_numpy(dtype=float)
        lat = pois["lat"].to_numpy(dtype=float)
        usable = pois["usable"].to_numpy(dtype=bool) & np.isfinite(lon) & np.isfinite(lat)
        pts = shapely.points(np.where(usable, lon, 0.0), np.where(usable, lat, 0.0))
        mine = usable & shapely.covers(area, pts)
        for other in earlier:
            mine &= ~shapely.covers(other, pts)
        own_ids = set(pois.loc[mine, "id"])
        coverage = result.coverage[result.coverage["poi_id"].isin(own_ids)].reset_index(drop=True)
        poi_out = result.pois[result.pois["poi_id"].isin(own_ids)].copy()
        poi_out = pd.DataFrame(poi_out.drop(columns="geometry"))
        # the nearest facility only within the largest band: beyond it a walk may leave the cut
        beyond = ~(poi_out["minutes_to_nearest"].astype(float) <= s.largest_band_min)
        poi_out.loc[beyond, "minutes_to_nearest"] = np.nan
        poi_out.loc[beyond, "nearest_facility_id"] = ""
        # "no facility can reach it" holds only inside the cut: beyond the largest band a
        # facility may reach it on the whole network, so it is routed, with no minutes
        lone = (poi_out["status"] == "unreachable").to_numpy()
        poi_out.loc[lone, "status"] = "ok"
        poi_out.loc[lone, "reason"] = ""
        poi_out.insert(0, "area_id", task.area_id)
        # the area's point, walked once; its id is the area's, whatever the facilities' ids
        walked = analyse_origins(result, _origin_rows(task), facility_ids_ok=True)
        policy = policy_table(result, task.policy, walked)
        policy = policy[policy["origin_kind"] == "origin"].reset_index(drop=True)
        point_status = str(walked.entrances["status"].iloc[0])  # e.g. too_far_from_network
        status = {
            "status": "ok",
            "reason": "",
            "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu_started,
        }
        status["peak_rss_mb"] = _peak_rss_mb()
        data = {
            "job": task.job,
            "area_id": task.area_id,
            "index": task.index,
            "pid": os.getpid(),
            "coverage": coverage,
            "pois": poi_out,
            "policy": policy,
            "policy_point_status": point_status,
            "facilities_in_halo": sorted(map(str, pd.unique(task.facilities["id"]))),
            "network_nodes": network.n_nodes,
            "split_pieces": _pieces_at_cut_edge(network, task.cut_bbox),
            "status": status,
        }

        def write(p: Path) -> None:
            with open(p, "wb") as fh:
                pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)

        write_atomic(task.result_path, write)
        return {**base, **status, "reused": False}
    except PlannerError as exc:
        return {
            **base,
            "status": "failed",
            "reason": sc._one_line(str(exc)),
            "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu_started,
            "peak_rss_mb": _peak_rss_mb(),
            "reused": False,
        }
    finally:
        running.unlink(missing_ok=True)


# --------------------------------------------------------------------------- execution
def _failed(task: AreaTask, exc: BaseException) -> dict[str, Any]:
    return {
        "area_id": task.area_id,
        "index": task.index,
        "status": "failed",
        "reason": sc._one_line(f"{type(exc).__name__}: {exc}"),
        "seconds": float("nan"),
        "cpu_seconds": float("nan"),
        "peak_rss_mb": float("nan"),
        "pid": None,
        "reused": False,
    }


@dataclass(frozen=True)
class _TileError:
    """A tile that cannot be cut for a reason that another try would not change."""

    message: str


def _cut_tile_task(
    source: str, bbox: tuple[float, float, float, float], work: str
) -> str | _TileError:
    """`cut_tile` as a Dask task: an input problem is returned, not raised (no retries)."""
    try:
        return cut_tile(source, bbox, work)
    except PlannerError as exc:
        return _TileError(f"{type(exc).__name__}: {exc}")


def _run_area_task(task: AreaTask, tile: str | _TileError) -> dict[str, Any]:
    """`run_area` as a Dask task: an input problem (`PlannerError`) fails the area at once.

    Retried are only errors another try may not meet (a worker killed, out of memory); a
    problem of the area's data would fail the same three times, with a traceback each.
    """
    if isinstance(tile, _TileError):
        return {**_failed(task, PlannerError(tile.message)), "reason": tile.message}
    try:
        return run_area(task, tile)
    except PlannerError as exc:
        return _failed(task, exc)


def _execute(
    tasks: list[AreaTask],
    scheduler: str | None,
    workers: int | None,
) -> Iterator[dict[str, Any]]:
    """Run the tasks and yield their statuses as they finish."""
    todo = []
    for task in tasks:  # an earlier run's results of the same job: reused, no tile cut
        done = _read_result(task.result_path, task.job)
        if done is None:
            todo.append(task)
        else:
            yield {"area_id": task.area_id, "index": task.index, "pid": done["pid"],
                   **done["status"], "reused": True}  # fmt: skip
    tasks = todo
    if not tasks:
        return
    if scheduler == "serial":
        # Ctrl-C inside a library that turns the KeyboardInterrupt into its own error
        # (pyosmium's reader) must stop the run, not fail one area and go on: remembered
        pressed: list[bool] = []
        previous = None
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            previous = signal.default_int_handler

            def on_interrupt(signum: int, frame: Any) -> None:
                pressed.append(True)
                raise KeyboardInterrupt

            signal.signal(signal.SIGINT, on_interrupt)
        try:
            for task in tasks:
                try:
                    status = run_area(task)
                except Exception as exc:  # as a Dask task's error: the area fails, not the run
                    if pressed:
                        raise KeyboardInterrupt from exc
                    status = _failed(task, exc)
                if pressed:  # swallowed on the way (a reader's error, the area's own failure)
                    raise KeyboardInterrupt
                yield status
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        return
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except Exception as exc:
            raise PlannerError(
                _("--scheduler {scheduler}: cannot connect ({exc})").format(
                    scheduler=scheduler, exc=exc
                )
            ) from exc
    else:
        n = workers or usable_cpus()
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            # None does not turn the dashboard off (dask/distributed#8136, open): bind it to
            # a free port on this machine only, never 0.0.0.0:8787 on a shared network
            dashboard_address="127.0.0.1:0",
            memory_limit=0,
            silence_logs=logging.ERROR,  # not the workers' shutdown warnings on the terminal
        )
        client = Client(cluster)
    try:
        tile_futures: dict[tuple[float, float, float, float], Any] = {}
        for t in tasks:
            if t.tile_bbox not in tile_futures:
                tile_futures[t.tile_bbox] = client.submit(
                    _cut_tile_task,
                    t.source,
                    t.tile_bbox,
                    t.work,
                    key=f"tile-{t.job}-{len(tile_futures)}",
                    retries=2,
                    pure=False,
                )
        futures = [
            client.submit(
                _run_area_task,
                t,
                tile_futures[t.tile_bbox],
                key=f"area-{t.job}-{t.index}",
                retries=2,
                pure=False,
            )
            for t in tasks
        ]
        by_key = {f.key: t for f, t in zip(futures, tasks, strict=True)}
        for fut in as_completed(futures):
            task = by_key[fut.key]
            try:
                yield fut.result()
            except Exception as exc:  # KilledWorker after the retries, an unexpected error
                yield _failed(task, exc)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass
class RegionResult:
    """A region's merged result: one row per area, the merchants and pairs of all areas."""

    region: Region
    circles: Any  # GeoDataFrame: one row per input area
    pois: pd.DataFrame  # one row per merchant: its area (or a status), nearest facility
    coverage: pd.DataFrame  # facility-POI pairs within the largest band, POIs of the areas
    policy: pd.DataFrame  # per area (its representative point) × band × policy type
    facilities: pd.DataFrame  # the facility rows as read, with status
    tasks: pd.DataFrame  # per area task: status, seconds, pid, peak memory
    files: dict[str, Path] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """The input rows with problems: facility rows, then merchant rows (their reasons).

        Returns
        -------
        problems
            One message per facility or merchant row whose status is a read problem (a
            merchant outside every area, or in an area not computed, is not an input
            problem; its status says where it is).
        """
        found = []
        for table in (self.facilities, self.pois):
            bad = table[~table["status"].isin(["ok", "unreachable", *_PLACE_STATUSES])]
            found += [str(r or s) for s, r in zip(bad["status"], bad["reason"], strict=True)]
        return found


def _bands(settings: Settings) -> list[str]:
    return [f"{b:g}" for b in settings.bands_min]


#: Statuses of merchants no area result holds that are not problems of their rows.
_PLACE_STATUSES = ("outside_areas", "area_failed", "area_not_usable")


def _unplaced(
    rest: pd.DataFrame, areas: Any, statuses: list[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Status, reason and area of merchant rows no area result holds.

    A usable row inside an area whose task failed is ``area_failed`` (not computed: run
    again), inside an area row with a problem (a repeated id) ``area_not_usable``, else
    ``outside_areas``; a row with a problem keeps its own status.
    """
    import shapely

    usable = rest["usable"].to_numpy(dtype=bool)
    status = np.where(usable, "outside_areas", rest["status"].to_numpy(dtype=object)).astype(object)
    reason = np.where(
        usable, "in no study area of the region", rest["reason"].to_numpy(dtype=object)
    ).astype(object)
    area_of = np.full(len(rest), "", dtype=object)
    lon = rest["lon"].to_numpy(dtype=float)
    lat = rest["lat"].to_numpy(dtype=float)
    todo = usable & np.isfinite(lon) & np.isfinite(lat)
    if not todo.any():
        return status, reason, area_of
    ok_task = {s["index"] for s in statuses if s.get("status") == "ok"}
    pts = shapely.points(lon, lat)
    rows = list(enumerate(zip(areas["area_id"], areas.geometry, areas["status"], strict=True)))
    # a usable area whose task failed first (run again), then area rows with a problem
    rows.sort(key=lambda r: r[1][2] != "ok")
    for i, (aid, geom, st) in rows:
        if geom is None or geom.is_empty or (st == "ok" and i in ok_task):
            continue
        inside = todo & shapely.covers(geom, pts)
        if not inside.any():
            continue
        if st == "ok":  # its task failed
            status[inside] = "area_failed"
            reason[inside] = _("in area {aid}, whose task failed: run the command again").format(
                aid=aid
            )
        else:
            status[inside] = "area_not_usable"
            reason[inside] = _("in area row {row} ({aid}), which is {status}").format(
                row=i + 1, aid=aid or "-", status=st
            )
        area_of[inside] = aid
        todo &= ~inside
    return status, reason, area_of


def merge(
    region: Region,
    areas: Any,
    tasks: list[AreaTask],
    statuses: list[dict[str, Any]],
    facilities: pd.DataFrame,
    pois: pd.DataFrame | None,
) -> RegionResult:
    """Merge the per-area result files into one `RegionResult`.

    Each merchant belongs to one area (the first in file order that contains it), so it is
    counted once; a facility counts in every area it reaches into, wherever it stands.

    Parameters
    ----------
    region, areas, tasks, facilities, pois
        As from `area_tasks`.
    statuses
        The task statuses (`run_area`).

    Returns
    -------
    result
        The merged tables.
    """
    from planner.coverage import carried_columns
    from planner.policy import POLICY_COLUMNS, missing_by_origin, not_checked_types

    status_of = {s["index"]: s for s in statuses}
    cov, poi_parts, pol = [], [], []
    per_area: dict[int, dict[str, Any]] = {}
    for task in tasks:
        st = status_of.get(task.index)
        data = _read_result(task.result_path, task.job) if st and st["status"] == "ok" else None
        if data is None:
            continue
        per_area[task.index] = data
        cov.append(data["coverage"].assign(area_id=task.area_id))
        poi_parts.append(data["pois"])
        pol.append(data["policy"].assign(area_id=task.area_id))
    # no area with a result (all failed): empty tables that still have their columns
    coverage = (
        pd.concat(cov, ignore_index=True)
        if cov
        else pd.DataFrame(columns=[*COVERAGE_COLUMNS, "area_id"])
    )
    area_pois = (
        pd.concat(poi_parts, ignore_index=True)
        if poi_parts
        else pd.DataFrame(columns=["area_id", *POI_COLUMNS])
    )
    if len(area_pois) and area_pois["poi_id"].duplicated().any():
        dup = area_pois.loc[area_pois["poi_id"].duplicated(), "poi_id"].iloc[0]
        raise PlannerError(
            _("merchant {dup!r} was counted in two areas (a bug; please report)").format(dup=dup)
        )
    if pois is not None:  # every row of the merchants table appears, with a status
        # an area holds usable rows only (their ids are unique): a row with a problem (an
        # id repeated by a later row included) is one of the rest, whatever its id
        placed = (
            pois["usable"].to_numpy(dtype=bool)
            & pois["id"].isin(set(area_pois.get("poi_id", []))).to_numpy()
        )
        rest = pois[~placed]
        status, reason, area_of = _unplaced(rest, areas, statuses)
        rest_rows = pd.DataFrame(
            {
                "area_id": area_of,
                "poi_id": rest["id"],
                "name": rest["name"],
                "kind": rest["kind"],
                "lon": rest["lon"],
                "lat": rest["lat"],
                "status": status,
                "reason": reason,
                "row": rest["row"].to_numpy(),
            }
        )
        # the table's own columns, named as the areas' rows have them (`carried_columns`)
        have = [*POI_COLUMNS, *(c for c in POI_INPUT_COLUMNS if c in pois)]
        if region.pois_from_osm and "source" not in have:  # the areas' rows have it
            have.append("source")
        for col, name in carried_columns(pois, have):
            rest_rows[name] = pois.loc[~placed, col].to_numpy()
        area_pois = pd.concat([area_pois, rest_rows], ignore_index=True)
        if "row" in area_pois:  # a whole number, empty for an OpenStreetMap POI
            area_pois["row"] = pd.array(pd.to_numeric(area_pois["row"]), dtype="Int64")
    policy = (
        pd.concat(pol, ignore_index=True)
        if pol
        else pd.DataFrame(columns=[*POLICY_COLUMNS, "area_id"])
    )
    bands = region.settings.bands_min
    rows = []
    for i, area in areas.iterrows():
        row: dict[str, Any] = {"area_id": area["area_id"], "name": area["name"]}
        st = status_of.get(int(i)) if area["status"] == "ok" else None
        if area["status"] != "ok":
            row.update(status=area["status"], reason=area["reason"])
        elif st is not None and st["status"] == "ok" and int(i) not in per_area:
            # computed, but its result file is another job's now: a second run shares --work
            row.update(
                status="failed",
                reason=_(
                    "its result file was replaced, by another run using the same work "
                    "folder?; run the command again"
                ),
            )
        elif st is None or st["status"] != "ok" or int(i) not in per_area:
            row.update(status="failed", reason=(st or {}).get("reason", "not run"))
        else:
            row.update(status="ok", reason="")
            data = per_area[int(i)]
            mine = data["pois"]
            routed = mine["status"].isin([s.value for s in ROUTED_STATUSES])
            row["pois"] = len(mine)
            row["pois_routed"] = int(routed.sum())
            minutes = mine["minutes_to_nearest"].astype(float).to_numpy()
            for b in bands:
                n = int(np.sum(minutes <= b + 1e-9))
                row[f"covered_{b:g}min"] = n
                row[f"share_{b:g}min"] = round(n / len(mine), 6) if len(mine) else np.nan
            c = data["coverage"]
            row["facilities_reaching"] = int(c["facility_id"].nunique()) if len(c) else 0
            p = data["policy"]
            point = data.get("policy_point_status", "ok")
            row["policy_point_status"] = point
            if point not in {str(s) for s in ROUTED_STATUSES}:  # nothing measured from it
                row.update(policy_required=None, policy_missing="", policy_missing_count=None)
            else:
                # missing: none within the type's required time (basic 10, quality 15 min)
                lacking = dict.fromkeys(c for v in missing_by_origin(p).values() for c in v)
                words = dict(zip(p["type_code"], p["type_zh"], strict=False)) if len(p) else {}
                checked = (
                    p.loc[~p["type_code"].isin(not_checked_types(p)), "type_code"] if len(p) else p
                )
                row["policy_required"] = int(checked.nunique()) if len(p) else 0
                row["policy_missing"] = "、".join(words[c] for c in lacking)
                row["policy_missing_count"] = len(lacking)
            row["network_nodes"] = data["network_nodes"]
            row["split_pieces"] = data["split_pieces"]
        rows.append(row)
    import geopandas as gpd

    table = pd.DataFrame(rows)
    counts = ["pois", "pois_routed", "facilities_reaching", "policy_required"]
    counts += ["policy_missing_count", "network_nodes", "split_pieces"]
    counts += [c for c in table.columns if c.startswith("covered_")]
    for col in counts:  # whole numbers, empty for an area that was not computed (not 78.0)
        if col in table:
            table[col] = pd.array(table[col], dtype="Int64")
    circles = gpd.GeoDataFrame(table, geometry=areas.geometry.to_numpy(), crs=4326)
    fac = facilities[["row", "id", "name", "kind", "lon", "lat", "status", "reason"]].rename(
        columns={"id": "facility_id"}
    )
    task_table = pd.DataFrame(statuses)
    return RegionResult(region, circles, area_pois, coverage, policy, fac, task_table)


def run_region(
    region: Region | str | Path,
    *,
    out_dir: str | Path | None = None,
    work_dir: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress = quiet,
) -> RegionResult:
    """What ``planner region`` does: every area as one task, merged, written as one set.

    Parameters
    ----------
    region
        A `Region` or the path of a region file.
    out_dir
        Folder to publish the tables in (the command passes ``out/<region name>``); None:
        nothing is written, the merged result is returned (`write_region` writes it later).
    work_dir
        Folder for per-area results (default `default_work_dir`); on a cluster, a folder
        every worker can read and write. Results of an earlier run of the same job are
        reused, so a run stopped half way resumes.
    scheduler
        None: a local Dask cluster (processes, one per core, or `workers`);
        ``"tcp://HOST:PORT"``: an existing Dask scheduler; ``"serial"``: in this process.
    workers
        Workers of the local cluster.
    progress
        Callback receiving progress lines.

    Returns
    -------
    result
        The merged result; ``files`` names what was written.
    """
    reg = region if isinstance(region, Region) else load_region(region)
    if out_dir is not None:  # before any work: never replace what the planner did not write
        from planner._publish import check_output_dir

        check_output_dir(out_dir)
    areas, tasks, facilities, pois = area_tasks(reg, work_dir)
    if tasks:  # markers of tasks running in an earlier run that was stopped
        for stale in (Path(tasks[0].work) / "running").glob("*"):
            if _RUNNING_NAME.match(stale.name) and stale.is_file():  # only our own markers
                stale.unlink(missing_ok=True)
    skipped = int((areas["status"] != "ok").sum())
    progress(
        _(
            "region {reg_name}: {count} areas ({count2} to compute, {skipped} with "
            "problems), halo {halo_m:,.0f} m"
        ).format(
            reg_name=reg.name,
            count=len(areas),
            count2=len(tasks),
            skipped=skipped,
            halo_m=reg.halo_m,
        )
    )
    statuses: list[dict[str, Any]] = []
    done = failed = 0
    for st in _execute(tasks, scheduler, workers):
        statuses.append(st)
        if st["status"] == "ok":
            done += 1
        else:
            failed += 1
        progress(
            _("areas: {done}/{count} done, {failed} failed").format(
                done=done, count=len(tasks), failed=failed
            )
        )
    result = merge(reg, areas, tasks, statuses, facilities, pois)
    if out_dir is not None:
        notes: list[str] = []
        result.files = write_region(result, out_dir, notes=notes)
        for note in notes:  # a file the user added to the published folder: where it is now
            progress(note)
    return result


def summary(result: RegionResult) -> dict[str, Any]:
    """The region's summary.json: settings, sources and counts."""
    from planner.outputs import json_safe

    c = result.circles
    s = result.region.settings
    return json_safe(
        {
            "region": result.region.name,
            "title": result.region.title,
            "speed_kmh": s.speed_kmh,
            "bands_min": list(s.bands_min),
            "snap_limit_m": s.snap_limit_m,
            "halo_m": result.region.halo_m,
            "network_file": result.region.network_path.name,
            "network_data_date": result.region.network_date,
            "attribution": result.region.attribution,
            "areas": len(c),
            "areas_by_status": {k: int(v) for k, v in c["status"].value_counts().items()},
            "pois_in_areas": int((result.pois["area_id"] != "").sum()) if len(result.pois) else 0,
            "coverage_pairs": len(result.coverage),
            "method": "each area computed alone on its network cut (area + halo of the largest "
            "band's walk + snap limit) with planner.analyse; each merchant counted in the first "
            "area (file order) that contains it",
        }
    )


#: Files of a region's output set.
REGION_FILES = {
    "circles": "circles.csv",
    "pois": "pois.csv",
    "coverage": "coverage.csv",
    "policy": "policy.csv",
    "facilities": "facilities.csv",
    "summary": "summary.json",
}


def write_region(
    result: RegionResult, out_dir: str | Path, notes: list[str] | None = None
) -> dict[str, Path]:
    """Write the region's tables and one GeoPackage as one published set.

    Parameters
    ----------
    result
        The merged result.
    out_dir
        Output folder: a name that does not exist yet, or one the planner published
        (`planner._publish.output_set`: nothing the planner did not write is replaced).
    notes
        If given, receives one line for each earlier run folder kept because it holds files
        the planner did not write.

    Returns
    -------
    files
        Name -> path.
    """
    from planner import _arrow, export, io
    from planner._publish import output_set

    out_dir = Path(out_dir)
    gpkg_name = f"{export.file_stem(result.region.name)}.gpkg"
    circles_table = pd.DataFrame(result.circles.drop(columns="geometry"))
    with output_set(out_dir, notes=notes) as staging:
        io.write_csv(circles_table, staging / REGION_FILES["circles"])
        io.write_csv(result.pois, staging / REGION_FILES["pois"])
        io.write_csv(result.coverage, staging / REGION_FILES["coverage"])
        io.write_csv(result.policy, staging / REGION_FILES["policy"])
        io.write_csv(result.facilities, staging / REGION_FILES["facilities"])
        io.write_json(summary(result), staging / REGION_FILES["summary"])

        def write_gpkg(p: Path) -> None:
            import geopandas as gpd

            from planner.export import gpkg_names

            def layer(frame: Any, name: str) -> None:  # names a GeoPackage takes (no fid)
                cols = gpkg_names([str(c) for c in frame.columns], frame.geometry.name)
                _arrow.write_layer(frame.rename(columns=cols), gpkg, name, "GPKG")

            gpkg = p.with_name(p.name + ".gpkg")
            try:
                layer(result.circles, "circles")
                pts = result.pois
                pts_gdf = gpd.GeoDataFrame(
                    pts,
                    geometry=gpd.points_from_xy(
                        pd.to_numeric(pts["lon"], errors="coerce"),
                        pd.to_numeric(pts["lat"], errors="coerce"),
                    ),
                    crs=4326,
                )
                layer(pts_gdf, "pois")
                fac = result.facilities
                fac_gdf = gpd.GeoDataFrame(
                    fac,
                    geometry=gpd.points_from_xy(
                        pd.to_numeric(fac["lon"], errors="coerce"),
                        pd.to_numeric(fac["lat"], errors="coerce"),
                    ),
                    crs=4326,
                )
                layer(fac_gdf, "facilities")
                os.replace(gpkg, p)
            finally:
                gpkg.unlink(missing_ok=True)

        io.write_atomic(staging / gpkg_name, write_gpkg)
    return {**{k: out_dir / v for k, v in REGION_FILES.items()}, "geopackage": out_dir / gpkg_name}


# --------------------------------------------------------------------------- reference
def analyse_whole(region: Region | str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same region in one process on its whole network: the reference for the merge.

    Parameters
    ----------
    region
        A `Region` or a region file.

    Returns
    -------
    coverage, pois
        Facility–POI pairs within the largest band for the POIs of the areas (with
        ``area_id``), and those POIs with their area and nearest facility within the
        largest band.
    """
    import shapely

    from planner import _cache, inputs, readers
    from planner import pois as osm_pois
    from planner.pipeline import analyse

    reg = region if isinstance(region, Region) else load_region(region)
    areas = read_areas(reg)
    ok = areas[areas["status"] == "ok"]
    source = reg.network_path
    if reg.network_source == "pbf":  # the whole file, as OSM XML
        source = _pbf.cut_cached(reg.network_path, (-180.0, -90.0, 180.0, 90.0))
    network = _cache.load_network_cached(source)
    facilities = inputs.read_source(reg.facilities, id_prefix="facility", allow_repeated_ids=True)
    frames = [inputs.read_source(reg.pois, id_prefix="poi")] if reg.pois is not None else []
    if reg.pois_from_osm:
        frames.append(osm_pois.pois_from_osm_xml(source))
    pois = readers.combine_sources(frames).reset_index(drop=True)
    s = reg.settings
    result = analyse(
        network,
        facilities,
        pois,
        speed_kmh=s.speed_kmh,
        bands_min=s.bands_min,
        snap_limit_m=s.snap_limit_m,
        buffer_m=s.buffer_m,
        polygons=False,
    )
    lon = pois["lon"].to_numpy(dtype=float)
    lat = pois["lat"].to_numpy(dtype=float)
    usable = pois["usable"].to_numpy(dtype=bool) & np.isfinite(lon) & np.isfinite(lat)
    pts = shapely.points(np.where(usable, lon, 0.0), np.where(usable, lat, 0.0))
    owner = np.full(len(pois), "", dtype=object)
    free = usable.copy()
    for aid, geom in zip(ok["area_id"], ok.geometry, strict=True):
        inside = free & shapely.covers(geom, pts)
        owner[inside] = aid
        free &= ~inside
    # usable rows have unique ids (a repeat is duplicate_id): the rows by position, the
    # pairs by id (a later row with a first row's id must not take the first row's area)
    area_of = dict(zip(pois.loc[usable, "id"], owner[usable], strict=True))
    cov = result.coverage.assign(area_id=result.coverage["poi_id"].map(area_of))
    cov = cov[cov["area_id"].fillna("") != ""].reset_index(drop=True)
    p = pd.DataFrame(result.pois.drop(columns="geometry"))
    p.insert(0, "area_id", owner)
    p = p[p["area_id"] != ""].reset_index(drop=True)
    beyond = ~(p["minutes_to_nearest"].astype(float) <= s.largest_band_min)
    p.loc[beyond, "minutes_to_nearest"] = np.nan
    p.loc[beyond, "nearest_facility_id"] = ""
    return cov, p

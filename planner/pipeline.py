"""The planning pipeline: network -> snap -> reach -> isochrones -> coverage -> outputs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from planner import _cache, io, reach, readers, snap
from planner import coverage as cov
from planner import network as net
from planner import pois as osm_pois
from planner._errors import NetworkUnavailableError, PlannerError
from planner._publish import check_output_dir, check_replaceable, output_set
from planner.isochrones import isochrones
from planner.scenario import Scenario

Progress = Callable[[str], None]


@dataclass
class Analysis:
    """Results of one run, in memory (geographic tables in EPSG:4326)."""

    facilities: pd.DataFrame  # one row per input facility row (entrance) with status
    facility_table: pd.DataFrame  # one row per facility id
    pois: pd.DataFrame  # one row per input POI with nearest facility and status
    coverage: pd.DataFrame  # facility-POI pairs within the largest band
    isochrones: gpd.GeoDataFrame  # facility_id, band_min, geometry (EPSG:4326)
    summary: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class RunResult:
    """A finished run: the scenario, its network, the analysis and the files written."""

    scenario: Scenario
    network: net.StreetNetwork
    analysis: Analysis
    files: dict[str, Path]


def _quiet(_: str) -> None:
    return None


# --------------------------------------------------------------------------- inputs
def network_cache_paths(scenario: Scenario) -> tuple[Path, Path]:
    """Paths of a downloaded scenario's cached network and POI features."""
    return scenario.cache_dir / "network.graphml", scenario.cache_dir / "pois.geojson"


def load_network(scenario: Scenario) -> net.StreetNetwork:
    """Load the scenario's walk network (OSM XML, GraphML, or the Overpass cache).

    Parameters
    ----------
    scenario
        The scenario.

    Returns
    -------
    network
        Projected, largest-component street network (from the array cache when the file
        has not changed since the last run; see `planner._cache`).
    """
    if scenario.network_source == "overpass":
        graphml, _ = network_cache_paths(scenario)
        if not graphml.is_file():
            raise NetworkUnavailableError(
                f"scenario {scenario.name!r} has no downloaded street network yet "
                f"(expected {graphml}). Run `planner fetch {scenario.name}` where Overpass is "
                f"reachable, or pass an OSM extract: `planner run {scenario.name} --osm FILE.osm`"
            )
        verify_fetch_cache(scenario)
        return _cache.load_network_cached(graphml)
    if scenario.network_path is None:
        raise PlannerError(f"scenario {scenario.name!r} names no network file")
    return _cache.load_network_cached(scenario.network_path)


def check_study_area(scenario: Scenario, network: net.StreetNetwork) -> None:
    """Refuse a ``study_bbox`` that does not overlap the street network's extent.

    Parameters
    ----------
    scenario
        The scenario; nothing is checked when it has no ``study_bbox``.
    network
        The loaded (projected) street network.

    Raises
    ------
    PlannerError
        One line with both boxes in WGS-84 degrees and both files.
    """
    if scenario.study_bbox is None or network.n_nodes == 0:
        return
    to_wgs84 = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    lon, lat = (
        np.asarray(a, dtype=float) for a in to_wgs84.transform(network.node_x, network.node_y)
    )
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return
    w, s, e, n = scenario.study_bbox
    nw, ns, ne, nn = lon[ok].min(), lat[ok].min(), lon[ok].max(), lat[ok].max()
    if w <= ne and e >= nw and s <= nn and n >= ns:
        return

    def box(values: tuple[float, ...]) -> str:
        return "[" + ", ".join(f"{v:.4f}" for v in values) + "]"

    network_file = (
        network_cache_paths(scenario)[0]
        if scenario.network_source == "overpass"
        else scenario.network_path
    )
    raise PlannerError(
        f"study_bbox {box(scenario.study_bbox)} ({scenario.file or scenario.folder}) does not "
        f"overlap the street network's extent {box((nw, ns, ne, nn))} ({network_file}): "
        "wrong area, or lat/lon order?"
    )


def verify_fetch_cache(scenario: Scenario) -> None:
    """Refuse a downloaded cache whose files do not match the checksums written by `fetch`.

    Parameters
    ----------
    scenario
        A scenario whose network source is ``overpass``.
    """
    meta_path = scenario.cache_dir / "fetch.json"
    hint = f"delete {scenario.cache_dir} and run `planner fetch {scenario.name}` again"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        expected = meta["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PlannerError(f"download cache {meta_path} is missing or unreadable; {hint}") from exc
    for path in network_cache_paths(scenario):
        if not path.is_file() or _cache.file_sha256(path) != expected.get(path.name):
            raise PlannerError(f"download cache file {path} is missing or corrupted; {hint}")


def input_problems(*tables: pd.DataFrame) -> list[str]:
    """Every problem of the input tables (for ``--strict``), as one-line messages.

    Parameters
    ----------
    *tables
        Facility and POI tables (`planner.readers.read_points` layout, or the analysis'
        tables made from them).

    Returns
    -------
    problems
        First each table's file-level problems (``attrs``, `readers.ATTR_FILE_PROBLEMS`,
        e.g. a file with a header but no data rows), then the reason of every row whose
        status is not ``ok`` or ``unreachable``.
    """
    problems = [str(p) for t in tables for p in t.attrs.get(readers.ATTR_FILE_PROBLEMS, [])]
    for table in tables:
        bad = table[~table["status"].isin(["ok", "unreachable"])]
        for _, r in bad.iterrows():
            problems.append(str(r.get("reason") or f"row {r.get('row')}: {r['status']}"))
    return problems


def too_far_reasons(
    network: net.StreetNetwork, facilities: pd.DataFrame, limit_m: float
) -> list[str]:
    """Why each usable facility row was not snapped: where it is and how far the streets are.

    Parameters
    ----------
    network
        The street network.
    facilities
        Usable facility rows that did not snap (`planner.readers.read_points` layout;
        ``attrs`` name the file).
    limit_m
        The snapping limit in metres.

    Returns
    -------
    reasons
        One per row, e.g. ``facilities.csv row 7, facility "F09": the nearest walkable
        street is 412 m away, beyond the snapping limit of 300 m``, after the row's earlier
        reason if it had one (a fixed lat/lon swap).
    """
    source = facilities.attrs.get(readers.ATTR_SOURCE) or "facilities"
    unit = facilities.attrs.get(readers.ATTR_UNIT) or "row"
    x, y = to_network_xy(
        network, facilities["lon"].to_numpy(dtype=float), facilities["lat"].to_numpy(dtype=float)
    )
    distance = np.full(len(x), np.nan)
    placed = np.isfinite(x) & np.isfinite(y)
    if placed.any() and network.n_edges:
        (points, _), found = network.tree.query_nearest(
            shapely.points(x[placed], y[placed]), return_distance=True, all_matches=False
        )
        distance[np.flatnonzero(placed)[points]] = found
    reasons = []
    for (row, fid, earlier), d in zip(
        facilities[["row", "id", "reason"]].itertuples(index=False, name=None),
        distance,
        strict=True,
    ):
        where = f"{source} {unit} {row}, facility {json.dumps(str(fid), ensure_ascii=False)}"
        if np.isfinite(d):
            text = (
                f"{where}: the nearest walkable street of the routed network is {d:.0f} m "
                f"away, beyond the snapping limit of {limit_m:g} m"
            )
        else:
            text = f"{where}: no walkable street within the snapping limit of {limit_m:g} m"
        reasons.append(f"{earlier}; {text}" if isinstance(earlier, str) and earlier else text)
    return reasons


def describe_network(network: net.StreetNetwork) -> str:
    """One line on the routed network and the disconnected pieces left out."""
    text = f"network: {network.n_nodes:,} nodes, {network.n_edges:,} street segments"
    dropped = network.components.dropped if network.components else None
    if dropped is not None and len(dropped):
        names = "、".join(n for n in dropped["names"] if n)[:120]
        text += (
            f"; left out {len(dropped)} disconnected pieces ({int(dropped['nodes'].sum())} "
            f"nodes{': ' + names if names else ''}; see summary.json)"
        )
    return text


def load_facilities(scenario: Scenario) -> pd.DataFrame:
    """Read the facilities table (several rows with one id = several entrances).

    Parameters
    ----------
    scenario
        The scenario.

    Returns
    -------
    facilities
        The `planner.readers.read_points` table; ``attrs`` name the file.

    Raises
    ------
    PlannerError
        If the scenario names no facilities file or the file has no data rows.
    """
    src = scenario.facilities
    if src is None:
        raise PlannerError(f"scenario {scenario.name!r} names no facilities file")
    facilities = readers.read_points(
        src.path,
        crs=src.crs,
        columns=src.columns or None,
        study_bbox=None,
        id_prefix="facility",
        sheet=src.sheet,
        layer=src.layer,
        allow_repeated_ids=True,
    )
    if facilities.empty:
        raise PlannerError(
            f"{facilities.attrs[readers.ATTR_SOURCE]}: the file has a header but no data rows, "
            "so there are no facilities to plan from"
        )
    return facilities


def load_pois(scenario: Scenario) -> pd.DataFrame:
    """Read the merchants/service points: the scenario's table and/or OSM features.

    Ids are unique across the sources: the scenario's table is read first, and an OSM POI
    whose id it already has is `duplicate_id` (`planner.readers.combine_sources`), so an
    earlier run's pois.csv can be read back together with the OSM POIs it came from.

    Parameters
    ----------
    scenario
        The scenario.

    Returns
    -------
    pois
        All rows of all sources; ``attrs`` carry file-level problems (e.g. a POI file with
        a header but no data rows), see `input_problems`.
    """
    frames = []
    if scenario.pois is not None:
        src = scenario.pois
        frames.append(
            readers.read_points(
                src.path,
                crs=src.crs,
                columns=src.columns or None,
                study_bbox=scenario.study_bbox,
                id_prefix="poi",
                sheet=src.sheet,
                layer=src.layer,
            )
        )
    if scenario.pois_from_osm:
        if scenario.network_source == "overpass" or (
            scenario.network_path is not None and scenario.network_path.suffix == ".graphml"
        ):
            _, features_path = network_cache_paths(scenario)
            if features_path.is_file():
                frames.append(
                    osm_pois.features_to_pois(
                        osm_pois.load_features(features_path), scenario.study_bbox
                    )
                )
        elif scenario.network_path is not None:
            frames.append(osm_pois.pois_from_osm_xml(scenario.network_path, scenario.study_bbox))
    if not frames:
        raise PlannerError(f"scenario {scenario.name!r} has no POIs (no [pois] path, no OSM POIs)")
    return readers.combine_sources(frames)


# --------------------------------------------------------------------------- analysis
def to_network_xy(
    network: net.StreetNetwork, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS-84 lon/lat arrays to the network CRS."""
    t = Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
    x, y = t.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def _snap_table(network: net.StreetNetwork, table: pd.DataFrame, limit: float) -> pd.DataFrame:
    lon = np.where(table["usable"].to_numpy(dtype=bool), table["lon"].to_numpy(dtype=float), np.nan)
    lat = np.where(table["usable"].to_numpy(dtype=bool), table["lat"].to_numpy(dtype=float), np.nan)
    x, y = to_network_xy(network, lon, lat)
    return snap.snap_points(network, x, y, limit)


def facility_summary(facilities: pd.DataFrame, snapped: pd.DataFrame) -> pd.DataFrame:
    """One row per facility id: name, kind, entrances in, entrances snapped, status."""
    df = facilities.assign(_snapped=(snapped["status"].to_numpy() == snap.SNAPPED))
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
                "status": "ok" if n_ok else "no_usable_entrance",
            }
        )
    return pd.DataFrame(rows)


def analyse(
    network: net.StreetNetwork,
    facilities: pd.DataFrame,
    pois: pd.DataFrame,
    *,
    bands_min: tuple[float, ...],
    speed_kmh: float,
    snap_limit_m: float = 300.0,
    buffer_m: float = 25.0,
    progress: Progress = _quiet,
) -> Analysis:
    """Compute reach, isochrones and coverage for facilities and POIs on a network.

    Parameters
    ----------
    network
        Projected street network.
    facilities
        Facility rows (`planner.readers.read_points` layout; repeated ids are entrances).
    pois
        POI rows (same layout).
    bands_min
        Bands in minutes, ascending.
    speed_kmh
        Walking speed.
    snap_limit_m
        Points farther than this from every walkable edge are not routed.
    buffer_m
        Half-width of the street corridor drawn as band polygons.
    progress
        Callback receiving step names.

    Returns
    -------
    analysis
        Tables and polygons; every input row of `facilities` and `pois` is in the output.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    bands = tuple(sorted(bands_min))
    mpm = speed_kmh * 1000.0 / 60.0
    limit = max(bands) * mpm

    progress("snapping facilities and POIs to the street network")
    fac_snap = _snap_table(network, facilities, snap_limit_m)
    poi_snap = _snap_table(network, pois, snap_limit_m)
    fac_ids = pd.unique(facilities["id"])
    owner = pd.Index(fac_ids).get_indexer(facilities["id"])
    sources = reach.Anchors.from_snapped(fac_snap, owner)
    targets = reach.Anchors.from_snapped(poi_snap)
    lap("snap")

    progress(f"walking reach of {len(fac_ids)} facilities (exact network Dijkstra)")
    node_reach = reach.node_reach(network, sources, len(fac_ids), limit)
    pairs = reach.reach_pairs(network, node_reach, sources, targets, limit)
    near_f, near_d = reach.nearest_facility(network, sources, len(fac_ids), targets, len(pois))
    lap("reach")

    progress("growing band polygons from the reached streets")
    polys = isochrones(network, node_reach, sources, [b * mpm for b in bands], buffer_m=buffer_m)
    polys["facility_id"] = np.asarray(fac_ids, dtype=object)[polys["facility"].to_numpy()]
    polys["band_min"] = np.asarray(bands)[polys["band"].to_numpy()]
    polys = polys[["facility_id", "band_min", "distance_m", "geometry"]].to_crs(4326)
    lap("isochrones")

    progress("coverage tables")
    coverage = cov.coverage_table(pairs, fac_ids, pois, mpm, bands)
    poi_table = cov.nearest_table(
        pois, poi_snap["status"].to_numpy(), near_f, near_d, pairs, fac_ids, mpm
    )
    poi_table["access_m"] = poi_snap["access_m"].to_numpy()
    fac_rows = facilities.copy()
    fac_rows["snap_status"] = fac_snap["status"].to_numpy()
    fac_rows["access_m"] = fac_snap["access_m"].to_numpy()
    bad = fac_rows["usable"] & (fac_rows["snap_status"] != snap.SNAPPED)
    fac_rows.loc[bad, "status"] = fac_rows.loc[bad, "snap_status"]
    fac_rows.loc[bad, "reason"] = too_far_reasons(network, fac_rows[bad], snap_limit_m)
    dropped = network.components.dropped if network.components else None
    cov.add_skipped_columns(poi_table, poi_snap, dropped)
    cov.add_skipped_columns(fac_rows, fac_snap, dropped)
    fac_table = facility_summary(facilities, fac_snap)
    summary = cov.summarise(coverage, poi_table, fac_table, bands)
    summary["disconnected_pieces"] = cov.skipped_summary(poi_table, fac_rows, dropped)
    lap("coverage")
    return Analysis(
        facilities=fac_rows,
        facility_table=fac_table,
        pois=poi_table,
        coverage=coverage,
        isochrones=polys,
        summary=summary,
        timings=timings,
    )


# --------------------------------------------------------------------------- run
def run_inputs(
    scenario: Scenario, network: net.StreetNetwork, n_facility_rows: int, n_poi_rows: int
) -> dict[str, Any]:
    """Describe a run's inputs for summary.json."""
    return {
        "scenario": scenario.name,
        "title": scenario.title,
        "place": scenario.place,
        "speed_kmh": scenario.speed_kmh,
        "bands_min": list(scenario.bands_min),
        "snap_limit_m": scenario.snap_limit_m,
        "network_source": scenario.network_source,
        "network_file": scenario.network_path.name if scenario.network_path else None,
        "network_data_date": scenario.network_date,
        "attribution": scenario.attribution,
        "network_crs": CRS.from_user_input(network.crs).to_string(),  # EPSG:NNNN when known
        "output_crs": "EPSG:4326 (WGS-84)",
        "network_nodes": network.n_nodes,
        "network_edges": network.n_edges,
        "components": network.components.to_dict() if network.components else None,
        "facility_rows_in": n_facility_rows,
        "poi_rows_in": n_poi_rows,
        "method": (
            "network walking distance: access leg from each point to its nearest walkable "
            "edge + shortest path along partial and whole edges; minutes = metres / speed"
        ),
    }


def write_outputs(
    scenario: Scenario, network: net.StreetNetwork, analysis: Analysis, out_dir: Path
) -> dict[str, Path]:
    """Write coverage.csv, pois.csv, facilities.csv, isochrones.geojson and summary.json.

    The files are written to a new run folder and published together (`output_set`): a
    run killed at any point, or several runs at once, leave one complete set; nothing the
    planner did not make is removed or replaced.

    Parameters
    ----------
    scenario, network, analysis
        The run.
    out_dir
        Output folder.

    Returns
    -------
    files
        Output name -> path inside `out_dir`.
    """
    out_dir = Path(out_dir)
    with output_set(out_dir) as staging:
        io.write_csv(analysis.coverage, staging / "coverage.csv")
        io.write_csv(analysis.pois, staging / "pois.csv")
        io.write_csv(analysis.facilities, staging / "facilities.csv")
        io.write_geojson(analysis.isochrones, staging / "isochrones.geojson")
        summary = {
            "inputs": run_inputs(scenario, network, len(analysis.facilities), len(analysis.pois)),
            **analysis.summary,
        }
        io.write_json(_json_safe(summary), staging / "summary.json")
    names = ("coverage.csv", "pois.csv", "facilities.csv", "isochrones.geojson", "summary.json")
    return {name.split(".")[0]: out_dir / name for name in names}


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else float(obj)
    return obj


def run(
    scenario: Scenario,
    *,
    out_dir: Path | None = None,
    maps_dir: Path | None = None,
    strict: bool = False,
    progress: Progress = _quiet,
) -> RunResult:
    """Run a scenario end to end and write its outputs and map.

    Parameters
    ----------
    scenario
        The scenario.
    out_dir
        Output folder (default ``out/<scenario>``).
    maps_dir
        Map folder (default ``maps/``).
    strict
        If True, any input row with a problem (bad or missing coordinates, duplicate id,
        outside the study area, beyond the snapping limit, even a fixed lat/lon swap) stops
        the run before anything is written.
    progress
        Callback receiving step names.

    Returns
    -------
    result
        The network, the analysis and the written files.
    """
    out_dir = Path(out_dir) if out_dir is not None else Path("out") / scenario.name
    maps_dir = Path(maps_dir) if maps_dir is not None else Path("maps")
    map_paths = {ext: maps_dir / f"{scenario.name}.{ext}" for ext in ("html", "png")}
    check_output_dir(out_dir)  # before any work: refuse a folder the planner did not make
    for path in map_paths.values():
        check_replaceable(path)
    t0 = time.perf_counter()
    progress(f"loading the street network ({scenario.network_source})")
    network = load_network(scenario)
    check_study_area(scenario, network)
    t_net = time.perf_counter() - t0
    progress(describe_network(network))
    progress("reading facilities and POIs")
    facilities = load_facilities(scenario)
    pois = load_pois(scenario)
    for table in (facilities, pois):
        for problem in table.attrs.get(readers.ATTR_FILE_PROBLEMS, []):
            progress(f"warning: {problem}")
    t_read = time.perf_counter() - t0 - t_net
    analysis = analyse(
        network,
        facilities,
        pois,
        bands_min=scenario.bands_min,
        speed_kmh=scenario.speed_kmh,
        snap_limit_m=scenario.snap_limit_m,
        buffer_m=scenario.buffer_m,
        progress=progress,
    )
    analysis.timings = {"network": t_net, "inputs": t_read, **analysis.timings}
    if len(facilities) and not facilities["usable"].any():
        first = "; ".join(str(r) for r in facilities["reason"].head(3))
        raise PlannerError(f"no facility row has usable coordinates: {first}")
    if len(analysis.facility_table) and (analysis.facility_table["status"] != "ok").all():
        raise PlannerError(
            f"none of the {len(analysis.facility_table)} facilities lies within "
            f"{scenario.snap_limit_m:g} m of a walkable street of the network "
            f"({scenario.network_path or scenario.network_source}): is it the right area?"
        )
    if strict:
        problems = input_problems(analysis.facilities, analysis.pois)
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise PlannerError(
                f"--strict: {len(problems)} input problem(s): " + " | ".join(problems[:5]) + more
            )
    progress(f"writing outputs to {out_dir}")
    t1 = time.perf_counter()
    files = write_outputs(scenario, network, analysis, out_dir)
    analysis.timings["write"] = time.perf_counter() - t1
    progress("drawing the map")
    t1 = time.perf_counter()
    from planner import maps, plot  # imported here: only the map step needs folium/matplotlib

    files["map"] = maps.save_map(scenario, network, analysis, map_paths["html"])
    files["png"] = plot.save_png(scenario, network, analysis, map_paths["png"])
    analysis.timings["map"] = time.perf_counter() - t1
    return RunResult(scenario=scenario, network=network, analysis=analysis, files=files)


# --------------------------------------------------------------------------- fetch
def download_bbox(scenario: Scenario) -> tuple[float, float, float, float]:
    """Area to download: facilities' extent + the largest band's walk + a margin.

    Parameters
    ----------
    scenario
        A scenario with a facilities file.

    Returns
    -------
    bbox
        (west, south, east, north) WGS-84 degrees.
    """
    fac = load_facilities(scenario)
    ok = fac["usable"].to_numpy(dtype=bool)
    if not ok.any():
        raise PlannerError(f"{scenario.facilities.path}: no usable facility coordinates")
    lon, lat = fac.loc[ok, "lon"].to_numpy(float), fac.loc[ok, "lat"].to_numpy(float)
    pad = max(scenario.bands_min) * scenario.metres_per_minute + scenario.download_margin_m
    dlat = pad / 111_320.0
    dlon = pad / (111_320.0 * np.cos(np.radians(lat.mean())))
    w, s, e, n = lon.min() - dlon, lat.min() - dlat, lon.max() + dlon, lat.max() + dlat
    if scenario.study_bbox is not None:
        sw, ss, se, sn = scenario.study_bbox
        w, s, e, n = min(w, sw), min(s, ss), max(e, se), max(n, sn)
    return (float(w), float(s), float(e), float(n))


def fetch(scenario: Scenario, progress: Progress = _quiet) -> dict[str, Path]:
    """Download and cache a scenario's walk network and POIs with osmnx (Overpass).

    Nothing is written unless both downloads succeed; files are renamed into place.

    Parameters
    ----------
    scenario
        The scenario.
    progress
        Callback receiving step names.

    Returns
    -------
    files
        ``network`` (GraphML), ``pois`` (GeoJSON) and ``meta`` (JSON) paths.
    """
    bbox = download_bbox(scenario)
    graphml, features_path = network_cache_paths(scenario)
    http_cache = scenario.cache_dir / "http"
    progress(f"downloading the walk network for bbox {bbox} from Overpass")
    G = net.graph_from_overpass(bbox, http_cache)
    if len(G) == 0:
        raise NetworkUnavailableError(f"Overpass returned no walkable streets in {bbox}")
    progress("downloading merchants and service points from Overpass")
    features = osm_pois.pois_from_overpass(bbox, http_cache)
    scenario.cache_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "network": net.save_graph(G, graphml),
        "pois": osm_pois.save_features(features, features_path),
    }
    meta = {
        "sha256": {p.name: _cache.file_sha256(p) for p in (files["network"], files["pois"])},
        "bbox_wgs84": list(bbox),
        "downloaded_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "nodes": len(G),
        "edges": G.number_of_edges(),
        "features": len(features),
        "attribution": "© OpenStreetMap contributors, ODbL 1.0",
    }
    files["meta"] = io.write_json(meta, scenario.cache_dir / "fetch.json")
    return files

"""The analysis: snap -> reach -> isochrones -> coverage, and a whole run of a scenario."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from planner import coverage as cov
from planner import gaps, reach, readers, snap
from planner import network as net
from planner._errors import PlannerError
from planner._i18n import _
from planner._publish import (
    check_folder,
    check_output_dir,
    check_replaceable,
    claim_written,
)
from planner._types import Progress, quiet
from planner.inputs import (
    check_study_area,
    describe_network,
    fetched_date,
    load_facilities,
    load_network,
    load_pois,
)
from planner.isochrones import start_isochrones
from planner.outputs import write_outputs
from planner.result import (
    DEFAULT_BUFFER_M,
    DEFAULT_ISOCHRONE_METHOD,
    DEFAULT_SNAP_LIMIT_M,
    DEFAULT_SPEED_KMH,
    Provenance,
    Result,
    Settings,
)
from planner.scenario import Scenario, load_scenario
from planner.schema import FACILITY_COLUMNS, ISOCHRONE_COLUMNS, READ_COLUMNS, Status

__all__ = ["analyse", "analyse_scenario", "reanalyse", "run", "to_network_xy"]

#: How reach is measured, as written in summary.json.
METHOD = (
    "network walking distance: access leg from each point to its nearest walkable "
    "edge + shortest path along partial and whole edges; minutes = metres / speed"
)


def analyse(
    network: net.StreetNetwork,
    facilities: pd.DataFrame,
    pois: pd.DataFrame,
    *,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    bands_min: tuple[float, ...] | list[float] = (5.0, 10.0, 15.0),
    snap_limit_m: float = DEFAULT_SNAP_LIMIT_M,
    buffer_m: float = DEFAULT_BUFFER_M,
    isochrone_method: str = DEFAULT_ISOCHRONE_METHOD,
    about: Provenance | None = None,
    progress: Progress = quiet,
    polygons: bool = True,
) -> Result:
    """Compute reach, isochrones and coverage for facilities and POIs on a network.

    The settings are checked before any work (`planner.Settings`); bands are sorted.

    Parameters
    ----------
    network
        Projected street network (`planner.load_network`).
    facilities
        Facility rows (`planner.read_points` layout; repeated ids are entrances).
    pois
        Merchant / service point rows (same layout).
    speed_kmh
        Walking speed, 0.5–10 km/h.
    bands_min
        Walking-time bands in minutes (any order; distinct, positive).
    snap_limit_m
        Points farther than this from every walkable edge are not routed.
    buffer_m
        Half-width of the street corridor drawn as band polygons.
    isochrone_method
        ``"grid"`` (fast; outline within 5 m of the exact corridor) or ``"exact"`` (GEOS
        union of the buffered street pieces); see `planner.isochrones.isochrones`.
    about
        Where the data came from (title, source, date), carried to maps and summary.json.
    progress
        Callback receiving step names.
    polygons
        False leaves out what only maps need: the band polygons (``isochrones`` is then an
        empty table) and the service gaps (``gaps``); the tables are the same.

    Returns
    -------
    result
        Tables and polygons with the settings that made them; every input row of
        `facilities` and `pois` is in the output.

    Raises
    ------
    planner.SettingsError
        A setting is out of range.
    planner.PlannerError
        An input table lacks the reader layout's columns.
    """
    settings = Settings(
        speed_kmh=speed_kmh,
        bands_min=bands_min,  # type: ignore[arg-type]  # Settings checks and sorts it
        snap_limit_m=snap_limit_m,
        buffer_m=buffer_m,
        isochrone_method=isochrone_method,
    )
    _check_table(facilities, "facilities")
    _check_table(pois, "pois")
    return _analyse(
        network, facilities, pois, settings, about or Provenance(), progress, polygons=polygons
    )


#: Columns `analyse` needs in its input tables (`planner.read_points` layout).
_REQUIRED_COLUMNS = tuple(c for c in READ_COLUMNS if c not in ("x_orig", "y_orig", "crs_orig"))


def _check_table(table: pd.DataFrame, name: str) -> None:
    missing = [c for c in _REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise PlannerError(
            _(
                "{name}: not a table of points as read by planner.read_points (missing "
                "columns {missing})"
            ).format(name=name, missing=", ".join(missing))
        )


def _points(table: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return a table as a GeoDataFrame of its lon/lat points in EPSG:4326 (empty if unknown)."""
    lon = table["lon"].to_numpy(dtype=float)
    lat = table["lat"].to_numpy(dtype=float)
    geometry = shapely.points(lon, lat)
    geometry[~(np.isfinite(lon) & np.isfinite(lat))] = shapely.Point()
    return gpd.GeoDataFrame(table, geometry=geometry, crs=4326)


def _analyse(
    network: net.StreetNetwork,
    facilities: pd.DataFrame,
    pois: pd.DataFrame,
    settings: Settings,
    about: Provenance,
    progress: Progress,
    polygons: bool = True,
    then: Callable[[Result], None] | None = None,
) -> Result:
    """Analyse; `then(result)` runs before the band polygons drawn meanwhile are collected.

    The polygons are started right after the reach (`start_isochrones`, in the background
    where fork exists) and collected last, so the coverage tables, the service gaps and
    `then` (the scenario's checks and policy types) are computed while they are drawn.
    ``result.isochrones`` is an empty table until then.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    bands = settings.bands_min
    mpm = settings.metres_per_minute
    limit = settings.largest_band_min * mpm
    snap_limit_m = settings.snap_limit_m

    progress(_("snapping facilities and POIs to the street network"))
    fac_snap = _snap_table(network, facilities, snap_limit_m)
    poi_snap = _snap_table(network, pois, snap_limit_m)
    fac_ids = np.asarray(pd.unique(facilities["id"]), dtype=object)
    owner = pd.Index(fac_ids).get_indexer(pd.Index(facilities["id"]))
    sources = reach.Anchors.from_snapped(fac_snap, owner)
    targets = reach.Anchors.from_snapped(poi_snap)
    lap("snap")

    progress(
        _("walking reach of {count} facilities (exact network Dijkstra)").format(count=len(fac_ids))
    )
    node_reach = reach.node_reach(network, sources, len(fac_ids), limit)
    pairs = reach.reach_pairs(network, node_reach, sources, targets, limit)
    near_f, near_d = reach.nearest_facility(
        network, sources, len(fac_ids), targets, len(pois), reach=node_reach
    )
    lap("reach")

    pending = None
    if polygons:
        progress(_("growing band polygons from the reached streets"))
        pending = start_isochrones(
            network,
            node_reach,
            sources,
            [b * mpm for b in bands],
            buffer_m=settings.buffer_m,
            method=settings.isochrone_method,
        )
    lap("isochrones")
    with contextlib.ExitStack() as stack:
        if pending is not None:
            stack.enter_context(pending)  # an error below stops the drawing
        progress(_("coverage tables"))
        coverage, poi_table, fac_rows, fac_table, summary = coverage_tables(
            network, facilities, pois, settings, fac_snap, poi_snap, fac_ids, pairs, near_f, near_d
        )
        lap("coverage")
        summary = {
            "inputs": summary_inputs(settings, about, network, facilities, pois),
            **summary,
        }
        result = Result(
            settings=settings,
            provenance=about,
            network=network,
            facilities=_points(fac_table),
            entrances=_points(fac_rows),
            pois=_points(poi_table),
            coverage=coverage,
            isochrones=_no_polygons(),
            summary=summary,
            # the result's own input tables: a caller editing the tables given, or a later
            # result's (`reanalyse` passes these on), leaves this result as it is
            facility_rows=facilities.copy(),
            poi_rows=pois.copy(),
            timings=timings,
        )
        if polygons:
            progress(_("service gaps and crow-fly versus walking"))
            result.gaps = gaps.compute(result)
            result.summary.update(gaps.summary_sections(result.gaps))
        lap("gaps")
        if then is not None:
            then(result)
            clock = time.perf_counter()  # `then` times itself
        if pending is not None:
            polys = pending.result()
            polys["facility_id"] = np.asarray(fac_ids, dtype=object)[polys["facility"].to_numpy()]
            polys["band_min"] = np.asarray(bands)[polys["band"].to_numpy()]
            result.isochrones = polys[[*ISOCHRONE_COLUMNS, "geometry"]].to_crs(4326)
            timings["isochrones"] += time.perf_counter() - clock  # the wait for the drawing
    return result


def _no_polygons() -> gpd.GeoDataFrame:
    """An empty `Result.isochrones` table."""
    return gpd.GeoDataFrame(
        {c: pd.Series(dtype=object) for c in ISOCHRONE_COLUMNS}, geometry=[], crs=4326
    )


def coverage_tables(
    network: net.StreetNetwork,
    facilities: pd.DataFrame,
    pois: pd.DataFrame,
    settings: Settings,
    fac_snap: pd.DataFrame,
    poi_snap: pd.DataFrame,
    fac_ids: np.ndarray,
    pairs: pd.DataFrame,
    near_f: np.ndarray,
    near_d: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Build the coverage, POI, entrance and facility tables and the summary from the reach.

    Shared by `analyse` and `planner.interactive`, so both give the same tables.

    Returns
    -------
    coverage, pois, entrances, facilities, summary
        As in `planner.Result` (plain tables, no geometry); the summary without its
        ``inputs`` and gap sections.
    """
    bands = settings.bands_min
    mpm = settings.metres_per_minute
    coverage = cov.coverage_table(pairs, fac_ids, pois, mpm, bands)
    poi_table = cov.nearest_table(
        pois, poi_snap["status"].to_numpy(), near_f, near_d, pairs, fac_ids, mpm
    )
    poi_table["access_m"] = poi_snap["access_m"].to_numpy()
    fac_rows = facilities.copy()
    fac_rows["snap_status"] = fac_snap["status"].to_numpy()
    fac_rows["access_m"] = fac_snap["access_m"].to_numpy()
    bad = fac_rows["usable"] & (fac_rows["snap_status"] != Status.OK)
    fac_rows.loc[bad, "status"] = fac_rows.loc[bad, "snap_status"]
    fac_rows.loc[bad, "reason"] = too_far_reasons(network, fac_rows[bad], settings.snap_limit_m)
    dropped = network.components.dropped if network.components else None
    cov.add_skipped_columns(poi_table, poi_snap, dropped)
    cov.add_skipped_columns(fac_rows, fac_snap, dropped)
    fac_table = facility_summary(facilities, fac_snap)
    summary = cov.summarise(coverage, poi_table, fac_table, bands)
    summary["disconnected_pieces"] = cov.skipped_summary(poi_table, fac_rows, dropped)
    return coverage, poi_table, fac_rows, fac_table, summary


def summary_inputs(
    settings: Settings,
    about: Provenance,
    network: net.StreetNetwork,
    facilities: pd.DataFrame,
    pois: pd.DataFrame,
) -> dict[str, Any]:
    """Return the ``inputs`` section of summary.json: settings, sources, network, row counts."""
    return {
        "scenario": about.name,
        "title": about.title,
        "place": about.place,
        "speed_kmh": settings.speed_kmh,
        "bands_min": list(settings.bands_min),
        "snap_limit_m": settings.snap_limit_m,
        "buffer_m": settings.buffer_m,
        "isochrone_method": settings.isochrone_method,
        "network_source": about.network_source,
        "network_file": about.network_file,
        "network_data_date": about.network_date,
        "attribution": about.attribution,
        "network_crs": CRS.from_user_input(network.crs).to_string(),  # EPSG:NNNN when known
        "output_crs": "EPSG:4326 (WGS-84)",
        "network_nodes": network.n_nodes,
        "network_edges": network.n_edges,
        "components": network.components.to_dict() if network.components else None,
        "facility_rows_in": len(facilities),
        "poi_rows_in": len(pois),
        "method": METHOD,
    }


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
    """Summarise the entrances of each facility id (`planner.schema.FACILITY_COLUMNS`).

    Parameters
    ----------
    facilities
        Facility rows (`planner.read_points` layout; repeated ids are entrances).
    snapped
        `planner.snap.snap_points` output for those rows.

    Returns
    -------
    facilities
        One row per facility id, in order of first appearance: name and kind of its first
        row, entrances in and snapped, the mean position of the snapped entrances, and
        status ``ok`` or ``no_usable_entrance``.
    """
    ok = snapped["status"].to_numpy() == Status.OK
    codes, ids = pd.factorize(facilities["id"], sort=False)  # order of first appearance
    if not len(ids):
        return pd.DataFrame(columns=list(FACILITY_COLUMNS))
    first = np.unique(codes, return_index=True)[1]
    n_ok = np.bincount(codes, weights=ok, minlength=len(ids)).astype(int)
    lon = np.bincount(
        codes,
        weights=np.where(ok, facilities["lon"].to_numpy(dtype=float), 0.0),
        minlength=len(ids),
    )
    lat = np.bincount(
        codes,
        weights=np.where(ok, facilities["lat"].to_numpy(dtype=float), 0.0),
        minlength=len(ids),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_lon = np.where(n_ok > 0, lon / n_ok, np.nan)
        mean_lat = np.where(n_ok > 0, lat / n_ok, np.nan)
    table = pd.DataFrame(
        {
            "facility_id": facilities["id"].to_numpy()[first],
            "name": facilities["name"].to_numpy()[first],
            "kind": facilities["kind"].to_numpy()[first],
            "entrances": np.bincount(codes, minlength=len(ids)),
            "entrances_snapped": n_ok,
            "lon": mean_lon,
            "lat": mean_lat,
            "status": np.where(n_ok > 0, Status.OK.value, Status.NO_USABLE_ENTRANCE.value),
        }
    )
    return table[list(FACILITY_COLUMNS)]


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
    origin = facilities.attrs.get(readers.ATTR_POINT_KIND) == "origin"  # `[origins]` points
    source = facilities.attrs.get(readers.ATTR_SOURCE) or ("origins" if origin else "facilities")
    sources = facilities.attrs.get(readers.ATTR_ROW_SOURCES) or {}
    unit = facilities.attrs.get(readers.ATTR_UNIT) or "row"
    x, y = to_network_xy(
        network, facilities["lon"].to_numpy(dtype=float), facilities["lat"].to_numpy(dtype=float)
    )
    distance = np.full(len(x), np.nan)
    placed = np.isfinite(x) & np.isfinite(y)
    if placed.any() and network.n_edges:
        (points, _nearest), found = network.tree.query_nearest(
            shapely.points(x[placed], y[placed]), return_distance=True, all_matches=False
        )
        distance[np.flatnonzero(placed)[points]] = found
    reasons = []
    for (row, fid, earlier), d in zip(
        facilities[["row", "id", "reason"]].itertuples(index=False, name=None),
        distance,
        strict=True,
    ):
        where = (
            _("{file} {unit} {number}, origin point {id}")
            if origin
            else _("{file} {unit} {number}, facility {id}")
        ).format(
            file=sources.get(str(fid), source),
            unit=_(unit),
            number=row,
            id=json.dumps(str(fid), ensure_ascii=False),
        )
        if np.isfinite(d):
            text = _(
                "{where}: the nearest walkable street of the routed network is {metres:.0f} m "
                "away, beyond the snapping limit of {limit:g} m"
            ).format(where=where, metres=d, limit=limit_m)
        else:
            text = _("{where}: no walkable street within the snapping limit of {limit:g} m").format(
                where=where, limit=limit_m
            )
        reasons.append(f"{earlier}; {text}" if isinstance(earlier, str) and earlier else text)
    return reasons


def reanalyse(
    result: Result,
    *,
    speed_kmh: float | None = None,
    bands_min: tuple[float, ...] | list[float] | None = None,
    snap_limit_m: float | None = None,
    buffer_m: float | None = None,
    isochrone_method: str | None = None,
    facilities: pd.DataFrame | None = None,
    pois: pd.DataFrame | None = None,
    progress: Progress = quiet,
) -> Result:
    """Compute a result again with other settings or inputs, on the same network.

    Parameters
    ----------
    result
        An earlier result.
    speed_kmh, bands_min, snap_limit_m, buffer_m, isochrone_method
        New settings; None keeps the result's.
    facilities, pois
        New input tables (`planner.read_points` layout), e.g. ``result.facility_rows``
        with a row added or removed; None keeps the result's.
    progress
        Callback receiving step names.

    Returns
    -------
    result
        A new result; `result` is not changed.
    """
    s = result.settings
    again = analyse(
        result.network,
        result.facility_rows if facilities is None else facilities,
        result.poi_rows if pois is None else pois,
        speed_kmh=s.speed_kmh if speed_kmh is None else speed_kmh,
        bands_min=s.bands_min if bands_min is None else bands_min,
        snap_limit_m=s.snap_limit_m if snap_limit_m is None else snap_limit_m,
        buffer_m=s.buffer_m if buffer_m is None else buffer_m,
        isochrone_method=s.isochrone_method if isochrone_method is None else isochrone_method,
        about=result.provenance,
        progress=progress,
    )
    from planner import policy

    return policy.carry_policy(result, again)  # its policy analysis, made again the same way


def _scenario(scenario: Scenario | str | Path) -> Scenario:
    """The scenario itself, or loaded from its name or path; anything else is refused."""
    if isinstance(scenario, str | Path):
        return load_scenario(scenario)
    if not isinstance(scenario, Scenario):
        raise PlannerError(
            _("expected a scenario (planner.load_scenario), its name or path; got {kind}").format(
                kind=type(scenario).__name__
            )
        )
    return scenario


def analyse_scenario(scenario: Scenario | str | Path, progress: Progress = quiet) -> Result:
    """Load a scenario's network and inputs and analyse them; nothing is written.

    Parameters
    ----------
    scenario
        The scenario (`planner.load_scenario`), or its name or path.
    progress
        Callback receiving step names.

    Returns
    -------
    result
        The analysis, with the scenario's settings and provenance.

    Raises
    ------
    planner.PlannerError
        The network is missing or of the wrong area, or no facility can be used.
    """
    scenario = _scenario(scenario)
    t0 = time.perf_counter()
    progress(
        _("loading the street network ({network_source})").format(
            network_source=scenario.network_source
        )
    )
    network = load_network(scenario)
    check_study_area(scenario, network)
    t_net = time.perf_counter() - t0
    progress(describe_network(network))
    progress(_("reading facilities and POIs"))
    facilities = load_facilities(scenario)
    pois = load_pois(scenario)
    for table in (facilities, pois):
        for problem in table.attrs.get(readers.ATTR_FILE_PROBLEMS, []):
            progress(_("warning: {problem}").format(problem=problem))
    t_read = time.perf_counter() - t0 - t_net

    def then(result: Result) -> None:  # while the band polygons are drawn
        if len(facilities) and not facilities["usable"].any():
            first = "; ".join(str(r) for r in facilities["reason"].head(3))
            raise PlannerError(
                _("no facility row has usable coordinates: {first}").format(first=first)
            )
        if len(result.facilities) and (result.facilities["status"] != Status.OK).all():
            raise PlannerError(
                _(
                    "none of the {count} facilities lies within {snap_limit_m:g} m of a "
                    "walkable street of the network ({network_path}): is it the right area?"
                ).format(
                    count=len(result.facilities),
                    snap_limit_m=scenario.snap_limit_m,
                    network_path=scenario.network_path or scenario.network_source,
                )
            )
        if len(pois):
            from planner import policy

            progress(_("policy business types per circle"))
            t1 = time.perf_counter()
            policy.add_policy(result, scenario.policy, policy.load_origins(scenario))
            result.timings["policy"] = time.perf_counter() - t1

    about = scenario.provenance()
    if scenario.network_source == "overpass" and not about.network_date:
        # a downloaded network is dated by its download, unless the scenario dates it
        about = replace(about, network_date=fetched_date(scenario))
    result = _analyse(network, facilities, pois, scenario.settings(), about, progress, then=then)
    result.timings = {"network": t_net, "inputs": t_read, **result.timings}
    return result


def run(
    scenario: Scenario | str | Path,
    *,
    out_dir: str | Path | None = None,
    maps_dir: str | Path | None = None,
    strict: bool = False,
    formats: Iterable[str] = (),
    progress: Progress = quiet,
) -> Result:
    """Run a scenario end to end: analyse it, write its tables and its HTML map.

    Optional outputs are written when asked for in `formats`. One not asked for is kept
    from the last run when nothing that made it has changed: the content fingerprint
    (`planner._carry.fingerprint`: the bytes of every input file, the settings, the
    planner's version and code) is the one it was made with, and the planner's file is
    unchanged since. A planner map left from other inputs is removed; a file the planner
    did not write (or that was changed after it wrote it) is never touched.

    Parameters
    ----------
    scenario
        The scenario (`planner.load_scenario`), or its name or path.
    out_dir
        Output folder (default ``out/<scenario>``): a name that does not exist yet, or
        one the planner published before.
    maps_dir
        Map folder (default ``maps/``).
    strict
        If True, any input problem (bad or missing coordinates, duplicate id, outside the
        study area, beyond the snapping limit, even a fixed lat/lon swap, a file without
        data rows) stops the run before anything is written.
    formats
        Optional outputs (`planner._carry.FORMATS`): ``"png"`` (static map),
        ``"pdf"`` (printable page), ``"xlsx"`` (workbook), ``"gpkg"`` (GeoPackage); one
        name alone is one format.
    progress
        Callback receiving step names.

    Returns
    -------
    result
        The analysis; ``result.files`` names the files written or kept.
    """
    from planner import _carry

    scenario = _scenario(scenario)
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = [f for f in formats if f not in _carry.FORMATS]
    if unknown:
        raise PlannerError(
            _("unknown output format {unknown!r}: choose from {formats}").format(
                unknown=unknown[0], formats=", ".join(_carry.FORMATS)
            )
        )
    out_dir = Path(out_dir) if out_dir is not None else Path("out") / scenario.name
    maps_dir = Path(maps_dir) if maps_dir is not None else Path("maps")
    map_paths = {ext: maps_dir / f"{scenario.name}.{ext}" for ext in ("html", "png", "pdf")}
    check_output_dir(out_dir)  # before any work: refuse a folder the planner did not make
    check_folder(maps_dir, "--maps-dir")
    for ext, path in map_paths.items():
        if ext == "html" or ext in formats:
            check_replaceable(path)
    t0 = time.perf_counter()
    fingerprint = _carry.fingerprint(scenario)
    t_fp = time.perf_counter() - t0
    result = analyse_scenario(scenario, progress)
    result.timings["fingerprint"] = t_fp
    if strict:
        problems = result.problems()
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise PlannerError(
                _("--strict: {count} input problem(s): ").format(count=len(problems))
                + " | ".join(problems[:5])
                + more
            )
    from planner import maps  # imported here: only maps need folium
    from planner.offline import write_page

    drawn: dict[str, Any] = {}

    def draw_map() -> None:
        # while a large result's workbook and GeoPackage are written by a forked process;
        # the page is written once the set is published (the map folder may be `out_dir`)
        progress(_("drawing the map"))
        t = time.perf_counter()
        drawn["html"] = maps.render_map(result)
        drawn["seconds"] = time.perf_counter() - t

    progress(_("writing outputs to {out_dir}").format(out_dir=out_dir))
    t1 = time.perf_counter()
    notes: list[str] = []
    # maps written into the output folder are part of its set: the ones kept from the last
    # run (and the note of what drew them) go into the new set with the other files
    in_set = os.path.realpath(maps_dir) == os.path.realpath(out_dir)
    carry = (
        [map_paths[ext].name for ext in ("png", "pdf") if ext not in formats]
        + [_carry.manifest_path(map_paths["html"]).name]
        if in_set
        else []
    )
    result.files = write_outputs(
        result,
        out_dir,
        formats=formats,
        fingerprint=fingerprint,
        meanwhile=draw_map,
        notes=notes,
        carry=carry,
    )
    for note in notes:  # a file the user added to the published folder: where it is now
        progress(note)
    t2 = time.perf_counter()
    result.timings["write"] = t2 - t1 - drawn["seconds"]
    result.files["map"] = write_page(drawn.pop("html"), map_paths["html"])
    result.timings["map"] = drawn["seconds"] + time.perf_counter() - t2
    t1 = time.perf_counter()
    manifest = _carry.read_manifest(map_paths["html"])

    def png(path: Path) -> Path:
        from planner import plot  # matplotlib: only for the static map

        return plot.save_png(result, path)

    def pdf(path: Path) -> Path:
        from planner import report  # matplotlib: only for the printable page

        return report.save_pdf(result, path)  # the footer: the result's [report] values

    noted: dict[str, Any] = {}
    for ext, draw in (("png", png), ("pdf", pdf)):
        done = _carry.draw_or_carry(
            map_paths[ext], ext in formats, draw, manifest, fingerprint, progress, noted
        )
        if done is not None:
            result.files[ext] = done
    if noted or manifest:
        _carry.write_manifest(map_paths["html"], fingerprint, noted)
        claim_written(_carry.manifest_path(map_paths["html"]))  # in the output folder: its set's
    for key in ("map", "png", "pdf"):  # maps written into the output folder go with its set
        if key in result.files:
            claim_written(result.files[key])
    result.timings["static_maps"] = time.perf_counter() - t1
    return result

"""Load a scenario's inputs: the street network, facilities and merchants / service points."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from planner import _cache, _pbf, readers
from planner import network as net
from planner import pois as osm_pois
from planner._errors import NetworkUnavailableError, PlannerError
from planner._i18n import _
from planner.scenario import PointSource, Scenario

__all__ = [
    "check_download_box",
    "check_study_area",
    "describe_network",
    "fetched_date",
    "load_facilities",
    "load_network",
    "load_pois",
    "network_cache_paths",
    "pbf_bbox",
    "pbf_cut",
    "read_source",
    "verify_fetch_cache",
    "walk_bbox",
]


def network_cache_paths(scenario: Scenario) -> tuple[Path, Path]:
    """Paths of a downloaded scenario's cached network and POI features."""
    return scenario.cache_dir / "network.graphml", scenario.cache_dir / "pois.geojson"


def load_network(scenario: Scenario) -> net.StreetNetwork:
    """Load the scenario's walk network (OSM XML, OSM PBF, GraphML, or the Overpass cache).

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
        graphml = network_cache_paths(scenario)[0]
        if not graphml.is_file():
            raise NetworkUnavailableError(
                _(
                    "scenario {scenario_name!r} has no downloaded street network yet "
                    "(expected {graphml}). Run `planner fetch {scenario_name}` where "
                    "Overpass is reachable, or pass an OSM extract: `planner run "
                    "{scenario_name} --osm FILE.osm`"
                ).format(scenario_name=scenario.name, graphml=graphml)
            )
        verify_fetch_cache(scenario)
        network = _cache.load_network_cached(graphml)
        check_download_box(scenario, network)
        return network
    if scenario.network_path is None:
        raise PlannerError(
            _("scenario {scenario_name!r} names no network file").format(
                scenario_name=scenario.name
            )
        )
    if scenario.network_source == "pbf":
        return _cache.load_network_cached(pbf_cut(scenario))
    return _cache.load_network_cached(scenario.network_path)


def pbf_bbox(scenario: Scenario) -> tuple[float, float, float, float]:
    """The box a regional OSM file is cut to for this scenario.

    The study area (``study_bbox`` together with the facilities' extent) grown by the largest
    band's walking distance plus the snapping limit. A walk is never shorter than the
    straight line, so every street a facility's largest band can reach, and every street a
    point in the study area can snap to, lies inside.

    Parameters
    ----------
    scenario
        The scenario.

    Returns
    -------
    bbox
        (west, south, east, north) WGS-84 degrees.
    """
    boxes = [scenario.study_bbox] if scenario.study_bbox is not None else []
    if scenario.facilities is not None:
        fac = load_facilities(scenario)
        ok = fac["usable"].to_numpy(dtype=bool)
        if ok.any():
            lon, lat = fac.loc[ok, "lon"].to_numpy(float), fac.loc[ok, "lat"].to_numpy(float)
            boxes.append((lon.min(), lat.min(), lon.max(), lat.max()))
    if not boxes:
        raise PlannerError(
            _(
                "scenario {scenario_name!r}: a PBF network needs a study_bbox or "
                "usable facility coordinates to know which part of the file to read"
            ).format(scenario_name=scenario.name)
        )
    w, s, e, n = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    pad = max(scenario.bands_min) * scenario.metres_per_minute + scenario.snap_limit_m
    return _pbf.pad_bbox((float(w), float(s), float(e), float(n)), pad)


def pbf_cut(scenario: Scenario) -> Path:
    """The scenario's regional OSM PBF cut to `pbf_bbox`, as a cached OSM XML file.

    Parameters
    ----------
    scenario
        A scenario whose network source is ``pbf``.

    Returns
    -------
    path
        The cut (see `planner._pbf.cut_cached`).
    """
    if scenario.network_path is None:
        raise PlannerError(
            _("scenario {scenario_name!r} names no network file").format(
                scenario_name=scenario.name
            )
        )
    return _pbf.cut_cached(scenario.network_path, pbf_bbox(scenario))


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
        _(
            "study_bbox {study_bbox} ({scenario_file}) does not overlap the street "
            "network's extent {extent} ({network_file}): wrong area, or lat/lon "
            "order?"
        ).format(
            study_bbox=box(scenario.study_bbox),
            scenario_file=scenario.file or scenario.folder,
            extent=box((nw, ns, ne, nn)),
            network_file=network_file,
        )
    )


def verify_fetch_cache(scenario: Scenario) -> None:
    """Refuse a downloaded cache whose files do not match the checksums written by `fetch`.

    Parameters
    ----------
    scenario
        A scenario whose network source is ``overpass``.
    """
    meta_path = scenario.cache_dir / "fetch.json"
    hint = _("delete {cache_dir} and run `planner fetch {scenario_name}` again").format(
        cache_dir=scenario.cache_dir, scenario_name=scenario.name
    )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        expected = meta["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PlannerError(
            _("download cache {meta_path} is missing or unreadable; {hint}").format(
                meta_path=meta_path, hint=hint
            )
        ) from exc
    for path in network_cache_paths(scenario):
        if not path.is_file() or _cache.file_sha256(path) != expected.get(path.name):
            raise PlannerError(
                _("download cache file {path} is missing or corrupted; {hint}").format(
                    path=path, hint=hint
                )
            )


#: Metres in a degree of latitude (and of longitude at the equator), for walk boxes.
_M_PER_DEG = 111_320.0


def _walk_boxes(
    scenario: Scenario, facilities: pd.DataFrame, margin_m: float
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Usable facility rows with coordinates, their points and the degrees their walks span.

    Returns
    -------
    rows, points, pads
        The rows; ``(lon, lat)`` per row; ``(dlon, dlat)`` per row: the largest band's
        walk plus `margin_m` in degrees, longitude at the row's own latitude.
    """
    lon = facilities["lon"].to_numpy(dtype=float)
    lat = facilities["lat"].to_numpy(dtype=float)
    keep = facilities["usable"].to_numpy(dtype=bool) & np.isfinite(lon) & np.isfinite(lat)
    pad = max(scenario.bands_min) * scenario.metres_per_minute + margin_m
    dlat = np.full(int(keep.sum()), pad / _M_PER_DEG)
    dlon = pad / (_M_PER_DEG * np.cos(np.radians(lat[keep])))
    return facilities[keep], np.stack([lon[keep], lat[keep]]), np.stack([dlon, dlat])


def walk_bbox(
    scenario: Scenario, facilities: pd.DataFrame, margin_m: float
) -> tuple[float, float, float, float] | None:
    """The usable facilities' extent grown by the largest band's walk and `margin_m`.

    Joined with ``study_bbox``; (west, south, east, north) in WGS-84 degrees, or None when
    no facility has usable coordinates. A walk is never shorter than the straight line, so
    every street a facility reaches within the largest band lies inside.
    """
    rows, (lon, lat), (dlon, dlat) = _walk_boxes(scenario, facilities, margin_m)
    if not len(rows):
        return None
    w, s = (lon - dlon).min(), (lat - dlat).min()
    e, n = (lon + dlon).max(), (lat + dlat).max()
    if scenario.study_bbox is not None:
        sw, ss, se, sn = scenario.study_bbox
        w, s, e, n = min(w, sw), min(s, ss), max(e, se), max(n, sn)
    return (float(w), float(s), float(e), float(n))


def _wgs84_extent(network: net.StreetNetwork) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) in WGS-84 of every street of `network`, or None."""
    if network.n_edges == 0:
        return None
    x0, y0, x1, y1 = shapely.total_bounds(network.edge_geometry)
    to_wgs84 = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    # edges densified: a line of constant northing curves in longitude/latitude
    w, s, e, n = to_wgs84.transform_bounds(x0, y0, x1, y1, densify_pts=21)
    return (float(w), float(s), float(e), float(n))


def check_download_box(scenario: Scenario, network: net.StreetNetwork | None = None) -> None:
    """Refuse a download that does not hold every walk of this run (clipped circles).

    `planner fetch` downloads the facilities' extent grown by the largest band's walk and a
    margin. Bands, speed, facilities or the study area changed since may need more: the
    run would draw circles cut at the download's edge, so it stops, names the facilities
    (or the study area) whose walks leave the download, and asks for a new fetch. A
    facility farther than the snapping limit from every street of the downloaded `network`
    (the box around them: streets crossing the download's edge are kept whole) is left to
    the run: it snaps to nothing and is reported as too far from the network.

    Parameters
    ----------
    scenario
        A scenario whose network source is ``overpass`` and whose download is intact
        (`verify_fetch_cache`).
    network
        The downloaded network, when loaded (without it, every facility is checked).
    """
    meta = json.loads((scenario.cache_dir / "fetch.json").read_text(encoding="utf-8"))
    box = meta.get("bbox_wgs84")
    if not (isinstance(box, list) and len(box) == 4):
        raise PlannerError(
            _(
                "the download of {scenario_name!r} does not say which area it covers "
                "({meta}, from an older planner); run `planner fetch {scenario_name}` again"
            ).format(scenario_name=scenario.name, meta=scenario.cache_dir / "fetch.json")
        )
    usable, (lon, lat), (dlon, dlat) = _walk_boxes(scenario, load_facilities(scenario), 0.0)
    if not len(usable):
        return  # no usable facility: the run says so itself
    w, s, e, n = (float(v) for v in box)
    eps = 1e-9
    leaves = (
        (lon - dlon < w - eps)
        | (lon + dlon > e + eps)
        | (lat - dlat < s - eps)
        | (lat + dlat > n + eps)
    )
    streets = _wgs84_extent(network) if network is not None else None
    if streets is not None:  # a facility that can snap to no street: the run reports it
        sw, ss, se, sn = streets
        off_x = np.maximum(np.maximum(sw - lon, lon - se), 0.0) * _M_PER_DEG
        off_x *= np.cos(np.radians(lat))
        off_y = np.maximum(np.maximum(ss - lat, lat - sn), 0.0) * _M_PER_DEG
        leaves &= np.hypot(off_x, off_y) <= scenario.snap_limit_m
    names = [
        _("facility {id} (row {row})").format(id=json.dumps(str(i), ensure_ascii=False), row=r)
        for i, r in zip(usable.loc[leaves, "id"], usable.loc[leaves, "row"], strict=True)
    ]
    if scenario.study_bbox is not None:
        bw, bs, be, bn = scenario.study_bbox
        if bw < w - eps or bs < s - eps or be > e + eps or bn > n + eps:
            names.insert(0, _("study_bbox"))
    if not names:
        return
    more = len(names) - 3
    raise PlannerError(
        _(
            "the downloaded street network of {scenario_name!r} covers [{box}] (west, south, "
            "east, north), but the walks of this run ({minutes:g} min at {speed:g} km/h) "
            "leave it from {what}: its circles would be cut at the edge; run `planner fetch "
            "{scenario_name}` again"
        ).format(
            scenario_name=scenario.name,
            box=", ".join(f"{v:.5f}" for v in (w, s, e, n)),
            minutes=max(scenario.bands_min),
            speed=scenario.speed_kmh,
            what="; ".join(names[:3])
            + (_(" and {count} more").format(count=more) if more > 0 else ""),
        )
    )


def fetched_date(scenario: Scenario) -> str:
    """The date (UTC) Overpass gave a fetched scenario's data, from ``fetch.json``; or "".

    Parameters
    ----------
    scenario
        A scenario whose network source is ``overpass``.
    """
    try:
        meta = json.loads((scenario.cache_dir / "fetch.json").read_text(encoding="utf-8"))
        return datetime.fromisoformat(meta["downloaded_utc"]).date().isoformat()
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def describe_network(network: net.StreetNetwork) -> str:
    """One line on the routed network and the disconnected pieces left out."""
    text = _("network: {nodes:,} nodes, {edges:,} street segments").format(
        nodes=network.n_nodes, edges=network.n_edges
    )
    dropped = network.components.dropped if network.components else None
    if dropped is not None and len(dropped):
        names = "、".join(n for n in dropped["names"] if n)[:120]
        text += _(
            "; left out {count} disconnected pieces ({nodes} nodes{names}; see summary.json)"
        ).format(
            count=len(dropped),
            nodes=int(dropped["nodes"].sum()),
            names=_(": {names}").format(names=names) if names else "",
        )
    return text


def read_source(
    src: PointSource,
    *,
    id_prefix: str,
    study_bbox: tuple[float, float, float, float] | None = None,
    allow_repeated_ids: bool = False,
) -> pd.DataFrame:
    """Read a scenario's table of points (facilities, merchants, origins) with row statuses.

    Parameters
    ----------
    src
        The table and how to read it (path, CRS, columns, sheet, layer).
    id_prefix
        Prefix of the ids made up for rows without one.
    study_bbox
        Rows outside it get ``outside_study_area``.
    allow_repeated_ids
        Repeated ids are entrances of one facility (facilities only).

    Returns
    -------
    table
        The `planner.read_points` table; ``attrs`` name the file.
    """
    return readers.read_points(
        src.path,
        crs=src.crs,
        columns=src.columns or None,
        study_bbox=study_bbox,
        id_prefix=id_prefix,
        sheet=src.sheet,
        layer=src.layer,
        allow_repeated_ids=allow_repeated_ids,
    )


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
        raise PlannerError(
            _("scenario {scenario_name!r} names no facilities file").format(
                scenario_name=scenario.name
            )
        )
    facilities = read_source(src, id_prefix="facility", allow_repeated_ids=True)
    if facilities.empty:
        raise PlannerError(
            _(
                "{file}: the file has a header but no data rows, so there are no "
                "facilities to plan from"
            ).format(file=facilities.attrs[readers.ATTR_SOURCE])
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
        a header but no data rows), see `planner.Result.problems`.
    """
    frames = []
    if scenario.pois is not None:
        src = scenario.pois
        frames.append(read_source(src, id_prefix="poi", study_bbox=scenario.study_bbox))
    if scenario.pois_from_osm:
        graphml = scenario.network_path is not None and scenario.network_source == "graphml"
        if scenario.network_source == "overpass" or graphml:
            # a GraphML network holds no merchants: `planner fetch` writes them beside it
            features_path = network_cache_paths(scenario)[1]
            if graphml:
                assert scenario.network_path is not None
                features_path = scenario.network_path.with_name(features_path.name)
            if not features_path.is_file() and scenario.pois is None:
                raise PlannerError(
                    _(
                        "scenario {scenario_name!r} takes merchants from OSM ([pois] from_osm "
                        "= true), but the network {network} is a GraphML file, which holds "
                        "none, and there is no {features} beside it (as `planner fetch` "
                        "writes it); give [pois] path, or from_osm = false, or an OSM file"
                    ).format(
                        scenario_name=scenario.name,
                        network=scenario.network_path,
                        features=features_path.name,
                    )
                )
            if features_path.is_file():  # else: the merchants table alone, as before
                frames.append(
                    osm_pois.features_to_pois(
                        osm_pois.load_features(features_path), scenario.study_bbox
                    )
                )
        elif scenario.network_source == "pbf":
            frames.append(_cache.load_pois_cached(pbf_cut(scenario), scenario.study_bbox))
        elif scenario.network_path is not None:
            frames.append(_cache.load_pois_cached(scenario.network_path, scenario.study_bbox))
    if not frames:
        raise PlannerError(
            _("scenario {scenario_name!r} has no POIs (no [pois] path, no OSM POIs)").format(
                scenario_name=scenario.name
            )
        )
    return readers.combine_sources(frames)

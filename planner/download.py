"""Download and cache a scenario's walk network and OSM merchants (Overpass)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from pathlib import Path

from planner import _cache, _osm, io
from planner import network as net
from planner import pois as osm_pois
from planner._errors import NetworkUnavailableError, PlannerError
from planner._i18n import _
from planner._types import Progress, quiet
from planner.inputs import load_facilities, network_cache_paths, walk_bbox
from planner.scenario import Scenario

__all__ = ["download_bbox", "fetch", "osmnx_answers"]

#: The name of an answer in osmnx's HTTP cache: the SHA-1 of the request's URL, in hex.
_ANSWER = re.compile(r"[0-9a-f]{40}\.json")


def download_bbox(scenario: Scenario) -> tuple[float, float, float, float]:
    """Area to download: facilities' extent + the largest band's walk + a margin.

    The margin is ``download_margin_m``, or the snapping limit when that is larger (as the
    PBF cut's), so a point near the edge still finds the street it would snap to.

    Parameters
    ----------
    scenario
        A scenario with a facilities file.

    Returns
    -------
    bbox
        (west, south, east, north) WGS-84 degrees.
    """
    margin = max(scenario.download_margin_m, scenario.snap_limit_m)
    box = walk_bbox(scenario, load_facilities(scenario), margin)
    if box is None:
        where = scenario.facilities.path if scenario.facilities else scenario.name
        raise PlannerError(_("{where}: no usable facility coordinates").format(where=where))
    return box


def fetch(
    scenario: Scenario, progress: Progress = quiet, overpass_url: str | None = None
) -> dict[str, Path]:
    """Download and cache a scenario's walk network and POIs with osmnx (Overpass).

    Nothing is written unless both downloads succeed; files are renamed into place.
    osmnx's answers stay in its HTTP cache (``<scenario cache>/http``) only until a fetch
    succeeds: a retry after a failure reuses them, and the next fetch asks Overpass again.
    ``fetch.json`` dates the data by the oldest answer used (`planner.inputs.fetched_date`).

    Parameters
    ----------
    scenario
        The scenario.
    progress
        Callback receiving step names.
    overpass_url
        The Overpass API to ask (a mirror, or one on an intranet); default
        ``$PLANNER_OVERPASS_URL``, else osmnx's (``https://overpass-api.de/api``). Noted in
        ``fetch.json``.

    Returns
    -------
    files
        ``network`` (GraphML), ``pois`` (GeoJSON) and ``meta`` (JSON) paths.
    """
    if scenario.network_source != "overpass":
        raise PlannerError(
            _(
                "scenario {scenario_name!r} reads its street network from {path} ([network] "
                'source = "{source}"): `planner fetch` is only for scenarios with source = '
                '"overpass"'
            ).format(
                scenario_name=scenario.name,
                path=scenario.network_path,
                source=scenario.network_source,
            )
        )
    bbox = download_bbox(scenario)
    graphml, features_path = network_cache_paths(scenario)
    http_cache = scenario.cache_dir / "http"
    shown = "(" + ", ".join(f"{v:.5f}" for v in bbox) + ")"  # about a metre
    progress(_("downloading the walk network for bbox {bbox} from Overpass").format(bbox=shown))
    G = net.graph_from_overpass(bbox, http_cache, progress, overpass_url)
    if len(G) == 0:
        raise NetworkUnavailableError(
            _("Overpass returned no walkable streets in {bbox}").format(bbox=shown)
        )
    progress(_("downloading merchants and service points from Overpass"))
    features = osm_pois.pois_from_overpass(bbox, http_cache, progress, overpass_url)
    if len(features) == 0:
        progress(
            _(
                "warning: Overpass has no merchants or service points in {bbox}; if the area "
                "has shops, fetch again later"
            ).format(bbox=shown)
        )
    scenario.cache_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "network": net.save_graph(G, graphml),
        "pois": osm_pois.save_features(features, features_path),
    }
    # osmnx's answers in the HTTP cache: this fetch's, and any kept from an attempt that
    # failed since the last fetch that succeeded (its retry reuses them)
    answers = osmnx_answers(http_cache)
    obtained = min((p.stat().st_mtime for p in answers), default=time.time())
    meta = {
        "sha256": {p.name: _cache.file_sha256(p) for p in (files["network"], files["pois"])},
        "bbox_wgs84": list(bbox),
        # when Overpass gave the oldest answer used: the date of the data
        "downloaded_utc": datetime.fromtimestamp(obtained, timezone.utc).isoformat(
            timespec="seconds"
        ),
        "nodes": len(G),
        "edges": G.number_of_edges(),
        "features": len(features),
        "attribution": "© OpenStreetMap contributors, ODbL 1.0",
        "overpass_url": _osm.overpass_url(overpass_url),
    }
    files["meta"] = io.write_json(meta, scenario.cache_dir / "fetch.json")
    # their content is in the files now: the next fetch asks Overpass again, not the cache
    for path in answers:
        path.unlink(missing_ok=True)
    return files


def osmnx_answers(http_cache: Path) -> list[Path]:
    """Overpass answers osmnx cached in `http_cache` (its files ``<sha1 of the URL>.json``).

    Parameters
    ----------
    http_cache
        The HTTP cache folder `fetch` gives osmnx (``<scenario cache>/http``).

    Returns
    -------
    answers
        The cached answers; nothing else in the folder.
    """
    if not http_cache.is_dir():
        return []
    return sorted(p for p in http_cache.iterdir() if p.is_file() and _ANSWER.fullmatch(p.name))

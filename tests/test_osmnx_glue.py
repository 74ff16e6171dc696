"""The planner's contract with osmnx: settings put back after use, the walk filter in step."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import osmnx as ox
import pytest

from planner import network as net
from planner import pois
from planner._errors import NetworkUnavailableError
from planner._osm import osmnx_settings

BBOX = (113.93, 22.54, 113.96, 22.56)


@pytest.fixture
def sentinels(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Give the settings the planner touches recognisable values (monkeypatch restores them)."""
    values: dict[str, object] = {
        "use_cache": "sentinel-use-cache",
        "cache_folder": "sentinel-cache-folder",
        "useful_tags_way": ["sentinel-tag"],
    }
    for name, value in values.items():
        monkeypatch.setattr(ox.settings, name, value)
    return values


def _assert_restored(values: dict[str, object]) -> None:
    for name, value in values.items():
        assert getattr(ox.settings, name) is value, name


@pytest.mark.parametrize("failure", [ConnectionError("offline"), ValueError("no data")])
@pytest.mark.usefixtures("overpass_up")
def test_graph_download_restores_settings_on_error(
    sentinels: dict[str, object],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    failure: Exception,
) -> None:
    seen = {}

    def fail(bbox: object, **kwargs: object) -> None:
        seen.update(
            use_cache=ox.settings.use_cache,
            cache_folder=ox.settings.cache_folder,
            tags=list(ox.settings.useful_tags_way),
        )
        raise failure

    monkeypatch.setattr(ox, "graph_from_bbox", fail)
    with pytest.raises(NetworkUnavailableError):
        net.graph_from_overpass(BBOX, tmp_path / "http")
    assert seen["use_cache"] is True and seen["cache_folder"] == str(tmp_path / "http")
    assert seen["tags"][0] == "sentinel-tag" and "sidewalk" in seen["tags"]
    _assert_restored(sentinels)


@pytest.mark.usefixtures("overpass_up")
def test_graph_download_restores_settings_on_success(
    sentinels: dict[str, object], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ox, "graph_from_bbox", lambda bbox, **kw: "G")
    assert net.graph_from_overpass(BBOX, tmp_path) == "G"
    _assert_restored(sentinels)


@pytest.mark.parametrize("outcome", ["error", "empty", "ok"])
@pytest.mark.usefixtures("overpass_up")
def test_pois_download_restores_settings(
    sentinels: dict[str, object], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, outcome: str
) -> None:
    def fake(bbox: object, tags: object) -> gpd.GeoDataFrame:
        assert ox.settings.use_cache is True
        assert ox.settings.cache_folder == str(tmp_path)
        if outcome == "error":
            raise TimeoutError("read timed out")
        if outcome == "empty":
            raise ox._errors.InsufficientResponseError("nothing")
        return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")

    monkeypatch.setattr(ox, "features_from_bbox", fake)
    if outcome == "error":
        with pytest.raises(NetworkUnavailableError):
            pois.pois_from_overpass(BBOX, tmp_path)
    else:
        assert pois.pois_from_overpass(BBOX, tmp_path).empty
    _assert_restored(sentinels)


def test_osm_xml_load_restores_tags(sentinels: dict[str, object], tmp_path: Path) -> None:
    bad = tmp_path / "bad.osm"
    bad.write_text("<osm><way id='1'>", encoding="utf-8")
    with pytest.raises(Exception, match="cannot read OSM XML"):
        net.graph_from_osm_xml(bad)
    _assert_restored(sentinels)


def test_osmnx_settings_helper(sentinels: dict[str, object]) -> None:
    with pytest.raises(RuntimeError), osmnx_settings(use_cache=False, cache_folder="x"):
        assert ox.settings.use_cache is False and ox.settings.cache_folder == "x"
        raise RuntimeError("inside")
    _assert_restored(sentinels)
    with (
        pytest.raises(AttributeError, match="not_a_setting"),
        osmnx_settings(use_cache=False, not_a_setting=1),
    ):
        pass  # pragma: no cover - never entered
    _assert_restored(sentinels)


# ----------------------------------------------------------------- the walk filter
_CLAUSE = re.compile(r'\["((?:[^"\\]|\\.)*)"(?:(!~|~|!=|=)"((?:[^"\\]|\\.)*)")?\]')


def parse_overpass_filter(text: str) -> list[tuple[str, str | None, str | None]]:
    """Split an Overpass QL tag filter into (tag, operator, value) clauses, all of it.

    Parameters
    ----------
    text
        A filter such as ``["highway"]["area"!~"yes"]``.

    Returns
    -------
    clauses
        One triple per ``[...]``; operator and value are None for a bare ``["tag"]``.
    """
    clauses = []
    pos = 0
    while pos < len(text):
        m = _CLAUSE.match(text, pos)
        if m is None:
            raise ValueError(f"cannot parse Overpass filter at {text[pos : pos + 40]!r}")
        clauses.append((m[1], m[2], m[3]))
        pos = m.end()
    return clauses


def osmnx_walk_filter() -> str:
    """osmnx's own Overpass filter for ``network_type="walk"`` (a private function)."""
    get = getattr(ox._overpass, "_get_network_filter", None)
    if get is None:  # pragma: no cover - tells the maintainer where to look
        pytest.fail(
            "osmnx._overpass._get_network_filter is gone: find where this osmnx version builds "
            "its 'walk' filter and update this test and planner.network.WALK_EXCLUDE"
        )
    return get("walk")


def test_parser_reads_every_clause() -> None:
    text = '["highway"]["area"!~"yes"]["name"="a\\"b"]'
    assert parse_overpass_filter(text) == [
        ("highway", None, None),
        ("area", "!~", "yes"),
        ("name", "=", 'a\\"b'),
    ]
    with pytest.raises(ValueError, match="cannot parse"):
        parse_overpass_filter('["highway"]junk')


def test_walk_exclude_matches_osmnx_walk_filter() -> None:
    """WALK_EXCLUDE is a copy of osmnx's walk filter: this fails when osmnx changes it."""
    clauses = parse_overpass_filter(osmnx_walk_filter())
    assert clauses[0] == ("highway", None, None), "the walk network is ways with a highway tag"
    rest = clauses[1:]
    assert all(op == "!~" for _, op, _ in rest), f"osmnx's walk filter now uses {rest}"
    assert [(tag, value) for tag, _, value in rest] == list(net.WALK_EXCLUDE)


@pytest.mark.parametrize(
    ("tags", "walkable"),
    [
        ({"highway": "footway"}, True),
        ({"highway": "residential", "sidewalk": "both"}, True),
        ({"highway": "cycleway"}, False),
        ({"highway": "motorway_link"}, False),  # "motor" is a regex search, as in Overpass
        ({"highway": "footway", "access": "private"}, False),
        ({"highway": "service", "service": "private"}, False),
        ({"highway": "primary", "sidewalk:left": "separate"}, False),
        ({"highway": "path", "foot": "no"}, False),
        ({"building": "yes"}, False),
    ],
)
def test_is_walkable_follows_overpass_semantics(tags: dict[str, str], walkable: bool) -> None:
    assert net.is_walkable(tags) is walkable

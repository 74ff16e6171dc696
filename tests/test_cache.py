"""The StreetNetwork array cache: round trip, stale keys, damaged files, warm loads."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner import _cache, _osmread, _paths
from planner import network as net
from planner import pois as osm_pois
from planner.scenario import DATA_DIR
from tests.handmade import assert_same_network, make_routable_network

SAMPLE_OSM = (
    Path(__file__).parent.parent / "data" / "sample" / "shenzhen_nanshan_science_park_2021-03.osm"
)


@pytest.fixture(scope="module")
def built() -> net.StreetNetwork:
    """The sample network built the slow way (parsing the OSM file), once."""
    return net.build_network(net.load_graph(SAMPLE_OSM))


@pytest.fixture(scope="module")
def small() -> net.StreetNetwork:
    """A hand-made network with a curved street, a Chinese name and two dropped pieces.

    The cache tests that only need *a* network (stale keys, damaged files) use it, with
    the parse of the OSM file replaced by returning it.
    """
    nodes = {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (100, 80), 7: (500, 500), 8: (560, 500)}
    nodes |= {9: (900, 0), 10: (900, 40)}
    edges = [(0, 1), (1, 2), (1, 3, [(100, 0), (130, 40), (100, 80)]), (2, 3), (7, 8), (9, 10)]
    network = make_routable_network(nodes, edges)
    network.edge_name[0] = "深南大道/Shennan Blvd"
    return network


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A private copy of the sample OSM file (so edits never touch the repository)."""
    dst = tmp_path / "src" / SAMPLE_OSM.name
    dst.parent.mkdir()
    shutil.copyfile(SAMPLE_OSM, dst)
    return dst


@pytest.fixture
def cached_source(source: Path, small: net.StreetNetwork) -> Path:
    """`source` with a valid cache file already written (of the hand-made network)."""
    _cache.write_cache(small, _cache.cache_key(source), _cache.cache_path(source))
    return source


def _forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network file was parsed")

    monkeypatch.setattr(net, "load_graph", boom)
    monkeypatch.setattr(net, "graph_from_osm_xml", boom)
    monkeypatch.setattr(_osmread, "read_osm", boom)


def _count_parses(monkeypatch: pytest.MonkeyPatch, network: net.StreetNetwork) -> list[Path]:
    """Replace parsing by returning `network`; the list records each file "parsed"."""
    calls: list[Path] = []

    def fake_load(path: Path) -> str:
        calls.append(Path(path))
        return "G"

    def fake_read(path: Path) -> _osmread.OsmData:  # an OSM file: read in one pass
        calls.append(Path(path))
        return _osmread.OsmData(network=network, pois=osm_pois.poi_records(None))

    monkeypatch.setattr(net, "load_graph", fake_load)
    monkeypatch.setattr(net, "build_network", lambda graph: network)
    monkeypatch.setattr(_osmread, "read_osm", fake_read)
    return calls


def test_round_trip_equal(small: net.StreetNetwork, tmp_path: Path) -> None:
    assert len(small.components.dropped) == 2
    assert set(small.dropped_piece) == {0, 1}
    key = {"k": 1}
    path = _cache.write_cache(small, key, tmp_path / "n.npz")
    assert_same_network(small, _cache.read_cache(path, key))


@pytest.mark.slow
def test_round_trip_equal_on_the_sample(built: net.StreetNetwork, tmp_path: Path) -> None:
    assert len(built.components.dropped) > 0
    assert set(built.dropped_piece) == set(range(len(built.components.dropped)))
    key = {"k": 1}
    path = _cache.write_cache(built, key, tmp_path / "n.npz")
    assert_same_network(built, _cache.read_cache(path, key))


def test_round_trip_unicode_and_no_components(small: net.StreetNetwork, tmp_path: Path) -> None:
    from dataclasses import replace

    names = small.edge_name.copy()
    names[0] = "深南大道/Shennan Blvd 🚶"
    names[1] = ""
    odd = replace(small, edge_name=names, components=None)
    path = _cache.write_cache(odd, {"k": 1}, tmp_path / "n.npz")
    back = _cache.read_cache(path, {"k": 1})
    assert list(back.edge_name) == list(names)
    assert back.components is None


def test_cold_load_writes_cache_and_warm_load_does_not_parse(
    source: Path, small: net.StreetNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        calls = _count_parses(m, small)
        first = _cache.load_network_cached(source)
        assert calls == [source]
    target = _cache.cache_path(source)
    assert target.parent == _paths.user_cache_dir() / "networks"
    assert target.name.startswith(source.name) and target.name.endswith(".planner-cache.npz")
    assert target.is_file()
    assert sorted(p.name for p in source.parent.iterdir()) == [source.name]  # nothing beside it
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]
    _forbid_parsing(monkeypatch)
    assert_same_network(first, _cache.load_network_cached(source))


@pytest.mark.slow
def test_real_cold_then_warm(source: Path, built: net.StreetNetwork, tmp_path: Path) -> None:
    cold = _cache.load_network_cached(source, tmp_path / "cache")
    assert_same_network(built, cold)
    warm = _cache.load_network_cached(source, tmp_path / "cache")
    assert_same_network(built, warm)


def test_changed_source_rebuilds(
    cached_source: Path, small: net.StreetNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    with cached_source.open("ab") as fh:
        fh.write(b"\n<!-- edited -->\n")
    calls = _count_parses(monkeypatch, small)
    _cache.load_network_cached(cached_source)
    assert calls == [cached_source]
    stored = np.load(_cache.cache_path(cached_source))["key"].tobytes().decode()
    assert json.loads(stored) == _cache.cache_key(cached_source)


@pytest.mark.parametrize("field", ["format", "osmnx", "planner", "code"])
def test_stale_version_rebuilds(
    cached_source: Path, small: net.StreetNetwork, monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    """Another cache format, osmnx, planner version or planner code (an edited network build
    under the same version number) parses the file again."""
    if field == "format":
        monkeypatch.setattr(_cache, "CACHE_FORMAT_VERSION", _cache.CACHE_FORMAT_VERSION + 1)
    elif field == "osmnx":
        monkeypatch.setattr(_cache, "osmnx_version", lambda: "0.0.0-other")
    elif field == "planner":
        monkeypatch.setattr(_cache, "planner_version", lambda: "0.0.0-other")
    else:
        monkeypatch.setattr(_paths, "code_digest", lambda: "an edited planner")
    calls = _count_parses(monkeypatch, small)
    _cache.load_network_cached(cached_source)
    assert calls == [cached_source]


def test_truncated_cache_rebuilds(
    cached_source: Path, small: net.StreetNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _cache.cache_path(cached_source)
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    calls = _count_parses(monkeypatch, small)
    assert_same_network(small, _cache.load_network_cached(cached_source))
    assert calls == [cached_source]
    assert _cache.read_cache(target, _cache.cache_key(cached_source)) is not None


def _member_end(path: Path, member: str) -> int:
    """Offset of the last byte of `member`'s stored data inside the ``.npz`` (zip) file."""
    data = path.read_bytes()
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    start = info.header_offset
    name_len = int.from_bytes(data[start + 26 : start + 28], "little")
    extra_len = int.from_bytes(data[start + 28 : start + 30], "little")
    return start + 30 + name_len + extra_len + info.compress_size - 1


@pytest.mark.parametrize(
    "member", ["edge_length", "geom_coords", "name_bytes", "name_codes", "components"]
)
def test_flipped_byte_rebuilds(
    cached_source: Path, small: net.StreetNetwork, monkeypatch: pytest.MonkeyPatch, member: str
) -> None:
    """A flipped byte in an array's content (not in zip metadata) is caught."""
    target = _cache.cache_path(cached_source)
    data = bytearray(target.read_bytes())
    data[_member_end(target, f"{member}.npy")] ^= 0xFF
    target.write_bytes(bytes(data))
    calls = _count_parses(monkeypatch, small)
    _cache.load_network_cached(cached_source)
    assert calls == [cached_source]


def test_tampered_array_fails_checksum(small: net.StreetNetwork, tmp_path: Path) -> None:
    arrays = _cache.network_to_arrays(small, {"k": 1})
    arrays["edge_length"] = arrays["edge_length"].copy()
    arrays["edge_length"][0] += 1.0  # a valid zip whose content no longer matches
    path = tmp_path / "n.npz"
    np.savez(path, **arrays)
    assert _cache.read_cache(path, {"k": 1}) is None


def test_garbage_file_rebuilds(
    source: Path, small: net.StreetNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _cache.cache_path(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"not a zip")
    calls = _count_parses(monkeypatch, small)
    _cache.load_network_cached(source)
    assert calls == [source]


def test_unwritable_cache_dir_still_loads(
    source: Path, small: net.StreetNetwork, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    _count_parses(monkeypatch, small)
    assert _cache.load_network_cached(source, blocker / "cache") is small


def test_cache_goes_to_planner_cache_dir(
    source: Path, small: net.StreetNetwork, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "mine"))
    _count_parses(monkeypatch, small)
    _cache.load_network_cached(source)
    (target,) = (tmp_path / "mine" / "networks").iterdir()
    assert target == _cache.cache_path(source)
    assert _cache.read_cache(target, _cache.cache_key(source)) is not None


def test_default_cache_is_the_platform_user_cache(
    source: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import platformdirs

    monkeypatch.delenv("PLANNER_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # honoured on Linux
    expected = Path(platformdirs.user_cache_dir("liusha-planner", appauthor=False))
    assert _paths.user_cache_dir() == expected
    assert _cache.cache_path(source).parent == expected / "networks"


def test_same_named_files_get_separate_caches(source: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / source.name
    other.parent.mkdir()
    shutil.copyfile(source, other)
    assert _cache.cache_path(source) != _cache.cache_path(other)
    assert _cache.cache_path(source).parent == _cache.cache_path(other).parent


def test_osmnx_version_from_metadata() -> None:
    import osmnx as ox

    assert _cache.osmnx_version() == ox.__version__


@pytest.mark.slow
def test_cold_and_cached_runs_write_the_same_summary(tmp_path):
    """A run that parses the OSM file and one that loads the array cache describe the
    network identically (the CRS used to come back as WKT from the cache)."""
    from planner import inputs
    from planner.pipeline import summary_inputs
    from planner.result import Provenance, Settings
    from planner.scenario import load_scenario

    osm = tmp_path / "net.osm"
    shutil.copy(DATA_DIR / "sample" / "shenzhen_nanshan_science_park_2021-03.osm", osm)
    sc = load_scenario("sample").with_overrides(network_path=osm)
    cold = inputs.load_network(sc)
    warm = inputs.load_network(sc)
    rows = pd.DataFrame({"id": [1]})
    cold_inputs = summary_inputs(Settings(), Provenance(), cold, rows, rows)
    assert cold_inputs == summary_inputs(Settings(), Provenance(), warm, rows, rows)
    assert cold_inputs["network_crs"] == "EPSG:32649"


def test_coded_strings_round_trip_repeats_and_odd_values() -> None:
    """Each distinct text stored once with a code per value; read back as `str(v)` of each."""
    values = np.array(
        ["中山路", "", None, "中山路", 7, "a\x00", "a", "中山路", float("nan")], object
    )
    codes, data, offsets = _cache._encode_coded(values)
    assert len(codes) == len(values) and len(offsets) - 1 == len(set(map(str, values)))
    back = _cache._decode_coded(codes, data, offsets)
    assert back.dtype == object and back.tolist() == [str(v) for v in values]
    empty = _cache._decode_coded(*_cache._encode_coded(np.array([], dtype=object)))
    assert empty.dtype == object and len(empty) == 0


@pytest.mark.parametrize("code", [-1, 99])
def test_coded_strings_out_of_range_code_is_refused(code: int) -> None:
    codes, data, offsets = _cache._encode_coded(np.array(["x", "y"], dtype=object))
    codes[1] = code  # -1 would otherwise read the last text quietly
    with pytest.raises(ValueError, match="out of range"):
        _cache._decode_coded(codes, data, offsets)


def test_cache_of_the_previous_format_is_stale_not_damaged(
    cached_source: Path,
    small: net.StreetNetwork,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A version-3 cache (names one by one, no code arrays) is rebuilt as stale, quietly."""
    target = _cache.cache_path(cached_source)
    arrays = dict(np.load(target))
    key = json.loads(arrays["key"].tobytes().decode()) | {"format": 3}
    arrays["key"] = np.frombuffer(json.dumps(key, sort_keys=True).encode(), dtype=np.uint8)
    for column in ("name", "highway"):
        del arrays[f"{column}_codes"]
    np.savez(target, **arrays)
    calls = _count_parses(monkeypatch, small)
    with caplog.at_level("INFO", logger="planner._cache"):
        assert_same_network(small, _cache.load_network_cached(cached_source))
    assert calls == [cached_source]
    assert "is stale" in caplog.text and "unreadable" not in caplog.text


def test_an_edited_planner_does_not_reuse_the_poi_cache(tmp_path: Path, monkeypatch) -> None:
    """The POI records are rebuilt by an edited planner (same version, other code)."""
    osm = tmp_path / "sample.osm"
    shutil.copyfile(DATA_DIR / "sample" / "shenzhen_nanshan_science_park_2021-03.osm", osm)
    _cache.load_pois_cached(osm, cache_dir=tmp_path / "c")
    key = _cache.poi_cache_key(osm)
    assert _cache.read_poi_cache(_cache.poi_cache_path(osm, tmp_path / "c"), key) is not None
    monkeypatch.setattr(_paths, "code_digest", lambda: "an edited planner")
    edited_key = _cache.poi_cache_key(osm)
    assert edited_key != key
    assert _cache.read_poi_cache(_cache.poi_cache_path(osm, tmp_path / "c"), edited_key) is None


def test_code_digest_covers_the_compiled_translations() -> None:
    """An updated translation (.mo) is code: carried files and caches are made again."""
    assert ".mo" in _paths.CODE_SUFFIXES
    assert any((_paths.PACKAGE_DIR / "locale").rglob("*.mo"))

"""Band polygons reused from the user cache: the same polygons, drawn only when needed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from planner import _polycache, pipeline
from planner import isochrones as iso
from planner.scenario import load_scenario
from tests.scenarios import sample_reach


@pytest.fixture(scope="module")
def sample():
    """The sample's network, facility reach and bands (6 facilities)."""
    return sample_reach()


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A fresh user cache; polygons drawn by threads in this process, counted."""
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(iso, "POLYGON_CACHE", True)
    monkeypatch.setattr(iso, "POLYGON_PROCESS_MIN_FACILITIES", 10**9)
    return tmp_path / "cache" / "polygons"


@pytest.fixture
def drawn(monkeypatch):
    """The facilities drawn (not taken from the cache), call after call."""
    calls: list[int] = []
    real = iso._grid_drawer

    def counting(*args, **kwargs):
        draw = real(*args, **kwargs)

        def spied(i):
            calls.append(i)
            return draw(i)

        return spied

    monkeypatch.setattr(iso, "_grid_drawer", counting)
    return calls


def _draw(sample, **kwargs):
    network, node, sources, bands = sample
    return iso.isochrones(network, node, sources, bands, method="grid", **kwargs)


def _wkb(frame):
    return shapely.to_wkb(frame.geometry.to_numpy()).tolist()


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("??/*.wkb"))


def test_a_second_drawing_comes_from_the_cache_bit_for_bit(sample, cache_dir, drawn):
    first = _draw(sample)
    n = len(sample[1].facilities)
    assert sorted(drawn) == list(range(n)) and len(_entries(cache_dir)) == n
    drawn.clear()
    second = _draw(sample)
    assert drawn == []  # nothing drawn again
    pd.testing.assert_frame_equal(second.drop(columns="geometry"), first.drop(columns="geometry"))
    assert _wkb(second) == _wkb(first)
    uncached = _draw(sample, cache=False)
    assert sorted(drawn) == list(range(n))  # cache=False draws, and stores nothing new
    assert _wkb(uncached) == _wkb(first)
    assert len(_entries(cache_dir)) == n


def test_only_facilities_without_a_whole_entry_are_drawn_again(sample, cache_dir, drawn):
    first = _draw(sample)
    keys = iso._grid_keys(
        iso._grid_segments(
            sample[0],
            iso.band_growth(sample[0], sample[1], sample[2], sorted(sample[3])),
            len(sample[1].facilities),
        ),
        len(sample[3]),
        25.0,
        iso.GRID_CELL_M,
        iso.GRID_SIMPLIFY_M,
    )
    path = {p.stem: p for p in _entries(cache_dir)}
    path[keys[1]].unlink()  # gone
    data = path[keys[4]].read_bytes()
    path[keys[4]].write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit flipped
    path[keys[5]].write_bytes(data[: len(data) // 2])  # cut short
    drawn.clear()
    again = _draw(sample)
    assert sorted(drawn) == [1, 4, 5]
    assert _wkb(again) == _wkb(first)
    assert _polycache.read([keys[1], keys[4], keys[5]]) != [None, None, None]  # stored again
    assert all(found is not None for found in _polycache.read(keys))


def test_other_settings_or_segments_are_other_keys(sample):
    network, node, sources, bands = sample
    growth = iso.band_growth(network, node, sources, sorted(bands))
    segments = iso._grid_segments(network, growth, len(node.facilities))
    base = iso._grid_keys(segments, 3, 25.0, 6.0, 1.5)
    assert len(set(base)) == len(base)  # every facility its own
    for settings in [
        (2, 25.0, 6.0, 1.5),
        (3, 20.0, 6.0, 1.5),
        (3, 25.0, 5.0, 1.5),
        (3, 25.0, 6.0, 0.0),
    ]:
        assert not set(iso._grid_keys(segments, *settings)) & set(base)
    a, b, band, bounds = segments
    moved = a.copy()
    moved[bounds[2]] += np.array([0.0, 1e-9])  # one segment of facility 2, a nanometre
    keys = iso._grid_keys((moved, b, band, bounds), 3, 25.0, 6.0, 1.5)
    assert [k != o for k, o in zip(keys, base, strict=True)] == [i == 2 for i in range(len(base))]


def test_the_key_covers_the_drawing_code_and_libraries():
    salt = _polycache._salt().decode()
    assert hashlib.sha256(Path(iso.__file__).read_bytes()).hexdigest() in salt
    assert shapely.geos_version_string in salt and np.__version__ in salt


def test_a_cache_that_cannot_be_written_is_left_alone(sample, tmp_path, monkeypatch, drawn):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("mine")
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(blocker))
    monkeypatch.setattr(iso, "POLYGON_CACHE", True)
    got = _draw(sample)
    assert len(got) == 3 * len(sample[1].facilities)
    assert blocker.read_text() == "mine"
    assert _wkb(got) == _wkb(_draw(sample, cache=False))


def test_trim_removes_the_least_recently_used_entries_only(tmp_path):
    folder = tmp_path / "polygons"
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(10)]
    for i, k in enumerate(keys):
        assert _polycache.write({k: [b"x" * 1000]}, folder) == 1
        os.utime(_polycache._path(folder, k), (1_000_000 + i, 1_000_000 + i))
    mine = folder / keys[0][:2] / "notes.txt"
    mine.write_text("not the cache's")
    other = folder / "zz-other"
    other.mkdir()
    (other / f"{keys[0]}.wkb").write_bytes(b"not in a cache folder")
    size = _polycache._path(folder, keys[0]).stat().st_size
    _polycache.read([keys[0]], folder)  # used now: the newest
    removed = _polycache.trim(folder, max_bytes=5 * size)
    left = [k for k in keys if _polycache._path(folder, k).exists()]
    assert removed == len(keys) - len(left) and len(left) * size <= 5 * size * _polycache.TRIM_TO
    assert keys[0] in left and left == [keys[0], *keys[10 - len(left) + 1 :]]  # newest kept
    assert mine.read_text() == "not the cache's" and (other / f"{keys[0]}.wkb").exists()
    assert _polycache.trim(folder, max_bytes=10**9) == 0


def test_the_pipeline_takes_the_polygons_of_unchanged_facilities_from_the_cache(cache_dir, drawn):
    scenario = load_scenario("sample")
    first = pipeline.analyse_scenario(scenario)
    assert drawn
    drawn.clear()
    second = pipeline.analyse_scenario(scenario)
    assert drawn == []
    pd.testing.assert_frame_equal(
        second.isochrones.drop(columns="geometry"), first.isochrones.drop(columns="geometry")
    )
    assert _wkb(second.isochrones) == _wkb(first.isochrones)


def test_planner_polygon_cache_0_turns_it_off(sample, cache_dir, drawn, monkeypatch):
    monkeypatch.setenv("PLANNER_POLYGON_CACHE", "0")
    _draw(sample)
    _draw(sample)
    assert len(drawn) == 2 * len(sample[1].facilities) and not cache_dir.exists()
    _draw(sample, cache=True)  # asked for by the caller: used
    assert len(_entries(cache_dir)) == len(sample[1].facilities)

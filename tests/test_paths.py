"""Where bundled scenarios are found and where caches go."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from planner import _paths
from planner.scenario import DATA_DIR, load_scenario

REPO = Path(__file__).resolve().parent.parent


def test_checkout_uses_the_repository_data() -> None:
    assert (REPO / "data" / "sample" / "scenario.toml").is_file()
    assert DATA_DIR == REPO / "data"
    assert not (REPO / "planner" / "_data").exists(), "planner/_data is for built packages only"


def test_installed_package_uses_its_bundled_copy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_paths, "BUNDLED_DATA_DIR", tmp_path / "_data")
    assert _paths.data_dir() == _paths.SOURCE_DATA_DIR
    (tmp_path / "_data").mkdir()
    assert _paths.data_dir() == tmp_path / "_data"


def test_planner_cache_dir_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "c"))
    assert _paths.user_cache_dir() == tmp_path / "c"
    assert _paths.network_cache_dir() == tmp_path / "c" / "networks"
    monkeypatch.setenv("PLANNER_CACHE_DIR", "  ")  # blank means unset
    assert _paths.user_cache_dir() != tmp_path / "c"


def test_tests_never_use_the_real_user_cache() -> None:
    """tests/_plugin_env.py points the cache at a temporary folder for the session."""
    assert os.environ.get("PLANNER_CACHE_DIR")
    assert not _paths.user_cache_dir().is_relative_to(REPO)


def test_bundled_scenario_in_a_checkout_caches_beside_itself() -> None:
    assert load_scenario("liusha").cache_dir == DATA_DIR / "liusha" / "cache"


def test_writable_user_folder_caches_beside_itself(tmp_path: Path) -> None:
    sc = replace(load_scenario("liusha"), folder=tmp_path / "mine")
    (tmp_path / "mine").mkdir()
    assert sc.cache_dir == tmp_path / "mine" / "cache"


def test_unwritable_folder_caches_in_the_user_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    sc = replace(load_scenario("liusha"), folder=folder)
    monkeypatch.setattr(_paths.os, "access", lambda path, mode: False)  # root ignores chmod
    cache = sc.cache_dir
    assert cache.parent == _paths.user_cache_dir() / "scenarios"
    assert cache.name == f"liusha-{_paths.path_digest(folder, 8)}"
    other = replace(sc, folder=tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir()
    assert other.cache_dir != cache  # same name, other folder: never shared


def test_installed_scenarios_cache_in_the_user_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site = tmp_path / "site-packages"
    bundled = site / "planner" / "_data"
    (bundled / "liusha").mkdir(parents=True)
    (site / "other" / "scen").mkdir(parents=True)
    monkeypatch.setattr(_paths, "BUNDLED_DATA_DIR", bundled)
    monkeypatch.setattr(_paths, "installed_roots", lambda: [site])
    sc = load_scenario("liusha")
    assert replace(sc, folder=bundled / "liusha").cache_dir == (
        _paths.user_cache_dir() / "scenarios" / "liusha"
    )
    shipped_elsewhere = replace(sc, folder=site / "other" / "scen").cache_dir
    assert shipped_elsewhere.parent == _paths.user_cache_dir() / "scenarios"
    assert shipped_elsewhere.name.startswith("liusha-")


def test_the_planner_package_itself_counts_as_installed() -> None:
    assert _paths.is_installed_path(_paths.PACKAGE_DIR / "_data" / "x")
    assert not _paths.is_installed_path(REPO / "data" / "sample")

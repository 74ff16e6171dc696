"""The planner command line: exit codes, messages and files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from planner._errors import PlannerError, ScenarioError
from planner.scenario import DATA_DIR, load_scenario, parse_bands


def planner(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "planner", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_run_sample_writes_files_and_reports(tmp_path):
    p = planner("run", "--minutes", "4,8", "--speed-kmh", "5", "--out", "o", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "sample:" in p.stdout and "within 8 min" in p.stdout
    assert "loading the street network" in p.stderr  # progress on the slow steps
    cov = pd.read_csv(tmp_path / "o" / "coverage.csv", encoding="utf-8-sig")
    assert set(cov["band_min"]) <= {4.0, 8.0} and cov["minutes"].max() <= 8 + 1e-6
    # minutes follow the speed given on the command line: 5 km/h = 83.33 m/min
    assert (cov["minutes"] - cov["distance_m"] / (5000 / 60)).abs().max() < 1e-5
    assert (tmp_path / "maps" / "sample.html").is_file()


def test_liusha_without_cache_says_how_to_fetch(tmp_path):
    cache = DATA_DIR / "liusha" / "cache" / "network.graphml"
    if cache.exists():
        pytest.fail(f"{cache} exists: this test needs a clean clone")
    p = planner("run", "liusha", cwd=tmp_path)
    assert p.returncode == 1
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "planner fetch liusha" in last and "--osm" in last
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "nowhere"], "scenario 'nowhere' not found"),
        (["run", "--minutes", "5,x"], "--minutes"),
        (["run", "--minutes", "-5"], "positive"),
        (["run", "--speed-kmh", "80"], "outside 0.5-10 km/h"),
        (["run", "--osm", "missing.osm"], "OSM file not found"),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, args, needle):
    p = planner(*args, cwd=tmp_path)
    assert p.returncode == 1, p.stdout
    assert needle in p.stderr
    assert "Traceback" not in p.stderr


def test_fetch_offline_fails_cleanly_and_writes_nothing(tmp_path, monkeypatch):
    import osmnx as ox

    from planner import download

    def refuse(*a, **k):
        raise ConnectionError("Failed to resolve 'overpass-api.de'")

    monkeypatch.setattr(ox, "graph_from_bbox", refuse)
    sc = load_scenario("liusha")
    from dataclasses import replace

    sc = replace(sc, folder=tmp_path)
    with pytest.raises(Exception, match="could not download the street network"):
        download.fetch(sc)
    assert not (tmp_path / "cache" / "network.graphml").exists()


def test_fetch_caches_then_run_uses_the_cache(tmp_path, monkeypatch):
    """fetch with osmnx replaced by a local OSM file: files land in the cache, run reads them."""
    from dataclasses import replace

    import osmnx as ox

    from planner import download, pipeline, pois
    from planner import network as net

    osm = DATA_DIR / "sample" / "shenzhen_nanshan_science_park_2021-03.osm"
    calls = {}

    def fake_graph(bbox, **kw):
        calls["graph"] = (bbox, kw)
        return net.graph_from_osm_xml(osm)

    def fake_features(bbox, tags):
        calls["features"] = bbox
        return ox.features_from_xml(osm, tags=tags)

    monkeypatch.setattr(ox, "graph_from_bbox", fake_graph)
    monkeypatch.setattr(ox, "features_from_bbox", fake_features)
    sample = load_scenario("sample")
    sc = replace(sample, folder=tmp_path, network_source="overpass", network_path=None)
    files = download.fetch(sc)
    assert calls["graph"][1]["network_type"] == "walk"
    w, _, e, _ = calls["graph"][0]
    # facilities' extent + 15 min at 4.5 km/h (1125 m) + 300 m margin, at least the study box
    assert w < 113.9232 and e > 113.9676
    assert files["network"].is_file() and files["pois"].is_file()
    result = pipeline.run(sc, out_dir=tmp_path / "out", maps_dir=tmp_path / "maps")
    direct = pois.pois_from_osm_xml(osm, sample.study_bbox)
    assert len(result.pois) == len(direct)
    # a damaged cache is refused, not half-read
    graphml = files["network"]
    graphml.write_bytes(graphml.read_bytes()[: graphml.stat().st_size // 2])
    with pytest.raises(PlannerError, match="corrupted"):
        pipeline.run(sc, out_dir=tmp_path / "out2", maps_dir=tmp_path / "maps")
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (
            ConnectionError("Failed to resolve 'overpass-api.de'"),
            "could not download the street network",
        ),
        (TimeoutError("read timed out"), "could not download the street network"),
        ("empty", "Overpass returned no walkable streets"),
    ],
)
def test_fetch_failures_give_one_message_and_no_cache(tmp_path, monkeypatch, failure, message):
    from dataclasses import replace

    import osmnx as ox

    from planner import download

    def fail(*a, **k):
        if failure == "empty":
            raise ox._errors.InsufficientResponseError("No data elements in server response")
        raise failure

    monkeypatch.setattr(ox, "graph_from_bbox", fail)
    sc = replace(load_scenario("liusha"), folder=tmp_path)
    with pytest.raises(PlannerError, match=message):
        download.fetch(sc)
    assert not (tmp_path / "cache" / "network.graphml").exists()


def test_fetch_pois_failure_after_network_leaves_no_partial_cache(tmp_path, monkeypatch):
    from dataclasses import replace

    import osmnx as ox

    from planner import download
    from planner import network as net

    osm = DATA_DIR / "sample" / "shenzhen_nanshan_science_park_2021-03.osm"
    monkeypatch.setattr(ox, "graph_from_bbox", lambda bbox, **kw: net.graph_from_osm_xml(osm))

    def fail(*a, **k):
        raise TimeoutError("read timed out")

    monkeypatch.setattr(ox, "features_from_bbox", fail)
    sc = replace(
        load_scenario("sample"), folder=tmp_path, network_source="overpass", network_path=None
    )
    with pytest.raises(PlannerError, match="could not download POIs"):
        download.fetch(sc)
    assert not (tmp_path / "cache" / "network.graphml").exists()


def test_parse_bands():
    assert parse_bands("15,5,10") == (5.0, 10.0, 15.0)
    assert parse_bands("5，10") == (5.0, 10.0)
    with pytest.raises(ScenarioError):
        parse_bands("5,5")
    with pytest.raises(ScenarioError):
        parse_bands("")


def test_network_of_the_wrong_area_is_refused(tmp_path):
    osm = DATA_DIR / "sample" / "shenzhen_nanshan_science_park_2021-03.osm"
    p = planner("run", "liusha", "--osm", str(osm), "--out", "o", cwd=tmp_path)
    assert p.returncode == 1
    assert "study_bbox [116.1580, 23.2700, 116.2180, 23.3240]" in p.stderr
    assert "does not overlap the street network's extent" in p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "o").exists()
    # with no study_bbox to compare, the facilities far from every street say it
    (tmp_path / "scenario.toml").write_text(
        f'[network]\npath = "{osm.as_posix()}"\n[facilities]\n'
        f'path = "{(DATA_DIR / "liusha" / "facilities.csv").as_posix()}"\ncrs = "GCJ02"\n',
        encoding="utf-8",
    )
    p = planner("run", str(tmp_path), "--out", "o", cwd=tmp_path)
    assert p.returncode == 1
    assert "none of the 5 facilities lies within 300 m" in p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "o").exists()


def test_no_usable_facility_is_one_clear_error(tmp_path):
    (tmp_path / "f.csv").write_text("facility_id,name,lon,lat\nA,x,abc,22.5\nB,y,,\n")
    osm = DATA_DIR / "sample" / "shenzhen_nanshan_science_park_2021-03.osm"
    (tmp_path / "scenario.toml").write_text(
        f'[scenario]\nname = "bad"\n[network]\npath = "{osm}"\n[facilities]\npath = "f.csv"\n'
    )
    p = planner("run", str(tmp_path), "--out", "o", cwd=tmp_path)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert 'no facility row has usable coordinates: f.csv row 2, field "lon"' in p.stderr

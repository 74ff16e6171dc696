"""The planner command line: exit codes, messages and files.

The command runs in-process (``cli`` fixture, typer's CliRunner); one test per kind of
failure also runs it as a real process, where a traceback or a warning would show.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from planner._errors import PlannerError, ScenarioError
from planner.scenario import DATA_DIR, load_scenario, parse_bands

SAMPLE_OSM = DATA_DIR / "sample" / "shenzhen_nanshan_science_park_2021-03.osm"


def error_line(result) -> str:
    """The last stderr line, checked to be the command's one ``error:`` line."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    # everything before it is progress ("· loading ..."), never a second message
    assert all(line.startswith("· ") for line in lines[:-1]), result.stderr
    return lines[-1]


@pytest.fixture
def liusha_copy(tmp_path: Path) -> Path:
    """The liusha scenario without its download cache (whatever this machine has fetched)."""
    folder = tmp_path / "liusha"
    folder.mkdir()
    for name in ("scenario.toml", "facilities.csv"):
        shutil.copy(DATA_DIR / "liusha" / name, folder / name)
    return folder


@pytest.mark.slow
def test_run_sample_writes_files_and_reports(cli, tmp_path):
    r = cli("run", "--minutes", "4,8", "--speed-kmh", "5", "--out", "o")
    assert r.exit_code == 0, r.output
    assert "sample:" in r.stdout and "within 8 min" in r.stdout
    assert "loading the street network" in r.stderr  # progress on the slow steps
    cov = pd.read_csv(tmp_path / "o" / "coverage.csv", encoding="utf-8-sig")
    assert set(cov["band_min"]) <= {4.0, 8.0} and cov["minutes"].max() <= 8 + 1e-6
    # minutes follow the speed given on the command line: 5 km/h = 83.33 m/min
    assert (cov["minutes"] - cov["distance_m"] / (5000 / 60)).abs().max() < 1e-5
    assert (tmp_path / "maps" / "sample.html").is_file()


def test_liusha_without_cache_says_how_to_fetch(cli, liusha_copy):
    last = error_line(cli("run", liusha_copy))
    assert "planner fetch liusha" in last and "--osm" in last
    assert not (liusha_copy / "cache").exists()


@pytest.mark.slow
def test_real_process_reports_a_run_error_in_one_line(liusha_copy, tmp_path):
    """A real process: exit 1, progress then one `error:` line, no traceback, no warning."""
    p = subprocess.run(
        [sys.executable, "-m", "planner", "run", str(liusha_copy)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"},
    )
    assert p.returncode == 1 and p.stdout == "", p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "planner fetch liusha" in lines[-1], p.stderr
    assert all(line.startswith("· ") for line in lines[:-1]), p.stderr
    assert sorted(os.listdir(tmp_path)) == ["liusha"]  # no out/, no maps/


@pytest.mark.slow
def test_real_process_shows_a_python_warning_as_one_line(tmp_path):
    """A warning raised while the command runs is one `warning:` line, no code location."""
    script = (
        "import sys, warnings\n"
        "from planner import cli\n"
        "cli.app.command('warn')(lambda: warnings.warn('something odd', stacklevel=1))\n"
        "sys.argv = ['planner', 'warn']\n"
        "cli.main()\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"},
    )
    assert p.returncode == 0, p.stderr
    assert p.stderr == "warning: something odd\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "nowhere"], "scenario 'nowhere' not found"),
        (["run", "--minutes", "5,x"], "--minutes"),
        (["run", "--minutes", "-5"], "positive"),
        (["run", "--minutes", ""], "--minutes"),
        (["run", "--speed-kmh", "80"], "outside 0.5-10 km/h"),
        (["run", "--osm", "missing.osm"], "OSM file not found"),
    ],
)
def test_user_errors_are_one_line_without_traceback(cli, tmp_path, args, needle):
    assert needle in error_line(cli(*args))
    assert not any(tmp_path.iterdir())


@pytest.mark.usefixtures("overpass_up")
def test_fetch_offline_fails_cleanly_and_writes_nothing(tmp_path, monkeypatch):
    import osmnx as ox

    from planner import download

    def refuse(*a, **k):
        raise ConnectionError("Failed to resolve 'overpass-api.de'")

    monkeypatch.setattr(ox, "graph_from_bbox", refuse)
    sc = load_scenario("liusha")
    from dataclasses import replace

    sc = replace(sc, folder=tmp_path)
    with pytest.raises(PlannerError, match="could not download the street network"):
        download.fetch(sc)
    assert not (tmp_path / "cache" / "network.graphml").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("overpass_up")
def test_fetch_caches_then_run_uses_the_cache(tmp_path, monkeypatch):
    """fetch with osmnx replaced by a local OSM file: files land in the cache, run reads them."""
    from dataclasses import replace

    import osmnx as ox

    from planner import download, pipeline, pois
    from planner import network as net

    osm = SAMPLE_OSM
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
    sc = replace(
        sample, folder=tmp_path, network_source="overpass", network_path=None, network_date=""
    )
    files = download.fetch(sc)
    assert calls["graph"][1]["network_type"] == "walk"
    w, _, e, _ = calls["graph"][0]
    # facilities' extent + 15 min at 4.5 km/h (1125 m) + 300 m margin, at least the study box
    assert w < 113.9232 and e > 113.9676
    assert files["network"].is_file() and files["pois"].is_file()
    result = pipeline.run(sc, out_dir=tmp_path / "out", maps_dir=tmp_path / "maps")
    direct = pois.pois_from_osm_xml(osm, sample.study_bbox)
    assert len(result.pois) == len(direct)
    # the network is dated by its download (the scenario gives no data_date)
    meta = json.loads(files["meta"].read_text(encoding="utf-8"))
    day = meta["downloaded_utc"][:10]
    assert result.provenance.network_date == day
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["inputs"]["network_data_date"] == day
    assert f"（{day}）" in (tmp_path / "maps" / f"{sc.name}.html").read_text(encoding="utf-8")
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
@pytest.mark.usefixtures("overpass_up")
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


@pytest.mark.usefixtures("overpass_up")
def test_fetch_pois_failure_after_network_leaves_no_partial_cache(tmp_path, monkeypatch):
    from dataclasses import replace

    import osmnx as ox

    from planner import download
    from tests.handmade import make_graph

    street = make_graph({0: (0, 0), 1: (100, 0)}, [(0, 1)])  # any non-empty network
    monkeypatch.setattr(ox, "graph_from_bbox", lambda bbox, **kw: street)

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


def test_network_of_the_wrong_area_is_refused(cli, tmp_path):
    last = error_line(cli("run", "liusha", "--osm", SAMPLE_OSM, "--out", "o"))
    assert "study_bbox [116.1580, 23.2700, 116.2180, 23.3240]" in last
    assert "does not overlap the street network's extent" in last
    assert not (tmp_path / "o").exists()
    # with no study_bbox to compare, the facilities far from every street say it
    (tmp_path / "scenario.toml").write_text(
        f'[network]\npath = "{SAMPLE_OSM.as_posix()}"\n[facilities]\n'
        f'path = "{(DATA_DIR / "liusha" / "facilities.csv").as_posix()}"\ncrs = "GCJ02"\n',
        encoding="utf-8",
    )
    last = error_line(cli("run", tmp_path, "--out", "o"))
    assert "none of the 5 facilities lies within 300 m" in last
    assert not (tmp_path / "o").exists()


def test_no_usable_facility_is_one_clear_error(cli, tmp_path):
    (tmp_path / "f.csv").write_text("facility_id,name,lon,lat\nA,x,abc,22.5\nB,y,,\n")
    (tmp_path / "scenario.toml").write_text(
        f'[scenario]\nname = "bad"\n[network]\npath = "{SAMPLE_OSM.as_posix()}"\n'
        '[facilities]\npath = "f.csv"\n'
    )
    last = error_line(cli("run", tmp_path, "--out", "o"))
    assert 'no facility row has usable coordinates: f.csv row 2, field "lon"' in last
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- output places
@pytest.mark.parametrize(
    ("command", "args", "needle"),
    [
        ("run", ["--out", "o", "--maps-dir", "afile"], "--maps-dir {t}/afile: {t}/afile is a file"),
        ("run", ["--out", "afile/sub"], "--out {t}/afile/sub: {t}/afile is a file"),
        ("run", ["--out", "o", "--maps-dir", "afile/m"], "--maps-dir {t}/afile/m: {t}/afile is"),
        ("site", ["--add", "1", "--maps-dir", "afile"], "--maps-dir {t}/afile: {t}/afile is a"),
        ("compare", ["p.toml", "--maps-dir", "afile"], "--maps-dir {t}/afile: {t}/afile is a"),
    ],
)
def test_an_output_place_blocked_by_a_file_is_one_line_before_any_work(
    cli, tmp_path, command, args, needle
):
    (tmp_path / "afile").write_text("mine", encoding="utf-8")
    (tmp_path / "p.toml").write_text('[proposal]\nname = "p"\nclose = ["F01"]\n')
    r = cli(command, "sample", *args)
    line = error_line(r)
    assert needle.format(t=tmp_path) in line, line
    assert "a file, not a folder" in line
    assert "· loading" not in r.stderr  # refused before the network was read
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "p.toml"]


def test_a_folder_that_cannot_be_written_is_one_line(cli, tmp_path, monkeypatch):
    import planner._publish as publish

    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access

    def access(path, mode, *a, **k):  # a read-only disk, as os.access reports it
        return False if Path(path) == ro and mode & os.W_OK else real(path, mode, *a, **k)

    monkeypatch.setattr(publish.os, "access", access)
    for args, option in ((["--out", "ro/out"], "--out"), (["--maps-dir", "ro"], "--maps-dir")):
        line = error_line(cli("run", "sample", "--out", "o", *args))
        assert line.startswith(f"error: {option} {tmp_path}/ro"), line
        assert f"cannot write in {ro} (no permission, or a read-only disk)" in line
    assert list(ro.iterdir()) == []


def test_a_disk_error_while_writing_is_one_line(cli, tmp_path, monkeypatch):
    import errno

    from planner import io as planner_io

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "o" / "x.csv"))

    monkeypatch.setattr(planner_io, "write_csv", full)
    line = error_line(cli("run", "sample", "--out", "o"))
    assert line == f"error: cannot write or read {tmp_path}/o/x.csv: No space left on device"


@pytest.mark.slow
def test_a_file_added_to_the_published_folder_is_kept_and_the_run_says_where(cli, tmp_path):
    assert cli("run", "sample", "--out", "o").exit_code == 0
    (tmp_path / "o" / "notes.txt").write_text("mine", encoding="utf-8")
    r = cli("run", "sample", "--out", "o")
    assert r.exit_code == 0, r.output
    (said,) = [line for line in r.stderr.splitlines() if line.startswith("· kept ")]
    assert "(notes.txt)" in said
    where = Path(said.removeprefix("· kept ").split(": ")[0])
    assert (where / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert where.parent == tmp_path / ".o.runs"

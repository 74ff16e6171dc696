"""Workbook and GeoPackage written by a forked process: same files, same errors, no leftovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

from planner import _publish, export, io, outputs, pipeline
from planner._errors import PlannerError
from tests.handmade import make_network, points

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def result():
    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0)}, [(0, 1), (1, 2)])
    fac = points([("F1", 50, 10), ("F2", 150, 10)])
    pois = points([(f"P{i}", i % 200, 7) for i in range(300)])
    pois["name"] = ["=1+1", "<r>a & b</r>", " x "] + [f"店{i}" for i in range(297)]
    return pipeline.analyse(net, fac, pois, bands_min=(1, 2), speed_kmh=4.5)


@pytest.fixture
def forked(monkeypatch):
    """Force the forked writer and record which process wrote the workbook."""
    monkeypatch.setattr(outputs, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(outputs, "_idle_cpus", lambda: 1.0)
    real = export.write_workbook

    def spy(result, path):
        _mark(Path(path).with_name("workbook.pid"))
        return real(result, path)

    monkeypatch.setattr(export, "write_workbook", spy)


def _same_files(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.iterdir() if p.name != _publish.RUN_MARK)
    assert names == sorted(p.name for p in b.iterdir() if p.name != _publish.RUN_MARK)
    for name in names:
        if name.endswith(".xlsx"):
            with zipfile.ZipFile(a / name) as x, zipfile.ZipFile(b / name) as y:
                assert x.namelist() == y.namelist()
                for m in x.namelist():
                    assert m == "docProps/core.xml" or x.read(m) == y.read(m), m
        elif name.endswith(".gpkg"):
            for layer in export.GEOPACKAGE_LAYERS:
                pd.testing.assert_frame_equal(
                    pyogrio.read_dataframe(a / name, layer=layer),
                    pyogrio.read_dataframe(b / name, layer=layer),
                )
        elif name != "workbook.pid":
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_forked_writers_write_the_same_files(result, tmp_path, forked, monkeypatch):
    par = outputs.write_outputs(result, tmp_path / "par")
    pid = int((tmp_path / "par" / "workbook.pid").read_text())
    assert pid != os.getpid()  # the workbook was written by another process
    monkeypatch.setattr(outputs, "PARALLEL_MIN_ROWS", 10**12)
    seq = outputs.write_outputs(result, tmp_path / "seq")
    assert int((tmp_path / "seq" / "workbook.pid").read_text()) == os.getpid()
    assert par.keys() == seq.keys()
    _same_files(tmp_path / "par", tmp_path / "seq")


def _published_unchanged(out: Path, before: dict[str, bytes]) -> None:
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert len([p for p in _publish.runs_dir(out).iterdir() if p.is_dir()]) == 1


def _first_set(result, out: Path) -> dict[str, bytes]:
    outputs.write_outputs(result, out, formats=())
    return {p.name: p.read_bytes() for p in out.iterdir()}


def test_an_error_in_the_forked_writer_is_raised_as_it_was(result, tmp_path, forked, monkeypatch):
    out = tmp_path / "o"
    before = _first_set(result, out)

    where = tmp_path / "where"

    def broken(result, path):
        _mark(where)
        raise PlannerError(f"cannot write {Path(path).name}: 磁盘已满")

    monkeypatch.setattr(export, "write_workbook", broken)
    with pytest.raises(PlannerError, match=r"^cannot write analysis\.xlsx: 磁盘已满$") as info:
        outputs.write_outputs(result, out)
    assert "\n" not in str(info.value)
    assert int(where.read_text()) != os.getpid()  # raised in the forked process
    _published_unchanged(out, before)


def test_a_forked_writer_that_dies_fails_the_run(result, tmp_path, forked, monkeypatch):
    out = tmp_path / "o"
    before = _first_set(result, out)
    died = tmp_path / "died"

    def dies(result, path):
        _mark(died)
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(export, "write_geopackage", dies)
    with pytest.raises(RuntimeError, match="writer process ended with code -9"):
        outputs.write_outputs(result, out)
    assert int(died.read_text()) != os.getpid()
    _published_unchanged(out, before)


@pytest.mark.parametrize("where", ["own file", "meanwhile"])
def test_an_error_here_ends_the_forked_writer(result, tmp_path, forked, monkeypatch, where):
    """The run fails in this process (writing one of its own files, or in `meanwhile`): the
    forked writer is ended, nothing written after, nothing published."""
    out = tmp_path / "o"
    before = _first_set(result, out)
    started, late = tmp_path / "started", tmp_path / "late"

    def slow(result, path):
        _mark(started)
        time.sleep(1.5)
        late.write_text("still running")
        Path(path).write_text("x")

    def fails(*args):
        _wait_for(started, "the forked writer did not start", seconds=30)
        raise OSError("no space left on device")

    monkeypatch.setattr(export, "write_workbook", slow)
    if where == "own file":
        monkeypatch.setattr(io, "write_geojson", fails)
    with pytest.raises(OSError, match="no space left"):
        outputs.write_outputs(result, out, meanwhile=fails if where == "meanwhile" else None)
    pid = int(started.read_text())
    assert pid != os.getpid()
    time.sleep(2)
    assert not late.exists()  # ended before it could write anything more
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    _published_unchanged(out, before)


def _mark(path: Path) -> None:
    """Write this process's pid to `path` at once: the other process reads it once it exists."""
    part = path.with_name(path.name + ".part")
    part.write_text(str(os.getpid()))
    os.replace(part, path)


def _wait_for(path: Path, failure: str, seconds: float = 60.0) -> None:
    """Wait until `path` exists (written by the other process); fail with `failure`."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(failure)
        time.sleep(0.01)


def test_meanwhile_runs_while_the_forked_writer_writes(result, tmp_path, forked, monkeypatch):
    """The workbook's writer waits for `meanwhile` to start: were `meanwhile` called after
    the wait for the forked writer, the writer would time out and the write fail. The set
    is published after `meanwhile` returns."""
    out = tmp_path / "o"
    started = tmp_path / "meanwhile-started"
    real = export.write_workbook

    def waits(result, path):
        _wait_for(started, "meanwhile did not run while the workbook was written")
        return real(result, path)

    monkeypatch.setattr(export, "write_workbook", waits)
    calls = []

    def meanwhile():
        _mark(started)
        calls.append(out.exists())  # nothing published yet

    files = outputs.write_outputs(result, out, meanwhile=meanwhile)
    assert calls == [False]
    assert int(started.read_text()) == os.getpid()
    assert all(path.is_file() for path in files.values())


def test_meanwhile_is_called_once_after_the_files_without_a_forked_writer(
    result, tmp_path, monkeypatch
):
    monkeypatch.setattr(outputs, "PARALLEL_MIN_ROWS", 10**12)
    seen = []
    real = export.write_geopackage

    def gpkg(result, path):
        seen.append("gpkg")
        return real(result, path)

    monkeypatch.setattr(export, "write_geopackage", gpkg)
    outputs.write_outputs(result, tmp_path / "o", meanwhile=lambda: seen.append("meanwhile"))
    assert seen == ["gpkg", "meanwhile"]


@pytest.mark.parametrize("same_folder", [False, True])
def test_run_draws_the_map_while_the_forked_writer_writes(tmp_path, monkeypatch, same_folder):
    """`planner.run` on the sample with the forked writer forced: the map is drawn by this
    process during the write and written once the set is published (so the map folder may
    be the output folder itself), and the stage times add up to the call."""
    from planner import maps
    from planner.scenario import load_scenario

    monkeypatch.setattr(outputs, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(outputs, "_idle_cpus", lambda: 1.0)
    drawing = tmp_path / "drawing"
    real_map, real_book = maps.render_map, export.write_workbook

    def render_map(result):
        _mark(drawing)
        return real_map(result)

    def workbook(result, path):
        _wait_for(drawing, "the map was not drawn while the workbook was written")
        return real_book(result, path)

    monkeypatch.setattr(maps, "render_map", render_map)
    monkeypatch.setattr(export, "write_workbook", workbook)
    out = tmp_path / "o"
    maps_dir = out if same_folder else tmp_path / "m"
    t = time.perf_counter()
    r = pipeline.run(load_scenario("sample"), out_dir=out, maps_dir=maps_dir, formats=["xlsx"])
    wall = time.perf_counter() - t
    assert int(drawing.read_text()) == os.getpid()
    assert r.files["map"] == maps_dir / "sample.html"
    assert r.files["map"].read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert r.files["workbook"].is_file() and (out / "coverage.csv").is_file()
    assert r.timings["map"] > 0 and r.timings["write"] > 0
    assert sum(r.timings.values()) <= wall


KILLED = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from planner import export, outputs, pipeline
    from tests.handmade import make_network, points
    flag = Path(sys.argv[2])
    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    a = pipeline.analyse(net, points([("F", 50, 10)]), points([("P", 10, 5)]), bands_min=(1,))
    outputs.PARALLEL_MIN_ROWS = 0
    outputs._idle_cpus = lambda: 1.0
    def slow(result, path):
        part = flag.with_suffix(".part")  # whole or not there: the test reads it once it exists
        part.write_text(str(os.getpid()))
        os.replace(part, flag)
        time.sleep(60)
    export.write_workbook = slow
    outputs.write_outputs(a, Path(sys.argv[1]))
    """
)


def test_a_killed_run_leaves_no_forked_writer(tmp_path):
    out, flag = tmp_path / "o", tmp_path / "child.pid"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(out), str(flag)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        child = int(flag.read_text())
        assert child != proc.pid
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the forked writer outlived the killed run")
    assert not out.exists()  # nothing was published


def _stat(idle: int, busy: int) -> str:
    # cpu user nice system idle iowait irq softirq steal guest guest_nice, then per CPU
    return f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\nintr 5\n"


@pytest.mark.parametrize(
    ("idle_ticks", "busy_ticks", "expected"),
    [(200, 0, 1.0), (100, 100, 1.0), (60, 140, 0.6), (20, 180, 0.2), (0, 200, 0.0)],
)
def test_idle_cpus_is_what_the_cpus_do_now(monkeypatch, idle_ticks, busy_ticks, expected):
    """On 2 CPUs, from two readings of /proc/stat; this process counts as busy."""
    monkeypatch.setattr(outputs, "_cpus", lambda: 2)
    monkeypatch.setattr(outputs, "IDLE_SAMPLE_S", 0.0)
    readings = iter([_stat(1000, 5000), _stat(1000 + idle_ticks, 5000 + busy_ticks)])
    monkeypatch.setattr(outputs, "_proc_stat", lambda: next(readings))
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))  # not read
    assert outputs._idle_cpus() == pytest.approx(expected)


def test_parallel_only_for_large_results_with_a_cpu_to_spare(result, monkeypatch):
    monkeypatch.setattr(outputs, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(outputs, "_cpus", lambda: 2)

    def no_proc() -> str:  # not Linux: the one-minute load average
        raise OSError("no /proc")

    monkeypatch.setattr(outputs, "_proc_stat", no_proc)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.9, 0.0, 0.0))
    assert outputs._idle_cpus() == 1.0 and outputs._parallel(result)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.8, 0.0, 0.0))  # the other CPU is busy
    assert not outputs._parallel(result)
    monkeypatch.setattr(outputs, "_cpus", lambda: 1)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not outputs._parallel(result)
    monkeypatch.setattr(outputs, "_cpus", lambda: 2)
    monkeypatch.setattr(outputs, "PARALLEL_MIN_ROWS", outputs._rows(result) + 1)
    assert not outputs._parallel(result)


BUFFERED = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from planner import export, outputs, pipeline
    from tests.handmade import make_network, points
    main = os.getpid()
    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    a = pipeline.analyse(net, points([("F", 50, 10)]), points([("P", 10, 5)]), bands_min=(1,))
    outputs.PARALLEL_MIN_ROWS = 0
    outputs._idle_cpus = lambda: 1.0
    real = export.write_workbook
    def spy(result, path):
        print("child", os.getpid() != main, flush=True)
        return real(result, path)
    export.write_workbook = spy
    print("said once", end=" ")  # still in the buffer of a piped stdout
    outputs.write_outputs(a, Path(sys.argv[1]))
    """
)


def test_output_waiting_in_a_buffer_is_not_repeated_by_the_forked_writer(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            BUFFERED.replace("sys.argv[2]", "os.getppid()"),
            str(tmp_path / "o"),
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert out.count("said once") == 1 and "child True" in out, out


class _UnrebuildableError(Exception):
    """An exception whose arguments do not fit its constructor: pickled, not unpickled."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")


def test_an_exception_that_cannot_be_rebuilt_keeps_its_type_and_text(
    result, tmp_path, forked, monkeypatch
):
    def broken(result, path):
        raise _UnrebuildableError(Path(path).name, "坏了")

    monkeypatch.setattr(export, "write_geopackage", broken)
    with pytest.raises(RuntimeError, match=r"^_UnrebuildableError: analysis\.gpkg: 坏了$"):
        outputs.write_outputs(result, tmp_path / "o")


def _write_in_a_pool_worker(args):
    result, out = args
    outputs.PARALLEL_MIN_ROWS = 0
    outputs._idle_cpus = lambda: 1.0
    return sorted(outputs.write_outputs(result, out))


def test_a_pool_worker_writes_everything_itself(result, tmp_path):
    # planner.write_outputs called inside a multiprocessing pool (daemonic workers): no fork,
    # every file written (forking there would fail: "daemonic processes are not allowed to
    # have children")
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(1) as pool:
        keys = pool.map(_write_in_a_pool_worker, [(result, tmp_path / "o")])[0]
    assert {"workbook", "geopackage"} <= set(keys)
    assert (tmp_path / "o" / outputs.output_files(result.provenance.name)["workbook"]).exists()


def test_the_forked_writer_freezes_what_it_inherited(result, monkeypatch, tmp_path):
    """In the forked writer the objects inherited from this process are frozen (never
    walked by its collections, so their pages are not copied); this process's collector
    is left as it was."""
    import gc

    monkeypatch.setattr(outputs, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(outputs, "_idle_cpus", lambda: 1.0)
    real = export.write_workbook

    def spy(res, path):
        Path(path).with_name("freeze.txt").write_text(f"{os.getpid()} {gc.get_freeze_count()}")
        return real(res, path)

    monkeypatch.setattr(export, "write_workbook", spy)
    before = gc.get_freeze_count()
    out = tmp_path / "out"
    outputs.write_outputs(result, out, formats=("xlsx",))
    pid, frozen = map(int, (tmp_path / "out").glob("**/freeze.txt").__next__().read_text().split())
    assert pid != os.getpid()
    assert frozen > before + 1000  # everything the fork inherited (the result among it)
    assert gc.get_freeze_count() == before

"""planner region on a Dask LocalCluster: a worker killed mid-task loses and doubles nothing."""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from planner import region as rg
from tests.region_city import write_region

KEY = ["facility_id", "poi_id"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_worker_killed_mid_task_is_retried_and_nothing_is_lost_or_counted_twice(tmp_path):
    region_file = write_region(tmp_path / "r", side=3, area_m=300, n_nodes=900, n_facilities=80)
    serial = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "serial")
    work = tmp_path / "work"
    lines: list[str] = []
    outcome: dict[str, object] = {}

    def job() -> None:
        try:
            outcome["result"] = rg.run_region(
                region_file, work_dir=work, workers=2, progress=lines.append
            )
        except BaseException as exc:  # reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=job)
    thread.start()
    kills: list[dict[str, object]] = []  # kills that hit a task still running
    deadline = time.monotonic() + 240
    while thread.is_alive() and time.monotonic() < deadline and not kills:
        for marker in sorted((work / "running").glob("*")):
            index, pid = (int(p) for p in marker.name.split("-"))
            result_file = work / "areas" / f"{index:06d}.pkl"
            if result_file.exists() or not _alive(pid):
                continue
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
            # the task had not finished: no result file, its marker left behind by the kill
            if not result_file.exists() and marker.exists():
                kills.append({"index": index, "pid": pid, "area": json.loads(marker.read_text())})
            break
        time.sleep(0.01)
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert kills, "no worker was killed while it was running a task"
    killed = kills[0]
    assert not _alive(int(killed["pid"]))  # type: ignore[arg-type]
    result = outcome["result"]
    assert isinstance(result, rg.RegionResult)
    # the killed task was run again, by another worker process, and written once
    with open(work / "areas" / f"{killed['index']:06d}.pkl", "rb") as fh:
        data = pickle.load(fh)
    assert data["pid"] != killed["pid"]
    assert data["area_id"] == killed["area"]["area_id"]  # type: ignore[index]
    assert (result.circles["status"] == "ok").all()
    assert len(result.tasks) == len(result.circles)
    assert result.tasks["area_id"].is_unique
    # nothing lost or counted twice: the same tables as the run in one process
    a = serial.coverage.sort_values(KEY).reset_index(drop=True)
    b = result.coverage.sort_values(KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert result.pois["poi_id"].is_unique
    assert len(result.pois) == len(serial.pois)
    assert lines[-1] == f"areas: {len(result.circles)}/{len(result.circles)} done, 0 failed"


def _start(cmd: list[str], log) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.slow
def test_cli_sends_the_job_to_a_separate_scheduler_over_tcp(tmp_path):
    """As on a cluster: `dask scheduler` and `dask worker` processes started apart from the
    planner, reached with ``planner region --scheduler tcp://HOST:PORT``; same tables as serial."""
    region_file = write_region(tmp_path / "r", side=2, area_m=300, n_nodes=600, n_facilities=30)
    serial = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "serial")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - open while the processes run
    procs = [
        _start(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], log
        )
    ]
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:  # the scheduler is up when a client connects
            try:
                Client(address, timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "dask.log").read_text()
                time.sleep(0.5)
        procs.append(_start([dask, "worker", address, "--nthreads", "1", "--no-dashboard"], log))
        out = tmp_path / "out"
        p = subprocess.run(
            [
                str(Path(sys.executable).with_name("planner")),
                "region",
                str(region_file),
                "--scheduler",
                address,
                "--work",
                str(tmp_path / "work"),
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert p.returncode == 0, p.stderr[-2000:]
        assert "0 failed" in p.stdout
        # the tasks ran in the separate worker process, not in the planner's process
        pids = set()
        for f in (tmp_path / "work" / "areas").glob("*.pkl"):
            with open(f, "rb") as fh:
                pids.add(pickle.load(fh)["pid"])
        assert pids and p.returncode == 0 and os.getpid() not in pids
        assert all(_alive(pid) for pid in pids)  # the worker outlives the planner process
        merged = pd.read_csv(out / "coverage.csv")
        want = serial.coverage.sort_values(KEY).reset_index(drop=True)
        got = merged.sort_values(KEY).reset_index(drop=True)
        assert len(got) == len(want) > 0
        assert (got["facility_id"].astype(str) == want["facility_id"].astype(str)).all()
        assert (got["poi_id"].astype(str) == want["poi_id"].astype(str)).all()
        assert (got["minutes"] - want["minutes"]).abs().max() < 1e-6
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        log.close()

"""planner region on a Dask LocalCluster: a worker killed mid-task loses and doubles nothing."""

from __future__ import annotations

import json
import os
import pickle
import signal
import threading
import time

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

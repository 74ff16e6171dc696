"""Band polygons drawn by forked processes: the same polygons as threads, errors raised."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from planner import isochrones as iso
from planner import pipeline, policy
from planner._errors import PlannerError
from planner.scenario import load_scenario
from tests.scenarios import sample_reach


@pytest.fixture(scope="module")
def sample():
    """The sample's network, facility reach and bands (6 facilities)."""
    return sample_reach()


def _draw(sample, method, processes, monkeypatch):
    monkeypatch.setattr(iso, "POLYGON_THREADS", 2)
    monkeypatch.setattr(iso, "POLYGON_PROCESS_MIN_FACILITIES", 1 if processes else 10**9)
    network, node, sources, bands = sample
    return iso.isochrones(network, node, sources, bands, method=method)


def _spy_pids(monkeypatch, tmp_path: Path, fail_at: int | None = None) -> Path:
    """Wrap both drawers so that every facility drawn leaves the drawing process's id."""
    folder = tmp_path / "pids"
    folder.mkdir()
    for name in ("_grid_drawer", "_exact_drawer"):
        real = getattr(iso, name)

        def make(*args, _real=real, **kwargs):
            draw = _real(*args, **kwargs)

            def spied(i):
                (folder / f"{i}-{os.getpid()}").touch()
                if i == fail_at:
                    raise ValueError(f"facility {i} cannot be drawn")
                return draw(i)

            return spied

        monkeypatch.setattr(iso, name, make)
    return folder


@pytest.mark.parametrize("method", ["grid", "exact"])
def test_processes_draw_exactly_the_polygons_threads_draw(sample, method, monkeypatch, tmp_path):
    threads = _draw(sample, method, False, monkeypatch)
    pids = _spy_pids(monkeypatch, tmp_path)
    forked = _draw(sample, method, True, monkeypatch)
    drawn_by = {int(p.name.split("-")[1]) for p in pids.iterdir()}
    assert len(list(pids.iterdir())) == len(sample[1].facilities)  # each facility once
    assert drawn_by and os.getpid() not in drawn_by  # all of them in other processes
    pd.testing.assert_frame_equal(forked.drop(columns="geometry"), threads.drop(columns="geometry"))
    a, b = forked.geometry.to_numpy(), threads.geometry.to_numpy()
    assert (shapely.to_wkb(a) == shapely.to_wkb(b)).all()  # every coordinate, bit for bit
    assert shapely.is_empty(a).sum() == shapely.is_empty(b).sum()


def test_an_error_in_a_polygon_process_is_raised_as_it_was(sample, monkeypatch, tmp_path):
    pids = _spy_pids(monkeypatch, tmp_path, fail_at=3)
    with pytest.raises(ValueError, match=r"^facility 3 cannot be drawn$"):
        _draw(sample, "grid", True, monkeypatch)
    failed = [p for p in pids.iterdir() if p.name.startswith("3-")]
    assert len(failed) == 1 and int(failed[0].name.split("-")[1]) != os.getpid()
    assert iso._DRAW is None  # set in the workers only


def test_processes_only_for_many_facilities_with_fork_and_two_cpus(monkeypatch):
    monkeypatch.setattr(iso, "POLYGON_THREADS", 2)
    monkeypatch.setattr(iso, "POLYGON_PROCESS_MIN_FACILITIES", 16)
    assert not iso._in_processes(15)
    assert iso._in_processes(16) == ("fork" in multiprocessing.get_all_start_methods())
    monkeypatch.setattr(iso, "POLYGON_THREADS", 1)
    assert not iso._in_processes(500)
    monkeypatch.setattr(iso, "POLYGON_THREADS", 2)

    class Daemon:
        daemon = True

    monkeypatch.setattr(multiprocessing, "current_process", lambda: Daemon())
    assert not iso._in_processes(500)  # a pool worker may not have children


def test_processes_keep_the_order_of_facilities_and_bands(monkeypatch):
    """Facilities split over many tasks come back in order, each with its own bands."""
    monkeypatch.setattr(iso, "POLYGON_THREADS", 2)

    def draw(i):
        return [shapely.Point(i, b).buffer(1.0) for b in range(3)]

    collect, stop = iso._start_processes(draw, list(range(37)), 3)
    try:
        got = collect()
    finally:
        stop()
    assert len(got) == 37
    for i, row in enumerate(got):
        assert [tuple(np.round(g.centroid.coords[0], 6)) for g in row] == [
            (float(i), float(b)) for b in range(3)
        ]


def test_two_threads_drawing_in_processes_at_once_each_get_their_own(sample, monkeypatch):
    """Two calls from two threads at the same time (a notebook, a threaded scheduler), each
    with its own bands: each gets exactly the polygons it gets alone. Both are held just
    before starting their workers until the other gets there too: handing the drawing
    function over in a module variable of the parent fails here."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(iso, "POLYGON_THREADS", 2)
    monkeypatch.setattr(iso, "POLYGON_PROCESS_MIN_FACILITIES", 1)
    network, node, sources, bands = sample
    band_sets = [bands, [b / 2 for b in bands]]

    def draw(chosen):
        return shapely.to_wkb(
            iso.isochrones(network, node, sources, chosen, method="grid").geometry.to_numpy()
        )

    alone = [draw(b) for b in band_sets]
    # both calls reach the point of starting their workers before either starts them
    import concurrent.futures
    import threading

    meet = threading.Barrier(2)
    real = concurrent.futures.ProcessPoolExecutor

    class Meeting(real):
        def __init__(self, *args, **kwargs):
            meet.wait(timeout=30)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Meeting)
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(draw, band_sets))
    assert meet.n_waiting == 0 and not meet.broken  # both met there
    for k, got in enumerate(together):
        assert (got == alone[k]).all()
    assert not (alone[0] == alone[1]).all()


def _forced_processes(monkeypatch):
    monkeypatch.setattr(iso, "POLYGON_THREADS", 2)
    monkeypatch.setattr(iso, "POLYGON_PROCESS_MIN_FACILITIES", 1)


def test_started_polygons_are_the_polygons_isochrones_draws(sample, monkeypatch):
    network, node, sources, bands = sample
    drawn = iso.isochrones(network, node, sources, bands, method="grid")
    for processes in (False, True):
        if processes:
            _forced_processes(monkeypatch)
        with iso.start_isochrones(network, node, sources, bands, method="grid") as pending:
            got = pending.result()
        assert pending.result() is got  # collected once
        pd.testing.assert_frame_equal(got.drop(columns="geometry"), drawn.drop(columns="geometry"))
        assert (shapely.to_wkb(got.geometry.to_numpy()) == shapely.to_wkb(drawn.geometry)).all()


def test_the_run_computes_its_tables_while_the_polygons_are_drawn(monkeypatch, tmp_path):
    """Every polygon worker waits (up to 60 s) for a file that `then` (the scenario's
    checks and policy types) writes: the run finishes only if `then` runs while the
    workers draw; each worker reports that it saw the file before drawing."""
    _forced_processes(monkeypatch)
    scenario = load_scenario("sample")
    marker = tmp_path / "then-ran"
    seen = tmp_path / "seen"
    seen.mkdir()
    real = iso._grid_drawer

    def waiting(*args, **kwargs):
        draw = real(*args, **kwargs)

        def spied(i):
            for _ in range(6000):
                if marker.exists():
                    (seen / f"{i}-{os.getpid()}").touch()
                    break
                time.sleep(0.01)
            return draw(i)

        return spied

    monkeypatch.setattr(iso, "_grid_drawer", waiting)
    real_add = policy.add_policy

    def add_policy(result, *args, **kwargs):
        assert result.isochrones.empty  # not collected yet
        marker.touch()
        return real_add(result, *args, **kwargs)

    monkeypatch.setattr(policy, "add_policy", add_policy)
    result = pipeline.analyse_scenario(scenario)
    n = len(result.facilities)
    names = [p.name for p in seen.iterdir()]
    assert sorted(int(x.split("-")[0]) for x in names) == list(range(n))
    assert os.getpid() not in {int(x.split("-")[1]) for x in names}
    assert len(result.isochrones) == n * len(scenario.bands_min)


def test_an_error_while_the_polygons_are_drawn_stops_the_workers(monkeypatch, tmp_path):
    """A scenario check failing while the polygons are drawn is raised, the workers stop
    before the facilities not yet started are drawn, and no worker process is left."""
    _forced_processes(monkeypatch)
    scenario = load_scenario("sample")
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    real = iso._grid_drawer

    def slow(*args, **kwargs):
        draw = real(*args, **kwargs)

        def spied(i):
            # long enough that the workers (2) are still drawing when the policy stage fails,
            # even on a machine busy with other work (0.5 s once let all 6 finish first)
            time.sleep(1.5)
            (drawn / str(i)).touch()
            return draw(i)

        return spied

    monkeypatch.setattr(iso, "_grid_drawer", slow)

    def failing(result, *args, **kwargs):
        raise PlannerError("policy table broken")

    monkeypatch.setattr(policy, "add_policy", failing)
    with pytest.raises(PlannerError, match="policy table broken"):
        pipeline.analyse_scenario(scenario)
    assert multiprocessing.active_children() == []
    assert len(list(drawn.iterdir())) < 6  # cancelled: not every facility was drawn

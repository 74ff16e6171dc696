"""planner._cpus: the CPUs a process may use, for threads, forked writers and workers."""

import os

from planner import _cpus, io, outputs


def test_usable_cpus_is_the_process_affinity(monkeypatch):
    # a process pinned to one CPU of many has none to spare, whatever the machine has
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert _cpus.usable_cpus() == 1
    assert outputs._cpus() == 1  # what the forked writer's check counts


def test_usable_cpus_without_affinity_is_the_machine(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert _cpus.usable_cpus() == 64
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert _cpus.usable_cpus() == 1


def test_geometry_threads_follow_the_affinity(monkeypatch):
    import numpy as np
    import shapely

    seen = []
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    geoms = shapely.points(np.arange(40.0), np.arange(40.0))
    # one usable CPU: the function is called once on the whole array, not in parts
    io.in_threads(lambda g: seen.append(len(g)) or shapely.is_valid(g), geoms)
    assert seen == [40]

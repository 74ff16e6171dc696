"""Reach stage and 1M snap: an earlier commit's modules against this checkout's, one process.

Usage::

    git show <commit>:planner/reach.py > /tmp/reach_before.py
    git show <commit>:planner/snap.py > /tmp/snap_before.py
    python benchmarks/notes/reach_before_after.py /tmp/reach_before.py /tmp/snap_before.py

Same inputs as `benchmarks/scale.py` (city network, 500 facilities with 2 entrances, 100k
POIs, 15-minute limit; 1M uniform points for the snap). The earlier modules are loaded
beside the current ones (they import the same `planner` helpers); each side gets its own
copy of the network, so per-network caches are not shared. Every function runs in turn in
each repeat, so all see the same load; medians are printed, with scipy's bounded floor
(warm, chunk 16 and 64) and its unbounded ``min_only`` search.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def load(path: str, name: str):  # type: ignore[no-untyped-def]
    """Import the module file at `path` under `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> None:
    """Run both sides in turn and print the medians and ratios."""
    import numpy as np
    import pandas as pd
    from scipy.sparse.csgraph import dijkstra

    from benchmarks.scale import FULL, LIMIT_M, city
    from planner import pipeline, reach, snap
    from tests.synthetic import random_points

    old_reach = load(sys.argv[1], "reach_before")
    old_snap = load(sys.argv[2], "snap_before") if len(sys.argv) > 2 else None
    network = city(FULL)
    other = copy.deepcopy(network)
    fac = random_points(network, 500, seed=2, prefix="F", entrances=2)
    pois = random_points(network, FULL["pois"], seed=3, prefix="P")
    fs = pipeline._snap_table(network, fac, 300.0)
    ids = pd.unique(fac["id"])
    n_f = len(ids)
    sources = reach.Anchors.from_snapped(fs, pd.Index(ids).get_indexer(fac["id"]))
    targets = reach.Anchors.from_snapped(pipeline._snap_table(network, pois, 300.0))
    csr, first = reach.source_graph(network, sources, n_f)
    active = first + np.unique(sources.owner)

    def floor(chunk: int) -> None:
        for s in range(0, n_f, chunk):
            idx = first + np.arange(s, min(s + chunk, n_f))
            dijkstra(csr, directed=True, indices=idx, limit=LIMIT_M)

    def stage(module, net) -> None:  # type: ignore[no-untyped-def]
        nr = module.node_reach(net, sources, n_f, LIMIT_M)
        module.reach_pairs(net, nr, sources, targets, LIMIT_M)
        module.nearest_facility(net, sources, n_f, targets, len(pois), reach=nr)

    runs = {
        "floor 16": lambda: floor(16),
        "floor 64": lambda: floor(64),
        "floor min_only": lambda: dijkstra(
            csr, directed=True, indices=active, min_only=True, return_predecessors=True
        ),
        "before": lambda: stage(old_reach, other),
        "after": lambda: stage(reach, network),
    }
    for f in runs.values():
        f()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(11):
        for k, f in runs.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    bounded = min(med["floor 16"], med["floor 64"])
    print(f"load average {os.getloadavg()}")
    print(" | ".join(f"{k} {v:.3f} s" for k, v in med.items()))
    for side in ("before", "after"):
        print(
            f"{side}: stage / bounded floor {med[side] / bounded:.2f}, "
            f"stage / (bounded + min_only) {med[side] / (bounded + med['floor min_only']):.2f}"
        )
    b, a = (
        old_reach.node_reach(other, sources, n_f, LIMIT_M),
        reach.node_reach(network, sources, n_f, LIMIT_M),
    )
    assert np.array_equal(b.indptr, a.indptr) and np.array_equal(b.node, a.node)
    assert np.abs(b.dist - a.dist).max() <= 1e-6
    if old_snap is None:
        return
    rng = np.random.default_rng(4)
    n = FULL["snap_points"]
    x = rng.uniform(network.node_x.min(), network.node_x.max(), n)
    y = rng.uniform(network.node_y.min(), network.node_y.max(), n)
    for net in (network, other):
        net.tree  # noqa: B018  (both sides use the same built tree)
    snaps = {
        "snap before": lambda: old_snap.snap_points(other, x, y, 300.0),
        "snap after": lambda: snap.snap_points(network, x, y, 300.0),
    }
    res = {k: f() for k, f in snaps.items()}  # the segment grids built once each
    pd.testing.assert_frame_equal(res["snap before"], res["snap after"])
    wall: dict[str, list[float]] = {k: [] for k in snaps}
    cpu: dict[str, list[float]] = {k: [] for k in snaps}
    for _ in range(3):
        for k, f in snaps.items():
            c, t = time.process_time(), time.perf_counter()
            f()
            wall[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)
    print(f"load average {os.getloadavg()}")
    for k in snaps:
        print(
            f"{k}: {statistics.median(wall[k]):.2f} s wall, {statistics.median(cpu[k]):.2f} s CPU"
            " (1M points, segment grid already built)"
        )


if __name__ == "__main__":
    main()

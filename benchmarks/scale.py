"""Scale, reach floor and interactive edits: the planner against its earlier paths and scipy.

Usage: ``python benchmarks/scale.py [--tiny] [--sections snap,coverage,reach,interactive]
[--out benchmarks/results/scale.json]``.

Each section runs in its own subprocess (its peak RSS is the child's ``ru_maxrss``) and
prints a stage table; every ratio compares figures measured in that same process on the
same inputs:

* ``snap``: 1M POIs snapped to the 200k-node city network (bulk segment grid), against the
  earlier per-point ``STRtree.query_nearest`` path (`tests.reference`) on a 200k subsample,
  whose per-point cost is scaled to 1M (it is linear in points; stated in the table).
* ``coverage``: the coverage answer (snap, reach, coverage tables, summary) for 5,000
  facilities and 100k POIs, against the earlier reach and table code on the same inputs.
* ``reach``: the planner's reach stage (node reach, pairs, nearest facility) against
  scipy's bounded Dijkstra measured warm: the graph built once, chunked calls (the chunk
  with the best time among 16 and 64), same process, median of repeats taken in turn with
  the planner's (so both see the same load); and against that floor plus scipy's
  unbounded multi-source search (the nearest-facility part).
* ``interactive``: add, move and remove one facility with `planner.LiveCoverage`, on the
  sample and on a district cut from the city network, against a full `planner.reanalyse`;
  every answer is checked equal to the full analysis.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FULL = {
    "nodes": 200_000,
    "snap_points": 1_000_000,
    "snap_baseline_points": 200_000,
    "cov_facilities": 5_000,
    "pois": 100_000,
    "reach_facilities": 500,
    "district_m": 4_000.0,
    "district_facilities": 30,
    "district_pois": 4_000,
    "repeats": 5,
}
TINY = {
    "nodes": 5_000,
    "snap_points": 20_000,
    "snap_baseline_points": 5_000,
    "cov_facilities": 100,
    "pois": 5_000,
    "reach_facilities": 40,
    "district_m": 2_000.0,
    "district_facilities": 8,
    "district_pois": 500,
    "repeats": 2,
}
SECTIONS = ("snap", "coverage", "reach", "interactive")
LIMIT_M = 15 * 75.0  # 15 minutes at 4.5 km/h


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(f: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of one call and its value."""
    t = time.perf_counter()
    value = f()
    return time.perf_counter() - t, value


def median_time(f: Callable[[], Any], repeats: int) -> float:
    """Median wall seconds over `repeats` calls."""
    return statistics.median(timed(f)[0] for _ in range(repeats))


def interleaved(fs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median wall seconds of each function, all run in turn in every repeat.

    On a shared machine the load changes from second to second; taking turns puts every
    function under the same load, so their ratios hold even when the seconds do not.
    """
    times: dict[str, list[float]] = {k: [] for k in fs}
    for _ in range(repeats):
        for k, f in fs.items():
            times[k].append(timed(f)[0])
    return {k: statistics.median(v) for k, v in times.items()}


def city(size: dict[str, Any]) -> Any:
    """The seeded city network of `benchmarks/run.py` (workload b)."""
    from tests.synthetic import synthetic_network

    return synthetic_network(size["nodes"], seed=1)


# ------------------------------------------------------------------ sections
def section_snap(size: dict[str, Any]) -> dict[str, Any]:
    """1M POIs snapped in bulk; the earlier per-point path on a subsample."""
    import numpy as np
    from pyproj import Transformer

    from planner import pipeline, snap
    from tests import reference

    network = city(size)
    rng = np.random.default_rng(4)
    n = size["snap_points"]
    x = rng.uniform(network.node_x.min(), network.node_x.max(), n)
    y = rng.uniform(network.node_y.min(), network.node_y.max(), n)
    lon, lat = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True).transform(x, y)
    stages: dict[str, float] = {}
    cpu = time.process_time()
    stages["project"], (px, py) = timed(lambda: pipeline.to_network_xy(network, lon, lat))
    stages["segment_grid"], _ = timed(lambda: snap.segment_grid(network))
    stages["snap_points"], got = timed(lambda: snap.snap_points(network, px, py, 300.0))
    cpu = time.process_time() - cpu
    m = size["snap_baseline_points"]
    base_s, old = timed(lambda: reference.snap_points_geos(network, px[:m], py[:m], 300.0))
    network.tree  # noqa: B018  (built inside the timing above on first use)
    sub = got.iloc[:m].reset_index(drop=True)
    same = bool(
        (sub["edge"].to_numpy() == old["edge"].to_numpy()).all()
        and np.allclose(sub["access_m"], old["access_m"], atol=1e-9, equal_nan=True)
        and np.allclose(sub["offset"], old["offset"], atol=1e-9, equal_nan=True)
    )
    total = sum(stages.values())
    old_scaled = base_s * n / m
    return {
        "stages": stages,
        "baseline": {f"earlier per-point path, {m:,} points": base_s, "scaled to all": old_scaled},
        "info": {
            "points": n,
            "snapped": int((got["status"] == "ok").sum()),
            "us_per_point": 1e6 * total / n,
            "cpu_s": cpu,
            "threads": snap.THREADS,
            "earlier_us_per_point": 1e6 * base_s / m,
            "same_answers_on_subsample": same,
        },
        "ratios": {"earlier_over_bulk": old_scaled / total},
        "targets": {"1M POIs snapped <= 5 s": [total, total <= 5.0]},
    }


def _coverage_answer(network: Any, fac: Any, pois: Any, old: bool) -> dict[str, float]:
    """Snap, reach and the coverage tables + summary; the earlier code when `old`."""
    import numpy as np
    import pandas as pd

    from planner import coverage as cov
    from planner import pipeline, reach
    from planner.result import Settings
    from tests import reference

    settings = Settings()
    mpm = settings.metres_per_minute
    st: dict[str, float] = {}
    t = time.perf_counter()
    if old:

        def snap_table(table: Any) -> Any:
            x, y = pipeline.to_network_xy(network, table["lon"], table["lat"])
            return reference.snap_points_geos(network, x, y, 300.0)
    else:

        def snap_table(table: Any) -> Any:
            return pipeline._snap_table(network, table, 300.0)

    fs, ps = snap_table(fac), snap_table(pois)
    ids = np.asarray(pd.unique(fac["id"]), dtype=object)
    sources = reach.Anchors.from_snapped(fs, pd.Index(ids).get_indexer(fac["id"]))
    targets = reach.Anchors.from_snapped(ps)
    st["snap"] = time.perf_counter() - t
    t = time.perf_counter()
    if old:
        nr = reference.node_reach_old(network, sources, len(ids), LIMIT_M)
        pairs = reference.reach_pairs_old(network, nr, sources, targets, LIMIT_M)
        near_f, near_d = reference.nearest_facility_old(
            network, sources, len(ids), targets, len(pois)
        )
    else:
        nr = reach.node_reach(network, sources, len(ids), LIMIT_M)
        pairs = reach.reach_pairs(network, nr, sources, targets, LIMIT_M)
        near_f, near_d = reach.nearest_facility(
            network, sources, len(ids), targets, len(pois), reach=nr
        )
    st["reach"] = time.perf_counter() - t
    t = time.perf_counter()
    if old:
        coverage = reference.coverage_table_old(pairs, ids, pois, mpm, settings.bands_min)
        fac_table = reference.facility_summary_old(fac, fs)
    else:
        coverage = cov.coverage_table(pairs, ids, pois, mpm, settings.bands_min)
        fac_table = pipeline.facility_summary(fac, fs)
    poi_table = cov.nearest_table(pois, ps["status"].to_numpy(), near_f, near_d, pairs, ids, mpm)
    cov.summarise(coverage, poi_table, fac_table, settings.bands_min)
    st["coverage"] = time.perf_counter() - t
    st["_pairs"] = float(len(coverage))
    return st


def section_coverage(size: dict[str, Any]) -> dict[str, Any]:
    """The coverage answer for 5,000 facilities, now and with the earlier code."""
    from tests.synthetic import random_points

    network = city(size)
    fac = random_points(network, size["cov_facilities"], seed=7, prefix="F", entrances=2)
    pois = random_points(network, size["pois"], seed=3, prefix="P")
    cpu = time.process_time()
    new = _coverage_answer(network, fac, pois, old=False)
    cpu = time.process_time() - cpu
    old = _coverage_answer(network, fac, pois, old=True)
    pairs = new.pop("_pairs")
    assert pairs == old.pop("_pairs"), "the earlier and current coverage tables differ in size"
    total = sum(new.values())
    return {
        "stages": new,
        "baseline": {f"earlier {k}": v for k, v in old.items()},
        "info": {
            "facilities": size["cov_facilities"],
            "pois": size["pois"],
            "pairs": pairs,
            "cpu_s": cpu,
        },
        "ratios": {"earlier_over_now": sum(old.values()) / total},
        "targets": {"coverage for 5,000 facilities <= 10 s": [total, total <= 10.0]},
    }


def section_reach(size: dict[str, Any]) -> dict[str, Any]:
    """The reach stage against scipy's bounded Dijkstra measured warm, chunked, in process."""
    import numpy as np
    import pandas as pd
    from scipy.sparse.csgraph import dijkstra

    from planner import pipeline, reach
    from tests import reference
    from tests.synthetic import random_points

    network = city(size)
    fac = random_points(network, size["reach_facilities"], seed=2, prefix="F", entrances=2)
    pois = random_points(network, size["pois"], seed=3, prefix="P")
    fs = pipeline._snap_table(network, fac, 300.0)
    ids = pd.unique(fac["id"])
    n_f = len(ids)
    sources = reach.Anchors.from_snapped(fs, pd.Index(ids).get_indexer(fac["id"]))
    targets = reach.Anchors.from_snapped(pipeline._snap_table(network, pois, 300.0))
    csr, first = reach.source_graph(network, sources, n_f)  # the floor's graph, built once
    active = first + np.unique(sources.owner)
    repeats = size["repeats"]

    def floor(chunk: int) -> None:
        for s in range(0, n_f, chunk):
            idx = first + np.arange(s, min(s + chunk, n_f))
            dijkstra(csr, directed=True, indices=idx, limit=LIMIT_M)

    def floor_nearest() -> None:
        dijkstra(csr, directed=True, indices=active, min_only=True, return_predecessors=True)

    def stage() -> None:
        nr = reach.node_reach(network, sources, n_f, LIMIT_M)
        reach.reach_pairs(network, nr, sources, targets, LIMIT_M)
        reach.nearest_facility(network, sources, n_f, targets, len(pois), reach=nr)

    nr = reach.node_reach(network, sources, n_f, LIMIT_M)
    runs: dict[str, Callable[[], Any]] = {
        "floor 16": lambda: floor(16),
        "floor 64": lambda: floor(64),
        "floor nearest": floor_nearest,
        "node_reach": lambda: reach.node_reach(network, sources, n_f, LIMIT_M),
        "reach_pairs": lambda: reach.reach_pairs(network, nr, sources, targets, LIMIT_M),
        "nearest_facility": lambda: reach.nearest_facility(
            network, sources, n_f, targets, len(pois), reach=nr
        ),
        "stage": stage,
    }
    for f in runs.values():  # warm: first touch of every buffer
        f()
    got = interleaved(runs, 2 * repeats + 1)
    chunks = {c: got[f"floor {c}"] for c in (16, 64)}
    best_chunk = min(chunks, key=chunks.__getitem__)
    bounded = chunks[best_chunk]
    nearest = got["floor nearest"]
    parts = {k: got[k] for k in ("node_reach", "reach_pairs", "nearest_facility")}
    whole = got["stage"]

    def old_stage() -> None:
        onr = reference.node_reach_old(network, sources, n_f, LIMIT_M)
        reference.reach_pairs_old(network, onr, sources, targets, LIMIT_M)
        reference.nearest_facility_old(network, sources, n_f, targets, len(pois))

    old = median_time(old_stage, max(2, repeats // 2))
    one_dense, _ = timed(
        lambda: dijkstra(csr, directed=True, indices=first + np.arange(n_f), limit=LIMIT_M)
    )
    return {
        "stages": {**parts, "reach stage (median of whole runs)": whole},
        "baseline": {
            f"scipy bounded floor (warm, chunk {best_chunk})": bounded,
            **{f"scipy bounded, chunk {c}": v for c, v in chunks.items()},
            "scipy min_only unbounded (nearest)": nearest,
            "earlier planner reach stage": old,
            "earlier floor: one dense call (first touch)": one_dense,
        },
        "info": {"facilities": n_f, "pois": len(pois), "nodes": network.n_nodes},
        "ratios": {
            "reach_stage_over_bounded_floor": whole / bounded,
            "reach_stage_over_bounded_plus_nearest_floor": whole / (bounded + nearest),
            "node_reach_over_bounded_floor": parts["node_reach"] / bounded,
            "nearest_over_min_only_floor": parts["nearest_facility"] / nearest,
            "earlier_reach_stage_over_bounded_floor": old / bounded,
        },
        "targets": {
            "reach stage within 2x of the bounded floor": [whole / bounded, whole / bounded <= 2.0]
        },
    }


def district(network: Any, size_m: float) -> Any:
    """The network cut to a square of `size_m` metres at its centre (its largest piece)."""
    import numpy as np
    from scipy.sparse.csgraph import connected_components

    from planner.network import StreetNetwork, adjacency

    cx = float(np.median(network.node_x))
    cy = float(np.median(network.node_y))
    inside = (np.abs(network.node_x - cx) <= size_m / 2) & (
        np.abs(network.node_y - cy) <= size_m / 2
    )
    keep_e = inside[network.edge_u] & inside[network.edge_v]
    _, label = connected_components(
        adjacency(
            network.n_nodes,
            network.edge_u[keep_e],
            network.edge_v[keep_e],
            np.ones(int(keep_e.sum())),
        ),
        directed=False,
    )
    piece = inside & (label == np.argmax(np.bincount(label, weights=inside.astype(float))))
    keep_e &= piece[network.edge_u]
    new = np.full(network.n_nodes, -1, dtype=np.int64)
    new[piece] = np.arange(int(piece.sum()))
    return StreetNetwork(
        crs=network.crs,
        node_ids=network.node_ids[piece],
        node_x=network.node_x[piece],
        node_y=network.node_y[piece],
        edge_u=new[network.edge_u[keep_e]],
        edge_v=new[network.edge_v[keep_e]],
        edge_length=network.edge_length[keep_e],
        edge_geometry=network.edge_geometry[keep_e],
        edge_name=network.edge_name[keep_e],
        edge_highway=network.edge_highway[keep_e],
    )


def _edits(result: Any, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds of add / move / remove with LiveCoverage and with a full reanalyse."""
    import pandas as pd

    from planner import pipeline
    from planner.interactive import LiveCoverage

    build, live = timed(lambda: LiveCoverage(result))
    rows = result.facility_rows
    lon, lat = float(rows["lon"].mean()), float(rows["lat"].mean())
    victim = pd.unique(rows["id"])[1]
    edits: dict[str, list[float]] = {"add": [], "move": [], "remove": []}
    full: dict[str, list[float]] = {"add": [], "move": [], "remove": []}
    cpu: dict[str, list[float]] = {"add": [], "move": [], "remove": []}
    for i in range(repeats):
        step = 0.0005 * (i + 1)  # a new place each time: nothing cached for the edited one
        for op, args in (
            ("add", ("NEW", lon + step, lat)),
            ("move", ("NEW", lon, lat + step)),
            ("remove", (victim,)),
        ):
            c = time.process_time()
            t, got = timed(lambda op=op, args=args: getattr(live, op)(*args))
            edits[op].append(t)
            cpu[op].append(time.process_time() - c)
            tf, want = timed(lambda: pipeline.reanalyse(result, facilities=live.facility_rows))
            full[op].append(tf)
            pd.testing.assert_frame_equal(
                got.coverage, want.coverage, check_exact=False, atol=1e-9, rtol=0
            )
            assert got.summary["overall"] == want.summary["overall"]
            assert (
                got.pois["minutes_to_nearest"].fillna(-1)
                - want.pois["minutes_to_nearest"].fillna(-1)
            ).abs().max() <= 1e-9
        live.remove("NEW")
        live.update(rows)  # back to the start (cached: the facility's reach is kept)
    stages = {f"live {k}": statistics.median(v) for k, v in edits.items()}
    stages |= {f"live {k} (CPU s)": statistics.median(v) for k, v in cpu.items()}
    stages["LiveCoverage(result) once"] = build
    return stages, {f"reanalyse after {k}": statistics.median(v) for k, v in full.items()}


def section_interactive(size: dict[str, Any]) -> dict[str, Any]:
    """Add, move, remove one facility on the sample and on a district of the city."""
    from planner import inputs, pipeline
    from planner.scenario import load_scenario
    from tests.synthetic import random_points

    scenario = load_scenario("sample")
    sample = pipeline.analyse(
        inputs.load_network(scenario),
        inputs.load_facilities(scenario),
        inputs.load_pois(scenario),
        speed_kmh=scenario.speed_kmh,
        bands_min=scenario.bands_min,
        snap_limit_m=scenario.snap_limit_m,
    )
    net = district(city(size), size["district_m"])
    fac = random_points(net, size["district_facilities"], seed=12, prefix="F", entrances=2)
    pois = random_points(net, size["district_pois"], seed=13, prefix="P")
    cut = pipeline.analyse(net, fac, pois)
    stages: dict[str, float] = {}
    baseline: dict[str, float] = {}
    ratios: dict[str, float] = {}
    targets: dict[str, list[Any]] = {}
    for name, result in (("sample", sample), ("district", cut)):
        live, full = _edits(result, size["repeats"])
        stages.update({f"{name}: {k}": v for k, v in live.items()})
        baseline.update({f"{name}: {k}": v for k, v in full.items()})
        worst = max(live[f"live {k}"] for k in ("add", "move", "remove"))
        ratios[f"{name}_reanalyse_over_live_add"] = full["reanalyse after add"] / live["live add"]
        targets[f"{name}: add/move/remove <= 0.1 s"] = [worst, worst <= 0.1]
    return {
        "stages": stages,
        "baseline": baseline,
        "info": {
            "sample": repr(sample),
            "district": f"{net.n_nodes} nodes, {net.n_edges} edges, {cut!r}",
        },
        "ratios": ratios,
        "targets": targets,
    }


# ------------------------------------------------------------------ driver
def child(section: str, tiny: bool, out: Path) -> None:
    """Run one section and write its record."""
    size = TINY if tiny else FULL
    record = globals()[f"section_{section}"](size)
    record["section"] = section
    record["peak_rss_mb"] = peak_rss_mb()
    out.write_text(json.dumps(record, default=float, indent=1))


def spawn(section: str, tiny: bool, tmp: Path) -> dict[str, Any]:
    """Run a section in a subprocess and return its record (or its error)."""
    out = tmp / f"{section}.json"
    cmd = [sys.executable, __file__, "--child", section, str(out)] + (["--tiny"] if tiny else [])
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0 or not out.is_file():
        return {"section": section, "error": proc.stderr[-3000:]}
    record = json.loads(out.read_text())
    record["process_wall_s"] = time.perf_counter() - t
    return record


def table(record: dict[str, Any]) -> str:
    """The section's stage table, baselines, ratios and targets as markdown."""
    if "error" in record:
        return f"### {record['section']}\n\nerror:\n```\n{record['error']}\n```"
    lines = [f"### {record['section']} (peak RSS {record['peak_rss_mb']:.0f} MB)", ""]
    lines += ["| stage | s |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in record["stages"].items()]
    lines += [f"| *baseline* {k} | {v:.3f} |" for k, v in record["baseline"].items()]
    lines += ["", "| ratio | value |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in record["ratios"].items()]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    lines += [
        f"| {k} | {v[0]:.3f} | {'met' if v[1] else 'NOT met'} |"
        for k, v in record["targets"].items()
    ]
    lines += ["", "info: " + json.dumps(record["info"], default=str)]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run the sections, print their tables and save the records."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny sizes (smoke test, ~1 minute)")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "scale.json")
    ap.add_argument("--child", nargs=2, metavar=("SECTION", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.tiny, Path(args.child[1]))
        return
    import tempfile

    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for section in args.sections.split(","):
            record = spawn(section, args.tiny, Path(tmp))
            records.append(record)
            print(table(record), flush=True)
            print(flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    args.out.write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": __import__("os").cpu_count(),
                    "loadavg_at_end": load,
                },
                "tiny": args.tiny,
                "records": records,
            },
            indent=1,
            default=float,
        )
    )
    if any("error" in r for r in records):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

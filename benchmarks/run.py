"""Benchmark the planner against the OSMnx-example method, pandana and scipy's floor.

Usage: ``python benchmarks/run.py [--quick] [--out benchmarks/results/latest.json]``.
Every method runs in its own subprocess (clean peak RSS); all times are wall seconds
measured in the same run, so the ratios are what to read on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FULL = {"nodes": 200_000, "facilities": 500, "pois": 100_000, "osmnx_sample": 10}
QUICK = {"nodes": 20_000, "facilities": 50, "pois": 10_000, "osmnx_sample": 10}
METHODS = ("planner", "planner_exact", "scipy_floor", "pandana", "osmnx_example")
#: Stages that are not part of a method's end-to-end total.
NOT_IN_TOTAL = ("node_reach_only",)


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------ child side
def load_workload(name: str, data_dir: Path) -> tuple[Any, dict[str, float]]:
    """Load a prepared workload; returns it and the load-stage timings."""
    import pandas as pd

    from benchmarks import methods
    from planner import _cache, inputs
    from planner.scenario import load_scenario

    t = time.perf_counter()
    if name == "sample":
        scenario = load_scenario("sample")
        network = _cache.load_network_cached(scenario.network_path, data_dir / "cache")
        t_net = time.perf_counter() - t
        facilities = inputs.load_facilities(scenario)
        pois = inputs.load_pois(scenario)
    else:
        network = _cache.read_cache(data_dir / "network.npz", {"synthetic": name})
        t_net = time.perf_counter() - t
        facilities = pd.read_pickle(data_dir / "facilities.pkl")
        pois = pd.read_pickle(data_dir / "pois.pkl")
    t_in = time.perf_counter() - t - t_net
    w = methods.Workload(name, network, facilities, pois)
    return w, {"load": t_net, "inputs": t_in}


def child(method: str, workload: str, data_dir: Path, n_sample: int, out: Path) -> None:
    """Run one method on one workload and write its JSON record."""
    from benchmarks import methods

    w, load = load_workload(workload, data_dir)
    info: dict[str, Any] = {}
    if method in ("planner", "planner_exact"):
        iso = "exact" if method == "planner_exact" else "grid"
        stages, info = methods.run_planner(w, data_dir / "out", iso)
        if workload == "sample":
            cold_warm, _ = methods.planner_load_sample()
            info.update({k: round(v, 4) for k, v in cold_warm.items()})
    elif method == "scipy_floor":
        stages, info = methods.run_scipy_floor(w)
    elif method == "pandana":
        stages, info = methods.run_pandana(w)
    elif method == "osmnx_example":
        t = time.perf_counter()
        if workload == "sample":
            from planner import network as net
            from planner.scenario import load_scenario

            graph = net.largest_component(
                net.project(net.load_graph(load_scenario("sample").network_path))
            )[0]
        else:
            graph = methods.osmnx_graph(w.network)
        load["load"] = load["load"] + (time.perf_counter() - t)
        stages, info = methods.run_osmnx_example(
            w, graph, n_sample if workload != "sample" else None
        )
    else:
        raise SystemExit(f"unknown method {method}")
    record = {
        "method": method,
        "workload": workload,
        "stages": {**load, **dict(stages)},
        "info": info,
        "peak_rss_mb": peak_rss_mb(),
    }
    out.write_text(json.dumps(record, default=float))


# ------------------------------------------------------------------ parent side
def prepare_synthetic(size: dict[str, int], data_dir: Path) -> dict[str, Any]:
    """Generate workload (b) once and store it for the children."""
    from planner import _cache
    from tests.synthetic import random_points, synthetic_network

    t = time.perf_counter()
    network = synthetic_network(size["nodes"], seed=1)
    fac = random_points(network, size["facilities"], seed=2, prefix="F", entrances=2)
    pois = random_points(network, size["pois"], seed=3, prefix="P")
    _cache.write_cache(network, {"synthetic": "city"}, data_dir / "network.npz")
    fac.to_pickle(data_dir / "facilities.pkl")
    pois.to_pickle(data_dir / "pois.pkl")
    return {
        "nodes": network.n_nodes,
        "edges": network.n_edges,
        "facilities": int(fac["id"].nunique()),
        "facility_rows": len(fac),
        "pois": len(pois),
        "generate_s": round(time.perf_counter() - t, 2),
    }


#: Methods run in the process environment `planner run` gives itself
#: (`planner.cli.PROCESS_ENV`: single-threaded BLAS); the others run as their users run them.
PLANNER_SIDE = ("planner", "planner_exact", "scipy_floor")


def spawn(method: str, workload: str, data_dir: Path, n_sample: int) -> dict[str, Any]:
    """Run a child process and return its record (or the error)."""
    out = data_dir / f"{method}-{workload}.json"
    cmd = [sys.executable, __file__, "--child", method, workload, str(data_dir), str(n_sample)]
    env = dict(os.environ)
    if method in PLANNER_SIDE:
        from planner.cli import PROCESS_ENV  # what `planner run` sets for itself

        env = {**PROCESS_ENV, **env}  # (a value set by the user is kept, as there)
    t = time.perf_counter()
    proc = subprocess.run([*cmd, str(out)], capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0 or not out.is_file():
        return {"method": method, "workload": workload, "error": proc.stderr[-2000:]}
    record = json.loads(out.read_text())
    record["process_wall_s"] = wall
    return record


def total(record: dict[str, Any]) -> float:
    """End-to-end seconds: every measured stage except the planner's extra node search."""
    return sum(v for k, v in record["stages"].items() if k not in NOT_IN_TOTAL)


def ratios(records: list[dict[str, Any]], workload: str) -> dict[str, float]:
    """The headline ratios for one workload."""
    by = {r["method"]: r for r in records if r["workload"] == workload and "error" not in r}
    out: dict[str, float] = {}
    if "planner" in by and "osmnx_example" in by:
        out["osmnx_example_over_planner_end_to_end"] = total(by["osmnx_example"]) / total(
            by["planner"]
        )
        p, o = by["planner"]["stages"], by["osmnx_example"]["stages"]
        compute_p = sum(p.get(k, 0) for k in ("snap", "reach", "isochrones", "coverage"))
        compute_o = sum(o.get(k, 0) for k in ("snap", "pois_gdf", "reach", "polygons", "coverage"))
        out["osmnx_example_over_planner_compute"] = compute_o / compute_p
        no_write = total(by["planner"]) - p.get("write", 0.0) - p.get("map", 0.0)
        out["osmnx_example_over_planner_end_to_end_without_write_and_map"] = (
            total(by["osmnx_example"]) / no_write
        )
        if "load_cold" in by["planner"]["info"]:
            cold = total(by["planner"]) - p["load"] + by["planner"]["info"]["load_cold"]
            out["osmnx_example_over_planner_end_to_end_cold_cache"] = (
                total(by["osmnx_example"]) / cold
            )
    if "planner_exact" in by and "osmnx_example" in by:
        out["osmnx_example_over_planner_exact_end_to_end"] = total(by["osmnx_example"]) / total(
            by["planner_exact"]
        )
    if "planner" in by and "planner_exact" in by:
        out["planner_exact_over_grid_isochrones_stage"] = (
            by["planner_exact"]["stages"]["isochrones"] / by["planner"]["stages"]["isochrones"]
        )
    if "planner" in by and "scipy_floor" in by:
        floor = by["scipy_floor"]["stages"]["dijkstra"]
        out["planner_reach_stage_over_scipy_floor"] = by["planner"]["stages"]["reach"] / floor
        out["planner_node_reach_over_scipy_floor"] = (
            by["planner"]["stages"]["node_reach_only"] / floor
        )
    return {k: round(v, 2) for k, v in out.items()}


def table(records: list[dict[str, Any]]) -> str:
    """A markdown table: one row per workload and method."""
    cols = [
        "load",
        "inputs",
        "snap",
        "reach",
        "isochrones",
        "polygons",
        "coverage",
        "gaps",
        "write",
        "map",
    ]
    head = "| workload | method | " + " | ".join(cols) + " | other stages | total s | peak RSS MB |"
    lines = [head, "|" + "---|" * (len(cols) + 5)]
    for r in records:
        if "error" in r:
            lines.append(f"| {r['workload']} | {r['method']} | error: see JSON |")
            continue
        s = r["stages"]
        other = ", ".join(f"{k} {v:.2f}" for k, v in s.items() if k not in cols)
        if r["info"].get("write_s"):  # what "write" spent per file
            other += "; write: " + ", ".join(
                f"{k} {v:.2f}" for k, v in r["info"]["write_s"].items()
            )
        cells = [f"{s[c]:.2f}" if c in s else "" for c in cols]
        lines.append(
            f"| {r['workload']} | {r['method']} | "
            + " | ".join(cells)
            + f" | {other} | {total(r):.2f} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, prepare workloads, run every method, print and save the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small workload (b), < 2 minutes")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "latest.json")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--workloads", default="sample,city")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        method, workload, data_dir, n_sample, out = args.child
        child(method, workload, Path(data_dir), int(n_sample), Path(out))
        return
    size = QUICK if args.quick else FULL
    records = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="planner-bench-") as tmp:
        data_dir = Path(tmp)
        (data_dir / "out").mkdir()
        workloads = args.workloads.split(",")
        city = prepare_synthetic(size, data_dir) if "city" in workloads else None
        if "sample" in workloads:  # warm the sample's network cache: reruns start warm
            from planner import _cache
            from planner.scenario import load_scenario

            _cache.load_network_cached(load_scenario("sample").network_path, data_dir / "cache")
        for workload in workloads:
            for method in args.methods.split(","):
                print(f"running {method} on {workload} ...", file=sys.stderr, flush=True)
                records.append(spawn(method, workload, data_dir, size["osmnx_sample"]))
    result = {
        "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "quick": args.quick,
        "size": size,
        "city": city,
        "machine": {"python": platform.python_version(), "cpus": _cpus(), "node": platform.node()},
        "records": records,
        "ratios": {w: ratios(records, w) for w in args.workloads.split(",")},
        "bench_wall_s": round(time.perf_counter() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float))
    print(table(records))
    print(json.dumps(result["ratios"], indent=2))
    for r in records:
        if "error" in r:
            print(f"{r['method']} on {r['workload']} failed:\n{r['error']}", file=sys.stderr)


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    main()

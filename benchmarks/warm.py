"""Small and warm: whole ``planner run`` processes against the OSMnx method's process.

Usage::

    .venv/bin/python benchmarks/warm.py                  # sample + nanjing, 5 runs each
    .venv/bin/python benchmarks/warm.py --repeat 9 --scenarios sample

For each scenario, in one run of this script and on the same files:

* **planner warm**: ``planner run SCENARIO`` (tables + HTML map, the default) after one
  untimed run, same user cache and output folders (what a user's second run costs);
* **planner warm, all formats**: the same with ``--formats all`` (PNG, PDF, xlsx, gpkg drawn);
* **planner warm, polygons drawn**: as *planner warm*, with the band polygon cache
  (``<user cache>/polygons``) emptied before each run: every polygon drawn again, as after
  every facility was moved (a warm run with unchanged facilities takes them from the cache);
* **planner cold**: fresh folders and a fresh ``PLANNER_CACHE_DIR`` for every run (the first
  parse of the OSM file), holding only the installation's compiled Jinja templates (made once
  per installation, like Python's .pyc files);
* **planner cold, empty cache**: the same from an empty ``PLANNER_CACHE_DIR`` (a first run
  ever);
* **imports only**: a process that starts as ``planner`` starts (``planner.cli.start_process``:
  its environment, the garbage collector paused), imports what ``planner run`` imports before
  it computes anything (the command line, scenario, pipeline and map modules, and typer's
  pydantic adapters, which typer imports to parse the options) and exits: the floor of a warm
  run with these libraries, and so the ceiling of the ratio to the OSMnx method;
* **osmnx method**: ``benchmarks/osmnx_method.py`` (graph_from_xml, nearest_nodes, ego_graph
  per facility and band, 25 m buffers, point-in-polygon, its table and a folium map), after
  one untimed run (the OS file cache warm, as for the planner).

Whole-process wall times (``time.perf_counter`` around ``subprocess.run``) and CPU times
(children's user + system) are medians over ``--repeat`` runs; ratios are OSMnx ÷ planner
from medians of this run. Stage tables come from the planner's own timings (``--timings``)
and the script's timers; ``startup`` is the process wall time not inside any stage
(interpreter start, imports before the stages, exit).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "sample": ROOT / "data" / "sample",
    "nanjing": ROOT / "benchmarks" / "scenarios" / "nanjing_xinjiekou",
}
TARGET_WARM_S = 1.0
TARGET_COLD_S = 3.0
TARGET_RATIO = 10.0
#: The "imports only" process: what `planner run` imports before its first stage, then exit
#: (`os._exit`, as `planner run` ends). It starts as `planner.cli.main` starts (`start_process`:
#: the process environment, and the garbage collector paused while the libraries are imported)
#: and ends the imports as ``planner run`` does (`_imports_done`).
IMPORTS_ONLY = (
    "import gc, importlib.util, os\n"
    "import planner.cli\n"
    "planner.cli.start_process()  # as `main` does, before numpy is imported\n"
    "assert not gc.isenabled(), 'the collector should be paused for the imports'\n"
    "import planner.scenario, planner.pipeline, planner.maps\n"
    "if importlib.util.find_spec('typer._adapters'):\n"
    "    import typer._adapters\n"
    "planner.cli._imports_done()\n"
    "assert gc.isenabled() and gc.get_freeze_count() > 10_000, 'imports not frozen'\n"
    "os._exit(0)\n"
)


def _planner_cmd() -> list[str]:
    script = Path(sys.executable).with_name("planner")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "planner"]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], env: dict[str, str], cwd: Path, timings: Path) -> dict[str, Any]:
    """Run one process; return its wall and CPU seconds and the stage times it wrote."""
    timings.unlink(missing_ok=True)
    c0, t0 = _cpu(), time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    data = json.loads(timings.read_text(encoding="utf-8"))
    stages = data.get("stages", data)
    stages = {k: float(v) for k, v in stages.items() if k != "total_in_process"}
    stages["startup"] = max(0.0, wall - sum(stages.values()))
    return {"wall": wall, "cpu": cpu, "stages": stages}


def timed_plain(cmd: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run one process that writes no stage times; all of its wall time is ``startup``."""
    c0, t0 = _cpu(), time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return {"wall": wall, "cpu": cpu, "stages": {"startup": wall}}


def median_record(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of wall, CPU and every stage over runs."""
    names = sorted({k for r in runs for k in r["stages"]})
    return {
        "wall": statistics.median(r["wall"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "walls": [round(r["wall"], 3) for r in runs],
        "stages": {n: statistics.median(r["stages"].get(n, 0.0) for r in runs) for n in names},
    }


def bench_scenario(name: str, folder: Path, repeat: int, work: Path) -> dict[str, Any]:
    """All methods on one scenario; returns the medians per method."""
    # Bytecode is written and reused as on a user's machine. (Python reads any non-empty
    # PYTHONDONTWRITEBYTECODE, "0" included, as "do not write": the variable is removed.)
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    planner = _planner_cmd()
    timings = work / "timings.json"
    out: dict[str, Any] = {}

    warm_env = {**base_env, "PLANNER_CACHE_DIR": str(work / "cache")}
    for label, extra in (("planner warm", []), ("planner warm, all formats", ["--formats", "all"])):
        cmd = [*planner, "run", str(folder), "--out", "out", "--maps-dir", "maps", *extra]
        cmd += ["--timings", str(timings)]
        timed(cmd, warm_env, work, timings)  # untimed: fills the caches and the folders
        out[label] = median_record([timed(cmd, warm_env, work, timings) for _ in range(repeat)])
        print(f"  {name}: {label} {out[label]['walls']}", file=sys.stderr)

    label = "imports only"
    cmd = [sys.executable, "-c", IMPORTS_ONLY]
    timed_plain(cmd, warm_env, work)  # untimed, as for the warm runs
    out[label] = median_record([timed_plain(cmd, warm_env, work) for _ in range(repeat)])
    print(f"  {name}: {label} {out[label]['walls']}", file=sys.stderr)

    # Warm, but every band polygon drawn: the polygon cache (`<user cache>/polygons`,
    # planner/_polycache.py) emptied before each run, as after every facility was moved.
    label = "planner warm, polygons drawn"
    cmd = [*planner, "run", str(folder), "--out", "out", "--maps-dir", "maps"]
    cmd += ["--timings", str(timings)]
    runs = []
    for _ in range(repeat):
        shutil.rmtree(work / "cache" / "polygons", ignore_errors=True)
        runs.append(timed(cmd, warm_env, work, timings))
    out[label] = median_record(runs)
    print(f"  {name}: {label} {out[label]['walls']}", file=sys.stderr)

    # Cold = the OSM file's first parse: fresh folders and a fresh user cache without the
    # network and POI caches. "planner cold" keeps the installation's compiled Jinja templates
    # (`<user cache>/templates`, made once per installation like Python's .pyc files);
    # "planner cold, empty cache" starts from an empty user cache (a first run ever).
    for label, keep_templates in (("planner cold", True), ("planner cold, empty cache", False)):
        runs = []
        for i in range(repeat):
            fresh = work / f"cold{i}-{int(keep_templates)}"
            fresh.mkdir()
            if keep_templates:
                shutil.copytree(work / "cache" / "templates", fresh / "cache" / "templates")
            env = {**base_env, "PLANNER_CACHE_DIR": str(fresh / "cache")}
            cmd = [*planner, "run", str(folder), "--out", "out", "--maps-dir", "maps"]
            runs.append(timed([*cmd, "--timings", str(timings)], env, fresh, timings))
        out[label] = median_record(runs)
        print(f"  {name}: {label} {out[label]['walls']}", file=sys.stderr)

    script = [sys.executable, str(ROOT / "benchmarks" / "osmnx_method.py"), str(folder)]
    cmd = [*script, str(work / "osmnx_out"), "--timings", str(timings)]
    timed(cmd, base_env, work, timings)
    out["osmnx method"] = median_record(
        [timed(cmd, base_env, work, timings) for _ in range(repeat)]
    )
    print(f"  {name}: osmnx method {out['osmnx method']['walls']}", file=sys.stderr)
    return out


def stage_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per scenario and method, median seconds per stage."""
    lines = []
    for scenario, methods in results.items():
        for method, rec in methods.items():
            stages = sorted(rec["stages"].items(), key=lambda kv: -kv[1])
            text = ", ".join(f"{k} {v:.2f}" for k, v in stages if v >= 0.005)
            lines.append(
                f"| {scenario} | {method} | {rec['wall']:.2f} | {rec['cpu']:.2f} | {text} |"
            )
    head = "| scenario | method | wall s | CPU s | stages (median s, largest first) |\n"
    return head + "|---|---|---|---|---|\n" + "\n".join(lines)


def ratio_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: the targets, met or not, with the figures of this run."""
    rows = []
    for scenario, m in results.items():
        warm, cold, ox = m["planner warm"], m["planner cold"], m["osmnx method"]
        drawn = m["planner warm, polygons drawn"]
        allf, empty = m["planner warm, all formats"], m["planner cold, empty cache"]
        floor = m["imports only"]

        def verdict(ok: bool) -> str:
            return "met" if ok else "**not met**"

        rows += [
            f"| {scenario} | warm process ≤ {TARGET_WARM_S:g} s | {warm['wall']:.2f} s wall "
            f"({warm['cpu']:.2f} s CPU) | {verdict(warm['wall'] <= TARGET_WARM_S)} |",
            f"| {scenario} | warm process, every polygon drawn (none cached) ≤ "
            f"{TARGET_WARM_S:g} s | {drawn['wall']:.2f} s wall ({drawn['cpu']:.2f} s CPU) | "
            f"{verdict(drawn['wall'] <= TARGET_WARM_S)} |",
            f"| {scenario} | cold process ≤ {TARGET_COLD_S:g} s | {cold['wall']:.2f} s wall "
            f"({cold['cpu']:.2f} s CPU) | {verdict(cold['wall'] <= TARGET_COLD_S)} |",
            f"| {scenario} | OSMnx method ÷ planner warm ≥ {TARGET_RATIO:g}× | "
            f"{ox['wall'] / warm['wall']:.1f}× wall ({ox['cpu'] / warm['cpu']:.1f}× CPU) | "
            f"{verdict(ox['wall'] / warm['wall'] >= TARGET_RATIO)} |",
            f"| {scenario} | OSMnx method ÷ planner warm, every polygon drawn | "
            f"{ox['wall'] / drawn['wall']:.1f}× wall ({ox['cpu'] / drawn['cpu']:.1f}× CPU) | "
            f"{verdict(ox['wall'] / drawn['wall'] >= TARGET_RATIO)} |",
            f"| {scenario} | process that only imports what planner run imports (floor) | "
            f"{floor['wall']:.2f} s wall ({floor['cpu']:.2f} s CPU) | – |",
            f"| {scenario} | OSMnx method ÷ that floor: the highest ratio these imports allow | "
            f"{ox['wall'] / floor['wall']:.1f}× wall ({ox['cpu'] / floor['cpu']:.1f}× CPU) | "
            f"{'below' if ox['wall'] / floor['wall'] < TARGET_RATIO else 'above'} "
            f"{TARGET_RATIO:g}× |",
            f"| {scenario} | cold process from an empty user cache | {empty['wall']:.2f} s wall "
            f"({empty['cpu']:.2f} s CPU) | – |",
            f"| {scenario} | OSMnx method ÷ planner cold | {ox['wall'] / cold['wall']:.1f}× wall "
            f"({ox['cpu'] / cold['cpu']:.1f}× CPU) | – |",
            f"| {scenario} | OSMnx method ÷ planner warm with every format | "
            f"{ox['wall'] / allf['wall']:.1f}× wall ({ox['cpu'] / allf['cpu']:.1f}× CPU) | – |",
        ]
    head = "| scenario | target | measured (medians, this run) | |\n|---|---|---|---|\n"
    return head + "\n".join(rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the tables; write the JSON results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per method (median)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "warm.json")
    args = ap.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="planner-warm-") as tmp:
        for name in args.scenarios.split(","):
            work = Path(tmp) / name
            work.mkdir()
            results[name] = bench_scenario(name, SCENARIOS[name], args.repeat, work)
    load = os.getloadavg()
    report = {
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "load_average_at_end": load,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"load average at the end: {load[0]:.1f} on {os.cpu_count()} CPUs; repeat {args.repeat}")
    print(stage_table(results))
    print()
    print(ratio_table(results))
    return report


if __name__ == "__main__":
    main()

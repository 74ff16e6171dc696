"""Band polygons and gaps, before and after: stage times and warm ``planner run`` processes.

Usage::

    .venv/bin/python benchmarks/iso.py --before /path/to/main            # sample + city piece
    .venv/bin/python benchmarks/iso.py --before /path/to/main --city full --repeat 1

Every measurement runs in a child process with ``PYTHONPATH`` set to the tree under test
(``--before``: another checkout, e.g. main; after: this one), the two alternated so that both
see the same load. Reported: wall and CPU seconds (user + system of the child's work).

* ``stage``: `planner.isochrones.isochrones` (grid and exact) and `planner.gaps.compute` alone,
  on the ``sample`` scenario and on the seeded city of ``tests/synthetic.py`` (``piece``: 20k
  nodes, 50 facilities, 10k POIs; ``full``: 200k nodes, 500 facilities, 100k POIs, the
  benchmark's workload (b)), bands 5/10/15 min at 4.5 km/h; best of ``--repeat`` calls; with
  the grid polygons' vertex count, and the time to write them as GeoJSON (`planner.io`,
  after the reprojection to EPSG:4326 that the pipeline does).
* ``process``: the warm ``planner run sample`` (tables + HTML map, the default) as a user
  runs it, after one untimed run with the same user cache; with the planner's own stage
  times (``--timings``).
* ``--whole``: on the city, one child per tree runs what ``benchmarks/run.py`` times for the
  planner (`benchmarks.methods.run_planner`: `pipeline.analyse`, every file `planner run`
  writes, the HTML map), reporting its stages, each file's write time and size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: These benchmarks time the drawing of the band polygons: none come from the user's
#: polygon cache (planner/_polycache.py), here or in processes started from here.
os.environ["PLANNER_POLYGON_CACHE"] = "0"
SIZES = {"piece": (20_000, 50, 10_000), "full": (200_000, 500, 100_000)}


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------ child side
def _workload(name: str, data: Path) -> tuple[Any, Any, Any]:
    import pandas as pd

    from planner import _cache, inputs
    from planner.scenario import load_scenario

    if name == "sample":
        scenario = load_scenario("sample")
        return (
            inputs.load_network(scenario),
            inputs.load_facilities(scenario),
            inputs.load_pois(scenario),
        )
    folder = data / name
    network = _cache.read_cache(folder / "network.npz", {"synthetic": name})
    return network, pd.read_pickle(folder / "facilities.pkl"), pd.read_pickle(folder / "pois.pkl")


def child(workload: str, data: Path, repeat: int, out: Path) -> None:
    """Time the polygon and gaps stages of one tree on one workload; write JSON."""
    import pandas as pd
    import shapely

    from planner import gaps, io, isochrones, pipeline, reach
    from planner.snap import snap_points

    network, fac, pois = _workload(workload, data)
    result = pipeline.analyse(network, fac, pois, polygons=False)
    x, y = pipeline.to_network_xy(network, fac["lon"].to_numpy(), fac["lat"].to_numpy())
    ids = pd.unique(fac["id"])
    sources = reach.Anchors.from_snapped(
        snap_points(network, x, y, result.settings.snap_limit_m),
        pd.Index(ids).get_indexer(fac["id"]),
    )
    mpm = result.settings.metres_per_minute
    bands = [b * mpm for b in result.settings.bands_min]
    node = reach.node_reach(network, sources, len(ids), max(bands))
    calls = {
        "isochrones grid": lambda: isochrones.isochrones(
            network, node, sources, bands, method="grid"
        ),
        "isochrones exact": lambda: isochrones.isochrones(
            network, node, sources, bands, method="exact"
        ),
        "gaps": lambda: gaps.compute(result),
    }
    record: dict[str, Any] = {"planner": str(Path(isochrones.__file__).parent.parent)}
    grid = calls["isochrones grid"]()
    record["vertices"] = int(shapely.get_num_coordinates(grid.geometry.to_numpy()).sum())
    geojson = out.with_suffix(".geojson")
    calls["write geojson"] = lambda: io.write_geojson(grid.to_crs(4326), geojson)
    for name, call in calls.items():
        if workload == "full" and name == "isochrones exact":
            continue  # about two minutes; not what this compares
        call()  # warm: imports, caches
        walls, cpus = [], []
        for _ in range(repeat):
            c, t = _cpu_self(), time.perf_counter()
            call()
            walls.append(time.perf_counter() - t)
            cpus.append(_cpu_self() - c)
        record[name] = {"wall": min(walls), "cpu": min(cpus)}
    out.write_text(json.dumps(record))


def whole_child(workload: str, data: Path, out: Path) -> None:
    """`benchmarks.methods.run_planner` on one workload, with this tree; write JSON."""
    import tempfile

    from benchmarks import methods

    network, fac, pois = _workload(workload, data)
    w = methods.Workload(workload, network, fac, pois)
    with tempfile.TemporaryDirectory(dir=data) as tmp:
        stages, info = methods.run_planner(w, Path(tmp))
        info["output_mb"]["map"] = round((Path(tmp) / "map-grid.html").stat().st_size / 1e6, 2)
    out.write_text(json.dumps({"stages": dict(stages), "info": info}))


def whole(tree: Path, workload: str, data: Path) -> dict[str, Any]:
    """One child process running the planner end to end with `tree`."""
    out = data / "whole.json"
    cmd = [sys.executable, __file__, "--whole-child", workload, str(data), str(out)]
    c, t = _cpu_children(), time.perf_counter()
    subprocess.run(cmd, env=_env(tree), cwd=ROOT, check=True)
    record = json.loads(out.read_text())
    record["process"] = {"wall": time.perf_counter() - t, "cpu": _cpu_children() - c}
    return record


# ------------------------------------------------------------------ parent side
def prepare(name: str, data: Path) -> None:
    """Generate a city workload once (seeded, as benchmarks/run.py does)."""
    folder = data / name
    if (folder / "network.npz").is_file():
        return
    from planner import _cache
    from tests.synthetic import random_points, synthetic_network

    n_nodes, n_fac, n_pois = SIZES[name]
    folder.mkdir(parents=True, exist_ok=True)
    network = synthetic_network(n_nodes, seed=1)
    fac = random_points(network, n_fac, seed=2, prefix="F", entrances=2)
    pois = random_points(network, n_pois, seed=3, prefix="P")
    _cache.write_cache(network, {"synthetic": name}, folder / "network.npz")
    fac.to_pickle(folder / "facilities.pkl")
    pois.to_pickle(folder / "pois.pkl")


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree)}


def stage(tree: Path, workload: str, data: Path, repeat: int) -> dict[str, Any]:
    """One child process timing the stages of `tree`."""
    out = data / "stage.json"
    cmd = [sys.executable, __file__, "--child", workload, str(data), str(repeat), str(out)]
    subprocess.run(cmd, env=_env(tree), cwd=ROOT, check=True)
    return json.loads(out.read_text())


def process(tree: Path, work: Path, first: bool) -> dict[str, Any]:
    """One warm ``planner run sample`` of `tree` (an untimed one first when `first`)."""
    timings = work / "timings.json"
    cmd = [sys.executable, "-m", "planner", "run", str(tree / "data" / "sample")]
    cmd += ["--out", "out", "--maps-dir", "maps", "--timings", str(timings)]
    env = {**_env(tree), "PLANNER_CACHE_DIR": str(work / "cache")}
    if first:
        subprocess.run(cmd, env=env, cwd=work, check=True, capture_output=True)
    c, t = _cpu_children(), time.perf_counter()
    subprocess.run(cmd, env=env, cwd=work, check=True, capture_output=True)
    wall, cpu = time.perf_counter() - t, _cpu_children() - c
    stages = json.loads(timings.read_text(encoding="utf-8"))
    stages = stages.get("stages", stages)
    return {
        "wall": wall,
        "cpu": cpu,
        "isochrones": float(stages.get("isochrones", 0.0)),
        "gaps": float(stages.get("gaps", 0.0)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, help="the other checkout (e.g. main); required")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--city", choices=sorted(SIZES), default="piece")
    ap.add_argument("--processes", type=int, default=5, help="warm sample runs per tree")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "planner-iso")
    ap.add_argument("--whole", action="store_true", help="the planner end to end on the city")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--whole-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.whole_child:
        workload, data, out = args.whole_child
        whole_child(workload, Path(data), Path(out))
        return
    if args.child:
        workload, data, repeat, out = args.child
        child(workload, Path(data), int(repeat), Path(out))
        return
    if args.before is None:
        ap.error("--before is required")
    trees = {"before": args.before.resolve(), "after": ROOT}
    if str(ROOT) not in sys.path:  # the parent only: tests.synthetic builds the city
        sys.path.insert(0, str(ROOT))
    args.data.mkdir(parents=True, exist_ok=True)
    prepare(args.city, args.data)
    print(f"load average at start: {os.getloadavg()}")
    if args.whole:
        for label, tree in trees.items():
            rec = whole(tree, args.city, args.data)
            st, info, pr = rec["stages"], rec["info"], rec["process"]
            print(
                f"{args.city} {label:6} whole process {pr['wall']:.1f} s wall "
                f"{pr['cpu']:.1f} s CPU; "
                f"vertices {info['polygon_vertices']:,}"
            )
            print(f"  stages: {json.dumps({k: round(v, 2) for k, v in st.items()})}")
            print(f"  writes: {json.dumps(info['write_s'])}")
            print(f"  MB: {json.dumps(info['output_mb'])}")
        print(f"load average at end: {os.getloadavg()}")
        return
    for workload in ("sample", args.city):
        for label, tree in trees.items():
            rec = stage(tree, workload, args.data, args.repeat)
            print(f"{workload:7} {label:6} grid polygon vertices {rec['vertices']:,}")
            for name in ("isochrones grid", "isochrones exact", "gaps", "write geojson"):
                if name in rec:
                    r = rec[name]
                    print(
                        f"{workload:7} {label:6} {name:17} {r['wall']:8.3f} s wall "
                        f"{r['cpu']:8.3f} s CPU"
                    )
    if args.processes:
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in trees}
        works = {k: Path(tempfile.mkdtemp(prefix=f"iso-{k}-", dir=args.data)) for k in trees}
        for i in range(args.processes):
            for label, tree in trees.items():
                runs[label].append(process(tree, works[label], first=i == 0))
        for label, rs in runs.items():
            med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            print(
                f"warm `planner run sample` {label:6}: median {med['wall']:.3f} s wall "
                f"{med['cpu']:.3f} s CPU (walls {[round(r['wall'], 2) for r in rs]}); "
                f"stages isochrones {med['isochrones']:.3f} s, gaps {med['gaps']:.3f} s"
            )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

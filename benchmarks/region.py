"""planner region: areas per minute with 1 and 2 Dask workers, peak memory per worker, and
what one area costs (its network cut from the regional file, the analysis), measured in one run.

    .venv/bin/python -m benchmarks.region            # 25 generated areas, ~10 min on 2 cores
    .venv/bin/python -m benchmarks.region --side 4   # 16 areas

Writes benchmarks/results/region.json (git-ignored) and prints the figures. The region is
GENERATED (tests/region_city.py: the seeded synthetic city as an OSM PBF, square areas of
`--area-m`, bands 5/10/15 min, snap limit 300 m), not a real place.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner import _pbf  # noqa: E402
from planner import region as rg  # noqa: E402
from tests.region_city import write_city_osm, write_region  # noqa: E402
from tests.synthetic import synthetic_network  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

#: These benchmarks time the drawing of the band polygons: none come from the user's
#: polygon cache (planner/_polycache.py), here or in processes started from here.
os.environ["PLANNER_POLYGON_CACHE"] = "0"


def timed_run(region_file: Path, work: Path, workers: int | None, scheduler: str | None) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    start = time.perf_counter()
    result = rg.run_region(region_file, work_dir=work, workers=workers, scheduler=scheduler)
    seconds = time.perf_counter() - start
    tasks = result.tasks
    assert (tasks["status"] == "ok").all(), tasks[tasks["status"] != "ok"]
    per_pid = tasks.groupby("pid")["peak_rss_mb"].max()
    return {
        "workers": workers if scheduler is None else scheduler,
        "areas": len(tasks),
        "seconds": round(seconds, 2),
        "areas_per_minute": round(len(tasks) / seconds * 60, 2),
        "task_seconds_mean": round(float(tasks["seconds"].mean()), 3),
        "task_seconds_sum": round(float(tasks["seconds"].sum()), 2),
        "task_cpu_seconds_mean": round(float(tasks["cpu_seconds"].mean()), 3),
        "worker_processes": len(per_pid),
        "peak_rss_mb_per_worker": [round(float(v), 1) for v in per_pid],
        "network_nodes_mean": round(float(result.circles["network_nodes"].mean()), 1),
    }


def cut_throughput(folder: Path, n_nodes: int) -> dict:
    """Seconds to cut one area's box out of a PBF of n_nodes (the per-task reading cost)."""
    network = synthetic_network(n_nodes, seed=3)
    pbf = write_city_osm(network, folder / f"big-{n_nodes}.osm.pbf")
    from pyproj import Transformer

    to_wgs = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    cx, cy = float(network.node_x.mean()), float(network.node_y.mean())
    w, s = to_wgs.transform(cx - 1000, cy - 1000)
    e, n = to_wgs.transform(cx + 1000, cy + 1000)
    start = time.perf_counter()
    _pbf.cut(pbf, (w, s, e, n), folder / "one-cut.osm")
    seconds = time.perf_counter() - start
    size_mb = pbf.stat().st_size / 1e6
    return {
        "pbf_nodes": int(network.n_nodes),
        "pbf_mb": round(size_mb, 2),
        "cut_seconds": round(seconds, 2),
        "cut_seconds_per_pbf_mb": round(seconds / size_mb, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", type=int, default=5, help="side x side areas")
    parser.add_argument("--area-m", type=float, default=500.0, help="side of a square area")
    parser.add_argument("--nodes", type=int, default=12_000, help="nodes of the city")
    parser.add_argument("--big-pbf-nodes", type=int, default=200_000)
    parser.add_argument("--big-area-m", type=float, default=4000.0, help="one large area")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="region-bench-") as tmp:
        folder = Path(tmp)
        region_file = write_region(
            folder / "region",
            side=args.side,
            area_m=args.area_m,
            n_nodes=args.nodes,
            n_facilities=args.side * args.side * 2,
            n_pois=args.side * args.side * 60,
            bands="[5, 10, 15]",
            snap_limit_m=300.0,
        )
        pbf_mb = (folder / "region" / "city.osm.pbf").stat().st_size / 1e6
        runs = {
            "serial": timed_run(region_file, folder / "w0", None, "serial"),
            "dask_1": timed_run(region_file, folder / "w1", 1, None),
            "dask_2": timed_run(region_file, folder / "w2", 2, None),
        }
        start = time.perf_counter()
        rg.analyse_whole(region_file)
        whole = time.perf_counter() - start
        cut = cut_throughput(folder, args.big_pbf_nodes)
        # one large area (a town rather than a community): per-area cost against cut size
        big_file = write_region(
            folder / "big",
            side=1,
            area_m=args.big_area_m,
            n_nodes=40_000,
            n_facilities=40,
            n_pois=3000,
            bands="[5, 10, 15]",
            snap_limit_m=300.0,
        )
        big = timed_run(big_file, folder / "wb", None, "serial")
    out = {
        "date": time.strftime("%Y-%m-%d"),
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "region": {
            "areas": args.side**2,
            "area_m": args.area_m,
            "city_nodes": args.nodes,
            "pbf_mb": round(pbf_mb, 3),
        },
        "runs": runs,
        "whole_region_one_process_s": round(whole, 2),
        "cut": cut,
        "large_area": {"area_m": args.big_area_m, **big},
        "ratio_dask2_over_dask1_areas_per_minute": round(
            runs["dask_2"]["areas_per_minute"] / runs["dask_1"]["areas_per_minute"], 2
        ),
    }
    (RESULTS / "region.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

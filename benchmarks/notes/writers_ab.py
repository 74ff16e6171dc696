"""Per-writer seconds before and after, and byte equality of every output, on one city result.

Usage (from the repository root; BASE is a checkout of the commit before the change)::

    git worktree add /tmp/writers-base 963bc58
    .venv/bin/python benchmarks/notes/writers_ab.py /tmp/writers-base --rounds 2

The city workload of ``benchmarks/run.py`` (209,835 nodes, 500 facilities with 734 entrance
rows, 100,000 POIs, bands 5/10/15 min) is analysed once and pickled; then each version, in
its own process and alternating (before, after, before, after, …), times each writer on the
same result (wall and CPU seconds) and writes the whole set with ``write_outputs``. The sets
are compared file by file: CSV, GeoJSON and JSON byte for byte, the workbook member by member
(``docProps/core.xml`` holds the time of writing), the GeoPackage table by table.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os, pickle, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from planner import export, gaps, io, outputs
a = pickle.load(open(sys.argv[2], "rb"))
out = Path(sys.argv[3])
jobs = {
    "analysis.xlsx": lambda: export.write_workbook(a, out / "one.xlsx"),
    "analysis.gpkg": lambda: export.write_geopackage(a, out / "one.gpkg"),
    "isochrones.geojson": lambda: io.write_geojson(a.isochrones, out / "iso.geojson"),
    "gaps.geojson": lambda: io.write_geojson(gaps.gaps_of(a).cells, out / "gaps.geojson"),
    "pois.csv": lambda: io.write_csv(outputs.table(a.pois), out / "pois.csv"),
    "coverage.csv": lambda: io.write_csv(a.coverage, out / "coverage.csv"),
}
times = {}
for name, job in jobs.items():
    t, c = time.perf_counter(), time.process_time()
    job()
    times[name] = (time.perf_counter() - t, time.process_time() - c)
t = time.perf_counter()
outputs.write_outputs(a, out / "set")
times["write_outputs"] = (time.perf_counter() - t, None)
print(json.dumps(times))
"""


def city(path: Path) -> None:
    """Analyse the benchmark's city workload once and pickle the result."""
    sys.path.insert(0, str(ROOT))
    from planner import pipeline
    from tests.synthetic import random_points, synthetic_network

    network = synthetic_network(200_000, seed=1)
    fac = random_points(network, 500, seed=2, prefix="F", entrances=2)
    pois = random_points(network, 100_000, seed=3, prefix="P")
    a = pipeline.analyse(network, fac, pois, bands_min=(5.0, 10.0, 15.0), speed_kmh=4.5)
    path.write_bytes(pickle.dumps(a, protocol=5))


def _gpkg(path: Path) -> dict:
    con = sqlite3.connect(path)
    names = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
    tables = {}
    for name in sorted(names):
        rows = list(con.execute(f'select * from "{name}"'))
        if name == "gpkg_contents":  # last_change: the time of writing
            rows = [r[:4] + r[5:] for r in rows]
        tables[name] = rows
    con.close()
    return tables


def same(a: Path, b: Path) -> dict[str, bool]:
    """File name -> whether the two output sets hold the same content."""
    result = {}
    for f in sorted(p for p in a.iterdir() if p.is_file() and not p.name.startswith(".")):
        g = b / f.name
        if f.suffix == ".xlsx":
            with zipfile.ZipFile(f) as x, zipfile.ZipFile(g) as y:
                result[f.name] = x.namelist() == y.namelist() and all(
                    x.read(n) == y.read(n) for n in x.namelist() if n != "docProps/core.xml"
                )
        elif f.suffix == ".gpkg":
            result[f.name] = _gpkg(f) == _gpkg(g)
        else:
            result[f.name] = f.read_bytes() == g.read_bytes()
    return result


def main() -> None:
    """Run the alternating processes and print a table of medians and the equality."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path, help="checkout of the version before")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    versions = {"before": args.base.resolve(), "after": ROOT}
    runs: dict[str, list[dict]] = {k: [] for k in versions}
    with tempfile.TemporaryDirectory(prefix="writers-ab-") as tmp:
        pkl = Path(tmp) / "city.pkl"
        city(pkl)
        for i in range(args.rounds):
            for label, root in versions.items():
                out = Path(tmp) / f"{label}{i}"
                out.mkdir()
                cmd = [sys.executable, "-c", CHILD, str(root), str(pkl), str(out)]
                env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
                done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
                runs[label].append(json.loads(done.stdout.splitlines()[-1]))
                print(f"  {label} {i}: load {os.getloadavg()[0]:.1f}", file=sys.stderr)
        equal = same(Path(tmp) / "before0" / "set", Path(tmp) / "after0" / "set")
    print("| writer | before wall s | after wall s | before CPU s | after CPU s |")
    print("|---|---|---|---|---|")
    for name in runs["before"][0]:
        cells = []
        for k in (0, 1):
            cells += [
                " / ".join(f"{r[name][k]:.2f}" for r in runs[label])
                if runs[label][0][name][k] is not None
                else "–"
                for label in versions
            ]
        print(f"| {name} | {' | '.join(cells)} |")
    print("same content:", equal)


if __name__ == "__main__":
    main()

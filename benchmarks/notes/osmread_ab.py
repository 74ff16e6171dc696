"""Cold ``planner run sample`` before and after the one-pass OSM reader, in one run.

Usage (from the repository root; BASE is a checkout of the commit before the change)::

    git worktree add /tmp/osmread-base b501de3
    .venv/bin/python benchmarks/notes/osmread_ab.py /tmp/osmread-base --repeat 5

Both versions run as whole processes with the same interpreter and packages, alternating
(before, after, before, after, …) so machine load hits both alike; each run gets a fresh empty
``PLANNER_CACHE_DIR`` and fresh output folders (the OSM file parsed), exactly as
``benchmarks/warm.py``'s "planner cold" (its `timed` is reused). "before" puts BASE first on
``PYTHONPATH``; "after" is this checkout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from warm import _planner_cmd, timed  # noqa: E402


def main() -> None:
    """Run the alternating cold runs and print medians and stage medians."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path, help="checkout of the version before")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scenario", default="data/sample")
    args = ap.parse_args()
    versions = {"before": args.base.resolve(), "after": ROOT}
    runs: dict[str, list[dict]] = {k: [] for k in versions}
    with tempfile.TemporaryDirectory(prefix="osmread-ab-") as tmp:
        for i in range(args.repeat):
            for label, root in versions.items():
                fresh = Path(tmp) / f"{label}{i}"
                fresh.mkdir()
                env = {**os.environ, "PLANNER_CACHE_DIR": str(fresh / "cache")}
                if label == "before":
                    env["PYTHONPATH"] = str(root)
                else:
                    env.pop("PYTHONPATH", None)
                cmd = [*_planner_cmd(), "run", str(root / args.scenario), "--out", "out"]
                cmd += ["--maps-dir", "maps", "--timings", str(fresh / "t.json")]
                runs[label].append(timed(cmd, env, fresh, fresh / "t.json"))
                print(f"  {label} {i}: {runs[label][-1]['wall']:.2f} s", file=sys.stderr)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("| version | wall s (median) | CPU s (median) | walls | stages (median s) |")
    print("|---|---|---|---|---|")
    for label, rs in runs.items():
        names = rs[0]["stages"]
        stages = {k: statistics.median(r["stages"].get(k, 0.0) for r in rs) for k in names}
        top = ", ".join(f"{k} {v:.2f}" for k, v in sorted(stages.items(), key=lambda kv: -kv[1]))
        walls = ", ".join(f"{r['wall']:.2f}" for r in rs)
        wall = statistics.median(r["wall"] for r in rs)
        cpu = statistics.median(r["cpu"] for r in rs)
        print(f"| {label} | {wall:.2f} | {cpu:.2f} | {walls} | {top} |")
    b = statistics.median(r["wall"] for r in runs["before"])
    a = statistics.median(r["wall"] for r in runs["after"])
    print(f"\nbefore ÷ after (wall medians): {b / a:.2f}×")


if __name__ == "__main__":
    main()

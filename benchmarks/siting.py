"""Benchmark the siting solvers (planner.siting) on seeded synthetic coverage instances.

Usage: ``python benchmarks/siting.py [--crosscheck]``. Each case runs in its own subprocess
(peak RSS = its ``ru_maxrss``). Instances: merchants in Gaussian clusters over a square,
candidates uniform, a candidate covers the merchants within a radius (crow-fly stands in for
the walking band), a share already covered by today's facilities.

``--crosscheck`` also solves a small random case with spopt's MCLP (PuLP + CBC, the
``bench`` extra) and compares the optimum with the planner's HiGHS solve.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CASES: dict[str, dict[str, Any]] = {
    "small": {
        "merchants": 2_000,
        "candidates": 300,
        "n": 10,
        "side_m": 6_000.0,
        "radius_m": 600.0,
        "seed": 1,
    },
    "large": {
        "merchants": 50_000,
        "candidates": 5_000,
        "n": 20,
        "side_m": 20_000.0,
        "radius_m": 700.0,
        "seed": 2,
    },
}


def instance(merchants: int, candidates: int, side_m: float, radius_m: float, seed: int) -> Any:
    """A `planner.siting.Siting` with synthetic coverage (no network needed)."""
    import numpy as np
    import pandas as pd
    from scipy import sparse
    from scipy.spatial import cKDTree

    from planner.siting import Siting

    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, side_m, size=(max(4, merchants // 400), 2))
    which = rng.integers(0, len(centres), merchants)
    spread = rng.uniform(200, 900, len(centres))[which]
    m_xy = np.clip(centres[which] + rng.normal(0, 1, (merchants, 2)) * spread[:, None], 0, side_m)
    c_xy = rng.uniform(0, side_m, size=(candidates, 2))
    f_xy = rng.uniform(0, side_m, size=(max(2, candidates // 50), 2))  # today's facilities
    pairs = cKDTree(c_xy).sparse_distance_matrix(cKDTree(m_xy), radius_m, output_type="coo_matrix")
    dist = sparse.csr_matrix(
        (np.maximum(pairs.data, 1e-12), (pairs.row, pairs.col)), shape=(candidates, merchants)
    )
    incidence = dist.copy()
    incidence.data = np.ones(len(incidence.data), dtype=bool)
    near, _ = cKDTree(f_xy).query(m_xy, distance_upper_bound=radius_m)
    covered = np.isfinite(near)
    demand = pd.DataFrame(
        {
            "poi_id": [f"M{i}" for i in range(merchants)],
            "lon": m_xy[:, 0],
            "lat": m_xy[:, 1],
            "weight": np.ones(merchants),
            "covered_before": covered,
        }
    )
    cands = pd.DataFrame(
        {"site_id": [f"C{i}" for i in range(candidates)], "lon": c_xy[:, 0], "lat": c_xy[:, 1]}
    )
    siting = Siting(
        band_min=15.0,
        band_m=radius_m,
        demand=demand,
        candidates=cands,
        excluded=pd.DataFrame(columns=["row", "site_id", "status", "reason"]),
        coverage=incidence.tocsr(),
        distance=dist,
    )
    siting.before = siting._coverage_of(np.zeros(0, dtype=np.int64))
    return siting


def child(case: str) -> dict[str, Any]:
    """Run one case in this process and return its figures."""
    from planner import siting as st

    spec = CASES[case]
    t0 = time.perf_counter()
    s = instance(
        spec["merchants"], spec["candidates"], spec["side_m"], spec["radius_m"], spec["seed"]
    )
    t_build = time.perf_counter() - t0
    out: dict[str, Any] = {"case": case, **spec, "build_s": t_build, "nnz": int(s.coverage.nnz)}
    t0 = time.perf_counter()
    A, w = s._open_problem()
    out["reduce_s"] = time.perf_counter() - t0
    out["open_nnz"] = int(A.nnz)
    out["open_groups"] = int(A.shape[1])
    t0 = time.perf_counter()
    _gs, gv, gb = st.greedy_mclp(A, w, spec["n"])
    out["greedy_swap_s"] = time.perf_counter() - t0
    out["greedy_value"] = gv
    out["greedy_bound"] = gb
    if case == "small":
        t0 = time.perf_counter()
        _, mv, _mb, finished = st._milp_mclp(A, w, spec["n"], 120.0)
        out["milp_s"] = time.perf_counter() - t0
        out["milp_value"] = mv
        out["milp_finished"] = finished
        out["greedy_gap_to_opt"] = (mv - gv) / mv if mv else 0.0
    t0 = time.perf_counter()
    s.solve_mclp(spec["n"], time_limit=20.0)
    out["solve_mclp_s"] = time.perf_counter() - t0  # what Siting.solve_mclp does end to end
    assert s.solution is not None and s.before is not None and s.after is not None
    out["method"] = s.solution.method
    out["value"] = s.solution.value
    out["bound"] = s.solution.bound
    out["gap"] = s.solution.gap
    out["before_share"] = s.before.share
    out["after_share"] = s.after.share
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def crosscheck(seed: int = 7) -> dict[str, Any]:
    """Small random case: spopt MCLP (PuLP/CBC) optimum vs the planner's HiGHS optimum."""
    import numpy as np
    import pulp
    from spopt.locate import MCLP

    from planner import siting as st

    rng = np.random.default_rng(seed)
    n_dem, n_cand, n = 60, 15, 3
    A = (rng.random((n_cand, n_dem)) < 0.15).astype(float)
    w = rng.integers(1, 10, n_dem).astype(float)
    # spopt wants a demand x facility cost matrix: 1 inside the service radius, 10 outside
    cost = np.where(A.T > 0, 1.0, 10.0)
    model = MCLP.from_cost_matrix(cost, w, service_radius=5.0, p_facilities=n)
    model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    spopt_sites = sorted(i for i, v in enumerate(model.fac_vars) if v.value() > 0.5)
    from scipy import sparse

    spopt_value = float(w[A[spopt_sites].sum(axis=0) > 0].sum())
    _ms, mv, _, finished = st._milp_mclp(sparse.csr_matrix(A), w, n, 30.0)
    return {"spopt_value": spopt_value, "planner_value": mv, "planner_finished": finished}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", choices=sorted(CASES))
    parser.add_argument("--cases", default="small,large")
    parser.add_argument("--crosscheck", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    rows = []
    for case in args.cases.split(","):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", case],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    head = "| case | merchants x candidates | N | open pairs | method | solve_mclp s | gap |"
    print(head + " greedy+swap s | greedy gap to opt | exact s | before -> after | peak MB |")
    print("|---" * 12 + "|")
    for r in rows:
        print(
            f"| {r['case']} | {r['merchants']:,} x {r['candidates']:,} | {r['n']} | "
            f"{r['open_nnz']:,} | {r['method']} | {r['solve_mclp_s']:.2f} | {r['gap']:.4%} | "
            f"{r['greedy_swap_s']:.2f} | "
            + (f"{r['greedy_gap_to_opt']:.4%}" if "greedy_gap_to_opt" in r else "-")
            + " | "
            + (f"{r['milp_s']:.2f}" if "milp_s" in r else "-")
            + f" | {r['before_share']:.1%} -> {r['after_share']:.1%} | {r['peak_rss_mb']:.0f} |"
        )
    Path(ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / "siting.json").write_text(json.dumps(rows, indent=2))
    if args.crosscheck:
        print(json.dumps(crosscheck()))


if __name__ == "__main__":
    main()

"""Smoke test of benchmarks/scale.py at tiny sizes: every section runs and reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_scale_benchmark_runs_every_section(tmp_path):
    out = tmp_path / "scale.json"
    p = subprocess.run(
        [sys.executable, "benchmarks/scale.py", "--tiny", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    records = {r["section"]: r for r in json.loads(out.read_text())["records"]}
    assert set(records) == {"snap", "coverage", "reach", "interactive"}
    for r in records.values():
        assert "error" not in r
        assert r["peak_rss_mb"] > 0 and r["stages"] and r["targets"]
        assert all(v > 0 for v in r["ratios"].values())
    assert records["snap"]["info"]["same_answers_on_subsample"] is True
    # the stage tables are printed, one per section
    assert p.stdout.count("| stage | s |") == 4

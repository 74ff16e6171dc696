"""Shared fixtures: the offline Chromium harness and one run of the sample scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner import pipeline
from planner.scenario import load_scenario
from tests.test_browser import chromium_browser, offline_page

__all__ = ["chromium_browser", "offline_page", "sample_map_run"]


@pytest.fixture(scope="session")
def sample_map_run(tmp_path_factory: pytest.TempPathFactory) -> pipeline.RunResult:
    """Run the offline sample scenario once per session (outputs and map in a temp dir)."""
    tmp: Path = tmp_path_factory.mktemp("sample_map")
    return pipeline.run(load_scenario("sample"), out_dir=tmp, maps_dir=tmp)

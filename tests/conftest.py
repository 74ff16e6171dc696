"""Shared fixtures: the offline Chromium harness and one run of the sample scenario."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from planner import pipeline
from planner.result import Result
from planner.scenario import load_scenario
from tests.browser import CHROMIUM, CHROMIUM_ARGS, OfflinePage, chromium_missing, open_offline


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    """Launch Debian's headless Chromium once per session (fails, never skips)."""
    missing = chromium_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def offline_page(chromium_browser: Browser) -> Iterator[Callable[[Path], OfflinePage]]:
    """Return ``open(path) -> OfflinePage`` that loads a local HTML file offline.

    Every request that is not ``file:`` or ``data:`` is aborted and recorded;
    console errors, page errors, failed requests and dialogs are recorded too.
    """
    contexts = []

    def open_(path: Path) -> OfflinePage:
        context = chromium_browser.new_context(
            viewport={"width": 1200, "height": 800}, service_workers="block"
        )
        contexts.append(context)
        return open_offline(context, path)

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def sample_map_run(tmp_path_factory: pytest.TempPathFactory) -> Result:
    """Run the offline sample scenario once per session (outputs and map in a temp dir)."""
    tmp: Path = tmp_path_factory.mktemp("sample_map")
    return pipeline.run(load_scenario("sample"), out_dir=tmp / "out", maps_dir=tmp)

"""Shared fixtures: the offline Chromium harness and one run of the sample scenario."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Request, Route, sync_playwright

from planner import pipeline
from planner.result import Result
from planner.scenario import load_scenario
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, OfflinePage


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    """Launch Debian's headless Chromium once per session (fails, never skips)."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"{CHROMIUM} not found: the offline-map browser tests need Debian's chromium "
            "(`apt-get install -y chromium`, or set PLANNER_CHROMIUM)",
            pytrace=False,
        )
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
        log = OfflinePage(page=context.new_page())

        def route(r: Route) -> None:
            if r.request.url.startswith(("file:", "data:")):
                r.continue_()
            else:
                log.blocked_requests.append(r.request.url)
                r.abort("blockedbyclient")

        def on_failed(req: Request) -> None:
            if req.url not in log.blocked_requests:
                log.failed_requests.append(f"{req.url} ({req.failure})")

        context.route("**/*", route)
        page = log.page
        page.on("console", lambda m: m.type == "error" and log.console_errors.append(m.text))
        page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))
        page.on("requestfailed", on_failed)
        page.on("dialog", lambda d: (log.dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(300)  # let Leaflet finish zoom/fade animations
        return log

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def sample_map_run(tmp_path_factory: pytest.TempPathFactory) -> Result:
    """Run the offline sample scenario once per session (outputs and map in a temp dir)."""
    tmp: Path = tmp_path_factory.mktemp("sample_map")
    return pipeline.run(load_scenario("sample"), out_dir=tmp / "out", maps_dir=tmp)

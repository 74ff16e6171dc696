"""The offline-browser harness shared by the browser tests (not a test module).

Debian's headless Chromium through Playwright, with every request that is not ``file:`` or
``data:`` aborted and recorded. The pytest fixtures that use it (``chromium_browser``,
``offline_page``) live in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, Request, Route

#: Debian's chromium; Playwright never downloads a browser here.
CHROMIUM = Path(os.environ.get("PLANNER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Set to a directory (e.g. ``maps``) to keep the screenshots the tests take.
SCREENSHOT_DIR = os.environ.get("PLANNER_SCREENSHOT_DIR")


@dataclass
class OfflinePage:
    """A page opened with the network blocked, plus everything it tried to do.

    Attributes
    ----------
    page : playwright.sync_api.Page
        The loaded page.
    console_errors : list of str
        ``console.error`` messages (including Chromium's resource-load errors).
    page_errors : list of str
        Uncaught JavaScript exceptions.
    failed_requests : list of str
        Requests that failed, e.g. missing ``file://`` resources.
    blocked_requests : list of str
        Non-``file:``/``data:`` requests that were aborted (the page wanted the network).
    dialogs : list of str
        ``alert``/``confirm``/``prompt`` dialogs that were opened (and dismissed).
    """

    page: Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @property
    def problems(self) -> dict[str, list[str]]:
        """Non-empty logs, keyed by name; ``{}`` means the page behaved."""
        logs = {
            "console_errors": self.console_errors,
            "page_errors": self.page_errors,
            "failed_requests": self.failed_requests,
            "blocked_requests": self.blocked_requests,
            "dialogs": self.dialogs,
        }
        return {k: v for k, v in logs.items() if v}


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when Chromium is installed."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return None
    return (
        f"{CHROMIUM} not found: the offline-map browser tests need Debian's chromium "
        "(`apt-get install -y chromium`, or set PLANNER_CHROMIUM)"
    )


def open_offline(context: BrowserContext, path: Path) -> OfflinePage:
    """Load local HTML file `path` in a new page of `context`, recording what it does."""
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


def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """Save a screenshot under `tmp_path` (and copy it to ``$PLANNER_SCREENSHOT_DIR``)."""
    out = tmp_path / name
    page.screenshot(path=str(out))
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(SCREENSHOT_DIR) / name)
    return out

"""Shared fixtures and the ``slow`` marker scheme.

Fast set (run all day): ``.venv/bin/python -m pytest -q -n 2 -m "not slow"``.
Whole set (CI): ``.venv/bin/python -m pytest -q -n 2``.

A test is ``slow`` when it is marked so in its module, or, marked here at collection, when
it needs the headless browser (``chromium_browser``/``offline_page``), the sample scenario's
end-to-end run (``sample_map_run``, directly or through another fixture), or is a
hypothesis fuzz (``@given``).

Fixtures: ``sample_map_run`` (the sample pipeline, once per session and pytest-xdist worker),
``cli`` (the ``planner`` command in-process, in a temporary working directory),
``chromium_browser`` and ``offline_page`` (see ``tests/browser.py``).

At the end of a session the source tree is compared with its start: a file or folder a test
wrote into the repository fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from click.testing import Result as CliResult
    from playwright.sync_api import Browser

    from planner.result import Result
    from tests.browser import OfflinePage

ROOT = Path(__file__).resolve().parent.parent

# Hypothesis keeps its example database and caches in ./.hypothesis unless told otherwise;
# keep them in the user's cache folder instead of the source tree.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY",
    str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "liusha-planner"
        / "hypothesis"
    ),
)

#: Fixtures that make a test slow wherever it is (whatever else it needs).
SLOW_FIXTURES = {"chromium_browser", "sample_map_run"}


# --------------------------------------------------------------------------- marker scheme
@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark as ``slow`` the tests that need the browser, the sample run or fuzz with hypothesis."""
    slow = pytest.mark.slow
    for item in items:
        needs = SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        fuzz = getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
        if (needs or fuzz) and item.get_closest_marker("slow") is None:
            item.add_marker(slow)


# --------------------------------------------------------------------------- polygon cache
@pytest.fixture(autouse=True)
def _polygons_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests in this process draw their band polygons: none come from the polygon cache.

    Many tests count, spy on or break the drawing itself; the cache is tested on its own
    (tests/test_polygon_cache.py turns it on again). ``planner`` processes started by a
    test keep it (their own cache folder, see tests/_plugin_env.py).
    """
    monkeypatch.setattr("planner.isochrones.POLYGON_CACHE", False)


# --------------------------------------------------------------------------- no internet
@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No request through ``requests`` leaves this process: each fails as with no internet.

    Tests run the same with and without a connection, and never ask Overpass anything.
    Tests of a download replace osmnx's functions, or answer requests themselves
    (tests/test_overpass.py), and those simulating an Overpass that answers use `overpass_up`.
    """
    import requests

    def refuse(self: object, request: requests.PreparedRequest, **kwargs: object) -> None:
        raise requests.ConnectionError(f"no internet in the tests ({request.url})")

    monkeypatch.setattr("requests.adapters.HTTPAdapter.send", refuse)


@pytest.fixture
def overpass_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Overpass's status endpoint answers the planner's probe (`planner._osm`)."""
    monkeypatch.setattr("planner._osm.probe_overpass", lambda *a, **k: (None, True))


# --------------------------------------------------------------------------- browser
@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    """Launch Debian's headless Chromium once per session (fails, never skips)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, chromium_missing

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
    from tests.browser import open_offline

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


# --------------------------------------------------------------------------- the sample run
@pytest.fixture(scope="session")
def sample_map_run(tmp_path_factory: pytest.TempPathFactory) -> Result:
    """Run the offline sample scenario once per session (outputs and maps in a temp dir).

    Every optional output is drawn (``formats="all"``: PNG, PDF, xlsx, gpkg). Shared by every
    test that reads the sample's results: do not modify it (copy first).
    """
    from planner import pipeline
    from planner.scenario import load_scenario

    tmp: Path = tmp_path_factory.mktemp("sample_map")
    return pipeline.run(
        load_scenario("sample"),
        out_dir=tmp / "out",
        maps_dir=tmp,
        formats=("png", "pdf", "xlsx", "gpkg"),
    )


# --------------------------------------------------------------------------- command line
@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Return ``invoke(*args) -> result``: the ``planner`` command run in this process.

    The working directory is the test's ``tmp_path`` (default ``out/`` and ``maps/`` land
    there). Only ``SystemExit`` may escape the command: any other exception is a crash
    (a traceback for the user) and fails the test. ``result.exit_code``, ``.stdout`` and
    ``.stderr`` are what a real process would give.
    """
    from typer.testing import CliRunner

    from planner.cli import app

    monkeypatch.chdir(tmp_path)

    def invoke(*args: str | os.PathLike[str]) -> CliResult:
        result = CliRunner().invoke(app, [str(a) for a in args], prog_name="planner")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(
                f"planner {' '.join(map(str, args))} crashed: {result.exception!r}"
            ) from result.exception
        return result

    return invoke


# --------------------------------------------------------------------------- source tree
#: Folders not compared: version control, virtual environments, Python's and pytest's own.
_UNWATCHED = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".mypy_cache"}


def _tree() -> set[str]:
    """Every file and folder under the repository, as paths relative to it."""
    found: set[str] = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [
            d
            for d in dirs
            if d not in _UNWATCHED
            and not d.endswith(".egg-info")
            and not (Path(folder, d) / "pyvenv.cfg").exists()
        ]
        rel = Path(folder).relative_to(ROOT)
        found.update((rel / name).as_posix() for name in (*dirs, *files))
    return found


def _exempt(path: str) -> bool:
    # The network cache still defaults to data/<scenario>/.graph-cache/ until it honours
    # PLANNER_CACHE_DIR (issue 9, changed in planner/_cache.py). Once the test run sets
    # that variable, a cache written into the tree fails the run like anything else.
    return ".graph-cache" in path.split("/") and not os.environ.get("PLANNER_CACHE_DIR")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Record the source tree before any test runs (in the controller only)."""
    if not _is_worker(session.config):
        session.config.stash[_TREE_KEY] = _tree()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when the tests left new files or folders in the source tree."""
    before = session.config.stash.get(_TREE_KEY, None)
    if before is None:
        return
    new = sorted(p for p in _tree() - before if not _exempt(p))
    top = [p for p in new if not any(p.startswith(q + "/") for q in new if q != p)]
    if not top:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = (
        f"the tests wrote into the source tree {ROOT} "
        f"(write into tmp_path instead): {', '.join(top)}"
    )
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "source tree changed", red=True, bold=True)
        reporter.write_line(message, red=True)
    else:  # pragma: no cover - terminal reporter disabled
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


_TREE_KEY = pytest.StashKey[set[str]]()

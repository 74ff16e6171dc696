"""Pytest plugin: keep the session's caches (planner, hypothesis) out of the source tree."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

#: Set by the process that created the folder; xdist workers inherit it and reuse the folder.
_OWNER_ENV = "PLANNER_TEST_CACHE_OWNER"
_CACHE_ENV = "PLANNER_CACHE_DIR"
_saved: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Set ``PLANNER_CACHE_DIR`` to a fresh temporary folder for the whole session.

    The xdist controller configures before it starts its workers, which inherit its
    environment and so share its folder (cache writes are atomic). A worker started without
    it (or a plain run) makes its own folder.
    """
    if os.environ.get(_OWNER_ENV) and os.environ.get(_CACHE_ENV):
        _hypothesis_home(os.environ[_CACHE_ENV])
        return  # an xdist worker of a session that already has its folder
    _saved.update({k: os.environ.get(k) for k in (_CACHE_ENV, _OWNER_ENV)})
    folder = tempfile.mkdtemp(prefix="planner-test-cache-")
    os.environ[_CACHE_ENV] = folder
    os.environ[_OWNER_ENV] = str(os.getpid())
    _hypothesis_home(folder)


def _hypothesis_home(folder: str) -> None:
    """Hypothesis keeps its database and caches there, not in .hypothesis/ of the checkout."""
    from hypothesis import settings
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(os.path.join(folder, "hypothesis"))
    settings.register_profile("planner-tests", database=None)
    settings.load_profile("planner-tests")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the folder this process created and restore the environment."""
    if os.environ.get(_OWNER_ENV) != str(os.getpid()):
        return
    shutil.rmtree(os.environ[_CACHE_ENV], ignore_errors=True)
    for key, value in _saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

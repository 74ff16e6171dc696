"""Deferred imports: folium's `requests` and typer's help-page module stay unimported in a run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from planner import _lazy

PROBE = "planner_lazy_probe"


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """A module that counts how often its code runs (in ``sys.planner_lazy_runs``)."""
    (tmp_path / f"{PROBE}.py").write_text(
        "import sys\nsys.planner_lazy_runs = getattr(sys, 'planner_lazy_runs', 0) + 1\nVALUE = 42\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "planner_lazy_runs", 0, raising=False)
    yield
    sys.modules.pop(PROBE, None)


def test_deferred_module_runs_on_first_attribute_read_only(probe):
    stand_in = _lazy.defer(PROBE)
    assert stand_in is sys.modules[PROBE]
    import planner_lazy_probe  # type: ignore[import-not-found]

    assert planner_lazy_probe is stand_in
    assert sys.planner_lazy_runs == 0  # the import statement alone ran nothing
    assert planner_lazy_probe.VALUE == 42
    assert sys.planner_lazy_runs == 1
    assert planner_lazy_probe.VALUE == 42 and sys.planner_lazy_runs == 1  # once only
    assert type(sys.modules[PROBE]).__name__ == "module"  # the real module took its place
    assert _lazy.defer(PROBE) is None  # imported already: left alone


def test_missing_module_is_not_deferred():
    assert _lazy.defer("planner_no_such_module_xyz") is None
    assert "planner_no_such_module_xyz" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        import planner_no_such_module_xyz  # type: ignore[import-not-found]  # noqa: F401


def test_a_run_imports_neither_requests_nor_typers_help_page(tmp_path):
    code = (
        "import sys\n"
        "from planner import cli, maps\n"
        "cli._translate_typer_texts()\n"
        "print(type(sys.modules['requests']).__name__, 'typer.rich_utils' in sys.modules)\n"
        "from typer import rich_utils\n"  # as typer does when it draws a help page
        "print(rich_utils.OPTIONS_PANEL_TITLE)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "LANGUAGE": "zh_CN", "LANG": "zh_CN.UTF-8"},
    ).stdout.split("\n")
    assert out[0] == "_Deferred False"
    assert out[1] == "选项"  # translated when typer imported it, not before

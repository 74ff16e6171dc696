"""Compiled Jinja templates reused across processes (planner/_templates.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
from folium.template import Template as FoliumTemplate

from planner import _templates

ROOT = Path(__file__).resolve().parent.parent

SOURCES = [
    "{% for x in items %}<b>{{ x|e }}</b>{% endfor %}",
    "var {{ this.get_name() }} = {{ options|tojavascript }};",
    "{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m(1) }}{{ m('<') }}",
]


class Named:
    """Stand-in for a folium element in the templates above."""

    def get_name(self) -> str:
        return "layer_1"


def _render(cls: type[jinja2.Template], source: str) -> str:
    return cls(source).render(items=["a", "<&>"], this=Named(), options={"max_zoom": 18})


def test_second_block_reuses_every_template_and_renders_the_same(tmp_path):
    path = tmp_path / "t.marshal"
    fresh = [_render(FoliumTemplate, s) for s in SOURCES]  # Jinja as it is, no cache
    with _templates.cached_compile(path) as first:
        built = [_render(FoliumTemplate, s) for s in SOURCES]
    assert first == {"hits": 0, "misses": len(SOURCES)} and path.is_file()
    with _templates.cached_compile(path) as second:
        reused = [_render(FoliumTemplate, s) for s in SOURCES]
    assert second == {"hits": len(SOURCES), "misses": 0}
    assert fresh == built == reused
    assert "<b>&lt;&amp;&gt;</b>" in fresh[0] and '"maxZoom": 18' in fresh[1]


def test_the_key_follows_the_environment_settings(tmp_path):
    """A plain Jinja environment (no `tojavascript` filter) never gets folium's code."""
    path = tmp_path / "t.marshal"
    with _templates.cached_compile(path):
        _render(FoliumTemplate, SOURCES[0])
    with _templates.cached_compile(path) as counts:
        plain = _render(jinja2.Template, SOURCES[0])
    assert counts == {"hits": 0, "misses": 1}
    assert plain == _render(FoliumTemplate, SOURCES[0])
    other = jinja2.Environment(variable_start_string="[[", variable_end_string="]]")
    with _templates.cached_compile(path) as counts:
        out = other.from_string("[[ 1 + 1 ]] {{ x }}").render(x=3)
    assert counts["misses"] == 1 and out == "2 {{ x }}"


def test_a_damaged_file_is_ignored_and_replaced(tmp_path):
    path = tmp_path / "t.marshal"
    path.write_bytes(b"\x00not marshal")
    with _templates.cached_compile(path) as counts:
        out = _render(FoliumTemplate, SOURCES[2])
    assert counts == {"hits": 0, "misses": 1} and out == "[1][<]"
    with _templates.cached_compile(path) as counts:
        assert _render(FoliumTemplate, SOURCES[2]) == out
    assert counts == {"hits": 1, "misses": 0}


def test_a_changed_byte_in_the_compiled_code_is_not_used(tmp_path):
    """One changed literal in the stored code would render another page: it is compiled again."""
    path = tmp_path / "t.marshal"
    with _templates.cached_compile(path):
        right = _render(FoliumTemplate, SOURCES[0])
    raw = path.read_bytes()
    assert raw.count(b"<b>") == 1
    path.write_bytes(raw.replace(b"<b>", b"<i>"))
    with _templates.cached_compile(path) as counts:
        again = _render(FoliumTemplate, SOURCES[0])
    assert counts == {"hits": 0, "misses": 1} and again == right


def test_jinja_is_untouched_outside_the_block(tmp_path):
    original = jinja2.Environment.compile
    with _templates.cached_compile(tmp_path / "t.marshal"):
        assert jinja2.Environment.compile is not original
    assert jinja2.Environment.compile is original
    try:
        with _templates.cached_compile(tmp_path / "t.marshal"):
            raise KeyError("boom")
    except KeyError:
        pass
    assert jinja2.Environment.compile is original


def test_an_unwritable_cache_is_not_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with _templates.cached_compile(blocker / "sub" / "t.marshal") as counts:
        assert _render(FoliumTemplate, SOURCES[2]) == "[1][<]"
    assert counts["misses"] == 1 and blocker.read_text(encoding="utf-8") == "x"


def test_the_cache_lives_in_the_user_cache_and_names_the_versions(monkeypatch, tmp_path):
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path))
    path = _templates.cache_file()
    assert path.parent == tmp_path / "templates"
    assert re.fullmatch(r"jinja-[0-9a-f]{16}\.marshal", path.name)


@pytest.mark.slow
def test_folium_imported_through_the_cache_builds_the_same_map_page(tmp_path):
    """First process compiles folium's templates and stores them, the second reuses all.

    Both draw the same small map (`planner.maps.build_map`); the pages are equal once
    folium's random element ids are replaced.
    """
    code = (
        "import json\n"
        "from dataclasses import replace\n"
        "from planner import _templates, maps, pipeline\n"
        "from tests.handmade import make_network, points\n"
        "net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0)}, [(0, 1), (1, 2)])\n"
        "a = pipeline.analyse(net, points([('F1', 50, 10)]),"
        " points([(f'P{i}', 30 * i, 5) for i in range(5)]), bands_min=(1, 2), speed_kmh=4.5)\n"
        "a = replace(a, provenance=replace(a.provenance, name='small', title='small'))\n"
        "page = maps.build_map(a).get_root().render()\n"
        "print(json.dumps([_templates.LAST, page]))\n"
    )
    env = {**os.environ, "PLANNER_CACHE_DIR": str(tmp_path / "cache")}
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout))
    (first, page1), (second, page2) = runs
    assert first["misses"] >= 50  # folium, branca, folium.plugins, planner.maps
    assert first["hits"] < 5  # only a repeated source (e.g. Template("")) within the process
    assert second == {"hits": first["hits"] + first["misses"], "misses": 0}
    ids = re.compile(r"[0-9a-f]{32}")
    assert len(ids.findall(page1)) > 5 and "L.map(" in page1
    assert ids.sub("ID", page1) == ids.sub("ID", page2)

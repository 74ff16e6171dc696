"""The planners' notebook runs top to bottom on the sample, through the public API only."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import planner

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK = NOTEBOOKS / "01_service_circle_sample.ipynb"
PLANNING = NOTEBOOKS / "02_planning.ipynb"


def _code(nb: nbformat.NotebookNode) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", [NOTEBOOK, PLANNING], ids=["sample", "planning"])
def test_notebook_uses_only_the_public_api(path):
    tree = ast.parse(_code(nbformat.read(path, as_version=4)))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "planner" in imported and not {m for m in modules if m and m.startswith("planner")}
    assert not {name for name in imported if name.startswith("planner.")}
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "planner"
    }
    assert used and used <= set(planner.__all__), used - set(planner.__all__)
    # the sample in three calls
    first = nbformat.read(NOTEBOOK, as_version=4).cells[1].source
    assert re.findall(r"planner\.(\w+)\(", first) == [
        "load_scenario",
        "analyse_scenario",
        "build_map",
    ]


@pytest.mark.slow
def test_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    work = tmp_path / "notebooks"
    work.mkdir()
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    text += "".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "Shenzhen" in text and "POIs are beyond 15 min" in text
    assert "bands 3/6 min at 4 km/h" in text  # the result redrawn with other settings
    assert re.search(r"within 15 min of a facility: \d+ -> \d+ POIs without F02", text)
    # both maps are rendered inline; the second one is labelled 3 and 6 minutes
    pages = [html.unescape(str(o.get("data", {}).get("text/html", ""))) for o in outputs]
    maps = [h for h in pages if "leaflet" in h.lower()]
    assert len(maps) == 2
    assert "10–15 分钟 min" in maps[0] and "3–6 分钟 min" not in maps[0]
    assert "3–6 分钟 min" in maps[1] and "10–15 分钟 min" not in maps[1]
    # each is the self-contained page: it draws on a machine without internet
    from planner.offline import external_urls

    frames = [str(o.get("data", {}).get("text/html", "")) for o in outputs]
    inline = [html.unescape(p) for f in frames for p in re.findall(r'srcdoc="([^"]*)"', f)]
    assert len(inline) == 2 and all(external_urls(p) == [] for p in inline)
    folder = tmp_path / "out" / "sample-notebook"
    assert (folder / "tables" / "coverage.csv").is_file() and (folder / "sample.html").is_file()


@pytest.mark.slow
def test_planning_notebook_goes_from_gaps_to_a_compared_proposal(tmp_path):
    nb = nbformat.read(PLANNING, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    text += "".join(str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "beyond 15 min: 19 of 180 merchants" in text  # the sample's gaps
    assert "crowfly_count" in text and "缺少 missing within 10 min" in text
    assert "newly_covered" in text and "'gained':" in text  # sites chosen, then compared
    pages = [str(o.get("data", {}).get("text/html", "")) for o in outputs]
    assert any("leaflet" in h.lower() for h in pages)
    # the sites' map: its gains are the siting's own before -> after difference
    before, after = (int(n) for n in re.findall(r"Coverage\(covered=(\d+)", text)[:2])
    (sites_map,) = [h for h in pages if "Proposal sites" in h]
    assert after > before and f"gained {after - before} / " in sites_map
    from planner.offline import external_urls  # drawn on a machine without internet too

    (page,) = re.findall(r'srcdoc="([^"]*)"', sites_map)
    assert external_urls(html.unescape(page)) == []
    # trying sites by hand (LiveCoverage): each edit's count of merchants within 15 min
    counts = {
        what: int(n)
        for what, n in re.findall(r"^(today|[A-Za-z0-9' ]+?): (\d+) within 15 min", text, re.M)
    }
    model = int(re.search(r"the model counted (\d+) with its first site", text).group(1))
    assert counts["today"] == 180 - 19  # the gaps above
    assert counts["add the model's first site"] == model > counts["today"]  # the model's count
    assert counts["move it back"] == model  # back where it was: the same answer
    assert counts["move it about 100 m east"] != model
    assert counts["close F02 as well"] <= model

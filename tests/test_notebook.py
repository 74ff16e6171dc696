"""The planners' notebook runs top to bottom on the sample."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "01_service_circle_sample.ipynb"


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
    assert "Shenzhen" in text and "POIs are beyond 15 min" in text
    # the map is rendered inline
    html = "".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "leaflet" in html.lower()
    assert (tmp_path / "out" / "sample" / "coverage.csv").is_file()

"""The printable page maps/<scenario>.pdf: one A4 landscape page whose text can be read back.

Rendered with poppler's ``pdftoppm`` and read with ``pdftotext`` (Debian's ``poppler-utils``,
installed by scripts/setup.sh): without them these tests fail, they do not skip.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from planner import report
from planner._errors import ScenarioError
from planner._publish import OutputLocationError, check_replaceable, is_planner_file
from planner.result import Result
from planner.scenario import load_scenario
from tests.scenarios import edited, write_scenario


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is missing: install Debian's poppler-utils (scripts/setup.sh does, as "
            "root) to check the printable PDF page"
        )
    return path


def pdf_text(pdf: Path) -> str:
    out = subprocess.run(
        [tool("pdftotext"), "-enc", "UTF-8", str(pdf), "-"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out.stdout.decode("utf-8")


def render(pdf: Path, folder: Path) -> list[Path]:
    """Every page of `pdf` as a PNG (50 dpi)."""
    subprocess.run(
        [tool("pdftoppm"), "-r", "50", "-png", str(pdf), str(folder / "page")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return sorted(folder.glob("page*.png"))


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head.startswith(b"\x89PNG"), path
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_run_writes_one_a4_landscape_page(sample_map_run: Result, tmp_path: Path):
    pdf = sample_map_run.files["pdf"]
    assert pdf == sample_map_run.files["png"].with_suffix(".pdf") and pdf.is_file()
    pages = render(pdf, tmp_path)
    assert len(pages) == 1, pages
    width, height = png_size(pages[0])
    assert width > height
    assert abs(width / height - 297 / 210) < 0.01  # A4 landscape


def test_page_text_is_extractable(sample_map_run: Result):
    text = pdf_text(sample_map_run.files["pdf"])
    flat = " ".join(text.split())
    title = sample_map_run.provenance.title
    assert title.split("（")[0] in flat  # the Chinese part: the font is embedded as text
    assert "Shenzhen Nanshan Science Park" in flat
    for f in sample_map_run.summary["facilities"]:
        assert f["facility_id"] in flat, f["facility_id"]
    overall = sample_map_run.summary["overall"]
    assert str(overall["pois_total"]) in flat
    for band in overall["bands"].values():
        assert f"{band['pois_within']} ({100 * band['share_of_all_pois']:.1f}%)" in flat
    assert "审图号：无（内部使用" in flat  # the sample has no [report] review number
    assert "WGS-84" in flat and "GCJ-02" in flat
    assert "OpenStreetMap" in flat and "2021-03-17" in flat


def test_review_number_and_issuing_unit_are_printed(sample_map_run: Result, tmp_path: Path):
    pdf = report.save_pdf(
        sample_map_run,
        tmp_path / "page.pdf",
        review_number="粤S(2026)01-001号",
        issuing_unit="普宁市流沙街道办",
    )
    flat = " ".join(pdf_text(pdf).split())
    assert "审图号 Map review no.: 粤S(2026)01-001号" in flat
    assert "编制单位 Issued by: 普宁市流沙街道办" in flat
    assert "内部使用" not in flat


def test_pdf_is_recognised_as_the_planners(sample_map_run: Result, tmp_path: Path):
    pdf = sample_map_run.files["pdf"]
    assert is_planner_file(pdf)
    check_replaceable(pdf)
    foreign = tmp_path / "sample.pdf"
    foreign.write_bytes(b"%PDF-1.4\n% liusha-planner in a page, not in the Creator\n%%EOF\n")
    assert not is_planner_file(foreign)
    with pytest.raises(OutputLocationError):
        check_replaceable(foreign)


def test_report_table_in_scenario(tmp_path: Path):
    text = edited("[analysis]", '[report]\nreview_number = " 粤S(2026)01-001号 "\n\n[analysis]')
    sc = load_scenario(write_scenario(tmp_path / "a", text))
    assert sc.review_number == "粤S(2026)01-001号" and sc.issuing_unit == ""
    bad = edited("[analysis]", "[report]\nreview_number = 2026\n\n[analysis]")
    with pytest.raises(ScenarioError, match=r"\[report\] review_number"):
        load_scenario(write_scenario(tmp_path / "b", bad))
    bad = edited("[analysis]", '[report]\nissued_by = "x"\n\n[analysis]')
    with pytest.raises(ScenarioError, match="issued_by"):
        load_scenario(write_scenario(tmp_path / "c", bad))

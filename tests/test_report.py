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
    assert "WGS-84" in flat and "GCJ" not in flat  # the sample's inputs are all WGS-84
    assert "商户 POIs:" in flat or "POIs:" in flat  # where the merchants came from
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


# --------------------------------------------------------------------------- long titles
LONG_TITLE = (
    "普宁市流沙北街道国际商品城片区 15 分钟便民生活圈建设规划（2025—2027 年）评估图 "
    "Puning Liusha North Subdistrict, International Commodity City area: 15-minute "
    "convenience circle plan 2025-2027, assessment map"
)


def _titled(result: Result, title: str) -> Result:
    import copy
    from dataclasses import replace

    out = copy.copy(result)
    out.provenance = replace(result.provenance, title=title)
    return out


def test_fit_text_shrinks_wraps_and_cuts_to_the_width():
    import matplotlib as mpl
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    from planner import plot

    with mpl.rc_context(plot._font_rc()):

        def width(s: str, pt: float) -> float:
            return text_to_path.get_text_width_height_descent(s, FontProperties(size=pt), False)[0]

        assert plot.fit_text("短标题 short", 500, 14, min_size=9) == ("短标题 short", 14, True)
        one, pt, whole = plot.fit_text(LONG_TITLE[:60], 500, 14, min_size=9)
        assert whole and 9 <= pt < 14 and one == LONG_TITLE[:60].strip()  # smaller, all of it
        assert width(one, pt) <= 500 and width(one, pt + 0.5) * 1.02 > 500  # the largest that fits
        two, pt2, whole2 = plot.fit_text(LONG_TITLE, 690, 11, min_size=8, max_lines=2)
        lines = two.split("\n")
        assert whole2 and len(lines) == 2 and all(width(x, pt2) <= 690 for x in lines)
        assert "".join(lines).replace(" ", "") == LONG_TITLE.replace(" ", "")  # nothing lost
        cut, pt3, whole3 = plot.fit_text(LONG_TITLE * 3, 400, 14, min_size=9)
        assert not whole3 and pt3 == 9 and cut.endswith("…") and width(cut, 9) <= 400
        assert LONG_TITLE.startswith(cut[:-1].rstrip())


def test_a_long_title_stays_on_the_pdf_page_and_the_png(sample_map_run: Result, tmp_path: Path):
    """Official plan titles are long: the page shows all of it, smaller, within the page."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from planner import plot

    titled = _titled(sample_map_run, LONG_TITLE)
    pdf = report.save_pdf(titled, tmp_path / "long.pdf")
    flat = " ".join(pdf_text(pdf).split())
    assert "Puning Liusha North Subdistrict" in flat and "assessment map" in flat
    import matplotlib as mpl
    from matplotlib.text import Text

    for fig in (report.draw_page(titled), plot.draw(titled)):
        with mpl.rc_context(plot._font_rc()):  # as save_pdf and save_png draw them
            FigureCanvasAgg(fig)
            renderer = fig.canvas.get_renderer()
            fig.draw(renderer)
            texts = [t for t in fig.findobj(Text) if "Puning" in t.get_text()]
            assert texts, "the title is drawn"
            for t in texts:
                extent = t.get_window_extent(renderer)
                assert fig.bbox.x0 <= extent.x0 and extent.x1 <= fig.bbox.x1, extent
                assert extent.y1 <= fig.bbox.y1 - 0.01 * fig.bbox.height, extent  # off the edge


@pytest.mark.parametrize(
    ("name", "cjk", "shown"),
    [
        ("高新园地铁站 (Hi-Tech Park metro station)", True, "高新园地铁站"),
        ("中国邮政深圳高新支局（China Post）", True, "中国邮政深圳高新支局"),
        ("普宁国际商品城党群服务中心服务站点很长的名字", True, "普宁国际商品城党群服务中心服务…"),
        ("Hi-Tech Park metro station", True, "Hi-Tech Park…"),
        ("高新园地铁站 (Hi-Tech Park metro station)", False, "(Hi-Tech Park…"),
        ("Shenzhen University metro station", False, "Shenzhen…"),
        ("公共厕所 (public toilets)", False, "(public toilets)"),
        ("", True, ""),
    ],
)
def test_table_names_keep_whole_words(name, cjk, shown):
    """A facility's Chinese name alone when it has both; a long name is cut between words."""
    assert report._short_name(name, cjk) == shown
    assert len(shown) <= 16


def test_table_headers_are_chinese_first_with_a_cjk_font(monkeypatch):
    from planner import pipeline, plot
    from tests.handmade import make_network, points

    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    a = pipeline.analyse(net, points([("F1", 50, 10)]), points([("P1", 80, 5)]), bands_min=(5, 7.5))
    monkeypatch.setattr(plot, "cjk_font", lambda: "a font")
    header, _rows, _note = report._table_rows(a, 10)
    assert header == ["服务点 Facility", "≤5 分钟 min", "≤7.5 分钟 min"]
    monkeypatch.setattr(plot, "cjk_font", lambda: None)
    header, _rows, _note = report._table_rows(a, 10)
    assert header == ["Facility", "≤5 min", "≤7.5 min"]


def test_a_facility_not_routed_reads_not_routed_not_zero(monkeypatch):
    """F2 is 2 km from the only street: 未计算, not "0 0" like a facility that reaches none."""
    from planner import pipeline, plot
    from tests.handmade import make_network, points

    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    fac = points([("F1", 50, 10), ("F2", 50, 2000), ("F3", 0, 0)])
    fac["name"] = ["a", "b", "深大\n地铁站"]
    a = pipeline.analyse(net, fac, points([("P1", 80, 5)]), bands_min=(1, 2))
    monkeypatch.setattr(plot, "cjk_font", lambda: "a font")
    _header, rows, _note = report._table_rows(a, 10)
    assert rows[0] == ["F1 a", "1", "1"]
    assert rows[1] == ["F2 b", "未计算 not routed", "未计算 not routed"]
    assert rows[2] == ["F3 深大 地铁站", "0", "1"]  # a line break in a name is a space
    fac["id"] = ["LIUSHA-EAST-COMMUNITY-HEALTH-CENTRE-01", "F2", "F3"]
    a = pipeline.analyse(net, fac, points([("P1", 80, 5)]), bands_min=(1, 2))
    _header, rows, note = report._table_rows(a, 1)
    assert rows[0][0] == "LIUSHA-EAST… a"  # the id cut, the name shown
    assert "另有 2 个服务点见 summary.json 或工作簿汇总表" in note


def test_notes_name_only_the_coordinate_systems_that_were_converted(monkeypatch):
    from planner import pipeline, plot
    from tests.handmade import make_network, points

    monkeypatch.setattr(plot, "cjk_font", lambda: "a font")
    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    fac = points([("F1", 50, 10)])
    fac["crs_orig"] = "WGS84"
    plain = pipeline.analyse(net, fac, points([("P1", 80, 5)]), bands_min=(5,))
    assert "Converted" not in report._notes(plain) and "GCJ" not in report._notes(plain)
    fac["crs_orig"] = "GCJ02"
    amap = pipeline.analyse(net, fac, points([("P1", 80, 5)]), bands_min=(5,))
    assert "输入已转换 Converted to WGS-84: GCJ02" in report._notes(amap)


def test_the_review_line_travels_with_the_result_to_every_map(sample_map_run: Result, tmp_path):
    """审图号 or the internal-use notice on the PDF, the PNG and the HTML map alike; it comes
    from the scenario's [report] through the result, as every writer reads only the result."""
    from dataclasses import replace

    from planner import maps, plot
    from planner.scenario import load_scenario

    number, unit = "粤S(2026)01-001号", "普宁市流沙街道办"
    reviewed = replace(
        sample_map_run,
        provenance=replace(sample_map_run.provenance, review_number=number, issuing_unit=unit),
    )
    for result, wanted in ((sample_map_run, "内部使用"), (reviewed, number)):
        texts = [t.get_text() for t in plot.draw(result).texts]
        assert any(wanted in t for t in texts), texts  # the PNG's footer
        page = maps.build_map(result).get_root().render()
        assert wanted in page  # the HTML panel
        flat = " ".join(pdf_text(report.save_pdf(result, tmp_path / "p.pdf")).split())
        assert wanted in flat  # the PDF, with no footer given
    assert unit in " ".join(pdf_text(tmp_path / "p.pdf").split())
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "scenario.toml").write_text(
        f'[scenario]\nname = "r"\n[network]\nsource = "overpass"\n[facilities]\n'
        f'path = "f.csv"\n[report]\nreview_number = "{number}"\nissuing_unit = "{unit}"\n',
        encoding="utf-8",
    )
    (folder / "f.csv").write_text("id,lon,lat\nF,116.19,23.30\n", encoding="utf-8")
    about = load_scenario(folder / "scenario.toml").provenance()
    assert (about.review_number, about.issuing_unit) == (number, unit)

"""The workbook (<name>.xlsx) and GeoPackage (<name>.gpkg) written with the other outputs."""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import replace

import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest

from planner import export, gaps, pipeline
from planner.outputs import output_files
from tests.handmade import make_network, points

HOSTILE = '=HYPERLINK("http://x","点我")'


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A hand-made analysis with a hostile merchant name and a policy table, written out."""
    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (900, 0)}, [(0, 1), (1, 2), (2, 3)])
    fac = points([("F1", 50, 10), ("F2", 150, 10)])
    pois = points([(f"P{i}", 20 * i, 5) for i in range(8)] + [("far", 900, 400)])
    pois["name"] = [HOSTILE, "普宁商品城", "+cmd", "a", "b", "c", "d", "e", "far"]
    a = pipeline.analyse(net, fac, pois, bands_min=(1, 2), speed_kmh=4.5)
    policy = pd.DataFrame(
        {
            "origin_id": ["F1", "F2"],
            "band_min": [1.0, 2.0],
            "count": [3, 0],
            "type_zh": ["菜场"] * 2,
        }
    )
    a = replace(a, provenance=replace(a.provenance, name="测试区", title="测试"), policy=policy)
    out = tmp_path_factory.mktemp("export") / "o"
    files = pipeline.write_outputs(a, out)
    return a, files


def test_files_are_named_after_the_scenario_and_published(written):
    _, files = written
    assert files["workbook"].name == "测试区.xlsx" and files["workbook"].is_file()
    assert files["geopackage"].name == "测试区.gpkg" and files["geopackage"].is_file()
    names = {p.name for p in files["workbook"].parent.iterdir() if not p.name.startswith(".")}
    assert names == set(output_files("测试区").values())


def test_file_stem_cleans_names():
    assert export.file_stem("a/b:c") == "a_b_c"
    assert export.file_stem("") == "analysis"
    assert export.file_stem("..x") == "x"


def _excel_width(chars: float) -> float:
    """The width Excel stores for a column of `chars` characters (Calibri 11: 7 px digits,
    5 px padding, 1/256 steps), e.g. 40 -> 40.71."""
    pixels = int(chars * 7 + 0.5) + 5
    return (pixels * 256 // 7) / 256


def test_workbook_sheets_headers_filters_and_counts(written):
    a, files = written
    book = openpyxl.load_workbook(files["workbook"])
    assert book.sheetnames == [
        "汇总",
        "服务点",
        "出入口",
        "商户",
        "覆盖明细",
        "政策业态",
        "服务缺口",
    ]
    cells = gaps.gaps_of(a).cells
    tables = {
        "服务点": a.facilities.drop(columns="geometry"),
        "出入口": a.entrances.drop(columns="geometry"),
        "商户": a.pois.drop(columns="geometry"),
        "覆盖明细": a.coverage,
        "政策业态": a.policy,
        "服务缺口": export.workbook_tables(a)["服务缺口"],  # the cells and their centres
    }
    assert list(tables["服务缺口"].columns[:-2]) == list(cells.drop(columns="geometry").columns)
    for sheet, frame in tables.items():
        ws = book[sheet]
        heads = [c.value for c in ws[1]]
        assert heads == [export.header(c) for c in frame.columns], sheet
        assert ws.freeze_panes == "A2"
        last = openpyxl.utils.get_column_letter(len(frame.columns))
        assert ws.auto_filter.ref == f"A1:{last}{len(frame) + 1}"
        assert ws.max_row == len(frame) + 1, sheet
        for j in range(1, len(frame.columns) + 1):
            width = ws.column_dimensions[openpyxl.utils.get_column_letter(j)].width
            # stored as Excel stores a width of w characters: with the cell padding
            assert _excel_width(export.MIN_WIDTH) <= width <= _excel_width(export.MAX_WIDTH)
    assert "最近服务点 nearest_facility_id" in [c.value for c in book["商户"][1]]
    assert "1分钟未覆盖商户 uncovered_1" in [c.value for c in book["服务缺口"][1]]


def test_workbook_keeps_every_facility_row_with_its_status(tmp_path):
    """A second entrance with no point and a facility far from any street are in 出入口."""
    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    fac = points([("F1", 50, 10), ("F1", 60, 10), ("F2", 50, 2000)])
    fac.loc[1, ["lon", "lat"]] = np.nan
    fac.loc[1, ["status", "usable", "reason"]] = [
        "missing_coordinates",
        False,
        "f.csv row 3: no lon",
    ]
    a = pipeline.analyse(net, fac, points([("P1", 20, 5)]), bands_min=(1,))
    path = export.write_workbook(a, tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(path)["出入口"]
    heads = [c.value for c in ws[1]]
    rows = [dict(zip(heads, (c.value for c in r), strict=True)) for r in ws.iter_rows(min_row=2)]
    status, reason = export.header("status"), export.header("reason")
    assert [r[status] for r in rows] == ["ok", "missing_coordinates", "too_far_from_network"]
    assert rows[1][reason] == "f.csv row 3: no lon" and "snapping limit" in rows[2][reason]


def test_workbook_numbers_are_numbers_and_text_is_never_a_formula(written):
    a, files = written
    ws = openpyxl.load_workbook(files["workbook"])["商户"]
    heads = [c.value.split(" ")[-1] for c in ws[1]]
    rows = list(ws.iter_rows(min_row=2))
    minutes = [r[heads.index("minutes_to_nearest")] for r in rows]
    expected = a.pois["minutes_to_nearest"].to_numpy(dtype=float)
    for cell, want in zip(minutes, expected, strict=True):
        if np.isfinite(want):
            assert cell.data_type == "n" and cell.value == pytest.approx(want)
        else:
            assert cell.value is None
    names = [r[heads.index("name")] for r in rows]
    hostile = names[0]
    assert hostile.data_type == "s" and hostile.value == "'" + HOSTILE
    assert names[1].value == "普宁商品城" and names[2].value == "'+cmd"
    for ws in openpyxl.load_workbook(files["workbook"]):
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


def test_workbook_summary_sheet(written):
    a, files = written
    ws = openpyxl.load_workbook(files["workbook"])["汇总"]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    by_key = {r[0]: r[1] for r in rows if r and r[0]}
    assert by_key["标题 title"] == "测试"
    assert by_key["步行速度(公里/小时) speed_kmh"] == 4.5
    bands = a.summary["overall"]["bands"]
    band_rows = {r[0]: r for r in rows if isinstance(r[0], int | float)}
    assert band_rows[1.0][1] == bands["1"]["pois_within"]
    assert band_rows[2.0][2] == pytest.approx(bands["2"]["share_of_all_pois"])
    fac = {r[0]: r for r in rows if r[0] in ("F1", "F2")}
    for f in a.summary["facilities"]:
        assert fac[f["facility_id"]][4:6] == [f["bands"]["1"]["pois"], f["bands"]["2"]["pois"]]


def test_workbook_without_policy_has_no_policy_sheet(tmp_path):
    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    a = pipeline.analyse(net, points([("F", 50, 10)]), points([("P", 10, 5)]), bands_min=(5,))
    path = export.write_workbook(a, tmp_path / "x.xlsx")
    assert "政策业态" not in openpyxl.load_workbook(path).sheetnames


def test_geopackage_layers_crs_counts_and_values(written):
    a, files = written
    path = files["geopackage"]
    assert [name for name, _ in pyogrio.list_layers(path)] == list(export.GEOPACKAGE_LAYERS)
    expected = {
        "facilities": a.facilities,
        "entrances": a.entrances,
        "pois": a.pois,
        "isochrones": a.isochrones,
        "network": a.network.edges_gdf(),
        "gaps": gaps.gaps_of(a).cells,
    }
    for layer, frame in expected.items():
        back = pyogrio.read_dataframe(path, layer=layer)
        assert back.crs.to_epsg() == 4326, layer
        assert len(back) == len(frame), layer
    pois = pyogrio.read_dataframe(path, layer="pois")
    assert pois["name"].iloc[0] == HOSTILE  # raw text in GIS files
    assert list(pois["poi_id"]) == list(a.pois["poi_id"])
    np.testing.assert_allclose(
        pois["minutes_to_nearest"].to_numpy(dtype=float),
        a.pois["minutes_to_nearest"].to_numpy(dtype=float),
    )
    net = pyogrio.read_dataframe(path, layer="network")
    assert set(net.geom_type) == {"LineString"}
    np.testing.assert_allclose(net["length"], a.network.edges_gdf()["length"])
    iso = pyogrio.read_dataframe(path, layer="isochrones")
    assert list(iso["facility_id"]) == list(a.isochrones["facility_id"])


def test_tables_longer_than_a_sheet_continue_on_numbered_sheets(written, tmp_path, monkeypatch):
    """Nothing is cut at the row limit: the rest goes on "名称 (2)", …; the summary says so."""
    a, _ = written
    monkeypatch.setattr(export, "EXCEL_MAX_ROWS", 4)  # 3 data rows per sheet
    path = export.write_workbook(a, tmp_path / "split.xlsx")
    book = openpyxl.load_workbook(path)
    n = len(a.pois)
    parts = ["商户"] + [f"商户 ({k})" for k in range(2, -(-n // 3) + 1)]
    assert [s for s in book.sheetnames if s.startswith("商户")] == parts
    heads = [export.header(c) for c in a.pois.drop(columns="geometry").columns]
    values = []
    for name in parts:
        ws = book[name]
        rows = [[c.value for c in r] for r in ws.iter_rows()]
        assert rows[0] == heads and 2 <= len(rows) <= 4 and ws.freeze_panes == "A2"
        values += rows[1:]
    assert [r[heads.index("商户编号 poi_id")] for r in values] == list(a.pois["poi_id"])
    summary = [[c.value for c in r] for r in book["汇总"].iter_rows()]
    notes = [r[1] for r in summary if r[0] == "续表 continued"]
    assert any(note.startswith("商户 ") and parts[-1] in note for note in notes)


def _deflated_size(data: bytes, level: int) -> int:
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return len(packer.compress(data) + packer.flush())


def test_workbook_entries_deflated_at_the_set_level_and_xlsxwriter_left_as_it_was(written):
    """Every entry is raw deflate at XLSX_COMPRESSLEVEL, not zlib's default; the swap is undone."""
    import xlsxwriter.workbook

    _, files = written
    with zipfile.ZipFile(files["workbook"]) as z:
        infos = [i for i in z.infolist() if i.compress_type == zipfile.ZIP_DEFLATED]
        data = {i.filename: z.read(i) for i in infos}
    assert len(infos) >= 8
    for info in infos:
        assert info.compress_size == _deflated_size(data[info.filename], export.XLSX_COMPRESSLEVEL)
    # the levels differ on the sheets, so the check above tells them apart
    sheets = [i for i in infos if i.filename.startswith("xl/worksheets/")]
    assert any(_deflated_size(data[i.filename], 6) != i.compress_size for i in sheets), (
        "level 6 would give the same sizes: the test could not fail"
    )
    assert xlsxwriter.workbook.ZipFile is zipfile.ZipFile


def test_workbook_deflate_level_swap_undone_when_closing_fails(tmp_path, monkeypatch):
    import xlsxwriter.workbook

    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    a = pipeline.analyse(net, points([("F", 50, 10)]), points([("P", 10, 5)]), bands_min=(5,))
    seen = []

    def broken(self):
        seen.append(xlsxwriter.workbook.ZipFile)
        raise RuntimeError("磁盘已满")

    monkeypatch.setattr(xlsxwriter.workbook.Workbook, "_store_workbook", broken)
    with pytest.raises(RuntimeError, match="磁盘已满"):
        export.write_workbook(a, tmp_path / "x.xlsx")
    assert seen == [export._LeveledZipFile]  # the swap was in place when the book closed
    assert xlsxwriter.workbook.ZipFile is zipfile.ZipFile
    assert not (tmp_path / "x.xlsx").exists()


def test_geopackage_layers_leave_the_result_as_it_was():
    """Lists become text in the layer; the result's own frames keep their values."""
    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    a = pipeline.analyse(net, points([("F", 50, 10)]), points([("P", 10, 5), ("Q", 60, 5)]))
    a.pois["tags"] = pd.Series([["菜场", "快递"], None], index=a.pois.index, dtype=object)
    before = a.pois.copy(deep=True)
    layers = export.geopackage_layers(a)
    tags = layers["pois"]["tags"]
    assert tags.iloc[0] == "['菜场', '快递']" and pd.isna(tags.iloc[1])
    assert layers["pois"].crs.to_epsg() == 4326
    assert list(a.pois["tags"]) == [["菜场", "快递"], None]
    pd.testing.assert_frame_equal(a.pois, before)


def test_text_longer_than_an_excel_cell_is_cut_with_a_mark_on_every_sheet(tmp_path):
    """Excel holds 32,767 characters a cell: longer text is cut, visibly, the same everywhere."""
    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    fac = points([("F1", 50, 10)])
    fac["name"] = "邮" * 40_000 + "END"
    a = pipeline.analyse(net, fac, points([("P1", 20, 5)]), bands_min=(1,))
    book = openpyxl.load_workbook(export.write_workbook(a, tmp_path / "t.xlsx"))
    cells = [
        c.value
        for sheet in ("汇总", "服务点", "出入口")
        for row in book[sheet].iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith("邮邮")
    ]
    assert len(cells) == 3
    for text in cells:
        assert len(text) == export.EXCEL_MAX_CHARS
        assert text.endswith("…[截断 truncated: full text in the CSV]")


def test_numbers_are_shown_as_shares_minutes_and_metres_and_stored_whole(written):
    a, files = written
    book = openpyxl.load_workbook(files["workbook"])
    ws = book["汇总"]
    shares = [
        c for row in ws.iter_rows() for c in row if isinstance(c.value, float) and 0 < c.value < 1
    ]
    assert shares and all(c.number_format == "0.0%" for c in shares)
    pois = book["商户"]
    heads = [c.value for c in pois[1]]
    j = heads.index(export.header("minutes_to_nearest"))
    cells = [row[j] for row in pois.iter_rows(min_row=2) if row[j].value is not None]
    assert cells and all(c.number_format == "0.00" for c in cells)
    want = a.pois["minutes_to_nearest"].dropna().tolist()
    assert [c.value for c in cells] == pytest.approx(want, abs=0)  # the value itself, whole
    cov = book["覆盖明细"]
    k = [c.value for c in cov[1]].index(export.header("distance_m"))
    assert {row[k].number_format for row in cov.iter_rows(min_row=2)} == {"0.0"}
    name = [c.value for c in pois[1]].index(export.header("name"))
    assert pois.cell(2, name + 1).number_format == "General"  # text keeps no format


def test_gap_cells_say_where_they_are_in_degrees_and_the_metric_crs_is_named(written):
    from pyproj import Transformer

    a, files = written
    cells = gaps.gaps_of(a).cells
    table = export.workbook_tables(a)["服务缺口"]
    assert len(table) > 0
    size = float(np.sqrt(cells.geometry.to_crs(a.network.crs).area.iloc[0]))  # square cells
    back = Transformer.from_crs(a.network.crs, 4326, always_xy=True)
    lon, lat = back.transform(table["x0"] + size / 2, table["y0"] + size / 2)
    np.testing.assert_allclose(table["centre_lon"], lon, atol=1e-9)
    np.testing.assert_allclose(table["centre_lat"], lat, atol=1e-9)
    book = openpyxl.load_workbook(files["workbook"])
    summary = {r[0].value: r[1].value for r in book["汇总"].iter_rows() if r[0].value}
    from pyproj import CRS

    assert summary["路网投影(米) network_crs"] == f"EPSG:{CRS(a.network.crs).to_epsg()}"
    heads = [c.value for c in book["服务缺口"][1]]
    assert "网格中心经度 centre_lon" in heads and "网格西南角X(米, 路网投影) x0" in heads


def test_geopackage_takes_tables_with_fid_and_names_equal_but_for_case(tmp_path):
    """QGIS exports carry an fid column; a GeoPackage's fid is its integer key, and its field
    names ignore case: such columns are renamed with _src, not a traceback."""
    import pyogrio

    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    fac = points([("F1", 50, 10)])
    fac["fid"], fac["Name"], fac["geom"] = ["a"], ["upper"], ["a shape"]
    pois = points([("P1", 20, 5), ("P2", 40, 5)])
    pois["fid"], pois["NAME"] = ["x", "y"], ["A", "B"]
    a = pipeline.analyse(net, fac, pois, bands_min=(1,))
    path = export.write_geopackage(a, tmp_path / "t.gpkg")
    fields = {
        layer: list(pyogrio.read_info(path, layer=layer)["fields"])
        for layer, _ in pyogrio.list_layers(path)
    }
    assert "fid_src" in fields["pois"] and "NAME_src" in fields["pois"]
    assert "fid_src" in fields["entrances"] and "Name_src" in fields["entrances"]
    assert "geom_src" in fields["entrances"]  # GDAL's geometry column is geom
    assert export.gpkg_names(["a", "FID", "A", "a_src"]) == {
        "FID": "FID_src",
        "A": "A_src",
        "a_src": "a_src_src",
    }

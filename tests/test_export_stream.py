"""The workbook's table rows streamed as XML blocks are xlsxwriter's own cell-by-cell output."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import replace

import numpy as np
import openpyxl
import pandas as pd
import pytest
import xlsxwriter

from planner import export, pipeline
from tests.handmade import make_network, points

#: Text that takes every branch of the inline-string XML: escapes, control characters,
#: xlsxwriter's own ``_xHHHH_`` escape written literally, edge whitespace, formulas, CJK.
NASTY = [
    "plain",
    "普宁商品城",
    "a & b < c > d",
    "quote \" and ' apostrophe",
    "line\nbreak",
    "tab\tinside",
    " leading",
    "trailing ",
    "\ttab first",
    "ends with newline\n",
    "ctrl \x01\x02\x1f chars",
    "\x1c file separator first",
    "literal _x0041_ escape",
    "_x00e9_ at start",
    "non-characters \ufffe\uffff",
    '=HYPERLINK("http://x","点我")',
    "+cmd",
    "-1",
    "@sum",
    "",
    "emoji 😀 beyond the BMP",
]


def _frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    text = [NASTY[i % len(NASTY)] for i in range(n)]
    floats = rng.normal(0, 1e3, n) * 10.0 ** rng.integers(-9, 12, n)
    floats[::7] = np.nan
    floats[3] = np.inf
    floats[4] = 0.1 + 0.2  # 17 significant digits: written with 16 as xlsxwriter does
    ints = rng.integers(-(2**62), 2**62, n)
    nullable = pd.array([None if i % 5 == 0 else i for i in range(n)], dtype="Int64")
    mixed = [[1, "x", True, 2.5, None, False, "=1+1"][i % 7] for i in range(n)]
    return pd.DataFrame(
        {
            "name": text,
            "x": floats,
            "count": ints,
            "nullable": nullable,
            "flag": [bool(i % 3) for i in range(n)],
            "mixed": pd.Series(mixed, dtype=object),
            "empty": [None] * n,
            "str_dtype": pd.array(
                [None if i % 4 == 0 else f"s{i}" for i in range(n)], dtype="string"
            ),
        }
    )


def _sheet_xml(path, monkeypatch, frame: pd.DataFrame, stream: bool, max_rows: int) -> dict:
    if not stream:
        monkeypatch.setattr(export, "_can_stream", lambda ws: False)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                           "strings_to_numbers": False, "strings_to_urls": False,
                                           "nan_inf_to_errors": False})  # fmt: skip
    try:
        sheets = export._Sheets(book)
        names = export._table_sheet(sheets, "表", frame, max_rows)
    finally:
        book.close()
    monkeypatch.undo()
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}
    return {"names": names, **members}


def _unescape(text: str | None) -> str | None:
    if text is None:
        return None
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)


def _with_blank_rows() -> pd.DataFrame:
    """Rows with no cell at all, one of them the last (numpy int and bool columns left out)."""
    frame = _frame().drop(columns=["count", "flag"])
    frame.loc[[10, 11, 59], :] = None
    return frame


def _empty() -> pd.DataFrame:
    return _frame().iloc[:0]


@pytest.mark.parametrize("max_rows", [export.EXCEL_MAX_ROWS, 7])
@pytest.mark.parametrize("make", [_frame, _with_blank_rows, _empty])
def test_streamed_rows_are_xlsxwriters_bytes(tmp_path, monkeypatch, max_rows, make):
    """Every file of the workbook is byte for byte the one xlsxwriter writes cell by cell."""
    frame = make()
    streamed = _sheet_xml(tmp_path / "s.xlsx", monkeypatch, frame, True, max_rows)
    called = []
    real = export._stream_rows
    monkeypatch.setattr(export, "_stream_rows", lambda *a: called.append(1) or real(*a))
    _sheet_xml(tmp_path / "probe.xlsx", monkeypatch, frame, True, max_rows)
    assert called  # the fast path ran
    by_cell = _sheet_xml(tmp_path / "c.xlsx", monkeypatch, frame, False, max_rows)
    assert streamed.keys() == by_cell.keys()
    n = len(frame)
    assert len(streamed["names"]) == (1 if max_rows > n + 1 else -(-n // (max_rows - 1)))
    for key in streamed:
        assert streamed[key] == by_cell[key], key


@pytest.fixture(scope="module")
def analysis():
    """A hand-made analysis with hostile merchant names and a policy table."""
    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (900, 0)}, [(0, 1), (1, 2), (2, 3)])
    fac = points([("F1", 50, 10), ("F2", 150, 10)])
    pois = points([(f"P{i}", 20 * i, 5) for i in range(len(NASTY))] + [("far", 900, 400)])
    pois["name"] = [*NASTY, "far"]
    a = pipeline.analyse(net, fac, pois, bands_min=(1, 2), speed_kmh=4.5)
    policy = pd.DataFrame({"origin_id": ["F1", "F2"], "band_min": [1.0, 2.0], "count": [3, 0]})
    return replace(a, policy=policy)


def test_streamed_whole_workbook_equals_cell_by_cell(analysis, tmp_path, monkeypatch):
    """The planner's workbook (hostile names, policy, gaps) is the same file either way."""
    a = analysis
    fast = export.write_workbook(a, tmp_path / "fast.xlsx")
    monkeypatch.setattr(export, "_can_stream", lambda ws: False)
    slow = export.write_workbook(a, tmp_path / "slow.xlsx")
    with zipfile.ZipFile(fast) as f, zipfile.ZipFile(slow) as s:
        assert f.namelist() == s.namelist()
        for n in f.namelist():
            if n != "docProps/core.xml":
                assert f.read(n) == s.read(n), n


def test_streamed_text_reads_back_unchanged(tmp_path):
    """openpyxl reads every nasty text back as written (neutralised formulas aside)."""
    frame = _frame(len(NASTY))
    book = xlsxwriter.Workbook(str(tmp_path / "t.xlsx"), {"constant_memory": True})
    try:
        export._table_sheet(export._Sheets(book), "表", frame, export.EXCEL_MAX_ROWS)
    finally:
        book.close()
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx")["表"]
    # openpyxl leaves Excel's _xHHHH_ escapes as they are: decode them as Excel does
    got = [_unescape(r[0].value) for r in ws.iter_rows(min_row=2)]
    want = [export._cell_value(t) for t in NASTY]
    assert got == want
    assert any(str(v).startswith("'=") for v in got)


@pytest.mark.parametrize("stream", [True, False])
def test_rich_text_lookalike_is_plain_text(tmp_path, monkeypatch, stream):
    """A name like "<r>a & b</r>" is text, streamed or cell by cell (summary sheet too).

    xlsxwriter copies such text into the file as rich-text XML: "<r>a & b</r>" made the
    whole workbook unreadable before.
    """
    if not stream:
        monkeypatch.setattr(export, "_can_stream", lambda ws: False)
    names = ["<r>a & b</r>", "<r><t>hi</t></r>", "<r> x </r>"]
    frame = pd.DataFrame({"name": names, "n": [1, 2, 3]})
    book = xlsxwriter.Workbook(str(tmp_path / "r.xlsx"), {"constant_memory": True})
    try:
        sheets = export._Sheets(book)
        ws = book.add_worksheet("head")
        for j, name in enumerate(names):  # as the summary sheet writes a bold header row
            sheets.write(ws, 0, j, name, sheets.bold)
        export._table_sheet(sheets, "表", frame, export.EXCEL_MAX_ROWS)
    finally:
        book.close()
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert [c.value for c in wb["head"][1]] == names
    assert [r[0].value for r in wb["表"].iter_rows(min_row=2)] == names


def test_dates_fall_back_to_cell_by_cell(tmp_path, monkeypatch):
    """A column of dates is not streamed; the sheet is written cell by cell, dates as dates."""
    frame = pd.DataFrame({"when": [dt.datetime(2024, 5, 1, 12, 30)], "n": [1]})
    called = []
    monkeypatch.setattr(export, "_stream_rows", lambda *a: called.append(1))
    book = xlsxwriter.Workbook(str(tmp_path / "d.xlsx"), {"constant_memory": True})
    try:
        export._table_sheet(export._Sheets(book), "表", frame, export.EXCEL_MAX_ROWS)
    finally:
        book.close()
    assert not called
    ws = openpyxl.load_workbook(tmp_path / "d.xlsx")["表"]
    assert ws["A2"].value == dt.datetime(2024, 5, 1, 12, 30) and ws["B2"].value == 1

"""Write a result as an Excel workbook (for officials) and a GeoPackage (for GIS staff).

The workbook (`write_workbook`) holds the summary and the tables, one sheet each, with
bilingual headers: one header row whose cells read ``中文 english`` (``最近服务点
nearest_facility_id``), so the filter, sort and frozen row act on a single row and the
English half is the exact column name of the CSV and GeoPackage files. The GeoPackage
(`write_geopackage`) holds the points, polygons, routed streets and gap cells in EPSG:4326
with the raw text (nothing neutralised: GIS tools do not evaluate formulas).
"""

from __future__ import annotations

import math
import os
import re
import threading
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import _arrow, gaps, io
from planner._publish import SIGNATURE, check_replaceable
from planner.crs import crs_name
from planner.result import Result

__all__ = [
    "GEOPACKAGE_LAYERS",
    "HEADERS_ZH",
    "WORKBOOK_SHEETS",
    "file_stem",
    "header",
    "write_geopackage",
    "write_workbook",
]

#: Sheet names of the workbook, in order (policy and gaps only when the result has them).
WORKBOOK_SHEETS = ("汇总", "服务点", "出入口", "商户", "覆盖明细", "政策业态", "服务缺口")
#: Layers of the GeoPackage, in order.
GEOPACKAGE_LAYERS = ("facilities", "entrances", "pois", "isochrones", "network", "gaps")
#: Chinese name of each column (`planner.schema` layouts, policy and gap tables).
HEADERS_ZH = {
    "row": "行号",
    "id": "编号",
    "name": "名称",
    "kind": "类别",
    "lon": "经度",
    "lat": "纬度",
    "x_orig": "原始X",
    "y_orig": "原始Y",
    "crs_orig": "原始坐标系",
    "status": "状态",
    "usable": "可用",
    "reason": "问题说明",
    "snap_status": "路网匹配",
    "access_m": "接入距离(米)",
    "skipped_piece": "跳过的路网片段",
    "skipped_piece_node": "片段节点",
    "skipped_piece_name": "片段街道",
    "skipped_extra_m": "多走距离(米)",
    "poi_id": "商户编号",
    "nearest_facility_id": "最近服务点",
    "minutes_to_nearest": "步行分钟",
    "source": "数据来源",
    "facility_id": "服务点编号",
    "poi_kind": "商户类别",
    "distance_m": "步行距离(米)",
    "minutes": "步行分钟",
    "band_min": "时间圈(分钟)",
    "entrances": "出入口数",
    "entrances_snapped": "已匹配出入口",
    "origin_id": "起点编号",
    "origin_kind": "起点类别",
    "type_code": "业态代码",
    "type_zh": "业态",
    "type_en": "业态(英文)",
    "class": "级别",
    "required": "必需",
    "count": "数量",
    "nearest_minutes": "最近步行分钟",
    "missing": "缺失",
    "cell_id": "网格编号",
    "x0": "网格西南角X(米, 路网投影)",
    "y0": "网格西南角Y(米, 路网投影)",
    "centre_lon": "网格中心经度",
    "centre_lat": "网格中心纬度",
    "unreached_street_m": "未达街道(米)",
}
_UNCOVERED = re.compile(r"^uncovered_(.+)$")
#: Column widths in characters (by content, capped).
MIN_WIDTH, MAX_WIDTH = 6, 40
_UNSAFE_NAME = re.compile(r'[/\\:*?"<>|\x00-\x1f]')


def file_stem(name: str) -> str:
    """A scenario name usable as a file name (``out/<name>/<name>.xlsx``).

    Scenario files already forbid ``/``, backslash, ``: * ? " < > |``; names made in
    Python are cleaned the same way (each such character becomes ``_``; an empty name
    becomes ``analysis``).
    """
    stem = _UNSAFE_NAME.sub("_", str(name)).strip().lstrip(".")
    return stem or "analysis"


def header(column: str) -> str:
    """The workbook header of a column: ``中文 english`` (just the English when unknown)."""
    zh = HEADERS_ZH.get(column)
    match = _UNCOVERED.match(column)
    if zh is None and match:
        zh = f"{match.group(1)}分钟未覆盖商户"
    return f"{zh} {column}" if zh else column


#: Excel's limit of characters in a cell; longer text is cut, saying so (the CSVs keep it all).
EXCEL_MAX_CHARS = 32_767
_CUT_MARK = "…[截断 truncated: full text in the CSV]"


def _fit_cell(text: str) -> str:
    """Cut `text` to `EXCEL_MAX_CHARS` with a visible mark when it is longer.

    Excel repairs (cuts silently) a longer cell, and xlsxwriter cuts some cells silently.
    """
    if len(text) <= EXCEL_MAX_CHARS:
        return text
    return text[: EXCEL_MAX_CHARS - len(_CUT_MARK)] + _CUT_MARK


def _cell_value(value: Any) -> Any:
    """A Python value the workbook stores with the right type; NaN, inf and None stay empty."""
    if type(value) is str:  # the common case first
        return _fit_cell("'" + value if value.startswith(io.FORMULA_START) else value)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return _fit_cell(str(io.spreadsheet_safe(value)))
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return _fit_cell(str(io.spreadsheet_safe(str(value))))


def _width(values: Iterable[Any]) -> int:
    longest = 0
    for v in values:
        if v is None:
            continue
        text = f"{v:.6g}" if isinstance(v, float) else str(v)
        # CJK characters take two columns
        n = sum(2 if ord(c) > 0x2E80 else 1 for c in text)
        longest = max(longest, n)
    return max(MIN_WIDTH, min(MAX_WIDTH, longest + 2))


#: Rows of one Excel sheet (1,048,576), the header row included.
EXCEL_MAX_ROWS = 1_048_576


def _column_values(values: pd.Series) -> list[Any]:
    """`_cell_value` of a whole column, numeric columns converted at numpy speed."""
    if not isinstance(values.dtype, np.dtype):  # nullable and other extension types
        return [_cell_value(v) for v in values.to_numpy(dtype=object)]
    kind = values.dtype.kind
    if kind == "b":
        return [bool(v) for v in values.to_numpy()]
    if kind in "iu":
        return values.to_numpy().tolist()  # Python ints
    if kind == "f":
        arr = values.to_numpy(dtype=float)
        out: list[Any] = arr.tolist()
        for i in np.flatnonzero(~np.isfinite(arr)):
            out[i] = None
        return out
    return [_cell_value(v) for v in values.to_numpy(dtype=object)]


class _Sheets:
    """Write rows to an xlsxwriter sheet by type: text always as text, numbers as numbers."""

    def __init__(self, book: Any) -> None:
        self.book = book
        self.bold = book.add_format({"bold": True})
        self.date = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._numbers: dict[str, Any] = {}

    def number_format(self, column: str) -> Any:
        """The display format of a numeric column (`_number_format`), or None."""
        pattern = _number_format(column)
        if pattern is None:
            return None
        if pattern not in self._numbers:
            self._numbers[pattern] = self.book.add_format({"num_format": pattern})
        return self._numbers[pattern]

    def write(self, ws: Any, r: int, c: int, value: Any, fmt: Any = None) -> None:
        """One cell; None leaves it empty (unless it is a header cell with a format)."""
        if value is None:
            if fmt is not None:
                ws.write_blank(r, c, None, fmt)
        elif isinstance(value, str):
            if value.startswith("<r>") and value.endswith("</r>"):
                # xlsxwriter would copy this text into the file as rich-text XML (a name
                # "<r>a & b</r>" made the workbook unreadable): plain runs of the same text
                runs = (value[:1], value[1:3], value[3:])  # xlsxwriter wants three or more
                ws.write_rich_string(r, c, *runs, *([fmt] if fmt else []))
            else:
                ws.write_string(r, c, value, fmt)  # never a formula, whatever the text
        elif isinstance(value, bool):
            ws.write_boolean(r, c, value, fmt)
        elif isinstance(value, int | float):
            ws.write_number(r, c, value, fmt)
        else:  # a datetime (`_cell_value` turns everything else into one of the above)
            ws.write_datetime(r, c, value, fmt or self.date)


#: Text that needs more than the plain inline-string XML: XML escapes, control characters,
#: text that looks like xlsxwriter's own ``_xHHHH_`` escape, leading or trailing whitespace.
_XML_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$")
_XML_ESCAPE_LIKE = re.compile("(_x[0-9a-fA-F]{4}_)")
_XML_CONTROL = re.compile(r"([\x00-\x08\x0b-\x1f])")
_EDGE_SPACE = re.compile(r"^\s|\s$")
#: Rows of a table sheet joined and handed to xlsxwriter's row file at once.
_STREAM_ROWS = 20_000


def _inline_string(text: str) -> str:
    """The XML of a text cell after ``<c r="A1``, exactly as xlsxwriter writes it inline.

    xlsxwriter's constant-memory steps: ``_xHHHH_``-like text escaped, control characters as
    ``_xHHHH_``, ``xml:space="preserve"`` for leading or trailing whitespace, ``& < >``
    escaped. One difference, on purpose: xlsxwriter copies text that starts with ``<r>`` and
    ends with ``</r>`` into the file unescaped (as rich text); here it is text like any other.
    """
    if _XML_SPECIAL.search(text) is None:
        return '" t="inlineStr"><is><t>' + text + "</t></is></c>"
    text = _XML_ESCAPE_LIKE.sub(r"_x005F\1", text)
    text = _XML_CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    space = ' xml:space="preserve"' if _EDGE_SPACE.search(text) else ""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'" t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _number(value: float) -> str:
    return '"><v>' + format(value, ".16G") + "</v></c>"


_TRUE, _FALSE = '" t="b"><v>1</v></c>', '" t="b"><v>0</v></c>'


def _number_format(column: str) -> str | None:
    """How a numeric column is shown; the stored value stays whole.

    Shares as percentages, minutes to two decimals, metres to one, degrees to six; None:
    Excel's General.
    """
    if column.startswith("share"):
        return "0.0%"
    if "minutes" in column:
        return "0.00"
    if column in ("lon", "lat", "x_orig", "y_orig", "centre_lon", "centre_lat"):
        return "0.000000"
    if column.endswith("_m") or column in ("distance_m", "access_m"):
        return "0.0"
    return None


def _cell_tails(values: list[Any], xf: int | None = None) -> list[str] | None:
    """Each cell's XML after ``<c r="A1`` ("" for an empty cell), as xlsxwriter writes it.

    `values` are `_column_values`: text, numbers, booleans or None. A column holding anything
    else (a date) gives None: its sheet is written cell by cell through xlsxwriter.
    """
    types = set(map(type, values))
    types.discard(type(None))
    if types <= {int, float}:  # `_number`, written out: the call is a third of the time
        if xf:  # the column's number format (style index), as xlsxwriter writes it
            return ["" if v is None else f'" s="{xf}"><v>{v:.16G}</v></c>' for v in values]
        return ["" if v is None else f'"><v>{v:.16G}</v></c>' for v in values]
    if types <= {str}:
        memo: dict[str, str] = {}
        out = []
        for v in values:
            if v is None:
                out.append("")
            elif (tail := memo.get(v)) is not None:
                out.append(tail)
            else:
                out.append(memo.setdefault(v, _inline_string(v)))
        return out
    if not types <= {int, float, str, bool}:
        return None
    return [
        ""
        if v is None
        else _inline_string(v)
        if type(v) is str
        else (_TRUE if v else _FALSE)
        if type(v) is bool
        else _number(v)
        for v in values
    ]


def _can_stream(ws: Any) -> bool:
    """Whether `ws` is an xlsxwriter constant-memory sheet whose row file can take rows."""
    return bool(getattr(ws, "constant_memory", False)) and all(
        hasattr(ws, name) for name in ("fh", "_write_single_row", "_check_dimensions")
    )


def _stream_rows(ws: Any, tails: Sequence[list[str]], a: int, b: int) -> None:
    """Rows `a`..`b` of a table (cell XML by `_cell_tails`) below the header row of `ws`.

    The same ``<row>`` XML xlsxwriter writes cell by cell in constant-memory mode (a test
    compares the sheets byte for byte), joined in blocks and appended to the sheet's row file;
    the header row is flushed first and the sheet's dimensions are set as its cells would.
    """
    from xlsxwriter.utility import xl_col_to_name

    starts = ['<c r="' + xl_col_to_name(j) for j in range(len(tails))]
    ws._write_single_row(1)  # writes the pending header row (row 0)
    last = 0
    for start in range(a, b, _STREAM_ROWS):
        stop = min(start + _STREAM_ROWS, b)
        block = []
        for n, row in enumerate(zip(*(t[start:stop] for t in tails), strict=True), start - a + 2):
            r = str(n)
            cells = "".join([c + r + t for c, t in zip(starts, row, strict=True) if t])
            if cells:
                block.append('<row r="' + r + '">' + cells + "</row>")
                last = n - 1
        ws.fh.write("".join(block))
    if last:
        ws._check_dimensions(last, len(tails) - 1)


def _sheet_parts(title: str, n_rows: int, max_rows: int) -> list[tuple[str, int, int]]:
    """(sheet name, first row, end row) of a table of `n_rows` rows.

    A table longer than one sheet (`max_rows` minus the header) continues on sheets named
    ``title (2)``, ``title (3)``, …, each with its own header row: nothing is dropped.
    """
    per = max_rows - 1
    if n_rows <= per:
        return [(title, 0, n_rows)]
    return [
        (title if k == 0 else f"{title} ({k + 1})", a, min(a + per, n_rows))
        for k, a in enumerate(range(0, n_rows, per))
    ]


def _table_sheet(sheets: _Sheets, title: str, frame: pd.DataFrame, max_rows: int) -> list[str]:
    """One table as one sheet (or more, see `_sheet_parts`): header row frozen, auto-filter.

    Returns the names of the sheets written.
    """
    frame = pd.DataFrame(frame)
    geometry = getattr(frame, "_geometry_column_name", None)
    frame = frame.drop(columns=[c for c in frame.columns if c == geometry or c == "geometry"])
    columns = [str(c) for c in frame.columns]
    heads = [str(io.spreadsheet_safe(header(c))) for c in columns]
    body = [_column_values(frame.iloc[:, j]) for j in range(len(columns))]
    widths = [_width([head, *col[:2000]]) for head, col in zip(heads, body, strict=True)]
    # a number format for columns of numbers only (a mixed column stays General)
    formats = [
        sheets.number_format(name)
        if {type(v) for v in col} - {type(None)} <= {int, float}
        else None
        for name, col in zip(columns, body, strict=True)
    ]
    xfs = [f._get_xf_index() if f is not None else None for f in formats]
    tails = [_cell_tails(col, xf) for col, xf in zip(body, xfs, strict=True)]
    names = []
    write = sheets.write
    for name, a, b in _sheet_parts(title, len(frame), max_rows):
        ws = sheets.book.add_worksheet(name)
        for j, width in enumerate(widths):
            ws.set_column(j, j, width)
        ws.freeze_panes(1, 0)
        if columns:
            ws.autofilter(0, 0, b - a, len(columns) - 1)
        for j, head in enumerate(heads):
            write(ws, 0, j, head, sheets.bold)
        if columns and all(t is not None for t in tails) and _can_stream(ws):
            _stream_rows(ws, tails, a, b)  # type: ignore[arg-type]
            names.append(name)
            continue
        # cell by cell: constant_memory keeps only the current row in memory
        for i in range(a, b):
            r = i - a + 1
            for j, col in enumerate(body):
                v = col[i]
                if v is not None:
                    write(ws, r, j, v, formats[j])
        names.append(name)
    return names


#: Deflate level of the workbook's zip entries. 2 packs the sheet XML about 3.6 times as fast
#: as zlib's default (6) into a file about 16% larger: 124 MB of city-workload XML took
#: 0.50 s for 21.4 MB against 1.82 s for 18.3 MB (1: 0.48 s, 22.5 MB; 4: 0.82 s, 19.8 MB).
XLSX_COMPRESSLEVEL = 2
_ZIP_SWAP = threading.Lock()


class _LeveledZipFile(zipfile.ZipFile):
    """A ZipFile that deflates at `XLSX_COMPRESSLEVEL` unless told otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("compresslevel", XLSX_COMPRESSLEVEL)
        super().__init__(*args, **kwargs)


@contextmanager
def _deflate_level(module: Any) -> Iterator[None]:
    """Make xlsxwriter's workbook `module` zip at `XLSX_COMPRESSLEVEL` for the duration.

    xlsxwriter has no option for the level (its issue 853) and looks its ``ZipFile`` up
    in its module when the book closes; that name is swapped for `_LeveledZipFile` and put
    back. A version without the name is left as it is (zlib's default level).
    """
    if not isinstance(getattr(module, "ZipFile", None), type):
        yield
        return
    with _ZIP_SWAP:
        original = module.ZipFile
        module.ZipFile = _LeveledZipFile
        try:
            yield
        finally:
            module.ZipFile = original


def _summary_rows(
    result: Result, continued: Sequence[tuple[str, list[str]]] = ()
) -> list[list[Any]]:
    p, s = result.provenance, result.settings
    summary = result.summary
    overall = summary.get("overall", {})
    bands = [s.band_label(b) for b in s.bands_min]
    rows: list[list[Any]] = [
        ["标题 title", p.title or p.name],
        ["场景 scenario", p.name],
        ["地点 place", p.place],
        ["路网来源 network_source", p.network_source],
        ["路网文件 network_file", p.network_file],
        ["数据日期 network_date", p.network_date],
        ["版权 attribution", p.attribution],
        ["服务点文件 facilities_file", p.facilities_file],
        ["商户文件 pois_file", p.pois_file],
        ["步行速度(公里/小时) speed_kmh", s.speed_kmh],
        ["时间圈(分钟) bands_min", " / ".join(bands)],
        ["路网投影(米) network_crs", crs_name(result.network.crs) if result.network else ""],
        ["服务点数 facilities", len(result.facilities)],
        ["商户总数 pois_total", overall.get("pois_total")],
        ["已接入路网商户 pois_routable", overall.get("pois_routable")],
    ]  # fmt: skip
    for title, parts in continued:
        rows.append(
            [
                "续表 continued",
                f"{title} 超出 Excel 每表 {EXCEL_MAX_ROWS:,} 行，续于 "
                f"rows beyond one Excel sheet continue on: {'、'.join(parts[1:])}",
            ]
        )
    rows += [
        [],
        [header("band_min"), "覆盖商户 pois_within", "占全部商户 share_of_all_pois",
         "占已接入路网商户 share_of_routable_pois"],
    ]  # fmt: skip
    for key in bands:
        band = overall.get("bands", {}).get(key, {})
        rows.append(
            [
                float(key),
                band.get("pois_within"),
                band.get("share_of_all_pois"),
                band.get("share_of_routable_pois"),
            ]
        )
    rows += [[], [header("facility_id"), header("name"), header("kind"), header("status")]]
    rows[-1] += [f"{b}分钟商户 pois_{b}min" for b in bands]
    for f in summary.get("facilities", []):
        counts = [f.get("bands", {}).get(b, {}).get("pois") for b in bands]
        rows.append([f.get("facility_id"), f.get("name"), f.get("kind"), f.get("status"), *counts])
    return [[_cell_value(v) for v in row] for row in rows]


def _summary_sheet(
    sheets: _Sheets, result: Result, continued: Sequence[tuple[str, list[str]]]
) -> None:
    rows = _summary_rows(result, continued)
    ws = sheets.book.add_worksheet(WORKBOOK_SHEETS[0])
    n_cols = max(len(r) for r in rows)
    for j in range(n_cols):
        values = [r[j] for r in rows if len(r) > j]
        ws.set_column(j, j, _width(values))
    bold = [i for i, r in enumerate(rows) if r and isinstance(r[0], str) and " " in r[0]]
    heads = [i for i, r in enumerate(rows) if len(r) > 2 and all(isinstance(v, str) for v in r)]
    # the numbers under a header (shares, minutes) shown as its column's format says
    formats: dict[tuple[int, int], Any] = {}
    for h in heads:
        for j, name in enumerate(rows[h]):
            fmt = sheets.number_format(str(name).split()[-1]) if name else None
            for i in range(h + 1, len(rows)) if fmt is not None else ():
                if not rows[i]:
                    break
                value = rows[i][j] if j < len(rows[i]) else None
                if isinstance(value, int | float) and not isinstance(value, bool):
                    formats[i, j] = fmt
    bold_rows = {i for i in bold if i in heads}
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            sheets.write(ws, i, j, value, sheets.bold if i in bold_rows else formats.get((i, j)))


def workbook_tables(result: Result) -> dict[str, pd.DataFrame]:
    """The table sheets of the workbook, by sheet name (summary excluded)."""
    tables = {
        WORKBOOK_SHEETS[1]: pd.DataFrame(result.facilities),
        # every input facility row (entrance) with its status and reason, as facilities.csv
        WORKBOOK_SHEETS[2]: pd.DataFrame(result.entrances),
        WORKBOOK_SHEETS[3]: pd.DataFrame(result.pois),
        WORKBOOK_SHEETS[4]: pd.DataFrame(result.coverage),
    }
    if result.policy is not None:
        tables[WORKBOOK_SHEETS[5]] = pd.DataFrame(result.policy)
    cells = gaps.gaps_of(result).cells
    table = pd.DataFrame(cells.drop(columns=cells.geometry.name))
    if len(cells) and cells.crs is not None and result.network is not None:
        # where a cell is, for whoever has no metric CRS at hand: its centre in WGS-84
        centre = cells.geometry.to_crs(result.network.crs).centroid.to_crs(4326)
        table["centre_lon"], table["centre_lat"] = centre.x.to_numpy(), centre.y.to_numpy()
    tables[WORKBOOK_SHEETS[6]] = table
    return tables


def write_workbook(result: Result, path: str | Path) -> Path:
    """Write the result as an ``.xlsx`` workbook atomically.

    Sheets: 汇总 (title, data source and date, speed, bands, per-band totals and shares,
    per-facility counts per band), 服务点 (facilities), 出入口 (every input facility row,
    an entrance, with its status and reason, as facilities.csv), 商户 (merchants, with nearest
    facility and minutes), 覆盖明细 (coverage pairs), 政策业态 (policy, when the result has
    one) and 服务缺口 (gap cells, without geometry). Table sheets have a frozen header row,
    an auto-filter and widths by content (capped); numbers are stored as numbers and text
    cells are neutralised against formulas (`planner.io.spreadsheet_safe`) and always
    stored as text. A table longer than an Excel sheet (`EXCEL_MAX_ROWS` rows with the
    header) continues on sheets ``名称 (2)``, ``名称 (3)``, … and the summary sheet says so.

    Written with xlsxwriter in its constant-memory mode (row by row, text stored inline),
    deflated at `XLSX_COMPRESSLEVEL`.

    Parameters
    ----------
    result
        The analysis.
    path
        Destination ``.xlsx``.

    Returns
    -------
    path
        The written file.
    """
    import xlsxwriter
    import xlsxwriter.workbook

    check_replaceable(path)  # a file of that name the planner did not write is left alone
    tables = workbook_tables(result)
    max_rows = EXCEL_MAX_ROWS
    continued = [
        (title, [name for name, _, _ in parts])
        for title, frame in tables.items()
        if len(parts := _sheet_parts(title, len(frame), max_rows)) > 1
    ]

    def write(p: Path) -> None:
        options = {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "nan_inf_to_errors": False,
        }
        book = xlsxwriter.Workbook(str(p), options)
        book.set_properties({"author": SIGNATURE, "title": result.provenance.title})
        try:
            sheets = _Sheets(book)
            _summary_sheet(sheets, result, continued)
            for title, frame in tables.items():
                _table_sheet(sheets, title, frame, max_rows)
        finally:
            with _deflate_level(xlsxwriter.workbook):
                book.close()

    return io.write_atomic(path, write)


def gpkg_names(columns: list[str], geometry: str = "geometry") -> dict[str, str]:
    """Rename the columns a GeoPackage would refuse.

    ``fid`` (its integer key), ``geom`` (its geometry column) and a name equal to an earlier
    one but for case (its field names ignore case) get ``_src``.

    Parameters
    ----------
    columns
        The table's column names, in order.
    geometry
        The geometry column's name (kept).

    Returns
    -------
    renames
        old name -> new name, only for the columns renamed.
    """
    used = {"fid", "geom", geometry.lower()}  # geom: GDAL's name for a GeoPackage geometry
    renames = {}
    for col in columns:
        if col == geometry:
            continue
        name = col
        while name.lower() in used:
            name += "_src"
        used.add(name.lower())
        if name != col:
            renames[col] = name
    return renames


def _plain(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a layer GDAL can store.

    EPSG:4326, lists and other objects as text, and field names a GeoPackage takes (no
    ``fid``, none equal to another but for case: `gpkg_names`).
    """
    out = gdf.to_crs(4326) if gdf.crs is not None else gdf.set_crs(4326)  # a new frame
    out = out.rename(columns=gpkg_names([str(c) for c in out.columns], out.geometry.name))
    for col in out.columns:
        if col == out.geometry.name or not pd.api.types.is_object_dtype(out[col]):
            continue
        out[col] = out[col].map(
            lambda v: (
                v
                if v is None or isinstance(v, str | bool | int | float)
                else (None if v is pd.NA else str(v))
            )
        )
    return out


def geopackage_layers(result: Result) -> dict[str, gpd.GeoDataFrame]:
    """The layers of the GeoPackage, by name, in EPSG:4326."""
    return {
        "facilities": _plain(result.facilities),
        "entrances": _plain(result.entrances),
        "pois": _plain(result.pois),
        "isochrones": _plain(result.isochrones),
        "network": _plain(result.network.edges_gdf()),
        "gaps": _plain(gaps.gaps_of(result).cells),
    }


def write_geopackage(result: Result, path: str | Path) -> Path:
    """Write the result as a GeoPackage atomically: one layer each of `GEOPACKAGE_LAYERS`.

    Points (facilities, entrances, pois), isochrone polygons, the routed streets as lines
    (network) and the gap cells, all in EPSG:4326, text as is.

    Parameters
    ----------
    result
        The analysis.
    path
        Destination ``.gpkg``.

    Returns
    -------
    path
        The written file.
    """
    check_replaceable(path)  # a file of that name the planner did not write is left alone
    layers = geopackage_layers(result)

    def write(p: Path) -> None:
        # GDAL wants the .gpkg extension: write beside the temporary name, then move it there
        gpkg = p.with_name(p.name + ".gpkg")
        try:
            for i, (name, layer) in enumerate(layers.items()):
                signed = {"generator": SIGNATURE} if i == 0 else None  # in gpkg_metadata
                _arrow.write_layer(layer, gpkg, name, "GPKG", dataset_metadata=signed)
            os.replace(gpkg, p)
        finally:
            gpkg.unlink(missing_ok=True)

    return io.write_atomic(path, write)

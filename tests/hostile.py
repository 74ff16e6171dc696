"""Hostile CSV tables for the property-based tests (a helper module, not a test module)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import strategies as st

__all__ = ["HEADER_CHOICES", "HOSTILE_TEXT", "count_data_rows", "encode", "hostile_tables", "write"]


HOSTILE_TEXT = [
    "",
    " ",
    "\u3000",
    "NaN",
    "nan",
    "-nan",
    "inf",
    "-Infinity",
    "1e400",
    "-1e308",
    "1e-320",
    "0x1A",
    "1_000",
    "null",
    "None",
    "N/A",
    "-",
    "<script>alert('x')</script>",
    "<b>粗体</b> &amp; &#x27;",
    '"',
    '""',
    "a,b",
    "a;b",
    "a\tb",
    "line\nbreak",
    "cr\ronly",
    "\ufeffbom",
    "\u202eRTL",
    "\x00nul",
    "１１６.１９",
    "23,29",
    "23.29°",
    "116°11'17\"E",
    "普宁国际商品城",
    "𠀀𪚥",
    "😀",
    '=HYPERLINK("x")',
]

numbers_as_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-200, max_value=200).map(lambda v: f"{v:.6f}"),
    st.floats(min_value=116.1, max_value=116.3).map(lambda v: f"{v:.6f}"),
    st.floats(min_value=23.2, max_value=23.4).map(lambda v: f"{v:.6f}"),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
cell = st.one_of(
    numbers_as_text,
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
)
coordinate_cell = st.one_of(
    st.floats(min_value=116.1, max_value=116.3).map(lambda v: f"{v:.6f}"),
    st.floats(min_value=23.2, max_value=23.4).map(lambda v: f"{v:.6f}"),
    numbers_as_text,
    st.sampled_from(HOSTILE_TEXT),
)

HEADER_CHOICES = {
    "id": ["id", "ID", "facility_id", "编号", "序号", " poi_id "],
    "name": ["name", "NAME", "名称", "店名", "商家名称"],
    "kind": ["kind", "type", "Category", "类型", "业态"],
    "lon": ["lon", "lng", "Longitude", "X", "经度", "东经", "经度(GCJ-02)"],
    "lat": ["lat", "LAT", "latitude", "y", "纬度", "北纬"],
    "note": ["note", "source", "备注"],
}


@st.composite
def hostile_tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """A header (shuffled recognised names, maybe a per-row crs column) and hostile rows.

    Rows are a mix of plausible points (in the study area, sometimes with lon/lat swapped),
    hostile cells, repeated ids, short, over-long and blank rows.
    """
    optional = draw(st.lists(st.sampled_from(["id", "name", "kind", "note"]), unique=True))
    roles = draw(st.permutations(["lon", "lat", *optional]))
    header = [draw(st.sampled_from(HEADER_CHOICES[role])) for role in roles]
    if draw(st.booleans()):
        roles.append("crs")
        header.append("crs")
    width = len(header)
    crs_cell = st.sampled_from(["", "WGS84", "GCJ-02 (likely)", "bd09", "EPSG:32650", "mars", " "])
    shapes = ["good", "good", "hostile", "hostile", "short", "long", "blank", "repeat"]
    rows: list[list[str]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        values = [draw(st.one_of(cell, coordinate_cell)) for _ in range(width)]
        if "crs" in roles:
            values[roles.index("crs")] = draw(crs_cell)
        shape = draw(st.sampled_from(shapes))
        if shape == "good":
            lon = f"{draw(st.floats(min_value=116.16, max_value=116.21)):.6f}"
            lat = f"{draw(st.floats(min_value=23.275, max_value=23.32)):.6f}"
            if draw(st.booleans()):
                lon, lat = lat, lon
            values[roles.index("lon")], values[roles.index("lat")] = lon, lat
        elif shape == "short":
            values = values[: draw(st.integers(min_value=0, max_value=width - 1))]
        elif shape == "long":
            values += draw(st.lists(cell, min_size=1, max_size=3))
        elif shape == "blank":
            values = [draw(st.sampled_from(["", " ", "\t", "\u3000"])) for _ in range(width)]
        elif shape == "repeat" and rows:
            values = list(draw(st.sampled_from(rows)))
        rows.append(values)
    return header, rows


def is_blank(values: list[str]) -> bool:
    return all(not v.replace("\x00", "").strip() for v in values)


def count_data_rows(text: str, delimiter: str) -> int:
    """Count the non-blank records after the header, as the standard CSV grammar splits them.

    A row written unquoted with a lone "\r" in a value really is two rows in the file, so the
    records are counted from the written text, not from the rows we generated.
    """
    records = list(
        csv.reader(io.StringIO(text.replace("\x00", ""), newline=""), delimiter=delimiter)
    )
    non_blank = [r for r in records if not is_blank(r)]
    return max(len(non_blank) - 1, 0)


def encode(text: str, encoding: str) -> bytes:
    if encoding == "gbk":
        try:
            return text.encode("gbk")
        except UnicodeEncodeError:
            return text.encode("gb18030")
    return text.encode(encoding)


def write(
    path: Path,
    header: list[str] | None,
    rows: list[list[str]],
    delimiter: str,
    encoding: str,
    terminator: str,
) -> str:
    """Write a CSV file and return its text."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=terminator)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(encode(buffer.getvalue(), encoding))
    return buffer.getvalue()

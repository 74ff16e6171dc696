"""Read facility and POI tables (CSV, Excel, GeoJSON, GeoPackage) into one checked WGS-84 layout."""

from __future__ import annotations

import codecs
import csv
import math
import numbers
import re
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj

from planner import crs as crs_mod
from planner._errors import PlannerError
from planner._i18n import N_, _
from planner.schema import READ_COLUMNS, READ_STATUSES, Status
from planner.schema import USABLE_STATUSES as _USABLE

# Statuses and the output layout are defined in planner.schema; these names stay for the
# modules and tests that import them from here.
STATUSES: dict[str, str] = {s.value: s.meaning for s in READ_STATUSES}
USABLE_STATUSES = _USABLE
_FILLED_STATUSES = frozenset(
    {Status.OK, Status.SWAPPED_LAT_LON, Status.OUTSIDE_STUDY_AREA, Status.DUPLICATE_ID}
)
OUTPUT_COLUMNS = READ_COLUMNS

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "facility_id", "poi_id", "编号", "序号"),
    "name": ("name", "名称", "店名", "商户名称", "商家名称", "门店名称"),
    "kind": ("kind", "type", "category", "类型", "类别", "业态"),
    "lon": ("lon", "lng", "long", "longitude", "经度", "东经", "x"),
    "lat": ("lat", "latitude", "纬度", "北纬", "y"),
    "crs": ("crs", "坐标系", "coordinate_system", "coord_system"),
}
ROLES = tuple(COLUMN_ALIASES)

CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm"})
GEO_SUFFIXES = frozenset({".geojson", ".json", ".gpkg", ".shp"})

_MISSING_TOKENS = frozenset(
    {"", "nan", "na", "n/a", "#n/a", "null", "none", "nil", "-", "--", "—", "无", "空"}
)
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_PARENTHESES = re.compile(r"[(（][^)）]*[)）]")
_GEOGRAPHIC_TOKENS = frozenset({crs_mod.WGS84, crs_mod.GCJ02, crs_mod.BD09})
_MAX_SHOWN = 40
_CSV_FIELD_LIMIT = 2**30
# A text cell written as "'" + one of these is a neutralised spreadsheet formula (OWASP CSV
# injection): the apostrophe is not part of the value.
_FORMULA_TRIGGERS = frozenset("=+-@\t\r\n")
# Columns that mark a table written by this planner (pois.csv, facilities.csv): its lon/lat
# are WGS-84 and its status/reason columns are the previous run's verdicts.
_PLANNER_OUTPUT_COLUMNS = frozenset({"x_orig", "y_orig", "crs_orig", "status", "reason"})
# Previous statuses that leave lon/lat empty; carried over while lon/lat are still empty.
_CARRIED_STATUSES = frozenset(
    {
        Status.MALFORMED_ROW,
        Status.INVALID_CRS,
        Status.MISSING_COORDINATES,
        Status.INVALID_COORDINATES,
    }
)

#: ``DataFrame.attrs`` keys set on `read_points` tables: the source's display name, the
#: unit of its row numbers ("row" or "feature") and its file-level problems (messages).
ATTR_SOURCE = "source"
ATTR_UNIT = "unit"
ATTR_FILE_PROBLEMS = "file_problems"
#: ``attrs`` key of a table joined from several files: row id -> the file it came from, for
#: rows not from `ATTR_SOURCE` (a proposal's added facilities); messages name that file.
ATTR_ROW_SOURCES = "row_sources"
#: attrs key: what the rows of a table walked from are ("origin" for `[origins]` points;
#: facilities otherwise), for the reasons that name a row.
ATTR_POINT_KIND = "point_kind"


class InputError(PlannerError, ValueError):
    """A whole input file cannot be read as a point table (message names the file)."""


@dataclass
class _Table:
    """Cells of one input file, before any checking."""

    name: str
    header: list[str]
    cells: list[list[Any]]
    row_numbers: list[int]
    unit: str = "row"
    overflow: list[int] = field(default_factory=list)  # field count of over-long rows, else 0
    # field count of over-long rows whose extra fields are all empty (beyond a trailing
    # delimiter shared by every row), else 0: malformed unless the row reads as usable
    padded: list[int] = field(default_factory=list)
    padding: int = 0  # empty trailing fields beyond the header that every data row has
    # rows of a delimited text file with a double quote that is never closed (`_csv_records`)
    unclosed: list[bool] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # of the whole file, found reading it
    geometry: list[Any] | None = None
    file_crs: str | None = None


def _show(value: Any) -> str:
    """Return a short, single-line, quoted rendering of a cell value for messages."""
    text = "" if value is None else str(value)
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return f'"{text}"'


def _cell_to_str(value: Any) -> str:
    """Return a cell value as trimmed text ("" for empty; 7.0 -> "7")."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        number = float(value)
        if math.isnan(number):
            return ""
        if number.is_integer() and abs(number) < 1e15:
            return str(int(number))
    return str(value).strip()


def _unescape_formula(value: Any) -> Any:
    """Return a text cell without the apostrophe that neutralises a formula ("'=1+2" -> "=1+2").

    Spreadsheet writers that follow the OWASP advice on CSV injection prefix text starting
    with "=", "+", "-", "@", a tab or a line break with "'"; reading it back removes it.
    Other values are returned unchanged.
    """
    if isinstance(value, str) and value[:1] == "'" and value[1:2] in _FORMULA_TRIGGERS:
        return value[1:]
    return value


def _is_blank(cells: Sequence[Any]) -> bool:
    """Return True if every cell of a record is empty or whitespace."""
    return all(_cell_to_str(c) == "" for c in cells)


def parse_coordinate(value: Any) -> tuple[float, str | None]:
    """
    Parse one coordinate cell.

    Accepts numbers and numeric text, including full-width digits, surrounding whitespace, a
    trailing degree sign and a decimal comma ("23,29").

    Parameters
    ----------
    value
        The raw cell value.

    Returns
    -------
    number, problem
        The float (NaN if unusable) and None, "empty", "not a number" or
        "not a finite number".
    """
    if value is None or value is pd.NA:
        return math.nan, N_("empty")
    if isinstance(value, bool) or not isinstance(value, numbers.Real | str):
        return math.nan, N_("not a number")
    if isinstance(value, numbers.Real):
        number = float(value)
    else:
        text = unicodedata.normalize("NFKC", value).strip().rstrip("°").strip()
        if text.lower() in _MISSING_TOKENS:
            return math.nan, N_("empty")
        if _DECIMAL_COMMA.match(text):
            text = text.replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            return math.nan, N_("not a number")
    if math.isnan(number):
        return math.nan, N_("empty")
    if math.isinf(number):
        return math.nan, N_("not a finite number")
    return number, None


# --- reading files into _Table ----------------------------------------------------------------


#: How binary files given as delimited text begin: (magic bytes, what the file is).
_BINARY_STARTS = (
    (b"PK\x03\x04", N_("an Excel workbook (.xlsx) or another zip file")),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", N_("an old Excel workbook (.xls)")),
    (b"SQLite format 3\x00", N_("a GeoPackage or another SQLite database")),
)


def _decode(data: bytes, name: str) -> tuple[str, str | None]:
    """Decode CSV bytes: UTF-16 (with BOM), UTF-8 (with or without BOM), then GB18030.

    Returns the text, and a problem for the file when no encoding fits (the undecodable
    bytes are replaced, so some text differs from the file's).
    """
    for magic, kind in _BINARY_STARTS:
        if data.startswith(magic):
            raise InputError(
                _(
                    "{name} is {kind}, not a text table; save it as CSV (UTF-8), or give "
                    "the workbook its .xlsx name"
                ).format(name=name, kind=_(kind))
            )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), None
        except UnicodeDecodeError:
            continue
    problem = _(
        "{name}: neither UTF-8 nor GBK/GB18030; undecodable bytes were replaced (save the "
        "file as UTF-8)"
    ).format(name=name)
    return data.decode("utf-8", errors="replace"), problem


def _sniff_delimiter(text: str, suffix: str) -> str:
    """Guess the delimiter from the first non-empty line (tab for .tsv)."""
    if suffix == ".tsv":
        return "\t"
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] > 0 else ","


def _header_names(raw: Sequence[Any]) -> list[str]:
    """Return trimmed, non-empty, unique header names (duplicates get ".1", ".2", ...)."""
    names: list[str] = []
    seen: set[str] = set()
    for j, cell in enumerate(raw):
        base = _cell_to_str(cell).replace("\ufeff", "").strip() or f"unnamed_{j + 1}"
        candidate, k = base, 0
        while candidate in seen:
            k += 1
            candidate = f"{base}.{k}"
        seen.add(candidate)
        names.append(candidate)
    return names


def _trailing_empty(rec: Sequence[Any], width: int) -> int:
    """Return how many of the fields after the first `width` are empty, counted from the end."""
    n = 0
    while len(rec) - n > width and _cell_to_str(rec[len(rec) - n - 1]) == "":
        n += 1
    return n


def _split_records(
    records: Sequence[Sequence[Any]],
    first_number: int,
    name: str,
    unit: str = "row",
    unclosed: frozenset[int] = frozenset(),
) -> _Table:
    """Split raw records into header and data, numbering rows and skipping blank ones.

    Text cells lose the apostrophe of a neutralised formula (`_unescape_formula`). A row
    with more fields than the header is marked in `overflow` if an extra field is not
    empty, and in `padded` if they are all empty, unless every data row (two or more) ends
    with as many empty fields: that is a trailing delimiter on every line, not a shift.
    Records numbered in `unclosed` (from 0) are marked in `unclosed`.
    """
    start = next((i for i, rec in enumerate(records) if not _is_blank(rec)), None)
    if start is None:
        msg = _("{name}: the file has no header line and no data (it is empty or blank)").format(
            name=name
        )
        raise InputError(msg)
    header = _header_names([_unescape_formula(c) for c in records[start]])
    width = len(header)
    table = _Table(name=name, header=header, cells=[], row_numbers=[], unit=unit)
    rows = []
    for i in range(start + 1, len(records)):
        if _is_blank(records[i]):
            continue
        rows.append([_unescape_formula(c) for c in records[i]])
        table.row_numbers.append(first_number + i)
        table.unclosed.append(i in unclosed)
    if len(rows) >= 2:
        table.padding = min(_trailing_empty(rec, width) for rec in rows)
    for rec in rows:
        has_extra = any(_cell_to_str(c) != "" for c in rec[width:])
        table.overflow.append(len(rec) if has_extra else 0)
        table.padded.append(len(rec) if len(rec) > width + table.padding and not has_extra else 0)
        table.cells.append(rec[:width] + [None] * (width - len(rec)))
    return table


def _read_csv(path: Path) -> _Table:
    """Read a delimited text file into a _Table (all cells are strings)."""
    data = path.read_bytes()
    if not data.strip():
        msg = _("{path_name}: the file is empty").format(path_name=path.name)
        raise InputError(msg)
    text, decoding = _decode(data, path.name)
    text = text.replace("\x00", "")
    delimiter = _sniff_delimiter(text, path.suffix.lower())
    previous_limit = csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        records, unclosed = _csv_records(text, delimiter)
    except csv.Error as exc:
        msg = _("{path_name}: not a readable CSV file ({exc})").format(path_name=path.name, exc=exc)
        raise InputError(msg) from exc
    finally:
        csv.field_size_limit(previous_limit)
    table = _split_records(records, first_number=1, name=path.name, unclosed=unclosed)
    table.cells = [[("" if c is None else c) for c in rec] for rec in table.cells]
    if decoding is not None:
        table.problems.append(decoding)
    return table


#: A line of delimited text with its line break (CRLF, CR or LF), or the last line without.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _csv_records(text: str, delimiter: str) -> tuple[list[list[str]], frozenset[int]]:
    """Records of delimited text, and the numbers of those with a quote that is never closed.

    A double quote opened in a row and never closed would make the csv module read the
    rest of the file, or up to the next quote, as one value: the rows after it vanish into
    it. So records are read strictly; where one fails, its first line alone is read as a
    record (leniently, as before), marked as unclosed when that line holds an odd number of
    quotes, and reading goes on with the next line. A value that spans lines inside closed
    quotes (an address with a line break) is read as one value, as before.
    """
    lines = _LINE.findall(text)
    records: list[list[str]] = []
    unclosed: set[int] = set()
    at = 0
    while at < len(lines):
        reader = csv.reader(lines[at:], delimiter=delimiter, strict=True)
        done = 0  # lines of the complete records read from `at`
        try:
            for rec in reader:
                records.append(rec)
                done = reader.line_num
            break
        except csv.Error:
            line = lines[at + done]
            one = next(csv.reader([line], delimiter=delimiter), [])
            if line.count('"') % 2:
                unclosed.add(len(records))
                one = [c.rstrip("\r\n") for c in one]
            records.append(one)
            at += done + 1
    return records, frozenset(unclosed)


def _read_excel(path: Path, sheet: str | int | None) -> _Table:
    """Read one worksheet of an .xlsx workbook into a _Table (cell values as stored)."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        msg = _("{path_name}: not a readable .xlsx workbook ({exc})").format(
            path_name=path.name, exc=exc
        )
        raise InputError(msg) from exc
    except Exception as exc:  # zipfile.BadZipFile and other parser errors
        msg = _("{path_name}: not a readable .xlsx workbook ({kind}: {exc})").format(
            path_name=path.name, kind=type(exc).__name__, exc=exc
        )
        raise InputError(msg) from exc
    try:
        if sheet is None:
            worksheet = workbook.worksheets[0]
        elif isinstance(sheet, int):
            worksheet = workbook.worksheets[sheet]
        else:
            worksheet = workbook[sheet]
    except (IndexError, KeyError) as exc:
        msg = _("{path_name}: no sheet {sheet!r}; sheets are {sheetnames}").format(
            path_name=path.name, sheet=sheet, sheetnames=workbook.sheetnames
        )
        raise InputError(msg) from exc
    records = [list(r) for r in worksheet.iter_rows(min_row=1, values_only=True)]
    workbook.close()
    if not records:
        msg = _("{path_name}: sheet {title!r} is empty").format(
            path_name=path.name, title=worksheet.title
        )
        raise InputError(msg)
    return _split_records(records, first_number=1, name=f"{path.name} [{worksheet.title}]")


def _file_crs_token(gdf_crs: Any, name: str) -> str | None:
    """Return the canonical token of a GeoDataFrame's CRS (None if it has none)."""
    if gdf_crs is None:
        return None
    epsg = pyproj.CRS.from_user_input(gdf_crs).to_epsg(min_confidence=20)
    if epsg is None:
        msg = _(
            "{name}: its CRS has no EPSG code ({gdf_crs}); reproject it or save as EPSG"
        ).format(name=name, gdf_crs=gdf_crs)
        raise InputError(msg)
    return crs_mod.normalize_crs(f"EPSG:{epsg}")


def _read_geo(path: Path, layer: str | None) -> _Table:
    """Read a GeoJSON/GeoPackage/Shapefile into a _Table (one feature per row)."""
    import geopandas as gpd

    if path.stat().st_size == 0:
        msg = _("{path_name}: the file is empty").format(path_name=path.name)
        raise InputError(msg)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio/fiona raise many driver-specific errors
        msg = _("{path_name}: not a readable vector file ({kind}: {exc})").format(
            path_name=path.name, kind=type(exc).__name__, exc=exc
        )
        raise InputError(msg) from exc
    name = f"{path.name} [{layer}]" if layer else path.name
    geometry = None
    file_crs = None
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame:
        geometry = list(frame.geometry)
        file_crs = _file_crs_token(frame.crs, name)
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    header = _header_names(list(frame.columns))
    cells = [list(r) for r in frame.itertuples(index=False, name=None)]
    return _Table(
        name=name,
        header=header,
        cells=cells,
        row_numbers=list(range(1, len(cells) + 1)),
        unit="feature",
        overflow=[0] * len(cells),
        padded=[0] * len(cells),
        geometry=geometry,
        file_crs=file_crs,
    )


def _read_table(path: Path, sheet: str | int | None, layer: str | None) -> _Table:
    """Dispatch on the file suffix."""
    if not path.exists():
        msg = _("{path}: file not found").format(path=path)
        raise InputError(msg)
    if not path.is_file():
        msg = _("{path}: not a file").format(path=path)
        raise InputError(msg)
    suffix = path.suffix.lower()
    try:
        if suffix in CSV_SUFFIXES:
            return _read_csv(path)
        if suffix in EXCEL_SUFFIXES:
            return _read_excel(path, sheet)
        if suffix in GEO_SUFFIXES:
            return _read_geo(path, layer)
    except OSError as exc:
        msg = _("{path_name}: cannot be read ({exc})").format(path_name=path.name, exc=exc)
        raise InputError(msg) from exc
    accepted = sorted(CSV_SUFFIXES | EXCEL_SUFFIXES | GEO_SUFFIXES)
    msg = _("{path_name}: unsupported file type {suffix!r}; accepted: {accepted}").format(
        path_name=path.name, suffix=suffix, accepted=", ".join(accepted)
    )
    raise InputError(msg)


# --- columns -----------------------------------------------------------------------------------


def _match_key(name: str) -> str:
    """Return a header name reduced for alias matching (case, spaces, qualifiers ignored)."""
    reduced = _PARENTHESES.sub("", unicodedata.normalize("NFKC", name))
    return reduced.strip().lower()


def _resolve_columns(table: _Table, columns: Mapping[str, str] | None) -> dict[str, str | None]:
    """Map each role (id, name, kind, lon, lat, crs) to a header name or None."""
    columns = dict(columns or {})
    unknown_roles = sorted(set(columns) - set(ROLES))
    if unknown_roles:
        msg = _(
            "{table_name}: unknown key(s) {unknown_roles} in `columns`; accepted keys: {roles}"
        ).format(table_name=table.name, unknown_roles=unknown_roles, roles=list(ROLES))
        raise InputError(msg)
    by_key: dict[str, str] = {}
    for name in table.header:
        by_key.setdefault(_match_key(name), name)
    resolved: dict[str, str | None] = {}
    for role in ROLES:
        if role in columns:
            wanted = columns[role]
            if wanted in table.header:
                resolved[role] = wanted
            elif isinstance(wanted, str) and _match_key(wanted) in by_key:
                resolved[role] = by_key[_match_key(wanted)]
            else:
                msg = _(
                    "{table_name}: column {wanted!r} given for {role!r} in `columns` is "
                    "not in the file; columns found: {header}"
                ).format(table_name=table.name, wanted=wanted, role=role, header=table.header)
                raise InputError(msg)
        else:
            resolved[role] = next((by_key[a] for a in COLUMN_ALIASES[role] if a in by_key), None)
    if table.geometry is None:
        for role in ("lon", "lat"):
            if resolved[role] is None:
                msg = _(
                    "{table_name}: no {value} column; columns found: {header}; expected "
                    "one of {column_aliases} (any case) or an explicit "
                    "`columns={{'{role}': ...}}`"
                ).format(
                    table_name=table.name,
                    value=_("longitude") if role == "lon" else _("latitude"),
                    header=table.header,
                    column_aliases=list(COLUMN_ALIASES[role]),
                    role=role,
                )
                raise InputError(msg)
    return resolved


# --- coordinates -------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _normalize_cached(value: str) -> str:
    return crs_mod.normalize_crs(value)


@lru_cache(maxsize=64)
def _is_geographic(token: str) -> bool:
    if token in _GEOGRAPHIC_TOKENS:
        return True
    return bool(pyproj.CRS.from_user_input(token).is_geographic)


def _in_range(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90)


def _in_bbox(lon: np.ndarray, lat: np.ndarray, bbox: tuple[float, ...]) -> np.ndarray:
    west, south, east, north = bbox
    with np.errstate(invalid="ignore"):
        return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def _convert(
    x: np.ndarray, y: np.ndarray, token: str, bbox: tuple[float, ...] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Convert one CRS group to WGS-84, detecting swapped axes.

    Returns lon, lat (NaN where impossible) and a swapped mask.
    """
    geographic = _is_geographic(token)
    direct = crs_mod.to_wgs84(x, y, token)
    flipped = crs_mod.to_wgs84(y, x, token)
    direct_ok = np.isfinite(direct[0]) & np.isfinite(direct[1])
    flipped_ok = np.isfinite(flipped[0]) & np.isfinite(flipped[1])
    if geographic:
        direct_ok &= _in_range(x, y)
        flipped_ok &= _in_range(y, x)
    if bbox is not None:
        direct_in = direct_ok & _in_bbox(*direct, bbox)
        flipped_in = flipped_ok & _in_bbox(*flipped, bbox)
        swapped = ~direct_in & flipped_in
        swapped |= ~direct_in & ~flipped_in & ~direct_ok & flipped_ok
    else:
        swapped = ~direct_ok & flipped_ok if geographic else np.zeros(x.shape, dtype=bool)
    lon = np.where(swapped, flipped[0], np.where(direct_ok, direct[0], np.nan))
    lat = np.where(swapped, flipped[1], np.where(direct_ok, direct[1], np.nan))
    return lon, lat, swapped


# --- the checked table --------------------------------------------------------------------------


@dataclass
class _RowState:
    status: Status = Status.OK
    reason: str = ""


#: Units of row numbers, for extraction: "row" (tables) or "feature" (GIS layers).
_UNITS = (N_("row"), N_("feature"))


def _where(table: _Table, number: int) -> str:
    return _("{file} {unit} {number}").format(file=table.name, unit=_(table.unit), number=number)


def _coordinate_fields(table: _Table, roles: Mapping[str, str | None]) -> tuple[str, str]:
    if table.geometry is not None and (roles["lon"] is None or roles["lat"] is None):
        return "geometry", "geometry"
    return str(roles["lon"]), str(roles["lat"])


def _point_of(geom: Any) -> tuple[Any, Any]:
    """Return the (x, y) of a geometry (representative point if not a point); None if empty."""
    if geom is None or getattr(geom, "is_empty", True):
        return None, None
    point = geom if geom.geom_type == "Point" else geom.representative_point()
    if point.is_empty:
        return None, None
    return float(point.x), float(point.y)


def _bbox_text(bbox: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in bbox) + ")"


def _check_bbox(study_bbox: tuple[float, float, float, float] | None) -> tuple[float, ...] | None:
    if study_bbox is None:
        return None
    values = tuple(float(v) for v in study_bbox)
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        msg = _(
            "study_bbox must be 4 finite numbers (west, south, east, north), got {study_bbox}"
        ).format(study_bbox=study_bbox)
        raise ValueError(msg)
    west, south, east, north = values
    if not (west < east and south < north):
        msg = _(
            "study_bbox must be (west, south, east, north) with west < east, got {study_bbox}"
        ).format(study_bbox=study_bbox)
        raise ValueError(msg)
    return values


def read_points(
    path: str | Path,
    *,
    crs: str = "WGS84",
    columns: Mapping[str, str] | None = None,
    study_bbox: tuple[float, float, float, float] | None = None,
    id_prefix: str | None = None,
    sheet: str | int | None = None,
    layer: str | None = None,
    allow_repeated_ids: bool = False,
) -> pd.DataFrame:
    """
    Read a facility or POI table and check every row.

    Every data row of the file gives exactly one output row, in file order; nothing is
    dropped. Rows that cannot be used say why in `status` and `reason`.

    Row numbers (`row`, and in messages) are the numbers a person sees: for CSV and Excel
    the spreadsheet row, with the header on row 1 so the first data row is row 2 (a quoted
    CSV value spanning several text lines counts as one row; blank rows are skipped but
    still counted); for GeoJSON/GeoPackage the 1-based feature number (messages say
    "feature N").

    In CSV and Excel files a text cell that starts with an apostrophe followed by "=", "+",
    "-", "@", a tab or a line break is read without the apostrophe (writers that guard
    against spreadsheet formula injection add it).

    A table written by the planner (an earlier run's pois.csv or facilities.csv: columns
    ``x_orig, y_orig, crs_orig, status, reason`` next to ``lon, lat``) is read by its
    ``lon``/``lat``, which are WGS-84: `crs` and a crs column are not applied (a file-level
    problem says so if `crs` is not WGS-84). Its old ``row``, ``status``, ``usable`` and
    ``reason`` columns come through as ``row_src``, ``status_src``, ... and are otherwise
    ignored, except that a row whose lon/lat are still empty keeps the old status
    (``malformed_row``, ``invalid_crs``, ``missing_coordinates`` or
    ``invalid_coordinates``) with the old reason: fill in lon/lat to read it again.

    Parameters
    ----------
    path
        A .csv/.txt/.tsv (UTF-8, UTF-8 with BOM, UTF-16 with BOM or GBK/GB18030; delimiter
        ",", tab, ";" or "|" guessed from the header), .xlsx/.xlsm, .geojson/.json, .gpkg or
        .shp file.
    crs
        CRS of the file's coordinates, any name accepted by `planner.crs.normalize_crs`
        ("WGS84", "GCJ02", "BD09", "CGCS2000", "EPSG:NNNN"). A per-row CRS column (named
        crs/坐标系, or `columns["crs"]`) overrides it for rows where it is not empty. For
        GeoJSON/GeoPackage the file's own CRS overrides it, unless `crs` is GCJ02 or BD09
        (such files usually claim WGS-84 while holding shifted coordinates).
    columns
        Explicit column names for the roles "id", "name", "kind", "lon", "lat" and "crs";
        roles not given are found by common names (case-insensitive, trimmed, a trailing
        parenthetical such as "经度(GCJ-02)" ignored), see `COLUMN_ALIASES`. For vector
        files the geometry is used unless both "lon" and "lat" columns are found or given.
    study_bbox
        (west, south, east, north) in WGS-84. Points outside it are `outside_study_area`;
        it is also used to detect swapped longitude/latitude.
    id_prefix
        Prefix of generated ids, for rows with no or an empty id: ``f"{prefix}-{row}"``
        (with "-2", "-3", ... added if the file already uses that id), default prefix the
        file name without suffix.
    sheet
        Excel sheet name or 0-based index (default the first sheet).
    layer
        GeoPackage layer (default the first layer).
    allow_repeated_ids
        If True, several rows may share an id (e.g. the entrances of one facility);
        otherwise later usable rows with an id already used are `duplicate_id`.

    Returns
    -------
    pandas.DataFrame
        Columns ``row, id, name, kind, lon, lat, x_orig, y_orig, crs_orig, status, usable,
        reason`` followed by the file's other columns unchanged (a name colliding with
        these gets the suffix "_src"). `lon`/`lat` are WGS-84 (NaN when not valid);
        `x_orig`/`y_orig` the values as read (NaN if not numbers); `crs_orig` the canonical
        CRS token used for the row; `usable` is True iff `status` is "ok" or
        "swapped_lat_lon". Status codes, checked in this order (see `planner.schema.Status`):

        - ``malformed_row``: a CSV row with more fields than the header, if an extra field
          is not empty or the row does not read as a usable point (extra empty fields that
          every row has, a trailing delimiter on every line, do not count);
        - ``invalid_crs``: the row's own CRS value is not recognised;
        - ``missing_coordinates``: longitude, latitude or geometry empty (also "NaN", "NA",
          "null", "-");
        - ``invalid_coordinates``: not a number, infinite, out of range for a geographic
          CRS, or not projectable;
        - ``outside_study_area``: valid but outside `study_bbox` (lon/lat still filled);
        - ``duplicate_id``: the id was already used by an earlier usable row (only
          rows that would otherwise be usable are compared; never with
          `allow_repeated_ids`);
        - ``swapped_lat_lon``: usable; the two values were swapped in the file and have been
          put right (detected with `study_bbox`: the point as written is outside it but
          swapped is inside; without it: as written is out of range but swapped is valid);
        - ``ok``: usable, `reason` is "".

        ``attrs`` holds the source's name (`ATTR_SOURCE`, the file name and sheet or
        layer), the unit of its row numbers (`ATTR_UNIT`) and its file-level problems
        (`ATTR_FILE_PROBLEMS`: no data rows, a `crs` not applied).

    Raises
    ------
    InputError
        For problems with the whole file: missing, empty, unreadable, unsupported type, no
        header, no longitude/latitude column, an unknown key or column in `columns`, or an
        unknown `crs`.
    ValueError
        If `study_bbox` is not (west, south, east, north).
    """
    path = Path(path)
    bbox = _check_bbox(study_bbox)
    try:
        declared = crs_mod.normalize_crs(crs)
    except ValueError as exc:
        msg = f"{path.name}: {exc}"
        raise InputError(msg) from exc
    table = _read_table(path, sheet, layer)
    roles = _resolve_columns(table, columns)
    problems = list(table.problems)
    if not table.cells:
        problems.append(
            _("{table_name}: the file has a header but no data rows").format(table_name=table.name)
        )
    previous = _is_planner_output(table, roles)
    if previous:
        if declared != crs_mod.WGS84:
            problems.append(
                _(
                    "{table_name}: a table written by the planner, so its lon/lat are "
                    "WGS-84; the crs {crs!r} given for it is not applied"
                ).format(table_name=table.name, crs=crs)
            )
        declared = crs_mod.WGS84
        roles = {**roles, "crs": None}
        repeated = sum(_cell_to_str(c) == Status.DUPLICATE_ID for c in _column(table, "status"))
        if repeated:
            problems.append(
                _(
                    "{table_name}: {repeated} {unit}(s) were already {duplicate_id} in the "
                    "run that wrote this file and are read again; delete them before the "
                    "next run so they do not pile up"
                ).format(
                    table_name=table.name,
                    repeated=repeated,
                    unit=_(table.unit),
                    duplicate_id=Status.DUPLICATE_ID.value,
                )
            )
    frame = _build_frame(
        table, roles, declared, bbox, id_prefix or path.stem, allow_repeated_ids, previous
    )
    frame.attrs.update(
        {ATTR_SOURCE: table.name, ATTR_UNIT: table.unit, ATTR_FILE_PROBLEMS: problems}
    )
    return frame


def _is_planner_output(table: _Table, roles: Mapping[str, str | None]) -> bool:
    """Return True for a pois.csv/facilities.csv of an earlier run read by its lon/lat."""
    return (
        table.geometry is None
        and set(table.header) >= _PLANNER_OUTPUT_COLUMNS
        and roles["lon"] == "lon"
        and roles["lat"] == "lat"
    )


def _column(table: _Table, name: str) -> list[Any]:
    """Return the cells of the column called `name`."""
    j = table.header.index(name)
    return [rec[j] for rec in table.cells]


def _cell(table: _Table, roles: Mapping[str, str | None], role: str, i: int) -> Any:
    """Return the raw cell of `role` in data row `i` (None if the role has no column)."""
    column = roles[role]
    if column is None:
        return None
    return table.cells[i][table.header.index(column)]


def _uses_geometry(table: _Table, roles: Mapping[str, str | None]) -> bool:
    """Return True if coordinates come from the geometry rather than lon/lat columns."""
    return table.geometry is not None and (roles["lon"] is None or roles["lat"] is None)


def _malformed_states(table: _Table) -> list[_RowState]:
    """Return the initial row states: `malformed_row` for over-long or unclosed rows, else ok.

    Over-long: CSV rows with more fields than the header; unclosed: a double quote in the
    row is never closed (`_csv_records`).
    """
    width = len(table.header)
    unclosed = table.unclosed or [False] * len(table.row_numbers)
    states = []
    for number, count, open_quote in zip(table.row_numbers, table.overflow, unclosed, strict=True):
        if open_quote:
            states.append(
                _RowState(
                    Status.MALFORMED_ROW,
                    _(
                        '{where}: a double quote (") in this row is not closed; the {unit}s '
                        "after it are read on their own"
                    ).format(where=_where(table, number), unit=_(table.unit)),
                )
            )
        elif count:
            states.append(
                _RowState(
                    Status.MALFORMED_ROW,
                    _(
                        "{where}: {count} fields but the header has {width} (a value with an "
                        "unquoted delimiter?)"
                    ).format(where=_where(table, number), count=count, width=width),
                )
            )
        else:
            states.append(_RowState())
    return states


def _blame_extra_fields(table: _Table, states: list[_RowState]) -> None:
    """Mark over-long rows with empty extra fields `malformed_row` if they are not usable.

    Such a row may end with stray delimiters (harmless) or hold a value with an unquoted
    delimiter that shifted the fields after it; if it does not read as a usable point, the
    shift is the likely cause, and the reason says what reading it as it stands gave.
    """
    width = len(table.header)
    for i, (number, count) in enumerate(zip(table.row_numbers, table.padded, strict=True)):
        if not count or states[i].status in USABLE_STATUSES:
            continue
        where = _where(table, number)
        accepted = _("; accepted: {names}").split("{")[0]
        as_read = states[i].reason.removeprefix(where).lstrip(",: ").split(accepted)[0]
        expected = (
            _("the other {unit}s have {count}").format(
                unit=_(table.unit), count=width + table.padding
            )
            if table.padding
            else _("the header has {count}").format(count=width)
        )
        states[i] = _RowState(
            Status.MALFORMED_ROW,
            _(
                "{where}: {count} fields but {expected} (a value with an unquoted "
                "delimiter?); the extra fields are empty, but read as it stands: "
                "{as_read}"
            ).format(where=where, count=count, expected=expected, as_read=as_read),
        )


def _carry_previous_states(
    table: _Table, roles: Mapping[str, str | None], states: list[_RowState]
) -> None:
    """Keep an earlier run's verdict on rows of its output whose lon/lat are still empty.

    A row that run found malformed, with an unknown CRS or with missing or invalid
    coordinates was written with empty lon/lat; its status and reason are the only record
    of what was wrong, so they are kept (prefixed with where it is now) until lon/lat are
    filled in.
    """
    previous = _column(table, "status")
    reasons = _column(table, "reason")
    lon, lat = _column(table, str(roles["lon"])), _column(table, str(roles["lat"]))
    for i, number in enumerate(table.row_numbers):
        status = _cell_to_str(previous[i])
        if states[i].status != Status.MISSING_COORDINATES or status not in _CARRIED_STATUSES:
            continue
        if parse_coordinate(lon[i])[1] != "empty" or parse_coordinate(lat[i])[1] != "empty":
            continue
        states[i] = _RowState(
            Status(status),
            _(
                '{where}, fields "lon"/"lat": empty; the run that wrote this file said: {said}'
            ).format(where=_where(table, number), said=_cell_to_str(reasons[i]) or status),
        )


def _row_crs_tokens(
    table: _Table, roles: Mapping[str, str | None], default: str, states: list[_RowState]
) -> list[str]:
    """Return each row's CRS token (its own crs cell or `default`); flag unknown values."""
    tokens: list[str] = []
    for i, number in enumerate(table.row_numbers):
        raw = _cell_to_str(_cell(table, roles, "crs", i))
        token = default
        if raw:
            try:
                token = _normalize_cached(raw)
            except ValueError:
                if states[i].status == Status.OK:
                    states[i] = _RowState(
                        Status.INVALID_CRS,
                        _('{where}, field "{field}": value {value} is not a known CRS').format(
                            where=_where(table, number), field=roles["crs"], value=_show(raw)
                        )
                        + _("; accepted: {names}").format(names=crs_mod.ACCEPTED_CRS_NAMES),
                    )
        tokens.append(token)
    return tokens


def _coordinate_problem(
    where: str, fields: tuple[str, str], raw: tuple[Any, Any], problems: tuple[Any, Any]
) -> _RowState | None:
    """Return the state for unparsable coordinates of one row (None if both parsed)."""
    empty = [p == "empty" for p in problems]
    if fields[0] == "geometry" and any(empty):
        return _RowState(
            Status.MISSING_COORDINATES, _('{where}, field "geometry": empty').format(where=where)
        )
    if all(empty):
        return _RowState(
            Status.MISSING_COORDINATES,
            _('{where}, fields "{field}" and "{field2}": both empty').format(
                where=where, field=fields[0], field2=fields[1]
            ),
        )
    if any(empty):
        return _RowState(
            Status.MISSING_COORDINATES,
            _('{where}, field "{field}": empty').format(
                where=where, field=fields[empty.index(True)]
            ),
        )
    for field_name, value, problem in zip(fields, raw, problems, strict=True):
        if problem:
            return _RowState(
                Status.INVALID_COORDINATES,
                _('{where}, field "{field}": value {value} is {problem}').format(
                    where=where, field=field_name, value=_show(value), problem=_(problem)
                ),
            )
    return None


def _read_coordinates(
    table: _Table, roles: Mapping[str, str | None], states: list[_RowState]
) -> tuple[np.ndarray, np.ndarray]:
    """Parse x/y of every row (NaN if unusable); flag missing and non-numeric values."""
    n = len(table.cells)
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    geometry = _uses_geometry(table, roles)
    fields = _coordinate_fields(table, roles)
    for i, number in enumerate(table.row_numbers):
        if geometry:
            raw = _point_of(table.geometry[i]) if table.geometry else (None, None)
        else:
            raw = (_cell(table, roles, "lon", i), _cell(table, roles, "lat", i))
        x[i], x_problem = parse_coordinate(raw[0])
        y[i], y_problem = parse_coordinate(raw[1])
        if states[i].status == Status.OK:
            problem = _coordinate_problem(
                _where(table, number), fields, raw, (x_problem, y_problem)
            )
            states[i] = problem or states[i]
    return x, y


def _locate(
    table: _Table,
    roles: Mapping[str, str | None],
    xy: tuple[np.ndarray, np.ndarray],
    tokens: list[str],
    bbox: tuple[float, ...] | None,
    states: list[_RowState],
) -> tuple[np.ndarray, np.ndarray]:
    """Convert rows still ok to WGS-84; flag invalid, outside and swapped points."""
    x, y = xy
    n = len(tokens)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    swapped = np.zeros(n, dtype=bool)
    token_array = np.array(tokens, dtype=object)
    candidates = np.array([s.status == Status.OK for s in states], dtype=bool)
    for token in sorted(set(tokens)):
        group = candidates & (token_array == token)
        if group.any():
            lon[group], lat[group], swapped[group] = _convert(x[group], y[group], token, bbox)
    lon_field, lat_field = _coordinate_fields(table, roles)
    for i in np.flatnonzero(candidates):
        where = _('{where}, fields "{lon}"/"{lat}"').format(
            where=_where(table, table.row_numbers[i]), lon=lon_field, lat=lat_field
        )
        geographic = _is_geographic(tokens[i])
        if not (math.isfinite(lon[i]) and math.isfinite(lat[i])):
            kind = _("longitude/latitude (|lon| <= 180, |lat| <= 90)")
            states[i] = _RowState(
                Status.INVALID_COORDINATES,
                _("{where}: ({x:g}, {y:g}) is not a valid {crs} ").format(
                    where=where, x=x[i], y=y[i], crs=tokens[i]
                )
                + (kind if geographic else _("easting/northing")),
            )
            continue
        note = ""
        if swapped[i]:
            note = _(
                "values look swapped (x {x:g}, y {y:g}); used lon {lon:.6f}, lat {lat:.6f}"
            ).format(x=x[i], y=y[i], lon=lon[i], lat=lat[i])
        if bbox is not None and not _in_bbox(lon[i : i + 1], lat[i : i + 1], bbox)[0]:
            states[i] = _RowState(
                Status.OUTSIDE_STUDY_AREA,
                _(
                    "{where}: point lon {lon:.6f}, lat {lat:.6f} (WGS-84) is outside the "
                    "study area (west, south, east, north) = {bbox}"
                ).format(where=where, lon=lon[i], lat=lat[i], bbox=_bbox_text(bbox))
                + (f"; {note}" if note else ""),
            )
        elif swapped[i]:
            states[i] = _RowState(Status.SWAPPED_LAT_LON, f"{where}: {note}")
    return lon, lat


def _assign_ids(
    table: _Table,
    roles: Mapping[str, str | None],
    prefix: str,
    allow_repeated_ids: bool,
    states: list[_RowState],
) -> list[str]:
    """Return every row's id (generated when empty); flag repeats among usable rows.

    A generated id is ``f"{prefix}-{row}"``, with "-2", "-3", ... added if the file already
    uses it as an id (e.g. a row added to an earlier run's pois.csv).
    """
    given = [_cell_to_str(_cell(table, roles, "id", i)) for i in range(len(table.cells))]
    taken = set(given)
    ids: list[str] = []
    first_row_of: dict[str, int] = {}
    for i, number in enumerate(table.row_numbers):
        ident = given[i]
        if not ident:
            ident, k = f"{prefix}-{number}", 1
            while ident in taken:
                k += 1
                ident = f"{prefix}-{number}-{k}"
            taken.add(ident)
        ids.append(ident)
        if allow_repeated_ids or states[i].status not in USABLE_STATUSES:
            continue
        if ident in first_row_of:
            states[i] = _RowState(
                Status.DUPLICATE_ID,
                _('{where}, field "{field}": id {id} already used in {unit} {number}').format(
                    where=_where(table, number),
                    field=roles["id"],
                    id=_show(ident),
                    unit=_(table.unit),
                    number=first_row_of[ident],
                ),
            )
        else:
            first_row_of[ident] = number
    return ids


def _assemble(
    table: _Table,
    roles: Mapping[str, str | None],
    columns: Mapping[str, Any],
    states: list[_RowState],
) -> pd.DataFrame:
    """Return the output frame: the standard columns, then the file's unused columns."""
    n = len(table.cells)
    statuses = [s.status.value for s in states]
    filled = np.array([s.status in _FILLED_STATUSES for s in states], dtype=bool)

    def text(role: str) -> pd.Series:
        return pd.Series([_cell_to_str(_cell(table, roles, role, i)) for i in range(n)], dtype=str)

    out = pd.DataFrame(
        {
            "row": np.array(table.row_numbers, dtype=np.int64),
            "id": pd.Series(columns["id"], dtype=str),
            "name": text("name"),
            "kind": text("kind"),
            "lon": np.where(filled, columns["lon"], np.nan),
            "lat": np.where(filled, columns["lat"], np.nan),
            "x_orig": columns["x"],
            "y_orig": columns["y"],
            "crs_orig": pd.Series(columns["crs"], dtype=str),
            "status": pd.Series(statuses, dtype=str),
            "usable": np.array([s.status in USABLE_STATUSES for s in states], dtype=bool),
            "reason": pd.Series([s.reason for s in states], dtype=str),
        }
    )
    consumed = {c for role, c in roles.items() if c is not None and role != "crs"}
    for j, column in enumerate(table.header):
        if column in consumed:
            continue
        name = column
        while name in out.columns:
            name = f"{name}_src"
        out[name] = pd.Series([rec[j] for rec in table.cells], dtype=object if n == 0 else None)
    return out


def _build_frame(
    table: _Table,
    roles: Mapping[str, str | None],
    declared: str,
    bbox: tuple[float, ...] | None,
    prefix: str,
    allow_repeated_ids: bool,
    previous: bool = False,
) -> pd.DataFrame:
    """Check every row of `table` and assemble the output frame.

    `previous` says the table is an earlier run's output (see `_carry_previous_states`).
    """
    default = declared
    if table.file_crs is not None and declared not in (crs_mod.GCJ02, crs_mod.BD09):
        default = table.file_crs
    states = _malformed_states(table)
    tokens = _row_crs_tokens(table, roles, default, states)
    x, y = _read_coordinates(table, roles, states)
    if previous:
        _carry_previous_states(table, roles, states)
    lon, lat = _locate(table, roles, (x, y), tokens, bbox, states)
    _blame_extra_fields(table, states)
    ids = _assign_ids(table, roles, prefix, allow_repeated_ids, states)
    columns = {"id": ids, "lon": lon, "lat": lat, "x": x, "y": y, "crs": tokens}
    return _assemble(table, roles, columns, states)


def _row_labels(frame: pd.DataFrame) -> list[str]:
    """Return where each row of a `read_points`/`valid_points` table comes from (messages)."""
    source = str(frame.attrs.get(ATTR_SOURCE) or "input")
    unit = frame.attrs.get(ATTR_UNIT)
    if unit:
        return [
            _("{file} {unit} {number}").format(file=source, unit=_(unit), number=row)
            for row in frame["row"].tolist()
        ]
    return [f"{source} {ident}" for ident in frame["id"].astype(str).tolist()]


def combine_sources(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """
    Stack the point tables of several sources, each id belonging to the first source using it.

    A usable row whose id an earlier source already has, in any of its rows and whatever
    that row's status, becomes `duplicate_id` (not usable, lon/lat kept); its reason names
    the row, the id and the earlier source's row, e.g. ``OpenStreetMap node/42: id
    "node/42" already used by pois.csv row 7``. Within a source, ids are checked by
    `read_points`. So the same place is counted once when an earlier run's pois.csv is read
    together with the OpenStreetMap POIs it came from.

    Parameters
    ----------
    frames
        Tables in the `read_points` layout, first source first; their ``attrs`` name the
        source (`ATTR_SOURCE`, `ATTR_UNIT`; OpenStreetMap tables have no unit and are named
        by id).

    Returns
    -------
    pandas.DataFrame
        All rows of all frames, in order (union of their columns); ``attrs`` holds the
        joined source names and every frame's `ATTR_FILE_PROBLEMS`.
    """
    claims: dict[str, str] = {}  # id -> the earlier row that has it
    marked = []
    problems: list[str] = []
    for frame in frames:
        frame = frame.copy()
        problems.extend(frame.attrs.get(ATTR_FILE_PROBLEMS, []))
        ids = frame["id"].astype(str).tolist()
        statuses = frame["status"].astype(str).tolist()
        usable = frame["usable"].to_numpy(dtype=bool)
        labels = _row_labels(frame)
        repeats = [i for i in np.flatnonzero(usable) if ids[i] in claims]
        if repeats:
            reasons = frame["reason"].astype(object).to_numpy(copy=True)
            reasons[repeats] = [
                _("{where}: id {id} already used by {other}").format(
                    where=labels[i], id=_show(ids[i]), other=claims[ids[i]]
                )
                for i in repeats
            ]
            status = frame["status"].astype(object).to_numpy(copy=True)
            status[repeats] = Status.DUPLICATE_ID.value
            usable_now = usable.copy()
            usable_now[repeats] = False
            frame["reason"] = pd.Series(reasons, index=frame.index, dtype=frame["reason"].dtype)
            frame["status"] = pd.Series(status, index=frame.index, dtype=frame["status"].dtype)
            frame["usable"] = usable_now
        own: dict[str, str] = {}
        for i in np.argsort(~usable, kind="stable"):  # usable rows first, else file order
            if ids[i] not in claims and ids[i] not in own:
                own[ids[i]] = labels[i] + ("" if usable[i] else f" ({statuses[i]})")
        claims.update(own)
        marked.append(frame)
    non_empty = [f for f in marked if len(f)] or marked[:1]
    if not non_empty:
        combined = pd.DataFrame(columns=list(READ_COLUMNS))
    else:
        combined = pd.concat(non_empty, ignore_index=True)
    combined.attrs = {
        ATTR_SOURCE: " + ".join(str(f.attrs.get(ATTR_SOURCE) or "input") for f in frames),
        ATTR_FILE_PROBLEMS: problems,
    }
    return combined


def valid_points(
    ids: Sequence[str],
    lon: Any,
    lat: Any,
    *,
    names: Sequence[str] | None = None,
    kinds: Sequence[str] | str = "",
    first_row: int = 1,
) -> pd.DataFrame:
    """Build a table in the `read_points` layout from points already known to be valid.

    For points that do not come from a user's file (OSM features, generated test data):
    every row is ``ok`` and usable, in WGS-84.

    Parameters
    ----------
    ids
        Point ids.
    lon, lat
        WGS-84 coordinates.
    names
        Names (default: empty).
    kinds
        Kinds, one per point or one for all.
    first_row
        Row number of the first point.

    Returns
    -------
    points
        The `planner.schema.READ_COLUMNS` table.
    """
    n = len(ids)
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return pd.DataFrame(
        {
            "row": np.arange(first_row, first_row + n),
            "id": list(ids),
            "name": list(names) if names is not None else [""] * n,
            "kind": [kinds] * n if isinstance(kinds, str) else list(kinds),
            "lon": lon,
            "lat": lat,
            "x_orig": lon,
            "y_orig": lat,
            "crs_orig": "WGS84",
            "status": Status.OK.value,
            "usable": True,
            "reason": "",
        },
        columns=list(READ_COLUMNS),
    )

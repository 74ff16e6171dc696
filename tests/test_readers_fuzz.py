"""Property-based (hypothesis) tests: read_points on hostile CSV input never crashes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from planner import crs
from planner.readers import InputError, read_points
from planner.schema import READ_COLUMNS, READ_STATUSES, USABLE_STATUSES
from tests.hostile import count_data_rows, hostile_tables, is_blank, write

# Together these run > 1,000 generated files; keep the whole module well under a minute.
FUZZ = settings(
    max_examples=450,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SMALL_FUZZ = settings(FUZZ, max_examples=200)

BBOX = (116.158, 23.270, 116.218, 23.324)
GEOD = Geod(ellps="WGS84")
FILE_NAME = "fuzz.csv"


def scratch(factory: pytest.TempPathFactory, name: str) -> Path:
    """Return the fuzz file path in a per-test folder (reused by every example)."""
    folder = factory.getbasetemp() / name
    folder.mkdir(exist_ok=True)
    return folder / FILE_NAME


def check_contract(df: pd.DataFrame, n_rows: int, bbox: tuple | None, repeated: bool) -> None:
    assert tuple(df.columns[: len(READ_COLUMNS)]) == READ_COLUMNS
    assert len(df) == n_rows
    rows = df["row"].tolist()
    assert rows == sorted(set(rows)) and all(r >= 2 for r in rows)
    assert set(df["status"]) <= set(READ_STATUSES)
    assert (df["usable"] == df["status"].isin(USABLE_STATUSES)).all()
    assert df["id"].map(lambda v: isinstance(v, str) and v != "").all()
    for column in ("name", "kind", "reason", "crs_orig"):
        assert df[column].map(lambda v: isinstance(v, str)).all()
    for row, status, reason in zip(df["row"], df["status"], df["reason"], strict=True):
        if status == "ok":
            assert reason == ""
        else:
            assert reason.startswith(f"{FILE_NAME} row {row}")
    usable = df[df["usable"]]
    lon, lat = usable["lon"].to_numpy(), usable["lat"].to_numpy()
    assert np.isfinite(lon).all() and np.isfinite(lat).all()
    assert (np.abs(lon) <= 180).all() and (np.abs(lat) <= 90).all()
    if bbox is not None:
        west, south, east, north = bbox
        assert ((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)).all()
    if not repeated:
        assert not usable["id"].duplicated().any()


@FUZZ
@given(
    table=hostile_tables(),
    delimiter=st.sampled_from([",", ",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"]),
    terminator=st.sampled_from(["\n", "\r\n"]),
    declared=st.sampled_from(["WGS84", "GCJ-02", "bd09", "CGCS2000"]),
    use_bbox=st.booleans(),
    repeated=st.booleans(),
)
def test_hostile_csv_never_crashes_and_keeps_every_row(
    tmp_path_factory: pytest.TempPathFactory,
    table: tuple[list[str], list[list[str]]],
    delimiter: str,
    encoding: str,
    terminator: str,
    declared: str,
    use_bbox: bool,
    repeated: bool,
) -> None:
    header, rows = table
    path = scratch(tmp_path_factory, "hostile")
    text = write(path, header, rows, delimiter, encoding, terminator)
    bbox = BBOX if use_bbox else None
    df = read_points(path, crs=declared, study_bbox=bbox, allow_repeated_ids=repeated)
    check_contract(df, count_data_rows(text, delimiter), bbox, repeated)
    for status in set(df["status"]):
        event(f"status {status}")
    if "\r" not in text.replace(terminator, ""):
        assert len(df) == sum(not is_blank(r) for r in rows)


@SMALL_FUZZ
@given(
    table=hostile_tables(),
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "gb18030", "utf-16"]),
)
def test_missing_header_raises_input_error_or_reads(
    tmp_path_factory: pytest.TempPathFactory,
    table: tuple[list[str], list[list[str]]],
    delimiter: str,
    encoding: str,
) -> None:
    _, rows = table
    path = scratch(tmp_path_factory, "nohead")
    write(path, None, rows, delimiter, encoding, "\n")
    try:
        df = read_points(path)
    except InputError as exc:
        assert FILE_NAME in str(exc)
        return
    assert len(df) <= max(len(rows) - 1, 0)


@pytest.mark.filterwarnings("ignore:fuzz.csv. neither UTF-8:UserWarning")
@SMALL_FUZZ
@given(data=st.binary(max_size=300), prefix=st.sampled_from([b"", b"lon,lat\n", b"\xef\xbb\xbf"]))
def test_arbitrary_bytes_only_raise_input_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, prefix: bytes
) -> None:
    path = scratch(tmp_path_factory, "bytes")
    path.write_bytes(prefix + data)
    try:
        df = read_points(path, study_bbox=BBOX)
    except InputError as exc:
        assert FILE_NAME in str(exc)
        return
    assert tuple(df.columns[: len(READ_COLUMNS)]) == READ_COLUMNS
    assert len(df) <= (prefix + data).count(b"\n") + (prefix + data).count(b"\r") + 1


@SMALL_FUZZ
@given(
    points=st.lists(
        st.tuples(
            st.floats(min_value=116.165, max_value=116.21),
            st.floats(min_value=23.275, max_value=23.318),
            st.booleans(),
        ),
        min_size=1,
        max_size=15,
    ),
    declared=st.sampled_from(["WGS84", "GCJ02", "BD09"]),
    encoding=st.sampled_from(["utf-8", "gbk"]),
)
def test_swapped_columns_are_fixed(
    tmp_path_factory: pytest.TempPathFactory,
    points: list[tuple[float, float, bool]],
    declared: str,
    encoding: str,
) -> None:
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    swap = np.array([p[2] for p in points])
    x, y = crs.from_wgs84(lon, lat, declared)
    rows = [
        [f"P{i}", "点", f"{(yi if s else xi)!r}", f"{(xi if s else yi)!r}"]
        for i, (xi, yi, s) in enumerate(zip(x.tolist(), y.tolist(), swap, strict=True))
    ]
    path = scratch(tmp_path_factory, "swap")
    write(path, ["编号", "名称", "经度", "纬度"], rows, ",", encoding, "\n")
    df = read_points(path, crs=declared, study_bbox=BBOX)
    check_contract(df, len(points), BBOX, repeated=False)
    assert df["usable"].all()
    assert (df["status"].eq("swapped_lat_lon") == swap).all()
    distances = GEOD.inv(df["lon"].to_numpy(), df["lat"].to_numpy(), lon, lat)[2]
    assert np.max(distances) < 1.0
    assert all(math.isfinite(v) for v in df["x_orig"])

"""GeoJSON writing: properties built a column at a time equal json.dumps of each row."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import io

TEXT = ['plain', 'quote " here', "back\\slash", "new\nline", "ctrl \x01\x1f", "中文",
        "\u2028 separator", "emoji 😀", "", "</script>"]  # fmt: skip


def _by_row(frame: pd.DataFrame) -> list[str]:
    """The former row-by-row text: json.dumps of each row's dict."""
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return [json.dumps(r, ensure_ascii=False, separators=(",", ":"), allow_nan=False) for r in rows]


def _frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    floats = rng.normal(0, 1, n) * 10.0 ** rng.integers(-320, 300, n)
    floats[::5] = np.nan
    floats[1], floats[2], floats[3] = -0.0, 5e-324, 0.1 + 0.2
    return pd.DataFrame(
        {
            "cell_id": pd.Series(
                [None if i % 6 == 0 else TEXT[i % len(TEXT)] for i in range(n)], dtype="str"
            ),
            "x": floats,
            "n": rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64),
            "u": rng.integers(0, 2**64 - 1, n, dtype=np.uint64),
            "small": np.arange(n, dtype=np.int32),
            "ok": rng.integers(0, 2, n).astype(bool),
            "键 key": np.arange(n) * 0.5,
        }
    )


def test_properties_by_column_equal_json_dumps_by_row():
    frame = _frame()
    before = frame.copy()
    got = io.properties_json(frame)
    pd.testing.assert_frame_equal(frame, before)  # the table is not changed
    assert got == _by_row(frame)


@pytest.mark.filterwarnings("ignore:DataFrame columns are not unique")
@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.assign(nullable=pd.array([None, *range(len(f) - 1)], dtype="Int64")),
        lambda f: f.assign(obj=pd.Series([1, "a", None, 2.5] * (len(f) // 4), dtype=object)),
        lambda f: f.set_axis([*f.columns[:-1], "x"], axis=1),  # a repeated name
        lambda f: f.iloc[:, :0],  # no properties at all
        lambda f: f.set_axis([*f.columns[:-1], 7], axis=1),  # a name that is not text
    ],
)
def test_other_tables_go_row_by_row_with_the_same_text(change):
    frame = change(_frame(40))
    assert io.properties_json(frame) == _by_row(frame)


def test_infinite_numbers_are_refused_as_json_dumps_refuses_them():
    frame = pd.DataFrame({"x": [1.0, np.inf]})
    with pytest.raises(ValueError) as want:
        _by_row(frame)
    with pytest.raises(ValueError) as got:
        io.properties_json(frame)
    assert str(got.value) == str(want.value)


def test_geojson_file_has_the_row_by_row_properties(tmp_path):
    frame = _frame(12)
    gdf = gpd.GeoDataFrame(
        frame, geometry=shapely.points(np.arange(12.0) + 116.0, np.full(12, 39.9)), crs=4326
    )
    path = io.write_geojson(gdf, tmp_path / "p.geojson")
    lines = path.read_text(encoding="utf-8").splitlines()[1:-1]
    got = [json.loads(line.rstrip(","))["properties"] for line in lines]
    assert got == [json.loads(t) for t in _by_row(frame)]
    assert all(f'"properties":{t},' in line for t, line in zip(_by_row(frame), lines, strict=True))

"""GeoPackage layers written through GDAL's Arrow interface equal pyogrio.write_dataframe's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from planner import _arrow


def _frame(n: int = 7) -> gpd.GeoDataFrame:
    """Every column type the Arrow path carries, with missing values, unicode and odd text."""
    rng = np.random.default_rng(3)
    text = ["普宁商品城", "", "a\tb", None, "=cmd|' /C calc'!A0", "流沙 🚲", "x" * 300]
    geoms = [
        shapely.Point(116.17, 23.3),
        shapely.Point(116.18, 23.31),
        None,
        shapely.Point(),
        shapely.Point(116.2, 23.29),
        shapely.Point(-0.0, 0.0),
        shapely.Point(1e-9, 89.999999),
    ]
    return gpd.GeoDataFrame(
        {
            "row": np.arange(n, dtype=np.int64) * 10**12,
            "minutes": [1.5, np.nan, -0.0, 1e300, 2 / 3, np.nan, 7.0],
            "usable": [True, False, True, True, False, False, True],
            "piece": pd.array([1, None, 3, None, 5, 6, None], dtype="Int64"),
            "name": pd.array(text, dtype="str"),
            "kind": np.array(["商户", None, "商户", "快递", np.nan, "商户", "餐饮"], dtype=object),
            "empty_text": np.array([None] * n, dtype=object),
            "x": rng.normal(size=n),
        },
        geometry=geoms,
        crs=4326,
    )


def _tables(path: Path) -> dict[str, object]:
    """What a GeoPackage holds, read with SQLite alone: schema, rows, layer metadata."""
    with sqlite3.connect(path) as db:
        layers = [r[0] for r in db.execute("SELECT table_name FROM gpkg_contents ORDER BY 1")]
        out: dict[str, object] = {
            "contents": db.execute(
                "SELECT table_name, data_type, identifier, srs_id, min_x, min_y, max_x, max_y "
                "FROM gpkg_contents ORDER BY 1"
            ).fetchall(),
            "geometry_columns": db.execute(
                "SELECT * FROM gpkg_geometry_columns ORDER BY 1"
            ).fetchall(),
            "srs": db.execute(
                "SELECT srs_id, organization_coordsys_id FROM gpkg_spatial_ref_sys"
            ).fetchall(),
        }
        for layer in layers:
            out[f"{layer}:columns"] = db.execute(f'PRAGMA table_info("{layer}")').fetchall()
            out[f"{layer}:rows"] = db.execute(f'SELECT * FROM "{layer}" ORDER BY fid').fetchall()
            out[f"{layer}:types"] = (
                db.execute(
                    "SELECT column_name, data_type FROM gpkg_data_columns WHERE table_name = ?",
                    (layer,),
                ).fetchall()
                if _has_table(db, "gpkg_data_columns")
                else []
            )
    return out


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def _both(tmp_path: Path, layers: dict[str, gpd.GeoDataFrame]) -> tuple[dict, dict]:
    old, new = tmp_path / "old.gpkg", tmp_path / "new.gpkg"
    for name, frame in layers.items():
        pyogrio.write_dataframe(frame, old, layer=name, driver="GPKG")
        _arrow.write_layer(frame, new, name, "GPKG")
    return _tables(old), _tables(new)


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    used: list[str] = []
    real = pyogrio.write_arrow

    def write_arrow(*args: object, **kwargs: object) -> None:
        used.append(str(kwargs["layer"]))
        real(*args, **kwargs)

    monkeypatch.setattr(pyogrio, "write_arrow", write_arrow)
    return used


def test_layers_equal_write_dataframe_byte_for_byte(tmp_path, monkeypatch):
    """Same fields, rows (geometry blobs included), nulls, geometry types, extent and CRS."""
    used = _spy(monkeypatch)
    points = _frame()
    lines = gpd.GeoDataFrame(
        {"u": np.array([0, 1], dtype=np.int64), "name": pd.array(["北环", None], dtype="str")},
        geometry=[shapely.LineString([(0, 0), (1, 1), (2, 0)]), shapely.LineString()],
        crs=4326,
    )
    polygons = gpd.GeoDataFrame(
        {"band_min": [5.0, 10.0]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.Polygon()],
        crs=32650,
    )
    empty = points.iloc[:0]
    z = gpd.GeoDataFrame({"k": [1.0]}, geometry=[shapely.Point(1, 2, 3)], crs=4326)
    layers = {"points": points, "lines": lines, "polygons": polygons, "empty": empty, "z": z}
    old, new = _both(tmp_path, layers)
    assert new == old
    assert sorted(used) == sorted(layers)  # every layer went through the Arrow path
    rows = dict(old)["points:rows"]
    assert rows[1][3] is None and rows[1][5] is None  # NaN and <NA> stored as NULL
    kinds = {r[0]: r[2] for r in old["geometry_columns"]}
    assert kinds == {
        "points": "POINT",
        "lines": "LINESTRING",
        "polygons": "POLYGON",
        "empty": "GEOMETRY",
        "z": "POINT",
    }


def test_columns_that_are_views_of_every_other_row(tmp_path, monkeypatch):
    """A frame sliced with a step: its numeric columns are strided views, written as well."""
    used = _spy(monkeypatch)
    stepped = _frame(7).iloc[::2]
    assert stepped["row"].to_numpy().strides == (16,)  # not contiguous: the case in hand
    assert stepped["minutes"].to_numpy().strides == (16,)
    old, new = _both(tmp_path, {"stepped": stepped})
    assert new == old
    assert used == ["stepped"]
    assert [r[2] for r in dict(new)["stepped:rows"]] == [0, 2 * 10**12, 4 * 10**12, 6 * 10**12]


def test_other_column_types_fall_back_to_write_dataframe(tmp_path, monkeypatch):
    """A column the Arrow path does not carry: the layer is written by pyogrio as before."""
    used = _spy(monkeypatch)
    frame = _frame()
    frame["when"] = pd.Timestamp("2026-11-29 12:00")
    frame["small"] = np.arange(len(frame), dtype=np.int32)
    mixed = _frame()
    mixed["kind"] = np.array(["a", 1, None, "b", 2.5, "c", "d"], dtype=object)
    single_multi = gpd.GeoDataFrame(
        {"band_min": [5.0, 10.0]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.MultiPolygon([shapely.box(2, 2, 3, 3)])],
        crs=32650,
    )
    layers = {"dated": frame, "mixed_objects": mixed, "single_multi": single_multi}
    old, new = _both(tmp_path, layers)
    assert new == old
    assert {r[0]: r[2] for r in new["geometry_columns"]}["single_multi"] == "MULTIPOLYGON"
    assert used == []
    assert _arrow.arrow_stream(_frame()) is not None  # the same frame without them is carried


def test_text_buffers_round_trip_every_value():
    """Offsets, bytes and nulls of text and binary columns: each row reads back as written."""
    import nanoarrow as na

    items = np.array(["b", "流沙", None, "b", "", "流沙", "c" * 70, None, ""], dtype=object)
    arr = na.Array(_arrow._binary(na, items, len(items), text=True))
    assert arr.to_pylist() == list(items)
    blobs = np.array([b"\x00\x01", None, b"", b"\x00\x01"], dtype=object)
    arr = na.Array(_arrow._binary(na, blobs, len(blobs), text=False))
    assert arr.to_pylist() == list(blobs)


def test_geometry_type_as_pyogrio_infers_it():
    g = gpd.GeoSeries
    assert _arrow.geometry_type(g([shapely.Point(0, 0), None])) == "Point"
    assert _arrow.geometry_type(g([shapely.Point(0, 0, 1), shapely.Point()])) == "Point Z"
    assert _arrow.geometry_type(g([], dtype="geometry")) == "Unknown"
    assert _arrow.geometry_type(g([None, None])) == "Unknown"

"""Tests for planner.readers.read_points."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon

from planner import crs
from planner._errors import PlannerError
from planner.readers import (
    OUTPUT_COLUMNS,
    STATUSES,
    USABLE_STATUSES,
    InputError,
    parse_coordinate,
    read_points,
)

FIXTURES = Path(__file__).parent / "fixtures" / "inputs"
#: Real points around Puning with their WGS-84 coordinates, kept in the repository.
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "liusha" / "puning_reference_points.csv"
GEOD = Geod(ellps="WGS84")

# (west, south, east, north) around the mall, WGS-84.
BBOX = (116.158, 23.270, 116.218, 23.324)
MALL_WGS = (116.188201, 23.296846)
MALL_GCJ = (116.192820, 23.294310)


def write_csv(tmp_path: Path, text: str, name: str = "facilities.csv", encoding="utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def assert_layout(df: pd.DataFrame, n_rows: int) -> None:
    """Check the common contract: columns, count, dtypes and usable/status consistency."""
    assert tuple(df.columns[: len(OUTPUT_COLUMNS)]) == OUTPUT_COLUMNS
    assert len(df) == n_rows
    assert df["row"].dtype == np.int64
    assert df["usable"].dtype == bool
    for column in ("lon", "lat", "x_orig", "y_orig"):
        assert df[column].dtype == np.float64
    assert set(df["status"]) <= set(STATUSES)
    assert (df["usable"] == df["status"].isin(USABLE_STATUSES)).all()
    assert (df["reason"].eq("") == df["status"].eq("ok")).all()
    usable = df[df["usable"]]
    assert np.isfinite(usable["lon"]).all() and np.isfinite(usable["lat"]).all()
    assert df["id"].map(lambda v: isinstance(v, str) and v != "").all()


def distance_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# --- formats ------------------------------------------------------------------------------------


def test_gbk_csv_with_chinese_columns_in_gcj02() -> None:
    path = FIXTURES / "facilities_gbk_gcj02.csv"
    df = read_points(path, crs="GCJ-02")
    assert_layout(df, 4)
    assert df["row"].tolist() == [2, 3, 4, 5]
    assert df["id"].tolist() == ["G01", "G02", "G03", "G04"]
    assert df.loc[0, "name"] == "国际商品城（影城入口）"
    assert df.loc[1, "kind"] == "卫生服务中心"
    assert df["来源"].tolist()[1] == "腾讯地图"
    assert (df["status"] == "ok").all() and (df["crs_orig"] == "GCJ02").all()
    expected_lon, expected_lat = crs.to_wgs84(
        df["x_orig"].to_numpy(), df["y_orig"].to_numpy(), "GCJ02"
    )
    np.testing.assert_allclose(df["lon"], expected_lon)
    np.testing.assert_allclose(df["lat"], expected_lat)
    assert distance_m(df.loc[0, "lon"], df.loc[0, "lat"], *MALL_WGS) < 1.0
    assert (df["x_orig"] == [116.19282, 116.175444, 116.183042, 116.204275]).all()


def test_utf8_bom_csv_with_english_columns() -> None:
    df = read_points(FIXTURES / "pois_utf8_bom.csv", study_bbox=BBOX)
    assert_layout(df, 3)
    assert df["id"].tolist() == ["B01", "B02", "B03"]  # "ID" with a BOM in front is found
    assert df["name"].tolist()[1] == "Clinic, Liusha East"
    assert df["kind"].tolist() == ["cinema", "clinic", "community"]
    assert df["note"].tolist()[1] == 'a comma, and "quotes"'
    assert df["source"].tolist()[0] == "OSM-aligned"
    np.testing.assert_array_equal(df["lon"], df["x_orig"])
    assert (df["crs_orig"] == "WGS84").all()
    assert "Lng" not in df.columns and "ID" not in df.columns  # consumed columns


def test_gb18030_and_utf16_csv(tmp_path: Path) -> None:
    text = "名称,经度,纬度\n𠀀 character beyond GBK,116.19,23.29\n"
    df = read_points(write_csv(tmp_path, text, encoding="gb18030"))
    assert df.loc[0, "name"] == "𠀀 character beyond GBK"
    df = read_points(write_csv(tmp_path, text, name="u16.csv", encoding="utf-16"))
    assert df.loc[0, "name"] == "𠀀 character beyond GBK" and df.loc[0, "usable"]


def test_semicolon_and_tab_delimiters(tmp_path: Path) -> None:
    df = read_points(write_csv(tmp_path, "name;lon;lat\nA;116,19;23,29\n"))
    assert df.loc[0, "lon"] == pytest.approx(116.19) and df.loc[0, "usable"]
    df = read_points(write_csv(tmp_path, "name\tlon\tlat\nA\t116.19\t23.29\n", "p.tsv"))
    assert df.loc[0, "lat"] == pytest.approx(23.29)


def test_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "facilities.xlsx"
    workbook = openpyxl.Workbook()
    first = workbook.active
    first.title = "ignored"
    first.append(["nothing", "here"])
    sheet = workbook.create_sheet("设施")
    sheet.append([None])
    sheet.append(["序号", "门店名称", "业态", "经度", "纬度", "备注"])
    sheet.append([1, "商品城东门", "商场", MALL_GCJ[0], MALL_GCJ[1], None])
    sheet.append([2.0, "文本坐标", "超市", "116.175444", "23.296042", "text cells"])
    sheet.append([None, None, None, None, None, None])
    sheet.append([3, "坏坐标", "超市", "abc", 23.29, 7])
    workbook.save(path)

    df = read_points(path, crs="gcj02", sheet="设施")
    assert_layout(df, 3)
    assert df["row"].tolist() == [3, 4, 6]  # sheet row numbers; blank row 5 skipped
    assert df["id"].tolist() == ["1", "2", "3"]
    assert df["name"].tolist()[0] == "商品城东门"
    assert df["status"].tolist() == ["ok", "ok", "invalid_coordinates"]
    assert distance_m(df.loc[0, "lon"], df.loc[0, "lat"], *MALL_WGS) < 1.0
    assert df.loc[2, "reason"] == (
        'facilities.xlsx [设施] row 6, field "经度": value "abc" is not a number'
    )
    assert df["备注"].tolist() == [None, "text cells", 7]
    by_index = read_points(path, crs="gcj02", sheet=1)
    pd.testing.assert_frame_equal(df, by_index)
    with pytest.raises(InputError, match="no longitude column"):
        read_points(path)  # first sheet has no coordinates
    with pytest.raises(InputError, match="no sheet"):
        read_points(path, sheet="missing")


def geo_frame(crs_name: str = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "poi_id": ["P1", "P2", "P3", "P4"],
            "名称": ["商品城", "地块", "道路", "无几何"],
            "type": ["mall", "parcel", "road", "none"],
            "floors": [3, 1, 0, 2],
        },
        geometry=[
            Point(MALL_GCJ),
            Polygon([(116.17, 23.29), (116.18, 23.29), (116.18, 23.30), (116.17, 23.30)]),
            LineString([(116.17, 23.28), (116.19, 23.28)]),
            None,
        ],
        crs=crs_name,
    )


def test_geojson_points_polygons_and_declared_gcj02(tmp_path: Path) -> None:
    path = tmp_path / "pois.geojson"
    geo_frame().to_file(path, driver="GeoJSON")
    df = read_points(path, crs="GCJ02")
    assert_layout(df, 4)
    assert df["row"].tolist() == [1, 2, 3, 4]
    assert df["id"].tolist() == ["P1", "P2", "P3", "P4"]
    assert df["kind"].tolist() == ["mall", "parcel", "road", "none"]
    assert df["status"].tolist() == ["ok", "ok", "ok", "missing_coordinates"]
    assert df.loc[3, "reason"] == 'pois.geojson feature 4, field "geometry": empty'
    assert (df["crs_orig"] == "GCJ02").all()  # declared GCJ-02 wins over the file's WGS-84
    assert distance_m(df.loc[0, "lon"], df.loc[0, "lat"], *MALL_WGS) < 1.0
    # the polygon gives a point inside it
    assert Polygon([(116.17, 23.29), (116.18, 23.29), (116.18, 23.30), (116.17, 23.30)]).contains(
        Point(df.loc[1, "x_orig"], df.loc[1, "y_orig"])
    )
    assert df["floors"].tolist() == [3, 1, 0, 2]
    # declared WGS-84 (default): the file's CRS is used, no shift
    plain = read_points(path)
    assert (plain["crs_orig"] == "WGS84").all()
    assert plain.loc[0, "lon"] == pytest.approx(MALL_GCJ[0])


def test_gpkg_projected_file_crs_overrides_declared(tmp_path: Path) -> None:
    path = tmp_path / "pois.gpkg"
    frame = geo_frame().to_crs("EPSG:32650")
    frame.to_file(path, layer="shops", driver="GPKG")
    geo_frame().iloc[:1].to_file(path, layer="other", driver="GPKG")
    df = read_points(path, layer="shops", crs="WGS84")
    assert_layout(df, 4)
    assert (df["crs_orig"] == "EPSG:32650").all()
    assert df.loc[0, "lon"] == pytest.approx(MALL_GCJ[0], abs=1e-7)
    assert df.loc[0, "lat"] == pytest.approx(MALL_GCJ[1], abs=1e-7)
    assert df.loc[0, "x_orig"] > 1000  # eastings as read
    assert df.loc[0, "reason"] == "" and df.loc[3, "status"] == "missing_coordinates"
    assert df.loc[3, "reason"].startswith("pois.gpkg [shops] feature 4")
    assert len(read_points(path, layer="other")) == 1


def test_geo_file_with_lon_lat_columns_uses_them_when_given(tmp_path: Path) -> None:
    path = tmp_path / "pois.geojson"
    frame = geo_frame().iloc[:1].assign(lon_col=[1.0], lat_col=[2.0])
    frame.to_file(path, driver="GeoJSON")
    df = read_points(path, columns={"lon": "lon_col", "lat": "lat_col"})
    assert df.loc[0, "lon"] == 1.0 and df.loc[0, "lat"] == 2.0


# --- status codes -------------------------------------------------------------------------------


def status_csv(tmp_path: Path) -> Path:
    text = (
        "id,name,type,lon,lat,crs,note\n"  # row 1
        "A,ok,shop,116.188201,23.296846,,\n"  # 2
        "B,swapped,shop,23.296846,116.188201,,\n"  # 3
        "C,missing lat,shop,116.188201,,,\n"  # 4
        "D,bad number,shop,116.188201,abc,,\n"  # 5
        "E,infinite,shop,inf,23.29,,\n"  # 6
        "F,out of range,shop,200,95,,\n"  # 7
        "G,far away,shop,113.94,22.54,,\n"  # 8
        "A,duplicate of A,shop,116.19,23.29,,\n"  # 9
        "H,unknown crs,shop,116.19,23.29,mars,\n"  # 10
        "I,shifted,shop,116.192820,23.294310,GCJ-02 (likely),\n"  # 11
        "J,too many,fields,116.19,23.29,,note,extra\n"  # 12
        "K,both missing,shop,NaN,,,\n"  # 13
        "L,trailing delimiters,shop,116.19,23.29,,,,\n"  # 14
        ",no id,shop,116.19,23.29,,\n"  # 15
    )
    return write_csv(tmp_path, text)


def test_each_status_code(tmp_path: Path) -> None:
    df = read_points(status_csv(tmp_path), study_bbox=BBOX).set_index("row")
    assert_layout(df.reset_index(), 14)
    expected = {
        2: "ok",
        3: "swapped_lat_lon",
        4: "missing_coordinates",
        5: "invalid_coordinates",
        6: "invalid_coordinates",
        7: "invalid_coordinates",
        8: "outside_study_area",
        9: "duplicate_id",
        10: "invalid_crs",
        11: "ok",
        12: "malformed_row",
        13: "missing_coordinates",
        14: "ok",
        15: "ok",
    }
    assert df["status"].to_dict() == expected
    assert df.loc[3, "lon"] == pytest.approx(116.188201) and df.loc[3, "usable"]
    assert df.loc[3, "x_orig"] == pytest.approx(23.296846)  # as read
    assert df.loc[8, "lon"] == pytest.approx(113.94)  # outside: coordinates kept
    assert np.isnan(df.loc[5, "lon"]) and df.loc[5, "x_orig"] == pytest.approx(116.188201)
    assert np.isnan(df.loc[4, "y_orig"])
    assert df.loc[11, "crs_orig"] == "GCJ02"
    assert distance_m(df.loc[11, "lon"], df.loc[11, "lat"], *MALL_WGS) < 1.0
    assert df.loc[15, "id"] == "facilities-15"
    assert df.loc[10, "crs"] == "mars"  # per-row crs column carried through unchanged


def test_reasons_name_file_row_and_field(tmp_path: Path) -> None:
    df = read_points(status_csv(tmp_path), study_bbox=BBOX).set_index("row")
    reasons = df["reason"].to_dict()
    assert reasons[4] == 'facilities.csv row 4, field "lat": empty'
    assert reasons[5] == 'facilities.csv row 5, field "lat": value "abc" is not a number'
    assert reasons[6] == 'facilities.csv row 6, field "lon": value "inf" is not a finite number'
    assert reasons[7].startswith('facilities.csv row 7, fields "lon"/"lat": (200, 95) is not a')
    assert reasons[8].startswith('facilities.csv row 8, fields "lon"/"lat": point lon 113.94')
    assert "outside the study area" in reasons[8]
    assert reasons[9] == 'facilities.csv row 9, field "id": id "A" already used in row 2'
    assert reasons[10].startswith('facilities.csv row 10, field "crs": value "mars" is not')
    assert reasons[12].startswith("facilities.csv row 12: 8 fields but the header has 7")
    assert reasons[13] == 'facilities.csv row 13, fields "lon" and "lat": both empty'
    assert reasons[3].startswith('facilities.csv row 3, fields "lon"/"lat": values look swapped')


def test_swap_detected_without_bbox_when_out_of_range(tmp_path: Path) -> None:
    text = "name,lon,lat\nswapped,23.29,116.19\nambiguous,23.29,80.0\n"
    df = read_points(write_csv(tmp_path, text))
    assert df["status"].tolist() == ["swapped_lat_lon", "ok"]
    assert df.loc[0, "lon"] == pytest.approx(116.19) and df.loc[0, "lat"] == pytest.approx(23.29)


def test_swap_detected_in_gcj02_with_bbox(tmp_path: Path) -> None:
    text = f"name,lon,lat\nswapped,{MALL_GCJ[1]},{MALL_GCJ[0]}\n"
    df = read_points(write_csv(tmp_path, text), crs="GCJ02", study_bbox=BBOX)
    assert df.loc[0, "status"] == "swapped_lat_lon" and df.loc[0, "usable"]
    assert distance_m(df.loc[0, "lon"], df.loc[0, "lat"], *MALL_WGS) < 1.0


def test_swapped_but_outside_bbox_is_outside(tmp_path: Path) -> None:
    df = read_points(write_csv(tmp_path, "name,lon,lat\nfar,22.54,113.94\n"), study_bbox=BBOX)
    assert df.loc[0, "status"] == "outside_study_area"
    assert "values look swapped" in df.loc[0, "reason"]
    assert df.loc[0, "lon"] == pytest.approx(113.94)


def test_allow_repeated_ids(tmp_path: Path) -> None:
    text = "facility_id,name,lon,lat\nF1,gate A,116.19,23.29\nF1,gate B,116.191,23.291\n"
    path = write_csv(tmp_path, text)
    assert read_points(path)["status"].tolist() == ["ok", "duplicate_id"]
    df = read_points(path, allow_repeated_ids=True)
    assert df["status"].tolist() == ["ok", "ok"] and df["id"].tolist() == ["F1", "F1"]


def test_duplicate_only_counts_usable_rows(tmp_path: Path) -> None:
    text = "id,lon,lat\nX,,\nX,116.19,23.29\nX,116.19,23.29\n"
    df = read_points(write_csv(tmp_path, text))
    assert df["status"].tolist() == ["missing_coordinates", "ok", "duplicate_id"]
    assert df.loc[2, "reason"].endswith('id "X" already used in row 3')


def test_invalid_in_projected_crs(tmp_path: Path) -> None:
    text = "id,x,y\na,500000,2576000\nb,abc,2576000\nc,1e30,1e30\n"
    df = read_points(write_csv(tmp_path, text), crs="EPSG:32650")
    assert df["status"].tolist() == ["ok", "invalid_coordinates", "invalid_coordinates"]
    assert df.loc[0, "lon"] == pytest.approx(117.0)
    assert "easting/northing" in df.loc[2, "reason"]


# --- row numbers, counts, ids, columns ----------------------------------------------------------


def test_row_numbers_count_blank_and_multiline_rows(tmp_path: Path) -> None:
    text = (
        "\n"  # row 1: blank, skipped
        "name,lon,lat\n"  # row 2: header
        '"two\nlines",116.19,23.29\n'  # row 3 (one spreadsheet row)
        ",,\n"  # row 4: blank
        "bad,x,23.29\n"  # row 5
    )
    df = read_points(write_csv(tmp_path, text))
    assert df["row"].tolist() == [3, 5]
    assert df.loc[0, "name"] == "two\nlines"
    assert df.loc[1, "reason"] == 'facilities.csv row 5, field "lon": value "x" is not a number'
    assert df["id"].tolist() == ["facilities-3", "facilities-5"]


def test_id_prefix_and_numeric_like_ids(tmp_path: Path) -> None:
    text = "编号,lon,lat\n007,116.19,23.29\n,116.19,23.29\n 8 ,116.19,23.29\n"
    df = read_points(write_csv(tmp_path, text), id_prefix="shop")
    assert df["id"].tolist() == ["007", "shop-3", "8"]


def test_counts_in_equal_counts_out(tmp_path: Path) -> None:
    lines = ["id,name,lon,lat"]
    rng = np.random.default_rng(0)
    values = ["116.19", "23.29", "", "abc", "inf", "-1e300", "NaN", "1e5"]
    for i in range(200):
        lines.append(f"{i % 50},n{i},{rng.choice(values)},{rng.choice(values)}")
    df = read_points(write_csv(tmp_path, "\n".join(lines)), study_bbox=BBOX)
    assert_layout(df, 200)
    assert df["row"].tolist() == list(range(2, 202))


def test_header_only_gives_empty_frame(tmp_path: Path) -> None:
    df = read_points(write_csv(tmp_path, "id,name,lon,lat,extra\n"))
    assert_layout(df, 0)
    assert "extra" in df.columns


def test_explicit_columns_win_over_aliases(tmp_path: Path) -> None:
    text = "lon,lat,real_x,real_y,label,code\n1,2,116.19,23.29,Shop,S1\n"
    df = read_points(
        write_csv(tmp_path, text),
        columns={"lon": "real_x", "lat": "REAL_Y ", "name": "label", "id": "code"},
    )
    assert df.loc[0, "lon"] == pytest.approx(116.19) and df.loc[0, "lat"] == pytest.approx(23.29)
    assert df.loc[0, "name"] == "Shop" and df.loc[0, "id"] == "S1"
    assert df.loc[0, "lon_src"] == "1"  # the unused "lon" column collides, so it is renamed


def test_aliases_are_case_insensitive_trimmed_and_ignore_qualifiers(tmp_path: Path) -> None:
    text = " LONGITUDE ,经度(GCJ-02)_x,Latitude (deg),Type\n116.19,9,23.29,shop\n"
    df = read_points(write_csv(tmp_path, text))
    assert df.loc[0, "lon"] == pytest.approx(116.19) and df.loc[0, "lat"] == pytest.approx(23.29)
    assert df.loc[0, "kind"] == "shop"


def test_coordinate_cell_forms() -> None:
    assert parse_coordinate(" １１６.１９ ") == (116.19, None)
    assert parse_coordinate("23.29°") == (23.29, None)
    assert parse_coordinate("23,29") == (23.29, None)
    assert parse_coordinate(23) == (23.0, None)
    assert parse_coordinate("null")[1] == "empty"
    assert parse_coordinate(float("nan"))[1] == "empty"
    assert parse_coordinate("-inf")[1] == "not a finite number"
    assert parse_coordinate(True)[1] == "not a number"
    assert parse_coordinate("116°11'")[1] == "not a number"


def test_per_row_crs_overrides_file_crs(tmp_path: Path) -> None:
    text = (
        "name,lon,lat,坐标系\n"
        f"gcj row,{MALL_GCJ[0]},{MALL_GCJ[1]},GCJ-02\n"
        f"default row,{MALL_GCJ[0]},{MALL_GCJ[1]},\n"
    )
    df = read_points(write_csv(tmp_path, text), crs="WGS84")
    assert df["crs_orig"].tolist() == ["GCJ02", "WGS84"]
    assert distance_m(df.loc[0, "lon"], df.loc[0, "lat"], *MALL_WGS) < 1.0
    assert df.loc[1, "lon"] == pytest.approx(MALL_GCJ[0])


def test_bd09_file(tmp_path: Path) -> None:
    bd_lon, bd_lat = crs.wgs84_to_bd09(*MALL_WGS)
    df = read_points(
        write_csv(tmp_path, f"name,lng,lat\nmall,{bd_lon:.7f},{bd_lat:.7f}\n"), crs="bd09"
    )
    assert df.loc[0, "crs_orig"] == "BD09"
    assert distance_m(df.loc[0, "lon"], df.loc[0, "lat"], *MALL_WGS) < 1.0


def test_reference_points_match_their_wgs84_column() -> None:
    df = read_points(REFERENCE, crs="WGS84")
    assert_layout(df, 20)
    assert df["usable"].all()
    assert set(df["crs_orig"]) == {"WGS84", "GCJ02"}
    assert df["kind"].tolist()[0] == "transport:railway_station"  # from "category"
    approx_lon = df["lon_wgs84_approx"].astype(float)
    approx_lat = df["lat_wgs84_approx"].astype(float)
    assert distance_m(df["lon"], df["lat"], approx_lon, approx_lat).max() < 1.0


# --- whole-file errors --------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: file not found"):
        read_points(tmp_path / "nope.csv")


@pytest.mark.parametrize("content", [b"", b"   \n\n", b"\xef\xbb\xbf", b",,,\n,,\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"empty\.csv: the file (is empty|has no header)"):
        read_points(path)


def test_no_coordinate_columns_lists_found_and_expected(tmp_path: Path) -> None:
    with pytest.raises(InputError) as excinfo:
        read_points(write_csv(tmp_path, "id,name,address\n1,a,b\n"))
    message = str(excinfo.value)
    assert "facilities.csv" in message and "'address'" in message and "'经度'" in message


def test_missing_header_is_a_file_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no longitude column"):
        read_points(write_csv(tmp_path, "F1,shop,116.19,23.29\nF2,shop,116.2,23.3\n"))


def test_unknown_column_in_mapping(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "id,lon,lat\n1,116.19,23.29\n")
    with pytest.raises(InputError, match=r"column '名称' given for 'name'.*columns found"):
        read_points(path, columns={"name": "名称"})
    with pytest.raises(InputError, match="unknown key"):
        read_points(path, columns={"title": "id"})


def test_unknown_crs_and_bad_bbox(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "id,lon,lat\n1,116.19,23.29\n")
    with pytest.raises(InputError, match="unknown CRS"):
        read_points(path, crs="mars")
    with pytest.raises(ValueError, match="study_bbox"):
        read_points(path, study_bbox=(116.2, 23.3, 116.1, 23.2))


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("points.xls", b"anything", "unsupported file type"),
        ("points.xlsx", b"not a zip", "not a readable .xlsx"),
        ("points.geojson", b"{not json", "not a readable vector file"),
        ("points.geojson", b"", "the file is empty"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, pattern: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=pattern):
        read_points(path)


def test_input_error_is_value_error_and_planner_error() -> None:
    assert issubclass(InputError, ValueError)
    assert issubclass(InputError, PlannerError)  # the CLI reports it as one line


def test_geojson_empty_feature_collection(tmp_path: Path) -> None:
    path = tmp_path / "none.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    df = read_points(path)
    assert_layout(df, 0)


# --- over-long rows, neutralised formulas, earlier outputs, sources (issue 8) -------------------


def test_unquoted_comma_with_empty_last_field_is_malformed(tmp_path: Path) -> None:
    text = (
        "id,name,lon,lat,crs\n"
        "1,Shop A,116.19,23.29,WGS84\n"
        "7,Shop, Ltd,116.19,23.29,\n"  # one field too many, the last one empty
        "8,Shop B,116.19,23.29,\n"
    )
    df = read_points(write_csv(tmp_path, text), study_bbox=BBOX)
    assert df["status"].tolist() == ["ok", "malformed_row", "ok"]
    reason = df.loc[1, "reason"]
    assert reason.startswith("facilities.csv row 3: 6 fields but the header has 5")
    assert 'value "23.29" is not a known CRS' in reason  # what reading it as it stands gave
    assert "accepted:" not in reason  # one line, not the list of CRS names
    assert np.isnan(df.loc[1, "lon"])
    single = read_points(write_csv(tmp_path, "id,name,lon,lat,crs\n7,Shop, Ltd,116.19,23.29,\n"))
    assert single["status"].tolist() == ["malformed_row"]


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_a_quote_never_closed_loses_no_row(tmp_path: Path, end: str) -> None:
    """The rows after an unclosed quote are read on their own, not swallowed into it."""
    lines = [
        "id,name,lon,lat",
        "Q1,ok1,116.190,23.290",
        'Q2,"unclosed quote,116.191,23.291',  # the quote is never closed
        "Q3,ok3,116.192,23.292",
        'Q4,"an address' + end + 'on two lines",116.193,23.293',  # closed: one value
        'Q5,He said "hi",116.194,23.294',  # quotes inside an unquoted value: as before
        'Q6,"stops here,116.195,23.295',  # never closed either: no row follows
    ]
    df = read_points(write_csv(tmp_path, end.join(lines) + end), study_bbox=BBOX)
    assert df["id"].tolist() == ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]
    assert df["status"].tolist() == ["ok", "malformed_row", "ok", "ok", "ok", "malformed_row"]
    assert df.loc[1, "reason"] == (
        'facilities.csv row 3: a double quote (") in this row is not closed; the rows after '
        "it are read on their own"
    )
    assert df.loc[1, "name"] == "unclosed quote,116.191,23.291"  # its text, kept
    assert df.loc[2, "lon"] == 116.192 and df.loc[3, "name"] == "an address" + end + "on two lines"
    assert df.loc[4, "name"] == 'He said "hi"'
    assert df["row"].tolist() == [2, 3, 4, 5, 6, 7]
    # a file whose header is fine and whose only row never closes its quote
    single = read_points(write_csv(tmp_path, 'id,name,lon,lat\nQ1,"x,116.19,23.29\n'))
    assert single["status"].tolist() == ["malformed_row"]


def test_trailing_delimiter_on_every_row_is_not_a_shift(tmp_path: Path) -> None:
    # Exports that end every data line with a delimiter (the header without one)
    text = (
        "id,name,lon,lat,crs\n"
        "1,Shop A,116.19,23.29,WGS84,\n"
        "2,Shop B,116.19,23.29,,\n"
        "3,bad lon,abc,23.29,,\n"
        "7,Shop, Ltd,116.19,23.29,,\n"  # one more than every other row: shifted
        "8,stray delimiters,116.19,23.29,,,,\n"  # reads as a usable point: kept
    )
    df = read_points(write_csv(tmp_path, text), study_bbox=BBOX)
    assert df["status"].tolist() == ["ok", "ok", "invalid_coordinates", "malformed_row", "ok"]
    assert df.loc[2, "reason"] == 'facilities.csv row 4, field "lon": value "abc" is not a number'
    shifted = "facilities.csv row 5: 7 fields but the other rows have 6"
    assert df.loc[3, "reason"].startswith(shifted)


def test_neutralised_formulas_lose_their_apostrophe(tmp_path: Path) -> None:
    text = (
        "id,name,kind,lon,lat,note\n"
        "'-12,'=HYPERLINK(\"http://x\"),'@shop,116.19,23.29,'+86 663\n"
        "B,'plain quote,'\tshop,116.19,23.29,it's\n"
    )
    df = read_points(write_csv(tmp_path, text))
    assert df["id"].tolist() == ["-12", "B"]
    assert df["name"].tolist() == ['=HYPERLINK("http://x")', "'plain quote"]
    assert df["kind"].tolist() == ["@shop", "shop"]
    assert df["note"].tolist() == ["+86 663", "it's"]
    wb = openpyxl.Workbook()
    wb.active.append(["name", "lon", "lat"])
    wb.active.append(["'=1+2", 116.19, 23.29])
    wb.save(tmp_path / "book.xlsx")
    assert read_points(tmp_path / "book.xlsx").loc[0, "name"] == "=1+2"


def test_header_only_is_a_file_problem(tmp_path: Path) -> None:
    df = read_points(write_csv(tmp_path, "id,name,lon,lat\n\n,,,\n", name="merchants.csv"))
    assert df.empty
    assert df.attrs["file_problems"] == ["merchants.csv: the file has a header but no data rows"]
    assert df.attrs["source"] == "merchants.csv" and df.attrs["unit"] == "row"
    assert read_points(status_csv(tmp_path)).attrs["file_problems"] == []


def previous_output(tmp_path: Path) -> Path:
    """A pois.csv as an earlier run writes it (columns of `planner.coverage.nearest_table`)."""
    text = (
        "poi_id,name,kind,lon,lat,nearest_facility_id,minutes_to_nearest,status,reason,row,"
        "x_orig,y_orig,crs_orig,source,access_m\n"
        "A,ok,shop,116.188201,23.296846,F1,3.5,ok,,2,116.19282,23.29431,GCJ02,,5.0\n"
        "B,far,shop,113.94,22.54,,,outside_study_area,m.csv row 3: outside,3,113.94,22.54,"
        "WGS84,,\n"
        "C,bad,shop,,,,,invalid_coordinates,"
        '"m.csv row 4, field ""lat"": value ""abc"" is not a number",4,116.19,,WGS84,,\n'
        "D,no lat,shop,,,,,missing_coordinates,"
        '"m.csv row 5, field ""lat"": empty",5,116.19,,WGS84,,\n'
        "E,fixed by hand,shop,116.19,23.29,,,invalid_coordinates,m.csv row 6: bad,6,,,WGS84,,\n"
        "A,again,shop,116.19,23.29,,,duplicate_id,m.csv row 7: dup,7,116.19,23.29,WGS84,,\n"
        ",added by hand,shop,116.19,23.29,,,,,,,,,,\n"
        "poi-9,had a made-up id,shop,116.19,23.29,,,ok,,8,116.19,23.29,WGS84,,\n"
    )
    return write_csv(tmp_path, text, name="pois.csv")


def test_earlier_pois_csv_reads_lon_lat_and_keeps_its_verdicts(tmp_path: Path) -> None:
    df = read_points(previous_output(tmp_path), study_bbox=BBOX, id_prefix="poi")
    by_name = df.set_index("name")
    # lon/lat (WGS-84) are read, not x_orig/y_orig; the old row/status/reason are kept as *_src
    assert by_name.loc["ok", "lon"] == pytest.approx(116.188201)
    assert by_name.loc["ok", "crs_orig"] == "WGS84"
    assert by_name.loc["ok", "status_src"] == "ok" and by_name.loc["ok", "row_src"] == "2"
    assert df["row"].tolist() == list(range(2, 10))
    assert df["status"].tolist() == [
        "ok",
        "outside_study_area",  # recomputed from lon/lat
        "invalid_coordinates",  # lon/lat still empty: the earlier verdict stays
        "missing_coordinates",
        "ok",  # lon/lat filled in by hand: read again
        "duplicate_id",  # recomputed: A is used in row 2
        "ok",
        "ok",
    ]
    assert by_name.loc["bad", "reason"] == (
        'pois.csv row 4, fields "lon"/"lat": empty; the run that wrote this file said: '
        'm.csv row 4, field "lat": value "abc" is not a number'
    )
    # a row added without an id does not take an id the file already uses
    assert by_name.loc["added by hand", "id"] == "poi-8"
    assert by_name.loc["had a made-up id", "id"] == "poi-9"
    assert df.attrs["file_problems"] == [
        "pois.csv: 1 row(s) were already duplicate_id in the run that wrote this file and are "
        "read again; delete them before the next run so they do not pile up"
    ]


def test_generated_id_never_takes_an_id_in_use(tmp_path: Path) -> None:
    text = "id,lon,lat\npoi-3,116.19,23.29\n,116.19,23.29\n"  # row 3 would be "poi-3"
    df = read_points(write_csv(tmp_path, text), id_prefix="poi")
    assert df["id"].tolist() == ["poi-3", "poi-3-2"]
    assert df["status"].tolist() == ["ok", "ok"]


def test_earlier_output_is_wgs84_whatever_crs_is_declared(tmp_path: Path) -> None:
    # facilities.csv of an earlier run carries the user's crs column through: not applied
    text = (
        "row,id,name,kind,lon,lat,x_orig,y_orig,crs_orig,status,usable,reason,crs\n"
        f"2,F1,mall,,{MALL_WGS[0]},{MALL_WGS[1]},{MALL_GCJ[0]},{MALL_GCJ[1]},GCJ02,ok,True,,"
        "GCJ02\n"
    )
    df = read_points(write_csv(tmp_path, text), crs="GCJ02")
    assert df.loc[0, "lon"] == pytest.approx(MALL_WGS[0])
    assert df.loc[0, "lat"] == pytest.approx(MALL_WGS[1])
    assert df.attrs["file_problems"] == [
        "facilities.csv: a table written by the planner, so its lon/lat are WGS-84; the crs "
        "'GCJ02' given for it is not applied"
    ]
    # naming x_orig/y_orig explicitly reads them in the declared CRS
    again = read_points(
        write_csv(tmp_path, text), crs="GCJ02", columns={"lon": "x_orig", "lat": "y_orig"}
    )
    assert distance_m(again.loc[0, "lon"], again.loc[0, "lat"], *MALL_WGS) < 1.0


def test_combine_sources_gives_each_id_to_the_first_source(tmp_path: Path) -> None:
    from planner.readers import combine_sources, valid_points

    text = "id,name,lon,lat\nnode/1,edited,116.19,23.29\nnode/2,cleared,,\n"
    mine = read_points(write_csv(tmp_path, text, name="pois.csv"))
    osm = valid_points(["node/1", "node/2", "node/3"], [116.1] * 3, [23.2] * 3)
    osm.attrs.update({"source": "OpenStreetMap", "unit": None, "file_problems": ["note"]})
    both = combine_sources([mine, osm])
    assert both["status"].tolist() == [
        "ok",
        "missing_coordinates",
        "duplicate_id",
        "duplicate_id",  # the user's row wins even though it is not usable
        "ok",
    ]
    assert both["usable"].tolist() == [True, False, False, False, True]
    assert both.loc[2, "reason"] == (
        'OpenStreetMap node/1: id "node/1" already used by pois.csv row 2'
    )
    assert both.loc[3, "reason"] == (
        'OpenStreetMap node/2: id "node/2" already used by pois.csv row 3 (missing_coordinates)'
    )
    assert both.loc[2, "lon"] == pytest.approx(116.1)  # coordinates kept, as for duplicate_id
    assert both.attrs["file_problems"] == ["note"]
    assert mine["status"].tolist() == ["ok", "missing_coordinates"]  # inputs not modified


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        ("xlsx", "an Excel workbook (.xlsx) or another zip file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "an old Excel workbook (.xls)"),
        (b"SQLite format 3\x00" + b"\0" * 100, "a GeoPackage or another SQLite database"),
    ],
)
def test_a_binary_file_named_csv_is_one_clear_error(tmp_path: Path, make, kind) -> None:
    path = tmp_path / "facilities.csv"
    if make == "xlsx":
        wb = openpyxl.Workbook()
        wb.active.append(["id", "name", "lon", "lat"])
        wb.active.append(["F1", "x", 116.19, 23.29])
        wb.save(path)
    else:
        path.write_bytes(make)
    with pytest.raises(InputError) as err:
        read_points(path)
    assert str(err.value) == (
        f"facilities.csv is {kind}, not a text table; save it as CSV (UTF-8), or give the "
        "workbook its .xlsx name"
    )


def test_undecodable_bytes_are_a_file_problem_not_a_python_warning(tmp_path: Path) -> None:
    import warnings

    from planner.readers import ATTR_FILE_PROBLEMS

    text = "id,name,lon,lat\nF1,Caf\xe9,116.19,23.29\nF2,\u4e2d,116.19,23.29\n"
    path = tmp_path / "facilities.csv"
    path.write_bytes(text.encode("utf-8").replace("\xe9".encode(), b"\xe9"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Python warning escapes (it printed code lines)
        df = read_points(path)
    assert df["status"].tolist() == ["ok", "ok"]
    assert df.loc[0, "name"] == "Caf\ufffd" and df.loc[1, "name"] == "\u4e2d"
    assert df.attrs[ATTR_FILE_PROBLEMS] == [
        "facilities.csv: neither UTF-8 nor GBK/GB18030; undecodable bytes were replaced "
        "(save the file as UTF-8)"
    ]

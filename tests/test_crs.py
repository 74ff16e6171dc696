"""Tests for planner.crs: WGS-84 / GCJ-02 / BD-09 / EPSG conversions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod

from planner import crs

GEOD = Geod(ellps="WGS84")

# The mall (Puning International Commodity City) in WGS-84 (OSM) and GCJ-02 (Amap).
MALL_WGS = (116.188201, 23.296846)
MALL_GCJ = (116.192820, 23.294310)


def distance_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Return geodesic distances in metres between two sets of points."""
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2))
    )
    _, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(dist)


def gcj_to_bd_closed_form(lon: float, lat: float) -> tuple[float, float]:
    """Baidu's documented closed-form GCJ-02 -> BD-09 formula, written independently."""
    x_pi = math.pi * 3000.0 / 180.0
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * x_pi)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * x_pi)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def guangdong_grid() -> tuple[np.ndarray, np.ndarray]:
    """Return a grid of WGS-84 points covering Guangdong province."""
    lon, lat = np.meshgrid(np.linspace(109.6, 117.3, 15), np.linspace(20.2, 25.5, 12))
    return lon.ravel(), lat.ravel()


# --- normalize_crs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("WGS-84", "WGS84"),
        ("WGS84", "WGS84"),
        ("wgs84", "WGS84"),
        ("EPSG:4326", "WGS84"),
        ("epsg:4326", "WGS84"),
        (" wgs 84 ", "WGS84"),
        ("GCJ-02", "GCJ02"),
        ("gcj02", "GCJ02"),
        ("GCJ-02 (likely)", "GCJ02"),
        ("GCJ-02（高德）", "GCJ02"),
        ("amap", "GCJ02"),
        ("BD-09", "BD09"),
        ("bd09", "BD09"),
        ("bd09ll", "BD09"),
        ("CGCS2000", "EPSG:4490"),
        ("EPSG:4490", "EPSG:4490"),
        ("EPSG:32650", "EPSG:32650"),
        ("epsg:4547", "EPSG:4547"),
        ("EPSG:3857", "EPSG:3857"),
    ],
)
def test_normalize_crs_accepts(name: str, expected: str) -> None:
    assert crs.normalize_crs(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # GCJ-02: Amap/AutoNavi, Tencent/QQ, Google's China maps
        ("高德", "GCJ02"),
        ("高德地图", "GCJ02"),
        ("高德坐标", "GCJ02"),
        ("Amap", "GCJ02"),
        ("AutoNavi", "GCJ02"),
        ("腾讯", "GCJ02"),
        ("腾讯地图", "GCJ02"),
        ("Tencent", "GCJ02"),
        ("QQ", "GCJ02"),
        ("QQ地图", "GCJ02"),
        ("谷歌中国", "GCJ02"),
        ("Google China", "GCJ02"),
        ("火星坐标", "GCJ02"),
        ("国测局坐标", "GCJ02"),
        # BD-09: Baidu
        ("百度", "BD09"),
        ("百度地图", "BD09"),
        ("百度坐标", "BD09"),
        ("Baidu", "BD09"),
        ("Baidu Maps", "BD09"),
        # CGCS2000: Tianditu, official data
        ("天地图", "EPSG:4490"),
        ("Tianditu", "EPSG:4490"),
        ("CGCS2000", "EPSG:4490"),
        ("国家2000", "EPSG:4490"),
        ("2000国家大地坐标系", "EPSG:4490"),
        # WGS-84: GPS, BeiDou
        ("WGS84", "WGS84"),
        ("GPS", "WGS84"),
        ("GPS坐标", "WGS84"),
        ("北斗", "WGS84"),
        ("地球坐标系", "WGS84"),
    ],
)
def test_map_service_names_are_accepted(name: str, expected: str) -> None:
    assert crs.normalize_crs(name) == expected


@pytest.mark.parametrize("name", ["地图", "坐标系", "Maps", "谷歌", "BD09MC", "mars"])
def test_bare_suffixes_and_ambiguous_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="accepted values"):
        crs.normalize_crs(name)


def test_tianditu_cgcs2000_is_within_a_metre_of_wgs84() -> None:
    lon, lat = guangdong_grid()
    converted = crs.to_wgs84(lon, lat, "天地图")
    assert distance_m(lon, lat, *converted).max() < 1.0


@pytest.mark.parametrize("name", ["", "mercator", "GCJ-03", "EPSG:99999", "EPSG:", "(WGS84)", "42"])
def test_normalize_crs_rejects(name: str) -> None:
    with pytest.raises(ValueError, match=r"accepted values|not a known EPSG code"):
        crs.normalize_crs(name)


def test_normalize_crs_rejects_non_string() -> None:
    with pytest.raises(ValueError, match="accepted values"):
        crs.normalize_crs(None)  # type: ignore[arg-type]


def test_normalize_crs_error_lists_accepted_values() -> None:
    with pytest.raises(ValueError) as excinfo:
        crs.normalize_crs("mars")
    message = str(excinfo.value)
    for token in ("WGS84", "GCJ02", "BD09", "CGCS2000", "EPSG"):
        assert token in message


# --- known pairs ------------------------------------------------------------------------------


def test_mall_gcj02_to_wgs84_within_1m() -> None:
    lon, lat = crs.to_wgs84(np.array([MALL_GCJ[0]]), np.array([MALL_GCJ[1]]), "GCJ-02")
    assert distance_m(lon, lat, *MALL_WGS)[0] < 1.0


def test_mall_wgs84_to_gcj02_within_1m() -> None:
    lon, lat = crs.wgs84_to_gcj02(np.array([MALL_WGS[0]]), np.array([MALL_WGS[1]]))
    assert distance_m(lon, lat, *MALL_GCJ)[0] < 1.0


def test_coordtransform_readme_wgs84_to_gcj02() -> None:
    # coordtransform (npm) README: wgs84togcj02(116.404, 39.915)
    lon, lat = crs.wgs84_to_gcj02(116.404, 39.915)
    assert distance_m(lon, lat, 116.41024449916938, 39.91640428150164) < 0.01


def test_coordtransform_readme_gcj02_to_wgs84_close_to_rough_inverse() -> None:
    # coordtransform's gcj02towgs84(116.404, 39.915) is a one-step (metre-level) inverse;
    # ours is iterative, so it must agree within a couple of metres and round-trip exactly.
    lon, lat = crs.to_wgs84(116.404, 39.915, "GCJ02")
    assert distance_m(lon, lat, 116.39775550083061, 39.91359571849836) < 2.0
    back_lon, back_lat = crs.wgs84_to_gcj02(lon, lat)
    assert distance_m(back_lon, back_lat, 116.404, 39.915) < 0.01


def test_geochina_beijing_railway_station() -> None:
    # geoChina docs: Beijing railway station WGS-84 (39.90105, 116.42079)
    # -> GCJ-02 (39.90245, 116.42703), published to 5 decimals (~1 m).
    lon, lat = crs.wgs84_to_gcj02(116.42079, 39.90105)
    assert distance_m(lon, lat, 116.42703, 39.90245) < 1.5
    lon, lat = crs.to_wgs84(116.42703, 39.90245, "GCJ02")
    assert distance_m(lon, lat, 116.42079, 39.90105) < 1.5


def test_coordtransform_readme_bd09_pairs() -> None:
    # coordtransform README: gcj02tobd09(116.404, 39.915) and bd09togcj02(116.404, 39.915).
    gcj_lon, gcj_lat = 116.404, 39.915
    wgs_lon, wgs_lat = crs.to_wgs84(gcj_lon, gcj_lat, "GCJ02")
    bd_lon, bd_lat = crs.wgs84_to_bd09(wgs_lon, wgs_lat)
    assert distance_m(bd_lon, bd_lat, 116.41036949371029, 39.92133699351021) < 0.5
    # BD-09 (116.404, 39.915) is GCJ-02 (116.39762729119315, 39.90865673957631).
    from_bd = crs.to_wgs84(116.404, 39.915, "BD09")
    from_gcj = crs.to_wgs84(116.39762729119315, 39.90865673957631, "GCJ02")
    assert distance_m(*from_bd, *from_gcj) < 0.5


def test_bd09_matches_independent_closed_form() -> None:
    lon, lat = guangdong_grid()
    gcj_lon, gcj_lat = crs.wgs84_to_gcj02(lon, lat)
    bd_lon, bd_lat = crs.wgs84_to_bd09(lon, lat)
    expected = np.array(
        [gcj_to_bd_closed_form(a, b) for a, b in zip(gcj_lon, gcj_lat, strict=True)]
    )
    assert distance_m(bd_lon, bd_lat, expected[:, 0], expected[:, 1]).max() < 0.01


def test_offset_magnitude_is_plausible_in_guangdong() -> None:
    lon, lat = guangdong_grid()
    gcj = crs.wgs84_to_gcj02(lon, lat)
    bd = crs.wgs84_to_bd09(lon, lat)
    gcj_offset = distance_m(lon, lat, *gcj)
    bd_offset = distance_m(lon, lat, *bd)
    assert (gcj_offset > 100).all() and (gcj_offset < 800).all()
    assert (bd_offset > 300).all() and (bd_offset < 1500).all()


# --- round trips ------------------------------------------------------------------------------


def test_round_trip_wgs_gcj_wgs_over_guangdong() -> None:
    lon, lat = guangdong_grid()
    back = crs.to_wgs84(*crs.wgs84_to_gcj02(lon, lat), "GCJ02")
    assert distance_m(lon, lat, *back).max() < 1.0


def test_round_trip_wgs_bd_wgs_over_guangdong() -> None:
    lon, lat = guangdong_grid()
    back = crs.to_wgs84(*crs.wgs84_to_bd09(lon, lat), "BD09")
    assert distance_m(lon, lat, *back).max() < 1.0


@pytest.mark.parametrize("name", ["GCJ02", "BD09", "WGS84", "EPSG:4490", "EPSG:32650", "EPSG:3857"])
def test_from_wgs84_inverts_to_wgs84(name: str) -> None:
    lon, lat = guangdong_grid()
    back = crs.to_wgs84(*crs.from_wgs84(lon, lat, name), name)
    assert distance_m(lon, lat, *back).max() < 1.0


# --- outside China, NaN, shapes, EPSG ---------------------------------------------------------


def test_gcj02_is_identity_outside_china() -> None:
    lon = np.array([2.35, -74.0, 151.2, 0.0])
    lat = np.array([48.85, 40.7, -33.9, 0.0])
    for converted in (crs.to_wgs84(lon, lat, "GCJ02"), crs.wgs84_to_gcj02(lon, lat)):
        np.testing.assert_array_equal(converted[0], lon)
        np.testing.assert_array_equal(converted[1], lat)


def test_bd09_round_trip_outside_china() -> None:
    lon, lat = np.array([2.35, -74.0]), np.array([48.85, 40.7])
    back = crs.to_wgs84(*crs.wgs84_to_bd09(lon, lat), "BD09")
    assert distance_m(lon, lat, *back).max() < 1.0


@pytest.mark.parametrize("name", ["WGS84", "GCJ02", "BD09", "EPSG:4490", "EPSG:32650"])
def test_nan_and_inf_pass_through_as_nan(name: str) -> None:
    x = np.array([np.nan, 116.19, np.inf, 116.19, -np.inf])
    y = np.array([23.29, np.nan, 23.29, np.nan, 23.29])
    if name == "EPSG:32650":
        x = np.where(np.isfinite(x), 500000.0, x)
        y = np.where(np.isfinite(y), 2576000.0, y)
    lon, lat = crs.to_wgs84(x, y, name)
    assert np.isnan(lon).all() and np.isnan(lat).all()


def test_nan_mixed_with_valid_points() -> None:
    lon, lat = crs.to_wgs84(np.array([MALL_GCJ[0], np.nan]), np.array([MALL_GCJ[1], 23.0]), "gcj02")
    assert distance_m(lon[0], lat[0], *MALL_WGS) < 1.0
    assert np.isnan(lon[1]) and np.isnan(lat[1])


def test_out_of_range_geographic_input_is_nan() -> None:
    lon, lat = crs.to_wgs84(np.array([200.0, 116.0]), np.array([23.0, 95.0]), "GCJ02")
    assert np.isnan(lon).all() and np.isnan(lat).all()
    lon, lat = crs.wgs84_to_gcj02(np.array([200.0]), np.array([23.0]))
    assert np.isnan(lon).all() and np.isnan(lat).all()


def test_inputs_are_not_modified_and_shape_is_kept() -> None:
    x = np.array([[MALL_GCJ[0], MALL_GCJ[0]], [MALL_GCJ[0], MALL_GCJ[0]]])
    y = np.full((2, 2), MALL_GCJ[1])
    x_before = x.copy()
    lon, lat = crs.to_wgs84(x, y, "GCJ02")
    np.testing.assert_array_equal(x, x_before)
    assert lon.shape == (2, 2) and lat.shape == (2, 2)
    assert distance_m(lon, lat, *MALL_WGS).max() < 1.0


def test_scalars_and_lists_are_accepted() -> None:
    lon, lat = crs.to_wgs84(MALL_GCJ[0], MALL_GCJ[1], "GCJ02")
    assert float(distance_m(lon, lat, *MALL_WGS)) < 1.0
    lon, lat = crs.to_wgs84([MALL_GCJ[0]], [MALL_GCJ[1]], "GCJ02")
    assert lon.shape == (1,)


def test_cgcs2000_is_within_a_metre_of_wgs84() -> None:
    lon, lat = guangdong_grid()
    converted = crs.to_wgs84(lon, lat, "CGCS2000")
    assert distance_m(lon, lat, *converted).max() < 1.0


def test_projected_utm_to_wgs84() -> None:
    # UTM zone 50N central meridian is 117 E; the easting 500000 lies on it.
    lon, lat = crs.to_wgs84(np.array([500000.0]), np.array([2576000.0]), "EPSG:32650")
    assert lon[0] == pytest.approx(117.0)
    assert 23.2 < lat[0] < 23.4


def test_unknown_crs_raises_in_to_wgs84() -> None:
    with pytest.raises(ValueError, match="unknown CRS"):
        crs.to_wgs84(np.array([1.0]), np.array([1.0]), "mars")


# --------------------------------------------------------------------------- GCJ-02 grid
def test_gcj02_grid_shift_of_the_mall_within_a_metre() -> None:
    grid = crs.gcj02_grid((116.158, 23.270, 116.218, 23.324))
    lon, lat = crs.gcj02_shift(np.array([MALL_WGS[0]]), np.array([MALL_WGS[1]]), grid)
    assert distance_m(lon, lat, *MALL_GCJ)[0] < 1.0
    exact = crs.wgs84_to_gcj02(np.array([MALL_WGS[0]]), np.array([MALL_WGS[1]]))
    assert distance_m(lon, lat, exact[0], exact[1])[0] < 0.1


def test_gcj02_grid_is_accurate_everywhere_in_the_area() -> None:
    rng = np.random.default_rng(0)
    lon = rng.uniform(113.92, 113.97, 500)
    lat = rng.uniform(22.54, 22.56, 500)
    grid = crs.gcj02_grid((113.92, 22.54, 113.97, 22.56))
    assert grid["step"] == crs.GCJ_GRID_STEP
    assert len(grid["dlon"]) == len(grid["dlat"]) == grid["nx"] * grid["ny"]
    slon, slat = crs.gcj02_shift(lon, lat, grid)
    elon, elat = crs.wgs84_to_gcj02(lon, lat)
    assert distance_m(slon, slat, elon, elat).max() < 0.1


def test_gcj02_grid_outside_china_is_no_shift() -> None:
    grid = crs.gcj02_grid((2.30, 48.84, 2.36, 48.88))  # Paris
    assert not np.any(grid["dlon"]) and not np.any(grid["dlat"])
    lon, lat = crs.gcj02_shift(np.array([2.33]), np.array([48.86]), grid)
    assert (lon[0], lat[0]) == (2.33, 48.86)

"""Convert coordinates between WGS-84, Chinese web-map systems (GCJ-02, BD-09) and EPSG CRSs."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import prcoords
import pyproj
from pyproj.exceptions import CRSError

from planner._i18n import _

WGS84 = "WGS84"
GCJ02 = "GCJ02"
BD09 = "BD09"
CGCS2000 = "EPSG:4490"

_ALIASES: dict[str, str] = {
    # WGS-84: GPS receivers, OpenStreetMap, BeiDou (CGCS2000, within a metre of WGS-84)
    "WGS84": WGS84,
    "WGS1984": WGS84,
    "EPSG4326": WGS84,
    "4326": WGS84,
    "GPS": WGS84,
    "北斗": WGS84,
    "BEIDOU": WGS84,
    "地球": WGS84,  # 地球坐标(系), the usual Chinese name for WGS-84 next to 火星坐标
    # GCJ-02: Amap (AutoNavi), Tencent (QQ) and Google's China maps
    "GCJ02": GCJ02,
    "GCJ": GCJ02,
    "AMAP": GCJ02,
    "GAODE": GCJ02,
    "AUTONAVI": GCJ02,
    "高德": GCJ02,
    "TENCENT": GCJ02,
    "QQ": GCJ02,
    "腾讯": GCJ02,
    "GOOGLECHINA": GCJ02,
    "GOOGLECN": GCJ02,
    "谷歌中国": GCJ02,
    "国测局": GCJ02,
    "火星": GCJ02,
    "火星坐标": GCJ02,
    "火星坐标系": GCJ02,
    # BD-09: Baidu
    "BD09": BD09,
    "BD09LL": BD09,
    "BAIDU": BD09,
    "百度": BD09,
    "百度坐标": BD09,
    "百度坐标系": BD09,
    # CGCS2000: Tianditu and Chinese official data
    "CGCS2000": CGCS2000,
    "CGCS": CGCS2000,
    "EPSG4490": CGCS2000,
    "4490": CGCS2000,
    "天地图": CGCS2000,
    "TIANDITU": CGCS2000,
    "国家2000": CGCS2000,
    "2000国家大地": CGCS2000,
}

# Words that may follow a map or system name: "高德地图", "百度坐标系", "Baidu Maps".
_SUFFIXES = ("坐标系", "坐标", "地图", "MAPS", "MAP")

ACCEPTED_CRS_NAMES = (
    '"WGS84" (also "WGS-84", "EPSG:4326", "GPS", "北斗"), '
    '"GCJ02" (also "GCJ-02", "火星坐标", "高德"/"Amap"/"AutoNavi", "腾讯"/"Tencent"/"QQ", '
    '"谷歌中国"/"Google China"), "BD09" (also "BD-09", "百度"/"Baidu"), '
    '"CGCS2000" (also "EPSG:4490", "天地图"/"Tianditu", "国家2000"), '
    'or any other "EPSG:NNNN" code'
)

_PARENTHESES = re.compile(r"[(（].*?[)）]")
_EPSG = re.compile(r"^EPSG[:：]?(\d{4,6})$")


def crs_name(crs: Any) -> str:
    """Name a CRS for people: ``EPSG:32649`` where it has a code, else as pyproj writes it.

    Parameters
    ----------
    crs
        A pyproj CRS, or anything naming one (a string is returned as it is).

    Returns
    -------
    name
        E.g. ``"EPSG:32649"``.
    """
    return crs.to_string() if hasattr(crs, "to_string") else str(crs)


def normalize_crs(name: str) -> str:
    """
    Return the canonical token for a coordinate reference system name.

    Case, surrounding whitespace, separators ("-", "_", " ") and parenthetical qualifiers
    such as "(likely)" are ignored. Common names of the map services and systems are
    accepted too: "高德地图"/"Amap"/"AutoNavi", "腾讯地图"/"Tencent"/"QQ" and
    "谷歌中国"/"Google China" are GCJ-02; "百度地图"/"Baidu" is BD-09; "天地图"/"Tianditu"/
    "国家2000" is CGCS2000; "GPS"/"北斗" is WGS-84. A trailing "坐标", "坐标系", "地图" or
    "Map(s)" is ignored ("高德坐标", "Baidu Maps").

    Parameters
    ----------
    name
        A CRS name such as "WGS-84", "gcj02", "GCJ-02 (likely)", "BD-09", "CGCS2000" or
        "EPSG:32650".

    Returns
    -------
    str
        One of "WGS84", "GCJ02", "BD09", "EPSG:4490" (CGCS2000) or "EPSG:NNNN" for any other
        EPSG code known to pyproj.

    Raises
    ------
    ValueError
        If `name` is not a string or is not a recognised CRS name.
    """
    if not isinstance(name, str):
        msg = _("CRS must be a string, got {name!r}; accepted values: {accepted_crs_names}").format(
            name=name, accepted_crs_names=ACCEPTED_CRS_NAMES
        )
        raise ValueError(msg)
    stripped = _PARENTHESES.sub("", name).strip()
    key = re.sub(r"[\s\-_]+", "", stripped).upper()
    if key in _ALIASES:
        return _ALIASES[key]
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and key[: -len(suffix)] in _ALIASES:
            return _ALIASES[key[: -len(suffix)]]
    match = _EPSG.match(key)
    if match is None:
        msg = _("unknown CRS {name!r}; accepted values: {accepted_crs_names}").format(
            name=name, accepted_crs_names=ACCEPTED_CRS_NAMES
        )
        raise ValueError(msg)
    code = f"EPSG:{int(match.group(1))}"
    if code in ("EPSG:4326", CGCS2000):
        return WGS84 if code == "EPSG:4326" else CGCS2000
    try:
        pyproj.CRS.from_user_input(code)
    except CRSError as exc:
        msg = _("unknown CRS {name!r}: {code} is not a known EPSG code").format(
            name=name, code=code
        )
        raise ValueError(msg) from exc
    return code


def _as_float_arrays(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast two coordinate inputs into float64 arrays with non-finite values as NaN."""
    xa, ya = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    xa = np.where(np.isfinite(xa), xa, np.nan)
    ya = np.where(np.isfinite(ya), ya, np.nan)
    return xa, ya


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Return a mask of points inside prcoords' rough China box (where GCJ-02 is applied)."""
    with np.errstate(invalid="ignore"):
        return (lat >= 0.8293) & (lat <= 55.8271) & (lon >= 72.004) & (lon <= 137.8347)


def _apply_pointwise(
    func: Callable[[prcoords.Coords], prcoords.Coords],
    lon: np.ndarray,
    lat: np.ndarray,
    mask: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply a scalar prcoords function to the (lat, lon) points selected by `mask`."""
    out_lon = lon.copy()
    out_lat = lat.copy()
    idx = np.flatnonzero(mask)
    flat_lon, flat_lat = lon.ravel(), lat.ravel()
    res_lon, res_lat = out_lon.reshape(-1), out_lat.reshape(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in idx:
            converted = func(prcoords.Coords(float(flat_lat[i]), float(flat_lon[i])))
            res_lat[i] = converted.lat
            res_lon[i] = converted.lon
    return res_lon.reshape(lon.shape), res_lat.reshape(lat.shape)


def _gcj_to_wgs(c: prcoords.Coords) -> prcoords.Coords:
    return prcoords.gcj_wgs_bored(c, False)


def _bd_to_wgs(c: prcoords.Coords) -> prcoords.Coords:
    return prcoords.bd_wgs_bored(c, False)


def _bd_to_gcj(c: prcoords.Coords) -> prcoords.Coords:
    return prcoords.bd_gcj_bored(c, False)


def _wgs_to_gcj(c: prcoords.Coords) -> prcoords.Coords:
    return prcoords.wgs_gcj(c, False)


@lru_cache(maxsize=32)
def _transformer(source: str, target: str) -> pyproj.Transformer:
    """Return a cached (lon, lat)-ordered pyproj transformer."""
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def _valid_lonlat(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Return a mask of finite, in-range geographic coordinates."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)


def _nan_where(mask: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return copies of `arrays` with NaN where `mask` is False."""
    return tuple(np.where(mask, a, np.nan) for a in arrays)


def to_wgs84(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """
    Convert coordinates in `crs` to WGS-84 longitude and latitude.

    GCJ-02 and BD-09 are inverted with prcoords' iterative ("bored") inverses, accurate to
    well below a metre. GCJ-02 is only applied inside China (prcoords' rough China box): a
    GCJ-02 point outside it is returned unchanged, and a BD-09 point outside it only loses
    Baidu's own offset. Other CRSs (CGCS2000, projected EPSG codes) go through pyproj.

    Parameters
    ----------
    x
        Longitudes (geographic CRSs) or eastings (projected CRSs).
    y
        Latitudes (geographic CRSs) or northings (projected CRSs).
    crs
        The CRS of `x` and `y`; any name accepted by `normalize_crs`.

    Returns
    -------
    lon, lat
        Float arrays of the broadcast shape of `x` and `y`. Points with a NaN or infinite
        input, out-of-range geographic input (|lon| > 180 or |lat| > 90) or a failed
        projection are NaN in both outputs.
    """
    token = normalize_crs(crs)
    xa, ya = _as_float_arrays(x, y)
    if token in (WGS84, GCJ02, BD09):
        valid = _valid_lonlat(xa, ya)
        lon, lat = _nan_where(valid, xa, ya)
        if token == WGS84:
            return lon, lat
        china = _in_china(lon, lat) & valid
        if token == GCJ02:
            return _apply_pointwise(_gcj_to_wgs, lon, lat, china)
        lon, lat = _apply_pointwise(_bd_to_wgs, lon, lat, china)
        return _apply_pointwise(_bd_to_gcj, lon, lat, valid & ~china)
    valid = np.isfinite(xa) & np.isfinite(ya)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lon, lat = _transformer(token, "EPSG:4326").transform(xa, ya, errcheck=False)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    lon, lat = _nan_where(valid & _valid_lonlat(lon, lat), lon, lat)
    return lon, lat


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    Convert WGS-84 coordinates to GCJ-02 (Amap, Tencent).

    Parameters
    ----------
    lon
        WGS-84 longitudes.
    lat
        WGS-84 latitudes.

    Returns
    -------
    lon, lat
        GCJ-02 coordinates; points outside China are unchanged and invalid points are NaN.
    """
    lon_a, lat_a = _as_float_arrays(lon, lat)
    valid = _valid_lonlat(lon_a, lat_a)
    lon_a, lat_a = _nan_where(valid, lon_a, lat_a)
    return _apply_pointwise(_wgs_to_gcj, lon_a, lat_a, valid & _in_china(lon_a, lat_a))


#: Spacing of the GCJ-02 offset grid of `gcj02_grid` (degrees); bilinear error is below 0.1 m.
GCJ_GRID_STEP = 0.01


def gcj02_grid(
    bounds: tuple[float, float, float, float], step: float = GCJ_GRID_STEP
) -> dict[str, Any]:
    """GCJ-02 offsets on a regular grid over `bounds`, computed with `wgs84_to_gcj02`.

    The page shifts overlays into GCJ-02 (for Amap tiles) by bilinear interpolation of this
    grid instead of shipping a second copy of every coordinate; at 0.01° spacing the error
    is below 0.1 m. `gcj02_shift` is the same interpolation in Python.

    Parameters
    ----------
    bounds
        (west, south, east, north) WGS-84 degrees.
    step
        Grid spacing in degrees.

    Returns
    -------
    grid
        ``lon0, lat0, step, nx, ny`` and row-major ``dlon``, ``dlat`` offsets in degrees.
    """
    w, s, e, n = (float(b) for b in bounds)
    lon0 = np.floor(w / step) * step - step
    lat0 = np.floor(s / step) * step - step
    nx = max(int(np.ceil((e - lon0) / step)) + 2, 2)
    ny = max(int(np.ceil((n - lat0) / step)) + 2, 2)
    glon, glat = np.meshgrid(lon0 + step * np.arange(nx), lat0 + step * np.arange(ny))
    glon, glat = glon.ravel(), glat.ravel()
    slon, slat = wgs84_to_gcj02(glon, glat)
    dlon = np.nan_to_num(np.asarray(slon) - glon)
    dlat = np.nan_to_num(np.asarray(slat) - glat)
    return {
        "lon0": round(float(lon0), 9),
        "lat0": round(float(lat0), 9),
        "step": step,
        "nx": nx,
        "ny": ny,
        "dlon": np.round(dlon, 9).tolist(),
        "dlat": np.round(dlat, 9).tolist(),
    }


def gcj02_shift(
    lon: np.ndarray, lat: np.ndarray, grid: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS-84 points into GCJ-02 with a `gcj02_grid` (the map page does the same).

    Parameters
    ----------
    lon, lat
        WGS-84 degrees.
    grid
        From `gcj02_grid`; points outside it take the nearest edge's offset.

    Returns
    -------
    lon, lat
        GCJ-02 degrees.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    nx, ny, step = grid["nx"], grid["ny"], grid["step"]
    fx = np.clip((lon - grid["lon0"]) / step, 0, nx - 1)
    fy = np.clip((lat - grid["lat0"]) / step, 0, ny - 1)
    i = np.minimum(np.floor(fx).astype(int), nx - 2)
    j = np.minimum(np.floor(fy).astype(int), ny - 2)
    tx, ty = fx - i, fy - j
    k = j * nx + i

    def at(values: list[float]) -> np.ndarray:
        a = np.asarray(values)
        return (
            a[k] * (1 - tx) * (1 - ty)
            + a[k + 1] * tx * (1 - ty)
            + a[k + nx] * (1 - tx) * ty
            + a[k + nx + 1] * tx * ty
        )

    return lon + at(grid["dlon"]), lat + at(grid["dlat"])


def wgs84_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    Convert WGS-84 coordinates to BD-09 (Baidu).

    Parameters
    ----------
    lon
        WGS-84 longitudes.
    lat
        WGS-84 latitudes.

    Returns
    -------
    lon, lat
        BD-09 coordinates (GCJ-02 then Baidu's offset; outside China only Baidu's offset);
        invalid points are NaN.
    """
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    return _apply_pointwise(prcoords.gcj_bd, gcj_lon, gcj_lat, np.isfinite(gcj_lon))


def from_wgs84(lon: np.ndarray, lat: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """
    Convert WGS-84 longitude and latitude to `crs` (the inverse of `to_wgs84`).

    Parameters
    ----------
    lon
        WGS-84 longitudes.
    lat
        WGS-84 latitudes.
    crs
        The target CRS; any name accepted by `normalize_crs`.

    Returns
    -------
    x, y
        Coordinates in `crs` (longitude/latitude or easting/northing); invalid points are NaN.
    """
    token = normalize_crs(crs)
    if token == GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if token == BD09:
        return wgs84_to_bd09(lon, lat)
    lon_a, lat_a = _as_float_arrays(lon, lat)
    valid = _valid_lonlat(lon_a, lat_a)
    lon_a, lat_a = _nan_where(valid, lon_a, lat_a)
    if token == WGS84:
        return lon_a, lat_a
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = _transformer("EPSG:4326", token).transform(lon_a, lat_a, errcheck=False)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    x, y = _nan_where(valid & np.isfinite(x) & np.isfinite(y), x, y)
    return x, y

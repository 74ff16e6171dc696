"""Write run outputs atomically: tables, GeoJSON and JSON in a folder."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write a file through a temporary sibling and rename it into place.

    A run killed at any point leaves either the previous complete file or the new one.

    Parameters
    ----------
    path
        Destination.
    write
        Function that writes the content to the temporary path it is given.

    Returns
    -------
    path
        The destination.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a UTF-8 (with BOM, so Excel shows Chinese correctly) CSV atomically."""
    return write_atomic(
        path, lambda p: df.to_csv(p, index=False, encoding="utf-8-sig", float_format="%.6f")
    )


def write_json(obj: Any, path: str | Path) -> Path:
    """Write pretty, key-sorted JSON atomically."""
    text = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)
    return write_atomic(path, lambda p: p.write_text(text + "\n", encoding="utf-8"))


def write_geojson(gdf: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write GeoJSON in EPSG:4326 atomically (coordinates rounded to ~0.1 m)."""
    out = gdf.to_crs(4326)
    text = out.to_json(drop_id=True, to_wgs84=False, ensure_ascii=False)
    data = json.loads(text)
    data["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    for feat in data["features"]:
        feat["geometry"] = _round(feat["geometry"], 6)
    return write_json(data, path)


def _round(obj: Any, ndigits: int) -> Any:
    if isinstance(obj, float):
        return round(obj, ndigits)
    if isinstance(obj, list):
        return [_round(o, ndigits) for o in obj]
    if isinstance(obj, dict):
        return {k: _round(v, ndigits) for k, v in obj.items()}
    return obj

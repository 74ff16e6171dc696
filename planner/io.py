"""Write run outputs atomically: tables, GeoJSON and JSON in a folder."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()
_DIR_MODE = 0o777 & ~_umask()


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
    tmp.unlink()  # the name is reserved; some writers (GDAL) refuse to overwrite a file
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; outputs are meant to be shared
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
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
    """Write compact GeoJSON in EPSG:4326 atomically, coordinates rounded to 1e-6° (~0.1 m).

    Parameters
    ----------
    gdf
        Features in any CRS.
    path
        Destination ``.geojson``.

    Returns
    -------
    path
        The written file.
    """
    out = gdf.to_crs(4326)
    # snap to a 1e-6 degree grid keeping polygons valid (plain rounding can make them invalid)
    geoms = shapely.set_precision(out.geometry.to_numpy(), 1e-6)
    geometry_text = shapely.to_geojson(geoms)  # GEOS writer: C speed, shortest numbers
    props = out.drop(columns=out.geometry.name)
    props = props.astype(object).where(props.notna(), None)
    features = []
    for p, g in zip(props.to_dict(orient="records"), geometry_text, strict=True):
        p_text = json.dumps(p, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        features.append(f'{{"type":"Feature","properties":{p_text},"geometry":{g or "null"}}}')
    crs = '{"type":"name","properties":{"name":"urn:ogc:def:crs:OGC:1.3:CRS84"}}'
    body = ",\n".join(features)
    text = f'{{"type":"FeatureCollection","crs":{crs},"features":[\n{body}\n]}}\n'
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def staging_dir(target: str | Path) -> Path:
    """Create an empty folder where a new set of outputs for `target` is written first.

    Parameters
    ----------
    target
        The output folder users read (e.g. ``out/sample``).

    Returns
    -------
    staging
        A new folder beside the earlier runs, ``.<name>.runs/<time>-<pid>-<n>``.
    """
    target = Path(target)
    runs = target.parent / f".{target.name}.runs"
    runs.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%dT%H%M%S-"), dir=runs))
    os.chmod(staging, _DIR_MODE)
    return staging


def publish_dir(staging: str | Path, target: str | Path) -> Path:
    """Make a complete staging folder the target folder in one atomic step.

    The target is a symbolic link to the newest complete run, swapped with ``os.replace``; a
    run killed at any moment leaves either the previous complete set of outputs or the new
    one, never a mix. Earlier runs are removed afterwards. Where symbolic links are not
    available (some Windows set-ups) the files are renamed into place one by one.

    Parameters
    ----------
    staging
        Folder from `staging_dir`, fully written.
    target
        The output folder users read.

    Returns
    -------
    target
        The published folder.
    """
    staging, target = Path(staging), Path(target)
    runs = staging.parent
    link_tmp = target.parent / f".{target.name}.link-{os.getpid()}-{staging.name}"
    try:
        os.symlink(os.path.relpath(staging, target.parent), link_tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        target.mkdir(parents=True, exist_ok=True)
        for f in sorted(staging.iterdir()):
            os.replace(f, target / f.name)
        staging.rmdir()
        return target
    if target.exists() and not target.is_symlink():
        os.replace(target, runs / f"legacy-{staging.name}")  # a folder from an older version
    os.replace(link_tmp, target)
    for old in runs.iterdir():
        if old != staging and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return target

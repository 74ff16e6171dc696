"""Write run outputs atomically: tables, GeoJSON and JSON in a folder."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner._cpus import usable_cpus


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()
_DIR_MODE = 0o777 & ~_umask()


def write_atomic(path: str | Path, write: Callable[[Path], None], *, sync: bool = True) -> Path:
    """Write a file through a temporary sibling and rename it into place.

    A run killed at any point leaves either the previous complete file or the new one.

    Parameters
    ----------
    path
        Destination.
    write
        Function that writes the content to the temporary path it is given.
    sync
        Flush the content to the disk before the rename (False for a cache, whose entries
        are checked when read and may be lost).

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
        if sync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; outputs are meant to be shared
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


#: First characters that make Excel, WPS or LibreOffice read a cell as a formula (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(value: Any) -> Any:
    """Neutralise a text cell a spreadsheet would evaluate as a formula.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a line break gets a leading
    apostrophe, as OWASP recommends against CSV injection: ``=HYPERLINK(...)`` is written
    ``'=HYPERLINK(...)`` and shows as text. Anything else, numbers included, is unchanged;
    the readers remove the apostrophe again, so a table read back keeps the original text.

    Parameters
    ----------
    value
        A cell value.

    Returns
    -------
    value
        The value, or the neutralised text.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def spreadsheet_safe_table(df: pd.DataFrame) -> pd.DataFrame:
    """Return `df` with every text cell (and text column name) made `spreadsheet_safe`."""
    out = df.rename(columns=spreadsheet_safe)
    for j in range(out.shape[1]):
        column = out.iloc[:, j]
        if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
            continue
        values = column.to_numpy(dtype=object)
        # the few cells to change found in one pass (mapping every cell took 4 µs each)
        hits = [
            i for i, v in enumerate(values) if isinstance(v, str) and v.startswith(FORMULA_START)
        ]
        if hits:
            values = values.copy()
            values[hits] = ["'" + values[i] for i in hits]
            out.isetitem(j, pd.Series(values, index=out.index, dtype=column.dtype))
    return out


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table for spreadsheets atomically.

    UTF-8 with BOM (so Excel shows Chinese correctly); text cells neutralised against
    formula injection (`spreadsheet_safe`). Rows end in CRLF, so that a cell holding a line
    break of either kind (a lone CR too) is quoted: with LF endings the csv module leaves a
    lone CR unquoted, and every reader splits the row there.
    """
    safe = spreadsheet_safe_table(df)
    for j, dtype in enumerate(safe.dtypes):
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            safe.isetitem(j, _fixed_text(safe.iloc[:, j].to_numpy()))
    return write_atomic(
        path,
        lambda p: safe.to_csv(
            p, index=False, encoding="utf-8-sig", float_format="%.6f", lineterminator="\r\n"
        ),
    )


def _fixed_text(values: np.ndarray) -> np.ndarray:
    """``"%.6f"`` text of each float (None for NaN), as ``to_csv(float_format="%.6f")`` writes.

    The same text, made in one pass over Python floats: pandas formats each value through
    several calls of its own, about six times as long (city workload: 1.5 s for 830,000).
    """
    return np.array(
        ["%.6f" % v if v == v else None for v in values.tolist()],  # noqa: UP031 (pandas' format)
        dtype=object,
    )


def write_json(obj: Any, path: str | Path) -> Path:
    """Write pretty, key-sorted JSON atomically."""
    text = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)

    def write(p: Path) -> None:
        p.write_text(text + "\n", encoding="utf-8")

    return write_atomic(path, write)


#: Decimal places of the GeoJSON coordinates (1e-6 degrees: about 0.1 m).
GEOJSON_DECIMALS = 6


def round_coordinates(geoms: np.ndarray, decimals: int) -> np.ndarray:
    """Round every coordinate of `geoms` to `decimals` places, keeping them valid.

    All coordinates are rounded in one numpy call (``shapely.transform``). Rounding can
    make a valid polygon invalid (a ring touching itself or another after the move); only
    those few are snapped again with ``shapely.set_precision``, which makes them valid on
    the same grid.

    Parameters
    ----------
    geoms
        Shapely geometries (not changed).
    decimals
        Decimal places.

    Returns
    -------
    rounded
        New geometries, valid.
    """
    geoms = np.asarray(geoms, dtype=object)
    rounded = shapely.transform(geoms, lambda xy: np.round(xy, decimals))
    broken = ~in_threads(shapely.is_valid, rounded)
    if broken.any():
        grid = 10.0**-decimals
        rounded[broken] = in_threads(lambda g: shapely.set_precision(g, grid), geoms[broken])
    return rounded


#: Tasks per thread of `in_threads` (many small ones even out slow geometries).
THREAD_TASKS = 8


def in_threads(func: Callable[[np.ndarray], np.ndarray], geoms: np.ndarray) -> np.ndarray:
    """``func(geoms)`` for a vectorised shapely function, in parts on every CPU.

    Shapely releases the GIL inside GEOS, so the parts run at once; each geometry's result is
    the one ``func`` gives it alone (the parts are only cut and joined again).

    Parameters
    ----------
    func
        A shapely function of a geometry array returning one value per geometry.
    geoms
        The geometries.

    Returns
    -------
    values
        ``func(geoms)``.
    """
    from concurrent.futures import ThreadPoolExecutor

    workers = min(usable_cpus(), len(geoms))
    if workers <= 1:
        return func(geoms)
    step = -(-len(geoms) // (workers * THREAD_TASKS))
    parts = [geoms[i : i + step] for i in range(0, len(geoms), step)]
    with ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(func, parts)))


def _json_column(values: pd.Series) -> list[str] | None:
    """Each value as `json.dumps` writes it (missing as null); None for other column types."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        if dtype.kind == "b":
            return ["true" if v else "false" for v in values.tolist()]
        return list(map(int.__repr__, values.tolist()))
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        arr = values.to_numpy()
        if np.isinf(arr).any():  # the error json.dumps raises for it
            json.dumps(float(arr[np.isinf(arr)][0]), allow_nan=False)
        return ["null" if v != v else float.__repr__(v) for v in arr.tolist()]
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        text = values.to_numpy(dtype=object, copy=True)  # never a view of the table
        text[values.isna().to_numpy()] = None
        # what json.dumps(v, ensure_ascii=False) calls for a text
        quote = json.encoder.encode_basestring
        return ["null" if v is None else quote(v) for v in text.tolist()]
    return None


def properties_json(props: pd.DataFrame) -> list[str]:
    """Each row as the compact JSON object of its cells, missing values as null.

    The text of ``json.dumps(row, ensure_ascii=False, separators=(",", ":"),
    allow_nan=False)`` for every row, built a column at a time for numeric and text columns
    (other tables go row by row through `json.dumps`).

    Parameters
    ----------
    props
        The table.

    Returns
    -------
    rows
        One JSON text per row.
    """
    names = list(props.columns)
    columns = [_json_column(props.iloc[:, j]) for j in range(props.shape[1])]
    by_column = (
        bool(names)
        and len(set(names)) == len(names)
        and all(type(n) is str for n in names)
        and all(c is not None for c in columns)
    )
    if not by_column:
        rows = props.astype(object).where(props.notna(), None).to_dict(orient="records")
        return [
            json.dumps(r, ensure_ascii=False, separators=(",", ":"), allow_nan=False) for r in rows
        ]
    keys = [json.dumps(n, ensure_ascii=False) + ":" for n in names]
    return [
        "{" + ",".join([k + v for k, v in zip(keys, row, strict=True)]) + "}"
        for row in zip(*columns, strict=True)
    ]


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
    geoms = round_coordinates(out.geometry.to_numpy(), GEOJSON_DECIMALS)
    geometry_text = in_threads(shapely.to_geojson, geoms)  # GEOS: C speed, shortest numbers
    props = properties_json(pd.DataFrame(out.drop(columns=out.geometry.name)))
    features = [
        f'{{"type":"Feature","properties":{p},"geometry":{g or "null"}}}'
        for p, g in zip(props, geometry_text, strict=True)
    ]
    crs = '{"type":"name","properties":{"name":"urn:ogc:def:crs:OGC:1.3:CRS84"}}'
    body = ",\n".join(features)
    text = f'{{"type":"FeatureCollection","crs":{crs},"features":[\n{body}\n]}}\n'

    def write(p: Path) -> None:
        p.write_text(text, encoding="utf-8")

    return write_atomic(path, write)

"""Write a GeoDataFrame layer through GDAL's Arrow interface (nanoarrow buffers, no pyarrow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

#: GDAL version from which OGR takes Arrow record batches (`pyogrio.write_arrow`).
GDAL_ARROW_WRITE = (3, 8, 0)


def write_layer(
    frame: gpd.GeoDataFrame,
    path: str | Path,
    layer: str,
    driver: str,
    dataset_metadata: dict[str, str] | None = None,
) -> None:
    """Write `frame` as `layer` of `path`, as `pyogrio.write_dataframe` writes it.

    The columns are handed to GDAL as one Arrow record batch (`pyogrio.write_arrow`), built
    from the frame's own arrays: GDAL then writes the features in C instead of taking them
    one at a time from Python (the city workload's GeoPackage 3.9-4.0 -> 3.4 s,
    benchmarks/notes/eighth_round.md). The layer is
    the one `pyogrio.write_dataframe` makes: the same field types, values, nulls (NaN as
    null), geometry type and CRS. A frame with a column of another type (see
    `arrow_stream`), without a geometry column, with geometries of several types (e.g.
    Polygon and MultiPolygon, which pyogrio makes all multi for some drivers), or a GDAL
    older than `GDAL_ARROW_WRITE` is written by `pyogrio.write_dataframe` itself.

    Parameters
    ----------
    frame
        The layer's rows, with one active geometry column.
    path
        The data source (created, or given one more layer).
    layer
        Layer name.
    driver
        OGR driver name, e.g. ``"GPKG"``.
    dataset_metadata
        Metadata of the data source (a GeoPackage keeps it in ``gpkg_metadata``).
    """
    import pyogrio

    stream, kinds = None, None
    if (
        tuple(pyogrio.__gdal_version__) >= GDAL_ARROW_WRITE
        and frame.active_geometry_name in frame.columns
    ):
        kinds = _kinds(frame.geometry)
        stream = arrow_stream(frame) if len(kinds) <= 1 else None
    if stream is None:
        pyogrio.write_dataframe(
            frame, path, layer=layer, driver=driver, dataset_metadata=dataset_metadata
        )
        return
    pyogrio.write_arrow(
        stream,
        path,
        layer=layer,
        driver=driver,
        geometry_name=frame.geometry.name,
        geometry_type=geometry_type(frame.geometry, kinds),
        crs=_crs_text(frame),
        dataset_metadata=dataset_metadata,
    )


def _kinds(geoms: gpd.GeoSeries) -> np.ndarray:
    """The distinct geometry types of `geoms` (missing ones left out)."""
    return pd.unique(geoms.geom_type.dropna().to_numpy(dtype=object))


def geometry_type(geoms: gpd.GeoSeries, kinds: np.ndarray | None = None) -> str:
    """The layer geometry type `pyogrio.write_dataframe` gives geometries of one type.

    That type (``"Point"``, ``"Polygon"``, ...; `` Z`` added when any non-empty one has z),
    or ``"Unknown"`` when there is none. (Several types are left to pyogrio, which may make
    single types multi for the driver: `write_layer` does not take them.) `kinds`: the
    distinct types, if already known.
    """
    if kinds is None:
        kinds = _kinds(geoms)
    if len(geoms) == 0 or len(kinds) != 1:
        return "Unknown"
    arr = geoms.to_numpy()
    drawn = arr[~shapely.is_missing(arr) & ~shapely.is_empty(arr)]
    return f"{kinds[0]} Z" if bool(shapely.has_z(drawn).any()) else str(kinds[0])


def _crs_text(frame: gpd.GeoDataFrame) -> str | None:
    """The CRS as `pyogrio.write_dataframe` passes it: ``EPSG:<code>`` or WKT1 (GDAL)."""
    crs = frame.crs
    if crs is None:
        return None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt("WKT1_GDAL")


def arrow_stream(frame: gpd.GeoDataFrame) -> Any | None:
    """`frame` as a one-batch Arrow C stream, or None if a column is of another type.

    Column types carried: int64, float64 (NaN as null), bool, pandas ``Int64`` (missing as
    null), text (a string dtype, or objects that are all text or missing; missing as null),
    and the active geometry as WKB (missing as null). The buffers are the frame's own
    numpy arrays where they can be; text is UTF-8.
    """
    import nanoarrow as na

    n = len(frame)
    name = frame.geometry.name
    fields: dict[str, Any] = {}
    children = []
    for col in frame.columns:
        if col == name:
            continue
        if not isinstance(col, str) or col in fields:
            return None
        made = _column(na, frame[col], n)
        if made is None:
            return None
        fields[col], child = made
        children.append(child)
    wkb = frame.geometry.to_wkb().to_numpy(dtype=object)
    fields[name] = na.large_binary()
    children.append(_binary(na, wkb, n, text=False))
    batch = na.c_array_from_buffers(na.struct(fields), n, [None], children=children)
    return na.c_array_stream(batch)


def _column(na: Any, values: pd.Series, n: int) -> tuple[Any, Any] | None:
    """The Arrow type and array of one column, or None for a type not carried."""
    dtype = values.dtype
    # Arrow buffers are contiguous: a column that is a strided view is copied
    if dtype == np.dtype("int64"):
        data = np.ascontiguousarray(values.to_numpy())
        return na.int64(), na.c_array_from_buffers(na.int64(), n, [None, data])
    if dtype == np.dtype("float64"):
        data = np.ascontiguousarray(values.to_numpy())
        missing = np.isnan(data)
        return na.float64(), na.c_array_from_buffers(
            na.float64(), n, [_validity(na, missing), data], null_count=int(missing.sum())
        )
    if dtype == np.dtype("bool"):
        bits = na.c_buffer(np.packbits(values.to_numpy(), bitorder="little"))
        return na.bool_(), na.c_array_from_buffers(na.bool_(), n, [None, bits])
    if isinstance(dtype, pd.Int64Dtype):
        missing = values.isna().to_numpy()
        data = values.to_numpy(dtype=np.int64, na_value=0)
        return na.int64(), na.c_array_from_buffers(
            na.int64(), n, [_validity(na, missing), data], null_count=int(missing.sum())
        )
    text = pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype)
    if text or (
        pd.api.types.is_object_dtype(dtype)
        and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    ):
        items = values.to_numpy(dtype=object, copy=True)  # never a view of the frame
        items[values.isna().to_numpy()] = None
        try:
            return na.large_string(), _binary(na, items, n, text=True)
        except UnicodeEncodeError:  # a lone surrogate: left to pyogrio's own handling
            return None
    return None


def _binary(na: Any, items: np.ndarray, n: int, text: bool) -> Any:
    """A large string (`text`, items str) or large binary (items bytes) array; None is null."""
    kind = na.large_string() if text else na.large_binary()
    missing = np.fromiter((v is None for v in items), dtype=bool, count=n)
    present = items[~missing].tolist()
    raw = [v.encode("utf-8") for v in present] if text else present
    length = np.zeros(n, dtype=np.int64)
    length[~missing] = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(length, out=offsets[1:])
    data = np.frombuffer(b"".join(raw), dtype=np.uint8)
    return na.c_array_from_buffers(
        kind, n, [_validity(na, missing), offsets, data], null_count=int(missing.sum())
    )


def _validity(na: Any, missing: np.ndarray) -> Any:
    """Arrow's validity bitmap (bit set: a value) for `missing`, or None when none is."""
    if not missing.any():
        return None
    return na.c_buffer(np.packbits(~missing, bitorder="little"))

"""Merchants and service points taken from OpenStreetMap features."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from planner._errors import NetworkUnavailableError, PlannerError
from planner._i18n import _
from planner._osm import overpass_session
from planner.io import write_atomic
from planner.readers import ATTR_SOURCE, ATTR_UNIT, OUTPUT_COLUMNS, valid_points

#: Source name of OpenStreetMap POI tables (their rows are named by OSM id in messages).
OSM_SOURCE = "OpenStreetMap"

#: OSM tags whose features count as merchants or service points.
POI_TAGS: dict[str, bool | str | list[str]] = {
    "shop": True,
    "amenity": True,
    "office": True,
    "craft": True,
    "healthcare": True,
    "tourism": ["hotel", "hostel", "guest_house", "museum", "gallery", "information"],
    "building": ["commercial", "retail", "office"],
}

#: Amenity values that are street furniture or infrastructure, not services.
EXCLUDED_AMENITIES = frozenset(
    {
        "parking",
        "parking_entrance",
        "parking_space",
        "bicycle_parking",
        "motorcycle_parking",
        "bench",
        "waste_basket",
        "waste_disposal",
        "recycling",
        "fountain",
        "clock",
        "grit_bin",
        "shelter",
    }
)

_KIND_KEYS = ("shop", "amenity", "office", "craft", "healthcare", "tourism", "building")


def _kind(row: pd.Series) -> str:
    for key in _KIND_KEYS:
        value = row.get(key)
        if isinstance(value, str) and value:
            return f"{key}:{value}"
    return "other"


def features_to_pois(
    features: gpd.GeoDataFrame, bbox: tuple[float, float, float, float] | None = None
) -> pd.DataFrame:
    """Turn osmnx features into a POI table (one row per feature).

    Street furniture (`EXCLUDED_AMENITIES`) and unnamed buildings are left out; polygons are
    represented by a point inside them. With a bbox, only features inside it are kept.

    Parameters
    ----------
    features
        Output of ``osmnx.features_from_*`` (EPSG:4326, indexed by element type and id).
    bbox
        (west, south, east, north) to keep, WGS-84.

    Returns
    -------
    pois
        Columns ``row, id, name, kind, lon, lat, x_orig, y_orig, crs_orig, status, usable,
        reason, source`` (the `planner.readers.read_points` layout), all usable; ids are
        ``"node/<osm id>"``, ``"way/<osm id>"`` or ``"relation/<osm id>"``. ``attrs`` names
        the source (`OSM_SOURCE`, for `planner.readers.combine_sources`).
    """
    out = _features_to_pois(features, bbox)
    out.attrs.update({ATTR_SOURCE: OSM_SOURCE, ATTR_UNIT: None})
    return out


def _features_to_pois(
    features: gpd.GeoDataFrame, bbox: tuple[float, float, float, float] | None
) -> pd.DataFrame:
    return records_to_pois(poi_records(features), bbox)


#: Columns of `poi_records`: what a POI table is built from (and what the POI cache keeps).
RECORD_COLUMNS = ("id", "name", "kind", "lon", "lat")


def poi_records(features: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Reduce osmnx features to the merchants' records, before any study-area filter.

    Parameters
    ----------
    features
        Output of ``osmnx.features_from_*`` (EPSG:4326, indexed by element type and id),
        or None for none.

    Returns
    -------
    records
        Columns `RECORD_COLUMNS`, one row per kept feature (street furniture and unnamed
        buildings left out), sorted by element type and OSM id; ``lon``/``lat`` are a
        point inside the feature.
    """
    if features is None or features.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RECORD_COLUMNS})
    f = features.copy()
    for key in (*_KIND_KEYS, "name"):
        if key not in f:
            f[key] = np.nan
    building_only = f[[k for k in _KIND_KEYS if k != "building"]].isna().all(axis=1)
    drop = f["amenity"].isin(EXCLUDED_AMENITIES) & f[["shop", "office", "craft"]].isna().all(axis=1)
    drop |= building_only & f["name"].isna()
    f = f[~drop]
    if f.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RECORD_COLUMNS})
    pts = f.geometry.representative_point()
    f = f.assign(lon=pts.x, lat=pts.y).sort_index()
    return pd.DataFrame(
        {
            "id": [f"{el}/{osm_id}" for el, osm_id in f.index],
            "name": f["name"].fillna("").astype(str).tolist(),
            "kind": f.apply(_kind, axis=1).tolist(),
            "lon": f["lon"].to_numpy(dtype=float),
            "lat": f["lat"].to_numpy(dtype=float),
        }
    )


def records_to_pois(
    records: pd.DataFrame, bbox: tuple[float, float, float, float] | None = None
) -> pd.DataFrame:
    """Turn `poi_records` into a POI table, keeping those inside `bbox` (west, south, east, north).

    Parameters
    ----------
    records
        Output of `poi_records` (or of the POI cache, `planner._cache.load_pois_cached`).
    bbox
        Study area to keep, WGS-84; None keeps all.

    Returns
    -------
    pois
        See `features_to_pois` (without its ``attrs``).
    """
    columns = [*OUTPUT_COLUMNS, "source"]
    if bbox is not None and len(records):
        w, s, e, n = bbox
        lon, lat = records["lon"], records["lat"]
        records = records[(lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)]
    if records.empty:
        return pd.DataFrame(columns=columns)
    out = valid_points(
        records["id"].tolist(),
        records["lon"],
        records["lat"],
        names=records["name"].tolist(),
        kinds=records["kind"].tolist(),
    )
    out["source"] = f"{OSM_SOURCE} " + out["id"]
    return out


def records_from_osm_xml(path: str | Path) -> pd.DataFrame:
    """Parse an OSM file's merchants and service points into `poi_records`, in one pass.

    Read with pyosmium (`planner._osmread`), without osmnx; the records equal
    `records_from_osm_xml_osmnx` (tests/test_osmread.py compares them on every bundled file).

    Parameters
    ----------
    path
        OSM XML file (or OSM PBF).

    Returns
    -------
    records
        See `poi_records`.
    """
    from planner import _osmread  # here: it imports this module

    records = _osmread.read_osm(path, network=False).pois
    assert records is not None
    return records


def records_from_osm_xml_osmnx(path: str | Path) -> pd.DataFrame:
    """`records_from_osm_xml` through osmnx's ``features_from_xml`` (the reference reader).

    Parameters
    ----------
    path
        OSM XML file.

    Returns
    -------
    records
        See `poi_records`.
    """
    import osmnx as ox  # here: only the reference reader or a download needs osmnx

    try:
        features = ox.features_from_xml(Path(path), tags=POI_TAGS)
    except ox._errors.InsufficientResponseError:
        features = None
    except Exception as exc:
        raise PlannerError(
            _("cannot read POIs from {path}: {exc}").format(path=path, exc=exc)
        ) from exc
    return poi_records(features)


def pois_from_osm_xml(
    path: str | Path, bbox: tuple[float, float, float, float] | None = None
) -> pd.DataFrame:
    """Merchants and service points from an OSM XML file.

    Parameters
    ----------
    path
        OSM XML file.
    bbox
        Study area (west, south, east, north) to keep.

    Returns
    -------
    pois
        See `features_to_pois`.
    """
    out = records_to_pois(records_from_osm_xml(path), bbox)
    out.attrs.update({ATTR_SOURCE: OSM_SOURCE, ATTR_UNIT: None})
    return out


def pois_from_overpass(
    bbox: tuple[float, float, float, float],
    cache_folder: str | Path,
    progress: Callable[[str], None] = lambda _text: None,
    url: str | None = None,
) -> gpd.GeoDataFrame:
    """Download merchant/service features inside a bbox with osmnx (Overpass), cached.

    Parameters
    ----------
    bbox
        (west, south, east, north) WGS-84.
    cache_folder
        osmnx HTTP cache folder.
    progress
        Receives a line each time Overpass answers that it is busy.
    url
        The Overpass API (`planner._osm.overpass_url`).

    Returns
    -------
    features
        The raw features (save them with `save_features`); empty when Overpass answered
        completely with none. A busy, failed or partial answer raises instead
        (`planner._osm.overpass_session`).
    """
    import osmnx as ox  # here: only a first parse or a download needs osmnx

    with overpass_session(str(cache_folder), _("merchants and service points"), progress, url):
        try:
            return ox.features_from_bbox(bbox, tags=POI_TAGS)
        except NetworkUnavailableError:
            raise
        except ox._errors.InsufficientResponseError:
            return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
        except Exception as exc:
            raise NetworkUnavailableError(
                _("could not download POIs from Overpass ({kind}: {exc})").format(
                    kind=type(exc).__name__, exc=" ".join(str(exc).split())[:300]
                )
            ) from exc


def save_features(features: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Save downloaded features as GeoJSON atomically, keeping the POI tag columns.

    Parameters
    ----------
    features
        Output of `pois_from_overpass`.
    path
        Destination ``.geojson``.

    Returns
    -------
    path
        The written file.
    """
    path = Path(path)
    keep = [c for c in ("name", *_KIND_KEYS) if c in features.columns]
    out = features[[*keep, "geometry"]].copy()
    out.index = [f"{el}/{i}" for el, i in features.index] if len(features) else []
    out = out.rename_axis("osm_id").reset_index()
    return write_atomic(path, lambda p: out.to_file(p, driver="GeoJSON"))


def load_features(path: str | Path) -> gpd.GeoDataFrame:
    """Read features saved by `save_features` back with osmnx's (element, id) index.

    Parameters
    ----------
    path
        A ``.geojson`` written by `save_features`.

    Returns
    -------
    features
        Indexed like osmnx features.
    """
    gdf = gpd.read_file(path)
    if gdf.empty:
        return gdf
    parts = gdf["osm_id"].str.split("/", n=1, expand=True)
    gdf.index = pd.MultiIndex.from_arrays(
        [parts[0], parts[1].astype(np.int64)], names=["element", "id"]
    )
    return gdf.drop(columns="osm_id")

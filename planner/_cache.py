"""Cache a built StreetNetwork and an OSM file's POIs as checksummed ``.npz`` files (no reparse)."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely

from planner import _osmread, _paths
from planner import network as net
from planner import pois as osm_pois
from planner._i18n import _
from planner.io import write_atomic

#: Bump when the stored layout or the network build changes meaning.
CACHE_FORMAT_VERSION = 4  # 2: dropped pieces' streets and ids; 3: merged tags sorted; 4: street
# names and types stored once each, with a code per edge
#: Suffix of a cache file, appended to the network file's name.
CACHE_SUFFIX = ".planner-cache.npz"

_log = logging.getLogger(__name__)

# arrays covered by the checksum, in this order
_ARRAYS = (
    "key",
    "node_ids",
    "node_x",
    "node_y",
    "edge_u",
    "edge_v",
    "edge_length",
    "geom_coords",
    "geom_offsets",
    "name_codes",
    "name_bytes",
    "name_offsets",
    "highway_codes",
    "highway_bytes",
    "highway_offsets",
    "crs_wkt",
    "components",
    "dropped_coords",
    "dropped_offsets",
    "dropped_piece",
)


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex sha256 digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            h.update(block)
    return h.hexdigest()


def osmnx_version() -> str:
    """Return the installed osmnx version from its metadata (without importing osmnx)."""
    return metadata.version("osmnx")


def cache_key(path: Path, sha256: str | None = None) -> dict[str, Any]:
    """Describe what a cache file was built from.

    Parameters
    ----------
    path
        The network source file (OSM XML or GraphML).
    sha256
        The file's `file_sha256`, when already known.

    Returns
    -------
    key
        Source sha256 and size, cache-format version, the planner's version and code
        (`planner._paths.code_digest`: an edited reader or network build parses again) and
        osmnx's version; a cache is valid only for an identical key.
    """
    path = Path(path)
    return {
        "source_sha256": sha256 or file_sha256(path),
        "source_size": path.stat().st_size,
        "format": CACHE_FORMAT_VERSION,
        "planner": planner_version(),
        "code": _paths.code_digest(),
        "osmnx": osmnx_version(),
    }


def cache_path(path: Path, cache_dir: Path | None = None) -> Path:
    """Where the cache of network file `path` lives.

    Parameters
    ----------
    path
        The network source file.
    cache_dir
        Folder for the cache file. Default: the user cache's ``networks/`` folder
        (``$PLANNER_CACHE_DIR/networks`` or e.g. ``~/.cache/liusha-planner/networks``), never
        the source tree or an installed package.

    Returns
    -------
    path
        ``<cache_dir>/<file name>.planner-cache.npz``; in the default folder the name also
        carries a digest of the file's absolute path, so same-named files never share a cache.
    """
    path = Path(path)
    if cache_dir is not None:
        return Path(cache_dir) / (path.name + CACHE_SUFFIX)
    return _paths.network_cache_dir() / f"{path.name}-{_paths.path_digest(path)}{CACHE_SUFFIX}"


def _encode_strings(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pack strings as concatenated UTF-8 bytes plus int64 offsets."""
    encoded = [str(v).encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def _decode_strings(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Inverse of `_encode_strings`: an object array of str."""
    raw = data.tobytes()
    out = np.empty(len(offsets) - 1, dtype=object)
    out[:] = [raw[s:e].decode("utf-8") for s, e in itertools.pairwise(offsets)]
    return out


def _encode_coded(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pack repetitive strings: each distinct one once (`_encode_strings`), a code per value.

    Street names and types repeat along a street: decoding 372,750 edges' names one by
    one took 0.37 s of a 0.6 s network cache read, against a few milliseconds this way.
    """
    text = np.array([str(v) for v in values], dtype=object)
    codes, uniques = pd.factorize(text)
    data, offsets = _encode_strings(np.asarray(uniques, dtype=object))
    return codes.astype(np.int64), data, offsets


def _decode_coded(codes: np.ndarray, data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Inverse of `_encode_coded`: an object array of str (equal strings shared)."""
    uniques = _decode_strings(data, offsets)
    codes = np.asarray(codes, dtype=np.int64)
    if len(codes) and (codes.min() < 0 or codes.max() >= len(uniques)):
        raise ValueError(_("a string code is out of range"))
    return uniques[codes]


def _encode_lines(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pack LineStrings as an (n, 2) float64 coordinate array plus int64 offsets."""
    geoms = np.asarray(geoms, dtype=object)
    offsets = np.zeros(len(geoms) + 1, dtype=np.int64)
    np.cumsum(shapely.get_num_coordinates(geoms).astype(np.int64), out=offsets[1:])
    coords = shapely.get_coordinates(geoms).astype(np.float64).reshape(-1, 2)
    return coords, offsets


def _decode_lines(coords: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Inverse of `_encode_lines`: an object array of LineStrings."""
    counts = np.diff(offsets)
    if not len(counts):
        return np.empty(0, dtype=object)
    lines = shapely.linestrings(coords, indices=np.repeat(np.arange(len(counts)), counts))
    return np.asarray(lines, dtype=object)


def _text(value: str) -> np.ndarray:
    return np.frombuffer(value.encode("utf-8"), dtype=np.uint8).copy()


def _untext(array: np.ndarray) -> str:
    return array.tobytes().decode("utf-8")


def _components_json(report: net.ComponentReport | None) -> str:
    if report is None:
        return "null"
    dropped = report.dropped
    return json.dumps(
        {
            "kept_nodes": int(report.kept_nodes),
            "kept_edges": int(report.kept_edges),
            "columns": [str(c) for c in dropped.columns],
            "rows": json.loads(dropped.to_json(orient="values", force_ascii=False)),
        },
        ensure_ascii=False,
    )


def _components_from_json(text: str) -> net.ComponentReport | None:
    data = json.loads(text)
    if data is None:
        return None
    rows = [dict(zip(data["columns"], r, strict=True)) for r in data["rows"]]
    return net.ComponentReport(
        kept_nodes=data["kept_nodes"],
        kept_edges=data["kept_edges"],
        dropped=pd.DataFrame(rows, columns=data["columns"]),
    )


def network_to_arrays(network: net.StreetNetwork, key: dict[str, Any]) -> dict[str, np.ndarray]:
    """Flatten a StreetNetwork into plain (non-object) numpy arrays.

    Parameters
    ----------
    network
        The network.
    key
        Output of `cache_key`, stored alongside.

    Returns
    -------
    arrays
        Name -> array, including a ``checksum`` over all the others.
    """
    coords, offsets = _encode_lines(network.edge_geometry)
    dropped_coords, dropped_offsets = _encode_lines(network.dropped_geometry)
    name_codes, name_bytes, name_offsets = _encode_coded(network.edge_name)
    hw_codes, hw_bytes, hw_offsets = _encode_coded(network.edge_highway)
    arrays = {
        "key": _text(json.dumps(key, sort_keys=True)),
        "node_ids": np.asarray(network.node_ids, dtype=np.int64),
        "node_x": np.asarray(network.node_x, dtype=np.float64),
        "node_y": np.asarray(network.node_y, dtype=np.float64),
        "edge_u": np.asarray(network.edge_u, dtype=np.int64),
        "edge_v": np.asarray(network.edge_v, dtype=np.int64),
        "edge_length": np.asarray(network.edge_length, dtype=np.float64),
        "geom_coords": coords,
        "geom_offsets": offsets,
        "name_codes": name_codes,
        "name_bytes": name_bytes,
        "name_offsets": name_offsets,
        "highway_codes": hw_codes,
        "highway_bytes": hw_bytes,
        "highway_offsets": hw_offsets,
        "crs_wkt": _text(pyproj.CRS.from_user_input(network.crs).to_wkt()),
        "components": _text(_components_json(network.components)),
        "dropped_coords": dropped_coords,
        "dropped_offsets": dropped_offsets,
        "dropped_piece": np.asarray(network.dropped_piece, dtype=np.int64),
    }
    arrays["checksum"] = _text(checksum(arrays))
    return arrays


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over the name, dtype, shape and bytes of every cached array, in a fixed order."""
    h = hashlib.sha256()
    for name in _ARRAYS:
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def network_from_arrays(arrays: dict[str, np.ndarray]) -> net.StreetNetwork:
    """Rebuild a StreetNetwork from `network_to_arrays` output.

    Parameters
    ----------
    arrays
        The flattened arrays.

    Returns
    -------
    network
        An equal network (same arrays, geometries, names, CRS and component report).
    """
    return net.StreetNetwork(
        crs=pyproj.CRS.from_wkt(_untext(arrays["crs_wkt"])),
        node_ids=arrays["node_ids"],
        node_x=arrays["node_x"],
        node_y=arrays["node_y"],
        edge_u=arrays["edge_u"],
        edge_v=arrays["edge_v"],
        edge_length=arrays["edge_length"],
        edge_geometry=_decode_lines(arrays["geom_coords"], arrays["geom_offsets"]),
        edge_name=_decode_coded(arrays["name_codes"], arrays["name_bytes"], arrays["name_offsets"]),
        edge_highway=_decode_coded(
            arrays["highway_codes"], arrays["highway_bytes"], arrays["highway_offsets"]
        ),
        components=_components_from_json(_untext(arrays["components"])),
        dropped_geometry=_decode_lines(arrays["dropped_coords"], arrays["dropped_offsets"]),
        dropped_piece=arrays["dropped_piece"],
    )


def write_cache(network: net.StreetNetwork, key: dict[str, Any], path: Path) -> Path:
    """Write a network cache atomically (temporary sibling, fsync, ``os.replace``).

    Parameters
    ----------
    network
        The network to store.
    key
        Output of `cache_key` for its source file.
    path
        Destination ``.npz``.

    Returns
    -------
    path
        The written file.
    """
    path = Path(path)
    arrays = network_to_arrays(network, key)

    return _save_arrays(path, arrays)


def read_cache(path: Path, key: dict[str, Any]) -> net.StreetNetwork | None:
    """Read a network cache if it is complete, intact and built from the same key.

    Parameters
    ----------
    path
        The ``.npz`` cache file.
    key
        Output of `cache_key` for the current source file.

    Returns
    -------
    network
        The cached network, or None when the file is missing, unreadable, truncated,
        fails its checksum, or was built from another source/format/osmnx version.
    """
    path = Path(path)
    arrays = _load_arrays(path, _ARRAYS, key, checksum, "network cache", "rebuilding")
    if arrays is None:
        return None
    try:
        return network_from_arrays(arrays)
    except Exception as exc:  # any damage to the file means "rebuild"
        _log.warning("network cache %s is unreadable (%s); rebuilding", path, exc)
        return None


def is_osm_file(path: Path) -> bool:
    """Tell whether a network file is OSM data (XML or PBF) rather than an osmnx GraphML."""
    return Path(path).suffix.lower() != ".graphml"


def load_network_cached(path: Path, cache_dir: Path | None = None) -> net.StreetNetwork:
    """Load a walk network file through the array cache.

    The first load parses the file and stores the resulting arrays; later loads of an
    unchanged file read the cache instead. An OSM file is read once by `planner._osmread`
    (no osmnx), which gives the POI records too: they fill the POI cache
    (`load_pois_cached`) in the same pass. A GraphML file goes through osmnx
    (``network.build_network(network.load_graph(path))``). A cache that is stale, truncated
    or corrupted is rebuilt, never half-read. A cache folder that cannot be written only
    costs the speed-up.

    Parameters
    ----------
    path
        OSM XML or GraphML network file.
    cache_dir
        Folder for the cache files (default: the user cache, see `cache_path` and
        `poi_cache_path`).

    Returns
    -------
    network
        The projected, largest-component street network.
    """
    path = Path(path)
    if not path.is_file():  # let the loader raise its own, user-facing error
        if is_osm_file(path):
            _osmread.read_osm(path)
        return net.build_network(net.load_graph(path))
    digest = file_sha256(path)
    key = cache_key(path, digest)
    target = cache_path(path, cache_dir)
    cached = read_cache(target, key)
    if cached is not None:
        return cached
    if not is_osm_file(path):
        network = net.build_network(net.load_graph(path))
    else:
        data = _osmread.read_osm(path)
        assert data.network is not None and data.pois is not None
        network = data.network
        poi_key = poi_cache_key(path, digest)
        poi_target = poi_cache_path(path, cache_dir)
        if read_poi_cache(poi_target, poi_key) is None:
            try:
                write_poi_cache(data.pois, poi_key, poi_target)
            except OSError as exc:
                _log.warning(
                    "cannot write POI cache %s (%s); continuing without it", poi_target, exc
                )
    try:
        write_cache(network, key, target)
    except OSError as exc:
        _log.warning("cannot write network cache %s (%s); continuing without it", target, exc)
    return network


#: Bump when the stored POI layout or the POI rules' meaning changes.
POI_CACHE_FORMAT_VERSION = 1
#: Suffix of a POI cache file, appended to the OSM file's name.
POI_CACHE_SUFFIX = ".planner-pois.npz"

_POI_ARRAYS = (
    "key",
    "id_bytes",
    "id_offsets",
    "name_bytes",
    "name_offsets",
    "kind_bytes",
    "kind_offsets",
    "lon",
    "lat",
)


def planner_version() -> str:
    """Return the installed planner's version from its metadata (``0+unknown`` without one)."""
    try:
        return metadata.version("liusha-planner")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def poi_rules_digest() -> str:
    """sha256 of the rules that pick and name OSM POIs (`planner.pois` tags, exclusions, kinds)."""
    rules = {
        "tags": osm_pois.POI_TAGS,
        "excluded": sorted(osm_pois.EXCLUDED_AMENITIES),
        "kinds": list(osm_pois._KIND_KEYS),
    }
    return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()


def poi_cache_key(path: Path, sha256: str | None = None) -> dict[str, Any]:
    """Describe what a POI cache was built from.

    Parameters
    ----------
    path
        The OSM XML file.
    sha256
        The file's `file_sha256`, when already known.

    Returns
    -------
    key
        Source sha256 and size, POI cache-format version, the POI rules' digest, the
        planner's version and code (`planner._paths.code_digest`) and osmnx's version; a
        cache is valid only for an identical key.
    """
    path = Path(path)
    return {
        "source_sha256": sha256 or file_sha256(path),
        "source_size": path.stat().st_size,
        "format": POI_CACHE_FORMAT_VERSION,
        "rules": poi_rules_digest(),
        "planner": planner_version(),
        "code": _paths.code_digest(),
        "osmnx": osmnx_version(),
    }


def poi_cache_path(path: Path, cache_dir: Path | None = None) -> Path:
    """Where the POI cache of OSM file `path` lives (see `cache_path`; ``<user cache>/pois``)."""
    path = Path(path)
    if cache_dir is not None:
        return Path(cache_dir) / (path.name + POI_CACHE_SUFFIX)
    folder = _paths.user_cache_dir() / "pois"
    return folder / f"{path.name}-{_paths.path_digest(path)}{POI_CACHE_SUFFIX}"


def _poi_checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in _POI_ARRAYS:
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_poi_cache(records: pd.DataFrame, key: dict[str, Any], path: Path) -> Path:
    """Write POI records (`planner.pois.poi_records`) atomically as a checksummed ``.npz``.

    Parameters
    ----------
    records
        The records.
    key
        Output of `poi_cache_key` for their source file.
    path
        Destination ``.npz``.

    Returns
    -------
    path
        The written file.
    """
    arrays: dict[str, np.ndarray] = {"key": _text(json.dumps(key, sort_keys=True))}
    for column in ("id", "name", "kind"):
        data, offsets = _encode_strings(records[column].to_numpy(dtype=object))
        arrays[f"{column}_bytes"], arrays[f"{column}_offsets"] = data, offsets
    arrays["lon"] = records["lon"].to_numpy(dtype=np.float64)
    arrays["lat"] = records["lat"].to_numpy(dtype=np.float64)
    arrays["checksum"] = _text(_poi_checksum(arrays))

    return _save_arrays(Path(path), arrays)


def read_poi_cache(path: Path, key: dict[str, Any]) -> pd.DataFrame | None:
    """Read POI records if the cache is complete, intact and built from the same key.

    Parameters
    ----------
    path
        The ``.npz`` POI cache.
    key
        Output of `poi_cache_key` for the current OSM file.

    Returns
    -------
    records
        The cached `planner.pois.poi_records`, or None when the file is missing,
        unreadable, fails its checksum or was built from another file, rules or version.
    """
    path = Path(path)
    arrays = _load_arrays(path, _POI_ARRAYS, key, _poi_checksum, "POI cache", "parsing again")
    if arrays is None:
        return None
    try:
        columns: dict[str, Any] = {
            c: _decode_strings(arrays[f"{c}_bytes"], arrays[f"{c}_offsets"])
            for c in ("id", "name", "kind")
        }
        columns["lon"], columns["lat"] = arrays["lon"], arrays["lat"]
        return pd.DataFrame(columns, columns=list(osm_pois.RECORD_COLUMNS))
    except Exception as exc:  # any damage to the file means "parse again"
        _log.warning("POI cache %s is unreadable (%s); parsing again", path, exc)
        return None


def load_pois_cached(
    path: Path,
    bbox: tuple[float, float, float, float] | None = None,
    cache_dir: Path | None = None,
) -> pd.DataFrame:
    """Merchants and service points of an OSM XML file, through the POI cache.

    The first load parses the file (`planner.pois.records_from_osm_xml`, unless
    `load_network_cached` already stored the records in the same pass) and stores the
    records; later loads of an unchanged file (same bytes, POI rules, planner version and
    code, osmnx version) read the cache. The result equals `planner.pois.pois_from_osm_xml`.

    Parameters
    ----------
    path
        OSM XML file.
    bbox
        Study area (west, south, east, north) to keep.
    cache_dir
        Folder for the cache file (default: the user cache, see `poi_cache_path`).

    Returns
    -------
    pois
        See `planner.pois.features_to_pois`.
    """
    path = Path(path)
    if not path.is_file():  # let the parser raise its own, user-facing error
        return osm_pois.pois_from_osm_xml(path, bbox)
    key = poi_cache_key(path)
    target = poi_cache_path(path, cache_dir)
    records = read_poi_cache(target, key)
    if records is None:
        records = osm_pois.records_from_osm_xml(path)
        try:
            write_poi_cache(records, key, target)
        except OSError as exc:
            _log.warning("cannot write POI cache %s (%s); continuing without it", target, exc)
    out = osm_pois.records_to_pois(records, bbox)
    out.attrs.update({osm_pois.ATTR_SOURCE: osm_pois.OSM_SOURCE, osm_pois.ATTR_UNIT: None})
    return out


def _save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write named arrays as one ``.npz`` file atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a name
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle

    return write_atomic(path, write)


def _load_arrays(
    path: Path,
    names: tuple[str, ...],
    key: dict[str, Any],
    check: Callable[[dict[str, np.ndarray]], str],
    what: str,
    then: str,
) -> dict[str, np.ndarray] | None:
    """Read named arrays of an ``.npz`` cache; None if missing, damaged, stale or corrupted."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            # the key first: a cache of another format version may lack some arrays
            if json.loads(_untext(data["key"])) != key:
                _log.info("%s %s is stale; %s", what, path, then)
                return None
            arrays = {name: data[name] for name in (*names, "checksum")}
        if _untext(arrays["checksum"]) != check(arrays):
            _log.warning("%s %s fails its checksum; %s", what, path, then)
            return None
    except Exception as exc:  # any damage to the file means "build it again"
        _log.warning("%s %s is unreadable (%s); %s", what, path, exc, then)
        return None
    return arrays

"""Cut a regional OSM file (PBF or XML) to a box with complete ways, using pyosmium."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
from pathlib import Path

from planner import _paths
from planner._errors import PlannerError
from planner._i18n import _
from planner.io import write_atomic

__all__ = [
    "CUT_FORMAT_VERSION",
    "cut",
    "cut_cached",
    "data_date",
    "file_sha256",
    "is_pbf",
    "pad_bbox",
]

#: Bump when what a cut keeps changes.
CUT_FORMAT_VERSION = 1

Bbox = tuple[float, float, float, float]


def is_pbf(path: str | Path) -> bool:
    """Tell whether a file name is an OSM PBF (``.pbf``, e.g. ``guangdong-latest.osm.pbf``)."""
    return Path(path).name.lower().endswith(".pbf")


def pad_bbox(bbox: Bbox, pad_m: float) -> Bbox:
    """Grow a WGS-84 (west, south, east, north) box by at least `pad_m` metres on every side.

    Degrees of longitude are converted at the latitude of the box's edge farthest from the
    equator (where a degree is shortest), so the pad is never less than `pad_m`.

    Parameters
    ----------
    bbox
        (west, south, east, north) in degrees.
    pad_m
        Metres to add.

    Returns
    -------
    bbox
        The grown box.
    """
    w, s, e, n = bbox
    dlat = pad_m / 110_574.0  # the shortest degree of latitude (at the equator), in metres
    far = min(89.0, max(abs(s), abs(n)) + dlat)
    dlon = pad_m / (111_320.0 * math.cos(math.radians(far)) * 0.995)
    return (w - dlon, max(-90.0, s - dlat), e + dlon, min(90.0, n + dlat))


def cut(source: str | Path, bbox: Bbox, dest: str | Path) -> Path:
    """Write the part of an OSM file inside a box to an OSM file, with complete ways.

    Kept, as ``osmium extract --strategy complete_ways`` does: every node inside the box,
    every way with at least one node inside the box together with all of its nodes (so a
    street crossing the edge keeps its whole geometry), and every multipolygon relation (an
    area such as a mall with a ``shop`` tag) with a member way kept, with all its members.
    Other relations (routes, boundaries) are left out, so a bus route cannot pull streets
    from across the region into the cut. Tags are kept. The file is written atomically.

    Parameters
    ----------
    source
        OSM PBF (``.osm.pbf``) or XML (``.osm``) file.
    bbox
        (west, south, east, north) in WGS-84 degrees.
    dest
        OSM file to write: PBF when its name ends in ``.pbf``, else OSM XML (what the
        network and POI readers take).

    Returns
    -------
    dest
        The written file.
    """
    import osmium

    source = Path(source)
    if not source.is_file():
        raise PlannerError(_("OSM file not found: {source}").format(source=source))
    w, s, e, n = bbox

    def inside(lon: float, lat: float) -> bool:
        return w <= lon <= e and s <= lat <= n

    def write(tmp: Path) -> None:
        nodes: set[int] = set()
        ways: set[int] = set()
        out = osmium.io.File(str(tmp), "pbf" if is_pbf(dest) else "osm")
        with osmium.BackReferenceWriter(out, str(source), overwrite=True, remove_tags=False) as wr:
            for obj in osmium.FileProcessor(str(source)).with_locations():
                if isinstance(obj, osmium.osm.Node):
                    loc = obj.location
                    if loc.valid() and inside(loc.lon, loc.lat):
                        nodes.add(obj.id)
                        wr.add_node(obj)
                elif isinstance(obj, osmium.osm.Way):
                    if any(
                        r.location.valid() and inside(r.location.lon, r.location.lat)
                        for r in obj.nodes
                    ):
                        ways.add(obj.id)
                        wr.add_way(obj)
                elif (
                    isinstance(obj, osmium.osm.Relation)
                    and obj.tags.get("type") == "multipolygon"
                    and any(m.type == "w" and m.ref in ways for m in obj.members)
                ):
                    wr.add_relation(obj)
            if not ways:
                box = ", ".join(f"{v:.5f}" for v in bbox)
                raise PlannerError(
                    _(
                        "{source}: no way inside the box [{box}] (west, south, east, north): "
                        "wrong area, or an extract of another region?"
                    ).format(source=source, box=box)
                )

    try:
        return write_atomic(dest, write)
    except PlannerError:
        raise
    except Exception as exc:  # pyosmium raises RuntimeError for an unreadable file
        raise PlannerError(
            _("cannot read OSM file {source}: {exc}").format(source=source, exc=exc)
        ) from exc


_XML_DATE = re.compile(rb"<(?:meta\s[^>]*osm_base|osm\s[^>]*\btimestamp)=[\"'](\d{4}-\d{2}-\d{2})")


def data_date(path: str | Path) -> str:
    """The date of an OSM file's data from its header, as ``YYYY-MM-DD``; "" when it has none.

    OSM XML: Overpass's ``<meta osm_base="...">`` or a ``timestamp`` on the ``<osm>``
    element (read from the file's first 4 KB). PBF: the header's
    ``osmosis_replication_timestamp`` (Geofabrik's extracts carry it). GraphML and other
    files: "".
    """
    path = Path(path)
    try:
        if is_pbf(path):
            import osmium

            reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
            try:
                stamp = reader.header().get("osmosis_replication_timestamp") or ""
            finally:
                reader.close()
            return stamp[:10] if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", stamp) else ""
        if path.suffix.lower() == ".graphml":
            return ""
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except (OSError, RuntimeError):
        return ""
    found = _XML_DATE.search(head)
    return found.group(1).decode() if found else ""


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    from planner import _cache  # imports osmnx: only when a file is cut

    return _cache.file_sha256(Path(path))


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, hashed once a process while the file is unchanged.

    Unchanged means the same size, modification and status-change times and inode, so an
    edit that puts the size and modification time back (``touch -d``) is still seen.
    """
    st = os.stat(path)
    return _sha256_of(str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@functools.lru_cache(maxsize=1)
def _cut_code() -> str:
    """sha256 of this module (what a cut keeps) and pyosmium's version."""
    from importlib import metadata

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(metadata.version("osmium").encode())
    return h.hexdigest()


def _cut_intact(target: Path, record: Path) -> bool:
    """Whether `target` is the cut `record` describes: same size and sha256."""
    try:
        noted = json.loads(record.read_text(encoding="utf-8"))
        return bool(
            target.is_file()
            and noted["size"] == target.stat().st_size
            and noted["sha256"] == file_sha256(target)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def cut_cached(
    source: str | Path, bbox: Bbox, cache_dir: Path | None = None, *, pbf: bool = False
) -> Path:
    """Cut a regional OSM file to a box once and reuse the cut while the file is unchanged.

    Parameters
    ----------
    source
        OSM PBF or XML file.
    bbox
        (west, south, east, north) in WGS-84 degrees.
    cache_dir
        Folder for the cut (default: the user cache's ``networks/`` folder).
    pbf
        Write the cut as PBF (a tile to cut areas from) instead of OSM XML.

    Returns
    -------
    path
        An OSM XML (or PBF) file named by a digest of the source's sha256, the box, this
        module's code and pyosmium's version; a network or POIs read from it are cached as
        for any OSM XML file (`planner._cache.load_network_cached`). A cut is reused only
        when its size and sha256 are those noted beside it (``<cut>.sha256.json``) when it
        was written: a damaged or truncated cut is cut again.
    """
    source = Path(source).resolve()
    if not source.is_file():
        raise PlannerError(_("OSM file not found: {source}").format(source=source))
    key = {
        "source_sha256": file_sha256(source),
        "bbox": [round(v, 7) for v in bbox],
        "format": CUT_FORMAT_VERSION,
        "code": _cut_code(),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(cache_dir) if cache_dir is not None else _paths.network_cache_dir()
    stem = source.name[: -len(".pbf")] if is_pbf(source) else source.name
    target = folder / f"{Path(stem).stem}-cut-{digest}.osm{'.pbf' if pbf else ''}"
    record = target.with_name(f"{target.name}.sha256.json")
    if not _cut_intact(target, record):
        cut(source, bbox, target)
        noted = json.dumps({"size": target.stat().st_size, "sha256": file_sha256(target)})

        def note(tmp: Path) -> None:
            tmp.write_text(noted, encoding="utf-8")

        write_atomic(record, note, sync=False)
    return target

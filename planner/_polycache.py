"""Band polygons kept per facility in the user cache, by a digest of exactly what draws them."""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from planner import _paths

#: Bump when the stored layout changes.
FORMAT = 1
#: The cache is trimmed to this many bytes (oldest use first) after a run adds to it.
MAX_BYTES = 512 * 1024 * 1024
#: ... down to this share of `MAX_BYTES`, so that it is not trimmed at every run.
TRIM_TO = 0.8

_MAGIC = b"PLPC"
_HEAD = struct.Struct("<4sII")  # magic, format, number of polygons
_SIZE = struct.Struct("<Q")


def cache_dir() -> Path:
    """Return the folder of the polygon cache (``<user cache>/polygons``, not created)."""
    return _paths.user_cache_dir() / "polygons"


@cache
def _salt() -> bytes:
    """What else the polygons depend on: the drawing code and the libraries that run it."""
    import contourpy
    import shapely

    from planner import isochrones

    parts = [
        str(FORMAT),
        hashlib.sha256(Path(isochrones.__file__).read_bytes()).hexdigest(),
        shapely.__version__,
        shapely.geos_version_string,
        contourpy.__version__,
        np.__version__,
    ]
    with contextlib.suppress(metadata.PackageNotFoundError):
        parts.append(metadata.version("liusha-planner"))
    return "\0".join(parts).encode()


def key(arrays: Iterable[np.ndarray], settings: Sequence[float]) -> str:
    """Digest of one facility's drawing inputs: its arrays (bytes, dtype, shape) and settings.

    Parameters
    ----------
    arrays
        Everything the drawing of the facility reads (e.g. its segments and their bands).
    settings
        The drawing settings (numbers: bands, corridor half-width, cell size, ...).

    Returns
    -------
    key
        A hex sha256 digest, also covering the drawing code and library versions.
    """
    h = hashlib.sha256(_salt())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"\0{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    h.update(repr([float(s) for s in settings]).encode())
    return h.hexdigest()


def _path(folder: Path, digest: str) -> Path:
    return folder / digest[:2] / f"{digest}.wkb"


def _decode(data: bytes) -> list[bytes] | None:
    """The polygons' WKB stored in `data`, or None when it is not a whole entry."""
    if len(data) < _HEAD.size + 32 or hashlib.sha256(data[:-32]).digest() != data[-32:]:
        return None
    magic, fmt, n = _HEAD.unpack_from(data)
    if magic != _MAGIC or fmt != FORMAT:
        return None
    at, out = _HEAD.size, []
    for _ in range(n):
        (size,) = _SIZE.unpack_from(data, at)
        at += _SIZE.size
        out.append(data[at : at + size])
        at += size
    return out if at == len(data) - 32 else None


def _encode(wkbs: Sequence[bytes]) -> bytes:
    body = [_HEAD.pack(_MAGIC, FORMAT, len(wkbs))]
    for w in wkbs:
        body += [_SIZE.pack(len(w)), w]
    data = b"".join(body)
    return data + hashlib.sha256(data).digest()


def read(keys: Sequence[str], folder: Path | None = None) -> list[list[bytes] | None]:
    """The stored polygons (WKB) of each key; None where there is none or it is damaged.

    A damaged or partial entry counts as missing (it is drawn and stored again). An entry
    read is marked as used now (its modification time), for `trim`.
    """
    folder = cache_dir() if folder is None else Path(folder)
    out: list[list[bytes] | None] = []
    for k in keys:
        path = _path(folder, k)
        try:
            found = _decode(path.read_bytes())
        except OSError:
            found = None
        if found is not None:
            with contextlib.suppress(OSError):
                os.utime(path)
        out.append(found)
    return out


def write(entries: dict[str, Sequence[bytes]], folder: Path | None = None) -> int:
    """Store polygons (WKB) by key; return how many were stored.

    Each entry is written to a temporary file and renamed into place, so a reader sees a
    whole entry or none; a cache that cannot be written is left as it is. Then `trim`.
    """
    from planner.io import write_atomic

    folder = cache_dir() if folder is None else Path(folder)
    stored = 0
    for k, wkbs in entries.items():
        data = _encode(wkbs)

        def put(tmp: Path, data: bytes = data) -> None:
            tmp.write_bytes(data)

        try:
            write_atomic(_path(folder, k), put, sync=False)
        except OSError:
            break  # not writable (read-only, full): draw without storing
        stored += 1
    if stored:
        trim(folder)
    return stored


def trim(folder: Path | None = None, max_bytes: int | None = None) -> int:
    """Remove the least recently used entries while the cache holds more than `max_bytes`.

    Only the cache's own entry files (``<2 hex>/<64 hex>.wkb``) are counted and removed.
    Returns how many were removed.
    """
    folder = cache_dir() if folder is None else Path(folder)
    limit = MAX_BYTES if max_bytes is None else max_bytes
    entries = []
    try:
        subdirs = [d for d in folder.iterdir() if d.is_dir() and len(d.name) == 2]
    except OSError:
        return 0
    for d in subdirs:
        with contextlib.suppress(OSError):
            for e in os.scandir(d):
                name = e.name
                if name.endswith(".wkb") and len(name) == 68 and name.startswith(d.name):
                    st = e.stat()
                    entries.append((st.st_mtime, st.st_size, e.path))
    total = sum(size for _, size, _ in entries)
    if total <= limit:
        return 0
    removed = 0
    for _, size, path in sorted(entries):
        if total <= limit * TRIM_TO:
            break
        with contextlib.suppress(OSError):
            os.unlink(path)
            total -= size
            removed += 1
    return removed

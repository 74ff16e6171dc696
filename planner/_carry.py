"""Carry optional outputs over from the last run when nothing that made them has changed."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planner import _paths
from planner._i18n import _, current_language
from planner._publish import RUN_MARK, _is_our_link, is_planner_file

#: Optional output formats of `planner.run` (``--formats``), in the order they are written.
FORMATS = ("png", "pdf", "xlsx", "gpkg")
#: Optional format -> key in ``Result.files``.
FILE_KEYS = {"png": "png", "pdf": "pdf", "xlsx": "workbook", "gpkg": "geopackage"}
#: Marker key holding the fingerprint, in a run folder's marker and in a map manifest.
FINGERPRINT = "fingerprint"


def parse_formats(text: str | None) -> tuple[str, ...]:
    """Read a ``--formats`` value: a comma list of `FORMATS`, ``all`` or ``none``.

    Parameters
    ----------
    text
        E.g. ``"png,pdf"``; None or empty means none.

    Returns
    -------
    formats
        Distinct formats in `FORMATS` order.

    Raises
    ------
    ValueError
        An unknown format (the message names it and the known ones).
    """
    words = [w.strip().lower() for w in (text or "").split(",") if w.strip()]
    if words == ["all"]:
        return FORMATS
    if words == ["none"]:
        return ()
    unknown = [w for w in words if w not in FORMATS]
    if unknown:
        raise ValueError(
            _("unknown format {unknown!r}: choose from {formats}, all or none").format(
                unknown=unknown[0], formats=", ".join(FORMATS)
            )
        )
    return tuple(f for f in FORMATS if f in words)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _plain(value: Any) -> Any:
    """A JSON-ready description of a scenario value; files named by path stand for their bytes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, os.PathLike):
        path = Path(value)
        return {"path": str(path), "sha256": _file_digest(path) if path.is_file() else None}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, set | frozenset) else items
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def code_digest() -> str:
    """sha256 over the planner package's own files (`planner._paths.code_digest`)."""
    return _paths.code_digest()


def fingerprint(scenario: Any, extra: dict[str, Any] | None = None) -> str:
    """The content fingerprint of a run: inputs' bytes, settings, language and the planner's code.

    Parameters
    ----------
    scenario
        The `planner.Scenario` (after command-line overrides): every field, with every file
        it names (network, facilities, POIs, origins, policy types, the scenario file)
        standing for its sha256.
    extra
        Anything else that shapes the outputs.

    Returns
    -------
    fingerprint
        A hex sha256; equal fingerprints mean the outputs would be the same.
    """
    from planner import __version__

    described: dict[str, Any] = {
        "scenario": _plain(scenario),
        "extra": _plain(extra or {}),
        "language": current_language(),  # the workbook's and the GeoPackage's texts
        "planner": __version__,
        "code": code_digest(),
    }
    if getattr(scenario, "network_source", None) == "overpass":
        from planner.inputs import network_cache_paths

        described["download"] = _plain(list(network_cache_paths(scenario)))
    text = json.dumps(described, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --------------------------------------------------------------------------- output folder
def published_run(out_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The run folder published at `out_dir` and its marker, if the planner published one."""
    target = Path(os.path.abspath(out_dir))
    if not _is_our_link(target):
        return None
    run = target.parent / os.readlink(target)
    mark = _read_json(run / RUN_MARK)
    return (run, mark) if mark is not None and mark.get("complete") else None


def carry_file(out_dir: Path, name: str, fingerprint_: str, staging: Path) -> bool:
    """Carry file `name` of the published run at `out_dir` into `staging`, if safe.

    Safe means: the published run's fingerprint is `fingerprint_`, the planner wrote `name`
    in it and nobody has changed it since (size and modification time as published). The
    file is hard-linked (copied where links are not possible); the published one is never
    changed.

    Returns
    -------
    carried
        True if `staging / name` now holds the published file.
    """
    found = published_run(out_dir)
    if found is None:
        return False
    run, mark = found
    files = mark.get("files")
    path = run / name
    if (
        mark.get(FINGERPRINT) != fingerprint_
        or not isinstance(files, dict)
        or not path.is_file()
        or path.is_symlink()
        or files.get(name) != _stamp(path)
    ):
        return False
    try:
        os.link(path, staging / name)
    except OSError:
        shutil.copy2(path, staging / name)
    return True


def mark_fingerprint(staging: Path, fingerprint_: str) -> None:
    """Record `fingerprint_` in the marker of a run folder being written (before publishing)."""
    mark_path = staging / RUN_MARK
    mark = _read_json(mark_path) or {}
    mark[FINGERPRINT] = fingerprint_
    tmp = mark_path.with_name(f"{mark_path.name}.{os.getpid()}.fp.tmp")
    tmp.write_text(json.dumps(mark, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    os.replace(tmp, mark_path)


# --------------------------------------------------------------------------- map folder
def manifest_path(html: Path) -> Path:
    """Where the planner notes what it drew beside map `html`: ``.<stem>.planner-maps.json``."""
    return html.with_name(f".{html.stem}.planner-maps.json")


def read_manifest(html: Path) -> dict[str, Any]:
    """The map manifest beside `html` (fingerprint and the files with their stamps), or {}."""
    data = _read_json(manifest_path(html)) or {}
    return data if data.get("planner") == "liusha-planner" else {}


def write_manifest(html: Path, fingerprint_: str, files: dict[str, Any]) -> None:
    """Note the fingerprint and the optional maps of this run beside map `html`.

    Parameters
    ----------
    html
        The HTML map the manifest sits beside.
    fingerprint_
        The run's fingerprint.
    files
        File name -> what `draw_or_carry` noted for it: its size and modification time and
        the sha256 of the bytes this run drew (hashed before the file was put in place, so a
        map another run put there meanwhile is never taken for this run's).
    """
    path = manifest_path(html)
    data = {"planner": "liusha-planner", FINGERPRINT: fingerprint_, "files": files}
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _noted_here(path: Path, noted: Any) -> bool:
    """Whether `path` is the file `noted` describes: same size, time and (if noted) bytes."""
    if isinstance(noted, list):  # an earlier planner's manifest: size and time only
        return noted == _stamp(path)
    if not isinstance(noted, dict) or noted.get("stamp") != _stamp(path):
        return False
    return noted.get("sha256") == _file_digest(path)


def map_state(path: Path, manifest: dict[str, Any], fingerprint_: str) -> str:
    """Say what an optional map not asked for is: ``absent``, ``current``, ``stale``, ``foreign``.

    ``current``: the planner drew it from the same fingerprint and it is unchanged since;
    ``stale``: the planner drew it, unchanged since, from other inputs, settings or code;
    ``foreign``: anything else (not the planner's, changed after it was drawn, or put there
    by another run after this manifest's run drew its own) — left alone.
    """
    if not path.exists() and not path.is_symlink():
        return "absent"
    files = manifest.get("files")
    if (
        path.is_symlink()
        or not path.is_file()
        or not isinstance(files, dict)
        or not _noted_here(path, files.get(path.name))
        or not is_planner_file(path)
    ):
        return "foreign"
    return "current" if manifest.get(FINGERPRINT) == fingerprint_ else "stale"


def _drop_dead_drawings(path: Path) -> None:
    """Delete what a killed run left while drawing `path`.

    That is ``.<name>.<pid>.drawing.tmp`` (`draw_or_carry`'s), or the temporary file the
    drawing itself was writing (``..<name>.<pid>.drawing.tmp.<random>.tmp``,
    `planner.io.write_atomic`), of a process that is no longer running, or of this one (an
    earlier process had its id: this one draws the map only after this). Another run drawing
    the same map at this moment keeps its own. Nothing that fails here stops the drawing.
    """
    pattern = re.compile(
        r"\.\.?" + re.escape(path.name) + r"\.(\d{1,12})\.drawing\.tmp(?:\.[^/]*\.tmp)?"
    )
    try:
        names = [p for p in path.parent.iterdir() if p.name.startswith(".")]
    except OSError:
        return
    for left in names:
        found = pattern.fullmatch(left.name)
        if found is None:
            continue
        if int(found[1]) != os.getpid():  # this process is not drawing it yet: its own goes
            try:
                os.kill(int(found[1]), 0)
                continue  # running: another run is drawing the same map
            except ProcessLookupError:
                pass
            except (OSError, OverflowError, ValueError):  # another user's, or no pid
                continue
        with contextlib.suppress(OSError):
            left.unlink()


def draw_or_carry(
    path: Path,
    asked: bool,
    draw: Callable[[Path], Path],
    manifest: dict[str, Any],
    fingerprint_: str,
    progress: Callable[[str], None],
    noted: dict[str, Any] | None = None,
) -> Path | None:
    """Draw an optional map when asked; else keep it if current, remove it if stale.

    A map is drawn to a temporary sibling, hashed, then renamed into place, so what is
    noted for it is this run's drawing even when another run writes the same file.

    Parameters
    ----------
    noted
        Receives, for the map that belongs to this run, its entry for `write_manifest`.

    Returns
    -------
    path
        The map file that belongs to this run, or None.
    """
    if asked:
        _drop_dead_drawings(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.drawing.tmp")
        try:
            draw(tmp)
            digest = _file_digest(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        if noted is not None:
            noted[path.name] = {"stamp": _stamp(path), "sha256": digest}
        return path
    state = map_state(path, manifest, fingerprint_)
    if state == "current":
        progress(_("kept {path}: drawn from the same inputs and settings").format(path=path))
        if noted is not None:
            noted[path.name] = manifest["files"][path.name]
        return path
    if state == "stale":
        path.unlink()
        progress(_("removed {path}: it was drawn from other inputs or settings").format(path=path))
    elif state == "foreign":
        progress(_("left {path} alone: not drawn by this planner run").format(path=path))
    return None

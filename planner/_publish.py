"""Publish a set of output files as one atomic step, touching only what the planner made."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from planner._errors import PlannerError
from planner._i18n import _

try:  # POSIX advisory locks; without them (Windows) runs into one folder are not serialised
    import fcntl
except ImportError:  # pragma: no cover - not on the Linux machines this runs on
    fcntl = None  # type: ignore[assignment]

#: Marker file inside every run folder the planner creates (who made it, is it complete).
RUN_MARK = ".planner-run.json"
#: Marker file inside the hidden folder that holds a target's runs.
RUNS_MARK = ".planner-runs"
#: Marker file inside an output folder written without symbolic links (Windows fallback).
PLAIN_MARK = ".planner-output.json"


#: Signature inside every map file (HTML, PNG, PDF) the planner writes: it replaces only those.
SIGNATURE = "liusha-planner"
_LEGACY_HTML = b"window.planner = {map: map"  # maps written before the signature existed
# where the planner signs what it writes (`planner.offline.save_offline`, `planner.plot`)
_HTML_SIGNED = f'<meta name="generator" content="{SIGNATURE}">'.encode()
_PNG_SIGNED = b"tEXtSoftware\x00" + SIGNATURE.encode()
# run folders of planner versions before the markers: a time stamp name, five known files
_LEGACY_RUN = re.compile(r"^\d{8}T\d{6}-")
_LEGACY_FILES = ["coverage.csv", "facilities.csv", "isochrones.geojson", "pois.csv", "summary.json"]


class OutputLocationError(PlannerError):
    """The output folder exists and was not made by the planner, so it is left alone."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_DIR_MODE = 0o777 & ~_umask()


def _abs(path: str | Path) -> Path:
    # absolute without resolving symbolic links: the link itself is what gets swapped
    return Path(os.path.abspath(path))


def runs_dir(target: str | Path) -> Path:
    """The hidden folder beside `target` that holds its runs: ``.<name>.runs``."""
    target = _abs(target)
    return target.parent / f".{target.name}.runs"


def _read_mark(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _runs_ours(runs: Path) -> bool:
    """True if the runs folder was made by the planner (marked, or an unmarked older one)."""
    if (runs / RUNS_MARK).is_file():
        return True
    try:
        children = list(runs.iterdir())
    except OSError:
        return False
    # another run may have made the folder and written its mark between the check above and
    # the listing; the mark comes before any run folder, so a second look settles it
    if (runs / RUNS_MARK).is_file():
        return True
    return all(c.is_dir() and _LEGACY_RUN.match(c.name) for c in children)


def _is_our_link(target: Path) -> bool:
    """True if `target` is a symbolic link the planner made (into its runs folder)."""
    if not target.is_symlink():
        return False
    link = Path(os.readlink(target))
    runs = runs_dir(target)
    return (
        not link.is_absolute()
        and len(link.parts) == 2
        and link.parts[0] == runs.name
        and runs.is_dir()
        and _runs_ours(runs)
    )


def _describe(folder: Path) -> str:
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError:
        return "it cannot be listed"
    if not names:
        return "it is empty"
    shown = ", ".join(names[:3]) + (" …" if len(names) > 3 else "")
    return f"it holds {len(names)} item(s): {shown}"


def check_folder(folder: str | Path, option: str, named: str | Path | None = None) -> None:
    """Refuse a folder that cannot be made or written in, before any work is done.

    Parameters
    ----------
    folder
        A folder the planner will make (if missing) and write in.
    option
        The command-line option that named it, for the message (e.g. ``--maps-dir``).
    named
        What the option named, if not `folder` itself (a folder to be made inside it).

    Raises
    ------
    OutputLocationError
        A file stands where the folder or one of its parents should be, or the nearest
        existing folder cannot be written in (no permission, a read-only disk).
    """
    folder = _abs(folder)
    shown = _abs(named) if named is not None else folder
    probe = folder
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputLocationError(
            _("{option} {folder}: {probe} is a file, not a folder").format(
                option=option, folder=shown, probe=probe
            )
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputLocationError(
            _(
                "{option} {folder}: the planner cannot write in {probe} (no permission, "
                "or a read-only disk)"
            ).format(option=option, folder=shown, probe=probe)
        )


def check_output_dir(target: str | Path) -> None:
    """Refuse an output folder the planner may not publish into.

    The planner publishes `target` as a symbolic link to a complete run folder inside
    ``.<name>.runs`` beside it. It only ever replaces such a link (or, where links are not
    available, a folder holding its own marker file). Anything else already at `target`,
    even an empty folder, belongs to the user and is left alone.

    Parameters
    ----------
    target
        The output folder users read (e.g. ``out/sample``).

    Raises
    ------
    OutputLocationError
        `target` exists and was not made by the planner, or its runs folder was not.
    """
    target = _abs(target)
    check_folder(target.parent, "--out", named=target)  # its runs folder is made beside it
    runs = runs_dir(target)
    # a name that does not exist yet: inside a folder that is there, else beside it
    inside = target.is_dir() and not target.is_symlink()
    suggestion = target / "planner-out" if inside else target.with_name(f"{target.name}-planner")
    hint = _(
        "the planner never writes into, moves or replaces a folder it did not "
        "create; give --out a name that does not exist yet (for example {path})"
    ).format(path=suggestion)
    if runs.exists() and not (runs.is_dir() and _runs_ours(runs)):
        raise OutputLocationError(
            _("--out {target}: {runs} exists and was not made by the planner").format(
                target=target, runs=runs
            )
        )
    if target.is_symlink():
        if not _is_our_link(target):
            raise OutputLocationError(
                _("--out {target} is a link the planner did not make (to {link}); ").format(
                    target=target, link=os.readlink(target)
                )
                + hint
            )
        return
    if not target.exists():
        return
    if target.is_dir() and (target / PLAIN_MARK).is_file():
        return
    kind = "folder" if target.is_dir() else "file"
    detail = _describe(target) if target.is_dir() else _("it is not a folder")
    raise OutputLocationError(
        _(
            "--out {target}: this {kind} already exists and was not made by the "
            "planner ({detail}); {hint}"
        ).format(target=target, kind=kind, detail=detail, hint=hint)
    )


@contextlib.contextmanager
def _locked(runs: Path) -> Iterator[None]:
    """Hold an exclusive lock on the runs folder (publishing and clean-up only)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(runs / ".lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _write_mark(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _new_run(target: Path) -> Path:
    runs = runs_dir(target)
    runs.mkdir(parents=True, exist_ok=True)
    mark = runs / RUNS_MARK
    if not mark.exists():
        mark.write_text(
            "Run folders of the Liusha service-circle planner for "
            f"{target.name}; the newest complete one is published as {target.name}.\n",
            encoding="utf-8",
        )
    # made under a hidden name and renamed once its marker is in: another run's clean-up must
    # never see an unmarked run folder (it would take it for one of an earlier version)
    new = Path(tempfile.mkdtemp(prefix=".new-", dir=runs))
    os.chmod(new, _DIR_MODE)
    _write_mark(
        new / RUN_MARK,
        {"pid": os.getpid(), "host": socket.gethostname(), "complete": False, "files": []},
    )
    run = runs / f"{time.strftime('%Y%m%dT%H%M%S')}-{new.name.removeprefix('.new-')}"
    os.rename(new, run)
    return run


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _written_files(run: Path) -> list[str]:
    return sorted(
        p.name for p in run.iterdir() if p.name != RUN_MARK and not p.name.endswith(".tmp")
    )


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _unchanged(run: Path, name: str, files: Any) -> bool:
    """True if `name` is a file the planner wrote in `run` and nobody has changed since."""
    path = run / name
    if not path.is_file() or path.is_symlink():
        return False
    if isinstance(files, dict):  # name -> [size, mtime_ns] as published
        return name in files and files[name] == _stamp(path)
    return name in (files or [])  # an earlier version's plain list of names


def _remove_run(run: Path, mark: dict[str, Any]) -> list[str]:
    """Delete what the planner wrote in a run folder; return the names it leaves behind.

    Of a published run only the files the planner wrote and nobody changed since are
    removed: a file a user edited or added in the published folder stays.
    """
    published = bool(mark.get("complete"))
    for p in list(run.iterdir()):
        if p.name == RUN_MARK:
            continue
        never_seen = not published and p.is_file() and not p.is_symlink()
        if never_seen or p.name.endswith(".tmp") or _unchanged(run, p.name, mark.get("files")):
            p.unlink(missing_ok=True)
    left = [p.name for p in run.iterdir() if p.name != RUN_MARK]
    if left:
        return left
    (run / RUN_MARK).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        run.rmdir()
    return []


def claim_written(path: str | Path) -> None:
    """Count a file the planner has just written into a published run folder as the run's.

    A map written to ``--maps-dir`` when that is the output folder lands in the published
    run folder after the set was published. Listed in the run's marker, it goes with the
    run when a later run replaces it (unless changed since, like the set's own files);
    otherwise that run folder would be kept, as one holding a file the planner did not
    write, once per run. Does nothing for a file anywhere else.

    Parameters
    ----------
    path
        A file the planner wrote.
    """
    real = Path(os.path.realpath(path))
    run = real.parent
    mark = _read_mark(run / RUN_MARK)
    if mark is None or not mark.get("complete") or not isinstance(mark.get("files"), dict):
        return
    if not (run.parent.name.endswith(".runs") and _runs_ours(run.parent)):
        return
    with _locked(run.parent):
        mark = _read_mark(run / RUN_MARK)
        if mark is None or not isinstance(mark.get("files"), dict) or not real.is_file():
            return
        _write_mark(run / RUN_MARK, {**mark, "files": {**mark["files"], real.name: _stamp(real)}})


def _clean_runs(runs: Path, keep: Path) -> list[str]:
    """Remove finished or abandoned runs except `keep`; return notes on what was kept."""
    notes = []
    host = socket.gethostname()
    for run in sorted(runs.iterdir()):
        if run == keep or run.name.startswith(".") or not run.is_dir() or run.is_symlink():
            continue  # the run being published, or one still being created
        mark = _read_mark(run / RUN_MARK)
        if mark is None and _LEGACY_RUN.match(run.name):
            mark = {"complete": True, "files": _LEGACY_FILES}  # from an earlier version
        if mark is None:
            continue  # not a run folder of ours
        if not mark.get("complete") and (
            mark.get("host") != host  # another machine's run (shared disk): leave it be
            or not isinstance(mark.get("pid"), int)
            or _pid_alive(mark["pid"])
        ):
            continue  # another run may still be writing it
        left = _remove_run(run, mark)
        if left:
            notes.append(
                _(
                    "kept {run}: it holds files the planner did not write or that were "
                    "changed after it wrote them ({files})"
                ).format(run=run, files=", ".join(left[:3]))
            )
    return notes


def _publish_plain(run: Path, target: Path, files: list[str]) -> None:
    """Fallback without symbolic links: rename the files into a marked real folder."""
    target.mkdir(parents=True, exist_ok=True)
    before = (_read_mark(target / PLAIN_MARK) or {}).get("files", {})
    changed = [n for n in files if (target / n).exists() and not _unchanged(target, n, before)]
    if changed:
        raise OutputLocationError(
            _(
                "--out {target}: {changed} changed since the planner wrote it; it is "
                "left alone: copy it elsewhere or choose another --out"
            ).format(target=target, changed=", ".join(changed))
        )
    for name in files:
        os.replace(run / name, target / name)
    _write_mark(target / PLAIN_MARK, {"files": {n: _stamp(target / n) for n in files}})


def _publish(run: Path, target: Path) -> list[str]:
    runs = run.parent
    files = _written_files(run)
    mark = _read_mark(run / RUN_MARK) or {}
    with _locked(runs):
        check_output_dir(target)  # again, under the lock: the folder may have changed
        # marked complete only under the lock, so no other run's clean-up can take it
        # for an old published set before it is published
        stamps = {name: _stamp(run / name) for name in files}
        _write_mark(run / RUN_MARK, {**mark, "complete": True, "files": stamps})
        link_tmp = runs / f".link-{os.getpid()}-{run.name}"
        try:
            os.symlink(os.path.join(runs.name, run.name), link_tmp, target_is_directory=True)
        except (OSError, NotImplementedError):
            _publish_plain(run, target, files)
            _remove_run(run, {"complete": False})  # its files were moved out: now empty
            return _clean_runs(runs, keep=run)
        try:
            os.replace(link_tmp, target)
        finally:
            link_tmp.unlink(missing_ok=True)
        return _clean_runs(runs, keep=run)


@contextlib.contextmanager
def output_set(target: str | Path, notes: list[str] | None = None) -> Iterator[Path]:
    """Write a set of output files into a new run folder and publish them together.

    Usage::

        with output_set("out/sample") as folder:
            write_csv(table, folder / "coverage.csv")

    On leaving the block the folder is published as `target` in one atomic step (the link
    `target` is swapped with ``os.replace``), so readers see the previous complete set or
    the new one, never a mix: a run killed at any moment, or several runs publishing at
    once, leave one complete set. If the block raises, the new files are removed and the
    published set is unchanged. Only run folders and links the planner made are ever
    removed or replaced; a file a user added to a published folder is kept.

    Parameters
    ----------
    target
        The output folder users read; see `check_output_dir` for what may already be there.
    notes
        If given, receives one line for each earlier run folder kept because it holds
        files the planner did not write.

    Yields
    ------
    folder
        The new, empty run folder to write into.
    """
    target = _abs(target)
    check_output_dir(target)
    run = _new_run(target)
    try:
        yield run
    except BaseException:
        _remove_run(run, {"complete": False})
        raise
    try:
        kept = _publish(run, target)
    except OutputLocationError:  # something not ours appeared at `target` meanwhile
        _remove_run(run, {"complete": False})
        raise
    if notes is not None:
        notes.extend(kept)


#: How far from its end a PDF's document information (Creator, Producer) is looked for.
_PDF_TAIL = 64 * 1024
_PDF_INFO = re.compile(rb"/(?:Creator|Producer)\s*\(([^)]*)\)")


def _pdf_signed(path: Path, head: bytes) -> bool:
    """True if `path` is a PDF whose document information names the planner as its Creator."""
    if not head.startswith(b"%PDF-"):
        return False
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - _PDF_TAIL))
            tail = fh.read()
    except OSError:
        return False
    return any(SIGNATURE.encode() in m for m in _PDF_INFO.findall(head + tail))


def is_planner_file(path: str | Path) -> bool:
    """True if `path` is a map file (HTML, PNG or PDF) the planner wrote.

    Parameters
    ----------
    path
        An existing file.

    Returns
    -------
    ours
        The file carries `SIGNATURE` where the planner puts it: near its start, an HTML
        ``<meta name="generator" content="liusha-planner">`` tag or a PNG ``Software``
        text chunk; a PDF's Creator or Producer near its end; a workbook's author; a
        GeoPackage's ``generator`` metadata; or is an HTML map of an earlier planner
        version (with the planner's script). The name merely written somewhere in a file
        does not make it the planner's, and neither does a plain Matplotlib PNG beside a
        planner map (a user's own chart).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    if head.startswith(b"%PDF-"):  # only its document information counts, not page text
        return _pdf_signed(path, head)
    if head.startswith(b"\x89PNG"):
        return _PNG_SIGNED in head
    if head.startswith(b"PK\x03\x04"):  # a workbook: its author, in docProps/core.xml
        return _xlsx_signed(path)
    if head.startswith(b"SQLite format 3\x00"):  # a GeoPackage: its gpkg_metadata
        return _gpkg_signed(path)
    if _HTML_SIGNED in head:
        return True
    if path.suffix.lower() == ".html":
        try:
            return _LEGACY_HTML in path.read_bytes()
        except OSError:
            return False
    return False


def _xlsx_signed(path: Path) -> bool:
    """True if `path` is a workbook whose author is the planner (`planner.export`)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            core = z.read("docProps/core.xml")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False
    return f"<dc:creator>{SIGNATURE}</dc:creator>".encode() in core


def _gpkg_signed(path: Path) -> bool:
    """True if `path` is a GeoPackage whose metadata names the planner (`planner.export`)."""
    import sqlite3

    try:
        with contextlib.closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        ) as c:
            rows = c.execute("SELECT metadata FROM gpkg_metadata").fetchall()
    except sqlite3.Error:
        return False
    return any(f'<MDI key="generator">{SIGNATURE}</MDI>' in str(r[0]) for r in rows)


def check_replaceable(path: str | Path) -> None:
    """Refuse to overwrite a file the planner did not write.

    Parameters
    ----------
    path
        Where a map file (HTML, PNG or PDF) is about to be written.

    Raises
    ------
    OutputLocationError
        Something that is not a planner map already exists at `path`.
    """
    path = _abs(path)
    if not path.exists() and not path.is_symlink():
        return
    if path.is_file() and not path.is_symlink() and is_planner_file(path):
        return
    raise OutputLocationError(
        _(
            "{path} already exists and was not written by the planner; it is left "
            "alone. Choose another folder with --maps-dir, or move that file "
            "yourself"
        ).format(path=path)
    )

"""Write a result's tables, polygons and summary to an output folder as one complete set."""

from __future__ import annotations

import gc
import os
import pickle
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner import export, gaps, io
from planner._cpus import usable_cpus as _cpus
from planner._publish import output_set
from planner.result import Result

__all__ = ["OUTPUT_FILES", "json_safe", "output_files", "table", "write_outputs"]

#: Output name -> file written by `write_outputs`; ``{name}`` is the scenario name
#: (`output_files` fills it in).
OUTPUT_FILES = {
    "coverage": "coverage.csv",
    "pois": "pois.csv",
    "facilities": "facilities.csv",
    "isochrones": "isochrones.geojson",
    "gaps": "gaps.geojson",
    "summary": "summary.json",
    "policy": "policy.csv",
    "workbook": "{name}.xlsx",
    "geopackage": "{name}.gpkg",
}


def output_files(name: str) -> dict[str, str]:
    """`OUTPUT_FILES` for a scenario name: ``{name}`` filled in (`planner.export.file_stem`)."""
    stem = export.file_stem(name)
    return {key: file.replace("{name}", stem) for key, file in OUTPUT_FILES.items()}


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """A result table as written to CSV: without its point geometry column."""
    geometry = getattr(frame, "_geometry_column_name", None)
    if geometry is not None and geometry in frame.columns:
        frame = frame.drop(columns=geometry)
    return pd.DataFrame(frame)


def json_safe(obj: Any) -> Any:
    """Make a summary JSON-ready: numpy numbers to Python, NaN and inf to null."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else float(obj)
    return obj


#: Table rows (POIs, coverage pairs, street segments) from which `write_outputs` writes the
#: workbook and the GeoPackage in a second process, at the same time as the other files.
PARALLEL_MIN_ROWS = 50_000

_Job = tuple[Callable[[Result, Path], Any], Path]


def _rows(result: Result) -> int:
    return len(result.pois) + len(result.coverage) + int(result.network.n_edges)


#: How long `_idle_cpus` watches the CPUs (seconds).
IDLE_SAMPLE_S = 0.1


def _proc_stat() -> str:
    with open("/proc/stat", encoding="ascii") as fh:
        return fh.read()


def _cpu_ticks(stat: str) -> tuple[int, int]:
    """Idle and total ticks of all CPUs from the text of ``/proc/stat`` (Linux)."""
    first = stat.split("\n", 1)[0].split()
    if not first or first[0] != "cpu":
        raise ValueError  # (not /proc/stat as Linux writes it; caught by `_idle_cpus`)
    ticks = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    return ticks[3] + ticks[4], sum(ticks)


def _idle_cpus() -> float:
    """CPUs busy with nothing, this process counted as busy (it is about to write).

    On Linux, what the CPUs do right now: `IDLE_SAMPLE_S` of ``/proc/stat`` while this
    process sleeps. (The one-minute load average counted this run's own polygon workers
    of a few seconds earlier as other work, and turned the forked writer off after them.)
    Elsewhere, the one-minute load average.
    """
    try:
        idle0, total0 = _cpu_ticks(_proc_stat())
        time.sleep(IDLE_SAMPLE_S)
        idle1, total1 = _cpu_ticks(_proc_stat())
    except (OSError, ValueError):
        try:
            load = os.getloadavg()[0]
        except OSError:  # not available: assume none is free
            return 0.0
        return _cpus() - max(load, 1.0)
    if total1 <= total0:
        return _cpus() - 1.0
    idle = _cpus() * (idle1 - idle0) / (total1 - total0)
    return min(idle, _cpus() - 1.0)


def _parallel(result: Result) -> bool:
    """Whether to write the workbook and the GeoPackage in a forked process.

    Only for a large result and when another CPU is idle now (`_idle_cpus`): with the other
    CPU busy the second process adds 0.1–2 CPU-s (start-up, copy-on-write) for a wall time
    between 1.6 s slower and 3.4 s faster on the city benchmark (`benchmarks/notes/writers.md`).
    """
    import multiprocessing

    return (
        _rows(result) >= PARALLEL_MIN_ROWS
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon  # (a pool worker may have no children)
        and _idle_cpus() >= 0.5
    )


def _die_with_parent(parent: int) -> None:
    """Have the kernel end this process when its parent ends (Linux).

    A run that is killed then leaves no writer behind in its unpublished folder.
    """
    import contextlib
    import ctypes
    import signal

    # not Linux: no such call; the parent still ends the child when the run fails
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent ended before the call above
        os._exit(1)


def _child(result: Result, jobs: Sequence[_Job], conn: Any, parent: int) -> None:
    """Run `jobs` in the forked process; send back None, or the exception raised."""
    _die_with_parent(parent)
    gc.freeze()  # what the fork inherited is never collected here: no walking, no copying
    try:
        for write, path in jobs:
            write(result, path)
        conn.send(None)
    except BaseException as exc:  # sent to the parent, which raises it
        try:
            blob: bytes | None = pickle.dumps(exc)
        except Exception:  # an exception that cannot be pickled: its type and text
            blob = None
        conn.send((f"{type(exc).__name__}: {exc}", blob))
    finally:
        conn.close()


class _Forked:
    """Writers running in a forked process: the result is inherited, not copied or pickled."""

    def __init__(self, result: Result, jobs: Sequence[_Job]) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.conn, send = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_child, args=(result, jobs, send, os.getpid()), daemon=True)
        self.proc.start()
        send.close()

    def wait(self) -> None:
        """Wait for the writers; raise what they raised (or why the process ended)."""
        try:
            message = self.conn.recv()
        except EOFError:  # ended without a word: killed, or crashed
            code = self._join()
            raise RuntimeError(f"the writer process ended with code {code}") from None
        self._join()
        if message is not None:
            text, blob = message
            try:
                error = pickle.loads(blob) if blob is not None else RuntimeError(text)
            except Exception:  # cannot be rebuilt here: its type and text
                error = RuntimeError(text)
            raise error

    def stop(self) -> None:
        """End the writers (this run failed): nothing more is written into its folder."""
        if self.proc.is_alive():
            self.proc.kill()
        self._join()

    def _join(self) -> int | None:
        self.proc.join()
        self.conn.close()
        return self.proc.exitcode


def write_outputs(
    result: Result,
    out_dir: str | Path,
    *,
    formats: Iterable[str] = ("xlsx", "gpkg"),
    fingerprint: str | None = None,
    meanwhile: Callable[[], Any] | None = None,
    notes: list[str] | None = None,
    carry: Iterable[str] = (),
) -> dict[str, Path]:
    """Write coverage.csv, pois.csv, facilities.csv, isochrones.geojson, gaps.geojson, summary.json.

    With `formats` also ``<name>.xlsx`` (``"xlsx"``, `planner.export.write_workbook`, for
    spreadsheets) and ``<name>.gpkg`` (``"gpkg"``, `planner.export.write_geopackage`, for
    GIS), named after the scenario (``result.provenance.name``). ``policy.csv``
    (`planner.policy.policy_table`) is written too when the result has one.

    ``facilities.csv`` has one row per input facility row (the entrances, with their
    status). The files are written to a new run folder and published together
    (`planner._publish.output_set`): a run killed at any point, or several runs at once,
    leave one complete set; nothing the planner did not make is removed or replaced.

    On a large result (`PARALLEL_MIN_ROWS`) with a CPU to spare, the workbook and the
    GeoPackage are written by a forked process while this one writes the other files; an
    error there is raised here as it was raised there, and the process ends with the run.
    `meanwhile` is other work for this process while that one finishes (`planner.run`
    draws the HTML map there).

    Parameters
    ----------
    result
        The analysis to write.
    out_dir
        Output folder: a name that does not exist yet, or one the planner published.
    formats
        Optional files to write: ``"xlsx"`` and/or ``"gpkg"`` (other names are ignored).
    fingerprint
        The run's content fingerprint (`planner._carry.fingerprint`), kept with the set.
        An optional file not in `formats` is then carried over from the published set when
        that set has the same fingerprint and the planner's file in it is unchanged.
    meanwhile
        Called once, with no arguments, after this process has written its own files and
        before it waits for the forked writer (at the end when there is none); the set is
        published after it returns, and an error it raises fails the write: the forked
        writer is ended and nothing is published.
    notes
        If given, receives one line for each earlier run folder kept because it holds files
        the planner did not write (a file the user added to the published folder).
    carry
        More file names to carry over from the published set by the same rule (with
        `fingerprint`): `planner.run` passes its optional maps and their manifest when the
        map folder is the output folder.

    Returns
    -------
    files
        Output name -> path inside `out_dir` (see `output_files`; ``policy``, ``workbook``
        and ``geopackage`` only when written or carried over).
    """
    from planner import _carry

    out_dir = Path(out_dir)
    formats = {formats} if isinstance(formats, str) else set(formats)  # one name: one format
    files = output_files(result.provenance.name)
    skip = set() if result.policy is not None else {"policy"}
    with output_set(out_dir, notes=notes) as staging:
        writers = {"xlsx": export.write_workbook, "gpkg": export.write_geopackage}
        jobs: list[_Job] = [
            (write, staging / files[_carry.FILE_KEYS[fmt]])
            for fmt, write in writers.items()
            if fmt in formats
        ]
        forked = _Forked(result, jobs) if jobs and _parallel(result) else None
        try:
            io.write_csv(result.coverage, staging / OUTPUT_FILES["coverage"])
            io.write_csv(table(result.pois), staging / OUTPUT_FILES["pois"])
            io.write_csv(table(result.entrances), staging / OUTPUT_FILES["facilities"])
            io.write_geojson(result.isochrones, staging / OUTPUT_FILES["isochrones"])
            io.write_geojson(gaps.gaps_of(result).cells, staging / OUTPUT_FILES["gaps"])
            io.write_json(json_safe(result.summary), staging / OUTPUT_FILES["summary"])
            if result.policy is not None:
                io.write_csv(result.policy, staging / OUTPUT_FILES["policy"])
            if forked is None:
                for write, path in jobs:
                    write(result, path)
            if meanwhile is not None:
                meanwhile()
            if forked is not None:
                forked.wait()
        finally:
            if forked is not None:
                forked.stop()
        for fmt in writers:
            key = _carry.FILE_KEYS[fmt]
            if fmt not in formats and (
                fingerprint is None
                or not _carry.carry_file(out_dir, files[key], fingerprint, staging)
            ):
                skip.add(key)
        if fingerprint is not None:
            for name in carry:
                _carry.carry_file(out_dir, name, fingerprint, staging)
            _carry.mark_fingerprint(staging, fingerprint)
    return {key: out_dir / name for key, name in files.items() if key not in skip}

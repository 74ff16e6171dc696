"""Write a result's tables, polygons and summary to an output folder as one complete set."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner import export, gaps, io
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


def write_outputs(
    result: Result,
    out_dir: str | Path,
    *,
    formats: Iterable[str] = ("xlsx", "gpkg"),
    fingerprint: str | None = None,
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

    Returns
    -------
    files
        Output name -> path inside `out_dir` (see `output_files`; ``policy``, ``workbook``
        and ``geopackage`` only when written or carried over).
    """
    from planner import _carry

    out_dir = Path(out_dir)
    formats = set(formats)
    files = output_files(result.provenance.name)
    skip = set() if result.policy is not None else {"policy"}
    with output_set(out_dir) as staging:
        io.write_csv(result.coverage, staging / OUTPUT_FILES["coverage"])
        io.write_csv(table(result.pois), staging / OUTPUT_FILES["pois"])
        io.write_csv(table(result.entrances), staging / OUTPUT_FILES["facilities"])
        io.write_geojson(result.isochrones, staging / OUTPUT_FILES["isochrones"])
        io.write_geojson(gaps.gaps_of(result).cells, staging / OUTPUT_FILES["gaps"])
        io.write_json(json_safe(result.summary), staging / OUTPUT_FILES["summary"])
        if result.policy is not None:
            io.write_csv(result.policy, staging / OUTPUT_FILES["policy"])
        writers = {"xlsx": export.write_workbook, "gpkg": export.write_geopackage}
        for fmt, write in writers.items():
            key = _carry.FILE_KEYS[fmt]
            if fmt in formats:
                write(result, staging / files[key])
            elif fingerprint is None or not _carry.carry_file(
                out_dir, files[key], fingerprint, staging
            ):
                skip.add(key)
        if fingerprint is not None:
            _carry.mark_fingerprint(staging, fingerprint)
    return {key: out_dir / name for key, name in files.items() if key not in skip}

"""One list of statuses and table layouts (planner.schema): every output keeps to it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from planner import pipeline, readers, schema
from planner.outputs import write_outputs
from planner.result import Result
from planner.schema import Status
from tests.handmade import CRS, X0, Y0, make_network

README = Path(__file__).resolve().parent.parent / "README.md"
ALL = {s.value for s in Status}


def test_a_status_is_its_plain_string() -> None:
    assert Status.OK == "ok" and hash(Status.OK) == hash("ok")
    assert "duplicate_id" in {Status.DUPLICATE_ID} and Status.DUPLICATE_ID in {"duplicate_id"}
    assert str(Status.UNREACHABLE) == f"{Status.UNREACHABLE}" == "unreachable"
    assert f"{Status.OK:>4}|" == "  ok|"
    assert json.dumps({Status.OK: [Status.INVALID_CRS]}) == '{"ok": ["invalid_crs"]}'
    assert Status("too_far_from_network") is Status.TOO_FAR_FROM_NETWORK
    assert pd.Series(["ok", "unreachable", "x"]).isin([Status.OK, Status.UNREACHABLE]).tolist() == [
        True,
        True,
        False,
    ]
    with pytest.raises(ValueError):
        Status("fine")


def test_every_status_has_a_meaning_and_its_name() -> None:
    for status in Status:
        assert status.name.lower() == status.value
        assert status.meaning and "\n" not in status.meaning, status
        assert isinstance(status.routed, bool)
    assert {s for s in Status if s.routed} == {
        Status.OK,
        Status.SWAPPED_LAT_LON,
        Status.UNREACHABLE,
    }
    assert set(schema.USABLE_STATUSES) <= set(schema.READ_STATUSES)
    assert all(s.routed for s in schema.USABLE_STATUSES)


def test_every_layout_column_has_a_meaning() -> None:
    for name, layout in schema.LAYOUTS.items():
        assert layout, name
        for column, meaning in layout.items():
            assert re.fullmatch(r"[a-z_]+", column) and meaning and "\n" not in meaning, column
    assert readers.OUTPUT_COLUMNS == schema.READ_COLUMNS
    assert set(readers.STATUSES) == {s.value for s in schema.READ_STATUSES}
    assert readers.USABLE_STATUSES == schema.USABLE_STATUSES


# --- a hand-made run with every status -------------------------------------------------------

_TO_WGS84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def _ll(x: float, y: float) -> tuple[str, str]:
    lon, lat = _TO_WGS84.transform(x + X0, y + Y0)
    return f"{lon:.7f}", f"{lat:.7f}"


def _p(x: float, y: float) -> str:
    return ",".join(_ll(x, y))


@pytest.fixture(scope="module")
def every_status(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """Two street pieces 0-1-2 and 10-11 (all kept), with a row of every kind."""
    folder = tmp_path_factory.mktemp("every_status")
    network = make_network(
        {0: (0, 0), 1: (100, 0), 2: (200, 0), 10: (1000, 0), 11: (1100, 0)},
        [(0, 1), (1, 2), (10, 11)],
    )
    west, south = (float(v) for v in _ll(-500, -500))
    east, north = (float(v) for v in _ll(1500, 800))
    swapped_poi, swapped_fac = _ll(60, 5), _ll(120, 3)
    (folder / "pois.csv").write_text(
        "\n".join(
            [
                "id,name,kind,lon,lat,crs",
                f"P1,ok,shop,{_p(50, 5)},",
                f"P2,swapped,shop,{swapped_poi[1]},{swapped_poi[0]},",
                f"P3,malformed,shop,{_p(70, 5)},,extra",
                f"P4,bad crs,shop,{_p(80, 5)},FOO",
                "P5,missing,shop,,,",
                "P6,invalid,shop,abc,22.5,",
                f"P7,outside,shop,{_p(5000, 5000)},",
                f"P1,duplicate,shop,{_p(90, 5)},",
                f"P8,too far,shop,{_p(500, 700)},",
                f"P9,unreachable,shop,{_p(1050, 5)},",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    (folder / "facilities.csv").write_text(
        "\n".join(
            [
                "facility_id,name,lon,lat,note",
                f"F,entrance 1,{_p(10, 5)},a",
                f"F,entrance 2,{_p(190, 5)},b",
                f"G,too far,{_p(600, 900)},c",
                "H,missing,,,d",
                f"S,swapped,{swapped_fac[1]},{swapped_fac[0]},e",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    pois = readers.read_points(
        folder / "pois.csv", study_bbox=(west, south, east, north), id_prefix="poi"
    )
    facilities = readers.read_points(
        folder / "facilities.csv", id_prefix="facility", allow_repeated_ids=True
    )
    result = pipeline.analyse(network, facilities, pois, bands_min=(1, 2, 3), speed_kmh=6.0)
    write_outputs(result, folder / "out")
    return result, folder / "out"


def _written_statuses(out: Path) -> set[str]:
    """Every status value in the written tables and summary.json."""
    found: set[str] = set()
    for name, columns in (("pois.csv", ["status"]), ("facilities.csv", ["status", "snap_status"])):
        table = pd.read_csv(out / name, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        for column in columns:
            found |= set(table[column])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    found |= set(summary["overall"]["pois_by_status"])
    found |= {f["status"] for f in summary["facilities"]}
    return found


def _header(path: Path) -> tuple[str, ...]:
    return tuple(pd.read_csv(path, encoding="utf-8-sig", nrows=0).columns)


def test_hand_made_run_writes_every_status_and_no_other(every_status) -> None:
    _, out = every_status
    assert _written_statuses(out) == ALL


def test_routed_rows_are_the_snapped_ones(every_status) -> None:
    result, _ = every_status
    for table in (result.pois, result.entrances):
        routed = [Status(s).routed for s in table["status"]]
        assert routed == np.isfinite(table["access_m"].to_numpy(dtype=float)).tolist()
    routed = [Status(s).routed for s in result.facilities["status"]]
    assert routed == (result.facilities["entrances_snapped"] > 0).tolist()
    assert set(result.facilities["status"]) == {"ok", "no_usable_entrance"}


def test_problems_are_the_rows_not_ok_and_not_unreachable(every_status) -> None:
    result, _ = every_status
    bad = [
        s
        for t in (result.entrances, result.pois)
        for s in t["status"]
        if s not in (Status.OK, Status.UNREACHABLE)
    ]
    assert len(result.problems()) == len(bad) == 11


def _check_layouts(result: Result, out: Path) -> None:
    assert _header(out / "coverage.csv") == schema.COVERAGE_COLUMNS
    pois_in = [c for c in schema.POI_INPUT_COLUMNS if c in result.poi_rows.columns]
    own = [  # the merchants table's further columns, carried as the facilities' are
        c
        for c in result.poi_rows.columns
        if c not in (*schema.READ_COLUMNS, *pois_in, "crs", "x", "y", "geometry")
        and c not in schema.POI_COLUMNS
    ]
    assert _header(out / "pois.csv") == (
        *schema.POI_COLUMNS,
        *pois_in,
        *own,
        "access_m",
        *schema.SKIPPED_COLUMNS,
    )
    n_read = len(schema.READ_COLUMNS)
    file_columns = tuple(result.facility_rows.columns[n_read:])
    assert tuple(result.facility_rows.columns[:n_read]) == schema.READ_COLUMNS
    assert _header(out / "facilities.csv") == (
        *schema.READ_COLUMNS,
        *file_columns,
        *schema.ENTRANCE_COLUMNS,
    )
    assert tuple(result.facilities.columns) == (*schema.FACILITY_COLUMNS, "geometry")
    assert tuple(result.isochrones.columns) == (*schema.ISOCHRONE_COLUMNS, "geometry")


def test_hand_made_tables_keep_to_the_layouts(every_status) -> None:
    result, out = every_status
    _check_layouts(result, out)


def test_sample_run_keeps_to_the_statuses_and_layouts(sample_map_run) -> None:
    out = sample_map_run.files["pois"].parent
    assert _written_statuses(out) <= ALL
    _check_layouts(sample_map_run, out)


# --- README -----------------------------------------------------------------------------------


def _readme_status_rows() -> dict[str, str]:
    """Status -> routed column of the README's "Row checks" table."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Row checks.**") :]
    rows: dict[str, str] = {}
    for line in section.splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        match = re.match(r"\| `([a-z_]+)` \| ([^|]*) \|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    return rows


def test_readme_row_checks_table_lists_exactly_the_statuses() -> None:
    rows = _readme_status_rows()
    missing = [
        f"| `{s.value}` | {'yes' if s.routed else 'no'} | {s.meaning} |"
        for s in Status
        if s.value not in rows
    ]
    assert not missing, "README.md, Row checks: add the rows\n" + "\n".join(missing)
    assert set(rows) == ALL, f"README lists statuses that are not in Status: {set(rows) - ALL}"
    for status, routed in rows.items():
        if routed in ("yes", "no"):
            assert Status(status).routed == (routed == "yes"), status

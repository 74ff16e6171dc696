"""Every input row and every bad setting is reported (issue 8): empty files, facilities too far
from the streets, and an earlier run's pois.csv read back ("edit it in Excel, run again")."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import planner
from planner import inputs, pipeline, readers
from planner._errors import PlannerError
from planner.result import Result
from planner.scenario import DATA_DIR, load_scenario
from tests.handmade import make_network, points

SAMPLE = DATA_DIR / "sample"
OSM = SAMPLE / "shenzhen_nanshan_science_park_2021-03.osm"


def write_scenario(folder: Path, pois: str, *, facilities: Path | None = None) -> Path:
    """A scenario on the sample's network and facilities with the given ``[pois]`` table."""
    folder.mkdir(parents=True, exist_ok=True)
    sample = load_scenario("sample")
    (folder / "scenario.toml").write_text(
        textwrap.dedent(
            f"""
            [scenario]
            name = "{folder.name}"
            study_bbox = {list(sample.study_bbox)}
            [network]
            source = "osm_xml"
            path = "{OSM}"
            [facilities]
            path = "{facilities or SAMPLE / "facilities.csv"}"
            [pois]
            """
        )
        + textwrap.dedent(pois),
        encoding="utf-8",
    )
    return folder


# --- facilities beyond the snapping limit ------------------------------------------------------


def test_facility_too_far_names_file_row_id_and_distance() -> None:
    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0)}, [(0, 1), (1, 2)])
    fac = points([("F", 50, 10), ("X", 200, 640)])  # X: 640 m north of node 2
    fac.attrs.update({"source": "facilities.csv", "unit": "row"})
    a = pipeline.analyse(net, fac, points([("P", 20, 5)]), bands_min=(5,), speed_kmh=6.0)
    x = a.entrances.set_index("id").loc["X"]
    assert x["status"] == "too_far_from_network"
    assert x["reason"] == (
        'facilities.csv row 3, facility "X": the nearest walkable street of the routed network '
        "is 640 m away, "
        "beyond the snapping limit of 300 m"
    )
    assert a.entrances.set_index("id").loc["F", "reason"] == ""


# --- files with a header but no data rows ------------------------------------------------------


@pytest.fixture(scope="module")
def empty_merchants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("empty") / "empty_merchants"
    folder.mkdir()
    (folder / "merchants.csv").write_text("编号,商户名称,经度,纬度\n", encoding="utf-8")
    return write_scenario(folder, 'path = "merchants.csv"\nfrom_osm = false\n')


def test_header_only_facilities_file_is_fatal(tmp_path: Path) -> None:
    (tmp_path / "facilities.csv").write_text("id,name,lon,lat\n", encoding="utf-8")
    folder = write_scenario(
        tmp_path / "s", "from_osm = false\n", facilities=tmp_path / "facilities.csv"
    )
    with pytest.raises(PlannerError, match=r"^facilities\.csv: the file has a header but no data"):
        inputs.load_facilities(load_scenario(folder))


def test_header_only_merchants_file_is_a_problem(empty_merchants: Path) -> None:
    pois = inputs.load_pois(load_scenario(empty_merchants))
    assert pois.empty
    assert pois.attrs[readers.ATTR_FILE_PROBLEMS] == [
        "merchants.csv: the file has a header but no data rows"
    ]


def test_header_only_merchants_file_fails_strict(empty_merchants: Path, tmp_path: Path) -> None:
    with pytest.raises(PlannerError, match=r"--strict: 1 input problem\(s\): merchants\.csv: the"):
        pipeline.run(
            load_scenario(empty_merchants), out_dir=tmp_path / "o", maps_dir=tmp_path, strict=True
        )
    assert not (tmp_path / "o").exists()


def test_cli_prints_the_header_only_merchants_file(empty_merchants: Path, tmp_path: Path) -> None:
    from planner.cli import app

    out = tmp_path / "o"
    result = CliRunner().invoke(
        app, ["run", str(empty_merchants), "--out", str(out), "--maps-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "  - merchants.csv: the file has a header but no data rows\n" in result.output
    # and said while loading, before the work (progress goes to stderr)
    assert "· warning: merchants.csv: the file has a header but no data rows" in result.output
    assert pd.read_csv(out / "pois.csv").empty


# --- an earlier run's pois.csv read back, with the OSM POIs it came from -----------------------


@pytest.fixture(scope="module")
def again(sample_map_run: Result, tmp_path_factory: pytest.TempPathFactory):
    """The sample run again on its own pois.csv (``[pois] path = "pois.csv"``, from_osm)."""
    folder = tmp_path_factory.mktemp("again") / "again"
    folder.mkdir()
    shutil.copy(sample_map_run.files["pois"], folder / "pois.csv")
    write_scenario(folder, 'path = "pois.csv"\nfrom_osm = true\n')
    out = folder / "out"
    return pipeline.run(load_scenario(folder), out_dir=out, maps_dir=out)


def test_pois_csv_read_back_gives_the_same_answer(sample_map_run, again) -> None:
    first, second = sample_map_run, again
    pairs = ["facility_id", "poi_id"]
    c1, c2 = first.coverage.set_index(pairs), second.coverage.set_index(pairs)
    assert sorted(c1.index) == sorted(c2.index)
    # lon/lat went through pois.csv's 6 decimals (0.1 m): 0.002 min at 4.5 km/h
    np.testing.assert_allclose(c2.loc[c1.index, "minutes"], c1["minutes"], atol=2e-3)
    assert (c2.loc[c1.index, "band_min"] == c1["band_min"]).all()
    p1 = first.pois.set_index("poi_id")
    p2 = second.pois[second.pois["status"] != "duplicate_id"].set_index("poi_id")
    assert sorted(p1.index) == sorted(p2.index)
    p2 = p2.loc[p1.index]
    assert (p2["nearest_facility_id"] == p1["nearest_facility_id"]).all()
    assert (p2["status"] == p1["status"]).all()
    np.testing.assert_allclose(p2["minutes_to_nearest"], p1["minutes_to_nearest"], atol=2e-3)
    s1, s2 = first.summary, second.summary
    assert s2["facilities"] == s1["facilities"]
    for key in ("pois_total", "pois_routable", "bands", "left_out_beyond_largest_band"):
        assert s2["overall"][key] == s1["overall"][key], key
    by_status = dict(s2["overall"]["pois_by_status"])
    assert by_status.pop("duplicate_id") == len(first.pois)
    assert by_status == s1["overall"]["pois_by_status"]


def test_pois_csv_read_back_adds_no_columns(sample_map_run, again) -> None:
    """The planner's columns of an earlier pois.csv are computed again, not carried as
    status_src, reason_src, ... (the table's own columns are: see the next test)."""
    first = pd.read_csv(sample_map_run.files["pois"], nrows=0).columns.tolist()
    second = pd.read_csv(again.files["pois"], nrows=0).columns.tolist()
    assert second == first


def test_a_merchants_tables_own_columns_are_in_pois_csv(tmp_path: Path) -> None:
    """电话, 地址 and the merchant's own status (停业) came through no output."""
    from tests.handmade import make_network, points

    path = tmp_path / "merchants.csv"
    at = points([("x", 20, 5)])
    lon, lat = at["lon"][0], at["lat"][0]
    path.write_text(
        "id,name,kind,lon,lat,电话,地址,status\n"
        f"M1,店,shop,{lon},{lat},+86 663 1234,流沙东路1号,停业\n",
        encoding="utf-8",
    )
    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    result = pipeline.analyse(net, points([("F", 0, 0)]), planner.read_points(path), bands_min=(5,))
    row = result.pois.iloc[0]
    assert (row["电话"], row["地址"], row["status_src"]) == ("+86 663 1234", "流沙东路1号", "停业")
    assert row["status"] == "ok"  # the planner's status is its own
    files = planner.write_outputs(result, tmp_path / "out", formats=())
    text = files["pois"].read_text(encoding="utf-8-sig")
    assert "电话" in text and "流沙东路1号" in text and "停业" in text


def test_osm_pois_already_in_pois_csv_are_duplicates(sample_map_run, again) -> None:
    n = len(sample_map_run.pois)
    pois = again.pois
    assert len(pois) == 2 * n  # every row of both sources is in the output
    mine, osm = pois.iloc[:n], pois.iloc[n:]
    assert (mine["status"] != "duplicate_id").all()
    assert (osm["status"] == "duplicate_id").all()
    row_in_csv = dict(zip(mine["poi_id"], mine["row"], strict=True))
    for pid, reason in zip(osm["poi_id"], osm["reason"], strict=True):
        expected = f'OpenStreetMap {pid}: id "{pid}" already used by pois.csv row {row_in_csv[pid]}'
        assert reason == expected
    assert np.isnan(osm["minutes_to_nearest"]).all()
    assert len(again.coverage) == len(sample_map_run.coverage)
    written = pd.read_csv(again.files["pois"], encoding="utf-8-sig")
    assert list(written.columns) == list(
        pd.read_csv(sample_map_run.files["pois"], encoding="utf-8-sig").columns
    )


def test_edited_row_in_pois_csv_moves_only_that_poi(again, tmp_path: Path) -> None:
    base = again.pois
    ok = base[(base["status"] == "ok") & (base.index < len(base) // 2)]
    a = ok.iloc[0]
    b = ok[ok["nearest_facility_id"] != a["nearest_facility_id"]].iloc[0]
    table = pd.read_csv(
        again.files["pois"].parent.parent / "pois.csv", dtype=str, keep_default_na=False
    )
    table.loc[table["poi_id"] == a["poi_id"], ["lon", "lat"]] = table.loc[
        table["poi_id"] == b["poi_id"], ["lon", "lat"]
    ].to_numpy()
    folder = tmp_path / "edited"
    folder.mkdir()
    table.to_csv(folder / "pois.csv", index=False, encoding="utf-8-sig")
    write_scenario(folder, 'path = "pois.csv"\nfrom_osm = true\n')
    scenario = load_scenario(folder)
    edited = pipeline.analyse(
        again.network,
        inputs.load_facilities(scenario),
        inputs.load_pois(scenario),
        bands_min=scenario.bands_min,
        speed_kmh=scenario.speed_kmh,
        snap_limit_m=scenario.snap_limit_m,
    ).pois
    moved = (edited["poi_id"] == a["poi_id"]) & (edited["status"] != "duplicate_id")
    before, after = base[~moved.to_numpy()], edited[~moved]
    for column in ("poi_id", "status", "nearest_facility_id"):
        assert after[column].tolist() == before[column].tolist(), column
    np.testing.assert_array_equal(after["minutes_to_nearest"], before["minutes_to_nearest"])
    row = edited[moved].iloc[0]
    assert row["nearest_facility_id"] == b["nearest_facility_id"]
    assert row["minutes_to_nearest"] == pytest.approx(b["minutes_to_nearest"], abs=1e-9)
    osm_copy = edited[(edited["poi_id"] == a["poi_id"]) & ~moved].iloc[0]
    assert osm_copy["status"] == "duplicate_id"  # the edited row wins over OpenStreetMap

"""A merchants list as officials have it: GBK CSV, GCJ-02, 经度/纬度, bad rows, a duplicate."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from planner import crs, pipeline
from planner.pois import pois_from_osm_xml
from planner.scenario import DATA_DIR, load_scenario

OSM = DATA_DIR / "sample" / "shenzhen_nanshan_science_park_2021-03.osm"


@pytest.fixture(scope="module")
def gbk_scenario(tmp_path_factory):
    """The sample's real OSM shops, written as an Excel-style GBK CSV in GCJ-02."""
    folder = tmp_path_factory.mktemp("gbk")
    sample = load_scenario("sample")
    osm = pois_from_osm_xml(OSM, sample.study_bbox)
    good = osm[osm["name"] != ""].head(40).reset_index(drop=True)
    glon, glat = crs.wgs84_to_gcj02(good["lon"].to_numpy(), good["lat"].to_numpy())
    rows = [
        {"编号": i, "商户名称": n, "业态": k, "经度": f"{x:.7f}", "纬度": f"{y:.7f}"}
        for i, n, k, x, y in zip(good["id"], good["name"], good["kind"], glon, glat, strict=True)
    ]
    bad = [
        {
            "编号": "BAD-1",
            "商户名称": "缺纬度 no lat",
            "业态": "shop",
            "经度": "113.95",
            "纬度": "",
        },
        {
            "编号": "BAD-2",
            "商户名称": "坏经度 bad lon",
            "业态": "shop",
            "经度": "东经113",
            "纬度": "22.55",
        },
        {
            "编号": "BAD-3",
            "商户名称": "远处 far away",
            "业态": "shop",
            "经度": "116.19",
            "纬度": "23.29",
        },
        # lat and lon swapped by hand (a real shop's coordinates)
        {
            "编号": "SWAP-1",
            "商户名称": rows[0]["商户名称"],
            "业态": "shop",
            "经度": rows[0]["纬度"],
            "纬度": rows[0]["经度"],
        },
        {**rows[1], "商户名称": "重复编号 duplicate id"},
    ]
    table = pd.DataFrame(rows + bad)
    path = folder / "merchants.csv"
    table.to_csv(path, index=False, encoding="gbk")
    (folder / "scenario.toml").write_text(
        textwrap.dedent(
            f"""
            [scenario]
            name = "gbk"
            title = "GBK merchants test (Shenzhen sample network)"
            study_bbox = {list(sample.study_bbox)}
            [network]
            source = "osm_xml"
            path = "{OSM}"
            [facilities]
            path = "{DATA_DIR / "sample" / "facilities.csv"}"
            [pois]
            from_osm = false
            path = "merchants.csv"
            crs = "GCJ02"
            """
        ),
        encoding="utf-8",
    )
    return folder, good, table


def test_gbk_gcj02_merchants_right_minutes_nothing_lost(gbk_scenario, sample_map_run, tmp_path):
    folder, good, table = gbk_scenario
    result = pipeline.run(load_scenario(folder), out_dir=tmp_path / "out", maps_dir=tmp_path)
    pois = pd.read_csv(result.files["pois"], encoding="utf-8-sig", dtype={"poi_id": str})
    assert len(pois) == len(table)  # counts in = counts out
    # the same shops computed straight from the WGS-84 OSM data (the session's sample run)
    ref = sample_map_run.pois.set_index("poi_id")
    ok = pois[pois["poi_id"].isin(good["id"])].drop_duplicates("poi_id").set_index("poi_id")
    assert len(ok) == len(good)
    # GCJ-02 -> WGS-84 is accurate to well under 1 m: under 0.02 min at 75 m/min
    np.testing.assert_allclose(ok["lon"], ref.loc[ok.index, "lon"], atol=2e-5)
    np.testing.assert_allclose(
        ok["minutes_to_nearest"], ref.loc[ok.index, "minutes_to_nearest"], atol=0.02
    )
    assert (ok["nearest_facility_id"] == ref.loc[ok.index, "nearest_facility_id"]).all()
    # the original GCJ-02 coordinates are kept beside the converted ones
    assert (ok["crs_orig"] == "GCJ02").all()
    status = pois.set_index("poi_id")["status"]
    assert status["BAD-1"] == "missing_coordinates"
    assert status["BAD-2"] == "invalid_coordinates"
    assert status["BAD-3"] == "outside_study_area"
    assert status["SWAP-1"] == "swapped_lat_lon"
    swapped = pois[pois["poi_id"] == "SWAP-1"].iloc[0]
    assert swapped["minutes_to_nearest"] == pytest.approx(
        ref.loc[good["id"][0], "minutes_to_nearest"], abs=0.02
    )
    dup = pois[pois["name"] == "重复编号 duplicate id"].iloc[0]
    assert dup["status"] == "duplicate_id"
    for _, r in pois[~pois["status"].isin(["ok", "unreachable"])].iterrows():
        assert "merchants.csv" in r["reason"] and "row" in r["reason"], r["reason"]
    assert pois.loc[pois["poi_id"] == "BAD-1", "reason"].iloc[0].count('"') >= 2  # names the field


def test_strict_refuses_and_writes_nothing(gbk_scenario, cli, tmp_path):
    folder, _, _ = gbk_scenario
    r = cli("run", folder, "--strict", "--out", "o")
    assert r.exit_code == 1, r.output
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --strict: 5 input problem(s)"), r.stderr
    assert not (tmp_path / "o").exists() and not (tmp_path / "maps").exists()

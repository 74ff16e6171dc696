"""The bundled offline sample (real OSM data of Shenzhen) end to end, and its provenance.

The end-to-end tests read the session's one run of the sample (``sample_map_run`` in
``conftest.py``); only the rerun test makes a second run, to compare with it.
"""

from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from planner import inputs, pipeline
from planner.isochrones import GRID_BOUND_M
from planner.scenario import DATA_DIR, load_scenario

SAMPLE = DATA_DIR / "sample"


def test_facilities_are_real_osm_nodes_of_the_extract():
    fac = pd.read_csv(SAMPLE / "facilities.csv", dtype={"lon": str, "lat": str})
    root = ET.parse(SAMPLE / "shenzhen_nanshan_science_park_2021-03.osm").getroot()
    nodes = {n.get("id"): (n.get("lon"), n.get("lat")) for n in root.iter("node")}
    for _, r in fac.iterrows():
        osm_id = r["source"].split("node ")[1].split(" ")[0]
        assert nodes[osm_id] == (r["lon"], r["lat"]), f"{r['facility_id']} is not node {osm_id}"


def test_sample_is_labelled_shenzhen_not_puning():
    sc = load_scenario("sample")
    assert "Shenzhen" in sc.title and "非普宁" in sc.title
    assert "ODbL" in sc.attribution and sc.network_date == "2021-03-17"
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors" in readme and "not** Puning" in readme


def test_outputs_written_with_expected_columns(sample_map_run):
    files = sample_map_run.files
    for key in ("coverage", "pois", "facilities", "isochrones", "summary", "map"):
        assert files[key].is_file() and files[key].stat().st_size > 0, key
    cov = pd.read_csv(files["coverage"], encoding="utf-8-sig")
    assert list(cov.columns) == [
        "facility_id",
        "poi_id",
        "poi_kind",
        "distance_m",
        "minutes",
        "band_min",
    ]
    assert len(cov) > 0
    pois = pd.read_csv(files["pois"], encoding="utf-8-sig")
    need = {
        "poi_id",
        "name",
        "kind",
        "lon",
        "lat",
        "nearest_facility_id",
        "minutes_to_nearest",
        "status",
        "access_m",
        "skipped_piece",
        "skipped_piece_node",
        "skipped_piece_name",
        "skipped_extra_m",
    }
    assert need <= set(pois.columns)
    fac = pd.read_csv(files["facilities"], encoding="utf-8-sig")
    assert {"access_m", "skipped_piece", "skipped_extra_m"} <= set(fac.columns)


def test_every_poi_in_is_out(sample_map_run):
    sc = load_scenario("sample")
    n_in = len(inputs.load_pois(sc))
    pois = pd.read_csv(sample_map_run.files["pois"], encoding="utf-8-sig")
    assert len(pois) == n_in > 100
    assert pois["poi_id"].is_unique
    fac = pd.read_csv(sample_map_run.files["facilities"], encoding="utf-8-sig")
    assert len(fac) == len(pd.read_csv(SAMPLE / "facilities.csv"))


def test_coverage_is_within_largest_band_and_consistent_with_pois(sample_map_run):
    cov = pd.read_csv(sample_map_run.files["coverage"], encoding="utf-8-sig")
    pois = pd.read_csv(sample_map_run.files["pois"], encoding="utf-8-sig").set_index("poi_id")
    assert (cov["minutes"] <= 15 + 1e-6).all() and (cov["minutes"] >= 0).all()
    assert not cov.duplicated(["facility_id", "poi_id"]).any()
    # minutes_to_nearest equals the smallest coverage minutes of each covered POI
    best = cov.groupby("poi_id")["minutes"].min()
    np.testing.assert_allclose(pois.loc[best.index, "minutes_to_nearest"], best, atol=1e-5)
    # POIs not in the coverage table are beyond 15 min of every facility (or not routed)
    rest = pois.drop(index=best.index)
    assert ((rest["minutes_to_nearest"] > 15) | rest["minutes_to_nearest"].isna()).all()
    # minutes = distance / (4.5 km/h)
    np.testing.assert_allclose(cov["minutes"], cov["distance_m"] / 75.0, rtol=1e-6)


def test_isochrones_nested_and_polygonal(sample_map_run):
    iso = gpd.read_file(sample_map_run.files["isochrones"])
    assert iso.crs.to_epsg() == 4326
    assert len(iso) == 6 * 3
    assert iso.geometry.is_valid.all()
    metric = iso.to_crs(sample_map_run.network.crs)
    for fid, g in metric.groupby("facility_id"):
        g = g.sort_values("band_min")
        geoms = list(g.geometry)
        assert all(not x.is_empty for x in geoms), fid
        # GeoJSON coordinates are rounded to 1e-6 degrees (about 0.1 m); "grid" bands are
        # nested to within their bound of the exact outline (planner.isochrones)
        slack = 0.25 + (GRID_BOUND_M if sample_map_run.settings.isochrone_method == "grid" else 0)
        for inner, outer in itertools.pairwise(geoms):
            assert outer.buffer(slack).contains(inner), fid
        # grown from streets, not a convex hull: clearly smaller than its hull
        assert geoms[-1].area < 0.8 * geoms[-1].convex_hull.area, fid


def test_summary_matches_tables(sample_map_run):
    s = json.loads(sample_map_run.files["summary"].read_text(encoding="utf-8"))
    cov = pd.read_csv(sample_map_run.files["coverage"], encoding="utf-8-sig")
    pois = pd.read_csv(sample_map_run.files["pois"], encoding="utf-8-sig")
    assert s["inputs"]["speed_kmh"] == 4.5 and s["inputs"]["bands_min"] == [5, 10, 15]
    assert s["inputs"]["network_data_date"] == "2021-03-17"
    assert s["inputs"]["poi_rows_in"] == len(pois)
    assert s["inputs"]["components"]["dropped_components"] > 0
    for f in s["facilities"]:
        mine = cov[cov["facility_id"] == f["facility_id"]]
        for band in ("5", "10", "15"):
            assert f["bands"][band]["pois"] == int((mine["minutes"] <= float(band) + 1e-9).sum())
            assert sum(f["bands"][band]["by_kind"].values()) == f["bands"][band]["pois"]
    for band in ("5", "10", "15"):
        n = int((pois["minutes_to_nearest"] <= float(band) + 1e-9).sum())
        assert s["overall"]["bands"][band]["pois_within"] == n
        assert s["overall"]["bands"][band]["share_of_all_pois"] == pytest.approx(n / len(pois))


def test_disconnected_pieces_summary_matches_tables(sample_map_run):
    s = json.loads(sample_map_run.files["summary"].read_text(encoding="utf-8"))
    d = s["disconnected_pieces"]
    dropped = s["inputs"]["components"]["dropped"]
    assert d["pieces"] == len(dropped) > 0
    assert [r["piece"] for r in dropped] == list(range(len(dropped)))
    for key, name in (("pois", "pois"), ("facility_rows", "facilities")):
        t = pd.read_csv(sample_map_run.files[name], encoding="utf-8-sig")
        routed = t[t["skipped_extra_m"].notna()]
        assert d[key]["affected"] == len(routed)
        assert d[key]["not_routed"] == int(t["skipped_piece"].notna().sum()) - len(routed)
        assert (t.loc[t["skipped_piece"].isna(), "skipped_extra_m"].isna()).all()
        if len(routed):
            assert (routed["skipped_extra_m"] >= 0).all()
            assert (routed["skipped_extra_m"] <= routed["access_m"] + 1e-6).all()
            assert d[key]["extra_m_max"] == pytest.approx(routed["skipped_extra_m"].max(), abs=0.01)
            assert d[key]["extra_m_median"] == pytest.approx(
                routed["skipped_extra_m"].median(), abs=0.01
            )
            assert set(routed["status"]) <= {"ok", "unreachable"}
        by_piece = {b["piece"]: b[key] for b in d["by_piece"]}
        counts = t["skipped_piece"].dropna().astype(int).value_counts()
        assert {p: n for p, n in by_piece.items() if n} == counts.to_dict()
        nodes = {r["piece"]: r["example_node"] for r in dropped}
        skipped = t[t["skipped_piece"].notna()]
        assert [nodes[int(p)] for p in skipped["skipped_piece"]] == list(
            skipped["skipped_piece_node"].astype(int)
        )
    # the bundled extract has merchants whose nearest street is a disconnected piece
    assert d["pois"]["affected"] > 0


def test_rerun_gives_identical_tables(sample_map_run, tmp_path):
    again = pipeline.run(
        load_scenario("sample"), out_dir=tmp_path / "out", maps_dir=tmp_path / "maps"
    )
    for key in ("coverage", "pois", "facilities", "isochrones", "summary"):
        assert again.files[key].read_bytes() == sample_map_run.files[key].read_bytes(), key


def test_map_has_attribution_and_no_external_resources(sample_map_run):
    from planner.offline import external_urls

    html = sample_map_run.files["map"].read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors" in html
    assert external_urls(html) == []


def test_written_minutes_are_the_computed_ones(sample_map_run):
    """coverage.csv carries the engine's minutes (which test_engine_equality checks against
    an independent networkx calculation) to within the file's 6 decimals."""
    cov = pd.read_csv(sample_map_run.files["coverage"], encoding="utf-8-sig")
    mem = sample_map_run.coverage
    merged = cov.merge(mem, on=["facility_id", "poi_id"], suffixes=("_csv", "_mem"))
    assert len(merged) == len(cov) == len(mem)
    np.testing.assert_allclose(merged["minutes_csv"], merged["minutes_mem"], atol=1e-6)

"""The Result object: settings travel with the tables, every writer reads only the result."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import planner
from planner import maps, plot
from planner.result import Settings, SettingsError
from tests.handmade import make_network, points

# a 300 m street with a facility at 50 m: POIs at 10 m (on the street) walk 40 m etc.
NET = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (300, 0)}, [(0, 1), (1, 2), (2, 3)])
FAC = points([("F", 50, 0)])
# at 4.5 km/h = 75 m/min: 40 m = 0.53 min, 150 m = 2 min, 350 m = 4.67 min (walk ≤ 250 m here)
POIS = points([("A", 10, 0), ("B", 200, 0), ("C", 290, 0)])


@pytest.fixture(scope="module")
def odd_bands() -> planner.Result:
    return planner.analyse(NET, FAC, POIS, bands_min=(6, 3), speed_kmh=4.5)


def test_settings_are_sorted_and_carried(odd_bands):
    s = odd_bands.settings
    assert s.bands_min == (3.0, 6.0) and s.speed_kmh == 4.5 and s.metres_per_minute == 75.0
    assert odd_bands.summary["inputs"]["bands_min"] == [3.0, 6.0]
    assert set(odd_bands.summary["overall"]["bands"]) == {"3", "6"}
    assert set(odd_bands.isochrones["band_min"]) == {3.0, 6.0}
    # hand-worked minutes: A 40 m, B 150 m, C 240 m at 75 m/min
    minutes = odd_bands.pois.set_index("poi_id")["minutes_to_nearest"]
    np.testing.assert_allclose(minutes[["A", "B", "C"]], [40 / 75, 150 / 75, 240 / 75])
    band = odd_bands.coverage.set_index("poi_id")["band_min"]
    assert list(band[["A", "B", "C"]]) == [3.0, 3.0, 6.0]


def test_bands_3_and_6_written_everywhere(odd_bands, tmp_path):
    files = planner.write_outputs(odd_bands, tmp_path / "out")
    summary = json.loads(files["summary"].read_text(encoding="utf-8"))
    assert summary["inputs"]["bands_min"] == [3, 6]
    assert sorted(summary["overall"]["bands"]) == ["3", "6"]
    for f in summary["facilities"]:
        assert sorted(f["bands"]) == ["3", "6"]
    cov = pd.read_csv(files["coverage"], encoding="utf-8-sig")
    assert set(cov["band_min"]) == {3, 6}
    iso = json.loads(files["isochrones"].read_text(encoding="utf-8"))
    assert {f["properties"]["band_min"] for f in iso["features"]} == {3, 6}


def test_bands_3_and_6_on_the_map_and_png(odd_bands, tmp_path):
    panel = maps.legend_html(odd_bands, tianditu=False)
    assert "0–3 分钟 min" in panel and "3–6 分钟 min" in panel and "&gt;6 分钟" in panel
    assert "<th>≤3</th><th>≤6</th>" in panel and "15" not in panel.split("Summary")[1][:400]
    html = planner.save_map(odd_bands, tmp_path / "m.html").read_text(encoding="utf-8")
    assert "3–6 分钟 min" in html and "10–15" not in html
    fig = plot.draw(odd_bands)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("3–6" in t for t in labels) and not any("15" in t for t in labels)
    assert planner.save_png(odd_bands, tmp_path / "m.png").stat().st_size > 10_000


def test_reanalyse_changes_settings_and_keeps_the_original(odd_bands):
    faster = planner.reanalyse(odd_bands, speed_kmh=6.0, bands_min=(2,))
    assert faster.settings.bands_min == (2.0,) and faster.settings.speed_kmh == 6.0
    np.testing.assert_allclose(faster.pois.set_index("poi_id").loc["B", "minutes_to_nearest"], 1.5)
    assert odd_bands.settings.bands_min == (3.0, 6.0)  # untouched
    no_b = planner.reanalyse(odd_bands, pois=odd_bands.poi_rows.iloc[[0, 2]])
    assert list(no_b.pois["poi_id"]) == ["A", "C"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"speed_kmh": 45}, "outside 0.5-10"),
        ({"speed_kmh": float("nan")}, "finite"),
        ({"bands_min": (5, 5)}, "distinct"),
        ({"bands_min": ()}, "positive"),
        ({"bands_min": "5,10"}, "list of minutes"),
        ({"snap_limit_m": -5}, "snap_limit_m"),
        ({"buffer_m": 0}, "buffer_m"),
    ],
)
def test_analyse_checks_its_settings_before_computing(changes, message):
    with pytest.raises(SettingsError, match=message):
        planner.analyse(NET, FAC, POIS, **changes)


def test_analyse_checks_its_tables():
    with pytest.raises(planner.PlannerError, match="missing columns"):
        planner.analyse(NET, FAC.drop(columns=["usable"]), POIS)


def test_settings_defaults_are_defined_once():
    from planner import scenario

    assert Settings() == Settings(4.5, (5.0, 10.0, 15.0), 300.0, 25.0)
    assert scenario.DEFAULT_SPEED_KMH is planner.result.DEFAULT_SPEED_KMH


def test_public_api_is_exported_and_import_is_light():
    for name in planner.__all__:
        assert getattr(planner, name) is not None, name
    heavy = "('osmnx', 'folium', 'geopandas')"
    code = f"import sys, planner; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_results_input_tables_are_its_own() -> None:
    """Editing the tables given to analyse, or a reanalysed result's, leaves a result alone."""
    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0)}, [(0, 1), (1, 2)])
    fac = points([("F1", 10, 5)])
    pois = points([("P1", 60, 5), ("P2", 190, 5)])
    r = planner.analyse(net, fac, pois, bands_min=(1, 3))
    fac.loc[0, "lon"] += 1.0  # the caller's own table, edited after the call
    pois.loc[0, "name"] = "renamed"
    other = planner.reanalyse(r, speed_kmh=4.0)
    assert other.facility_rows is not r.facility_rows and other.poi_rows is not r.poi_rows
    other.facility_rows.loc[0, "lon"] += 1.0
    other.poi_rows.loc[0, "name"] = "renamed"
    again = planner.reanalyse(r)
    assert again.facility_rows.loc[0, "lon"] == r.facility_rows.loc[0, "lon"] != fac.loc[0, "lon"]
    assert r.poi_rows.loc[0, "name"] != "renamed"
    pd.testing.assert_frame_equal(again.coverage, r.coverage)


@pytest.mark.slow
def test_a_scenario_by_name_and_one_format_by_name(tmp_path) -> None:
    """planner.run("sample", formats="xlsx") does what its list form does; a wrong kind of
    scenario is one clear error, not an AttributeError from deep inside."""
    r = planner.run("sample", out_dir=tmp_path / "o", maps_dir=tmp_path / "m", formats="xlsx")
    assert r.files["workbook"].name == "sample.xlsx" and r.files["workbook"].is_file()
    files = planner.write_outputs(r, tmp_path / "o2", formats="gpkg")
    assert "geopackage" in files and "workbook" not in files
    assert planner.analyse_scenario("sample").summary["overall"] == r.summary["overall"]
    with pytest.raises(planner.PlannerError, match=r"expected a scenario .* got int"):
        planner.analyse_scenario(7)
    with pytest.raises(planner.PlannerError, match=r"expected a scenario .* got dict"):
        planner.run({"name": "sample"}, out_dir=tmp_path / "o3")
    assert not (tmp_path / "o3").exists()

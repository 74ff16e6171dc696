"""A map with many facilities and POIs in headless Chromium: canvas, one band layer, packed data.

The seeded synthetic city of `tests/synthetic.py`, cut small (40 facilities, 3,000 POIs): above
`planner.maps.CANVAS_THRESHOLD` POIs and `planner.maps.BAND_LAYERS_MAX` facilities, so the
page takes its large-map paths. Every number the page shows is compared with the Python side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from planner import maps, pipeline
from planner.result import Result
from tests.browser import screenshot
from tests.synthetic import random_points, synthetic_network

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def city_map(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    network = synthetic_network(2_500, seed=4)
    fac = random_points(network, 40, seed=5, prefix="F", entrances=2)
    pois = random_points(network, 3_000, seed=6, prefix="P")
    pois.loc[7, "name"] = "<img src=x onerror=alert(1)>${alert(2)}"
    a = pipeline.analyse(network, fac, pois, bands_min=(5, 10, 15), speed_kmh=4.5)
    path = maps.save_map(a, tmp_path_factory.mktemp("city") / "city.html")
    return a, path


def test_large_map_uses_canvas_and_one_band_layer(city_map, offline_page, tmp_path) -> None:
    a, path = city_map
    op = offline_page(path)
    page = op.page
    counts = page.evaluate(
        """() => {
          const L_ = window.planner.layers, n = (g) => g.getLayers().length;
          return {
            bandLayers: L_.facilityBands.length,
            bands: L_.facilityBands.reduce((s, g) => s + n(g), 0),
            pois: Object.values(L_.pois).reduce((s, g) => s + n(g), 0),
            gaps: n(L_.gaps),
            svgPois: document.querySelectorAll(".leaflet-plannerPois-pane path").length,
            canvases: document.querySelectorAll(".leaflet-plannerPois-pane canvas").length,
          };
        }"""
    )
    assert counts["bandLayers"] == 1  # 40 facilities > BAND_LAYERS_MAX: one layer, not 40
    assert counts["bands"] == _bands_in_view(page, a)
    assert counts["pois"] == len(a.pois) == 3_000
    assert counts["svgPois"] == 0 and counts["canvases"] == 1
    assert counts["gaps"] == 0  # built when the layer is first shown
    labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert sum("服务圈 Bands" in t for t in labels) == 1
    assert any("all 40 facilities" in t for t in labels)
    # at street zoom the bands in view are drawn, and only those
    lon, lat = a.entrances[["lon", "lat"]].iloc[0]
    page.evaluate(
        "([lat, lon]) => { window.planner.map.setView([lat, lon], 16, {animate: false}); }",
        [lat, lon],
    )
    page.wait_for_timeout(300)
    drawn = page.evaluate("() => window.planner.layers.facilityBands[0].getLayers().length")
    assert drawn == _bands_in_view(page, a) > 0
    assert drawn < len(maps.band_data(a))
    assert page.locator(".leaflet-plannerBands-pane canvas").count() == 1  # not SVG paths
    assert page.locator(".leaflet-plannerBands-pane path").count() == 0
    shot = screenshot(page, tmp_path, "city_map_screenshot.png")
    assert shot.stat().st_size > 20_000
    assert op.problems == {}


def _bands_in_view(page, a) -> int:
    """Band records whose box meets the map's view padded by half (what the page draws)."""
    view = page.evaluate(
        """() => { const m = window.planner.map, v = m.getBounds().pad(0.5);
          return [m.getZoom(), v.getWest(), v.getSouth(), v.getEast(), v.getNorth()]; }"""
    )
    zoom, w, s, e, n = view
    if zoom < maps.BAND_ZOOM:
        return 0
    k = maps.COORD_SCALE
    return sum(
        b["bb"][0] / k <= e and b["bb"][2] / k >= w and b["bb"][1] / k <= n and b["bb"][3] / k >= s
        for b in maps.band_data(a)
    )


def test_large_map_data_equals_the_python_side(city_map, offline_page) -> None:
    a, path = city_map
    page = offline_page(path).page
    rows = page.evaluate("() => window.planner.pois")
    assert rows == maps.poi_data(a)
    records = maps.facility_records(a)
    popups = page.evaluate(
        "(n) => Array.from({length: n}, (_, i) => window.planner.popupHtml(i))", len(records)
    )
    assert popups == [maps.popup_html(r) for r in records]
    assert sum(r["more"] > 0 for r in records) > 0  # some lists are cut at the cap


def test_focus_and_gap_layer_on_a_large_map(city_map, offline_page) -> None:
    a, path = city_map
    op = offline_page(path)
    page = op.page
    fid = a.coverage["facility_id"].value_counts().index[0]
    i = list(a.facilities["facility_id"]).index(fid)
    got = page.evaluate(
        """(i) => {
          window.planner.focus(i);
          const L_ = window.planner.layers;
          const bands = L_.facilityBands[0].getLayers();
          const pois = Object.values(L_.pois).reduce((s, g) => s + g.getLayers().length, 0);
          return {facilities: [...new Set(bands.map((b) => b.plannerFacility))], pois: pois};
        }""",
        i,
    )
    assert got["facilities"] == [i]  # a focused facility's bands at any zoom
    n_bands = page.evaluate("() => window.planner.layers.facilityBands[0].getLayers().length")
    assert n_bands == sum(b["f"] == i for b in maps.band_data(a)) > 0
    reached = a.coverage.loc[a.coverage["facility_id"] == fid, "poi_id"]
    assert got["pois"] == int(a.pois["poi_id"].isin(reached).sum())
    # the gap cells appear when their layer is switched on
    page.locator(".leaflet-control-layers-overlays label", has_text="服务缺口 Gaps").click()
    cells = page.evaluate("() => window.planner.layers.gaps.getLayers().length")
    assert cells == len(maps.gap_data(a)["cells"]) > 0
    name = "<img src=x onerror=alert(1)>${alert(2)}"
    page.evaluate("() => window.planner.focus(null)")  # search looks at the POIs drawn
    hits = page.evaluate("(q) => window.planner.search(q).map((h) => h.label)", "onerror")
    assert len(hits) == 1 and hits[0].startswith(f"{name} · 最近 nearest ")  # plain text
    # on a canvas a POI's tooltip is bound when first needed (hover, search): escaped text
    before, tip = page.evaluate(
        """() => {
          for (const g of Object.values(window.planner.layers.pois)) {
            for (const m of g.getLayers()) {
              if (m.plannerName.includes("onerror")) {
                const before = m.getTooltip() === undefined;
                return [before, window.planner.tip(m).getContent()];
              }
            }
          }
        }"""
    )
    assert before and tip.startswith(maps.esc(name) + "<br>")
    assert np.isfinite(a.pois["lon"]).all()
    page.wait_for_timeout(200)
    assert op.dialogs == [] and op.problems == {}

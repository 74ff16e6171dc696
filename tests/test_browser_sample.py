"""The real sample map in headless Chromium with all network blocked: layers, shift, safety."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import shapely

from planner import maps
from planner.crs import wgs84_to_gcj02
from planner.result import Result
from tests.browser import screenshot

pytestmark = pytest.mark.slow

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_TEMPLATE = "${alert(1)}"

_COUNT = """() => {
  const L_ = window.planner.layers;
  const n = (g) => g.getLayers().length;
  return {
    facilities: n(L_.facilities),
    bands: L_.facilityBands.reduce((a, g) => a + n(g), 0),
    pois: Object.values(L_.pois).reduce((a, g) => a + n(g), 0),
    streets: n(L_.streets),
  };
}"""


@pytest.fixture(scope="session")
def xss_map(sample_map_run: Result, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample map again, with two reached merchants renamed to hostile text."""
    an = copy.copy(sample_map_run)
    an.pois = an.pois.copy()
    reached = an.coverage.drop_duplicates("poi_id")["poi_id"].head(2).tolist()
    for poi_id, name in zip(reached, (XSS_IMG, XSS_TEMPLATE), strict=True):
        an.pois.loc[an.pois["poi_id"] == poi_id, "name"] = name
    path = tmp_path_factory.mktemp("xss") / "sample_xss.html"
    return maps.save_map(an, path)


def _expected(an: Result) -> dict[str, int]:
    geoms = an.isochrones.geometry
    return {
        "facilities": int(np.isfinite(an.entrances["lon"].astype(float)).sum()),
        "bands": int((geoms.notna() & ~geoms.is_empty).sum()),
        "pois": int(np.isfinite(an.pois["lon"].astype(float)).sum()),
    }


def test_sample_map_loads_offline_with_every_layer(
    sample_map_run: Result, offline_page, tmp_path: Path
) -> None:
    op = offline_page(sample_map_run.files["map"])
    page = op.page
    assert page.evaluate("typeof window.L") == "object"
    counts = page.evaluate(_COUNT)
    expected = _expected(sample_map_run)
    assert {k: counts[k] for k in expected} == expected
    assert counts["streets"] > 0
    # under 2,000 POIs each one is an SVG path in the POI pane
    assert page.locator(".leaflet-plannerPois-pane path").count() == expected["pois"]
    assert page.locator(".leaflet-plannerBands-pane path").count() == expected["bands"]
    assert page.locator(".leaflet-control-scale").count() == 1
    assert page.locator(".leaflet-control-zoom-fullscreen").count() == 1
    assert page.locator(".leaflet-control-measure").count() == 1
    panel = page.locator(".planner-panel").text_content()
    assert "图例 Legend" in panel and "© OpenStreetMap contributors" in panel
    assert "TIANDITU_KEY" in panel
    shot = screenshot(page, tmp_path, "sample_map_screenshot.png")
    assert shot.stat().st_size > 20_000
    assert op.problems == {}


def test_plugins_and_popups_work_without_jquery(sample_map_run: Result, offline_page) -> None:
    """No jQuery or markercluster on the page; full screen, measuring and popups still work."""
    op = offline_page(sample_map_run.files["map"])
    page = op.page
    assert page.evaluate("typeof window.jQuery + typeof window.$") == "undefinedundefined"
    assert page.evaluate("typeof L.markerClusterGroup") == "undefined"
    assert page.evaluate("typeof plannerInit") == "function"  # planner.js, inlined
    page.locator(".leaflet-control-zoom-fullscreen").click()
    page.wait_for_timeout(200)
    assert page.evaluate("!!document.fullscreenElement") is True
    page.locator(".leaflet-control-zoom-fullscreen").click()
    page.wait_for_timeout(200)
    assert page.evaluate("!!document.fullscreenElement") is False
    # measure a line across the map: leaflet-measure shows its distance in a popup
    page.locator(".leaflet-control-measure").hover()
    page.locator(".leaflet-control-measure .js-start").click()
    page.mouse.click(700, 650)
    page.mouse.click(900, 650)
    assert "Path distance" in page.locator(".leaflet-control-measure .js-results").inner_text()
    # (at 1200x800 the expanded control runs under the panel: click the link directly)
    page.locator(".leaflet-control-measure .js-finish").dispatch_event("click")
    assert "Linear measurement" in page.locator(".leaflet-popup-content").inner_text()
    page.locator(".leaflet-popup-close-button").click()
    # a facility's popup opens on click (bound by planner.js with Leaflet, not folium/jQuery)
    page.evaluate("() => { window.planner.layers.facilities.getLayers()[0].fire('click'); }")
    popup = page.locator(".leaflet-popup-content", has_text="Reached, nearest first")
    assert popup.count() == 1 and "分钟 min" in popup.inner_text()
    assert op.problems == {}


def test_toggling_layers_hides_them(sample_map_run: Result, offline_page) -> None:
    op = offline_page(sample_map_run.files["map"])
    page = op.page
    before = page.locator(".leaflet-plannerPois-pane path").count()
    group = page.locator(".leaflet-control-layers-overlays label", has_text="商业楼宇")
    n_group = int(group.inner_text().split("(")[-1].rstrip(") \n"))
    group.locator("input").uncheck()
    assert page.locator(".leaflet-plannerPois-pane path").count() == before - n_group
    group.locator("input").check()
    assert page.locator(".leaflet-plannerPois-pane path").count() == before

    iso = sample_map_run.isochrones
    n15 = int(((iso["band_min"] == 15) & ~iso.geometry.is_empty).sum())
    bands_before = page.evaluate(_COUNT)["bands"]
    band = page.locator(".leaflet-control-layers-overlays label", has_text="Band ≤15 ")
    band.locator("input").uncheck()
    assert page.evaluate(_COUNT)["bands"] == bands_before - n15
    band.locator("input").check()
    assert page.evaluate(_COUNT)["bands"] == bands_before

    fac_id = sample_map_run.facilities["facility_id"].iloc[0]
    fac = page.locator(".leaflet-control-layers-overlays label", has_text=f"Bands: {fac_id} ")
    fac.locator("input").uncheck()
    has = "(i) => window.planner.map.hasLayer(window.planner.layers.facilityBands[i])"
    assert page.evaluate(has, 0) is False
    assert page.evaluate(has, 1) is True
    assert op.problems == {}


_FIRST_FACILITY = """() => {
  const l = window.planner.layers.facilities.getLayers()[0].getLatLng();
  return [l.lng, l.lat];
}"""


def test_amap_base_layer_shifts_overlays_to_gcj02(sample_map_run: Result, offline_page) -> None:
    op = offline_page(sample_map_run.files["map"])
    page = op.page
    lon, lat = page.evaluate(_FIRST_FACILITY)
    page.locator(".leaflet-control-layers-base label", has_text="Amap").locator("input").check()
    assert page.evaluate("window.planner.mode()") == "gcj"
    glon, glat = page.evaluate(_FIRST_FACILITY)
    elon, elat = wgs84_to_gcj02(np.array([lon]), np.array([lat]))
    dx = (glon - elon[0]) * 111_320 * np.cos(np.radians(lat))
    dy = (glat - elat[0]) * 110_574
    assert np.hypot(dx, dy) < 1.0
    moved = np.hypot((glon - lon) * 111_320, (glat - lat) * 110_574)
    assert moved > 100  # really moved (~500 m here)
    counts = page.evaluate(_COUNT)
    expected = _expected(sample_map_run)
    assert {k: counts[k] for k in expected} == expected
    assert "GCJ-02" in page.locator("#planner-crs").inner_text()
    page.locator(".leaflet-control-layers-base label", has_text="No tiles").locator("input").check()
    assert page.evaluate(_FIRST_FACILITY) == [lon, lat]
    assert "WGS-84" in page.locator("#planner-crs").inner_text()
    # Amap tiles were requested and blocked (offline); nothing else went wrong
    assert op.blocked_requests and all("autonavi.com" in u for u in op.blocked_requests)
    assert all("ERR_BLOCKED_BY_CLIENT" in e for e in op.console_errors)
    op.blocked_requests.clear()
    op.console_errors.clear()
    assert op.problems == {}


def test_hostile_names_show_as_text(xss_map: Path, offline_page) -> None:
    op = offline_page(xss_map)
    page = op.page
    for name in (XSS_IMG, XSS_TEMPLATE):
        text = page.evaluate(
            """(name) => {
              for (const g of Object.values(window.planner.layers.pois)) {
                for (const m of g.getLayers()) {
                  const el = document.createElement("div");
                  el.innerHTML = m.getTooltip().getContent();
                  if (el.textContent.startsWith(name)) { m.openTooltip(); return el.textContent; }
                }
              }
              return null;
            }""",
            name,
        )
        assert text is not None and text.startswith(name)
        assert page.locator(".leaflet-tooltip", has_text=name).count() == 1
    page.evaluate(
        """() => { for (const m of window.planner.layers.facilities.getLayers()) {
             if (m.getPopup().getContent().includes("onerror")) { m.openPopup(); return; } } }"""
    )
    popup = page.locator(".leaflet-popup-content").inner_text()
    assert XSS_IMG in popup
    assert page.locator('img[src="x"]').count() == 0
    page.wait_for_timeout(200)
    assert op.dialogs == []
    assert op.problems == {}


_PIECES = """() => {
  const g = window.planner.layers.pieces, m = window.planner.map;
  const layers = g.getLayers();
  const first = layers.find((l) => l.plannerPiece !== undefined).getLatLngs().flat(2)[0];
  return {
    on: m.hasLayer(g),
    drawn: layers.filter((l) => m.hasLayer(l)).length,
    pieces: layers.filter((l) => l.plannerPiece !== undefined).length,
    legs: layers.filter((l) => l.plannerLeg).length,
    first: [first.lng, first.lat],
  };
}"""

_FLAGGED_POI_TIPS = """() => {
  const out = [];
  for (const g of Object.values(window.planner.layers.pois)) {
    for (const m of g.getLayers()) {
      const tip = m.getTooltip().getContent();
      if (tip.includes("nearest street is disconnected")) { out.push(tip); }
    }
  }
  return out;
}"""


def test_disconnected_pieces_overlay_shows_and_toggles(
    sample_map_run: Result, offline_page
) -> None:
    op = offline_page(sample_map_run.files["map"])
    page = op.page
    an, network = sample_map_run, sample_map_run.network
    d = an.summary["disconnected_pieces"]
    n_pieces = len(set(network.dropped_piece.tolist()))
    n_legs = d["pois"]["affected"] + d["facility_rows"]["affected"]
    assert n_pieces > 0 and n_legs > 0
    label = page.locator(".leaflet-control-layers-overlays label", has_text="Disconnected street")
    assert label.count() == 1
    assert "断开的路段" in label.inner_text() and f"({d['pieces']})" in label.inner_text()
    state = page.evaluate(_PIECES)
    assert (state["on"], state["pieces"], state["legs"]) == (True, n_pieces, n_legs)
    assert state["drawn"] == n_pieces + n_legs
    label.locator("input").uncheck()
    state = page.evaluate(_PIECES)
    assert state["on"] is False and state["drawn"] == 0
    label.locator("input").check()
    assert page.evaluate(_PIECES)["drawn"] == n_pieces + n_legs
    # every POI snapped past a piece says so in its tooltip, with its extra metres
    tips = page.evaluate(_FLAGGED_POI_TIPS)
    flagged = an.pois[an.pois["skipped_extra_m"].notna()]
    assert len(tips) == len(flagged)
    worst = float(flagged["skipped_extra_m"].max())
    assert any(f"+{worst:.0f} m" in t and f"多走 {worst:.0f} 米" in t for t in tips)
    # the pieces follow the overlays into GCJ-02 and back
    before = state["first"]
    page.locator(".leaflet-control-layers-base label", has_text="Amap").locator("input").check()
    moved = page.evaluate(_PIECES)
    assert moved["drawn"] == n_pieces + n_legs
    shift = np.hypot(
        (moved["first"][0] - before[0]) * 111_320 * np.cos(np.radians(before[1])),
        (moved["first"][1] - before[1]) * 110_574,
    )
    assert shift > 100
    page.locator(".leaflet-control-layers-base label", has_text="No tiles").locator("input").check()
    assert page.evaluate(_PIECES)["first"] == before
    assert all("autonavi.com" in u for u in op.blocked_requests)
    assert all("ERR_BLOCKED_BY_CLIENT" in e for e in op.console_errors)
    op.blocked_requests.clear()
    op.console_errors.clear()
    assert op.problems == {}


def test_gap_cells_drawn_where_gaps_geojson_has_them(sample_map_run, offline_page) -> None:
    """Gap cells are sent as lattice positions and drawn through a fitted quadratic: every
    drawn corner lies within 0.2 m of a corner of the same cell in gaps.geojson."""
    import geopandas as gpd
    import numpy as np

    op = offline_page(sample_map_run.files["map"])
    drawn = op.page.evaluate(
        """() => { var g = window.planner.layers.gaps; window.planner.map.addLayer(g);
        var out = []; g.eachLayer(function (l) {
          var id = l.getTooltip().getContent().match(/Gap cell (E\\d+N\\d+)/)[1];
          l.getLatLngs()[0].forEach(function (p) { out.push([id, p.lng, p.lat]); }); });
        return out; }"""
    )
    cells = gpd.read_file(sample_map_run.files["gaps"]).set_index("cell_id")
    assert len({d[0] for d in drawn}) == len(cells) > 0
    worst = 0.0
    for cid, lon, lat in drawn:
        xy = np.asarray(cells.loc[cid].geometry.exterior.coords)[:, :2]
        near = np.hypot((xy[:, 0] - lon) * 102_000, (xy[:, 1] - lat) * 110_600).min()
        worst = max(worst, float(near))
    assert worst < 0.2, worst
    assert not op.console_errors and not op.blocked_requests


# --------------------------------------------------------------------------- layers added later
_CONTROL = """() => Array.from(
  document.querySelectorAll('.leaflet-control-layers-overlays label span'),
  (s) => s.textContent.trim())"""


def test_compare_map_draws_offline_with_its_changes_layer(
    sample_map_run: Result, offline_page, tmp_path: Path
) -> None:
    """`planner compare`'s map: the proposal's layers plus the gained and lost merchants.

    The changes group is added to the map after `build_map` (and so after its layer control
    and the page's init call): the page must still draw, with the group in the control.
    """
    import planner
    from planner.offline import save_offline
    from planner.proposals import GAINED_COLOUR, LOST_COLOUR, compare, compare_map
    from planner.style import PROPOSAL_COLOUR

    # F01 closes; a footbridge over Shennan Boulevard (both ends on walkable streets)
    bridge = shapely.LineString([(113.9420, 22.5465), (113.9420, 22.5485)])
    proposal = planner.Proposal("close-F01", close=["F01"], links={"新天桥 footbridge": bridge})
    other = planner.apply_proposal(sample_map_run, proposal)
    by_poi = compare(sample_map_run, other)[1]
    n_gained = int((by_poi["change"] == "gained").sum())
    n_lost = int((by_poi["change"] == "lost").sum())
    assert n_lost > 0  # F01 alone reaches some merchants: the layer has markers to draw
    path = save_offline(compare_map(sample_map_run, other, proposal), tmp_path / "compare.html")
    op = offline_page(path)
    assert op.problems == {}
    labels = op.page.evaluate(_CONTROL)
    assert f"变化 Changes: 新覆盖 gained {n_gained} / 失去 lost {n_lost}" in labels
    assert "街道 Streets (walk network)" in labels  # the planner's own layers are there too
    assert (
        "方案 Proposal close-F01: 新通道 links 1 · 关闭 closed 1 · 迁移 moved 0 · 新增 added 0"
        in labels
    )
    counts = op.page.evaluate(_COUNT)
    assert counts["facilities"] == _expected(other)["facilities"] and counts["streets"] > 0
    # the changes: one circle per changed merchant, in the lost / gained colours; the
    # proposal: the bridge as a line, a ring where F01's one entrance was
    drawn = op.page.evaluate(
        """(colours) => { const n = {changes: 0, rings: 0, lines: 0};
           window.planner.map.eachLayer((l) => {
             const c = l.options && l.options.color;
             if (l instanceof L.CircleMarker && colours.changes.includes(c)) n.changes += 1;
             if (l instanceof L.CircleMarker && c === colours.proposal) n.rings += 1;
             if (l instanceof L.Polyline && !(l instanceof L.Polygon) && c === colours.proposal)
               n.lines += 1; });
           return n; }""",
        {"changes": [GAINED_COLOUR, LOST_COLOUR], "proposal": PROPOSAL_COLOUR},
    )
    assert drawn == {"changes": n_gained + n_lost, "rings": 1, "lines": 1}
    screenshot(op.page, tmp_path, "compare_close_f01.png")


def test_a_layer_added_after_build_map_is_drawn_and_listed(
    sample_map_run: Result, offline_page, tmp_path: Path
) -> None:
    """A notebook user adds a layer to `build_map`'s map, as folium's examples do."""
    import folium

    from planner.offline import save_offline

    m = maps.build_map(sample_map_run)
    lon, lat = (float(v) for v in sample_map_run.entrances[["lon", "lat"]].iloc[0])
    mine = folium.FeatureGroup(name="我的图层 My layer")
    folium.Marker((lat, lon), tooltip="mine").add_to(mine)
    mine.add_to(m)
    op = offline_page(save_offline(m, tmp_path / "mine.html"))
    assert op.problems == {}
    assert "我的图层 My layer" in op.page.evaluate(_CONTROL)
    assert op.page.evaluate("document.querySelectorAll('.leaflet-marker-icon').length") == 1
    assert op.page.evaluate(_COUNT)["streets"] > 0


def test_notebook_view_draws_offline(sample_map_run: Result, offline_page, tmp_path: Path) -> None:
    """The map as Jupyter shows it (``_repr_html_``: an iframe) draws with the network off."""
    m = maps.build_map(sample_map_run)
    page = tmp_path / "notebook_cell.html"
    page.write_text(f"<!DOCTYPE html><html><body>{m._repr_html_()}</body></html>", "utf-8")
    op = offline_page(page)
    assert op.problems == {}
    (frame,) = [f for f in op.page.frames if f != op.page.main_frame]
    counts = frame.evaluate(_COUNT)
    expected = _expected(sample_map_run)
    assert counts["facilities"] == expected["facilities"] and counts["pois"] == expected["pois"]
    assert counts["bands"] == expected["bands"] and counts["streets"] > 0
    screenshot(op.page, tmp_path, "notebook_cell.png")


def test_a_long_facility_name_does_not_widen_the_layer_list_over_the_map(
    sample_map_run: Result, offline_page, tmp_path: Path
) -> None:
    """A party-mass service centre's full name is long: its layer's label wraps."""
    long_name = (
        "普宁国际商品城党群服务中心（外卖小哥驿站、快递员之家、直播电商孵化基地综合服务点）"
        "Puning International Commodity City Party-Mass Service Centre with riders' rest station"
    )
    an = copy.copy(sample_map_run)
    an.facilities = an.facilities.copy()
    an.facilities.loc[an.facilities["facility_id"] == "F01", "name"] = long_name
    op = offline_page(maps.save_map(an, tmp_path / "long.html"))  # 1200 x 800
    assert op.problems == {}
    box = op.page.evaluate(
        """() => { const el = document.querySelector('.leaflet-control-layers-expanded');
                   const r = el.getBoundingClientRect(); return {width: r.width};}"""
    )
    assert box["width"] <= 520 + 20  # max-width, plus its padding and border
    assert long_name in " ".join(op.page.evaluate(_CONTROL))  # the whole name, wrapped
    screenshot(op.page, tmp_path, "long_facility_name.png")


_LAYERS_ADDED_LATER = """(colour) => { const out = [];
  window.planner.map.eachLayer((l) => {
    if (l.options && l.options.color === colour && l.getLatLng) {
      const p = l.getLatLng(); out.push([p.lng, p.lat]); } });
  return out.sort(); }"""


def test_amap_shifts_the_layers_added_after_build_map_too(
    sample_map_run: Result, offline_page, tmp_path: Path
) -> None:
    """Gained/lost rings, the proposal's marks and a user's marker follow the Amap shift."""
    import folium

    import planner
    from planner.offline import save_offline
    from planner.proposals import LOST_COLOUR, compare_map

    proposal = planner.Proposal("close-F01", close=["F01"])
    m = compare_map(sample_map_run, planner.apply_proposal(sample_map_run, proposal), proposal)
    lon, lat = (float(v) for v in sample_map_run.entrances[["lon", "lat"]].iloc[0])
    folium.Marker((lat, lon), tooltip="mine").add_to(m)  # straight on the map, no group
    op = offline_page(save_offline(m, tmp_path / "compare.html"))
    page = op.page
    lost = page.evaluate(_LAYERS_ADDED_LATER, LOST_COLOUR)
    marker = page.evaluate(
        "() => { let p; window.planner.map.eachLayer((l) => { "
        "if (l instanceof L.Marker) p = l.getLatLng(); }); return [p.lng, p.lat]; }"
    )
    assert len(lost) > 0
    page.locator(".leaflet-control-layers-base label", has_text="Amap").locator("input").check()
    shifted = page.evaluate(_LAYERS_ADDED_LATER, LOST_COLOUR)
    moved_marker = page.evaluate(
        "() => { let p; window.planner.map.eachLayer((l) => { "
        "if (l instanceof L.Marker) p = l.getLatLng(); }); return [p.lng, p.lat]; }"
    )
    for (x, y), (gx, gy) in zip([*lost, marker], [*shifted, moved_marker], strict=True):
        ex, ey = wgs84_to_gcj02(np.array([x]), np.array([y]))
        off = np.hypot((gx - ex[0]) * 111_320 * np.cos(np.radians(y)), (gy - ey[0]) * 110_574)
        assert off < 1.0 and np.hypot((gx - x) * 111_320, (gy - y) * 110_574) > 100
    # hide the changes, come back to WGS-84, show them again: where they were, exactly
    changes = page.locator(".leaflet-control-layers-overlays label", has_text="Changes")
    changes.locator("input").uncheck()
    page.locator(".leaflet-control-layers-base label", has_text="No tiles").locator("input").check()
    changes.locator("input").check()
    assert page.evaluate(_LAYERS_ADDED_LATER, LOST_COLOUR) == lost
    op.blocked_requests.clear()
    op.console_errors.clear()
    assert op.problems == {}

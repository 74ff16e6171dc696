"""The sample map on a phone and a desktop screen, focus on one facility, search, Tianditu.

Headless Chromium with all network blocked (tests/browser.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser

from planner import maps
from planner.crs import wgs84_to_gcj02
from planner.result import Result
from tests.browser import OfflinePage, open_offline, screenshot

pytestmark = pytest.mark.slow

PHONE = (390, 844)
DESKTOP = (1400, 900)

#: Share of the viewport not covered by the layer control and the panel (union of boxes).
_MAP_SHARE = """() => {
  const vw = window.innerWidth, vh = window.innerHeight;
  const clip = (r) => {
    const x0 = Math.max(0, r.left), y0 = Math.max(0, r.top);
    const x1 = Math.min(vw, r.right), y1 = Math.min(vh, r.bottom);
    return x1 > x0 && y1 > y0 ? [x0, y0, x1, y1] : null;
  };
  const boxes = [".leaflet-control-layers", ".planner-panel-box"]
    .map((s) => clip(document.querySelector(s).getBoundingClientRect())).filter((b) => b);
  const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);
  let covered = boxes.reduce((a, b) => a + area(b), 0);
  if (boxes.length === 2) {
    const [a, b] = boxes;
    const i = [Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]),
      Math.min(a[3], b[3])];
    if (i[2] > i[0] && i[3] > i[1]) { covered -= area(i); }
  }
  const m = document.querySelector(".folium-map").getBoundingClientRect();
  return {share: 1 - covered / (vw * vh), mapW: m.width, mapH: m.height};
}"""

_FIRST_FACILITY = """() => {
  const l = window.planner.layers.facilities.getLayers()[0].getLatLng();
  return [l.lng, l.lat];
}"""


@pytest.fixture
def open_at(chromium_browser: Browser) -> Iterator[Callable[[Path, tuple[int, int]], OfflinePage]]:
    """Return ``open(path, (width, height)) -> OfflinePage`` at that viewport size."""
    contexts = []

    def open_(path: Path, size: tuple[int, int]) -> OfflinePage:
        context = chromium_browser.new_context(
            viewport={"width": size[0], "height": size[1]}, service_workers="block"
        )
        contexts.append(context)
        return open_offline(context, path)

    yield open_
    for context in contexts:
        context.close()


def _visible(page, selector: str) -> bool:
    return page.locator(selector).first.is_visible()


def _list_open(page) -> bool:
    return page.evaluate(
        "document.querySelector('.leaflet-control-layers')"
        ".classList.contains('leaflet-control-layers-expanded')"
    )


def test_phone_starts_collapsed_and_every_control_opens_and_closes(
    sample_map_run: Result, open_at, tmp_path: Path
) -> None:
    op = open_at(sample_map_run.files["map"], PHONE)
    page = op.page
    html = Path(sample_map_run.files["map"]).read_text(encoding="utf-8")
    assert "width=device-width, initial-scale=1" in html
    assert _list_open(page) is False and not _visible(page, ".leaflet-control-layers-list")
    assert not _visible(page, ".planner-panel")
    m = page.evaluate(_MAP_SHARE)
    assert m["share"] >= 0.70, m
    assert (m["mapW"], m["mapH"]) == PHONE  # the map fills the screen
    screenshot(page, tmp_path, "phone_390x844.png")
    # touch targets
    for sel in (
        ".leaflet-control-zoom-in",
        ".leaflet-control-zoom-out",
        ".leaflet-control-zoom-fullscreen",
        ".leaflet-control-layers-toggle",
        ".planner-toggle",
    ):
        box = page.locator(sel).first.bounding_box()
        assert box and box["width"] >= 44 and box["height"] >= 44, (sel, box)
    # the layer list: button opens, close button / a tap outside closes
    page.locator(".leaflet-control-layers-toggle").click()
    assert _list_open(page) and _visible(page, ".leaflet-control-layers-list")
    assert page.locator(".leaflet-control-layers-base label", has_text="No tiles").is_visible()
    page.locator(".planner-close").click()
    assert _list_open(page) is False
    page.locator(".leaflet-control-layers-toggle").click()
    assert _list_open(page)
    page.mouse.click(250, 720)  # the map, below the list
    assert _list_open(page) is False
    # the panel: its button opens and closes it; text readable without zooming
    page.locator(".planner-toggle").click()
    assert _visible(page, ".planner-panel")
    size = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('.planner-panel')).fontSize)"
    )
    assert size >= 14
    box = page.locator("#planner-focus").bounding_box()
    assert box and box["height"] >= 44
    screenshot(page, tmp_path, "phone_390x844_panel.png")
    page.locator(".planner-toggle").click()
    assert not _visible(page, ".planner-panel")
    assert op.problems == {}


def test_desktop_layout_unchanged(sample_map_run: Result, open_at, tmp_path: Path) -> None:
    op = open_at(sample_map_run.files["map"], DESKTOP)
    page = op.page
    assert _list_open(page) and _visible(page, ".leaflet-control-layers-list")
    assert _visible(page, ".planner-panel") and not _visible(page, ".planner-close")
    page.mouse.click(900, 450)
    assert _list_open(page)  # not collapsible on a desktop
    screenshot(page, tmp_path, "desktop_1400x900.png")
    assert op.problems == {}


_SHOWN = """() => {
  const P = window.planner, out = {bands: [], pois: []};
  P.layers.facilityBands.forEach((g) => out.bands.push(g.getLayers().length));
  Object.values(P.layers.pois).forEach((g) => g.eachLayer((m) => out.pois.push(m.plannerPoi)));
  out.counts = Array.from(document.querySelectorAll(".planner-count b"))
    .map((b) => Number(b.textContent));
  return out;
}"""


def test_focus_on_one_facility(sample_map_run: Result, open_at) -> None:
    an = sample_map_run
    op = open_at(an.files["map"], DESKTOP)
    page = op.page
    before = page.evaluate(_SHOWN)
    fac_ids = list(an.facilities["facility_id"])
    k = fac_ids.index("F02")
    page.select_option("#planner-focus", str(k))
    shown = page.evaluate(_SHOWN)
    iso = an.isochrones
    n_bands = int(((iso["facility_id"] == "F02") & ~iso.geometry.is_empty).sum())
    assert shown["bands"][k] == n_bands > 0
    assert sum(shown["bands"]) == n_bands  # the other facilities' bands are hidden
    cov = an.coverage[an.coverage["facility_id"] == "F02"]
    pois = an.pois["poi_id"].to_numpy()
    assert {pois[i] for i in shown["pois"]} == set(cov["poi_id"])
    assert len(shown["pois"]) == len(cov)
    per_band = cov.groupby("band_min").size()
    assert shown["counts"] == [int(per_band.get(b, 0)) for b in an.settings.bands_min]
    # "All" restores the normal view
    page.select_option("#planner-focus", "")
    assert page.evaluate(_SHOWN) == before
    # tapping a facility's marker focuses it; tapping it again returns to all
    fire = """(i) => window.planner.layers.facilities.getLayers()
      .find((m) => m.plannerFacility === i).fire("click") && null"""
    page.evaluate(fire, k)
    assert page.evaluate("window.planner.focused()") == k
    assert page.locator("#planner-focus").input_value() == str(k)
    page.evaluate(fire, k)
    assert page.evaluate("window.planner.focused()") is None
    assert page.evaluate(_SHOWN) == before
    assert op.problems == {}


def test_search_finds_by_name_and_zooms(sample_map_run: Result, open_at) -> None:
    an = sample_map_run
    op = open_at(an.files["map"], PHONE)
    page = op.page
    page.locator(".planner-toggle").click()
    page.fill("#planner-search", "地铁")
    hits = page.locator("#planner-hits .planner-hit").all_inner_texts()
    facs = an.facilities[an.facilities["name"].str.contains("地铁")]
    pois = an.pois[an.pois["name"].fillna("").str.contains("地铁") & an.pois["lon"].notna()]
    assert len(facs) > 0
    assert len(hits) == min(20, len(facs) + len(pois))
    assert all("地铁" in h for h in hits)
    for fid in facs["facility_id"]:
        assert any(h.startswith(f"{fid} ") for h in hits)
    # a merchant by part of its English name, any case: the map zooms to it
    named = an.pois[an.pois["name"].fillna("").str.fullmatch(r"[A-Za-z][A-Za-z ]{5,}")]
    row = named[named["lon"].notna()].iloc[0]
    part = row["name"][1:6].swapcase()
    page.fill("#planner-search", part)
    page.locator("#planner-hits .planner-hit", has_text=row["name"]).first.click()
    lat, lon = page.evaluate(
        "(() => { const c = window.planner.map.getCenter(); return [c.lat, c.lng]; })()"
    )
    dist = np.hypot(
        (lon - row["lon"]) * 111_320 * np.cos(np.radians(lat)), (lat - row["lat"]) * 110_574
    )
    assert dist < 20, dist
    assert page.locator(".leaflet-tooltip", has_text=row["name"]).count() >= 1
    assert op.problems == {}


def test_tianditu_base_layer_keeps_overlays_in_wgs84(
    sample_map_run: Result, open_at, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIANDITU_KEY", "0123456789abcdef0123456789abcdef")
    path = maps.save_map(sample_map_run, tmp_path / "tianditu.html")
    op = open_at(path, DESKTOP)
    page = op.page
    base = page.locator(".leaflet-control-layers-base label")
    lon, lat = page.evaluate(_FIRST_FACILITY)
    base.filter(has_text="Tianditu").locator("input").check()
    assert page.evaluate("window.planner.mode()") == "wgs"
    tlon, tlat = page.evaluate(_FIRST_FACILITY)
    assert np.hypot((tlon - lon) * 111_320 * np.cos(np.radians(lat)), (tlat - lat) * 110_574) < 1.0
    assert "WGS-84" in page.locator("#planner-crs").inner_text()
    base.filter(has_text="Amap").locator("input").check()
    glon, glat = page.evaluate(_FIRST_FACILITY)
    elon, elat = wgs84_to_gcj02(np.array([lon]), np.array([lat]))
    assert (
        np.hypot((glon - elon[0]) * 111_320 * np.cos(np.radians(lat)), (glat - elat[0]) * 110_574)
        < 1.0
    )
    base.filter(has_text="No tiles").locator("input").check()
    assert page.evaluate(_FIRST_FACILITY) == [lon, lat]
    # the tiles were asked for and blocked (offline); nothing else went wrong
    hosts = ("tianditu.gov.cn", "autonavi.com")
    assert any("tianditu.gov.cn" in u for u in op.blocked_requests)
    assert all(any(h in u for h in hosts) for u in op.blocked_requests)
    assert all("ERR_BLOCKED_BY_CLIENT" in e for e in op.console_errors)
    op.blocked_requests.clear()
    op.console_errors.clear()
    assert op.problems == {}

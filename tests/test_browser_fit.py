"""Nothing the map shows starts under its panels, and popups and tooltips fit the screen.

Headless Chromium with all network blocked (tests/browser.py), at a phone (touch), a
desktop and a laptop size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from planner.result import Result
from tests.browser import OfflinePage, open_offline, screenshot

pytestmark = pytest.mark.slow

PHONE = (390, 844)
DESKTOP = (1400, 900)
LAPTOP = (1280, 720)

#: Boxes (left, top, right, bottom) of the visible elements matching a selector.
_BOXES = """(sel) => Array.from(document.querySelectorAll(sel)).filter((e) => e.offsetWidth)
  .map((e) => e.getBoundingClientRect()).map((r) => [r.left, r.top, r.right, r.bottom])"""

#: Box of the open popup (a closed one may still be fading out).
_POPUP = """() => {
  const p = window.planner.map._popup, e = p && p.isOpen() ? p.getElement() : null;
  if (!e) { return null; }
  const w = e.querySelector(".leaflet-popup-content-wrapper").getBoundingClientRect();
  const c = e.querySelector(".leaflet-popup-close-button").getBoundingClientRect();
  return [[w.left, w.top, w.right, w.bottom], [c.left, c.top, c.right, c.bottom]];
}"""

#: Container points of every facility entrance marker.
_FACILITIES = """() => window.planner.layers.facilities.getLayers().map((m) => {
  const q = window.planner.map.latLngToContainerPoint(m.getLatLng());
  return [q.x, q.y, m.plannerFacility];
})"""

#: Container points of the merchant markers on screen.
_MERCHANTS = """() => {
  const pl = window.planner, out = [];
  Object.values(pl.layers.pois).forEach((g) => g.eachLayer((m) => {
    const q = pl.map.latLngToContainerPoint(m.getLatLng());
    if (q.x > 60 && q.y > 220 && q.x < innerWidth - 10 && q.y < innerHeight - 140) {
      out.push([q.x, q.y]);
    }
  }));
  return out;
}"""


@pytest.fixture
def open_at(chromium_browser: Browser) -> Iterator[Callable[..., OfflinePage]]:
    """Return ``open(path, (width, height), touch=False) -> OfflinePage``."""
    contexts = []

    def open_(path: Path, size: tuple[int, int], touch: bool = False) -> OfflinePage:
        context = chromium_browser.new_context(
            viewport={"width": size[0], "height": size[1]},
            is_mobile=touch,
            has_touch=touch,
            service_workers="block",
        )
        contexts.append(context)
        return open_offline(context, path)

    yield open_
    for context in contexts:
        context.close()


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]


def _inside(box: list[float], size: tuple[int, int]) -> bool:
    return box[0] >= 0 and box[1] >= 0 and box[2] <= size[0] and box[3] <= size[1]


@pytest.mark.parametrize("size", [DESKTOP, LAPTOP], ids=["desktop", "laptop"])
def test_opening_view_shows_every_facility_clear_of_the_panels(
    sample_map_run: Result, open_at, size: tuple[int, int], tmp_path: Path
) -> None:
    op = open_at(sample_map_run.files["map"], size)
    page = op.page
    panels = page.evaluate(_BOXES, ".leaflet-control-layers-expanded, .planner-panel-box")
    assert len(panels) == 2  # on these screens both start open
    points = page.evaluate(_FACILITIES)
    assert len(points) == len(sample_map_run.entrances)
    for x, y, i in points:
        assert 0 <= x <= size[0] and 0 <= y <= size[1], (x, y, i)
        assert not any(p[0] <= x <= p[2] and p[1] <= y <= p[3] for p in panels), (x, y, i)
        # what a click there reaches is the map, not a panel
        hit = page.evaluate(
            "([x, y]) => !!document.elementFromPoint(x, y).closest('.leaflet-control')", [x, y]
        )
        assert not hit, (x, y, i)
    screenshot(page, tmp_path, f"opening_{size[0]}x{size[1]}.png")
    assert op.problems == {}


def test_desktop_popup_opens_clear_of_the_panels(sample_map_run: Result, open_at) -> None:
    op = open_at(sample_map_run.files["map"], DESKTOP)
    page = op.page
    for _x, _y, i in page.evaluate(_FACILITIES):
        page.evaluate(
            "(i) => { window.planner.map.closePopup(); window.planner.layers.facilities"
            ".getLayers().find((m) => m.plannerFacility === i).openPopup(); return 0; }",
            i,
        )
        popup, _close = page.evaluate(_POPUP)
        panels = page.evaluate(
            _BOXES, ".leaflet-control-layers-expanded, .planner-panel-box, .leaflet-bar"
        )
        assert _inside(popup, DESKTOP), (i, popup)
        assert not any(_overlap(popup, p) for p in panels), (i, popup, panels)
    assert op.problems == {}


def test_phone_popup_and_tooltips_fit_the_screen(
    sample_map_run: Result, open_at, tmp_path: Path
) -> None:
    op = open_at(sample_map_run.files["map"], PHONE, touch=True)
    page = op.page
    tapped = set()
    for x, y, i in page.evaluate(_FACILITIES):
        if i in tapped:
            continue
        tapped.add(i)
        page.evaluate("() => { window.planner.map.closePopup(); return 0; }")
        page.wait_for_timeout(300)  # the closed popup fades out: a tap meanwhile lands on it
        page.evaluate("() => window.planner.focus(null) || 0")
        (x, y) = page.evaluate(
            "(i) => { const m = window.planner.layers.facilities.getLayers()"
            ".find((m) => m.plannerFacility === i); const q = window.planner.map"
            ".latLngToContainerPoint(m.getLatLng()); return [q.x, q.y]; }",
            i,
        )
        page.touchscreen.tap(x, y)
        page.wait_for_timeout(350)
        popup, close = page.evaluate(_POPUP)
        controls = page.evaluate(_BOXES, ".leaflet-top .leaflet-control")
        assert _inside(popup, PHONE) and _inside(close, PHONE), (i, popup, close)
        assert not any(_overlap(popup, c) for c in controls), (i, popup, controls)
        assert page.evaluate(_BOXES, ".leaflet-tooltip") == []  # the bar shows them instead
        assert page.evaluate(_BOXES, ".planner-tipbar") == []  # not with the popup
    screenshot(page, tmp_path, "phone_popup.png")
    page.evaluate("() => { window.planner.map.closePopup(); return 0; }")
    page.wait_for_timeout(300)
    merchants = page.evaluate(_MERCHANTS)
    assert len(merchants) >= 20
    checked = 0
    for x, y in merchants[:: max(1, len(merchants) // 24)]:
        page.evaluate("() => { window.planner.map.closePopup(); return 0; }")
        page.wait_for_timeout(250)
        on_top = page.evaluate(
            "([x, y]) => !!document.elementFromPoint(x, y).closest('.leaflet-plannerPois-pane')",
            [x, y],
        )
        if not on_top:  # a facility or the bar lies over this merchant
            continue
        page.touchscreen.tap(x, y)
        page.wait_for_timeout(150)
        if page.evaluate(_POPUP) is not None:  # the phone took the tap to a facility near it
            continue
        checked += 1
        last = (x, y)
        # the merchant's text, whole, in a bar across the screen, clear of the buttons and
        # of the point tapped
        (bar,) = page.evaluate(_BOXES, ".planner-tipbar")
        controls = page.evaluate(_BOXES, ".leaflet-control")
        assert _inside(bar, PHONE), ((x, y), bar)
        assert not any(_overlap(bar, c) for c in controls), ((x, y), bar, controls)
        assert not (bar[1] <= y <= bar[3]), ((x, y), bar)
        shown = page.evaluate("document.querySelector('.planner-tipbar-text').textContent")
        # a phone takes a tap to the nearest target: the merchant tapped or one beside it
        near = page.evaluate(
            "([x, y]) => { const pl = window.planner, out = [];"
            " Object.values(pl.layers.pois).forEach((g) => g.eachLayer((m) => {"
            " const q = pl.map.latLngToContainerPoint(m.getLatLng());"
            " if (Math.hypot(q.x - x, q.y - y) < 30) { const d = document.createElement('div');"
            " d.innerHTML = pl.tip(m).getContent(); out.push(d.textContent); }"
            " })); return out; }",
            [x, y],
        )
        assert shown and shown in near, (shown, near)
        assert page.evaluate(_BOXES, ".leaflet-tooltip") == []
    assert checked >= 8
    screenshot(page, tmp_path, "phone_merchant.png")
    # "×" closes the bar, and a tap on the merchant brings it back
    page.evaluate("() => { window.planner.map.closePopup(); return 0; }")
    page.wait_for_timeout(250)
    page.touchscreen.tap(*last)
    page.wait_for_timeout(150)
    assert len(page.evaluate(_BOXES, ".planner-tipbar")) == 1
    page.locator(".planner-tipbar-close").tap()
    assert page.evaluate(_BOXES, ".planner-tipbar") == []
    page.touchscreen.tap(*last)
    page.wait_for_timeout(150)
    assert len(page.evaluate(_BOXES, ".planner-tipbar")) == 1
    assert op.problems == {}


@pytest.mark.parametrize("base", ["No tiles", "Amap"])
def test_phone_legend_button_clear_of_the_attribution(
    sample_map_run: Result, open_at, base: str
) -> None:
    op = open_at(sample_map_run.files["map"], PHONE, touch=True)
    page = op.page
    if base != "No tiles":  # Amap's attribution is longer: two lines on a phone
        page.locator(".leaflet-control-layers-toggle").click()
        page.locator(".leaflet-control-layers-base label", has_text=base).locator("input").check()
        page.locator(".planner-close").click()
    (attribution,) = page.evaluate(_BOXES, ".leaflet-control-attribution")
    (button,) = page.evaluate(_BOXES, ".planner-toggle")
    assert not _overlap(button, attribution), (button, attribution)
    # every point of the button is the button: a tap on it never reaches a link
    for fx, fy in ((0.5, 0.5), (0.5, 0.95), (0.1, 0.9), (0.9, 0.9)):
        x = button[0] + fx * (button[2] - button[0])
        y = button[1] + fy * (button[3] - button[1])
        tag = page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).closest('.planner-toggle') !== null",
            [x, y],
        )
        assert tag, (base, fx, fy)
    # open, the legend stays above the attribution too
    page.locator(".planner-toggle").click()
    (panel,) = page.evaluate(_BOXES, ".planner-panel")
    assert not _overlap(panel, attribution), (panel, attribution)
    op.blocked_requests.clear()  # Amap's tiles, asked for and blocked
    op.console_errors.clear()
    assert op.problems == {}


def test_phone_search_hit_closes_the_panel_to_show_it(sample_map_run: Result, open_at) -> None:
    op = open_at(sample_map_run.files["map"], PHONE, touch=True)
    page = op.page
    page.locator(".planner-toggle").click()
    page.fill("#planner-search", "F04")
    page.locator("#planner-hits .planner-hit").first.click()
    assert not page.locator(".planner-panel").is_visible()
    popup, close = page.evaluate(_POPUP)
    assert _inside(popup, PHONE) and _inside(close, PHONE)
    assert op.problems == {}


def test_popups_and_tooltips_name_kinds_in_words(sample_map_run: Result, open_at) -> None:
    """A facility's role and a merchant's kind in Chinese then English, the tag after."""
    op = open_at(sample_map_run.files["map"], DESKTOP)
    page = op.page
    popup = page.evaluate("(i) => window.planner.popupHtml(i)", 1)  # F02, a metro station
    assert "交通枢纽 transit hub · 入口 entrances" in popup
    tips = page.evaluate(
        "() => { const out = []; const pl = window.planner;"
        " Object.values(pl.layers.pois).forEach((g) => g.eachLayer((m) => {"
        " out.push(pl.tip(m).getContent()); })); return out; }"
    )
    bank = [t for t in tips if "(amenity:bank)" in t]
    assert bank and all("金融 Banks &amp; ATMs <small>(amenity:bank)</small>" in t for t in bank)
    assert op.problems == {}


def test_phone_says_when_one_facility_is_shown_and_how_to_show_all(
    sample_map_run: Result, open_at
) -> None:
    op = open_at(sample_map_run.files["map"], PHONE, touch=True)
    page = op.page
    assert not page.locator(".planner-focusbar").is_visible()
    page.evaluate("() => window.planner.focus(1) || 0")  # as a tap on F02 does
    bar = page.locator(".planner-focusbar")
    assert bar.is_visible() and "仅显示 F02 的可达范围 Only F02's reach" in bar.inner_text()
    (box,) = page.evaluate(_BOXES, ".planner-focusbar")
    controls = page.evaluate(_BOXES, ".leaflet-control")
    assert _inside(box, PHONE) and not any(_overlap(box, c) for c in controls)
    page.locator(".planner-focusbar-all").tap()
    assert page.evaluate("window.planner.focused()") is None and not bar.is_visible()
    assert op.problems == {}


def test_search_hits_of_one_name_are_told_apart(sample_map_run: Result, open_at) -> None:
    an = sample_map_run
    op = open_at(an.files["map"], DESKTOP)
    page = op.page
    pois = an.pois[an.pois["lon"].notna() & (an.pois["name"].fillna("") != "")]
    name = pois["name"].value_counts().index[0]  # the commonest name (a bank's branches)
    same = pois[pois["name"] == name]
    assert len(same) >= 2
    page.fill("#planner-search", name)
    hits = [h for h in page.locator("#planner-hits .planner-hit").all_inner_texts()]
    mine = [h for h in hits if h.split(" · ")[0] == name]
    assert len(mine) == len(same)
    expected = sorted(
        f"{name} · 最近 nearest {f} {m:.1f} 分钟 min"
        for f, m in zip(same["nearest_facility_id"], same["minutes_to_nearest"], strict=True)
    )
    assert sorted(mine) == expected
    assert op.problems == {}

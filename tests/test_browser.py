"""Open offline maps in headless Chromium with the network blocked and check they work."""

from __future__ import annotations

import html
from pathlib import Path

import folium
from branca.element import MacroElement
from folium.plugins import Fullscreen, MeasureControl
from folium.template import Template

from planner.offline import inline_assets, save_offline
from tests.browser import screenshot

XSS = "<img src=x onerror=alert(1)>"
# folium writes tooltip/popup HTML into JS template literals: `${...}` would run and
# a backtick or backslash breaks the whole script, so html.escape alone is not enough.
JS_HOSTILE = "${alert(2)} `x` \\u"


def _esc(text: str) -> str:
    """Escape text for folium tooltips/popups (HTML and JS template literal)."""
    return html.escape(text).replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")


CENTER = (23.3405, 116.2205)  # Puning International Commodity City, Liusha


def _polygon(lon: float, lat: float, d: float) -> dict:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


class _LeafletPopup(MacroElement):
    """Bind a popup with Leaflet, as planner.js does (folium.Popup would need jQuery)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "{{ this._parent.get_name() }}.bindPopup({{ this.content|tojson }}, {maxWidth: 300});"
        "{% endmacro %}"
    )

    def __init__(self, content: str) -> None:
        super().__init__()
        self.content = content


def _demo_map() -> folium.Map:
    """Build a small planner-like map: every plugin we ship, no tiles."""
    lat, lon = CENTER
    # with tiles=None no layer sets maxZoom (max_zoom= is ignored then), so pass maxZoom
    m = folium.Map(location=CENTER, zoom_start=15, tiles=None, control_scale=True, maxZoom=19)
    circles = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": "A"}, "geometry": _polygon(lon, lat, 0.004)},
            {
                "type": "Feature",
                "properties": {"name": "B"},
                "geometry": _polygon(lon + 0.006, lat - 0.003, 0.002),
            },
        ],
    }
    folium.GeoJson(circles, name="15分钟生活圈", tooltip=folium.GeoJsonTooltip(["name"])).add_to(m)
    facilities = folium.FeatureGroup(name="便民设施").add_to(m)
    for i in range(3):
        folium.CircleMarker(
            [lat + 0.002 * i, lon - 0.006], radius=6, color="#c0392b", fill=True, tooltip=f"设施{i}"
        ).add_to(facilities)
    marker = folium.Marker([lat + 0.001, lon + 0.001], tooltip=html.escape(XSS)).add_to(m)
    _LeafletPopup(html.escape(XSS)).add_to(marker)
    folium.Marker(
        [lat - 0.001, lon + 0.003],
        icon=folium.DivIcon(html='<div class="planner-label">流沙</div>', icon_size=(40, 16)),
        tooltip=_esc(JS_HOSTILE),
    ).add_to(m)
    Fullscreen().add_to(m)
    MeasureControl(primary_length_unit="meters").add_to(m)
    folium.LayerControl().add_to(m)
    return m


def test_offline_map_works_without_network(offline_page, tmp_path: Path) -> None:
    path = save_offline(_demo_map(), tmp_path / "demo.html")
    op = offline_page(path)
    page = op.page

    assert page.evaluate("typeof window.L") == "object"
    assert page.evaluate("L.version") == "1.9.3"
    # jQuery and markercluster are not shipped: nothing on a planner map needs them
    assert page.evaluate("typeof window.jQuery + typeof window.$") == "undefinedundefined"
    assert page.evaluate("typeof L.markerClusterGroup") == "undefined"
    assert page.locator(".leaflet-control-scale").count() == 1
    assert page.locator(".leaflet-control-zoom-fullscreen").count() == 1
    assert page.locator(".leaflet-control-measure").count() == 1
    assert page.locator("path.leaflet-interactive").count() == 5  # 2 polygons + 3 circles
    assert page.locator("img.leaflet-marker-icon").count() == 1
    assert page.locator("img.leaflet-marker-icon").get_attribute("src").startswith("data:image/png")
    assert page.locator(".planner-label").inner_text() == "流沙"

    # Unchecking the GeoJson entry in the (collapsed) LayerControl removes its 2 paths.
    page.hover(".leaflet-control-layers")
    entry = page.locator(".leaflet-control-layers-overlays label", has_text="15分钟生活圈")
    entry.locator("input").uncheck()
    assert page.locator("path.leaflet-interactive").count() == 3
    entry.locator("input").check()
    assert page.locator("path.leaflet-interactive").count() == 5
    page.mouse.move(600, 400)

    # Escaped markup in tooltip and popup is displayed as text and never executed.
    marker = page.locator("img.leaflet-marker-icon")
    marker.hover()
    assert page.locator(".leaflet-tooltip", has_text="onerror").inner_text() == XSS
    marker.click()
    assert page.locator(".leaflet-popup-content").inner_text() == XSS
    assert page.locator('img[src="x"]').count() == 0
    page.locator(".planner-label").hover()
    assert page.locator(".leaflet-tooltip", has_text="alert(2)").inner_text() == JS_HOSTILE
    marker.hover()
    page.wait_for_timeout(200)

    shot = screenshot(page, tmp_path, "offline_demo_map.png")
    assert shot.stat().st_size > 5_000
    assert op.problems == {}


def test_harness_catches_network_xss_and_errors(offline_page, tmp_path: Path) -> None:
    # Guard against a vacuous pass: a page that misbehaves must show up in the logs.
    m = folium.Map(location=CENTER, zoom_start=15, tiles=None)
    page_html = inline_assets(m.get_root().render()).replace(
        "</body>",
        f'{XSS}<img src="https://example.com/tile.png">'
        "<script>console.error('boom'); undefinedFunction();</script></body>",
    )
    path = tmp_path / "bad.html"
    path.write_text(page_html, encoding="utf-8")
    op = offline_page(path)
    assert op.dialogs == ["alert: 1"]
    assert op.blocked_requests == ["https://example.com/tile.png"]
    assert any(r.startswith(path.with_name("x").as_uri()) for r in op.failed_requests)
    assert "boom" in op.console_errors
    assert any("undefinedFunction" in e for e in op.page_errors)


def test_crowfly_circles_are_drawn_only_around_entrances_a_walk_starts_from(
    offline_page, tmp_path: Path
) -> None:
    """F1 has an entrance on the street and one 450 m from every street (too far to snap):
    the map's crow-fly layer has one circle per band for the first only, as the table."""
    from planner import analyse
    from planner.maps import save_map
    from tests.handmade import make_network, points

    network = make_network({0: (0.0, 50.0), 1: (1000.0, 50.0)}, [(0, 1)])
    facilities = points([("F1", 0.0, 50.0), ("F1", 0.0, 500.0)])
    result = analyse(network, facilities, points([("M1", 300.0, 50.0)]), bands_min=(5.0, 10.0))
    assert list(result.entrances["status"]) == ["ok", "too_far_from_network"]
    op = offline_page(save_map(result, tmp_path / "crowfly.html"))
    circles = op.page.evaluate(
        "window.planner.layers.crowfly.getLayers().map((c) => [c.getLatLng().lat, c.getRadius()])"
    )
    assert len(circles) == 2  # one entrance x two bands
    assert sorted(round(r) for _, r in circles) == [375, 750]
    assert op.problems == {}

"""Offline HTML: folium CDN assets are inlined and nothing external remains."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import folium
import pytest
from folium.plugins import Fullscreen, MarkerCluster, MeasureControl

from planner.offline import (
    OMITTED,
    OWN_FILES,
    STATIC_DIR,
    OfflineAssetError,
    external_urls,
    inline_assets,
    inline_own,
    save_offline,
)

CENTER = (23.3405, 116.2205)
ROOT = Path(__file__).resolve().parent.parent


def _map(**kwargs) -> folium.Map:
    """A folium map with what planner maps use: markers, tooltips, plugins, layer control."""
    m = folium.Map(location=CENTER, zoom_start=15, tiles=None, maxZoom=19, **kwargs)
    for i in range(5):
        folium.Marker([CENTER[0] + 1e-4 * i, CENTER[1]], tooltip=f"商铺{i}").add_to(m)
    folium.CircleMarker(CENTER, radius=5, tooltip="<b>设施</b>").add_to(m)
    folium.Marker(CENTER, icon=folium.DivIcon(html="<div>流沙</div>")).add_to(m)
    Fullscreen().add_to(m)
    MeasureControl().add_to(m)
    folium.LayerControl().add_to(m)
    return m


def test_folium_output_is_online_only_before_inlining() -> None:
    urls = external_urls(_map().get_root().render())
    assert any("leaflet@1.9.3/dist/leaflet.js" in u for u in urls)
    assert any("jquery" in u for u in urls)
    assert any("leaflet-measure" in u for u in urls)


def test_save_offline_has_no_external_resources(tmp_path: Path) -> None:
    out = save_offline(_map(control_scale=True), tmp_path / "sub" / "map.html")
    assert out == tmp_path / "sub" / "map.html"
    text = out.read_text(encoding="utf-8")
    assert external_urls(text) == []
    assert not re.search(r"<script[^>]*\bsrc=", text)
    assert not re.search(r"<link[^>]*stylesheet", text)
    assert "cdn.jsdelivr.net" not in text and "cdnjs.cloudflare.com" not in text
    # the vendored libraries and their images are really there
    assert text.count("/* leaflet 1.9.3 (leaflet/leaflet.js") == 1
    # folium links jQuery by default; nothing here uses it, so it is left out
    assert "omitted jQuery 3.7.1" in text and "jQuery" not in text.replace("omitted jQuery", "")
    assert "data:image/png;base64," in text
    assert "data:image/svg+xml;base64," in text  # fullscreen icon
    # complete file, atomically written, no temp files left behind
    assert text.rstrip().endswith("</html>")
    assert text.count("<html") == 1
    assert "\\u6d41\\u6c99" in text  # 流沙, JSON-escaped by folium
    assert "商铺4" in text  # tooltips are written as raw UTF-8
    assert [p.name for p in out.parent.iterdir()] == ["map.html"]
    assert out.stat().st_mode & 0o777 == 0o644
    assert 250_000 < out.stat().st_size < 400_000


def test_each_vendored_asset_inlined_once() -> None:
    leaflet = '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"></script>'
    page = _map().get_root().render()
    assert leaflet in page
    text = inline_assets(page.replace("</head>", leaflet + "</head>"))
    assert text.count("/* leaflet 1.9.3 (leaflet/leaflet.js") == 1


def test_unknown_cdn_raises_naming_the_url() -> None:
    m = _map()
    url = "https://cdn.example.com/some-plugin@1.0/plugin.min.js"
    m.get_root().header.add_child(folium.JavascriptLink(url), name="plugin")
    with pytest.raises(OfflineAssetError, match=re.escape(url)):
        inline_assets(m.get_root().render())


def test_unknown_stylesheet_and_body_image_raise() -> None:
    m = _map()
    css = "https://cdn.example.com/theme.css"
    m.get_root().header.add_child(folium.CssLink(css), name="theme")
    with pytest.raises(OfflineAssetError, match=re.escape(css)):
        inline_assets(m.get_root().render())
    page = (
        _map()
        .get_root()
        .render()
        .replace("</body>", '<img src="https://example.com/logo.png"></body>')
    )
    with pytest.raises(OfflineAssetError, match=re.escape("https://example.com/logo.png")):
        inline_assets(page)


def test_failed_save_writes_nothing(tmp_path: Path) -> None:
    m = _map()
    m.get_root().header.add_child(folium.JavascriptLink("https://x.invalid/a.js"), name="a")
    target = tmp_path / "map.html"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(OfflineAssetError):
        save_offline(m, target)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]


def test_omitted_library_in_use_raises() -> None:
    m = _map()
    folium.Marker(CENTER, icon=folium.Icon(icon="home")).add_to(m)  # awesome-markers
    with pytest.raises(OfflineAssetError, match="awesome-markers"):
        inline_assets(m.get_root().render())
    m = _map()
    folium.Marker(CENTER, icon=folium.DivIcon(html='<i class="fa fa-home"></i>')).add_to(m)
    with pytest.raises(OfflineAssetError, match="Font Awesome"):
        inline_assets(m.get_root().render())
    m = _map()
    folium.Marker(CENTER, popup="设施").add_to(m)  # folium popups are built with $(...)
    with pytest.raises(OfflineAssetError, match="jQuery"):
        inline_assets(m.get_root().render())
    m = _map()
    cluster = MarkerCluster().add_to(m)
    folium.Marker(CENTER).add_to(cluster)
    with pytest.raises(OfflineAssetError, match="markercluster"):
        inline_assets(m.get_root().render())


def test_dollars_in_text_do_not_trip_the_jquery_guard() -> None:
    m = _map()
    folium.CircleMarker(CENTER, tooltip="US$5 · 价格 $ 5 · &#36;(escaped) &#36;.x").add_to(m)
    assert "omitted jQuery" in inline_assets(m.get_root().render())


def test_unescaped_markup_that_fetches_is_rejected() -> None:
    m = _map()
    folium.Marker(CENTER, tooltip="<img src=x onerror=alert(1)>").add_to(m)
    with pytest.raises(OfflineAssetError, match=r"'x'"):
        inline_assets(m.get_root().render())


def test_tile_urls_are_allowed() -> None:
    m = _map()
    folium.TileLayer("OpenStreetMap", show=False).add_to(m)
    text = inline_assets(m.get_root().render())
    assert "tile.openstreetmap.org" in text
    assert external_urls(text) == []


@pytest.mark.parametrize(
    "snippet",
    [
        '<link rel="stylesheet" href="//cdn.example.com/a.css">',
        "<style>@import url(https://fonts.example.com/x.css);</style>",
        '<div style="background:url(https://example.com/bg.png)"></div>',
        '<iframe src="https://example.com/"></iframe>',
        '<img srcset="a.png 1x, https://example.com/b.png 2x">',
        "<script>var s = '<img src=\"https://example.com/p.png\">';</script>",
    ],
)
def test_external_urls_finds_fetches(snippet: str) -> None:
    assert external_urls(f"<html><body>{snippet}</body></html>") != []


@pytest.mark.parametrize(
    "snippet",
    [
        '<a href="https://www.openstreetmap.org/copyright">OSM</a>',
        '<img src="data:image/png;base64,AAAA">',
        "<script>L.tileLayer('https://tile.example.com/{z}/{x}/{y}.png').addTo(m);</script>",
        "<!-- <script src='https://cdn.example.com/x.js'></script> -->",
        '<div style="behavior:url(#default#VML)"></div>',
    ],
)
def test_external_urls_ignores_non_fetches(snippet: str) -> None:
    assert external_urls(f"<html><body>{snippet}</body></html>") == []


def test_manifest_matches_vendored_files() -> None:
    manifest = json.loads((STATIC_DIR / "manifest.json").read_text(encoding="utf-8"))
    files = {f["path"] for lib in manifest["libraries"] for f in lib["files"]}
    own = {f["path"] for f in manifest["own"]}
    assert own == set(OWN_FILES)
    on_disk = {
        p.relative_to(STATIC_DIR).as_posix()
        for p in STATIC_DIR.rglob("*")
        if p.is_file() and p.name not in ("manifest.json", "LICENSES.md")
    }
    assert files | own == on_disk
    assert {a["path"] for a in manifest["assets"].values()} <= files
    licenses = (STATIC_DIR / "LICENSES.md").read_text(encoding="utf-8")
    for lib in manifest["libraries"]:
        assert f"## {lib['name']} {lib['version']}" in licenses
    assert {lib["name"] for lib in manifest["libraries"]} == {
        "leaflet",
        "leaflet.fullscreen",
        "leaflet-measure",
    }
    total = sum((STATIC_DIR / f).stat().st_size for f in files)
    assert total < 350_000


def test_vendor_static_check_passes_offline() -> None:
    p = subprocess.run(
        [sys.executable, "scripts/vendor_static.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "files match the manifest" in p.stdout


def test_vendor_static_check_finds_stray_changed_and_missing_files(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import vendor_static
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    static = tmp_path / "_static"
    shutil.copytree(STATIC_DIR, static)
    assert vendor_static.check_static(static) == []
    (static / "jquery").mkdir()
    (static / "jquery" / "jquery.min.js").write_text("x", encoding="utf-8")
    (static / "leaflet" / "leaflet.css").write_text("x", encoding="utf-8")
    (static / "planner.css").unlink()
    (static / "planner.js").write_text("var s = '</script>';", encoding="utf-8")
    problems = "\n".join(vendor_static.check_static(static))
    assert "jquery/jquery.min.js: not in the manifest" in problems
    assert "leaflet/leaflet.css: changed" in problems
    assert "planner.css: missing" in problems
    assert "planner.js: contains </script" in problems


def test_planner_js_passes_node_check() -> None:
    """planner.js is real JavaScript: ``node --check`` parses it (node is required)."""
    node = shutil.which("node")
    assert node, "node is needed to check planner/_static/planner.js (apt-get install nodejs)"
    p = subprocess.run(
        [node, "--check", str(STATIC_DIR / "planner.js")], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr


def test_own_files_are_inlined_safely() -> None:
    js, css = inline_own("planner.js"), inline_own("planner.css")
    assert js.startswith("<script>/* planner.js (liusha-planner) */") and js.endswith("</script>")
    assert "function plannerInit(map, control, G, P)" in js
    assert css.startswith("<style>/* planner.css (liusha-planner) */") and ".planner-panel" in css
    assert external_urls(f"<html><head>{js}{css}</head></html>") == []
    with pytest.raises(OfflineAssetError, match="not one of"):
        inline_own("manifest.json")


def test_every_folium_default_url_is_vendored_or_omitted() -> None:
    from folium.plugins import Fullscreen, MarkerCluster, MeasureControl

    manifest = json.loads((STATIC_DIR / "manifest.json").read_text(encoding="utf-8"))
    for obj in (folium.Map, MarkerCluster, Fullscreen, MeasureControl):
        for _, url in [*obj.default_js, *obj.default_css]:
            assert url in manifest["assets"] or url in OMITTED, url


def test_verbatim_text_goes_in_after_the_check(tmp_path: Path) -> None:
    """Page data added verbatim is not scanned: a shop named like jQuery does not trip a guard."""
    m = _map()
    token = "planner-test-token-0123"
    folium.Element(f'<script type="application/json" id="d">{token}</script>').add_to(
        m.get_root().html
    )
    data = '{"n":"jQuery.ajax $(x) L.markerClusterGroup()"}'
    with pytest.raises(OfflineAssetError, match="jQuery"):  # scanned, it would be refused
        save_offline(_map_with_text(data), tmp_path / "scanned.html")
    out = save_offline(m, tmp_path / "map.html", verbatim={token: data})
    text = out.read_text(encoding="utf-8")
    assert f'<script type="application/json" id="d">{data}</script>' in text
    assert token not in text and external_urls(text) == []


def _map_with_text(text: str) -> folium.Map:
    m = _map()
    folium.Element(f'<script type="application/json" id="d">{text}</script>').add_to(
        m.get_root().html
    )
    return m


@pytest.mark.parametrize(
    ("tokens", "text", "message"),
    [
        ({"missing-token": "1"}, "", "found 0 times"),
        ({"tok-twice": "1"}, "tok-twice tok-twice", "found 2 times"),
        ({"tok-once": "</script><script>alert(1)"}, "tok-once", "markup characters"),
        ({"tok-once": "a & b"}, "tok-once", "markup characters"),
    ],
)
def test_verbatim_refuses_unsafe_or_misplaced_text(
    tmp_path: Path, tokens: dict[str, str], text: str, message: str
) -> None:
    m = _map()
    folium.Element(f"<div>{text}</div>").add_to(m.get_root().html)
    with pytest.raises(OfflineAssetError, match=message):
        save_offline(m, tmp_path / "map.html", verbatim=tokens)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_the_measuring_tool_speaks_chinese_first() -> None:
    """leaflet-measure's texts are Chinese then English, and the map asks for them."""
    from planner import offline

    page = offline._inline_block(
        next(
            u
            for u, a in offline._manifest()["assets"].items()
            if a["path"].endswith(".min.js") and a["library"] == "leaflet-measure"
        )
    )
    assert '"measureDistancesAndAreas": "测量距离和面积 Measure distances and areas"' in page
    assert 'measure:"测量",' not in page  # its Chinese-only texts are gone
    with pytest.raises(offline.OfflineAssetError, match="Chinese texts were not found"):
        offline._bilingual_measure("no locale here")


def test_the_map_asks_the_measuring_tool_for_its_chinese_texts(sample_map_run) -> None:
    html = Path(sample_map_run.files["map"]).read_text(encoding="utf-8")
    assert '"localization": "cn"' in html
    assert "测量距离和面积 Measure distances and areas" in html

"""Make folium maps self-contained single HTML files that work with no internet."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from planner._publish import SIGNATURE, check_replaceable
from planner.io import write_atomic

__all__ = [
    "OMITTED",
    "OWN_FILES",
    "STATIC_DIR",
    "OfflineAssetError",
    "external_urls",
    "inline_assets",
    "inline_own",
    "save_offline",
]

#: Directory holding the vendored JS/CSS, the planner's own JS/CSS, ``manifest.json`` and
#: ``LICENSES.md``.
STATIC_DIR = Path(__file__).with_name("_static")
#: The planner's own page code in `STATIC_DIR` (not vendored; inlined by `inline_own`).
OWN_FILES = ("planner.css", "planner.js")


@dataclass(frozen=True)
class Omitted:
    """A CDN asset folium links by default that we deliberately do not ship.

    Parameters
    ----------
    library : str
        Human-readable library name and version.
    reason : str
        Why the asset is not needed by planner maps.
    guard : str
        Regular expression; if it matches the rendered folium HTML, the map
        does need the library after all and inlining fails loudly.
    """

    library: str
    reason: str
    guard: str


_AWESOME = Omitted(
    "Leaflet.awesome-markers 2.0.2",
    "only used by folium.Icon; planner maps use CircleMarker/DivIcon "
    "(2.0.2 is not published on npm either)",
    r"L\.AwesomeMarkers\b",
)
_CLASS_ATTR = r"""class\s*=\s*\\?["'][^"'\\]*"""
_MARKERCLUSTER = Omitted(
    "Leaflet.markercluster 1.1.0",
    "only used by folium.plugins.MarkerCluster; planner maps draw every POI, since its "
    "colour is the information a cluster would hide",
    r"\bL\.markerClusterGroup\b",
)
_MARKERCLUSTER_CDN = "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"

#: CDN URLs that folium (0.20) links by default but that planner maps do not need.
#: They are dropped from the page; each guard makes sure the page really does not
#: use the library, so that a map is never shipped silently broken.
OMITTED: dict[str, Omitted] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": Omitted(
        "jQuery 3.7.1",
        "only used by folium.Popup, objects_to_stay_in_front and a few plugins; planner "
        "maps bind their popups with Leaflet in planner.js",
        r"(?<![\w$.])\$(?:\(|\.[A-Za-z_])|\bjQuery\s*[.(]",
    ),
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": Omitted(
        "Bootstrap 5.2.2 JS",
        "folium's own JavaScript never calls Bootstrap",
        r"\bbootstrap\.[A-Z]\w*|data-bs-(?:toggle|target|dismiss)",
    ),
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": Omitted(
        "Bootstrap 5.2.2 CSS",
        "Leaflet/plugin CSS styles the map; Bootstrap only restyles page text",
        r"data-bs-(?:toggle|target|dismiss)",
    ),
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": Omitted(
        "Bootstrap 3.0.0 glyphicons",
        "only used by folium.Icon(prefix='glyphicon')",
        _CLASS_ATTR + r"\bglyphicon\b",
    ),
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": Omitted(
        "Font Awesome Free 6.2.0",
        "icon font (~400 kB) only used by folium.Icon(prefix='fa') and <i class='fa ...'>",
        _CLASS_ATTR + r"\b(?:fa|fas|far|fab|fa-solid|fa-regular|fa-brands)\b",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/"
    "leaflet.awesome-markers.js": _AWESOME,
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/"
    "leaflet.awesome-markers.css": _AWESOME,
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/"
    "leaflet.awesome.rotate.min.css": _AWESOME,
    _MARKERCLUSTER_CDN + "leaflet.markercluster.js": _MARKERCLUSTER,
    _MARKERCLUSTER_CDN + "MarkerCluster.css": _MARKERCLUSTER,
    _MARKERCLUSTER_CDN + "MarkerCluster.Default.css": _MARKERCLUSTER,
}

_MIME = {
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".gif": "image/gif",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
}

# Element attributes whose URL the browser fetches by itself (anchors are not listed).
_FETCHING_ATTRS = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "source": ("src", "srcset"),
    "audio": ("src",),
    "video": ("src", "poster"),
    "track": ("src",),
    "input": ("src",),
    "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
    "body": ("background",),
}
_NON_FETCHING_SCHEMES = ("data:", "blob:", "about:", "javascript:", "#")
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)|@import\s+(['"])(.*?)\3""", re.I)
# Tags written inside JavaScript strings, e.g. folium popup HTML fed to jQuery.
_TAG_IN_SCRIPT = re.compile(
    r"""<(img|script|iframe|link|source|embed|video|audio)\b[^>]*?\b(?:src|href)\s*=\s*"""
    r"""(?:\\?["'])?([^"'\\\s>`]+)""",
    re.I,
)
_SCRIPT_SRC = re.compile(
    r"""<script\b[^>]*?\bsrc\s*=\s*(["']?)([^"'\s>]+)\1[^>]*>\s*</script\s*>""", re.I
)
_LINK = re.compile(r"<link\b[^>]*>", re.I)
_ATTR = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


class OfflineAssetError(RuntimeError):
    """Raised when a map cannot be made fully self-contained."""


# --------------------------------------------------------------------------- scanning


def _is_fetched(url: str) -> bool:
    url = url.strip()
    return bool(url) and not url.lower().startswith(_NON_FETCHING_SCHEMES)


def _css_urls(css: str) -> list[str]:
    return [m.group(2) if m.group(2) is not None else m.group(4) for m in _CSS_URL.finditer(css)]


class _ResourceScanner(HTMLParser):
    """Collect every URL an HTML document makes the browser fetch."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = _FETCHING_ATTRS.get(tag, ())
        for name, value in attrs:
            if value is None:
                continue
            if name == "style":
                self.urls.extend(_css_urls(value))
            elif name in names:
                if name == "srcset":
                    self.urls.extend(part.split()[0] for part in value.split(",") if part.strip())
                elif tag == "iframe" and value.lower().startswith("data:text/html"):
                    self.urls.extend(external_urls(_decode_data_url(value)))
                else:
                    self.urls.append(value)
        self._in = tag if tag in ("style", "script") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.urls.extend(_css_urls(data))
        elif self._in == "script":
            self.urls.extend(m.group(2) for m in _TAG_IN_SCRIPT.finditer(data))


def _decode_data_url(url: str) -> str:
    header, _, payload = url.partition(",")
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode(payload).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return ""
    return unquote(payload)


def external_urls(html: str) -> list[str]:
    """List the URLs an HTML page would fetch from outside the file itself.

    Covers ``src``/``href`` of resource elements (scripts, stylesheets and other
    ``<link>``s, images, iframes, media), CSS ``url()``/``@import`` in ``<style>``
    blocks and ``style`` attributes, HTML tags written inside ``<script>`` strings
    (as folium does for popups), and ``data:text/html`` iframes recursively.
    Relative paths count too, since they break once the file is e-mailed.
    ``data:``, ``blob:``, ``javascript:`` and ``#fragment`` references, hyperlinks
    (``<a href>``) and tile URL templates inside JavaScript are not reported.

    Parameters
    ----------
    html : str
        The HTML document.

    Returns
    -------
    list of str
        Unique URLs in document order.
    """
    scanner = _ResourceScanner()
    scanner.feed(html)
    scanner.close()
    return list(dict.fromkeys(u.strip() for u in scanner.urls if _is_fetched(u)))


# --------------------------------------------------------------------------- assets


@cache
def _manifest() -> dict[str, Any]:
    path = STATIC_DIR / "manifest.json"
    if not path.is_file():
        msg = f"{path} is missing; rebuild it with `python scripts/vendor_static.py`"
        raise OfflineAssetError(msg)
    return json.loads(path.read_text(encoding="utf-8"))


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        msg = f"no MIME type known for vendored file {path.name}"
        raise OfflineAssetError(msg)
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _css_with_data_uris(path: Path) -> str:
    css = path.read_text(encoding="utf-8")

    def repl(m: re.Match[str]) -> str:
        url = m.group(2)
        if url is None or not _is_fetched(url):
            return m.group(0)
        target = (path.parent / url.split("?")[0].split("#")[0]).resolve()
        if STATIC_DIR.resolve() not in target.parents or not target.is_file():
            msg = f"{path.name} references {url!r}, which is not vendored in {STATIC_DIR}"
            raise OfflineAssetError(msg)
        return f'url("{_data_uri(target)}")'

    return _CSS_URL.sub(repl, css)


# Leaflet finds its default marker images by parsing the URL of a CSS background,
# which fails for data: URIs; set the icon URLs explicitly instead.
_LEAFLET_ICON_FIX = """<script>
L.Icon.Default.imagePath = "";
L.Icon.Default.mergeOptions({{
  iconUrl: "{icon}", iconRetinaUrl: "{retina}", shadowUrl: "{shadow}"
}});
</script>"""


#: leaflet-measure's Chinese texts ("cn"), as its bundle holds them: replaced by `_MEASURE_TEXTS`.
_MEASURE_CN = re.compile(r'\{measure:"测量",[^{}]*thousandsSep:","\}')
#: The measuring tool's texts, Chinese first, English second (the map's rule for labels).
_MEASURE_TEXTS = {
    "measure": "测量 Measure",
    "measureDistancesAndAreas": "测量距离和面积 Measure distances and areas",
    "createNewMeasurement": "开始新的测量 Create a new measurement",
    "startCreating": "在地图上点击加点，开始测量 Click the map to add points",
    "finishMeasurement": "完成测量 Finish",
    "lastPoint": "最后一点 Last point",
    "area": "面积 Area",
    "perimeter": "周长 Perimeter",
    "pointLocation": "点的位置 Point location",
    "areaMeasurement": "面积测量 Area measurement",
    "linearMeasurement": "距离测量 Linear measurement",
    "pathDistance": "路径长度 Path distance",
    "centerOnArea": "居中显示该面 Center on this area",
    "centerOnLine": "居中显示该线 Center on this line",
    "centerOnLocation": "居中显示该点 Center on this location",
    "cancel": "取消 Cancel",
    "delete": "删除 Delete",
    "acres": "英亩 acres",
    "feet": "英尺 feet",
    "kilometers": "公里 km",
    "hectares": "公顷 ha",
    "meters": "米 m",
    "miles": "英里 miles",
    "sqfeet": "平方英尺 sq ft",
    "sqmeters": "平方米 m²",
    "sqmiles": "平方英里 sq mi",
    "decPoint": ".",
    "thousandsSep": ",",
}


def _bilingual_measure(body: str) -> str:
    """leaflet-measure's bundle with its Chinese ("cn") texts made Chinese-then-English.

    The map asks the tool for ``localization: "cn"`` (`planner.maps`); its own Chinese
    texts are Chinese only, and its default English only.
    """
    texts = json.dumps(_MEASURE_TEXTS, ensure_ascii=False)
    new, count = _MEASURE_CN.subn(lambda _m: texts, body)
    if count != 1:
        msg = "leaflet-measure: its Chinese texts were not found once in the bundle"
        raise OfflineAssetError(msg)
    return new


@cache
def _inline_block(url: str) -> str:
    asset = _manifest()["assets"][url]
    path = STATIC_DIR / asset["path"]
    label = f"{asset['library']} {asset['version']} ({asset['path']}, {asset['license']})"
    if asset["kind"] == "js":
        body = path.read_text(encoding="utf-8")
        if re.search(r"</script|<!--", body, re.I):
            msg = f"{asset['path']} cannot be inlined safely inside <script>"
            raise OfflineAssetError(msg)
        if asset["library"] == "leaflet-measure" and path.name.endswith(".js"):
            body = _bilingual_measure(body)
        block = f"<script>/* {label} */\n{body}\n</script>"
        if asset["library"] == "leaflet" and path.name == "leaflet.js":
            images = path.parent / "images"
            block += _LEAFLET_ICON_FIX.format(
                icon=_data_uri(images / "marker-icon.png"),
                retina=_data_uri(images / "marker-icon-2x.png"),
                shadow=_data_uri(images / "marker-shadow.png"),
            )
        return block
    body = _css_with_data_uris(path)
    if re.search(r"</style", body, re.I):
        msg = f"{asset['path']} cannot be inlined safely inside <style>"
        raise OfflineAssetError(msg)
    return f"<style>/* {label} */\n{body}\n</style>"


@cache
def inline_own(name: str) -> str:
    """Inline ``<script>`` or ``<style>`` block of one of the planner's own files.

    Parameters
    ----------
    name : str
        One of :data:`OWN_FILES`, e.g. ``"planner.js"``.

    Returns
    -------
    str
        The file's text in a ``<script>`` (``.js``) or ``<style>`` (``.css``) element,
        labelled with its name; images a stylesheet references become ``data:`` URIs.

    Raises
    ------
    OfflineAssetError
        If `name` is not an own file, is missing, or could not be inlined safely (it
        would close its element early or open an HTML comment).
    """
    path = STATIC_DIR / name
    if name not in OWN_FILES or not path.is_file():
        msg = f"{name!r} is not one of the planner's static files {OWN_FILES} in {STATIC_DIR}"
        raise OfflineAssetError(msg)
    if path.suffix == ".js":
        body = path.read_text(encoding="utf-8")
        if re.search(r"</script|<!--", body, re.I):
            msg = f"{name} cannot be inlined safely inside <script>"
            raise OfflineAssetError(msg)
        return f"<script>/* {name} (liusha-planner) */\n{body}</script>"
    body = _css_with_data_uris(path)
    if re.search(r"</style", body, re.I):
        msg = f"{name} cannot be inlined safely inside <style>"
        raise OfflineAssetError(msg)
    return f"<style>/* {name} (liusha-planner) */\n{body}</style>"


def _check_guards(html: str, omitted_seen: set[str]) -> None:
    for url in sorted(omitted_seen):
        info = OMITTED[url]
        hit = re.search(info.guard, html)
        if hit:
            msg = (
                f"the map uses {info.library} ({hit.group(0)!r}), which is not vendored for "
                f"offline use: {info.reason}. Add it to scripts/vendor_static.py or avoid it."
            )
            raise OfflineAssetError(msg)


def inline_assets(html: str) -> str:
    """Replace folium's CDN ``<script>``/``<link>`` tags with inline vendored copies.

    Every known CDN script or stylesheet is replaced, in place, by an inline
    ``<script>``/``<style>`` built from ``planner/_static``; images referenced by
    the CSS become ``data:`` URIs. Folium defaults that planner maps do not need
    (jQuery, Bootstrap, Font Awesome, glyphicons, awesome-markers, markercluster; see
    :data:`OMITTED`) are dropped, after checking the page does not actually use them.

    Parameters
    ----------
    html : str
        A rendered folium page, e.g. ``m.get_root().render()``.

    Returns
    -------
    str
        The self-contained page. Tile URL templates inside JavaScript are left
        alone (tiles simply do not load offline).

    Raises
    ------
    OfflineAssetError
        If the page references a script/stylesheet with no vendored copy, uses an
        omitted library, or still fetches any external resource afterwards. The
        message names the offending URL.
    """
    assets = _manifest()["assets"]
    done: set[str] = set()
    omitted_seen: set[str] = set()

    def replace(url: str) -> str:
        url = url.strip()
        if url.startswith("//"):
            url = "https:" + url
        if url in done:
            return ""
        if url in assets:
            done.add(url)
            return _inline_block(url)
        if url in OMITTED:
            omitted_seen.add(url)
            return f"<!-- planner.offline: omitted {OMITTED[url].library} (unused) -->"
        msg = (
            f"no offline copy of {url!r}; vendor it in scripts/vendor_static.py "
            "(or stop using the folium feature that needs it)"
        )
        raise OfflineAssetError(msg)

    def script_repl(m: re.Match[str]) -> str:
        url = m.group(2)
        return replace(url) if _is_fetched(url) else m.group(0)

    def link_repl(m: re.Match[str]) -> str:
        attrs = {
            k.lower(): next((v for v in vals if v is not None), "")
            for k, *vals in _ATTR.findall(m.group(0))
        }
        rel = attrs.get("rel", "").lower().split()
        href = attrs.get("href", "")
        if "stylesheet" in rel and _is_fetched(href):
            return replace(href)
        return m.group(0)

    out = _LINK.sub(link_repl, _SCRIPT_SRC.sub(script_repl, html))
    _check_guards(html, omitted_seen)
    remaining = external_urls(out)
    if remaining:
        msg = f"the page still references external resources: {', '.join(map(repr, remaining))}"
        raise OfflineAssetError(msg)
    return out


# --------------------------------------------------------------------------- saving


def render_offline(m: Any, *, verbatim: Mapping[str, str] | None = None) -> str:
    """Render a folium map to the text of one self-contained HTML page (`save_offline`).

    Parameters
    ----------
    m : folium.Map
        The map (any branca element with ``get_root()`` works).
    verbatim : mapping of str to str, optional
        Token -> text: each token, found exactly once in the rendered page, is replaced by
        its text after the page has been checked and inlined. For data that cannot hold
        markup (`planner.maps.page_json` text: no ``<``, ``>`` or ``&``) in a JSON
        ``<script>``, where scanning megabytes of it could find no resource and could only
        mistake a shop named like a library call for a use of an omitted library.

    Returns
    -------
    str
        The page.

    Raises
    ------
    OfflineAssetError
        See :func:`inline_assets`; also when a `verbatim` token is not found exactly once
        or its text contains ``<``, ``>`` or ``&``.
    """
    html = inline_assets(m.get_root().render())
    html = html.replace("<head>", f'<head>\n<meta name="generator" content="{SIGNATURE}">', 1)
    for token, text in (verbatim or {}).items():
        if html.count(token) != 1:
            msg = f"verbatim token {token!r} found {html.count(token)} times in the page"
            raise OfflineAssetError(msg)
        if re.search(r"[<>&]", text):
            msg = f"verbatim text for {token!r} contains markup characters (<, > or &)"
            raise OfflineAssetError(msg)
        html = html.replace(token, text, 1)
    return html


def write_page(html: str, path: str | os.PathLike[str]) -> Path:
    """Write a rendered page (`render_offline`) atomically, as UTF-8 with LF line ends.

    Parameters
    ----------
    html : str
        The page.
    path : str or os.PathLike
        Destination ``.html`` file; parent directories are created.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    check_replaceable(Path(path))  # a file of that name the planner did not write is left alone

    def write(p: Path) -> None:
        p.write_text(html, encoding="utf-8", newline="\n")

    return write_atomic(Path(path), write)


def save_offline(
    m: Any,
    path: str | os.PathLike[str],
    *,
    verbatim: Mapping[str, str] | None = None,
) -> Path:
    """Render a folium map to a single self-contained HTML file, atomically.

    Parameters
    ----------
    m : folium.Map
        The map (any branca element with ``get_root()`` works).
    path : str or os.PathLike
        Destination ``.html`` file; parent directories are created.
    verbatim : mapping of str to str, optional
        See `render_offline`.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    OfflineAssetError
        See `render_offline`. Nothing is written in that case.
    """
    return write_page(render_offline(m, verbatim=verbatim), path)

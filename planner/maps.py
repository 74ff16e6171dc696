"""Offline folium maps of facilities, their walking bands and the POIs they reach."""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from planner import gaps, snap, style
from planner._i18n import _
from planner._lazy import defer
from planner._templates import cached_compile

with cached_compile():  # folium compiles ~140 Jinja templates when imported
    defer("requests")  # folium imports it only to fetch GeoJSON given as a URL
    import folium
    from branca.element import Element, MacroElement
    from folium.plugins import Fullscreen, MeasureControl
    from folium.template import Template

from planner.crs import gcj02_grid
from planner.offline import inline_own
from planner.result import Result, review_line

#: A colour the legend accepts from a caller (it goes into a style attribute).
_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
#: Coordinates in the page are integers of this many units per degree (1e5 ≈ 1.1 m).
COORD_SCALE = 100_000
#: Street and band outlines are simplified to what the eye sees at street zoom (metres).
SIMPLIFY_M = 2.0
#: Above this many POIs they are drawn on a canvas instead of as SVG elements.
CANVAS_THRESHOLD = 2000
#: Screens at most this wide (CSS px) start with the layer list and panel collapsed.
PHONE_WIDTH = 600
#: Above this many facilities their bands share one layer (a list of 500 layers helps nobody).
BAND_LAYERS_MAX = 30
#: With one band layer for all facilities, bands are drawn from this zoom on (street level),
#: those in view only; a focused facility's always.
BAND_ZOOM = 15
#: Longest list of reached POIs in a facility popup.
POPUP_LIST_CAP = 50

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
AMAP_TILES = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
TIANDITU_TILES = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
    "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)

#: Main kind groups of POIs: group key -> (label, ``key:value`` kinds or ``key:`` prefixes).
KIND_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "food": (
        "餐饮 Food & drink",
        (
            "amenity:restaurant",
            "amenity:fast_food",
            "amenity:cafe",
            "amenity:bar",
            "amenity:pub",
            "amenity:food_court",
            "amenity:ice_cream",
            "shop:bakery",
            "shop:tea",
        ),
    ),
    "finance": ("金融 Banks & ATMs", ("amenity:bank", "amenity:atm", "amenity:bureau_de_change")),
    "shop": ("商店 Shops", ("shop:",)),
    "lodging": ("住宿 Hotels", ("tourism:",)),
    "public": ("公共服务 Public services", ("amenity:", "healthcare:", "office:government")),
    "office": ("办公 Offices & trades", ("office:", "craft:")),
    "building": ("商业楼宇 Commercial buildings", ("building:",)),
    "other": ("其他 Other", ()),
}

# characters of JavaScript template strings, and the braces of Jinja templates: folium renders
# layer names through Jinja, so a ``{{ … }}`` in a facility's name must not reach it as such
_JS_TEMPLATE_CHARS = str.maketrans(
    {"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"}
)
_KEY_OK = re.compile(r"[A-Za-z0-9]{8,64}")


# --------------------------------------------------------------------------- small helpers
def esc(text: object) -> str:
    """Escape text that comes from data for tooltips, popups and layer names.

    folium places tooltip/popup HTML inside JavaScript template strings, so besides HTML
    escaping, backtick, ``$`` and backslash become character references (a name containing
    ``${alert(1)}`` would otherwise run as code).

    Parameters
    ----------
    text
        Any value; None and NaN give ``""``.

    Returns
    -------
    html
        Text safe to place in HTML and in JavaScript template strings.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    return html.escape(isolate_bidi(str(text))).translate(_JS_TEMPLATE_CHARS)


#: Explicit bidi controls (LRE, RLE, PDF, LRO, RLO; LRI, RLI, FSI, PDI).
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def isolate_bidi(text: str) -> str:
    """Keep a data text's bidi controls inside it: ``FSI text PDI`` when it has any.

    An unclosed RIGHT-TO-LEFT OVERRIDE in a name (copied from a web page) would reverse the
    planner's own words after it ("…: 便利店、菜市场" shown backwards); the closing PDI ends
    every embedding and override the name opened (Unicode bidi algorithm, rule X6a).

    Parameters
    ----------
    text
        A text from data.

    Returns
    -------
    text
        `text` unchanged, or wrapped in U+2068 … U+2069 when it holds a bidi control.
    """
    return f"\u2068{text}\u2069" if _BIDI_CONTROLS.search(text) else text


def kind_labels(analysis: Result) -> dict[str, str]:
    """Chinese-then-English words for the kinds the page shows (keys and words escaped).

    A kind of a policy business type (`planner.policy.classify`, with the types table the
    result's policy analysis used: ``shop:convenience``,
    ``24小时便利店``) gets the type's words (``便利店 convenience store``); any other kind
    of a `KIND_GROUPS` group its group's (``金融 Banks & ATMs``); the rest none. The
    facilities' own kinds come from the ``role`` column of their first entrance row where
    the table has one (``交通枢纽 transit hub``), keyed by facility id with a ``#`` first.

    Parameters
    ----------
    analysis
        The result: its POIs, coverage and facilities.

    Returns
    -------
    labels
        Escaped kind (or ``#`` + escaped facility id) -> escaped words.
    """
    from planner import policy

    # the table the result's policy analysis used, read once; else the shipped one
    types = analysis.policy_inputs[0] if analysis.policy_inputs else policy.load_types()
    t = types.table
    words = {
        code: f"{zh} {en}"
        for code, zh, en in zip(t["type_code"], t["type_zh"], t["type_en"], strict=True)
    }
    kinds: set[object] = set()
    for column in (
        analysis.pois["kind"],
        analysis.coverage["poi_kind"],
        analysis.facilities["kind"],
    ):
        kinds.update(pd.unique(column))
    out: dict[str, str] = {}
    for kind in kinds:
        if not isinstance(kind, str) or not kind:
            continue
        code = policy.classify(kind, types)
        if code is not None:
            out[esc(kind)] = esc(words[code])
        elif (group := kind_group(kind)) != "other":
            out[esc(kind)] = esc(KIND_GROUPS[group][0])
    e = analysis.entrances
    if "role" in e.columns:
        for fid, role in zip(e["id"], e["role"], strict=True):
            key = "#" + esc(fid)
            if key not in out and isinstance(role, str) and role.strip():
                out[key] = esc(role.strip())  # the facility's first row with a role
    return out


def kind_group(kind: object) -> str:
    """Main group of a POI kind such as ``amenity:cafe`` (a key of `KIND_GROUPS`).

    Parameters
    ----------
    kind
        ``key:value`` kind from OSM, or any text from a scenario table.

    Returns
    -------
    group
        Group key; ``"other"`` when nothing matches.
    """
    k = str(kind or "").strip().lower()
    for group, (_label, patterns) in KIND_GROUPS.items():
        for p in patterns:
            if (p.endswith(":") and k.startswith(p)) or k == p:
                return group
    return "other"


def tianditu_key() -> str | None:
    """Tianditu browser key from the ``TIANDITU_KEY`` variable; None when absent or malformed."""
    key = os.environ.get("TIANDITU_KEY", "").strip()
    return key if _KEY_OK.fullmatch(key) else None


def page_json(obj: Any) -> str:
    """JSON for the page's data ``<script>``: ``<``, ``>`` and ``&`` never appear literally.

    Parameters
    ----------
    obj
        JSON-ready data (NaN is refused).

    Returns
    -------
    text
        Compact JSON, UTF-8 text kept, that cannot close the element it sits in.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def esc_many(values: Any) -> list[str]:
    """`esc` of many values at once (each distinct value escaped once, in one pass).

    Parameters
    ----------
    values
        Any iterable of values (a column).

    Returns
    -------
    texts
        ``[esc(v) for v in values]``.
    """
    # a column as one object array (iterating a pandas text column costs 0.5 µs a value)
    array = values.to_numpy(dtype=object) if hasattr(values, "to_numpy") else list(values)
    column = pd.Series(array, dtype=object)
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    text = np.array([isolate_bidi(str(u)).translate(_ESCAPE_TABLE) for u in uniques], dtype=object)
    out = text[codes].tolist()
    for i in np.flatnonzero(codes < 0).tolist():  # None, NaN, pd.NA, NaT: as `esc` has them
        out[i] = esc(column.iat[i])
    return out


#: `esc` as one translation: `html.escape` (quotes included) and then `_JS_TEMPLATE_CHARS`.
#: One pass gives the same text because no replacement contains a character another one
#: replaces, apart from ``&``, which `html.escape` replaces first.
_ESCAPE_TABLE = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&#x27;",
        "`": "&#96;",
        "$": "&#36;",
        "\\": "&#92;",
        "{": "&#123;",
        "}": "&#125;",
    }
)


# --------------------------------------------------------------------------- packed integers
#: A packed integer is written in 5-bit chunks, least significant first, each as the
#: character ``63 + chunk`` (``+ 32`` on every chunk but the last), after zig-zag mapping
#: the sign into the lowest bit: the encoded-polyline algorithm of map services, without
#: its own rounding. Every character lies in ``?``..``~``: no ``<``, ``>``, ``&`` or quote.
_PACK_OFFSET = 63


def _pack(values: np.ndarray) -> tuple[str, np.ndarray]:
    """Packed text of `values` and the character offset where each value starts (n + 1)."""
    v = np.asarray(values, dtype=np.int64).ravel()
    z = ((v << 1) ^ (v >> 63)).view(np.uint64)
    n = np.ones(len(z), dtype=np.int64)  # 5-bit chunks per value
    for bits in range(5, 65, 5):
        above = z >= np.uint64(1 << bits)
        if not above.any():
            break
        n += above
    offsets = np.zeros(len(z) + 1, dtype=np.int64)
    np.cumsum(n, out=offsets[1:])
    chars = np.empty(int(offsets[-1]), dtype=np.uint8)
    # chunk by chunk, only over the values that have that many (most have one or two)
    at, left = offsets[:-1], n
    while len(z):
        last = left == 1
        marker = np.where(last, np.uint8(_PACK_OFFSET), np.uint8(_PACK_OFFSET + 32))
        chars[at] = (z & np.uint64(31)).astype(np.uint8) + marker
        more = ~last
        z, at, left = z[more] >> np.uint64(5), at[more] + 1, left[more] - 1
    return chars.tobytes().decode("ascii"), offsets


def pack_ints(values: Any) -> str:
    """Pack integers into compact text (see `unpack_ints`; planner.js decodes it).

    Parameters
    ----------
    values
        Integers (any shape; flattened).

    Returns
    -------
    text
        Characters ``?``..``~`` only: 1 per value below 16 in magnitude, 2 below 512.
    """
    return _pack(np.asarray(values, dtype=np.int64))[0]


def unpack_ints(text: str) -> np.ndarray:
    """Inverse of `pack_ints`."""
    b = np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - _PACK_OFFSET
    if len(b) == 0:
        return np.zeros(0, dtype=np.int64)
    last = b < 32
    if b.min() < 0 or b.max() > 63 or not last[-1]:  # not `pack_ints` text, or cut short
        raise ValueError(repr(text[-40:]))
    value_id = np.r_[0, np.cumsum(last)[:-1]]
    start = np.r_[0, np.flatnonzero(last)[:-1] + 1]
    k = np.arange(len(b)) - start[value_id]
    z = np.zeros(int(last.sum()), dtype=np.uint64)
    np.add.at(z, value_id, (b & 31).astype(np.uint64) << (5 * k).astype(np.uint64))
    return ((z >> np.uint64(1)).view(np.int64)) ^ -((z & np.uint64(1)).view(np.int64))


def _delta(v: np.ndarray) -> np.ndarray:
    """First value as it is, then differences to the previous value."""
    v = np.asarray(v, dtype=np.int64)
    return np.r_[v[:1], np.diff(v)]


# --------------------------------------------------------------------------- coordinates
def encode_line(lon: np.ndarray, lat: np.ndarray, scale: int = COORD_SCALE) -> str:
    """A line as packed ``[x0, y0, dx1, dy1, ...]`` integers (the page decodes it).

    Parameters
    ----------
    lon, lat
        Vertex coordinates in degrees.
    scale
        Integer units per degree.

    Returns
    -------
    text
        `pack_ints` of the delta-encoded vertices; consecutive duplicate vertices after
        rounding are dropped.
    """
    xy = np.round(np.column_stack([lon, lat]) * scale).astype(np.int64)
    if len(xy) > 1:
        keep = np.r_[True, np.any(np.diff(xy, axis=0) != 0, axis=1)]
        xy = xy[keep]
    d = np.vstack([xy[:1], np.diff(xy, axis=0)]) if len(xy) else xy
    return pack_ints(d)


def _rounded_vertices(
    geoms: Any, scale: int, to_wgs84: Transformer | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer vertices of the non-empty geometries, consecutive repeats dropped.

    Returns the ``(n, 2)`` integer coordinates, the geometry of each vertex (position among
    the non-empty ones) and the positions of the non-empty geometries in `geoms`. With
    `to_wgs84` the coordinates are transformed first (no new geometries are made).
    """
    geoms = np.asarray(geoms, dtype=object)
    keep = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    if not len(keep):
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.intp), keep
    coords, index = shapely.get_coordinates(geoms[keep], return_index=True)
    if to_wgs84 is not None:
        coords = np.column_stack(to_wgs84.transform(coords[:, 0], coords[:, 1]))
    xy = np.round(coords * scale).astype(np.int64)
    first = np.r_[True, index[1:] != index[:-1]]
    moved = np.r_[True, np.any(xy[1:] != xy[:-1], axis=1)]
    return xy[first | moved], index[first | moved], keep


def encode_lines(
    geoms: Any, scale: int = COORD_SCALE, to_wgs84: Transformer | None = None
) -> list[str]:
    """`encode_line` of many lines at once (vectorised): one text per non-empty geometry.

    Parameters
    ----------
    geoms
        LineStrings (lon/lat degrees); None and empty ones are skipped.
    scale
        Integer units per degree.
    to_wgs84
        Transformer of the geometries' CRS to lon/lat, when they are not in lon/lat.

    Returns
    -------
    lines
        ``encode_line`` of each non-empty geometry's coordinates, in order.
    """
    xy, index, _ring_of = _rounded_vertices(geoms, scale, to_wgs84)
    if not len(xy):
        return []
    first = np.r_[True, index[1:] != index[:-1]]
    d = xy.copy()
    d[1:] -= xy[:-1]
    d[first] = xy[first]
    text, offsets = _pack(d)
    bounds = 2 * np.flatnonzero(np.r_[True, index[1:] != index[:-1], True])
    cuts = offsets[bounds].tolist()
    return [text[a:b] for a, b in itertools.pairwise(cuts)]


def encode_multilines(
    geoms: Any,
    groups: Any,
    n_groups: int,
    scale: int = COORD_SCALE,
    to_wgs84: Transformer | None = None,
) -> list[str]:
    """Lines grouped into records, each record one packed text (the page's ``lines``).

    A record is ``[n, dx, dy, ... (n vertices), n, dx, dy, ...]``: each line's vertex count,
    then its vertices as differences to the previous vertex of the record (the first to
    ``(0, 0)``), so a line starting next to where the last ended costs a few characters.

    Parameters
    ----------
    geoms
        LineStrings or LinearRings (lon/lat degrees); None and empty ones are skipped.
    groups
        Record (0 .. `n_groups` - 1) of each geometry; lines keep their order in a record.
    n_groups
        Number of records.
    scale
        Integer units per degree.
    to_wgs84
        Transformer of the geometries' CRS to lon/lat, when they are not in lon/lat.

    Returns
    -------
    records
        One packed text per record (``""`` for a record without lines).
    """
    groups = np.asarray(groups, dtype=np.int64)
    order = np.argsort(groups, kind="stable")
    xy, index, keep = _rounded_vertices(np.asarray(geoms, dtype=object)[order], scale, to_wgs84)
    line_group = groups[order][keep]
    if not len(xy):
        return [""] * n_groups
    vertex_group = line_group[index]
    first_of_line = np.r_[True, index[1:] != index[:-1]]
    first_of_group = np.r_[True, vertex_group[1:] != vertex_group[:-1]]
    d = xy.copy()
    d[1:] -= xy[:-1]
    d[first_of_group] = xy[first_of_group]
    line_of_vertex = np.cumsum(first_of_line) - 1
    counts = np.bincount(line_of_vertex)
    ints = np.empty(len(counts) + 2 * len(xy), dtype=np.int64)
    pos = 2 * np.arange(len(xy)) + line_of_vertex + 1  # each earlier line added its count
    ints[pos] = d[:, 0]
    ints[pos + 1] = d[:, 1]
    line_start = np.flatnonzero(first_of_line)
    ints[2 * line_start + np.arange(len(counts))] = counts
    text, offsets = _pack(ints)
    group_first_line = np.searchsorted(line_group, np.arange(n_groups + 1))
    starts = np.r_[2 * line_start + np.arange(len(counts)), len(ints)]
    cuts = offsets[starts[group_first_line]].tolist()
    return [text[a:b] for a, b in itertools.pairwise(cuts)]


def decode_line(line: str | list[int], scale: int = COORD_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `encode_line`: ``(lon, lat)`` arrays (from packed text or the integers)."""
    ints = unpack_ints(line) if isinstance(line, str) else np.asarray(line, dtype=np.int64)
    xy = np.cumsum(ints.reshape(-1, 2), axis=0) / scale
    return xy[:, 0], xy[:, 1]


def decode_multilines(text: str, scale: int = COORD_SCALE) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inverse of one record of `encode_multilines`: ``(lon, lat)`` of each line."""
    ints = unpack_ints(text).tolist()
    out, x, y, i = [], 0, 0, 0
    while i < len(ints):
        n = ints[i]
        pts = np.asarray(ints[i + 1 : i + 1 + 2 * n], dtype=np.int64).reshape(-1, 2)
        xy = np.cumsum(pts, axis=0) + np.array([x, y], dtype=np.int64)
        x, y = int(xy[-1, 0]), int(xy[-1, 1])
        out.append((xy[:, 0] / scale, xy[:, 1] / scale))
        i += 1 + 2 * n
    return out


# --------------------------------------------------------------------------- page data
def _street_lines(analysis: Result, tolerance_m: float) -> np.ndarray:
    """The street network's lines simplified by `tolerance_m` (in the network's CRS)."""
    edges = np.asarray(analysis.network.edge_geometry, dtype=object)
    # a line of two vertices is its own simplification: GEOS gets only the longer ones
    # (70% of the city workload's edges have two, and copying them took 0.3 s)
    longer = shapely.get_num_coordinates(edges) > 2
    lines = edges.copy()
    lines[longer] = shapely.simplify(edges[longer], tolerance_m, preserve_topology=False)
    return lines


def _street_bounds(analysis: Result, lines: np.ndarray) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of `_street_lines`."""
    xy = shapely.get_coordinates(lines)
    if not len(xy):
        return (np.nan, np.nan, np.nan, np.nan)
    to_wgs = Transformer.from_crs(analysis.network.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
    return (float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat)))


def street_data(
    analysis: Result, tolerance_m: float = SIMPLIFY_M, lines: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Streets for the page: one multi-line per (name, weight), simplified and encoded.

    Parameters
    ----------
    analysis
        The result; its (projected) street network is drawn.
    tolerance_m
        Simplification tolerance in metres.
    lines
        The lines already simplified (`_street_lines`), when at hand.

    Returns
    -------
    streets
        ``{"n": escaped name, "w": line weight, "l": packed lines (`encode_multilines`)}``
        records, sorted by name and weight.
    """
    network = analysis.network
    if lines is None:
        lines = _street_lines(analysis, tolerance_m)
    names = pd.Series(esc_many(network.edge_name), dtype=object)
    highway = pd.Series(network.edge_highway, dtype=object)
    weights = {h: style.road_weight(h) for h in pd.unique(highway)}
    weight = np.array([weights[h] for h in highway], dtype=float)
    key_index = pd.MultiIndex.from_frame(pd.DataFrame({"n": names, "w": weight}))
    codes = key_index.unique().sort_values()
    group = codes.get_indexer(key_index)
    to_wgs = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    packed = encode_multilines(lines, group, len(codes), to_wgs84=to_wgs)
    return [
        {"n": name, "w": float(w), "l": text} for (name, w), text in zip(codes, packed, strict=True)
    ]


def band_data(analysis: Result, tolerance_deg: float = 2e-5) -> list[dict[str, Any]]:
    """Band polygons for the page: one record per non-empty (facility, band).

    Parameters
    ----------
    analysis
        The result: its isochrones, facilities and bands (``settings.bands_min``).
    tolerance_deg
        Simplification tolerance in degrees (2e-5° ≈ 2 m; Douglas-Peucker, the outline
        drawn, not a shape to compute with).

    Returns
    -------
    bands
        ``{"f": facility index, "b": band index, "p": [per polygon: its rings, exterior
        first, as packed lines (`encode_multilines`)], "bb": [west, south, east, north] in
        `COORD_SCALE` units}``, largest band first so smaller bands are drawn on top.
    """
    fac_index = pd.Index(list(analysis.facilities["facility_id"]))
    bands = list(analysis.settings.bands_min)
    iso = analysis.isochrones.sort_values("band_min", ascending=False, kind="stable")
    geoms = iso.geometry.to_numpy()
    fac = fac_index.get_indexer(iso["facility_id"])
    ok = (fac >= 0) & ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    geoms, fac = geoms[ok], fac[ok]
    band = [bands.index(b) if b in bands else 0 for b in iso["band_min"].to_numpy()[ok]]
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    polys = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, part_of = parts[polys], part_of[polys]
    rings, ring_of = shapely.get_rings(parts, return_index=True)  # exterior first
    # ring by ring: a polygon would be checked and mended after (GEOS), 3x the time for an
    # outline drawn on screen; a ring that collapses is left out, with its holes if it is
    # an exterior
    rings = shapely.simplify(rings, tolerance_deg, preserve_topology=False)
    kept = shapely.get_num_coordinates(rings) >= 4
    exterior = np.r_[True, ring_of[1:] != ring_of[:-1]] if len(ring_of) else kept
    drawn = np.zeros(len(parts), dtype=bool)
    drawn[ring_of[exterior]] = kept[exterior]
    kept &= drawn[ring_of]
    packed = encode_multilines(rings[kept], ring_of[kept], len(parts))
    by_geom: list[list[str]] = [[] for _i in range(len(geoms))]
    for g, text in zip(
        part_of[drawn].tolist(), np.asarray(packed, dtype=object)[drawn], strict=True
    ):
        by_geom[g].append(text)
    lo = np.full((len(geoms), 2), np.inf)
    hi = np.full((len(geoms), 2), -np.inf)
    shells = exterior & kept
    bounds = shapely.bounds(rings[shells])
    owner = part_of[ring_of[shells]]
    np.minimum.at(lo, owner, bounds[:, :2])
    np.maximum.at(hi, owner, bounds[:, 2:])
    box = np.zeros((len(geoms), 4), dtype=np.int64)
    has = np.isfinite(lo[:, 0])
    box[has] = np.round(np.hstack([lo, hi])[has] * COORD_SCALE).astype(np.int64)
    return [
        {"f": int(f), "b": int(b), "p": p, "bb": bb}
        for f, b, p, bb in zip(fac.tolist(), band, by_geom, box.tolist(), strict=True)
        if p
    ]


def poi_names(analysis: Result) -> pd.Series:
    """POI id -> name of a result's POIs (first row of a repeated id)."""
    pois = pd.DataFrame(analysis.pois[["poi_id", "name"]])
    return pois.drop_duplicates("poi_id").set_index("poi_id")["name"]


def facility_records(analysis: Result, cap: int = POPUP_LIST_CAP) -> list[dict[str, Any]]:
    """What a facility's popup shows, for every facility (in table order), text escaped.

    Parameters
    ----------
    analysis
        The run's results.
    cap
        Longest list of reached POIs.

    Returns
    -------
    records
        ``{"id", "name", "kind", "status" (None when "ok"), "ent": [entrances snapped, entrances],
        "bands": [[band label, POIs reached], ...], "top": [[name, kind, minutes text], ...]
        (the nearest `cap` reached, nearest first), "more": how many more}``; the page
        builds the popup from it on click (planner.js ``popupHtml``), as `facility_popup`.
    """
    names = poi_names(analysis)
    entries: dict[str, dict[str, Any]] = {}
    for f in analysis.summary["facilities"]:
        entries.setdefault(f["facility_id"], f)  # the first, as `facility_popup` takes
    cov = analysis.coverage
    at = cov.groupby("facility_id", sort=False).indices if len(cov) else {}
    poi = cov["poi_id"].to_numpy(dtype=object)
    kind = cov["poi_kind"].to_numpy(dtype=object)
    minutes = cov["minutes"].to_numpy(dtype=float)
    fac = analysis.facilities
    reached = [at.get(fid, np.empty(0, dtype=np.intp)) for fid in fac["facility_id"]]
    # every popup's nearest `cap` at once: names looked up and text escaped in one pass each
    first = np.concatenate([r[:cap] for r in reached]) if reached else np.empty(0, np.intp)
    top_names = esc_many(names.reindex(poi[first]).to_numpy(dtype=object))
    top_kinds = esc_many(kind[first])
    top_minutes = [f"{m:.1f}" for m in minutes[first].tolist()]
    ends = np.cumsum([min(len(r), cap) for r in reached]).tolist()
    out = []
    for fid, name, fkind, status, snapped, total, rows, end in zip(
        fac["facility_id"],
        fac["name"],
        fac["kind"],
        fac["status"],
        fac["entrances_snapped"],
        fac["entrances"],
        reached,
        ends,
        strict=True,
    ):
        entry = entries.get(str(fid))
        begin = end - min(len(rows), cap)
        top = [
            [n or "(无名称 unnamed)", k, m]
            for n, k, m in zip(
                top_names[begin:end], top_kinds[begin:end], top_minutes[begin:end], strict=True
            )
        ]
        out.append(
            {
                "id": esc(fid),
                "name": esc(name),
                "kind": esc(fkind),
                "status": None if status == "ok" else esc(status),
                "ent": [int(snapped), int(total)],
                "bands": [
                    [esc(k), v["pois"]] for k, v in (entry["bands"].items() if entry else [])
                ],
                "top": top,
                "more": max(len(rows) - cap, 0),
            }
        )
    return out


def popup_html(record: dict[str, Any]) -> str:
    """A facility popup's HTML from its `facility_records` record (planner.js builds the same).

    Parameters
    ----------
    record
        One record of `facility_records`.

    Returns
    -------
    html
        Escaped HTML.
    """
    rows = "".join(
        f"<tr><td>≤{k} 分钟 min</td><td style='text-align:right'>{n}</td></tr>"
        for k, n in record["bands"]
    )
    items = "".join(
        f"<li>{name} <small>{kind} · {minutes} 分钟 min</small></li>"
        for name, kind, minutes in record["top"]
    )
    more = record["more"]
    more_html = f"<div>…另有 {more} 个 and {more} more</div>" if more else ""
    status = (
        f"<div style='color:#b00'>状态 status: {record['status']}</div>" if record["status"] else ""
    )
    snapped, total = record["ent"]
    return (
        f"<div class='planner-popup'><b>{record['id']} {record['name']}</b><br>"
        f"<small>{record['kind']} · 入口 entrances: {snapped}/{total}</small>"
        f"{status}<table>{rows}</table>"
        f"<div>可达商户与服务点（由近及远） Reached, nearest first:</div>"
        f"<ol>{items or '<li>（无 none）</li>'}</ol>{more_html}</div>"
    )


def facility_popup(analysis: Result, facility_id: str, cap: int = POPUP_LIST_CAP) -> str:
    """Popup HTML of a facility: POIs reached per band and the nearest `cap` of them.

    Parameters
    ----------
    analysis
        The run's results.
    facility_id
        The facility.
    cap
        Longest list shown; the rest is summarised as "…and N more".

    Returns
    -------
    html
        Escaped HTML (what the map shows on click).
    """
    ids = list(analysis.facilities["facility_id"])
    return popup_html(facility_records(analysis, cap)[ids.index(facility_id)])


def facility_data(analysis: Result) -> dict[str, Any]:
    """Facilities (`facility_records`) and their entrance points for the page.

    Parameters
    ----------
    analysis
        The run's results.

    Returns
    -------
    data
        ``{"facilities": facility_records(analysis), "entrances": [[lon, lat, facility
        index, escaped entrance name (and `skip_note`), 1 when the walk starts there (a
        routed status) else 0], ...]}``; entrances without coordinates are left out.
    """
    fac_ids = pd.Index(list(analysis.facilities["facility_id"]))
    ent = analysis.entrances
    notes = _skip_notes(ent)
    which = fac_ids.get_indexer(ent["id"])
    lon = ent["lon"].to_numpy(dtype=float)
    lat = ent["lat"].to_numpy(dtype=float)
    door = ent["entrance"] if "entrance" in ent else pd.Series([None] * len(ent))
    from planner.schema import ROUTED_STATUSES

    walked = ent["status"].astype(str).isin({str(s) for s in ROUTED_STATUSES}).to_numpy()
    entrances = []
    for i, (name, entrance) in enumerate(zip(ent["name"], door, strict=True)):
        if not (np.isfinite(lon[i]) and np.isfinite(lat[i])) or which[i] < 0:
            continue
        label = name
        if isinstance(entrance, str) and entrance.strip():
            label = f"{label} · {entrance.strip()}"
        label = esc(label) + (f"<br>{notes[i]}" if notes[i] else "")
        entrances.append(
            [round(float(lon[i]), 6), round(float(lat[i]), 6), int(which[i]), label, int(walked[i])]
        )
    return {"facilities": facility_records(analysis), "entrances": entrances}


def reach_data(analysis: Result) -> list[list[int]]:
    """What each facility reaches, for the page's "focus on a facility" view.

    Parameters
    ----------
    analysis
        The result: its coverage, POI table and bands (``settings.bands_min``).

    Returns
    -------
    reach
        One flat list per facility (in facility order): ``[poi row, band index, ...]``,
        the POI row being its position in ``analysis.pois`` (the page's ``poi[9]``) and the
        band index that of the facility's own minutes (``coverage.band_min``).
    """
    fac_ids = pd.Index(list(analysis.facilities["facility_id"]))
    bands = pd.Index([float(b) for b in analysis.settings.bands_min])
    cov = analysis.coverage
    pairs = pd.DataFrame(
        {
            "f": fac_ids.get_indexer(cov["facility_id"]),
            "b": bands.get_indexer(pd.Index(cov["band_min"].astype(float))),
            "poi_id": cov["poi_id"].to_numpy(),
        }
    )
    pairs = pairs[(pairs["f"] >= 0) & (pairs["b"] >= 0)]
    rows = pd.DataFrame({"poi_id": analysis.pois["poi_id"].to_numpy()})
    rows["row"] = np.arange(len(rows))
    # every row of a repeated POI id, in table order, after each pair in coverage order
    joined = pairs.merge(rows, on="poi_id", how="inner", sort=False)
    f = joined["f"].to_numpy()
    order = np.argsort(f, kind="stable")
    flat = np.column_stack([joined["row"].to_numpy()[order], joined["b"].to_numpy()[order]])
    cuts = np.searchsorted(f[order], np.arange(len(fac_ids) + 1))
    return [flat[a:b].ravel().tolist() for a, b in itertools.pairwise(cuts.tolist())]


def _rounded6(values: np.ndarray) -> np.ndarray:
    """Integers of ``round(v, 6) * 1e6`` (Python's decimal rounding, as the rows show)."""
    r6 = np.array([round(v, 6) for v in values.tolist()], dtype=float)
    return np.rint(r6 * 1e6).astype(np.int64)


def poi_columns(analysis: Result) -> dict[str, Any]:
    """POIs for the page as columns by kind group (the page's ``pois``).

    Parameters
    ----------
    analysis
        The result: its POI table and bands (``settings.bands_min``).

    Returns
    -------
    columns
        ``{"text": [escaped texts shared by rows], "groups": {group key: {"x", "y":
        packed delta-encoded lon/lat in 1e-6°, "c": packed colour index
        (`planner.style.band_index`), "n": [escaped names], "k", "f", "s": packed
        positions in "text" of the escaped kind, nearest facility and status, "m": packed
        minutes × 10 + 1 (0: not reached), "r": packed delta-encoded rows in
        ``analysis.pois``, "o": [[position in the group, `skip_note`], ...]}}}``; groups in
        `KIND_GROUPS` order, POIs without coordinates left out. `poi_data` gives the same
        as one row per POI.
    """
    p = analysis.pois
    lon = p["lon"].to_numpy(dtype=float)
    lat = p["lat"].to_numpy(dtype=float)
    minutes = p["minutes_to_nearest"].to_numpy(dtype=float)
    colour = style.band_index(minutes, analysis.settings.bands_min)
    kinds = p["kind"].to_numpy(dtype=object)
    groups = {k: kind_group(k) for k in pd.unique(kinds)}
    group = np.array([groups[k] for k in kinds], dtype=object)
    text: dict[str, int] = {}

    def codes(values: Any) -> np.ndarray:
        return np.array([text.setdefault(t, len(text)) for t in esc_many(values)], np.int64)

    kind_code = codes(kinds)
    near_code = codes(p["nearest_facility_id"])
    status_code = codes(p["status"])
    names = esc_many(p["name"])
    tenths = np.where(np.isfinite(minutes), np.rint(np.round(minutes, 1) * 10) + 1, 0)
    m_code = np.nan_to_num(tenths, posinf=0, neginf=0).astype(np.int64)
    notes = _skip_notes(p)
    ok = np.isfinite(lon) & np.isfinite(lat)
    x, y = np.zeros(len(p), np.int64), np.zeros(len(p), np.int64)
    x[ok], y[ok] = _rounded6(lon[ok]), _rounded6(lat[ok])
    out: dict[str, Any] = {}
    for g in KIND_GROUPS:
        rows = np.flatnonzero(ok & (group == g))
        if not len(rows):
            continue
        out[g] = {
            "x": pack_ints(_delta(x[rows])),
            "y": pack_ints(_delta(y[rows])),
            "c": pack_ints(colour[rows]),
            "n": [names[i] for i in rows.tolist()],
            "k": pack_ints(kind_code[rows]),
            "f": pack_ints(near_code[rows]),
            "m": pack_ints(m_code[rows]),
            "s": pack_ints(status_code[rows]),
            "r": pack_ints(_delta(rows)),
            "o": [[j, notes[i]] for j, i in enumerate(rows.tolist()) if notes[i]],
        }
    return {"text": list(text), "groups": out}


def poi_data(analysis: Result) -> dict[str, list[list[Any]]]:
    """POIs for the page, by kind group, one row per POI (`poi_columns` unpacked).

    Parameters
    ----------
    analysis
        The result: its POI table and bands (``settings.bands_min``).

    Returns
    -------
    groups
        Group key -> ``[lon, lat, colour index, name, kind, nearest facility, minutes,
        status, note, row]`` rows (text escaped; colour index by `planner.style.band_index`,
        into the page's palette; minutes None when not reached; note: the `skip_note` of a
        POI snapped past a disconnected piece, else ""; row: position in
        ``analysis.pois``). POIs without coordinates are left out. This is what planner.js
        rebuilds from `poi_columns`.
    """
    cols = poi_columns(analysis)
    text = cols["text"]
    out: dict[str, list[list[Any]]] = {}
    for g, c in cols["groups"].items():
        x = np.cumsum(unpack_ints(c["x"])).tolist()
        y = np.cumsum(unpack_ints(c["y"])).tolist()
        rows = np.cumsum(unpack_ints(c["r"])).tolist()
        notes = dict(c["o"])
        m = unpack_ints(c["m"]).tolist()
        out[g] = [
            [
                xi / 1e6,
                yi / 1e6,
                ci,
                name,
                text[k],
                text[f],
                (mi - 1) / 10 if mi else None,
                text[s],
                notes.get(j, ""),
                r,
            ]
            for j, (xi, yi, ci, name, k, f, mi, s, r) in enumerate(
                zip(
                    x,
                    y,
                    unpack_ints(c["c"]).tolist(),
                    c["n"],
                    unpack_ints(c["k"]).tolist(),
                    unpack_ints(c["f"]).tolist(),
                    m,
                    unpack_ints(c["s"]).tolist(),
                    rows,
                    strict=True,
                )
            )
        ]
    return out


def skip_note(extra_m: float, piece: object, name: object = "") -> str:
    """Tooltip line of a point snapped past a disconnected piece (Chinese first, English second).

    Parameters
    ----------
    extra_m
        Extra metres of access leg (``skipped_extra_m``); NaN when the point is not routed.
    piece
        Dropped piece id (``skipped_piece``).
    name
        The piece's street names (escaped here).

    Returns
    -------
    html
        Escaped HTML.
    """
    label = f"#{esc(piece)}" + (f" {esc(name)}" if esc(name) else "")
    if extra_m is None or not np.isfinite(extra_m):
        return (
            f"<span class='planner-skip'>最近街道不连通（断开的路段 {label}），未计算 "
            f"nearest street is disconnected (piece {label}): not routed</span>"
        )
    return (
        f"<span class='planner-skip'>最近街道不连通，多走 {extra_m:.0f} 米 "
        f"nearest street is disconnected: +{extra_m:.0f} m (断开的路段 piece {label})</span>"
    )


def _skip_notes(table: pd.DataFrame) -> list[str]:
    """`skip_note` per row of a POI or facility table ("" where no piece was skipped)."""
    out = [""] * len(table)
    if "skipped_piece" not in table:
        return out
    names = table.get("skipped_piece_name", pd.Series("", index=table.index))
    piece, extra = table["skipped_piece"], table["skipped_extra_m"].to_numpy(dtype=float)
    for i in np.flatnonzero(piece.notna().to_numpy()).tolist():
        out[i] = skip_note(float(extra[i]), piece.iat[i], names.iat[i])
    return out


def piece_data(analysis: Result, tolerance_m: float = SIMPLIFY_M) -> dict[str, list[Any]]:
    """The dropped (disconnected) street pieces and the access legs that skipped them.

    Parameters
    ----------
    analysis
        The result: its street network (with ``dropped_geometry`` and ``dropped_piece``),
        POI and entrance tables (with the skipped-piece columns) and snapping limit
        (``settings.snap_limit_m``, to find where a flagged point was snapped).
    tolerance_m
        Simplification tolerance in metres.

    Returns
    -------
    pieces
        ``pieces``: ``{"i": piece id, "t": escaped tooltip, "l": [encoded lines]}`` per
        piece; ``legs``: ``[lon, lat, snapped lon, snapped lat, escaped tooltip]`` per POI
        or facility entrance routed past a piece (a line from the point to where it joins
        the routed network).
    """
    network, snap_limit_m = analysis.network, analysis.settings.snap_limit_m
    dropped = network.components.dropped if network.components else pd.DataFrame()
    skipped = {
        s["piece"]: s for s in analysis.summary.get("disconnected_pieces", {}).get("by_piece", [])
    }
    pieces = []
    if len(network.dropped_geometry):
        piece_of = np.asarray(network.dropped_piece, dtype=np.int64)
        order = np.argsort(piece_of, kind="stable")  # by piece, streets in their order
        piece_of = piece_of[order]
        geoms = np.asarray(network.dropped_geometry, dtype=object)[order]
        geoms = shapely.simplify(geoms, tolerance_m)
        drawn = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        to_wgs84 = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
        lines = encode_lines(geoms, to_wgs84=to_wgs84)  # one per drawn street, in order
        ids, first = np.unique(piece_of, return_index=True)
        ends = np.cumsum(drawn)[np.r_[first[1:], len(piece_of)] - 1].tolist()
        rows = dropped.to_dict("records")
        for piece, a, b in zip(ids.tolist(), [0, *ends[:-1]], ends, strict=True):
            pieces.append({"i": piece, "t": _piece_tooltip(piece, rows, skipped), "l": lines[a:b]})
    legs = []
    for table in (analysis.pois, analysis.entrances):
        if "skipped_extra_m" not in table:
            continue
        rows = table[np.isfinite(table["skipped_extra_m"].to_numpy(dtype=float))]
        if not len(rows):
            continue
        lon, lat = rows["lon"].to_numpy(dtype=float), rows["lat"].to_numpy(dtype=float)
        to_net = Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
        x, y = to_net.transform(lon, lat)
        snapped = snap.snap_points(network, np.asarray(x), np.asarray(y), snap_limit_m)
        back = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
        slon, slat = back.transform(snapped["snap_x"].to_numpy(), snapped["snap_y"].to_numpy())
        for i, note in enumerate(_skip_notes(rows)):
            if not np.isfinite(slon[i]):
                continue
            tip = f"<b>{esc(rows['name'].iat[i]) or '(无名称 unnamed)'}</b><br>{note}"
            legs.append(
                [
                    round(float(lon[i]), 6),
                    round(float(lat[i]), 6),
                    round(float(slon[i]), 6),
                    round(float(slat[i]), 6),
                    tip,
                ]
            )
    return {"pieces": pieces, "legs": legs}


def _piece_tooltip(piece: int, dropped: list[dict[Any, Any]], skipped: dict[int, Any]) -> str:
    row = dropped[piece] if piece < len(dropped) else {}
    parts = [f"<b>断开的路段 Disconnected street piece #{piece}</b>"]
    if isinstance(row.get("names"), str) and row.get("names"):
        parts.append(esc(row["names"]))
    facts = []
    if pd.notna(row.get("example_node")):
        facts.append(f"OSM node {esc(int(row['example_node']))}")
    if pd.notna(row.get("edges")):
        facts.append(f"{esc(int(row['edges']))} 段 segments")
    if pd.notna(row.get("length_m")):
        facts.append(f"{float(row['length_m']):.0f} m")
    if facts:
        parts.append(" · ".join(facts))
    parts.append("未连到主路网，不参与计算 not connected to the routed network")
    s = skipped.get(piece)
    if s:
        parts.append(
            f"最近街道在此的点 points whose nearest street is here: "
            f"{int(s['pois'])} 商户 POIs, {int(s['facility_rows'])} 入口 entrances"
        )
    return "<br>".join(parts)


#: Largest error (metres) accepted for drawing gap cells from an affine map of the lattice.
GRID_AFFINE_MAX_ERROR_M = 0.5


def _lattice_affine(
    analysis: Result, x0: np.ndarray, y0: np.ndarray, size: float
) -> tuple[list[float], float]:
    """Fit lattice kilometres -> (lon, lat) with a quadratic on every cell corner.

    Returns the coefficients (six for lon, six for lat: 1, x, y, x², xy, y² with x, y in km
    from the lattice origin) and the largest error of that fit in metres.
    """
    dx = np.array([0.0, size, size, 0.0])
    dy = np.array([0.0, 0.0, size, size])
    cx = (x0[:, None] + dx).ravel()
    cy = (y0[:, None] + dy).ravel()
    to_wgs = Transformer.from_crs(analysis.network.crs, "EPSG:4326", always_xy=True)
    lon, lat = (np.asarray(v, dtype=float) for v in to_wgs.transform(cx, cy))
    x, y = (cx - float(x0.min())) / 1000.0, (cy - float(y0.min())) / 1000.0
    design = np.column_stack([np.ones_like(x), x, y, x * x, x * y, y * y])
    coef_lon = np.linalg.lstsq(design, lon, rcond=None)[0]
    coef_lat = np.linalg.lstsq(design, lat, rcond=None)[0]
    err_lon = np.abs(design @ coef_lon - lon) * 111_320.0 * np.cos(np.radians(lat))
    err_lat = np.abs(design @ coef_lat - lat) * 110_574.0
    err = float(max(err_lon.max(initial=0.0), err_lat.max(initial=0.0)))
    return [*map(float, coef_lon), *map(float, coef_lat)], err


def gap_data(analysis: Result, tolerance_deg: float = 1e-6) -> dict[str, Any]:
    """Gap cells and crow-fly radii for the page (`planner.gaps`).

    The cells lie on a square lattice of the network's metric CRS; where a quadratic map of
    the lattice to WGS-84 is within `GRID_AFFINE_MAX_ERROR_M` of the projection at every
    corner (on the sample: 3 mm), a cell is written as its lattice position only
    (``affine`` mode, about a fifth of the size), else as an encoded ring.

    Parameters
    ----------
    analysis
        The result: its gaps (``analysis.gaps``, else computed from the result) and bands.
    tolerance_deg
        Simplification tolerance of the cell outlines in degrees (ring mode).

    Returns
    -------
    data
        ``cells``: ``[i, j, [uncovered per band], unreached street m]`` (affine mode, with
        ``affine``: the twelve coefficients of `_lattice_affine`, ``origin``: the lattice
        origin in metres and ``size``) or ``[[encoded ring], [uncovered per band],
        unreached street m, escaped cell id]``; ``cellMax``: most uncovered merchants
        (largest band) in one cell;
        ``radii``: crow-fly radius in metres per band.
    """
    found = gaps.gaps_of(analysis)
    keys = [f"{b:g}" for b in analysis.settings.bands_min]
    table = found.cells
    size = gaps.CELL_M
    counts = table[[f"uncovered_{k}" for k in keys]].to_numpy().astype(np.int64).tolist()
    # np.rint rounds halves to even, as Python's round does
    street = np.rint(table["unreached_street_m"].to_numpy(dtype=float)).astype(np.int64).tolist()
    out: dict[str, Any] = {}
    cells: list[list[Any]] = []
    affine, error = (
        _lattice_affine(analysis, table["x0"].to_numpy(float), table["y0"].to_numpy(float), size)
        if len(table)
        else ([], np.inf)
    )
    if len(table) and error <= GRID_AFFINE_MAX_ERROR_M:
        ox, oy = float(table["x0"].min()), float(table["y0"].min())
        ii = np.rint((table["x0"].to_numpy(float) - ox) / size).astype(int)
        jj = np.rint((table["y0"].to_numpy(float) - oy) / size).astype(int)
        cells = [
            [i, j, c, m]
            for i, j, c, m in zip(ii.tolist(), jj.tolist(), counts, street, strict=True)
        ]
        out.update(
            {"affine": [float(f"{a:.15g}") for a in affine], "origin": [ox, oy], "size": size}
        )
    else:
        for (_row, c), n, m in zip(table.iterrows(), counts, street, strict=True):
            xy = np.asarray(shapely.simplify(c.geometry, tolerance_deg).exterior.coords)
            cells.append([encode_line(xy[:, 0], xy[:, 1]), n, m, esc(c["cell_id"])])
    most = max((c[-2][-1] if "affine" in out else c[1][-1] for c in cells), default=0)
    mpm = analysis.settings.metres_per_minute
    out.update(
        {
            "cells": cells,
            "cellMax": most,
            "radii": [round(b * mpm, 2) for b in analysis.settings.bands_min],
        }
    )
    return out


def _crowfly_panel(analysis: Result) -> str:
    """Panel table: per facility and band, merchants within the crow-fly radius vs on foot."""
    rows = analysis.summary.get("crowfly")
    if rows is None:
        rows = gaps.summary_sections(gaps.gaps_of(analysis))["crowfly"]
    if not rows:
        return ""
    bands = [f"{b:g}" for b in analysis.settings.bands_min]
    by_fac: dict[str, dict[str, Any]] = {}
    for r in rows:
        by_fac.setdefault(str(r["facility_id"]), {})[f"{float(r['band_min']):g}"] = r
    head = "".join(f"<th>≤{esc(b)}</th>" for b in bands)
    body = ""
    for fid, per in by_fac.items():
        cells = ""
        for b in bands:
            r = per.get(b)
            if r is None:
                cells += "<td>–</td>"
                continue
            ratio = "–" if r["ratio"] is None else f"{100 * float(r['ratio']):.0f}%"
            cells += (
                f"<td>{int(r['walking_count'])}/{int(r['crowfly_count'])}"
                f"<br><small>{ratio}</small></td>"
            )
        body += f"<tr><td>{esc(fid)}</td>{cells}</tr>"
    return (
        "<details><summary>直线距离 vs 步行 Crow-fly vs walking</summary>"
        "<div><small>步行可达/直线半径内商户数（比例） merchants reached on foot / within "
        "the straight-line radius (share)</small></div>"
        f"<table class='planner-sum'><tr><th>服务点 Facility</th>{head}</tr>{body}</table>"
        "</details>"
    )


# --------------------------------------------------------------------------- panel
def summary_numbers(analysis: Result) -> dict[str, Any]:
    """Numbers shown in the map's summary panel, taken from ``analysis.summary``.

    Parameters
    ----------
    analysis
        The result: its summary and bands (``settings.bands_min``).

    Returns
    -------
    numbers
        ``facilities``: (id, name, [POIs per band]); ``overall``: [(band, within, share of
        all)]; ``total``, ``routable``, ``by_status``.
    """
    keys = [f"{b:g}" for b in analysis.settings.bands_min]
    s = analysis.summary
    facilities = [
        (f["facility_id"], f["name"], [f["bands"][k]["pois"] for k in keys])
        for f in s["facilities"]
    ]
    overall = [
        (k, s["overall"]["bands"][k]["pois_within"], s["overall"]["bands"][k]["share_of_all_pois"])
        for k in keys
    ]
    return {
        "facilities": facilities,
        "overall": overall,
        "total": s["overall"]["pois_total"],
        "routable": s["overall"]["pois_routable"],
        "by_status": dict(s["overall"]["pois_by_status"]),
    }


def _share(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _overlay_legend(bands: Sequence[float]) -> str:
    """Legend rows of the streets and of the two overlays shown on demand (gaps, crow-fly)."""
    gap, top = style.BEYOND_COLOUR, f"{bands[-1]:g}"
    return (
        f"<div><span class='sw piece' style='background:{style.STREET_COLOUR}'></span>"
        "街道（步行路网） streets (walk network)</div>"
        f"<div><span class='sw' style='background:{gap};opacity:.55;border-color:{gap}'></span>"
        f"服务缺口格（图层“服务缺口”，100 米）：颜色越深，超出 {top} 分钟（未覆盖）的商户越多；"
        "灰格：有街道超出最大圈层，但没有未覆盖商户 Gap cells (layer Gaps, 100 m): darker ="
        f" more merchants beyond {top} min (uncovered); grey: streets beyond the largest band,"
        " no merchant left out</div>"
        f"<div><span class='sw leg' style='border-top-color:{style.palette(bands)[0]}'></span>"
        "虚线圆（图层“直线半径”）：按直线距离（速度×分钟）画的圈，与步行圈对比 dashed circles"
        " (layer Crow-fly radius): straight-line radius, speed × minutes, to compare with"
        " walking</div>"
    )


def _pieces_legend(analysis: Result) -> str:
    d = analysis.summary.get("disconnected_pieces")
    if not d or not (d["pieces"] or d["pois"]["affected"] or d["facility_rows"]["affected"]):
        return ""
    text = (
        f"<div><span class='sw piece' style='background:{style.PIECE_COLOUR}'></span>"
        f"断开的路段（未连通，不参与计算） "
        f"Disconnected street pieces (not routed): {d['pieces']}</div>"
    )
    n_poi, n_fac = d["pois"]["affected"], d["facility_rows"]["affected"]
    if n_poi or n_fac:
        extra = (d["pois"]["extra_m_max"], d["facility_rows"]["extra_m_max"])
        worst = max(x for x in extra if x is not None)
        text += (
            f"<div><span class='sw leg' style='border-top-color:{style.PIECE_COLOUR}'></span>"
            f"最近街道在其中、改接主路网的点 "
            f"points whose nearest street is in one, snapped to the routed network: "
            f"{n_poi} 商户 POIs, {n_fac} 入口 entrances，最多多走 up to +{worst:.0f} 米 m</div>"
        )
    return text


def policy_html(analysis: Result) -> str:
    """The panel's 政策业态 section: required types each facility / origin lacks.

    Parameters
    ----------
    analysis
        The result; nothing is shown when it has no ``policy`` table.

    Returns
    -------
    html
        Escaped HTML (a closed ``<details>``), or ``""``.
    """
    policy = analysis.policy
    if policy is None or policy.empty:
        return ""
    from planner.policy import missing_by_origin, not_checked_types, not_routed
    from planner.schema import ROUTED_STATUSES

    largest = float(policy["band_min"].max())
    first = policy[policy["band_min"] == policy["band_min"].min()]
    words = dict(zip(first["type_code"], first["type_zh"], strict=False))
    summary = analysis.summary.get("policy", {})
    skipped = set(not_routed(analysis))
    # an origin is walked when one of its rows was (a fixed lat/lon swap is), as the
    # summary has it: a second row without a point does not make it "not walked"
    origin_rows = summary.get("origins", [])
    routed = {str(s) for s in ROUTED_STATUSES}
    walked = {o["origin_id"] for o in origin_rows if o["status"] in routed}
    skipped |= {("origin", o["origin_id"]) for o in origin_rows if o["origin_id"] not in walked}
    # what each walked circle lacks: summary.json's list (`add_policy` made both)
    lacking = summary.get("missing")
    if lacking is None:  # a policy table set by hand, without its summary
        lacking = missing_by_origin(policy, skipped)
    names = dict(zip(analysis.facilities["facility_id"], analysis.facilities["name"], strict=True))
    for o in origin_rows:
        names.setdefault(o["origin_id"], o["name"])
    rows = []
    for (oid, kind), g in first.groupby(["origin_id", "origin_kind"], sort=False):
        codes = None if (kind, str(oid)) in skipped else lacking.get(str(oid))
        if codes is None:
            lacks = "未计算 not walked (no usable point)"
        else:
            lacks = "、".join(esc(words[c]) for c in codes) or "—"
        where = "" if g["origin_kind"].iat[0] == "facility" else "（起点 origin）"
        rows.append(f"<div><b>{esc(oid)}</b> {esc(names.get(oid, ''))}{where}: {lacks}</div>")
    unchecked = not_checked_types(policy)
    unchecked_html = (
        f"<div><small>最大圈层 {largest:g} 分钟，未检查 {len(unchecked)} 类要求更远的业态 · "
        f"bands end at {largest:g} min: {len(unchecked)} types required farther not checked"
        "</small></div>"
        if unchecked
        else ""
    )
    return (
        "<details><summary>政策业态 Required services（要求时间内缺少 missing within the "
        "required time）</summary><div><small>商务部《城市一刻钟便民生活圈建设指南》业态"
        "（默认表：基本保障类 10 分钟、品质提升类 15 分钟内应有）"
        " · MOFCOM guide types (shipped table: basic within 10 min, "
        f"quality within 15 min); details in policy.csv</small></div>{unchecked_html}"
        f"{''.join(rows)}"
        "</details>"
    )


def legend_html(analysis: Result, *, tianditu: bool, rings: Sequence[tuple[str, str]] = ()) -> str:
    """The panel: legend, summary, method, sources, CRS notes (Chinese first, English second).

    Parameters
    ----------
    analysis
        The result: its settings, provenance and summary.
    tianditu
        Whether a Tianditu base layer is offered.
    rings
        More legend rows, (colour, label): a ring of the colour, then the label (escaped).

    Raises
    ------
    ValueError
        A ring's colour is not ``#rgb`` or ``#rrggbb``.

    Returns
    -------
    html
        Escaped HTML for the map's panel.
    """
    about, bands = analysis.provenance, analysis.settings.bands_min
    pal = style.palette(bands)
    sw = "<span class='sw' style='background:{}'></span>"
    rows, lo = [], 0.0
    for i, b in enumerate(bands):
        rows.append(f"<div>{sw.format(pal[i])}{lo:g}–{b:g} 分钟 min</div>")
        lo = b
    rows.append(f"<div>{sw.format(pal[-2])}&gt;{bands[-1]:g} 分钟 min 超出 beyond</div>")
    rows.append(f"<div>{sw.format(pal[-1])}不可达/未计算 unreachable / not routed</div>")
    fac, edge = style.FACILITY_COLOUR, style.FACILITY_EDGE_COLOUR
    rows.append(
        f"<div><span class='sw fac' style='background:{fac};border-color:{edge};"
        f"box-shadow:0 0 0 1px {fac}'></span>服务点（入口） facility (entrance)</div>"
    )
    for colour, label in rings:
        if not _HEX_COLOUR.fullmatch(colour):
            raise ValueError(
                _("legend colour {colour!r}: expected #rgb or #rrggbb").format(colour=colour)
            )
        rows.append(
            f"<div><span class='sw' style='background:transparent;border:3px solid {colour};"
            f"border-radius:50%;width:8px;height:8px'></span>{esc(label)}</div>"
        )
    rows.append(_pieces_legend(analysis))
    rows.append(_overlay_legend(bands))
    num = summary_numbers(analysis)
    head = "".join(f"<th>≤{b:g}</th>" for b in bands)
    body = "".join(
        f"<tr><td>{esc(fid)} {esc(name)}</td>{''.join(f'<td>{n}</td>' for n in counts)}</tr>"
        for fid, name, counts in num["facilities"]
    )
    overall = "".join(
        f"<td>{n}<br><small>{_share(sh)}</small></td>" for _band, n, sh in num["overall"]
    )
    status = ", ".join(f"{esc(k)}: {v}" for k, v in num["by_status"].items())
    date = f"（{esc(about.network_date)}）" if about.network_date else ""
    tdt = (
        "天地图底图已提供（CGCS2000≈WGS-84，无需偏移）"
        " Tianditu basemap available (no shift needed)."
        if tianditu
        else "天地图底图：设置环境变量 TIANDITU_KEY（天地图浏览器端密钥）后重新生成地图即可启用。"
        " Tianditu basemap: set TIANDITU_KEY to your Tianditu browser key and re-run the planner."
    )
    return f"""<div class='planner-title'>{esc(about.title)}</div>
<details open><summary>图例 Legend</summary>
<div>步行至最近服务点的时间（商户点颜色与服务圈同色） Walking time to the nearest facility</div>
{"".join(rows)}
<div>步行速度 Speed {analysis.settings.speed_kmh:g} km/h · 方法 Method: 沿街道网络步行，非直线距离
 network walking along streets, not straight line (access to the nearest street included)</div>
<div id='planner-crs'>当前叠加图层 Overlays now: WGS-84</div>
</details>
<details open><summary>汇总 Summary（商户与服务点数 POIs reached）</summary>
<table class='planner-sum'><tr><th>服务点 Facility</th>{head}</tr>{body}
<tr class='all'><td>全部（至最近服务点） All, nearest facility<br>
<small>共 total {num["total"]}</small></td>{overall}</tr>
</table><div><small>状态 Status: {status}</small></div>
</details>
{policy_html(analysis)}
{_crowfly_panel(analysis)}
<details><summary>数据与坐标 Data &amp; CRS</summary>
<div>路网与商户 Streets &amp; POIs: {esc(about.attribution)}{date}</div>
<div>服务点 Facilities: {esc(about.facilities_file or "")}</div>
<div>{esc(review_line(about.review_number, about.issuing_unit))}</div>
<div>坐标 CRS: WGS-84 (EPSG:4326)。</div>
<div>高德底图使用 GCJ-02：选择高德底图时，所有叠加图层自动偏移到 GCJ-02 以对齐。
 Amap tiles are GCJ-02: when the Amap base layer is on,
 every overlay is shifted into GCJ-02 so it lines up.</div>
<div>{tdt}</div>
<div>底图瓦片需联网；无瓦片时街道由本情景数据绘制。
 Tile layers need internet; without them the streets are drawn from this scenario's data.</div>
<div>© OpenStreetMap contributors</div>
</details>"""


_NEWLINE = re.compile(r"\r\n|\r|\n")


class _Verbatim(Element):
    """An element whose text goes into the page as it is, not parsed as a Jinja template.

    branca's `Element(text)` compiles `text` as a template and renders it: for the page
    data (about 230 kB on the sample) and planner.js that is wasted work, and a ``{{`` in
    a street or shop name would be read as Jinja. The text is written as Jinja writes a
    template without tags (every line end as a newline, one trailing line end dropped), so the
    page is unchanged.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        lines = _NEWLINE.split(str(text))
        if lines[-1] == "":
            del lines[-1]
        self._template_str = text
        self.text = "\n".join(lines)

    def render(self, **kwargs: Any) -> str:
        """Return the text."""
        return self.text


class _PlannerLayers(MacroElement):
    """The page data (a JSON ``<script>``) and the call of ``plannerInit`` (planner.js) on it.

    Added last, after the LayerControl, so the layer groups and the control exist.
    """

    _template = Template(
        """{% macro html(this, kwargs) %}<script type="application/json" id="{{ this.data_id }}">
{{ this.data }}</script>{% endmacro %}
{% macro script(this, kwargs) %}plannerInit({{ this.map }}, {{ this.control }}, {{ this.groups }},
  JSON.parse(document.getElementById("{{ this.data_id }}").textContent));{% endmacro %}"""
    )

    def __init__(self, m: folium.Map, control: folium.LayerControl, groups: str, data: str) -> None:
        super().__init__()
        self._name = "PlannerLayers"
        self.map = m.get_name()
        self.control = control.get_name()
        self.data_id = f"planner-data-{m.get_name()}"
        self.groups = groups
        self.data = data

    def render(self, **kwargs: Any) -> Any:
        """Add the data and the call to the page (`MacroElement.render`, text kept verbatim)."""
        figure: Any = self.get_root()  # a branca Figure (its html and script parts)
        module: Any = self._template.module  # the template's macros
        html = module.html(self, kwargs)
        script = module.script(self, kwargs)
        figure.html.add_child(_Verbatim(html), name=self.get_name())
        figure.script.add_child(_Verbatim(script), name=self.get_name())
        for element in self._children.values():
            element.render(**kwargs)
        return None


class _PlannerMap(folium.Map):
    """`folium.Map` whose layer control comes after every layer, those added later included.

    The layer control (and the page's `_PlannerLayers` call after it) refer to every layer
    by its JavaScript variable, so the layers must be defined before them in the page. A
    layer added to the map after `build_map` (the proposal's changes in
    `planner.proposals.compare_map`, or a notebook user's own, as folium's examples do)
    would otherwise be defined after the control: the page stopped at the control with
    "Cannot read properties of undefined" and drew nothing.
    """

    def render(self, **kwargs: Any) -> Any:
        """Move layers added after the layer control before it, then render as folium does."""
        from folium.map import Layer

        items = list(self._children.items())
        controls = (i for i, (_k, c) in enumerate(items) if isinstance(c, folium.LayerControl))
        at = next(controls, None)
        if at is not None and any(isinstance(c, Layer) for _k, c in items[at:]):
            for name, child in items[at:]:  # the control and what followed it, in order
                if not isinstance(child, Layer):
                    self._children.move_to_end(name)
        return super().render(**kwargs)

    def _repr_html_(self, **kwargs: Any) -> str:
        """Show the map inline in a notebook as the self-contained offline page.

        folium's own notebook view loads Leaflet and its plugins from CDNs (jsDelivr,
        cdnjs, code.jquery.com), so on an intranet without internet, or where those hosts
        are slow or blocked, the map stays blank. This is `planner.offline.render_offline`'s
        page, in the frame folium (branca) draws. A map with a layer whose library the
        planner does not bundle (`~planner.offline.OfflineAssetError`) is shown as folium
        shows it.
        """
        from planner.offline import OfflineAssetError, render_offline

        try:
            page = render_offline(self)  # its page: folium.Map makes one (a branca Figure)
        except OfflineAssetError:
            return str(super()._repr_html_(**kwargs))
        frame = (
            'style="position:absolute;width:100%;height:100%;left:0;top:0;border:none '
            '!important;" allowfullscreen webkitallowfullscreen mozallowfullscreen'
        )
        return (
            '<div style="width:100%;"><div style="position:relative;width:100%;height:0;'
            'padding-bottom:60%;"><span style="color:#565656">Make this Notebook Trusted to '
            f'load map: File -> Trust Notebook</span><iframe srcdoc="{html.escape(page)}" '
            f"{frame}></iframe></div></div>"
        )


# --------------------------------------------------------------------------- map
Bounds = tuple[float, float, float, float]


def _bounds(analysis: Result, street_lines: np.ndarray) -> tuple[Bounds, Bounds]:
    """(west, south, east, north) of the bands (else the streets), and of bands and streets."""
    streets: Bounds = _street_bounds(analysis, street_lines)
    iso = analysis.isochrones
    view = streets
    if len(iso) and np.all(np.isfinite(iso.total_bounds)):
        iw, is_, ie, in_ = (float(v) for v in iso.total_bounds)
        view = (iw, is_, ie, in_)
    w, s, e, n = view
    both = (min(w, streets[0]), min(s, streets[1]), max(e, streets[2]), max(n, streets[3]))
    return view, both


def build_map(analysis: Result, *, legend: Sequence[tuple[str, str]] = ()) -> folium.Map:
    """Build the folium map: streets, bands per facility and per band, POIs by kind, panel.

    Parameters
    ----------
    analysis
        The result: its tables and polygons, the settings that made them (bands, speed)
        and its provenance (title, sources); its street network is drawn as the basemap,
        so no tiles are needed.
    legend
        More rows for the panel's legend, for marks added to the map afterwards: (colour,
        label) pairs, each shown as a ring of that colour (``#rgb`` or ``#rrggbb``) before
        its label (escaped).

    Returns
    -------
    m
        The map. Tile layers (OpenStreetMap, Amap, Tianditu with a key) are offered but
        off; choosing Amap shifts every overlay into GCJ-02. Disconnected street pieces
        (left out of routing) and the access legs of points snapped past them are one
        overlay, shown when there are any. Up to `BAND_LAYERS_MAX` facilities each has
        its own band layer; with more, one layer holds every facility's bands (the panel's
        "focus on a facility" shows one). Layers added to the map afterwards (folium's
        ``add_to``) are drawn, listed in the layer control and shifted with the rest when
        Amap is chosen.
    """
    m, layers, data = _build(analysis, legend)
    layers.data = data
    return m


def _build(
    analysis: Result, legend: Sequence[tuple[str, str]] = ()
) -> tuple[folium.Map, _PlannerLayers, str]:
    """`build_map` with the page data apart: the map, its data element and the data text."""
    bands = analysis.settings.bands_min
    fac = facility_data(analysis)
    pois = poi_columns(analysis)
    pieces = piece_data(analysis)
    n_pois = sum(len(c["n"]) for c in pois["groups"].values())
    lines = _street_lines(analysis, SIMPLIFY_M)
    (w, s, e, n), grid_bounds = _bounds(analysis, lines)
    key = tianditu_key()
    per_facility = len(fac["facilities"]) <= BAND_LAYERS_MAX

    m = _PlannerMap(tiles=None, control_scale=False, maxZoom=19, zoom_control=True)
    folium.FeatureGroup(
        name="无底图（街道来自数据） No tiles: streets from data", overlay=False
    ).add_to(m)
    _tile_layer(
        OSM_TILES,
        name="OpenStreetMap (需联网 needs internet)",
        attr="© OpenStreetMap contributors",
        max_zoom=19,
    ).add_to(m)
    amap = _tile_layer(
        AMAP_TILES,
        name="高德 Amap (GCJ-02, 需联网 needs internet)",
        attr="© 高德地图 AutoNavi",
        subdomains="1234",
        max_zoom=18,
    ).add_to(m)
    groups: dict[str, Any] = {
        "streets": folium.FeatureGroup(name="街道 Streets (walk network)").add_to(m)
    }
    if pieces["pieces"] or pieces["legs"]:
        groups["pieces"] = folium.FeatureGroup(
            name=f"断开的路段 Disconnected street pieces ({len(pieces['pieces'])})"
        ).add_to(m)
    if per_facility:
        groups["facilityBands"] = [
            folium.FeatureGroup(name=f"服务圈 Bands: {f['id']} {f['name']}").add_to(m)
            for f in fac["facilities"]
        ]
    else:
        groups["facilityBands"] = [
            folium.FeatureGroup(
                name=f"服务圈 Bands: 全部 {len(fac['facilities'])} 个服务点（放大或聚焦后显示） "
                f"all {len(fac['facilities'])} facilities (shown zoomed in or focused)"
            ).add_to(m)
        ]
    groups["bandToggles"] = [
        folium.FeatureGroup(name=f"圈层 Band ≤{b:g} 分钟 min").add_to(m) for b in bands
    ]
    groups["pois"] = {
        g: folium.FeatureGroup(name=f"{KIND_GROUPS[g][0]} ({len(c['n'])})").add_to(m)
        for g, c in pois["groups"].items()
    }
    groups["facilities"] = folium.FeatureGroup(
        name=f"服务点 Facilities ({len(fac['entrances'])})"
    ).add_to(m)
    gap = gap_data(analysis)
    groups["gaps"] = folium.FeatureGroup(
        name="服务缺口 Gaps (uncovered merchants, 100 m cells)", show=False
    ).add_to(m)
    groups["crowfly"] = folium.FeatureGroup(name="直线半径 Crow-fly radius", show=False).add_to(m)
    control = folium.LayerControl(collapsed=False)
    control.add_to(m)
    Fullscreen(title="全屏 Full screen", title_cancel="退出全屏 Exit full screen").add_to(m)
    MeasureControl(
        position="topleft",
        primary_length_unit="meters",
        secondary_length_unit="kilometers",
        primary_area_unit="sqmeters",
        secondary_area_unit="hectares",
        localization="cn",  # made Chinese-then-English when inlined (planner.offline)
    ).add_to(m)

    data = {
        "scale": COORD_SCALE,
        "bandsMin": [float(f"{b:g}") for b in bands],
        "palette": style.palette(bands),
        "streetColour": style.STREET_COLOUR,
        "facilityColour": style.FACILITY_COLOUR,
        "facilityEdgeColour": style.FACILITY_EDGE_COLOUR,
        "poiEdgeColour": style.POI_EDGE_COLOUR,
        "pieceColour": style.PIECE_COLOUR,
        "gapColour": style.BEYOND_COLOUR,
        "canvas": n_pois > CANVAS_THRESHOLD,
        "bandLayerPerFacility": per_facility,
        "bandZoom": BAND_ZOOM,
        "grid": gcj02_grid(grid_bounds),
        "streets": street_data(analysis, lines=lines),
        "bands": band_data(analysis),
        "facilities": fac["facilities"],
        "entrances": fac["entrances"],
        "pois": pois,
        "kindLabels": kind_labels(analysis),
        "reach": [pack_ints(r) for r in reach_data(analysis)],
        "phoneWidth": PHONE_WIDTH,
        "fit": [[s, w], [n, e]],
        "pieces": pieces["pieces"],
        "legs": pieces["legs"],
        "gaps": gap,
        "panel": legend_html(analysis, tianditu=key is not None, rings=legend),
        "tianditu": TIANDITU_TILES.format(layer="LAYER_NAME", key=key) if key else None,
    }
    # the folium layer groups, by the names of their JavaScript variables
    names = [
        f'"streets":{groups["streets"].get_name()}',
        f'"facilities":{groups["facilities"].get_name()}',
        f'"amap":{amap.get_name()}',
        f'"gaps":{groups["gaps"].get_name()}',
        f'"crowfly":{groups["crowfly"].get_name()}',
        *([f'"pieces":{groups["pieces"].get_name()}'] if "pieces" in groups else []),
        '"facilityBands":[' + ",".join(g.get_name() for g in groups["facilityBands"]) + "]",
        '"bandToggles":[' + ",".join(g.get_name() for g in groups["bandToggles"]) + "]",
        '"pois":{' + ",".join(f'"{k}":{g.get_name()}' for k, g in groups["pois"].items()) + "}",
    ]
    layers = _PlannerLayers(m, control, "{" + ",".join(names) + "}", "")
    layers.add_to(m)
    header = m.get_root().header  # type: ignore[attr-defined]  # a folium Figure
    header.add_child(
        _Verbatim('<meta name="viewport" content="width=device-width, initial-scale=1">'),
        name="planner_viewport",
    )
    header.add_child(_Verbatim(inline_own("planner.css")), name="planner_css")
    header.add_child(_Verbatim(inline_own("planner.js")), name="planner_js")
    return m, layers, page_json(data)


def _tile_layer(url: str, *, name: str, attr: str, max_zoom: int, **options: Any) -> Any:
    """A base layer of web tiles, hidden at first (the page draws its streets from data).

    folium looks a text `tiles` up among every xyzservices provider first (about 4.5 ms a
    layer); handed a `xyzservices.TileProvider` of `url` it uses it as it is.
    """
    import xyzservices

    provider = xyzservices.TileProvider(name=name, url=url, attribution=attr)
    return folium.TileLayer(
        provider, name=name, attr=attr, overlay=False, show=False, max_zoom=max_zoom, **options
    )


def render_map(analysis: Result) -> str:
    """Build the map and render it as the text of one self-contained offline HTML page.

    Parameters
    ----------
    analysis
        The result, see `build_map`.

    Returns
    -------
    html
        The page `save_map` writes.
    """
    from planner.offline import render_offline

    m, layers, data = _build(analysis)
    # the page data (`page_json`: no "<", ">" or "&") goes in after the page is checked
    token = f"planner-page-data-{uuid.uuid4().hex}"
    layers.data = token
    return render_offline(m, verbatim={token: data})


def save_map(analysis: Result, path: str | Path) -> Path:
    """Build the map and write it as one self-contained offline HTML file.

    Parameters
    ----------
    analysis
        The result, see `build_map`.
    path
        Destination ``.html``.

    Returns
    -------
    path
        The written file (the page `build_map` makes, `render_map`).
    """
    from planner.offline import write_page

    return write_page(render_map(analysis), Path(path))

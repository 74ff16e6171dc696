"""Map helpers: styles and the band rule, escaping, kind groups, coordinate encoding, panel."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest
import shapely

from planner import maps, style

BANDS = (5.0, 10.0, 15.0)


@pytest.mark.parametrize(
    ("minutes", "colour"),
    [
        (0.0, style.BAND_COLOURS[0]),
        (5.0, style.BAND_COLOURS[0]),
        (5.01, style.BAND_COLOURS[1]),
        (10.0, style.BAND_COLOURS[1]),
        (14.99, style.BAND_COLOURS[2]),
        (15.0, style.BAND_COLOURS[2]),
        (15.5, style.BEYOND_COLOUR),
        (float("nan"), style.NOT_ROUTED_COLOUR),
        (float("inf"), style.NOT_ROUTED_COLOUR),
        (None, style.NOT_ROUTED_COLOUR),
    ],
)
def test_poi_colour(minutes: float, colour: str) -> None:
    assert style.poi_colour(minutes, BANDS) == colour


def test_poi_colour_unsorted_bands_and_many_bands() -> None:
    assert style.poi_colour(7, (15, 5, 10)) == style.BAND_COLOURS[1]
    many = tuple(range(1, 9))
    assert style.poi_colour(8, many) == style.BAND_COLOURS[-1]


def test_band_rule_tolerance_at_each_edge() -> None:
    # within 1e-9 * max(b, 1) of a limit is inside; a little more is not
    for b in (0.5, 1.0, 5.0, 15.0, 1e4):
        tol = 1e-9 * max(b, 1.0)
        assert style.within_band(b + 0.5 * tol, b)
        assert not style.within_band(b + 2 * tol, b)
    assert style.band_index(15 + 1e-8, BANDS) == 2
    assert style.band_index(15 + 1e-7, BANDS) == 3
    assert not style.within_band(float("nan"), 15) and not style.within_band(None, 15)


def test_band_rule_on_arrays_matches_scalars() -> None:
    minutes = np.array([0, 5, 5 + 1e-12, 5.01, 10, 15, 15.5, np.nan, np.inf, -np.inf])
    idx = style.band_index(minutes, (15, 5, 10))
    assert idx.tolist() == [style.band_index(m, BANDS) for m in minutes]
    assert idx.tolist() == [0, 0, 0, 1, 1, 2, 3, 4, 4, 4]
    inside = style.within_band(minutes, 10)
    assert inside.tolist() == [True, True, True, True, True, False, False, False, False, False]
    assert style.band_index(np.array([]), BANDS).shape == (0,)
    # the palette follows band_index: bands, then beyond, then not routed
    pal = style.palette(BANDS)
    assert pal[3] == style.BEYOND_COLOUR and pal[4] == style.NOT_ROUTED_COLOUR


@pytest.mark.parametrize(
    ("highway", "weight"),
    [
        ("primary", 3.0),
        ("primary_link", 3.0),
        ("secondary/residential", 2.6),
        ("residential/secondary", style.DEFAULT_ROAD_WEIGHT),
        ("footway", style.DEFAULT_ROAD_WEIGHT),
        (float("nan"), style.DEFAULT_ROAD_WEIGHT),
    ],
)
def test_road_weight(highway: object, weight: float) -> None:
    assert style.road_weight(highway) == weight


def test_map_modules_use_no_private_names_of_other_modules() -> None:
    """maps, plot, style, offline and crs use only public names of other planner modules."""
    root = Path(maps.__file__).parent
    for name in ("maps", "plot", "style", "offline", "crs"):
        tree = ast.parse((root / f"{name}.py").read_text(encoding="utf-8"))
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("planner"):
                if node.module == "planner._i18n":
                    continue  # gettext's `_`: private by name, the translation function
                for a in node.names:
                    assert not a.name.startswith("_"), f"{name} imports {node.module}.{a.name}"
                    if node.module == "planner":
                        modules.add(a.asname or a.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                private = node.attr.startswith("_") and not node.attr.startswith("__")
                assert not (node.value.id in modules and private), (
                    f"{name} uses {node.value.id}.{node.attr}"
                )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
        ("${alert(1)}", "&#36;&#123;alert(1)&#125;"),
        ("{{ 7*7 }}", "&#123;&#123; 7*7 &#125;&#125;"),
        ("`x` \\u", "&#96;x&#96; &#92;u"),
        ("\"a\" & 'b'", "&quot;a&quot; &amp; &#x27;b&#x27;"),
        ("流沙 商城", "流沙 商城"),
        (None, ""),
        (float("nan"), ""),
        (42, "42"),
    ],
)
def test_esc(text: object, expected: str) -> None:
    assert maps.esc(text) == expected


def test_esc_output_has_no_active_characters() -> None:
    out = maps.esc("<>&\"'`$\\ ${x} </script>")
    assert not re.search(r"[<>\"'`$\\]", out)


def test_esc_many_equals_esc_one_by_one() -> None:
    import pandas as pd

    values = ["a&<b>\"'`$\\{x}", None, float("nan"), 3, 2.5, "中文", "", "&amp;", "x", "x"]
    values += [pd.NA, pd.NaT, np.float64("nan"), "${alert(1)}", "<img src=x onerror=alert(1)>"]
    assert maps.esc_many(values) == [maps.esc(v) for v in values]
    assert maps.esc_many(np.array(["&", "&"], dtype=object)) == ["&amp;", "&amp;"]
    assert maps.esc_many([]) == []
    # table columns, read as one array: text with missing values, numbers, an index
    for column in (
        pd.Series(["a&b", None, "中文", "a&b"], dtype="str"),
        pd.Series(["x", pd.NA], dtype="string"),
        pd.Series([1.5, np.nan]),
        pd.Series([1, None], dtype="Int64"),
        pd.Index(["<", "<"]),
    ):
        assert maps.esc_many(column) == [maps.esc(v) for v in column], column.dtype


def test_esc_many_equals_esc_on_every_character_and_mixes() -> None:
    # one translation must give what html.escape then the JS replacements give, including
    # texts that already look escaped and every pairing of the replaced characters
    special = "&<>\"'`$\\{}#;x1"
    rng = np.random.default_rng(7)
    values = [chr(c) for c in range(0x300)] + ["&#96;", "&amp;lt;", "\\$&{", "}&#x27;"]
    values += ["".join(rng.choice(list(special), size=int(n))) for n in rng.integers(1, 12, 500)]
    assert maps.esc_many(values) == [maps.esc(v) for v in values]


def test_a_bidi_control_in_data_stays_inside_the_text_it_came_with() -> None:
    """An unclosed RIGHT-TO-LEFT OVERRIDE in a name must not reverse the words after it."""
    assert maps.esc("公厕 \u202eWC") == "\u2068公厕 \u202eWC\u2069"
    assert maps.esc("a\u2067b") == "\u2068a\u2067b\u2069"
    assert maps.esc("流沙") == "流沙"  # no control: unchanged
    values = ["x\u202ey", "x\u202ey", "plain", "\u202b<b>"]
    assert maps.esc_many(values) == [maps.esc(v) for v in values]
    # a whole map: every control from the data is closed by the isolate around its text
    import planner
    from tests.handmade import make_network, points

    network = make_network({0: (0.0, 0.0), 1: (600.0, 0.0)}, [(0, 1)])
    fac = points([("F1", 0, 0)])
    fac["name"] = "公共厕所 \u202ePublic toilets"
    pois = points([("P1", 100, 0), ("P2", 200, 0)])
    pois["name"] = ["便利店 \u202bمتجر", "\u202dshop"]
    page = maps.build_map(planner.analyse(network, fac, pois, bands_min=(5,))).get_root().render()
    controls = re.findall("[\u202a-\u202e]", page)
    assert len(controls) >= 3
    isolated = re.findall("\u2068[^\u2068\u2069]*[\u202a-\u202e][^\u2068\u2069]*\u2069", page)
    assert sum(len(re.findall("[\u202a-\u202e]", t)) for t in isolated) == len(controls)


def test_js_json_never_closes_the_script() -> None:
    text = maps.page_json({"n": "</script><script>alert(1)</script> & co"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["n"] == "</script><script>alert(1)</script> & co"


@pytest.mark.parametrize(
    ("kind", "group"),
    [
        ("amenity:restaurant", "food"),
        ("amenity:bank", "finance"),
        ("amenity:toilets", "public"),
        ("office:government", "public"),
        ("office:company", "office"),
        ("shop:convenience", "shop"),
        ("tourism:hotel", "lodging"),
        ("building:commercial", "building"),
        ("批发市场", "other"),
        (None, "other"),
    ],
)
def test_kind_group(kind: object, group: str) -> None:
    assert maps.kind_group(kind) == group


def test_encode_line_round_trip_and_size() -> None:
    lon = np.array([113.94823, 113.94830, 113.94830, 113.94901])
    lat = np.array([22.54282, 22.54290, 22.54290, 22.54350])
    text = maps.encode_line(lon, lat)
    ints = maps.unpack_ints(text)
    assert len(ints) == 6  # the repeated vertex is dropped
    dlon, dlat = maps.decode_line(text)
    np.testing.assert_allclose(dlon, lon[[0, 1, 3]], atol=1e-9)
    np.testing.assert_allclose(dlat, lat[[0, 1, 3]], atol=1e-9)
    assert all(abs(v) < 100 for v in ints[2:])
    # five packed characters per absolute coordinate, one per delta below 16 units, two below 512
    assert len(text) == 5 + 5 + 1 + 1 + 2 + 2


def _pack_by_hand(values):
    """The encoded-polyline algorithm, one value at a time (the reference)."""
    out = []
    for v in values:
        z = (v << 1) if v >= 0 else ((-v) << 1) - 1
        while z >= 32:
            out.append(chr(63 + (32 | (z & 31))))
            z >>= 5
        out.append(chr(63 + z))
    return "".join(out)


def test_pack_ints_against_the_algorithm_by_hand() -> None:
    rng = np.random.default_rng(5)
    values = [0, 1, -1, 15, -16, 16, -17, 511, -512, 2**40, -(2**40), 2**62, -(2**62)]
    values += rng.integers(-(2**35), 2**35, 500).tolist()
    text = maps.pack_ints(values)
    assert text == _pack_by_hand(values)
    assert maps.unpack_ints(text).tolist() == values
    assert maps.pack_ints([0, -1, 1, 15, -16]) == "?@A]^"  # one character each below 16
    assert set(text) <= {chr(c) for c in range(63, 127)}  # never <, >, &, quotes or $
    assert maps.pack_ints([]) == "" and maps.unpack_ints("").tolist() == []
    with pytest.raises(ValueError, match="_'"):
        maps.unpack_ints(text[:-1] + "_")  # a last chunk that says "more": cut short
    with pytest.raises(ValueError, match="<"):
        maps.unpack_ints("<")  # not a packed character


def test_encode_multilines_round_trip_and_groups() -> None:
    import shapely

    a = shapely.LineString(
        [(116.1, 23.2), (116.1001, 23.2002), (116.1001, 23.2002), (116.11, 23.21)]
    )
    b = shapely.LineString([(116.2, 23.3), (116.2, 23.31)])
    ring = shapely.LinearRing([(116.3, 23.4), (116.31, 23.4), (116.31, 23.41)])
    geoms = np.array([a, None, b, shapely.LineString(), ring], dtype=object)
    records = maps.encode_multilines(geoms, [2, 0, 0, 2, 2], 4)
    assert records[1] == "" and records[3] == "" and records[0] != ""
    got = maps.decode_multilines(records[2])
    assert len(got) == 2  # a and the ring; the empty line is left out
    np.testing.assert_allclose(got[0][0], [116.1, 116.1001, 116.11], atol=1e-9)
    np.testing.assert_allclose(got[1][1], shapely.get_coordinates(ring)[:, 1], atol=1e-9)
    (only,) = maps.decode_multilines(records[0])
    np.testing.assert_allclose(only[1], [23.3, 23.31], atol=1e-9)
    # the second line starts from where the first ended, not from (0, 0)
    ints = maps.unpack_ints(records[2])
    assert ints[0] == 3 and abs(ints[1 + 2 * 3 + 1]) < 30_000


def test_tianditu_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    assert maps.tianditu_key() is None
    monkeypatch.setenv("TIANDITU_KEY", "0123456789abcdef0123456789abcdef")
    assert maps.tianditu_key() == "0123456789abcdef0123456789abcdef"
    monkeypatch.setenv("TIANDITU_KEY", "x'); alert(1); ('")
    assert maps.tianditu_key() is None


# --------------------------------------------------------------------------- on the sample
@pytest.mark.slow
def test_panel_numbers_agree_with_summary(sample_map_run) -> None:
    sc, an = sample_map_run.settings, sample_map_run
    num = maps.summary_numbers(an)
    s = an.summary
    assert num["total"] == s["overall"]["pois_total"] == len(an.pois)
    for fid, _, counts in num["facilities"]:
        entry = next(f for f in s["facilities"] if f["facility_id"] == fid)
        assert counts == [entry["bands"][f"{b:g}"]["pois"] for b in sc.bands_min]
        cov = an.coverage[an.coverage["facility_id"] == fid]
        assert counts == [int((cov["minutes"] <= b + 1e-9).sum()) for b in sc.bands_min]
    for key, within, share in num["overall"]:
        assert within == s["overall"]["bands"][key]["pois_within"]
        assert share == pytest.approx(within / num["total"])
    panel = maps.legend_html(an, tianditu=False)
    for _, within, share in num["overall"]:
        assert f"<td>{within}<br><small>{100 * share:.1f}%</small></td>" in panel
    for fid, _, counts in num["facilities"]:
        row = re.search(rf"<tr><td>{re.escape(fid)} [^<]*</td>(.*?)</tr>", panel)
        assert row and re.findall(r"<td>(\d+)</td>", row.group(1)) == [str(c) for c in counts]
    assert "TIANDITU_KEY" in panel and "GCJ-02" in panel and "© OpenStreetMap contributors" in panel
    assert "not straight line" in panel and f"{sc.speed_kmh:g} km/h" in panel


@pytest.mark.slow
def test_page_data_counts(sample_map_run) -> None:
    an, sc = sample_map_run, sample_map_run.settings
    pois = maps.poi_data(an)
    assert sum(map(len, pois.values())) == int(np.isfinite(an.pois["lon"]).sum())
    # the colour index is the band rule applied to the POI's minutes
    rows = {(r[0], r[1], r[3]): r[2] for group in pois.values() for r in group}
    for _, p in an.pois[np.isfinite(an.pois["lon"])].iterrows():
        key = (round(p["lon"], 6), round(p["lat"], 6), maps.esc(p["name"]))
        assert rows[key] == style.band_index(p["minutes_to_nearest"], sc.bands_min)
    fac = maps.facility_data(an)
    assert len(fac["entrances"]) == int(np.isfinite(an.entrances["lon"].astype(float)).sum())
    bands = maps.band_data(an)
    assert len(bands) == int(
        (~an.isochrones.geometry.is_empty & an.isochrones.geometry.notna()).sum()
    )


@pytest.mark.slow
def test_popup_caps_long_lists(sample_map_run) -> None:
    an = sample_map_run
    fid = an.coverage["facility_id"].value_counts().index[0]
    n = int((an.coverage["facility_id"] == fid).sum())
    popup = maps.facility_popup(an, fid, cap=10)
    assert popup.count("<li>") == 10
    assert f"and {n - 10} more" in popup


@pytest.mark.slow
def test_sample_map_is_small_and_has_no_unused_libraries(sample_map_run) -> None:
    path = sample_map_run.files["map"]
    assert path.stat().st_size < 600_000  # 626,791 bytes with jQuery, 541,159 without
    text = path.read_text(encoding="utf-8")
    assert "jquery 3.7.1 (" not in text and "jQuery v3" not in text
    assert "markercluster" not in text.lower()
    assert text.count("/* planner.js (liusha-planner) */") == 1
    assert text.count("/* planner.css (liusha-planner) */") == 1
    assert text.count('<script type="application/json" id="planner-data-') == 1


@pytest.mark.slow
@pytest.mark.parametrize("cjk", [True, False])
def test_save_png(sample_map_run, tmp_path, monkeypatch: pytest.MonkeyPatch, cjk: bool) -> None:
    from planner import plot

    if not cjk:
        monkeypatch.setattr(plot, "cjk_font", lambda: None)
    r = sample_map_run
    path = plot.save_png(r, tmp_path / "maps" / "sample.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind


@pytest.mark.slow
@pytest.mark.parametrize("cjk", [True, False])
def test_png_legend_lies_beside_the_map_not_over_it(sample_map_run, monkeypatch, cjk) -> None:
    """No merchant or band is hidden under the legend: it is outside the map's frame."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from planner import plot

    if not cjk:
        monkeypatch.setattr(plot, "cjk_font", lambda: None)
    import matplotlib as mpl

    fig = plot.draw(sample_map_run)
    with mpl.rc_context(plot._font_rc()):  # as save_png draws it
        FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    frame, box = ax.get_window_extent(), ax.get_legend().get_window_extent()
    assert box.x0 >= frame.x1  # to the right of the map
    assert box.y1 <= fig.bbox.y1 and box.x1 <= fig.bbox.x1  # and inside the picture
    assert not frame.overlaps(box)


def test_english_only() -> None:
    from planner import plot

    assert plot.english_only("深圳南山科技园（离线样例）Shenzhen Nanshan") == "Shenzhen Nanshan"
    assert plot.label("分钟", "min", cjk=False) == "min"


@pytest.mark.slow
def test_png_with_empty_bands_draws_without_warnings(sample_map_run) -> None:
    """An empty band polygon (a facility that reaches nothing) is skipped without a warning."""
    import copy
    import warnings

    import shapely

    from planner import plot

    r = sample_map_run
    an = copy.copy(r)
    iso = an.isochrones.copy()
    iso.loc[iso.index[0], "geometry"] = shapely.Polygon()
    an.isochrones = iso
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot.draw(an)
    assert len(fig.axes[0].patches) > 0


def _popup_from_tables(analysis, facility_id, cap):
    """A facility popup straight from the tables, one facility at a time (the reference)."""
    fac = analysis.facilities.set_index("facility_id").loc[facility_id]
    entry = next(f for f in analysis.summary["facilities"] if f["facility_id"] == facility_id)
    cov = analysis.coverage[analysis.coverage["facility_id"] == facility_id]
    names = analysis.pois.drop_duplicates("poi_id").set_index("poi_id")["name"]
    rows = "".join(
        f"<tr><td>≤{maps.esc(k)} 分钟 min</td><td style='text-align:right'>{v['pois']}</td></tr>"
        for k, v in entry["bands"].items()
    )
    items = "".join(
        f"<li>{maps.esc(names.get(p)) or '(无名称 unnamed)'} <small>{maps.esc(k)} · "
        f"{m:.1f} 分钟 min</small></li>"
        for p, k, m in cov.head(cap)[["poi_id", "poi_kind", "minutes"]].itertuples(index=False)
    )
    n = len(cov)
    more = f"<div>…另有 {n - cap} 个 and {n - cap} more</div>" if n > cap else ""
    status = (
        ""
        if fac["status"] == "ok"
        else f"<div style='color:#b00'>状态 status: {maps.esc(fac['status'])}</div>"
    )
    return (
        f"<div class='planner-popup'><b>{maps.esc(facility_id)} {maps.esc(fac['name'])}</b><br>"
        f"<small>{maps.esc(fac['kind'])} · 入口 entrances: "
        f"{int(fac['entrances_snapped'])}/{int(fac['entrances'])}</small>{status}"
        f"<table>{rows}</table><div>可达商户与服务点（由近及远） Reached, nearest first:</div>"
        f"<ol>{items or '<li>（无 none）</li>'}</ol>{more}</div>"
    )


def test_popups_of_all_facilities_equal_the_tables_one_by_one() -> None:
    """`facility_records` splits the tables once; each popup equals one built from the tables."""
    from planner import pipeline
    from tests.handmade import make_network, points

    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (900, 900)}, [(0, 1), (1, 2)])
    fac = points([("F1", 50, 10), ("F2", 190, 5), ("F3", 900, 2000)])  # F3 beyond snapping
    poi = points([(f"P{i}", 30 * i, 5) for i in range(7)])
    poi.loc[3, "name"] = "<b>x</b> ${y}"
    poi.loc[5, "name"] = None  # shown as unnamed
    poi.loc[4, "kind"] = "shop:<i>&</i>"
    a = pipeline.analyse(net, fac, poi, bands_min=(1, 2), speed_kmh=4.5, snap_limit_m=100)
    for cap in (2, 50):
        got = [maps.popup_html(r) for r in maps.facility_records(a, cap=cap)]
        want = [_popup_from_tables(a, f, cap) for f in a.facilities["facility_id"]]
        assert got == want
    f1, _, f3 = got
    assert "P1" in f1 and "<li>（无 none）</li>" in f3 and "状态 status" in f3
    assert "&lt;b&gt;x&lt;/b&gt; &#36;&#123;y&#125;" in f1 and "(无名称 unnamed)" in f1
    assert "shop:&lt;i&gt;&amp;&lt;/i&gt;" in f1
    short = maps.popup_html(maps.facility_records(a, cap=2)[0])
    assert short.count("<li>") == 2 and "more</div>" in short
    assert maps.facility_popup(a, "F2") == got[1]


def _poi_rows_by_loop(analysis):
    """The former `poi_data`: one row per POI in a Python loop (the reference)."""
    out = {}
    p = analysis.pois
    minutes = p["minutes_to_nearest"].to_numpy(dtype=float)
    colour = style.band_index(minutes, analysis.settings.bands_min)
    notes = maps._skip_notes(p)
    for i, (lon, lat, name, kind, near, status) in enumerate(
        zip(
            p["lon"],
            p["lat"],
            p["name"],
            p["kind"],
            p["nearest_facility_id"],
            p["status"],
            strict=True,
        )
    ):
        if not (np.isfinite(lon) and np.isfinite(lat)):
            continue
        m = round(float(minutes[i]), 1) if np.isfinite(minutes[i]) else None
        row = [round(float(lon), 6), round(float(lat), 6), int(colour[i]), maps.esc(name),
               maps.esc(kind), maps.esc(near), m, maps.esc(status), notes[i], i]  # fmt: skip
        out.setdefault(maps.kind_group(kind), []).append(row)
    return {g: out[g] for g in maps.KIND_GROUPS if g in out}


def _reach_by_loop(analysis):
    """The former `reach_data`: every coverage pair in a Python loop (the reference)."""
    fac_ids = list(analysis.facilities["facility_id"])
    bands = [float(b) for b in analysis.settings.bands_min]
    rows = {}
    for i, pid in enumerate(analysis.pois["poi_id"]):
        rows.setdefault(pid, []).append(i)
    out = [[] for _ in fac_ids]
    cov = analysis.coverage
    for fid, pid, band in zip(cov["facility_id"], cov["poi_id"], cov["band_min"], strict=True):
        if fid in fac_ids and float(band) in bands:
            for i in rows.get(pid, []):
                out[fac_ids.index(fid)] += [i, bands.index(float(band))]
    return out


def test_packed_poi_columns_and_reach_equal_the_row_by_row_forms() -> None:
    """What the page unpacks equals the rows built one by one (names, minutes, notes, rows)."""
    from planner import pipeline
    from tests.handmade import make_network, points

    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (300, 0)}, [(0, 1), (1, 2), (2, 3)])
    fac = points([("F1", 50, 10), ("F2", 250, 5)])
    poi = points([(f"P{i}", 23 * i, 7) for i in range(14)] + [("P3", 40, 9)])  # a repeated id
    poi["kind"] = ["amenity:cafe", "shop:bakery", "amenity:bank", "tourism:hotel", "x"] * 3
    poi.loc[2, "name"] = "<img src=x onerror=alert(1)>${a}"
    poi.loc[5, "lon"] = np.nan  # no coordinates: left out of the page
    a = pipeline.analyse(net, fac, poi, bands_min=(0.5, 1, 2), speed_kmh=4.5)
    assert maps.poi_data(a) == _poi_rows_by_loop(a)
    assert maps.reach_data(a) == _reach_by_loop(a)
    assert sum(len(r) for r in maps.reach_data(a)) > 0
    cols = maps.poi_columns(a)
    assert "<img" not in maps.page_json(cols) and "${" not in maps.page_json(cols)


@pytest.mark.parametrize(
    "text",
    [
        "<script>x = 1;</script>",
        "a\r\nb\rc\n",
        "ends with two\n\n",
        "",
        "\n",
        "<style>/* planner.css */\nbody { margin: 0 }\n</style>",
    ],
)
def test_verbatim_element_writes_what_branca_element_writes(text: str) -> None:
    """`_Verbatim` = branca's Jinja `Element` for text without template tags."""
    from branca.element import Element

    assert maps._Verbatim(text).render() == Element(text).render()


def test_page_data_is_not_read_as_a_template() -> None:
    """A ``{{ … }}`` in a facility's id and name reaches the page data as it is.

    (folium's own layer control still renders layer names through Jinja: not the data.)
    """
    from planner import pipeline
    from tests.handmade import make_network, points

    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0)}, [(0, 1), (1, 2)])
    fac = points([("F{{ 7*7 }}", 50, 10)])
    poi = points([(f"P{i}", 30 * i, 5) for i in range(3)])
    a = pipeline.analyse(net, fac, poi, bands_min=(1, 2), speed_kmh=4.5)
    page = maps.build_map(a).get_root().render()
    # shown as F{{ 7*7 }} by the browser; & is written \u0026 inside the page's JSON
    braces = "F\\u0026#123;\\u0026#123; 7*7 \\u0026#125;\\u0026#125;"
    assert f'"facilities":[{{"id":"{braces}","name":"name {braces}"' in page
    # the popup, built on click from that record, shows the text as written
    popup = maps.facility_popup(a, "F{{ 7*7 }}")
    assert "<b>F&#123;&#123; 7*7 &#125;&#125; name F&#123;&#123; 7*7 &#125;&#125;</b>" in popup
    # folium renders layer names through Jinja: the name is kept as written, not evaluated
    assert f"Bands: {braces} name {braces}" in page
    # outside the page data (whose packed numbers use the characters ? to ~, braces too)
    data = re.search(
        r'<script type="application/json" id="planner-data-[^"]*">(.*?)</script>', page, re.S
    )
    assert data and "F{{" not in data.group(1)
    assert "{{" not in page.split("<body>")[-1].replace(data.group(1), "")
    assert "F49" not in page


def _street_data_by_geodataframe(analysis, tolerance_m=maps.SIMPLIFY_M):
    """The former `street_data`: a GeoDataFrame reprojected and grouped (the reference)."""
    import shapely

    edges = analysis.network.edges_gdf()
    edges["geometry"] = shapely.simplify(
        edges.geometry.to_numpy(), tolerance_m, preserve_topology=False
    )
    edges = edges.to_crs(4326)
    edges["w"] = edges["highway"].map(style.road_weight)
    edges["n"] = edges["name"].map(maps.esc)
    return [
        {
            "n": n,
            "w": float(w),
            "l": maps.encode_multilines(g.geometry.to_numpy(), [0] * len(g), 1)[0],
        }
        for (n, w), g in edges.groupby(["n", "w"], sort=True)
    ]


def test_street_data_equals_the_geodataframe_form() -> None:
    from dataclasses import replace

    from planner import pipeline
    from tests.handmade import make_network, points

    nodes = {i: (100.0 * (i % 4), 130.0 * (i // 4)) for i in range(12)}
    links = [(i, i + 1) for i in range(11) if i % 4 != 3] + [(i, i + 4) for i in range(8)]
    # bent streets too: three vertices, the middle one within the tolerance of the chord
    # (dropped); four, one within it (dropped) and one beyond (kept)
    links += [
        (0, 5, [(0, 0), (50, 66), (100, 130)]),
        (2, 7, [(200, 0), (245, 30.5), (290, 60), (300, 130)]),
    ]
    net = make_network(nodes, links)
    n = len(net.edge_u)
    names = np.array(["中山路", None, "<b>&", "中山路", "Main St", np.nan] * n, dtype=object)[:n]
    kinds = np.array(["primary", "residential", "footway", None, "primary_link"] * n)[:n]
    net = replace(net, edge_name=names, edge_highway=kinds.astype(object))
    a = pipeline.analyse(net, points([("F1", 50, 10)]), points([("P1", 30, 5)]), bands_min=(1,))
    got = maps.street_data(a)
    assert got == _street_data_by_geodataframe(a)
    vertices = shapely.get_num_coordinates(maps._street_lines(a, maps.SIMPLIFY_M))
    assert vertices.max() == 3 and (vertices == 2).sum() == n - 1  # one bend kept
    assert {s["n"] for s in got} == {"中山路", "", "&lt;b&gt;&amp;", "Main St"}
    assert sum(len(maps.decode_multilines(s["l"])) for s in got) == n


def test_tile_layers_keep_their_url_and_options_without_a_provider_lookup(monkeypatch) -> None:
    """The two web base layers go to the page as given; folium's lookup of a text `tiles`
    among all xyzservices providers (slow) is not made."""
    import folium
    import xyzservices

    def no_lookup(name):
        raise AssertionError(f"provider lookup of {name!r}")

    monkeypatch.setattr(xyzservices.providers, "query_name", no_lookup)
    m = folium.Map(tiles=None)
    layer = maps._tile_layer(maps.OSM_TILES, name="OSM", attr="© OSM", max_zoom=19).add_to(m)
    amap = maps._tile_layer(
        maps.AMAP_TILES, name="高德 A", attr="© 高德", subdomains="1234", max_zoom=18
    ).add_to(m)
    assert (layer.tiles, amap.tiles) == (maps.OSM_TILES, maps.AMAP_TILES)
    assert (layer.tile_name, amap.tile_name) == ("OSM", "高德 A")
    assert amap.options["subdomains"] == "1234" and layer.options["subdomains"] == "abc"
    assert (layer.options["max_zoom"], amap.options["max_zoom"]) == (19, 18)
    assert amap.options["attribution"] == "© 高德"
    assert not layer.show and not layer.overlay
    html = m.get_root().render()
    assert json.dumps(maps.OSM_TILES) in html and "webrd0{s}.is.autonavi.com" in html


def test_band_data_simplifies_ring_by_ring_and_leaves_out_collapsed_rings() -> None:
    """A hole or a polygon smaller than the tolerance is left out (a polygon with its
    holes); the other rings are drawn as `encode_multilines` of their simplified rings,
    and the box is that of the exteriors drawn."""
    from types import SimpleNamespace

    import geopandas as gpd
    import pandas as pd
    import shapely

    tol = 2e-5
    big = shapely.Polygon(
        [(0, 0), (0.01, 0), (0.01, 0.01), (0, 0.01)],
        holes=[
            [(0.002, 0.002), (0.004, 0.002), (0.004, 0.004), (0.002, 0.004)],  # kept
            [(0.006, 0.006), (0.006 + 1e-6, 0.006), (0.006, 0.006 + 1e-6)],  # collapses
        ],
    )
    speck = shapely.Polygon([(0.02, 0.02), (0.02 + 1e-6, 0.02), (0.02, 0.02 + 1e-6)])
    speck_with_hole = shapely.Polygon(
        [(0.03, 0.03), (0.03 + 1e-6, 0.03), (0.03, 0.03 + 1e-6)],
        holes=[
            [(0.03 + 1e-7, 0.03 + 1e-7), (0.03 + 2e-7, 0.03 + 1e-7), (0.03 + 1e-7, 0.03 + 2e-7)]
        ],
    )
    iso = gpd.GeoDataFrame(
        {"facility_id": ["A", "A", "B"], "band_min": [5.0, 10.0, 5.0]},
        geometry=[big, shapely.MultiPolygon([big, speck]), speck_with_hole],
        crs=4326,
    )
    analysis = SimpleNamespace(
        isochrones=iso,
        facilities=pd.DataFrame({"facility_id": ["A", "B"]}),
        settings=SimpleNamespace(bands_min=(5.0, 10.0)),
    )
    records = maps.band_data(analysis, tolerance_deg=tol)
    assert [(r["f"], r["b"]) for r in records] == [(0, 1), (0, 0)]  # largest band first; B gone
    rings = shapely.get_rings(big)[:2]  # the exterior and the hole kept
    expected = maps.encode_multilines(
        shapely.simplify(rings, tol, preserve_topology=False), [0, 0], 1
    )
    for r in records:
        assert r["p"] == expected  # the speck of the multipolygon left out
        assert r["bb"] == [round(v * maps.COORD_SCALE) for v in big.bounds]


def _srcdoc(frame: str) -> str:
    """The page inside a notebook view's ``<iframe srcdoc="...">``."""
    import html as html_

    (page,) = re.findall(r'srcdoc="([^"]*)"', frame)
    return html_.unescape(page)


def test_notebook_view_is_the_offline_page() -> None:
    """`build_map`'s map shows inline (Jupyter's ``_repr_html_``) without any CDN."""
    import folium
    from folium.plugins import HeatMap

    from planner import pipeline
    from planner.offline import external_urls
    from tests.handmade import make_network, points

    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0)}, [(0, 1), (1, 2)])
    a = pipeline.analyse(net, points([("F1", 50, 10)]), points([("P1", 150, 5)]), bands_min=(1,))
    m = maps.build_map(a)
    plain = _srcdoc(folium.Map._repr_html_(m))  # folium's own view of the same map
    assert any("cdn.jsdelivr.net" in u for u in external_urls(plain))
    page = _srcdoc(m._repr_html_())
    assert external_urls(page) == []
    assert "plannerInit(" in page and "L.map(" in page and "P1" in page
    leaflet = (maps.Path(maps.__file__).parent / "_static/leaflet/leaflet.js").read_text("utf-8")
    assert leaflet[:200] in page and leaflet[:200] not in plain  # Leaflet itself, inline
    # a plugin the planner does not bundle: shown as folium shows it, not an error
    HeatMap([[0.0, 0.0, 1.0]]).add_to(m)
    assert any("heat" in u for u in external_urls(_srcdoc(m._repr_html_())))


def _panel(m) -> str:
    """The legend panel's HTML of a `build_map` map (in its page data)."""
    (layers,) = [c for c in m._children.values() if isinstance(c, maps._PlannerLayers)]
    return json.loads(layers.data)["panel"]


def test_legend_rows_for_marks_added_later() -> None:
    from planner import pipeline
    from tests.handmade import make_network, points

    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    a = pipeline.analyse(net, points([("F1", 50, 10)]), points([("P1", 80, 5)]), bands_min=(1,))
    assert "border:3px solid" not in _panel(maps.build_map(a))
    panel = _panel(maps.build_map(a, legend=[("#e66101", "mine <b>&</b>"), ("#0f0", "two")]))
    assert "border:3px solid #e66101;" in panel and "mine &lt;b&gt;&amp;&lt;/b&gt;" in panel
    assert panel.index("#e66101") < panel.index("#0f0")  # in the order given
    for bad in ("red;background:url(x)", "#12345", "e66101", "#e66101'"):
        with pytest.raises(ValueError, match="legend colour"):
            maps.build_map(a, legend=[(bad, "x")])


def test_legend_names_every_overlay_the_map_can_show() -> None:
    """Streets, gap cells and crow-fly circles each have a row, in the colours drawn."""
    from planner import pipeline
    from tests.handmade import make_network, points

    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    a = pipeline.analyse(net, points([("F1", 50, 10)]), points([("P1", 80, 5)]), bands_min=(2, 4.5))
    panel = _panel(maps.build_map(a))
    street = f"background:{style.STREET_COLOUR}'></span>街道（步行路网） streets (walk network)"
    assert street in panel
    gap = panel[panel.index("服务缺口格") - 200 : panel.index("服务缺口格")]
    assert f"background:{style.BEYOND_COLOUR}" in gap
    assert "超出 4.5 分钟（未覆盖）" in panel and "beyond 4.5 min (uncovered)" in panel
    circle = panel[panel.index("虚线圆") - 120 : panel.index("虚线圆")]
    assert f"border-top-color:{style.palette((2, 4.5))[0]}" in circle
    # the layers they name are the map's own
    names = [c.layer_name for c in maps.build_map(a)._children.values() if hasattr(c, "layer_name")]
    assert any(n.startswith("服务缺口 Gaps") for n in names)
    assert any(n.startswith("直线半径 Crow-fly") for n in names)


def test_kinds_are_shown_in_words_chinese_first() -> None:
    """A policy type's words, else the kind group's; a facility's own role where given."""
    from planner import pipeline
    from tests.handmade import make_network, points

    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0)}, [(0, 1), (1, 2)])
    fac = points([("F1", 50, 10)])
    fac["kind"] = "subway_entrance"
    fac["role"] = "交通枢纽 transit hub"
    pois = points([("P1", 80, 5), ("P2", 120, 5), ("P3", 150, 5), ("P4", 160, 5), ("P5", 170, 5)])
    pois["kind"] = ["shop:convenience", "24小时便利店", "amenity:bank", "leisure:park", "<b>x</b>"]
    a = pipeline.analyse(net, fac, pois, bands_min=(5,))
    labels = maps.kind_labels(a)
    assert labels["shop:convenience"] == "便利店 convenience store"  # by its OSM tag
    assert labels["24小时便利店"] == "便利店 convenience store"  # by its Chinese word
    assert labels["amenity:bank"] == "金融 Banks &amp; ATMs"  # its group
    assert "leisure:park" not in labels and "&lt;b&gt;x&lt;/b&gt;" not in labels  # no guess
    assert labels["#F1"] == "交通枢纽 transit hub"
    assert "subway_entrance" not in labels
    (layers,) = [
        c for c in maps.build_map(a)._children.values() if isinstance(c, maps._PlannerLayers)
    ]
    assert json.loads(layers.data)["kindLabels"] == labels

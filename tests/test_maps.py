"""Map helpers: colours, escaping, kind groups, coordinate encoding, panel numbers."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from planner import maps

BANDS = (5.0, 10.0, 15.0)


@pytest.mark.parametrize(
    ("minutes", "colour"),
    [
        (0.0, maps.BAND_COLOURS[0]),
        (5.0, maps.BAND_COLOURS[0]),
        (5.01, maps.BAND_COLOURS[1]),
        (10.0, maps.BAND_COLOURS[1]),
        (14.99, maps.BAND_COLOURS[2]),
        (15.0, maps.BAND_COLOURS[2]),
        (15.5, maps.BEYOND_COLOUR),
        (float("nan"), maps.NOT_ROUTED_COLOUR),
        (float("inf"), maps.NOT_ROUTED_COLOUR),
        (None, maps.NOT_ROUTED_COLOUR),
    ],
)
def test_poi_colour(minutes: float, colour: str) -> None:
    assert maps.poi_colour(minutes, BANDS) == colour


def test_poi_colour_unsorted_bands_and_many_bands() -> None:
    assert maps.poi_colour(7, (15, 5, 10)) == maps.BAND_COLOURS[1]
    many = tuple(range(1, 9))
    assert maps.poi_colour(8, many) == maps.BAND_COLOURS[-1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
        ("${alert(1)}", "&#36;{alert(1)}"),
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


def test_js_json_never_closes_the_script() -> None:
    text = maps._js_json({"n": "</script><script>alert(1)</script> & co"})
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
    ints = maps.encode_line(lon, lat)
    assert len(ints) == 6  # the repeated vertex is dropped
    dlon, dlat = maps.decode_line(ints)
    np.testing.assert_allclose(dlon, lon[[0, 1, 3]], atol=1e-9)
    np.testing.assert_allclose(dlat, lat[[0, 1, 3]], atol=1e-9)
    assert all(abs(v) < 100 for v in ints[2:])


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
    num = maps.summary_numbers(an, sc.bands_min)
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
    pois = maps.poi_data(an, sc.bands_min)
    assert sum(map(len, pois.values())) == int(np.isfinite(an.pois["lon"]).sum())
    fac = maps.facility_data(an)
    assert len(fac["entrances"]) == int(np.isfinite(an.entrances["lon"].astype(float)).sum())
    bands = maps.band_data(an, sc.bands_min)
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
def test_sample_map_is_small(sample_map_run) -> None:
    assert sample_map_run.files["map"].stat().st_size < 1_000_000


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

"""Proposals: a new link, a closed, moved or added facility — gains and losses worked by hand."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

import planner
from planner.proposals import Proposal, add_links, apply_proposal, compare
from tests.handmade import CRS, X0, Y0, make_network, points

# Two streets 100 m apart with a river between them, joined only at the east end:
#   B: 2 (0,100) ---------------------------- 3 (400,100)
#                                              |
#   A: 0 (0,0)   ---------------------------- 1 (400,0)
NET = make_network({0: (0, 0), 1: (400, 0), 2: (0, 100), 3: (400, 100)}, [(0, 1), (2, 3), (1, 3)])
TO_WGS84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
MPM = 75.0  # 4.5 km/h


def line(*xy: tuple[float, float]) -> shapely.LineString:
    """A line given in the hand-made metres, as WGS-84."""
    lon, lat = TO_WGS84.transform([x + X0 for x, _ in xy], [y + Y0 for _, y in xy])
    return shapely.LineString(zip(lon, lat, strict=True))


def test_a_new_link_shortens_the_walk():
    # F on A at x=50, P on B at x=50: 350 m east + 100 m north + 350 m west = 800 m.
    base = planner.analyse(NET, points([("F", 50, 0)]), points([("P", 50, 100)]), bands_min=(5, 15))
    np.testing.assert_allclose(base.pois["minutes_to_nearest"], [800 / MPM])
    # a footbridge from x=60 on A to x=60 on B: 10 + 100 + 10 = 120 m
    bridge = Proposal("bridge", links={"人行桥 footbridge": line((60, 0), (60, 100))})
    new = apply_proposal(base, bridge)
    np.testing.assert_allclose(new.pois["minutes_to_nearest"], [120 / MPM], atol=1e-9)
    by_facility, by_poi = compare(base, new)
    band5 = by_facility[by_facility["band_min"] == 5].iloc[0]
    assert (band5["base"], band5["proposal"], band5["gained"], band5["lost"]) == (0, 1, 1, 0)
    band15 = by_facility[by_facility["band_min"] == 15].iloc[0]
    assert (band15["base"], band15["proposal"], band15["gained"]) == (1, 1, 0)
    assert list(by_poi["change"]) == ["faster"]
    assert list(by_poi["base_band"]) == [15] and list(by_poi["proposal_band"]) == [5]
    assert new.provenance.name == "analysis-bridge"
    assert base.network.n_edges == 3  # the baseline is not changed


def test_link_splits_streets_and_joins_nodes():
    joined = add_links(NET, {"gate": line((0, 0), (0, 100))})  # node to node: no split
    assert joined.n_nodes == 4 and joined.n_edges == 4
    split = add_links(NET, {"crossing": line((200, 3), (250, 97))})  # 3 m off A and B
    assert split.n_nodes == 6 and split.n_edges == 3 + 2 + 1
    assert np.isclose(split.edge_length.sum(), 400 + 400 + 100 + np.hypot(50, 100))
    assert set(split.edge_highway) == {"footway", "proposed"}


def test_a_link_far_from_any_street_is_refused():
    with pytest.raises(planner.PlannerError, match=r"link 'pier': its end is more than 30 m"):
        add_links(NET, {"pier": line((200, 0), (200, 60))})


# F on A at x=50; G on B at x=350. P on B at x=50, Q on A at x=250.
#   P: from G 300 m (4.0 min); from F 800 m (10.67 min)
#   Q: from F 200 m (2.67 min); from G 50 + 100 + 150 = 300 m (4.0 min)
FACS = points([("F", 50, 0), ("G", 350, 100)])
POIS = points([("P", 50, 100), ("Q", 250, 0)])


@pytest.fixture(scope="module")
def two() -> planner.Result:
    return planner.analyse(NET, FACS, POIS, bands_min=(5, 15))


def test_closing_a_facility_loses_what_only_it_reached(two):
    closed = apply_proposal(two, Proposal("close-G", close=["G"]))
    minutes = closed.pois.set_index("poi_id")["minutes_to_nearest"]
    np.testing.assert_allclose(minutes[["P", "Q"]], [800 / MPM, 200 / MPM])
    by_facility, by_poi = compare(two, closed)
    g5 = by_facility.query("facility_id == 'G' and band_min == 5").iloc[0]
    assert (g5["base"], g5["proposal"], g5["lost"]) == (2, 0, 2)
    f15 = by_facility.query("facility_id == 'F' and band_min == 15").iloc[0]
    assert (f15["base"], f15["proposal"], f15["gained"], f15["lost"]) == (2, 2, 0, 0)
    assert dict(zip(by_poi["poi_id"], by_poi["change"], strict=True)) == {
        "P": "slower",  # still within 15 min, but from F now
        "Q": "same",
    }


def test_moving_and_adding_facilities(two):
    moved = apply_proposal(two, Proposal("move-G", move={"G": tuple(FACS.loc[1, ["lon", "lat"]])}))
    assert moved.summary["overall"] == two.summary["overall"]  # moved onto itself: same
    lon, lat = TO_WGS84.transform(X0 + 50, Y0 + 100)
    add = points([("H", 50, 100)])
    added = apply_proposal(two, Proposal("add-H", add=add))
    assert added.pois.set_index("poi_id").loc["P", "nearest_facility_id"] == "H"
    assert added.pois.set_index("poi_id").loc["P", "minutes_to_nearest"] == pytest.approx(0.0)
    assert np.isclose(added.entrances.set_index("id").loc["H", "lon"], lon)
    assert np.isclose(added.entrances.set_index("id").loc["H", "lat"], lat)


def test_a_proposal_name_must_be_usable_as_a_file_name(two, cli, tmp_path):
    """A name with a path in it would write tables and the map outside their folders."""
    for bad in ("../../evil", "a/b", "a\\b", "..", "", "x\x00"):
        with pytest.raises(planner.PlannerError, match="usable as a file name"):
            Proposal(bad)
    assert Proposal("东门 east-gate").name == "东门 east-gate"
    # through the command: one line, before any work, nothing written anywhere
    bad = tmp_path / "evil.toml"
    bad.write_text('[proposal]\nname = "../../evil"\nclose = ["F01"]\n', encoding="utf-8")
    r = cli("compare", "sample", bad, "--out", tmp_path / "cmp")
    assert r.exit_code == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "usable as a file name" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.toml"]
    assert not list(tmp_path.parent.glob("*evil*"))


def test_two_proposals_with_one_name_are_refused(cli, tmp_path):
    """The second would replace the first's tables and map."""
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(
            '[proposal]\nname = "same"\nclose = ["F01"]\n', encoding="utf-8"
        )
    r = cli("compare", "sample", tmp_path / "a.toml", tmp_path / "b.toml", "--out", tmp_path / "c")
    assert r.exit_code == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "b.toml: [proposal] name = 'same' is also the name in" in r.stderr
    assert "a.toml" in r.stderr and not (tmp_path / "c").exists()
    assert not (tmp_path / "maps").exists()


@pytest.mark.slow
def test_compare_lists_the_proposals_rows_with_problems(cli, tmp_path):
    """A new facility with bad coordinates, a move too far from any street: each said."""
    (tmp_path / "new.csv").write_text(
        "id,name,lon,lat\nN1,ok,113.9450,22.5450\nN2,bad,abc,22.5\nN3,far,113.93,22.57\n",
        encoding="utf-8",
    )
    (tmp_path / "p.toml").write_text(
        '[proposal]\nname = "p"\nmove = { F05 = [113.90, 22.60] }\n[add]\npath = "new.csv"\n',
        encoding="utf-8",
    )
    r = cli("compare", "sample", tmp_path / "p.toml", "--out", tmp_path / "c")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  p: "))
    assert lines[at + 1] == "    3 problem(s) in the proposal's rows (not routed):"
    listed = lines[at + 2 : at + 5]
    assert any('new.csv row 3, field "lon": value "abc" is not a number' in x for x in listed)
    assert any("F05" in x and "beyond the snapping limit" in x for x in listed), listed
    # the added row too far from any street is named by its own file, not facilities.csv
    assert any('new.csv row 4, facility "N3"' in x and "beyond" in x for x in listed), listed
    assert lines[at + 5] == f"  tables: {tmp_path / 'c'}"
    # the table says which facilities were not walked, so their zeros are not read as results
    fac = pd.read_csv(
        tmp_path / "c" / "p_facilities.csv", encoding="utf-8-sig", keep_default_na=False
    )
    status = fac.drop_duplicates("facility_id").set_index("facility_id")
    assert status.loc["N1", "proposal_status"] == "ok" and status.loc["N1", "base_status"] == ""
    for fid in ("N2", "N3", "F05"):
        assert status.loc[fid, "proposal_status"] == "no_usable_entrance", fid
    assert status.loc["F05", "base_status"] == "ok"


def test_bad_proposals_say_what_is_wrong(two):
    with pytest.raises(planner.PlannerError, match="no facility with id 'X'"):
        apply_proposal(two, Proposal("x", close=["X"]))
    with pytest.raises(planner.PlannerError, match="added facility id 'F' already exists"):
        apply_proposal(two, Proposal("dup", add=points([("F", 10, 0)])))


def test_same_inputs_same_tables(two, tmp_path):
    a = apply_proposal(two, Proposal("bridge", links={"b": line((60, 0), (60, 100))}))
    b = apply_proposal(two, Proposal("bridge", links={"b": line((60, 0), (60, 100))}))
    fa = planner.write_outputs(a, tmp_path / "a")
    fb = planner.write_outputs(b, tmp_path / "b")
    for key in ("coverage", "pois", "facilities", "isochrones"):
        assert fa[key].read_bytes() == fb[key].read_bytes(), key


def test_compare_map_marks_gained_and_lost_offline(two, tmp_path):
    from planner.offline import external_urls, save_offline
    from planner.proposals import compare_map

    closed = apply_proposal(two, Proposal("close-F", close=["F"]))
    # without F, Q (2.7 min from F) is 4.0 min from G: same band 5; P unchanged: nothing lost
    # within 15 min. Close G instead: P goes 4.0 -> 10.7 (kept within 15).
    m = compare_map(two, closed)
    html = save_offline(m, tmp_path / "c.html").read_text(encoding="utf-8")
    # the changes group, added after build_map's layer control, is defined before the control
    # refers to it (else the page stops there; tests/test_browser_sample.py opens one)
    import folium

    (changes,) = [c for c in m._children.values() if "Changes" in getattr(c, "layer_name", "")]
    (control,) = [c for c in m._children.values() if isinstance(c, folium.LayerControl)]
    defined = html.index(f"var {changes.get_name()} = ")
    assert defined < html.index(f"var {control.get_name()}_layers = ")
    # layer names are written as JSON (\u escapes) in folium's layer control
    assert "Changes: \\u65b0\\u8986\\u76d6 gained 0 / \\u5931\\u53bb lost 0" in html
    lonely = planner.analyse(NET, FACS, points([("P", 50, 100), ("R", 390, 40)]), bands_min=(5,))
    # R on the 1-3 link, 40 m north of node 1: from G 50 + 60 = 110 m (1.5 min); from F 390 m
    # (5.2 min): closing G loses R within 5 min
    gone = apply_proposal(lonely, Proposal("close-G", close=["G"]))
    html = save_offline(compare_map(lonely, gone), tmp_path / "d.html").read_text(encoding="utf-8")
    assert "\\u5931\\u53bb lost 2" in html  # P (4.0 -> 10.7), R (1.5 -> 5.2) leave 5 min
    assert "失去 lost: name R (R)" in html and external_urls(html) == []


# --------------------------------------------------------------------------- proposal files
def _write(tmp_path, text: str):
    path = tmp_path / "proposal.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_proposal_file_round_trip_with_gcj02(tmp_path):
    from planner.crs import wgs84_to_gcj02
    from planner.proposals import load_proposal

    glon, glat = wgs84_to_gcj02(np.array([113.95, 113.951]), np.array([22.54, 22.541]))
    (tmp_path / "new.csv").write_text("id,name,lon,lat\nN1,新站,113.952,22.542\n", encoding="utf-8")
    path = _write(
        tmp_path,
        f"""
[proposal]
name = "gate"
close = ["F05"]
move = {{ F02 = [{glon[0]}, {glat[0]}] }}
crs = "GCJ02"

[add]
path = "new.csv"

[[links]]
name = "商城东门 east gate"
coords = [[{glon[0]}, {glat[0]}], [{glon[1]}, {glat[1]}]]
crs = "高德"
""",
    )
    p = load_proposal(path)
    assert p.name == "gate" and list(p.close) == ["F05"]
    np.testing.assert_allclose(p.move["F02"], (113.95, 22.54), atol=1e-6)  # < 0.1 m
    np.testing.assert_allclose(
        np.asarray(p.links["商城东门 east gate"].coords),
        [[113.95, 22.54], [113.951, 22.541]],
        atol=1e-6,
    )
    assert list(p.add["id"]) == ["N1"] and p.add["status"].iloc[0] == "ok"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[proposal]\nclose = []\n", "name is missing"),
        ('[proposal]\nname = "a"\nclsoe = []\n', "clsoe: unknown key"),
        ('[proposal]\nname = "a"\n[extra]\n', "unknown table"),
        ('[proposal]\nname = "a"\nclose = "F05"\n', "close: expected a list"),
        ('[proposal]\nname = "a"\n[[links]]\nname = "x"\ncoords = [[1, 2]]\n', "two or more"),
        ('[proposal]\nname = "a"\n[[links]]\nname = "x"\ncoords = [["a", 2], [1, 2]]\n', "pairs"),
        ('[proposal]\nname = "a"\nmove = { F1 = [1] }\n', "move.F1"),
        ("not toml [", "cannot read"),
        # the name names files (out/<scenario>-compare/<name>_*.csv, maps/<scenario>-<name>.html)
        ('[proposal]\nname = "../../evil"\n', "usable as a file name"),
        ('[proposal]\nname = "a/b"\n', "usable as a file name"),
        ('[proposal]\nname = ".."\n', "usable as a file name"),
        ('[proposal]\nname = "  "\n', "usable as a file name"),
        ('[proposal]\nname = "c:x"\n', "usable as a file name"),
    ],
)
def test_bad_proposal_files_are_one_line_errors(tmp_path, text, message):
    from planner.proposals import load_proposal

    with pytest.raises(planner.PlannerError, match=message) as info:
        load_proposal(_write(tmp_path, text))
    assert "\n" not in str(info.value) and "proposal.toml" in str(info.value)


@pytest.mark.slow
def test_cli_compare_on_the_sample(sample_map_run, cli, tmp_path):
    """Close the public toilets (F05) and open a link between two real street nodes."""
    from pyproj import Transformer

    net = sample_map_run.network
    back = Transformer.from_crs(net.crs, "EPSG:4326", always_xy=True)
    a, b = net.edge_u[0], net.edge_v[10]
    lon, lat = back.transform(net.node_x[[a, b]], net.node_y[[a, b]])
    path = _write(
        tmp_path,
        f"""
[proposal]
name = "no-toilets"
close = ["F05"]

[[links]]
name = "test link"
coords = [[{lon[0]}, {lat[0]}], [{lon[1]}, {lat[1]}]]
""",
    )
    r = cli("compare", "sample", path, "--out", tmp_path / "cmp", "--maps-dir", tmp_path / "m")
    assert r.exit_code == 0, r.stderr
    assert "today 161 POIs within 15 min" in r.stdout and "no-toilets:" in r.stdout
    fac = pd.read_csv(tmp_path / "cmp" / "no-toilets_facilities.csv", encoding="utf-8-sig")
    f05 = fac[fac["facility_id"] == "F05"]
    assert (f05["proposal"] == 0).all() and (f05["lost"] == f05["base"]).all()
    pois = pd.read_csv(tmp_path / "cmp" / "no-toilets_pois.csv", encoding="utf-8-sig")
    assert len(pois) == 180 and set(pois["change"]) <= {
        "gained",
        "lost",
        "faster",
        "slower",
        "same",
    }
    counts = pois["change"].value_counts()
    said = re.search(r"no-toilets: .*\((gained \d+, lost \d+, faster \d+, slower \d+)\)", r.stdout)
    assert said is not None, r.stdout
    assert said[1] == ", ".join(
        f"{c} {counts.get(c, 0)}" for c in ("gained", "lost", "faster", "slower")
    )
    assert counts.get("slower", 0) > 0  # what lost F05 walks farther: said too
    assert (tmp_path / "m" / "sample-no-toilets.html").is_file()
    policy = pd.read_csv(tmp_path / "cmp" / "no-toilets_policy.csv", encoding="utf-8-sig")
    f05_policy = policy[policy["origin_id"] == "F05"]
    assert len(f05_policy) and (f05_policy["count_proposal"] == 0).all()
    assert (f05_policy["count_base"] > 0).all()  # only types F05's circle had are listed
    # the same proposal declared in a copy of the scenario: byte-identical tables
    from planner.scenario import DATA_DIR

    text = (DATA_DIR / "sample" / "scenario.toml").read_text(encoding="utf-8")
    for name in ("shenzhen_nanshan_science_park_2021-03.osm", "facilities.csv", "origins.csv"):
        text = text.replace(f'"{name}"', f'"{(DATA_DIR / "sample" / name).as_posix()}"')
    folder = tmp_path / "declared"
    folder.mkdir()
    (folder / "scenario.toml").write_text(
        text + f'\n[proposals]\nfiles = ["{path.as_posix()}"]\n', encoding="utf-8"
    )
    r = cli("compare", folder, "--out", tmp_path / "cmp3", "--maps-dir", tmp_path / "m3")
    assert r.exit_code == 0, r.stderr
    for name in ("facilities", "pois", "policy"):
        first = (tmp_path / "cmp" / f"no-toilets_{name}.csv").read_bytes()
        assert (tmp_path / "cmp3" / f"no-toilets_{name}.csv").read_bytes() == first, name
    bad = _write(tmp_path, '[proposal]\nname = "x"\nclose = ["F99"]\n')
    r = cli("compare", "sample", bad, "--out", tmp_path / "cmp2", "--maps-dir", tmp_path / "m")
    assert r.exit_code == 1 and r.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "no facility with id 'F99'" in r.stderr and not (tmp_path / "cmp2").exists()


def test_policy_changes_of_a_closed_facility():
    """P is a convenience store (B01), Q a pharmacy: G reaches both within 5 min (4.0 min);
    F reaches Q in 2.7 min and P in 10.7 min. Closing G changes only G's circle."""
    from planner import policy
    from planner.proposals import compare_policy

    pois = points([("P", 50, 100, "shop:convenience"), ("Q", 250, 0, "amenity:pharmacy")])
    base = policy.add_policy(planner.analyse(NET, FACS, pois, bands_min=(5, 10, 15)))
    after = policy.add_policy(apply_proposal(base, Proposal("close-G", close=["G"])))
    changes = compare_policy(base, after)
    assert set(changes["origin_id"]) == {"G"}
    g = changes.set_index(["band_min", "type_zh"])
    assert g.loc[(5, "便利店"), "count_base"] == 1 and g.loc[(5, "便利店"), "count_proposal"] == 0
    assert g.loc[(10, "药店"), "missing_base"] == False  # noqa: E712 - required at 10 min
    assert g.loc[(10, "药店"), "missing_proposal"] == True  # noqa: E712
    assert len(changes) == 2 * 3  # two types x three bands, all in G's circle


def test_compare_map_draws_what_the_proposal_changes(two):
    """The "方案 Proposal" overlay: each link, closed entrance, move and addition, where it is."""
    import folium

    from planner.proposals import compare_map
    from planner.style import PROPOSAL_COLOUR

    bridge = line((60, 0), (60, 100))
    new_rows = points([("N", 200, 100)])
    new_rows["name"] = "新点 <b>new</b>"
    proposal = Proposal(
        "all-four",
        add=new_rows,
        move={"G": tuple(line((300, 100), (300, 100)).coords[0])},
        close=["F"],
        links={"人行桥 footbridge": bridge},
    )
    after = apply_proposal(two, proposal)
    m = compare_map(two, after, proposal)
    (layer,) = [c for c in m._children.values() if getattr(c, "layer_name", "").startswith("方案")]
    assert layer.layer_name == (
        "方案 Proposal all-four: 新通道 links 1 · 关闭 closed 1 · 迁移 moved 1 · 新增 added 1"
    )
    drawn = list(layer._children.values())
    assert all(d.options["color"] == PROPOSAL_COLOUR for d in drawn)
    lines = [d for d in drawn if isinstance(d, folium.PolyLine)]
    rings = [d for d in drawn if isinstance(d, folium.CircleMarker)]

    def tip(d) -> str:
        (t,) = [c for c in d._children.values() if isinstance(c, folium.Tooltip)]
        return t.text

    tips = [tip(d) for d in drawn]

    def lat_lon(x: float, y: float) -> tuple[float, float]:
        lon, lat = line((x, y), (x, y)).coords[0]
        return (lat, lon)

    # the link, as given
    np.testing.assert_allclose(lines[0].locations, [(lat, lon) for lon, lat in bridge.coords])
    assert tips[0] == "新通道 new link: 人行桥 footbridge"
    # F closed: a dashed ring where its entrance was (snapped at x=50 on street A)
    closed = [r for r in rings if tip(r).startswith("关闭 closed: F")]
    assert len(closed) == 1 and closed[0].options["dashArray"] == "4 4"
    np.testing.assert_allclose(closed[0].location, lat_lon(50, 0), atol=1e-9)
    # G moved from x=350 to x=300 on street B: a line from where it was, a ring where it is
    (moved,) = [d for d in lines if tip(d).startswith("迁移 moved: G")]
    np.testing.assert_allclose(moved.locations, [lat_lon(350, 100), lat_lon(300, 100)], atol=1e-9)
    now = [r for r in rings if tip(r).startswith("迁移 moved: G")]
    np.testing.assert_allclose(now[0].location, lat_lon(300, 100), atol=1e-9)
    # N added, its name escaped for the page
    (new,) = [r for r in rings if tip(r).startswith("新增 added: N")]
    np.testing.assert_allclose(new.location, lat_lon(200, 100), atol=1e-9)
    assert "&lt;b&gt;new&lt;/b&gt;" in tip(new)
    # the legend says what the rings mean
    import json

    from planner.maps import _PlannerLayers
    from planner.proposals import GAINED_COLOUR, LOST_COLOUR

    def panel(m) -> str:
        (layers,) = [c for c in m._children.values() if isinstance(c, _PlannerLayers)]
        return json.loads(layers.data)["panel"]

    text = panel(m)
    # the title says which proposal this is (the hand-made analysis has no title of its own)
    assert "<div class='planner-title'>方案 Proposal all-four</div>" in text
    assert f"solid {GAINED_COLOUR};" in text and "now within 15 min (gained)" in text
    assert f"solid {LOST_COLOUR};" in text and "no longer within 15 min (lost)" in text
    assert f"solid {PROPOSAL_COLOUR};" in text and "thick dashed line, a new link" in text
    # text from the proposal file and the data is escaped; a missing name is left out
    odd = Proposal("东门 & 'gate' ${x}", close=["G"])  # (< > / are refused in names)
    two_unnamed = apply_proposal(two, Proposal("same"))
    two_unnamed.facilities = two_unnamed.facilities.assign(name=np.nan)
    m2 = compare_map(two_unnamed, apply_proposal(two_unnamed, odd), odd)
    (layer2,) = [c for c in m2._children.values() if "Proposal" in getattr(c, "layer_name", "")]
    assert "东门 &amp; &#x27;gate&#x27; &#36;&#123;x&#125;" in layer2.layer_name
    assert [tip(d) for d in layer2._children.values()] == ["关闭 closed: G "]
    # without the proposal: no such layer (the function's former form), no such legend row
    plain = compare_map(two, after)
    assert not [c for c in plain._children.values() if "方案" in getattr(c, "layer_name", "")]
    assert f"solid {PROPOSAL_COLOUR};" not in panel(plain) and "(gained)" in panel(plain)


def test_a_repeated_merchant_row_is_paired_with_its_repeat_not_counted_as_gained(tmp_path):
    """P1 at 100 m, P2 at 700 m and a second row with P2's id (duplicate_id, not walked).

    F at 0, bands 5 and 10 min (375/750 m). Adding G at 700 m moves P2 from 9.33 to 0.07 min
    (faster, within 10 already); nothing is gained. An empty proposal changes nothing.
    """
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lines = ["id,lon,lat,kind"]
    for pid, x in (("P1", 100), ("P2", 700), ("P2", 710)):
        lon, lat = to_lonlat.transform(x + X0, 5 + Y0)
        lines.append(f"{pid},{lon!r},{lat!r},shop")
    (tmp_path / "pois.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    network = make_network(
        {i: (100.0 * i, 0.0) for i in range(11)}, [(i, i + 1) for i in range(10)]
    )
    base = planner.analyse(
        network,
        points([("F", 0, 0)]),
        planner.read_points(tmp_path / "pois.csv"),
        bands_min=(5, 10),
    )
    assert list(base.pois["status"]) == ["ok", "ok", "duplicate_id"]
    for proposal, changes in (
        (Proposal("nothing"), ["same", "same", "same"]),
        (Proposal("addG", add=points([("G", 700, 0)])), ["same", "faster", "same"]),
    ):
        by_poi = compare(base, apply_proposal(base, proposal))[1]
        assert list(by_poi["poi_id"]) == ["P1", "P2", "P2"]  # every row once
        assert list(by_poi["change"]) == changes
        assert (
            list(by_poi["base_status"])
            == list(by_poi["proposal_status"])
            == [
                "ok",
                "ok",
                "duplicate_id",
            ]
        )
        assert np.isnan(by_poi["proposal_minutes"].iloc[2])  # the repeat was never walked


def test_a_walking_time_that_appears_is_faster_and_one_that_goes_is_slower():
    """Q is on a street of its own, 2000 m (26.7 min) from a new G: beyond every band."""
    nodes = {i: (100.0 * i, 0.0) for i in range(11)}
    nodes.update({100 + i: (100.0 * i, 5000.0) for i in range(31)})
    edges = [(i, i + 1) for i in range(10)] + [(100 + i, 101 + i) for i in range(30)]
    base = planner.analyse(
        make_network(nodes, edges),
        points([("F", 0, 0)]),
        points([("P", 500, 0), ("Q", 0, 5000)]),
        bands_min=(5, 10, 15),
    )
    after = apply_proposal(base, Proposal("addG", add=points([("G", 2000, 5000)])))
    assert after.pois.set_index("poi_id").loc["Q", "minutes_to_nearest"] == pytest.approx(2000 / 75)
    forward = compare(base, after)[1].set_index("poi_id")
    assert forward.loc["Q", "change"] == "faster" and forward.loc["P", "change"] == "same"
    assert (forward.loc["Q", "base_status"], forward.loc["Q", "proposal_status"]) == (
        "unreachable",
        "ok",
    )
    assert compare(after, base)[1].set_index("poi_id").loc["Q", "change"] == "slower"


def test_moving_a_facility_whose_row_had_no_point_places_it(tmp_path):
    """G's row has no coordinates; the proposal moves G to 900 m, next to P: P gains."""
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(X0, Y0)
    (tmp_path / "fac.csv").write_text(f"id,lon,lat\nF,{lon!r},{lat!r}\nG,,\n", encoding="utf-8")
    network = make_network(
        {i: (100.0 * i, 0.0) for i in range(11)}, [(i, i + 1) for i in range(10)]
    )
    base = planner.analyse(
        network,
        planner.read_points(tmp_path / "fac.csv"),
        points([("P", 900, 0)]),
        bands_min=(5, 10),
    )
    assert base.facilities.set_index("facility_id").loc["G", "status"] == "no_usable_entrance"
    glon, glat = to_lonlat.transform(X0 + 900, Y0)
    after = apply_proposal(base, Proposal("moveG", move={"G": (glon, glat)}))
    assert after.facilities.set_index("facility_id").loc["G", "status"] == "ok"
    (row,) = compare(base, after)[1].itertuples(index=False)
    assert row.change == "gained" and row.proposal_minutes == pytest.approx(0.0, abs=1e-6)


def test_results_of_other_merchants_are_not_compared(two):
    """Merchants only in one result would count as gained or lost: refused, one line."""
    fewer = planner.analyse(NET, FACS, POIS.iloc[:1], bands_min=(5, 15))
    with pytest.raises(planner.PlannerError) as err:
        compare(two, fewer)
    assert str(err.value) == (
        "compare: the two results have different merchants (1 only in the first, 0 only in "
        "the second); compare results of the same merchants"
    )


def test_a_proposal_checks_what_it_is_given(two):
    """One id to close may be given alone; facilities to add must be a points table."""
    one = apply_proposal(two, Proposal("close-G", close="G"))
    listed = apply_proposal(two, Proposal("close-G", close=["G"]))
    pd.testing.assert_frame_equal(one.coverage, listed.coverage)
    plain = pd.DataFrame({"id": ["N"], "lon": [0.0], "lat": [0.0]})  # not read_points' layout
    with pytest.raises(planner.PlannerError, match=r"proposal 'x': add: not a table of points"):
        Proposal("x", add=plain)


def test_a_proposal_keeps_the_results_settings_including_the_polygon_method():
    """An "exact" scenario's proposals are drawn exactly too (every setting is carried)."""
    exact = planner.analyse(NET, FACS, POIS, bands_min=(5, 15), isochrone_method="exact")
    closed = apply_proposal(exact, Proposal("close-G", close=["G"]))
    assert closed.settings == exact.settings
    assert closed.settings.isochrone_method == "exact"

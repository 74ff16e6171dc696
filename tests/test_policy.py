"""Policy business types (一刻钟便民生活圈 业态): mapping rules and per-circle tables, by hand.

Hand-made network L: one straight street 0 (0,0) — 1 (1600,0), walked at 6 km/h = 100 m/min,
so minutes = metres / 100. Every point lies on the street (access leg 0). Bands 5, 10, 15.

Facility F at x=0. POIs (x, kind -> type):

    B  200 amenity:bank       -> none (unmapped)         2.0 min from F
    P1 300 shop:convenience   -> B01 (OSM tag)           3.0
    P2 450 24小时便利店        -> B01 (word 便利店)        4.5
    P3 800 amenity:pharmacy   -> B11                     8.0
    P4 1200 农贸市场           -> B03 (word 农贸市场)     12.0
    P5 1400 amenity:cafe      -> Q11                    14.0
    P6 1500 shop:bakery       -> Q03                    15.0 (on the band's edge: inside)
    P7 1600 shop:pet          -> Q12                    16.0 (beyond every band)

Origin O1 at x=1600 (and O2, a row without coordinates): from O1, P7 is 0 min, P6 1, P5 2,
P4 4, P3 8, P2 11.5, P1 13, B 14.
"""

from __future__ import annotations

import csv
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from planner import maps, outputs, pipeline, policy
from planner._errors import PlannerError
from planner.policy import POLICY_COLUMNS, classify, load_types
from planner.schema import Status
from tests.handmade import make_network, points

SPEED = 6.0  # km/h -> 100 m/min
BANDS = (5, 10, 15)
POIS = [
    ("B", 200, 0, "amenity:bank"),
    ("P1", 300, 0, "shop:convenience"),
    ("P2", 450, 0, "24小时便利店"),
    ("P3", 800, 0, "amenity:pharmacy"),
    ("P4", 1200, 0, "农贸市场"),
    ("P5", 1400, 0, "amenity:cafe"),
    ("P6", 1500, 0, "shop:bakery"),
    ("P7", 1600, 0, "shop:pet"),
]


@pytest.fixture(scope="module")
def types():
    return load_types()


@pytest.fixture(scope="module")
def line():
    net = make_network({0: (0, 0), 1: (1600, 0)}, [(0, 1)])
    return pipeline.analyse(
        net, points([("F", 0, 0, "test")]), points(POIS), bands_min=BANDS, speed_kmh=SPEED
    )


def origins_table():
    o = points([("O1", 1600, 0, "place=neighbourhood"), ("O2", 800, 0, "place=neighbourhood")])
    o.loc[1, ["lon", "lat", "x_orig", "y_orig"]] = np.nan
    o.loc[1, ["status", "usable", "reason"]] = [
        Status.MISSING_COORDINATES.value,
        False,
        "origins.csv row 3: empty lon",
    ]
    return o


@pytest.fixture(scope="module")
def with_policy(line, types):
    policy.add_policy(line, types, origins_table())
    return line


def rows(table, origin, band):
    t = table[(table["origin_id"] == origin) & (table["band_min"] == band)]
    return t.set_index("type_code")


# --------------------------------------------------------------------------- the shipped table
def test_shipped_table_has_the_26_guide_types(types):
    t = types.table
    assert len(t) == 26 and list(t.columns[:8]) == list(policy.TYPE_COLUMNS)
    assert (t["class"] == "basic").sum() == 14 and (t["class"] == "quality").sum() == 12
    assert set(t.loc[t["class"] == "basic", "required_band_min"]) == {10.0}
    assert set(t.loc[t["class"] == "quality", "required_band_min"]) == {15.0}
    assert t["type_code"].is_unique and t["source"].str.contains("一刻钟便民生活圈建设指南").all()
    assert policy.DEFAULT_TYPES_FILE.is_file()


# --------------------------------------------------------------------------- mapping rules
def test_osm_tag_matches_exactly(types):
    assert classify("shop:convenience", types) == "B01_convenience_store"
    assert classify("shop=kiosk", types) == "B01_convenience_store"  # key=value also read
    assert classify("amenity:pharmacy", types) == "B11_pharmacy"
    assert classify("amenity:post_office", types) == "B12_post_parcel"
    # exact: no prefix or partial value match
    assert classify("shop:convenience_store", types) is None
    assert classify("shop:car_repair", types) is None


def test_chinese_word_contained_in_the_kind(types):
    assert classify("24小时便利店", types) == "B01_convenience_store"
    assert classify("社区药房", types) == "B11_pharmacy"
    assert classify("宠物店", types) == "Q12_pet"


def test_longest_word_wins_and_ties_go_to_the_first_type(types):
    # 生鲜超市 (4 chars, B04) beats 超市 (2 chars, B02)
    assert classify("生鲜超市", types) == "B04_fresh_food_store"
    assert classify("超市", types) == "B02_supermarket"
    # 美容美发 (B07, 4 chars) is longer than anything else in 美容美发宠物店
    assert classify("美容美发宠物店", types) == "B07_hair_beauty"
    # tie: 美容 (B07) and 宠物 (Q12) are both 2 characters; B07 comes first in the table
    assert classify("宠物美容", types) == "B07_hair_beauty"


def test_unmapped_kinds_are_listed_not_guessed(line, types):
    assert classify("amenity:bank", types) is None
    assert classify("amenity:school", types) is None  # a school is not a training point
    assert classify(None, types) is None and classify("", types) is None
    un = policy.unmapped_kinds(line, types)
    assert list(un.columns) == ["kind", "count"]
    assert un.to_dict("records") == [{"kind": "amenity:bank", "count": 1}]


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (("class", "basics"), "row 3, class = 'basics'"),
        (("required_band_min", "十"), "row 3, required_band_min = '十'"),
        (("osm_tags", "shop convenience"), "row 3, osm_tags"),
        (("type_code", "B01_convenience_store"), "row 3, type_code"),
        (("type_zh", ""), "row 3, type_zh"),
    ],
)
def test_a_bad_row_is_one_line_naming_file_row_and_field(tmp_path, edit, where):
    with policy.DEFAULT_TYPES_FILE.open(encoding="utf-8") as f:
        data = list(csv.DictReader(f))
    column, value = edit
    data[1][column] = value  # file row 3
    path = tmp_path / "types.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(data[0]))
        w.writeheader()
        w.writerows(data)
    with pytest.raises(PlannerError) as info:
        load_types(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"{path}: ")
    assert where in message


def test_a_missing_column_is_named(tmp_path):
    path = tmp_path / "types.csv"
    path.write_text("type_code,class\nX1,basic\n", encoding="utf-8")
    with pytest.raises(PlannerError, match=r"missing column.*type_zh"):
        load_types(path)


# --------------------------------------------------------------------------- per circle, by hand
def test_facility_types_per_band_by_hand(line, types):
    t = policy.policy_table(line, types)
    assert list(t.columns) == list(POLICY_COLUMNS) and len(t) == 3 * 26
    assert set(t["origin_kind"]) == {"facility"}
    five, ten, fifteen = (rows(t, "F", b) for b in BANDS)
    # 5 min: P1 (3.0) and P2 (4.5) are convenience stores; nothing is required yet
    assert five.loc["B01_convenience_store", "count"] == 2
    assert five["count"].sum() == 2
    assert not five["required"].any() and not five["missing"].any()
    # 10 min: + the pharmacy P3 (8.0); basic types are required, the other 12 are missing
    assert ten.loc["B11_pharmacy", "count"] == 1 and ten["count"].sum() == 3
    assert ten["required"].sum() == 14 and (ten.loc[ten["required"], "class"] == "basic").all()
    assert set(ten.index[ten["missing"]]) == set(
        types.table.loc[types.table["class"] == "basic", "type_code"]
    ) - {"B01_convenience_store", "B11_pharmacy"}
    assert ten.loc["B03_wet_market", "missing"]  # the market P4 is 12 min away
    # 15 min: + market P4 (12), cafe P5 (14), bakery P6 (15.0, the band's edge); pet P7 is
    # 16 min, beyond: every type is required, the pet service point among the missing
    assert fifteen["required"].all()
    for code, n in [
        ("B01_convenience_store", 2),
        ("B11_pharmacy", 1),
        ("B03_wet_market", 1),
        ("Q11_tea_coffee", 1),
        ("Q03_bakery", 1),
        ("Q12_pet", 0),
    ]:
        assert fifteen.loc[code, "count"] == n, code
    assert fifteen["count"].sum() == 6
    assert fifteen.loc["Q12_pet", "missing"] and not fifteen.loc["Q03_bakery", "missing"]
    assert fifteen["missing"].sum() == 26 - 5
    # nearest minutes: the same in every band; NaN beyond the largest band
    for band_rows in (five, ten, fifteen):
        assert band_rows.loc["B01_convenience_store", "nearest_minutes"] == pytest.approx(3.0)
        assert band_rows.loc["B11_pharmacy", "nearest_minutes"] == pytest.approx(8.0)
        assert band_rows.loc["B03_wet_market", "nearest_minutes"] == pytest.approx(12.0)
        assert band_rows.loc["Q11_tea_coffee", "nearest_minutes"] == pytest.approx(14.0)
        assert band_rows.loc["Q03_bakery", "nearest_minutes"] == pytest.approx(15.0)
        assert math.isnan(band_rows.loc["Q12_pet", "nearest_minutes"])


def test_required_flag_follows_the_band_rule(line, types):
    t = policy.policy_table(line, types)
    for band in BANDS:
        r = rows(t, "F", band)
        need = types.table.set_index("type_code")["required_band_min"] <= band
        assert (r["required"] == need.reindex(r.index)).all(), band


def test_origins_walked_with_the_same_engine_and_rows_kept(with_policy, types):
    t = with_policy.policy
    assert t is not None and len(t) == 3 * 3 * 26  # F, O1, O2
    assert list(t["origin_id"].drop_duplicates()) == ["F", "O1", "O2"]
    assert set(t.loc[t["origin_id"] != "F", "origin_kind"]) == {"origin"}
    five, ten, fifteen = (rows(t, "O1", b) for b in BANDS)
    # from O1 (x=1600): pet 0, bakery 1, cafe 2, market 4 -> in 5 min
    assert {c for c in five.index if five.loc[c, "count"]} == {
        "Q12_pet",
        "Q03_bakery",
        "Q11_tea_coffee",
        "B03_wet_market",
    }
    # 10 min: + pharmacy (8); the convenience stores are 11.5 and 13 min away: missing
    assert ten.loc["B11_pharmacy", "count"] == 1
    assert ten.loc["B01_convenience_store", "missing"]
    assert fifteen.loc["B01_convenience_store", "count"] == 2
    assert fifteen.loc["B01_convenience_store", "nearest_minutes"] == pytest.approx(11.5)
    assert fifteen.loc["Q12_pet", "nearest_minutes"] == pytest.approx(0.0, abs=1e-6)
    # O2 has no coordinates: it reaches nothing, and its row keeps its status
    o2 = t[t["origin_id"] == "O2"]
    assert (o2["count"] == 0).all() and o2["nearest_minutes"].isna().all()
    statuses = {o["origin_id"]: o["status"] for o in with_policy.summary["policy"]["origins"]}
    assert statuses == {"O1": "ok", "O2": "missing_coordinates"}
    s = with_policy.summary["policy"]
    assert s["unmapped_kinds"] == [{"kind": "amenity:bank", "count": 1}]
    assert "Q12_pet" in s["missing"]["F"] and "Q12_pet" not in s["missing"]["O1"]


def test_missing_means_none_within_the_types_required_time_whatever_the_bands(types):
    """F at 0 (100 m/min): the wet market (basic, 10 min) is 12 min away: missing, although
    it is within the 15-minute band. O1 at 1600 m: the convenience stores are 11.5 and 13
    min away: missing. O2 has no point: nothing measured, no list. The same answer with one
    20-minute band; with bands (3, 6) nothing can be checked, and the summary says so."""
    net = make_network({0: (0, 0), 1: (1600, 0)}, [(0, 1)])
    everything = set(types.table["type_code"])
    for bands in ((5, 10, 15), (20,), (10, 15, 30)):
        result = pipeline.analyse(
            net, points([("F", 0, 0, "test")]), points(POIS), bands_min=bands, speed_kmh=SPEED
        )
        policy.add_policy(result, types, origins_table())
        s = result.summary["policy"]
        assert set(s["missing"]) == {"F", "O1"}, bands  # O2 was not walked
        assert set(s["missing"]["F"]) == everything - {
            "B01_convenience_store",  # 3 min
            "B11_pharmacy",  # 8 min
            "Q11_tea_coffee",  # 14 min
            "Q03_bakery",  # 15.0 min: on the edge, inside
        }, bands
        assert "B03_wet_market" in s["missing"]["F"]
        assert set(s["missing"]["O1"]) == everything - {
            "B03_wet_market",  # 4 min
            "B11_pharmacy",  # 8 min
            "Q12_pet",
            "Q03_bakery",
            "Q11_tea_coffee",
        }, bands
        assert s["not_checked_types"] == [], bands
        panel = maps.policy_html(result)
        assert "综合超市" in panel and "未计算 not walked" in panel  # O2
        f_line = re.search(r"<b>F</b>[^<]*: ([^<]*)</div>", panel)[1]
        assert "农贸市场" in f_line or "菜市场" in f_line, f_line
    short = pipeline.analyse(
        net, points([("F", 0, 0, "test")]), points(POIS), bands_min=(3, 6), speed_kmh=SPEED
    )
    policy.add_policy(short, types, origins_table())
    s = short.summary["policy"]
    assert s["missing"] == {"F": [], "O1": []}
    assert set(s["not_checked_types"]) == everything
    assert "未检查 26 类" in maps.policy_html(short)


def test_the_map_panel_and_the_summary_agree_on_which_origins_were_walked(types, line):
    """O1 has a second row without a point: O1 was walked (its first row); O2 was not."""
    o = origins_table()
    extra = o.iloc[[1]].assign(id="O1", row=4)  # the second O1 row: no coordinates
    o = pd.concat([o, extra], ignore_index=True)
    result = pipeline.analyse(
        line.network, points([("F", 0, 0, "test")]), points(POIS), bands_min=BANDS, speed_kmh=SPEED
    )
    policy.add_policy(result, types, o)
    missing = result.summary["policy"]["missing"]
    panel = maps.policy_html(result)
    o1 = re.search(r"<b>O1</b>[^<]*（起点 origin）: ([^<]*)</div>", panel)[1]
    assert "O1" in missing and "not walked" not in o1 and "便利店" in o1
    o2 = re.search(r"<b>O2</b>[^<]*（起点 origin）: ([^<]*)</div>", panel)[1]
    assert "O2" not in missing and "未计算 not walked" in o2


def test_an_origin_with_a_facilitys_id_is_not_merged_with_it(types, line):
    o = points([("F", 1600, 0, "place=neighbourhood"), ("O1", 1600, 0, "place=neighbourhood")])
    result = pipeline.analyse(
        line.network, points([("F", 0, 0, "test")]), points(POIS), bands_min=BANDS, speed_kmh=SPEED
    )
    policy.add_policy(result, types, o)
    s = result.summary["policy"]
    (clash,) = [r for r in s["origins"] if r["origin_id"] == "F"]
    assert clash["status"] == "duplicate_id" and "a facility has this id" in clash["reason"]
    assert len(s["missing"]["F"]) == len(set(s["missing"]["F"])) == 22
    assert clash["reason"] in result.problems()


def test_an_origin_too_far_from_every_street_is_named_an_origin_point(types, line):
    o = points([("O1", 1600, 0, "place=neighbourhood"), ("OFAR", 800, 900, "place=x")])
    result = pipeline.analyse(
        line.network, points([("F", 0, 0, "test")]), points(POIS), bands_min=BANDS, speed_kmh=SPEED
    )
    policy.add_policy(result, types, o)
    (far,) = [r for r in result.summary["policy"]["origins"] if r["origin_id"] == "OFAR"]
    assert far["status"] == "too_far_from_network"
    assert 'origin point "OFAR"' in far["reason"] and "facilit" not in far["reason"]
    assert far["reason"].startswith("origins row")  # a table without a file name


def test_compare_leaves_out_an_origin_not_walked_on_one_side(types, line):
    """A proposal adding a facility with an origin's id makes that origin `duplicate_id`
    there: nothing about the origin changed, so compare_policy lists none of its rows."""
    from planner.proposals import Proposal, apply_proposal, compare_policy

    o = points([("O1", 1600, 0, "place=neighbourhood"), ("O2", 400, 0, "place=neighbourhood")])
    base = pipeline.analyse(
        line.network, points([("F", 0, 0, "test")]), points(POIS), bands_min=BANDS, speed_kmh=SPEED
    )
    policy.add_policy(base, types, o)
    other = apply_proposal(base, Proposal("add-O1", add=points([("O1", 800, 0, "test")])))
    (o1,) = [r for r in other.summary["policy"]["origins"] if r["origin_id"] == "O1"]
    assert o1["status"] == "duplicate_id"
    changes = compare_policy(base, other)
    assert not ((changes["origin_kind"] == "origin") & (changes["origin_id"] == "O1")).any()
    assert ((changes["origin_kind"] == "facility") & (changes["origin_id"] == "O1")).any()


def test_unmapped_kinds_count_a_repeated_row_once(types):
    pois = points([*POIS, ("B", 200, 0, "amenity:bank")])
    pois.loc[len(POIS), ["status", "usable"]] = [Status.DUPLICATE_ID.value, False]
    net = make_network({0: (0, 0), 1: (1600, 0)}, [(0, 1)])
    result = pipeline.analyse(net, points([("F", 0, 0, "test")]), pois, bands_min=BANDS)
    assert policy.unmapped_kinds(result, types).to_dict("records") == [
        {"kind": "amenity:bank", "count": 1}
    ]


def test_origin_rows_with_problems_are_input_problems(with_policy):
    """An origin row with a problem is listed with the others (and stops --strict)."""
    problems = with_policy.problems()
    (o2,) = [o for o in with_policy.summary["policy"]["origins"] if o["origin_id"] == "O2"]
    assert o2["reason"] and o2["reason"] in problems
    assert not any("O1" in p for p in problems)


def test_strict_stops_on_an_origin_problem(tmp_path):
    from dataclasses import replace

    from planner._errors import PlannerError
    from planner.scenario import DATA_DIR, load_scenario

    origins = tmp_path / "origins.csv"
    text = (DATA_DIR / "sample" / "origins.csv").read_text(encoding="utf-8-sig")
    origins.write_text(text.rstrip("\n") + "\nOX,no coordinates,n,,\n", encoding="utf-8")
    sample = load_scenario("sample")
    sc = replace(sample, origins=replace(sample.origins, path=origins))
    with pytest.raises(PlannerError, match=r"--strict: 1 input problem\(s\): origins.csv row"):
        pipeline.run(sc, out_dir=tmp_path / "o", maps_dir=tmp_path / "m", strict=True)
    assert not (tmp_path / "o").exists() and not (tmp_path / "m").exists()


def test_policy_csv_written_and_read_back(with_policy, tmp_path):
    files = outputs.write_outputs(with_policy, tmp_path / "out")
    back = pd.read_csv(files["policy"], encoding="utf-8-sig", dtype={"origin_id": str})
    assert list(back.columns) == list(POLICY_COLUMNS)
    assert len(back) == len(with_policy.policy)
    assert back["required"].dtype == bool and back["missing"].dtype == bool
    assert (back["count"].to_numpy() == with_policy.policy["count"].to_numpy()).all()
    assert np.allclose(
        back["nearest_minutes"], with_policy.policy["nearest_minutes"], equal_nan=True
    )


def test_no_policy_no_file(tmp_path):
    net = make_network({0: (0, 0), 1: (1600, 0)}, [(0, 1)])
    fac = points([("F", 0, 0, "test")])
    plain = pipeline.analyse(net, fac, points(POIS), bands_min=BANDS, speed_kmh=SPEED)
    assert plain.policy is None and pipeline.reanalyse(plain).policy is None
    files = outputs.write_outputs(plain, tmp_path / "out")
    assert "policy" not in files and not (tmp_path / "out" / "policy.csv").exists()


def test_map_panel_lists_missing_required_types(with_policy):
    from planner import maps

    html = maps.policy_html(with_policy)
    assert html.startswith("<details><summary>政策业态 Required services")
    assert "宠物服务站" in html and "O1" in html


# --------------------------------------------------------------------------- the sample
def test_sample_origins_are_real_nodes_of_the_osm_file():
    from planner.scenario import DATA_DIR

    folder = DATA_DIR / "sample"
    nodes = {}
    for _, el in ET.iterparse(folder / "shenzhen_nanshan_science_park_2021-03.osm"):
        if el.tag == "node":
            nodes[el.get("id")] = (el.get("lon"), el.get("lat"))
    with (folder / "origins.csv").open(encoding="utf-8") as f:
        origins = list(csv.DictReader(f))
    assert len(origins) == 4
    for row in origins:
        node = row["source"].split("node ")[1].split()[0]
        assert nodes[node] == (row["lon"], row["lat"]), row


@pytest.mark.slow  # analyses the whole sample (~11 s), like the other sample runs
def test_sample_policy_table(tmp_path):
    import planner

    scenario = planner.load_scenario("sample")
    assert scenario.origins is not None and scenario.policy is None
    result = planner.analyse_scenario(scenario)
    files = outputs.write_outputs(result, tmp_path / "out")
    back = pd.read_csv(files["policy"], encoding="utf-8-sig", dtype={"origin_id": str})
    assert list(back.columns) == list(POLICY_COLUMNS)
    assert len(back) == (6 + 4) * 3 * 26
    fac = back[back["origin_kind"] == "facility"]
    assert sorted(fac["origin_id"].unique()) == [f"F0{i}" for i in range(1, 7)]
    assert len(back[back["origin_kind"] == "origin"]) == 4 * 3 * 26
    assert "policy" in result.summary


def _coverage(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "facility_id": [r[0] for r in rows],
            "poi_kind": [r[1] for r in rows],
            "minutes": np.array([r[2] for r in rows], dtype=float),
        }
    )


@pytest.mark.parametrize(
    "ids",
    [["F", "G"], ["G", "F", "G"], ["F", "nobody"], []],
    ids=["two", "repeated", "unrouted", "none"],
)
def test_rows_in_one_pass_equal_the_per_origin_loop(types, ids):
    """`_rows` (vectorised) equals `_rows_by_loop` cell for cell, dtypes included.

    Coverage with a band edge (5.0 and 10.0 exactly), NaN minutes, an unmapped kind, a type
    reached only beyond every band and two POIs of one type (nearest = the smaller).
    """
    cov = _coverage(
        [
            ("F", "shop:convenience", 3.0),
            ("F", "24小时便利店", 5.0),
            ("F", "amenity:pharmacy", 10.0),
            ("F", "amenity:bank", 2.0),
            ("F", "shop:pet", 16.0),
            ("F", "amenity:cafe", np.nan),
            ("G", "amenity:cafe", 14.0),
            ("G", "amenity:cafe", 7.5),
            ("G", "shop:bakery", np.nan),
            ("G", "农贸市场", 0.0),
        ]
    )
    got = policy._rows(ids, "origin", cov, BANDS, types)
    want = policy._rows_by_loop(ids, "origin", cov, BANDS, types)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    if "F" in ids:
        f15 = got[(got["origin_id"] == "F") & (got["band_min"] == 15.0)].set_index("type_code")
        assert f15.loc["B01_convenience_store", "count"] == 2
        assert f15.loc["B01_convenience_store", "nearest_minutes"] == 3.0
        assert f15.loc["Q12_pet", "count"] == 0 and f15.loc["Q12_pet", "nearest_minutes"] == 16.0
        assert math.isnan(f15.loc["Q11_tea_coffee", "nearest_minutes"])  # its only row has no time
    if "G" in ids:
        g = got[(got["origin_id"] == "G") & (got["type_code"] == "Q11_tea_coffee")]
        assert list(g["count"]) == [0, 1, 2] * ids.count("G")
        assert set(g["nearest_minutes"]) == {7.5}


def test_a_result_computed_again_keeps_its_policy(with_policy, types, tmp_path):
    """reanalyse, apply_proposal and LiveCoverage.result make the policy analysis again the
    way it was made: equal to add_policy on the new result by hand; policy.csv is written."""
    import planner

    def by_hand(result):
        fresh = pipeline.reanalyse(result)  # a copy of the same analysis ...
        fresh.policy_inputs = None
        fresh.policy = None
        return policy.add_policy(fresh, types, origins_table())  # ... with its policy made

    slower = pipeline.reanalyse(with_policy, speed_kmh=SPEED / 2)
    assert slower.policy is not None and "policy" in slower.summary
    pd.testing.assert_frame_equal(slower.policy, by_hand(slower).policy)
    assert slower.summary["policy"] == by_hand(slower).summary["policy"]
    assert not slower.policy.equals(with_policy.policy)  # half the speed: other answers
    files = planner.write_outputs(slower, tmp_path / "o")
    assert files["policy"].is_file()
    closed = planner.apply_proposal(with_policy, planner.Proposal("none"))
    pd.testing.assert_frame_equal(closed.policy, with_policy.policy)
    live = planner.LiveCoverage(with_policy)
    pd.testing.assert_frame_equal(live.result().policy, with_policy.policy)
    # a result without a policy stays without one
    plain = pipeline.reanalyse(with_policy, speed_kmh=SPEED)
    plain.policy_inputs = None
    assert pipeline.reanalyse(plain).policy is None

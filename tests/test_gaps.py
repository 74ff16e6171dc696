"""Service gaps and crow-fly vs walking on hand-made networks worked out by hand."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely

from planner import gaps, maps
from planner.outputs import OUTPUT_FILES, write_outputs
from planner.pipeline import analyse
from tests.handmade import X0, Y0, make_network, points

# 4.5 km/h = 75 m/min: 5 min = 375 m, 10 min = 750 m, 15 min = 1,125 m.
# Hand-made coordinates are placed at X0 = 500,000, Y0 = 2,577,000 (both on the 100 m
# lattice), so a point at (x, y) lies in cell E{500000 + 100·⌊x/100⌋}N{2577000 + 100·⌊y/100⌋}.
# The street runs at y = 50, inside one row of cells, never on a lattice line.
STREET = {0: (0.0, 50.0), 1: (500.0, 50.0), 2: (1000.0, 50.0)}
STREET_EDGES = [(0, 1), (1, 2)]


def _cell(x: float, y: float) -> str:
    return f"E{X0 + 100 * np.floor(x / 100):.0f}N{Y0 + 100 * np.floor(y / 100):.0f}"


def _street_result(bands=(5.0, 10.0, 15.0)):
    """A 1,000 m street, facility F1 at its middle (node 1, no access leg), four merchants.

    P1 (600, 50): 100 m -> 1.33 min, covered in every band.
    P2 (910, 50): 410 m -> 5.47 min, uncovered in 5, covered in 10 and 15.
    P3 (110, 60), a cafe: 10 m access + 390 m -> 5.33 min, uncovered in 5 only.
    P4 (550, 950): 900 m from the street, beyond the 300 m snapping limit -> not routed,
        uncovered in every band (but placed: it has coordinates).
    P1 again (600, 50): duplicate_id (as the reader marks it: not usable), not counted
        again (pois_total counts 4).
    (No merchant lies on a lattice line: the lon/lat round trip moves points by ~1e-9 m.)
    """
    network = make_network(STREET, STREET_EDGES)
    facilities = points([("F1", 500.0, 50.0, "gov")])
    pois = points(
        [
            ("P1", 600.0, 50.0),
            ("P2", 910.0, 50.0),
            ("P3", 110.0, 60.0, "amenity:cafe"),
            ("P4", 550.0, 950.0),
            ("P1", 600.0, 50.0),
        ]
    )
    pois.loc[4, ["status", "usable"]] = ["duplicate_id", False]
    return analyse(network, facilities, pois, bands_min=bands)


def test_uncovered_counts_per_band_and_kind():
    r = _street_result()
    assert r.summary["overall"]["pois_total"] == 4
    g = r.summary["gaps"]["bands"]
    # 5 min: only P1 covered; 10 and 15 min: only P4 (not routed) left out
    assert (g["5"]["covered"], g["5"]["uncovered"]) == (1, 3)
    assert (g["10"]["covered"], g["10"]["uncovered"]) == (3, 1)
    assert (g["15"]["covered"], g["15"]["uncovered"]) == (3, 1)
    assert g["5"]["share_uncovered"] == pytest.approx(0.75)
    assert g["15"]["uncovered_not_routed"] == 1  # P4
    assert g["5"]["by_kind"]["amenity:cafe"] == {"total": 1, "covered": 0, "uncovered": 1}
    assert g["5"]["by_kind"]["shop:test"] == {"total": 3, "covered": 1, "uncovered": 2}
    assert g["10"]["by_kind"]["amenity:cafe"] == {"total": 1, "covered": 1, "uncovered": 0}
    # the same numbers as the overall section of the summary
    for key, band in g.items():
        assert band["covered"] == r.summary["overall"]["bands"][key]["pois_within"]


def test_covered_plus_uncovered_is_the_total_in_every_band_and_kind():
    r = _street_result()
    total = r.summary["overall"]["pois_total"]
    for band in r.summary["gaps"]["bands"].values():
        assert band["covered"] + band["uncovered"] == band["total"] == total
        assert sum(k["total"] for k in band["by_kind"].values()) == total
        for k in band["by_kind"].values():
            assert k["covered"] + k["uncovered"] == k["total"]


def test_cell_of_each_uncovered_merchant():
    r = _street_result()
    cells = r.gaps.cells.set_index("cell_id")
    # 5 min: P2, P3 and P4 each in their own cell; 15 min: only P4
    assert cells["uncovered_5"][cells["uncovered_5"] > 0].to_dict() == {
        _cell(910, 50): 1,
        _cell(110, 60): 1,
        _cell(550, 950): 1,
    }
    assert cells["uncovered_15"][cells["uncovered_15"] > 0].to_dict() == {_cell(550, 950): 1}
    # the lattice is stable: corners are multiples of 100 m
    assert (cells["x0"] % 100 == 0).all() and (cells["y0"] % 100 == 0).all()
    # 15 min = 1,125 m > 500 m each way: no street is beyond the largest band
    assert r.summary["gaps"]["unreached_street_km"]["15"] == 0
    assert (cells["unreached_street_m"] == 0).all()


def test_unreached_street_on_a_straight_street():
    # 5 min = 375 m each way from x = 500: [125, 875] reached, 125 m at each end not
    r = _street_result(bands=(5.0,))
    assert r.summary["gaps"]["street_km"] == pytest.approx(1.0)
    assert r.summary["gaps"]["unreached_street_km"]["5"] == pytest.approx(0.25)
    street = r.gaps.cells.set_index("cell_id")["unreached_street_m"]
    street = street[street > 0].to_dict()
    # [0, 125]: 100 m in the first cell, 25 in the next; [875, 1000]: 25 m, then 100 m
    assert street == pytest.approx(
        {_cell(0, 50): 100.0, _cell(100, 50): 25.0, _cell(800, 50): 25.0, _cell(900, 50): 100.0}
    )


@pytest.mark.parametrize(("y", "unreached"), [(50.0, 250.0), (75.0, 300.0)])
def test_unreached_street_from_an_entrance_inside_an_edge(y, unreached):
    # one 1,000 m edge, the entrance at x = 500 inside it: both end nodes are 500 m away
    # (> 375), so only the partial edge at the entrance reaches: 375 m minus the access
    # leg each way. No leg: 250 m unreached; a 25 m leg: 350 m each way, 300 m unreached.
    network = make_network({0: (0.0, 50.0), 1: (1000.0, 50.0)}, [(0, 1)])
    facilities = points([("F1", 500.0, y)])
    r = analyse(network, facilities, points([("P1", 500.0, 50.0)]), bands_min=(5.0,))
    assert r.gaps.unreached_m["5"] == pytest.approx(unreached)


def test_unreached_length_formula_on_node_distances():
    # edge of L = 1,000 with du = 200, dv = 900, budget 375: min(1000, 175 + 0) reached
    network = make_network({0: (0.0, 50.0), 1: (1000.0, 50.0)}, [(0, 1)])
    no_sources = gaps.reach.Anchors(
        owner=np.zeros(0, np.int64),
        edge=np.zeros(0, np.int64),
        offset=np.zeros(0),
        access=np.zeros(0),
    )
    u, v = network.edge_u[0], network.edge_v[0]

    def at_ends(du: float, dv: float) -> np.ndarray:
        d = np.empty(2)
        d[u], d[v] = du, dv
        return d

    s = gaps.unreached_stretches(network, at_ends(200.0, 900.0), no_sources, 375.0)
    assert s[["start", "end"]].to_numpy().tolist() == [[175.0, 1000.0]]
    s = gaps.unreached_stretches(network, at_ends(0.0, np.inf), no_sources, 375.0)
    assert s[["start", "end"]].to_numpy().tolist() == [[375.0, 1000.0]]
    s = gaps.unreached_stretches(network, np.array([0.0, 0.0]), no_sources, 600.0)
    assert len(s) == 0  # 600 + 600 > 1,000: the whole edge is reached


def _river_result():
    """Two banks of a river, 200 m apart, joined only by a bridge 1,000 m downstream.

    South bank: nodes 0 (0, 50) - 1 (1000, 50); the bridge 1 - 2 (1000, 250); north bank
    2 - 3 (0, 250). F1 at node 0.
    M1 (0, 250), north bank: 200 m as the crow flies, 1,000 + 200 + 1,000 = 2,200 m on foot
        (29.3 min): inside every crow-fly radius, in no walking band.
    M2 (300, 50): 300 m both ways (4 min): in every band both ways.
    M3 (900, 50): 900 m both ways (12 min): only in the 15-min radius and band.
    """
    network = make_network(
        {0: (0.0, 50.0), 1: (1000.0, 50.0), 2: (1000.0, 250.0), 3: (0.0, 250.0)},
        [(0, 1), (1, 2), (2, 3)],
    )
    facilities = points([("F1", 0.0, 50.0)])
    pois = points([("M1", 0.0, 250.0), ("M2", 300.0, 50.0), ("M3", 900.0, 50.0)])
    return analyse(network, facilities, pois)


def test_crowfly_versus_walking_across_a_river():
    r = _river_result()
    m1 = r.pois.set_index("poi_id").loc["M1", "minutes_to_nearest"]
    assert m1 == pytest.approx(2200 / 75)
    rows = {row["band_min"]: row for row in r.summary["crowfly"]}
    assert [(rows[b]["crowfly_count"], rows[b]["walking_count"]) for b in (5, 10, 15)] == [
        (2, 1),
        (2, 1),
        (3, 2),
    ]
    assert rows[5]["ratio"] == pytest.approx(0.5)
    assert rows[15]["ratio"] == pytest.approx(2 / 3, abs=1e-4)
    assert all(rows[b]["crowfly_not_walkable"] == 1 for b in (5, 10, 15))  # M1
    assert rows[15]["radius_m"] == pytest.approx(1125)
    # walking counts are the summary's per-facility numbers
    per = r.summary["facilities"][0]["bands"]
    assert [per[k]["pois"] for k in ("5", "10", "15")] == [1, 1, 2]


def test_crowfly_takes_the_nearest_entrance():
    # the same river, F1 with a second entrance at (600, 250) on the north bank. At 5 min
    # (375 m): M3 (900, 50) is 900 m straight from the first entrance but
    # hypot(300, 200) = 360.6 m from the second (min: inside); M1 200 m, M2 300 m: crow-fly 3.
    # On foot: M1 600 m from the north entrance (8 min), M3 400 + 200 + 100 = 700 m: only
    # M2 (300 m) within 5 min: walking 1.
    r = _river_result()
    facilities = points([("F1", 0.0, 50.0), ("F1", 600.0, 250.0)])
    r2 = analyse(r.network, facilities, r.poi_rows, bands_min=(5.0,))
    row = r2.gaps.crowfly.iloc[0]
    assert (row["crowfly_count"], row["walking_count"]) == (3, 1)


def test_crowfly_leaves_out_an_entrance_too_far_from_every_street():
    # the river again; F1's second entrance at (0, 700), 450 m north of the north bank:
    # beyond the 300 m snapping limit, so no walk starts there. M4 at (0, 800) is 100 m
    # from that entrance (and 550 m from any street: not routed). From the first entrance
    # alone, at 5 min (375 m): M1 200 m, M2 300 m inside; M3 900 m, M4 750 m outside:
    # crow-fly 2 (3, with M4, if the far entrance counted). On foot: M2 only.
    r = _river_result()
    facilities = points([("F1", 0.0, 50.0), ("F1", 0.0, 700.0)])
    pois = points(
        [("M1", 0.0, 250.0), ("M2", 300.0, 50.0), ("M3", 900.0, 50.0), ("M4", 0.0, 800.0)]
    )
    r2 = analyse(r.network, facilities, pois, bands_min=(5.0,))
    assert list(r2.entrances["status"]) == ["ok", "too_far_from_network"]
    row = r2.gaps.crowfly.iloc[0]
    assert (row["crowfly_count"], row["walking_count"]) == (2, 1)


def test_gaps_geojson_is_written_and_reads_back(tmp_path):
    r = _street_result()
    files = write_outputs(r, tmp_path / "out")
    assert files["gaps"].name == OUTPUT_FILES["gaps"] == "gaps.geojson"
    back = gpd.read_file(files["gaps"])
    assert back.crs.to_epsg() == 4326
    assert len(back) == len(r.gaps.cells)
    assert int(back["uncovered_5"].sum()) == 3 and int(back["uncovered_15"].sum()) == 1
    summary = json.loads(files["summary"].read_text(encoding="utf-8"))
    assert summary["gaps"]["bands"]["5"]["uncovered"] == 3
    assert {"crowfly_count", "walking_count", "ratio"} <= set(summary["crowfly"][0])


def test_writers_compute_gaps_from_the_result_alone():
    r = _street_result()
    again = gaps.gaps_of(type(r)(**{**r.__dict__, "gaps": None}))
    assert again.cells.drop(columns="geometry").equals(r.gaps.cells.drop(columns="geometry"))
    assert again.crowfly.equals(r.gaps.crowfly)


def test_map_has_both_layers_and_escapes_text():
    network = make_network(STREET, STREET_EDGES)
    facilities = points([("F<1>`${x}", 500.0, 50.0)])
    pois = points([("P1", 900.0, 50.0), ("P2", 500.0, 900.0)])
    r = analyse(network, facilities, pois, bands_min=(5.0,))
    m = maps.build_map(r)
    page = m.get_root().render()
    assert "Gaps (uncovered merchants, 100 m cells)" in page  # folium \u-escapes the CJK
    assert "Crow-fly radius" in page
    assert "直线距离 vs 步行 Crow-fly vs walking" in page  # the panel, in the page data
    layers = {getattr(c, "layer_name", ""): c for c in m._children.values()}
    assert not layers["服务缺口 Gaps (uncovered merchants, 100 m cells)"].show
    assert not layers["直线半径 Crow-fly radius"].show
    assert "F<1>" not in page and "${x}" not in page
    assert "F\\u0026lt;1\\u0026gt;" in page  # escaped, then made safe for the script element
    data = maps.gap_data(r)
    assert len(data["cells"]) == len(r.gaps.cells) and data["radii"] == [375.0]


def _lengths_per_cell_every_box(lines: np.ndarray, cell_m: float) -> dict[tuple[int, int], float]:
    """Reference: every line clipped to every cell of its bounding box, no pre-filter."""
    out: dict[tuple[int, int], float] = {}
    for line in lines:
        if line.is_empty:
            continue
        x0, y0, x1, y1 = line.bounds
        for i in range(int(np.floor(x0 / cell_m)), int(np.floor(x1 / cell_m)) + 1):
            for j in range(int(np.floor(y0 / cell_m)), int(np.floor(y1 / cell_m)) + 1):
                box = shapely.box(i * cell_m, j * cell_m, (i + 1) * cell_m, (j + 1) * cell_m)
                m = shapely.intersection(line, box).length
                if m > gaps.MIN_STRETCH_M:
                    out[(i, j)] = out.get((i, j), 0.0) + m
    return out


def test_lengths_per_cell_by_hand_and_against_every_box():
    by_hand = np.array(
        [
            shapely.LineString([(50, 50), (250, 50)]),  # 50 + 100 + 50 m in cells (0..2, 0)
            shapely.LineString([(120, 130), (180, 130)]),  # 60 m inside cell (1, 1)
            shapely.LineString(),
        ],
        dtype=object,
    )
    got = gaps._lengths_per_cell(by_hand, 100.0)
    assert got.to_dict() == {(0, 0): 50.0, (1, 0): 100.0, (1, 1): 60.0, (2, 0): 50.0}
    rng = np.random.default_rng(12)
    lines = np.array(
        [
            shapely.LineString(rng.uniform(-300, 900, size=(int(rng.integers(2, 6)), 2)))
            for _ in range(60)
        ]
        + [shapely.LineString([(0, 100), (300, 100)])]  # along cell edges: in both rows
        # a vertical part on x = 100 whose line reaches into column 0: in columns 0 and 1
        + [shapely.LineString([(50, 150), (100, 150), (100, 250)])],
        dtype=object,
    )
    got = gaps._lengths_per_cell(lines, 100.0)
    want = _lengths_per_cell_every_box(lines, 100.0)
    assert sorted(got.index) == sorted(want)
    assert all(got[k] == pytest.approx(want[k], rel=1e-12, abs=0) for k in want)
    assert got[(1, 0)] >= 100.0 and got[(1, 1)] >= 100.0
    alone = gaps._lengths_per_cell(lines[-1:], 100.0).to_dict()
    assert alone == pytest.approx({(0, 1): 100.0, (1, 1): 50.0, (1, 2): 50.0, (0, 2): 50.0})

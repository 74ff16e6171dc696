"""Points whose nearest street lies in a dropped (disconnected) piece, worked out by hand.

Walking speed is 6 km/h = 100 m/min. Network (metres; the loader keeps the grid)::

    3 (0,100) ---- 4 (100,100) ---- 5 (200,100)
    |              |                |
    |              |  20 ------ 21  |        piece 1: 20 (130,40) - 21 (170,40)
    |              |                |
    0 (0,0) ------ 1 (100,0) ------ 2 (200,0)      30 ---- 31 ---- 32   piece 0
                                                 (400,0) (450,0) (500,0)

Piece 0 (3 nodes) is larger than piece 1 (2 nodes), so it comes first in the dropped table.

POIs, distances to the routed grid and to the dropped pieces:

* P (50, 10): 10 m to edge 0-1; piece 1 is 85 m away -> no skip.
* Q (140, 52): 12 m to piece 1 (at (140, 40)); the grid's nearest street is edge 1-4
  (x = 100) at 40 m (edge 4-5: 48, edge 1-2: 52, edge 2-5: 60) -> extra 40 - 12 = 28 m.
* N (185, 45): 15 m to edge 2-5; piece 1's end (170, 40) is sqrt(15² + 5²) = 15.81 m
  -> the grid is nearer, no skip.
* S (430, 0): on piece 0 (0 m); the grid's nearest point is node 2 (200, 0), 230 m
  (node 5: 250.8 m) -> extra 230 m.
* R (500, 60): piece 0's end (500, 0) is 60 m away; the grid is beyond the 300 m limit
  (node 5: sqrt(300² + 40²) = 302.65 m, node 2: 305.94 m) -> not routed, piece 0.

Facility F has two entrances: (10, 70), 10 m from edge 0-3, no skip; and E (160, 35),
5 m from piece 1 (at (160, 40)), 35 m from edge 1-2 (edge 2-5: 40) -> extra 30 m.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import shapely

from planner import _cache, maps, pipeline, snap
from planner.network import routable_network
from tests.handmade import X0, Y0, make_graph, make_network, make_routable_network, points

SPEED = 6.0  # km/h -> 100 m/min

NODES = {
    0: (0, 0),
    1: (100, 0),
    2: (200, 0),
    3: (0, 100),
    4: (100, 100),
    5: (200, 100),
    20: (130, 40),
    21: (170, 40),
    30: (400, 0),
    31: (450, 0),
    32: (500, 0),
}
EDGES = [(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5), (20, 21), (30, 31), (31, 32)]
POIS = [("P", 50, 10), ("Q", 140, 52), ("N", 185, 45), ("S", 430, 0), ("R", 500, 60)]
FACILITIES = [("F", 10, 70), ("F", 160, 35)]

#: poi id -> (status, access_m, skipped_piece, skipped_piece_node, skipped_piece_name, extra_m)
EXPECTED_POIS = {
    "P": ("ok", 10.0, None, None, "", math.nan),
    "Q": ("ok", 40.0, 1, 20, "20-21", 28.0),
    "N": ("ok", 15.0, None, None, "", math.nan),
    "S": ("ok", 230.0, 0, 30, "30-31、31-32", 230.0),
    "R": ("too_far_from_network", math.nan, 0, 30, "30-31、31-32", math.nan),
}


@pytest.fixture(scope="module")
def network():
    return make_routable_network(NODES, EDGES)


@pytest.fixture(scope="module")
def analysis(network):
    return pipeline.analyse(
        network,
        points(FACILITIES),
        points(POIS),
        bands_min=(1, 2, 3),
        speed_kmh=SPEED,
        snap_limit_m=300.0,
    )


def test_loader_keeps_the_grid_and_the_dropped_pieces(network):
    assert network.n_nodes == 6 and network.n_edges == 7
    d = network.components.dropped
    assert list(d["piece"]) == [0, 1]
    assert list(d["nodes"]) == [3, 2]
    assert list(d["example_node"]) == [30, 20]
    assert list(d["names"]) == ["30-31、31-32", "20-21"]
    assert sorted(network.dropped_piece.tolist()) == [0, 0, 1]
    lengths = {int(p): 0.0 for p in network.dropped_piece}
    for p, g in zip(network.dropped_piece, network.dropped_geometry, strict=True):
        lengths[int(p)] += g.length
    assert lengths == pytest.approx({0: 100.0, 1: 40.0})
    # the pieces' streets are where they were drawn
    piece1 = network.dropped_geometry[network.dropped_piece == 1][0]
    assert shapely.equals_exact(
        piece1.normalize(),
        shapely.LineString([(130 + X0, 40 + Y0), (170 + X0, 40 + Y0)]).normalize(),
        tolerance=1e-9,
    )


def test_piece_ids_do_not_depend_on_insertion_order():
    a = make_routable_network(NODES, EDGES)
    b = make_routable_network(dict(reversed(list(NODES.items()))), EDGES[::-1])
    pd.testing.assert_frame_equal(a.components.dropped, b.components.dropped)


def test_poi_columns(analysis):
    p = analysis.pois.set_index("poi_id")
    cols = ["skipped_piece", "skipped_piece_node", "skipped_piece_name", "skipped_extra_m"]
    assert list(analysis.pois.columns[-6:]) == ["access_m", *cols, "geometry"]
    assert str(p["skipped_piece"].dtype) == "Int64"
    assert str(p["skipped_piece_node"].dtype) == "Int64"
    for pid, (status, access, piece, node, name, extra) in EXPECTED_POIS.items():
        row = p.loc[pid]
        assert row["status"] == status, pid
        np.testing.assert_allclose(row["access_m"], access, atol=1e-9, err_msg=pid)
        assert pd.isna(row["skipped_piece"]) if piece is None else row["skipped_piece"] == piece
        assert (
            pd.isna(row["skipped_piece_node"])
            if node is None
            else row["skipped_piece_node"] == node
        )
        assert row["skipped_piece_name"] == name, pid
        np.testing.assert_allclose(row["skipped_extra_m"], extra, atol=1e-9, err_msg=pid)
    # the routed points keep status ok and no problem reason: this is information
    assert p.loc["Q", "reason"] in ("", None) or pd.isna(p.loc["Q", "reason"])
    # the unrouted one says its nearest street exists but is disconnected
    assert "disconnected piece 0" in p.loc["R", "reason"]
    assert "OSM node 30" in p.loc["R", "reason"]
    assert "no walkable street within" not in p.loc["R", "reason"]


def test_skipped_points_are_still_routed_to_the_grid(analysis):
    # Q, snapped to edge 1-4 at (100, 52), from F's entrance E on edge 1-2 at (160, 0):
    # 35 + 60 (to node 1) + 52 (up edge 1-4) + 40 = 187 m; from (10, 70): 10 + 30 + 100 + 48
    # + 40 = 228 m.
    p = analysis.pois.set_index("poi_id")
    assert p.loc["Q", "minutes_to_nearest"] == pytest.approx(1.87, abs=1e-9)
    assert p.loc["S", "minutes_to_nearest"] == pytest.approx((35 + 40 + 230) / 100, abs=1e-9)


def test_facility_columns(analysis):
    f = analysis.entrances
    assert list(f["status"]) == ["ok", "ok"]
    assert f["skipped_piece"].tolist() == [pd.NA, 1]
    assert f["skipped_piece_node"].tolist() == [pd.NA, 20]
    assert list(f["skipped_piece_name"]) == ["", "20-21"]
    np.testing.assert_allclose(f["access_m"], [10.0, 35.0], atol=1e-9)
    np.testing.assert_allclose(f["skipped_extra_m"], [np.nan, 30.0], atol=1e-9)


EXPECTED_SUMMARY = {
    "pieces": 2,
    "pois": {"affected": 2, "extra_m_max": 230.0, "extra_m_median": 129.0, "not_routed": 1},
    "facility_rows": {"affected": 1, "extra_m_max": 30.0, "extra_m_median": 30.0, "not_routed": 0},
    "by_piece": [
        {"piece": 0, "example_node": 30, "names": "30-31、31-32", "pois": 2, "facility_rows": 0},
        {"piece": 1, "example_node": 20, "names": "20-21", "pois": 1, "facility_rows": 1},
    ],
}


def test_summary_counts(analysis):
    assert analysis.summary["disconnected_pieces"] == EXPECTED_SUMMARY


def test_summary_json_and_csv(network, analysis, tmp_path):
    files = pipeline.write_outputs(analysis, tmp_path / "out")
    s = json.loads(files["summary"].read_text(encoding="utf-8"))
    assert s["disconnected_pieces"] == EXPECTED_SUMMARY
    assert [d["piece"] for d in s["inputs"]["components"]["dropped"]] == [0, 1]
    pois = pd.read_csv(files["pois"], encoding="utf-8-sig", dtype={"skipped_piece_name": str})
    q = pois.set_index("poi_id").loc["Q"]
    assert q["skipped_piece"] == 1 and q["skipped_piece_node"] == 20
    assert q["skipped_extra_m"] == pytest.approx(28.0)
    raw = files["pois"].read_text(encoding="utf-8-sig").splitlines()
    header = raw[0].split(",")
    p_row = dict(zip(header, raw[1].split(","), strict=True))  # P: no piece -> empty cells
    assert [p_row[c] for c in ("skipped_piece", "skipped_piece_node", "skipped_extra_m")] == [
        "",
        "",
        "",
    ]
    fac = pd.read_csv(files["facilities"], encoding="utf-8-sig")
    assert fac["skipped_extra_m"].iloc[1] == pytest.approx(30.0)


def test_no_dropped_pieces_gives_empty_columns():
    # every component kept (no report): nothing is skipped, the columns are still there
    net = make_network(NODES, EDGES)
    a = pipeline.analyse(
        net, points(FACILITIES), points(POIS), bands_min=(1, 2, 3), speed_kmh=SPEED
    )
    assert a.pois["skipped_piece"].isna().all()
    assert a.pois["skipped_extra_m"].isna().all()
    assert (a.pois["skipped_piece_name"] == "").all()
    d = a.summary["disconnected_pieces"]
    assert d["pieces"] == 0 and d["by_piece"] == []
    assert d["pois"] == {
        "affected": 0,
        "extra_m_max": None,
        "extra_m_median": None,
        "not_routed": 0,
    }


def test_snap_points_reports_the_skip_directly(network):
    xy = np.array([[140, 52], [50, 10], [np.nan, np.nan]], dtype=float) + np.array([X0, Y0])
    s = snap.snap_points(network, xy[:, 0], xy[:, 1], 300.0)
    assert list(s["skipped_piece"]) == [1, -1, -1]
    np.testing.assert_allclose(s["skipped_extra_m"], [28.0, np.nan, np.nan], atol=1e-9)
    # snapped to the grid (edge 1-4 at (100, 52)), not to the piece
    assert s["snap_x"].iloc[0] == pytest.approx(100 + X0) and s["snap_y"].iloc[0] == pytest.approx(
        52 + Y0
    )


def test_cache_round_trip_keeps_the_pieces(network, tmp_path):
    path = _cache.write_cache(network, {"k": 1}, tmp_path / "n.npz")
    back = _cache.read_cache(path, {"k": 1})
    np.testing.assert_array_equal(back.dropped_piece, network.dropped_piece)
    assert back.dropped_piece.dtype == np.int64
    assert shapely.equals_exact(back.dropped_geometry, network.dropped_geometry, tolerance=0).all()
    pd.testing.assert_frame_equal(back.components.dropped, network.components.dropped)


# --------------------------------------------------------------------------- map
def test_map_data_flags_points_and_draws_pieces(network, analysis):
    assert analysis.network is network and analysis.settings.snap_limit_m == 300.0
    data = maps.piece_data(analysis)
    assert [p["i"] for p in data["pieces"]] == [0, 1]
    # piece 1's one street, decoded, runs between (130, 40) and (170, 40)
    from pyproj import Transformer

    to_wgs = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    lon, lat = maps.decode_line(data["pieces"][1]["l"][0])
    elon, elat = to_wgs.transform([130 + X0, 170 + X0], [40 + Y0, 40 + Y0])
    got = np.array(sorted(zip(lon, lat, strict=True)))
    np.testing.assert_allclose(got, sorted(zip(elon, elat, strict=True)), atol=2e-5)
    tip = data["pieces"][1]["t"]
    assert "Disconnected street piece #1" in tip and "OSM node 20" in tip and "20-21" in tip
    assert "1 商户 POIs, 1 入口 entrances" in tip
    # one access leg per routed point that skipped a piece: Q, S and entrance E
    legs = {leg[4].split("</b>")[0].removeprefix("<b>"): leg for leg in data["legs"]}
    assert set(legs) == {"name Q", "name S", "name F"}
    assert "+28 m" in legs["name Q"][4] and "多走 28 米" in legs["name Q"][4]
    assert "+230 m" in legs["name S"][4] and "+30 m" in legs["name F"][4]
    # Q's leg ends where Q was snapped: (100, 52) on edge 1-4
    slon, slat = to_wgs.transform(100 + X0, 52 + Y0)
    assert legs["name Q"][2:4] == pytest.approx([slon, slat], abs=2e-6)
    # POI tooltips carry the note; R (not routed) says so
    rows = {r[3]: r for group in maps.poi_data(analysis).values() for r in group}
    assert "nearest street is disconnected: +28 m" in rows["name Q"][8]
    assert "not routed" in rows["name R"][8]
    assert rows["name P"][8] == "" and rows["name N"][8] == ""
    entrances = maps.facility_data(analysis)["entrances"]
    assert "+30 m" in entrances[1][3] and "disconnected" not in entrances[0][3]


def test_map_html_has_the_overlay_and_stays_offline(network, analysis, tmp_path):
    from planner.offline import external_urls

    path = maps.save_map(analysis, tmp_path / "pieces.html")
    html = path.read_text(encoding="utf-8")
    assert "Disconnected street pieces (2)" in html  # the layer control (folium \u-escapes CJK)
    assert '"pieceColour":"#c51b7d"' in html
    assert "nearest street is disconnected: +28 m" in html
    assert "Disconnected street pieces (not routed): 2" in html  # the legend
    assert external_urls(html) == []


def test_piece_names_are_escaped(analysis):
    G = make_graph(NODES, EDGES)
    hostile = "<img src=x onerror=alert(1)>${alert(2)}"
    for u, v, d in G.edges(data=True):
        if {u, v} == {20, 21}:
            d["name"] = hostile
    net = routable_network(G)
    a = pipeline.analyse(
        net, points(FACILITIES), points(POIS), bands_min=(1, 2, 3), speed_kmh=SPEED
    )
    data = maps.piece_data(a)
    text = json.dumps(data, ensure_ascii=False) + json.dumps(maps.poi_data(a), ensure_ascii=False)
    assert hostile not in text and "<img" not in text and "${" not in text
    assert maps.esc(hostile) in data["pieces"][1]["t"]

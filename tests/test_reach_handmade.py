"""Reach, nearest facility, coverage and bands on hand-made networks, answers worked out by hand.

Walking speed in these tests is 6 km/h = 100 m/min, so minutes = metres / 100.

Network H (coordinates in metres)::

    3 (200,100)
    |
    |  edge 2-3
    |
    0 ----- 1 ----- 2        10 ----- 11   (separate component)
  (0,0) (100,0) (200,0)   (1000,0) (1100,0)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from planner import pipeline
from planner.network import adjacency
from tests.handmade import make_network, points

SPEED = 6.0  # km/h -> 100 m/min

NODES = {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (200, 100), 10: (1000, 0), 11: (1100, 0)}
EDGES = [(0, 1), (1, 2), (2, 3), (10, 11)]


@pytest.fixture(scope="module")
def net_h():
    return make_network(NODES, EDGES)


def _analyse(network, facilities, pois, bands=(1, 2, 3), **kw):
    return pipeline.analyse(network, facilities, pois, bands_min=bands, speed_kmh=SPEED, **kw)


POIS = [
    ("P1", 150, -20),  # edge 1-2 at 50 m from node 1, access 20
    ("P2", 20, 5),  # edge 0-1 at 20 m from node 0, access 5
    ("P3", 210, 60),  # edge 2-3 at 60 m from node 2, access 10
    ("P4", 1050, 5),  # other component: unreachable
    ("P5", 600, 600),  # 640 m from the nearest street: beyond the 300 m snapping limit
]


def _minutes(analysis, fid, pid):
    c = analysis.coverage
    row = c[(c["facility_id"] == fid) & (c["poi_id"] == pid)]
    assert len(row) <= 1
    return float(row["minutes"].iloc[0]) if len(row) else math.nan


def test_access_legs_and_partial_edges(net_h):
    # F sits 10 m off edge 0-1, 50 m from node 0.
    a = _analyse(net_h, points([("F", 50, 10)]), points(POIS))
    # P1: 10 access + 50 to node 1 + 50 along edge 1-2 + 20 access = 130 m
    assert _minutes(a, "F", "P1") == pytest.approx(1.30, abs=1e-9)
    # P2 on F's own edge: 10 + |50 - 20| + 5 = 45 m (not via a node: 10+50+20+5 = 85)
    assert _minutes(a, "F", "P2") == pytest.approx(0.45, abs=1e-9)
    # P3: 10 + 50 + 100 + 60 + 10 = 230 m
    assert _minutes(a, "F", "P3") == pytest.approx(2.30, abs=1e-9)
    # unreachable and unsnapped POIs have no pair at all, never a sentinel number
    assert set(a.coverage["poi_id"]) == {"P1", "P2", "P3"}
    bands = dict(zip(a.coverage["poi_id"], a.coverage["band_min"], strict=True))
    assert bands == {"P2": 1.0, "P1": 2.0, "P3": 3.0}


def test_every_poi_is_reported_with_a_status(net_h):
    a = _analyse(net_h, points([("F", 50, 10)]), points(POIS))
    p = a.pois.set_index("poi_id")
    assert list(a.pois["poi_id"]) == [r[0] for r in POIS]
    assert p.loc["P4", "status"] == "unreachable"
    assert math.isnan(p.loc["P4", "minutes_to_nearest"])
    assert pd.isna(p.loc["P4", "nearest_facility_id"])
    assert p.loc["P5", "status"] == "too_far_from_network"
    assert math.isnan(p.loc["P5", "minutes_to_nearest"])
    assert p.loc["P5", "reason"].endswith(
        'row 6, POI "P5": no walkable street within the snapping limit'
    )
    assert p.loc["P1", "status"] == "ok"
    assert p.loc["P1", "access_m"] == pytest.approx(20.0)


def test_snapping_limit_is_respected(net_h):
    a = _analyse(net_h, points([("F", 50, 10)]), points([("Q", 100, 250)]), snap_limit_m=200)
    # Q is 150 m from node 3's edge end (200,100): within 200 m -> routed
    assert a.pois["status"].iloc[0] == "ok"
    b = _analyse(net_h, points([("F", 50, 10)]), points([("Q", 100, 250)]), snap_limit_m=100)
    assert b.pois["status"].iloc[0] == "too_far_from_network"


def test_multiple_entrances_take_the_minimum(net_h):
    # G has two entrances: on edge 1-2 (90 m from node 1, 5 m off) and on edge 2-3
    # (95 m up, 5 m off)
    fac = points([("F", 50, 10), ("G", 190, -5), ("G", 205, 95)])
    a = _analyse(net_h, fac, points(POIS))
    # P1: entrance 1 on the same edge: 5 + |90 - 50| + 20 = 65 m
    assert _minutes(a, "G", "P1") == pytest.approx(0.65, abs=1e-9)
    # P3: entrance 2 on the same edge: 5 + |95 - 60| + 10 = 50 m (entrance 1: 5+10+60+10 = 85)
    assert _minutes(a, "G", "P3") == pytest.approx(0.50, abs=1e-9)
    # P2: entrance 1: 5 + 90 + 80 + 5 = 180 m (entrance 2: 5+95+100+80+5 = 285)
    assert _minutes(a, "G", "P2") == pytest.approx(1.80, abs=1e-9)
    p = a.pois.set_index("poi_id")
    assert p.loc["P1", "nearest_facility_id"] == "G"
    assert p.loc["P1", "minutes_to_nearest"] == pytest.approx(0.65)
    assert p.loc["P2", "nearest_facility_id"] == "F"
    assert p.loc["P2", "minutes_to_nearest"] == pytest.approx(0.45)
    assert p.loc["P3", "nearest_facility_id"] == "G"
    # one facility row per id, entrances counted
    t = a.facilities.set_index("facility_id")
    assert t.loc["G", "entrances"] == 2 and t.loc["G", "entrances_snapped"] == 2


@pytest.mark.parametrize("order", [("T1", "T2"), ("T2", "T1")])
def test_tie_goes_to_the_facility_listed_first(order):
    net = make_network({0: (0, 0), 1: (200, 0)}, [(0, 1)])
    where = {"T1": (0, 10), "T2": (200, 10)}  # each 10 m off an end, 100 m from the POI
    fac = points([(k, *where[k]) for k in order])
    a = _analyse(net, fac, points([("P", 100, 0)]), bands=(5,))
    assert _minutes(a, "T1", "P") == pytest.approx(1.10)
    assert _minutes(a, "T2", "P") == pytest.approx(1.10)
    assert a.pois["nearest_facility_id"].iloc[0] == order[0]


def test_curved_and_parallel_edges():
    # Two edges between nodes 0 (0,0) and 1 (100,0): a straight one (100 m) and a detour
    # up x=0 to y=200, across, and down x=100 (500 m).
    detour = [(0, 0), (0, 200), (100, 200), (100, 0)]
    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1), (0, 1, detour)])
    assert adjacency(net.n_nodes, net.edge_u, net.edge_v, net.edge_length)[0, 1] == pytest.approx(
        100
    )
    # A: 5 m off the detour's left side at 150 m from node 0.  P: 10 m below the straight edge.
    # A->P via node 0: 5 + 150 + 50 + 10 = 215 m; via node 1: 5 + 350 + 50 + 10 = 415 m.
    # B: 5 m off the detour's right side, 50 m from node 1 (450 m from node 0).
    # B->P via node 1: 5 + 50 + 50 + 10 = 115 m.
    fac = points([("A", 5, 150), ("B", 95, 50)])
    a = _analyse(net, fac, points([("P", 50, -10)]), bands=(5,))
    assert _minutes(a, "A", "P") == pytest.approx(2.15, abs=1e-9)
    assert _minutes(a, "B", "P") == pytest.approx(1.15, abs=1e-9)
    assert a.pois["nearest_facility_id"].iloc[0] == "B"


def test_facility_off_network_is_kept_with_status(net_h):
    fac = points([("F", 50, 10), ("X", 600, 600)])
    a = _analyse(net_h, fac, points(POIS))
    t = a.facilities.set_index("facility_id")
    assert t.loc["X", "status"] == "no_usable_entrance"
    assert not (a.coverage["facility_id"] == "X").any()
    assert list(a.entrances["status"]) == ["ok", "too_far_from_network"]
    iso = a.isochrones[a.isochrones["facility_id"] == "X"]
    assert len(iso) == 3 and iso.geometry.is_empty.all()


def test_summary_counts_and_shares(net_h):
    a = _analyse(net_h, points([("F", 50, 10)]), points(POIS))
    s = a.summary
    f = s["facilities"][0]
    assert [f["bands"][k]["pois"] for k in ("1", "2", "3")] == [1, 2, 3]
    assert f["bands"]["2"]["by_kind"] == {"shop:test": 2}
    o = s["overall"]
    assert o["pois_total"] == 5
    assert o["pois_routable"] == 4  # P5 not snapped
    assert o["bands"]["1"]["pois_within"] == 1
    assert o["bands"]["3"]["share_of_all_pois"] == pytest.approx(3 / 5)
    assert o["bands"]["3"]["share_of_routable_pois"] == pytest.approx(3 / 4)
    assert o["left_out_beyond_largest_band"] == 2
    assert o["pois_by_status"] == {"ok": 3, "too_far_from_network": 1, "unreachable": 1}


def test_band_polygons_follow_partial_edges(net_h):
    from shapely.geometry import Point

    from tests.handmade import X0, Y0

    # band 1 min = 100 m. F: access 10 -> 90 m along the street each way from (50,0):
    # all of edge 0-1; nodes 0 and 1 are at 60 m -> 40 m more: edge 1-2 up to x = 140.
    a = _analyse(net_h, points([("F", 50, 10)]), points(POIS), bands=(1, 2), buffer_m=5)
    iso = a.isochrones.to_crs(net_h.crs)
    band1 = iso[iso["band_min"] == 1].geometry.iloc[0]
    band2 = iso[iso["band_min"] == 2].geometry.iloc[0]

    def at(x, y):
        return Point(x + X0, y + Y0)

    assert band1.contains(at(0, 0)) and band1.contains(at(138, 0))
    assert not band1.contains(at(150, 0))  # 40 m + 5 m buffer ends at x = 145
    # band 2 = 200 m: edge 1-2 whole (node 2 at 160 m), 40 m up edge 2-3
    assert band2.contains(at(200, 38)) and not band2.contains(at(200, 50))
    assert band2.contains(band1)
    # a polygon grown from streets, not a hull: the block corner (100, 50) is not inside
    assert not band2.contains(at(100, 50))
    # the other component is never inside
    assert not band2.contains(at(1050, 0))


def test_nothing_reachable_gives_nan_not_numbers():
    net = make_network({0: (0, 0), 1: (100, 0), 5: (5000, 0), 6: (5100, 0)}, [(0, 1), (5, 6)])
    a = _analyse(net, points([("F", 50, 0)]), points([("P", 5050, 0)]), bands=(5,))
    assert a.coverage.empty
    assert np.isnan(a.pois["minutes_to_nearest"].iloc[0])
    assert a.pois["status"].iloc[0] == "unreachable"


def test_facility_exactly_on_a_node(net_h):
    # E stands on node 1: access leg 0 and offset 0 or L (zero-weight links must survive)
    a = _analyse(net_h, points([("E", 100, 0)]), points(POIS))
    assert _minutes(a, "E", "P1") == pytest.approx(0.70, abs=1e-9)  # 0 + 50 + 20
    assert _minutes(a, "E", "P2") == pytest.approx(0.85, abs=1e-9)  # 0 + 80 + 5
    assert _minutes(a, "E", "P3") == pytest.approx(1.70, abs=1e-9)  # 0 + 100 + 60 + 10


def test_no_pois_at_all(net_h):
    a = _analyse(net_h, points([("F", 50, 10)]), points([]).iloc[0:0])
    assert a.coverage.empty and a.pois.empty
    assert a.summary["overall"]["pois_total"] == 0
    assert a.summary["overall"]["bands"]["3"]["share_of_all_pois"] is None
    assert len(a.isochrones) == 3 and not a.isochrones.geometry.is_empty.any()

"""The vectorised snap, reach and coverage paths against the earlier per-point paths.

`tests/reference.py` keeps the planner's earlier code (GEOS ``STRtree.query_nearest`` per
point, one dense Dijkstra matrix per 64 facilities, per-facility pair tables, the pandas
nearest-facility and coverage sorts). Here both run on the same seeded and hand-made inputs
and must agree: edges, statuses and pieces exactly, distances to 1e-9 m. Hand-made cases
pin the answers worked out by hand: ties between equally near edges (lowest edge index) and
pieces (lowest piece id), points exactly on nodes and vertices, points exactly at and
beyond the snapping limit, zero-length segments, and networks in disconnected pieces.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import shapely

from planner import coverage as cov
from planner import pipeline, reach, snap
from planner.network import StreetNetwork
from tests import reference as ref
from tests.handmade import X0, Y0, make_network, make_routable_network, points
from tests.synthetic import random_points, synthetic_network

TOL_M = 1e-9
SNAP_FLOATS = ["offset", "access_m", "snap_x", "snap_y", "skipped_extra_m"]


def assert_same_snap(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Two `snap_points` outputs agree: integers and statuses exactly, floats to TOL_M."""
    assert list(a.columns) == list(b.columns)
    for col in ("edge", "status", "skipped_piece"):
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)
    for col in SNAP_FLOATS:
        np.testing.assert_allclose(a[col], b[col], atol=TOL_M, rtol=0, err_msg=col)


@pytest.fixture(scope="module")
def town() -> StreetNetwork:
    return synthetic_network(4000, seed=11)


@pytest.fixture(scope="module")
def town_points(town):
    """Points over and around the town: uniform, on nodes, on bent-edge vertices, far away."""
    rng = np.random.default_rng(5)
    x0, x1 = town.node_x.min() - 400, town.node_x.max() + 400
    y0, y1 = town.node_y.min() - 400, town.node_y.max() + 400
    x, y = rng.uniform(x0, x1, 6000), rng.uniform(y0, y1, 6000)
    on_node = rng.integers(0, town.n_nodes, 300)
    coords = shapely.get_coordinates(town.edge_geometry[rng.integers(0, town.n_edges, 300)])
    x = np.concatenate([x, town.node_x[on_node], coords[:, 0], [np.nan, x0 - 5000, 1e9]])
    y = np.concatenate([y, town.node_y[on_node], coords[:, 1], [1.0, y0, -1e9]])
    return x, y


# ------------------------------------------------------------------ snap
@pytest.mark.parametrize("limit", [25.0, 60.0, 300.0, 2000.0, 5000.0])
def test_snap_matches_the_per_point_geos_path(town, town_points, limit):
    x, y = town_points
    new = snap.snap_points(town, x, y, limit)
    old = ref.snap_points_geos(town, x, y, limit)
    assert_same_snap(new, old)
    assert (new["status"] == "ok").sum() > 1000
    assert (new["status"] == "too_far_from_network").sum() > (10 if limit <= 300 else 1)


def test_snap_in_threads_matches(town, town_points, monkeypatch):
    """Large inputs are searched in parts by threads; the answers are the same."""
    x, y = town_points
    whole = snap.snap_points(town, x, y, 300.0)
    parts: list[int] = []
    real = snap._nearest

    def spy(grid, px, *args):
        parts.append(len(px))
        return real(grid, px, *args)

    monkeypatch.setattr(snap, "_nearest", spy)
    monkeypatch.setattr(snap, "BLOCK", 1000)
    monkeypatch.setattr(snap, "THREADS", 3)
    got = snap.snap_points(town, x, y, 300.0)
    assert len(parts) == 3 and sum(parts) == np.isfinite(x).sum()  # hit: three parts
    assert_same_snap(got, whole)
    assert_same_snap(got, ref.snap_points_geos(town, x, y, 300.0))


def test_far_points_finish_with_geos_and_match(town):
    """Points hundreds of metres from any street leave the cell search for GEOS."""
    x0, y0 = town.node_x.min(), town.node_y.min()
    rng = np.random.default_rng(3)
    x = np.concatenate([x0 - rng.uniform(200, 4000, 300), town.node_x[:50]])
    y = np.concatenate([y0 - rng.uniform(200, 4000, 300), town.node_y[:50]])
    grid = snap.segment_grid(town)
    assert (snap.MAX_RING + 1) * grid.cell < 200  # so these points do reach the GEOS step
    calls = []
    real = snap._search_geos

    def spy(*args, **kw):
        calls.append(len(args[4]))
        return real(*args, **kw)

    snap._search_geos = spy
    try:
        new = snap.snap_points(town, x, y, 5000.0)
    finally:
        snap._search_geos = real
    assert calls and calls[0] >= 250
    assert_same_snap(new, ref.snap_points_geos(town, x, y, 5000.0))
    assert (new["status"] == "ok").sum() > 250


def test_snap_on_the_dropped_pieces_network_matches():
    # the network of tests/test_disconnected_pieces.py: a grid and two dropped pieces
    nodes = {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (0, 100), 4: (100, 100), 5: (200, 100)}
    nodes |= {20: (130, 40), 21: (170, 40), 30: (400, 0), 31: (450, 0), 32: (500, 0)}
    edges = [(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5), (20, 21), (30, 31), (31, 32)]
    network = make_routable_network(nodes, edges)
    pts = [(50, 10), (140, 52), (185, 45), (430, 0), (500, 60), (10, 70), (160, 35)]
    xy = np.array(pts, dtype=float) + np.array([X0, Y0])
    for limit in (10.0, 60.0, 300.0):
        assert_same_snap(
            snap.snap_points(network, xy[:, 0], xy[:, 1], limit),
            ref.snap_points_geos(network, xy[:, 0], xy[:, 1], limit),
        )


# Cross of four streets meeting at node 0 (0, 0); parallel street 5-6 at y = 20.
CROSS_NODES = {
    0: (0, 0),
    1: (100, 0),
    2: (0, 100),
    3: (-100, 0),
    4: (0, -100),
    5: (-100, 20),
    6: (100, 20),
}
CROSS_EDGES = [(0, 1), (0, 2), (0, 3), (0, 4), (5, 6)]


@pytest.fixture(scope="module")
def cross():
    return make_network(CROSS_NODES, CROSS_EDGES)


def _snap(network, pts, limit=300.0):
    xy = np.asarray(pts, dtype=float) + np.array([X0, Y0])
    return snap.snap_points(network, xy[:, 0], xy[:, 1], limit)


def test_ties_go_to_the_lowest_edge_index(cross):
    # geometries run from the outer node to node 0 (edge 0: 1 -> 0, ..., edge 4: 6 -> 5)
    # (50, 10): 10 m from edge 0 (y = 0) and 10 m from edge 4 (y = 20): edge 0, 50 m in
    # (0, 0): on node 0, 0 m from edges 0-3: edge 0, at its end (100 m)
    # (-7, -7): 7 m from edge 2 (3 -> 0, at (-7, 0), 93 m in) and edge 3 (4 -> 0): edge 2
    s = _snap(cross, [(50, 10), (0, 0), (-7, -7)])
    assert s["edge"].tolist() == [0, 0, 2]
    np.testing.assert_allclose(s["access_m"], [10.0, 0.0, 7.0], atol=TOL_M)
    np.testing.assert_allclose(s["offset"], [50.0, 100.0, 93.0], atol=TOL_M)
    np.testing.assert_allclose(s["snap_x"] - X0, [50.0, 0.0, -7.0], atol=TOL_M)
    np.testing.assert_allclose(s["snap_y"] - Y0, [0.0, 0.0, 0.0], atol=TOL_M)
    pts = np.array([(50, 10), (0, 0), (-7, -7)], dtype=float) + np.array([X0, Y0])
    assert_same_snap(s, ref.snap_points_geos(cross, pts[:, 0], pts[:, 1], 300.0))


def test_points_exactly_on_nodes_and_at_the_limit(cross):
    # node 1 (100, 0) is the start of edge 0 (1 -> 0); (0, 150) is exactly 50 m from node 2
    # (0, 100), the start of edge 1: inside a 50 m limit, outside a 49.999 m one
    s = _snap(cross, [(100, 0), (0, 150)], limit=50.0)
    assert s["edge"].tolist() == [0, 1]
    np.testing.assert_allclose(s["offset"], [0.0, 0.0], atol=TOL_M)
    np.testing.assert_allclose(s["access_m"], [0.0, 50.0], atol=TOL_M)
    far = _snap(cross, [(0, 150)], limit=49.999)
    assert far["status"].tolist() == ["too_far_from_network"]
    assert far["edge"].tolist() == [-1] and math.isnan(far["access_m"].iloc[0])


def test_zero_length_segments_and_repeated_vertices():
    # one street drawn with a repeated vertex (a zero-length segment) in its middle
    geom = shapely.LineString([(X0, Y0), (X0 + 50, Y0), (X0 + 50, Y0), (X0 + 100, Y0 + 50)])
    network = make_network({0: (0, 0), 1: (100, 50)}, [(0, 1)])
    network.edge_geometry[0] = geom
    network.edge_length[0] = geom.length
    pts = np.array([(50, 5), (50, 0), (75, 35), (120, 50)], dtype=float) + np.array([X0, Y0])
    new = snap.snap_points(network, pts[:, 0], pts[:, 1], 300.0)
    old = ref.snap_points_geos(network, pts[:, 0], pts[:, 1], 300.0)
    assert_same_snap(new, old)
    # (50, 5) is nearer the diagonal (5 / sqrt 2 m) than the vertex (5 m): 50 + 2.5 sqrt 2
    # along; (50, 0) is on the repeated vertex: the first segment, 50 m along
    np.testing.assert_allclose(new["offset"].iloc[:2], [50 + 2.5 * 2**0.5, 50.0], atol=TOL_M)
    np.testing.assert_allclose(new["access_m"].iloc[:2], [5 / 2**0.5, 0.0], atol=TOL_M)


def test_equally_near_pieces_go_to_the_lowest_piece_id():
    # routed grid far away; two dropped pieces 10 m either side of the point, with the
    # piece of id 1 drawn first among the dropped streets
    network = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    network.dropped_geometry = np.array(
        [
            shapely.LineString([(X0 + 40, Y0 + 60), (X0 + 60, Y0 + 60)]),
            shapely.LineString([(X0 + 40, Y0 + 40), (X0 + 60, Y0 + 40)]),
        ],
        dtype=object,
    )
    network.dropped_piece = np.array([1, 0], dtype=np.int64)
    s = _snap(network, [(50, 50)])
    assert s["skipped_piece"].tolist() == [0]
    np.testing.assert_allclose(s["skipped_extra_m"], [40.0], atol=TOL_M)
    pts = np.array([(50, 50)], dtype=float) + np.array([X0, Y0])
    assert_same_snap(s, ref.snap_points_geos(network, pts[:, 0], pts[:, 1], 300.0))


# ------------------------------------------------------------------ reach
@pytest.fixture(scope="module")
def town_case(town):
    fac = random_points(town, 60, seed=2, prefix="F", entrances=3)
    pois = random_points(town, 3000, seed=3, prefix="P")
    fs = snap.snap_points(town, fac["x"].to_numpy(), fac["y"].to_numpy(), 300.0)
    ps = snap.snap_points(town, pois["x"].to_numpy(), pois["y"].to_numpy(), 300.0)
    ids = pd.unique(fac["id"])
    # one facility with no anchor at all (its rows dropped), to keep an empty row
    owner = pd.Index(ids).get_indexer(fac["id"])
    keep = owner != 7
    sources = reach.Anchors.from_snapped(fs[keep], owner[keep])
    targets = reach.Anchors.from_snapped(ps)
    return sources, targets, len(ids), len(pois)


def test_source_graph_is_the_same_matrix(town, town_case):
    sources, _, n_owners, _ = town_case
    new, first = reach.source_graph(town, sources, n_owners)
    old, first_old = ref.source_graph_old(town, sources, n_owners)
    assert first == first_old and new.shape == old.shape
    assert (new != old).nnz == 0
    np.testing.assert_array_equal(new.indptr, old.indptr)


@pytest.mark.parametrize("chunk", [1, 5, 16, 1000])
@pytest.mark.parametrize("limit", [150.0, 900.0])
def test_node_reach_matches_the_dense_search(town, town_case, chunk, limit):
    sources, _, n_owners, _ = town_case
    new = reach.node_reach(town, sources, n_owners, limit, chunk=chunk)
    old = ref.node_reach_old(town, sources, n_owners, limit)
    np.testing.assert_array_equal(new.facilities, old.facilities)
    np.testing.assert_array_equal(new.indptr, old.indptr)
    np.testing.assert_array_equal(new.node, old.node)
    np.testing.assert_allclose(new.dist, old.dist, atol=TOL_M, rtol=0)
    assert new.indptr[8] == new.indptr[7]  # facility 7 has no anchor: reaches nothing


def test_node_reach_groups_share_searches_and_match(town, town_case, monkeypatch):
    """Facilities whose boxes do not meet share one search; boxes that meet never do.

    The shared searches must be hit (groups of several facilities), and the answer must be
    the dense per-facility search's; with an infinite limit every facility searches alone.
    """
    sources, _, n_owners, _ = town_case
    seen: list[np.ndarray] = []
    real = reach._disjoint_groups

    def spy(*args, **kw):
        groups = real(*args, **kw)
        seen.extend(groups)
        return groups

    monkeypatch.setattr(reach, "_disjoint_groups", spy)
    for limit in (300.0, math.inf):
        seen.clear()
        new = reach.node_reach(town, sources, n_owners, limit)
        old = ref.node_reach_old(town, sources, n_owners, limit)
        np.testing.assert_array_equal(new.indptr, old.indptr)
        np.testing.assert_array_equal(new.node, old.node)
        np.testing.assert_allclose(new.dist, old.dist, atol=TOL_M, rtol=0)
        sizes = [len(g) for g in seen]
        assert sum(sizes) == n_owners - 1  # facility 7 has no anchor
        if math.isfinite(limit):
            assert max(sizes) > 5
            # no node is reached twice within one group (the boxes do not meet)
            for g in seen:
                rows = [new.row(int(f))[0] for f in g]
                assert len(np.unique(np.concatenate(rows))) == sum(len(r) for r in rows)
        else:
            assert max(sizes) == 1


def test_node_reach_ties_limit_and_pieces_by_hand():
    """Worked by hand: path 0-1-2 (100 m edges), a zero-length edge 2-3, a separate street 10-11.

    Facilities A and B both on node 0 (a tie: each reaches the same nodes at the same
    distances), C on node 10 (its own piece). With a limit of exactly 200 m node 2 and
    node 3 (0 m further) are reached; at 199.999 m they are not; 11 only by C.
    """
    network = make_network(
        {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (200, 0), 10: (0, 500), 11: (100, 500)},
        [(0, 1), (1, 2), (2, 3), (10, 11)],
    )
    fs = _snap(network, [(0, 0), (0, 0), (0, 500)])
    sources = reach.Anchors.from_snapped(fs)
    node = {osm: i for i, osm in enumerate(network.node_ids.tolist())}
    for limit, want in ((200.0, {0: 0.0, 1: 100.0, 2: 200.0, 3: 200.0}), (199.999, None)):
        nr = reach.node_reach(network, sources, 3, limit)
        old = ref.node_reach_old(network, sources, 3, limit)
        np.testing.assert_array_equal(nr.indptr, old.indptr)
        np.testing.assert_array_equal(nr.node, old.node)
        np.testing.assert_allclose(nr.dist, old.dist, atol=TOL_M, rtol=0)
        for f in (0, 1):
            got = dict(zip(nr.row(f)[0].tolist(), nr.row(f)[1].tolist(), strict=True))
            expect = want or {0: 0.0, 1: 100.0}
            assert got.keys() == {node[k] for k in expect}
            for k, v in expect.items():
                assert got[node[k]] == pytest.approx(v, abs=TOL_M)
        assert set(nr.row(2)[0].tolist()) == {node[10], node[11]}


def test_node_reach_more_overlapping_boxes_than_one_word_of_groups():
    """70 facilities on the same spot: every box meets every other, 70 groups of one
    (more than the 64 a word of the occupancy grid holds), each reaching the same nodes."""
    network = make_network(
        {0: (0, 0), 1: (100, 0), 2: (200, 0), 10: (2000, 0), 11: (2100, 0)},
        [(0, 1), (1, 2), (10, 11)],
    )
    fs = _snap(network, [(0, 0)] * 70 + [(2100, 0)])
    sources = reach.Anchors.from_snapped(fs)
    groups = reach._disjoint_groups(network, sources, np.arange(71), 150.0, 128)
    assert len(groups) == 70  # the facility at 2,100 m shares a group (its box is apart)
    assert sorted(len(g) for g in groups) == [1] * 69 + [2]
    nr = reach.node_reach(network, sources, 71, 150.0)
    old = ref.node_reach_old(network, sources, 71, 150.0)
    np.testing.assert_array_equal(nr.indptr, old.indptr)
    np.testing.assert_array_equal(nr.node, old.node)
    np.testing.assert_allclose(nr.dist, old.dist, atol=TOL_M, rtol=0)
    assert all(len(nr.row(f)[0]) == 2 for f in range(71))  # nodes 0 and 1; 11 and 10


@pytest.mark.parametrize("limit", [150.0, 900.0])
def test_pairs_and_nearest_match_the_earlier_path(town, town_case, limit):
    sources, targets, n_owners, n_pois = town_case
    nr = reach.node_reach(town, sources, n_owners, limit)
    new = reach.reach_pairs(town, nr, sources, targets, limit)
    old = ref.reach_pairs_old(
        town, ref.node_reach_old(town, sources, n_owners, limit), sources, targets, limit
    )
    pd.testing.assert_frame_equal(new, old, check_exact=False, atol=TOL_M, rtol=0)
    f_old, d_old = ref.nearest_facility_old(town, sources, n_owners, targets, n_pois)
    for kw in ({}, {"reach": nr}):
        f, d = reach.nearest_facility(town, sources, n_owners, targets, n_pois, **kw)
        np.testing.assert_allclose(d, d_old, atol=TOL_M, rtol=0)
        np.testing.assert_array_equal(f, f_old)
    assert np.isfinite(d_old).sum() > 0.9 * n_pois


def test_nearest_continues_into_unreached_and_disconnected_pieces():
    """Worked by hand on a path 0-1-2-3 (100 m edges) and a separate street 10-11.

    Facility F on node 0; POIs on nodes 1 (100 m), 3 (300 m) and 11 (unreachable). With a
    150 m node reach only node 0 and 1 are reached; the search continues to node 3.
    """
    network = make_network(
        {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (300, 0), 10: (0, 500), 11: (100, 500)},
        [(0, 1), (1, 2), (2, 3), (10, 11)],
    )
    fs = _snap(network, [(0, 0)])
    ps = _snap(network, [(100, 0), (300, 0), (100, 500)])
    sources = reach.Anchors.from_snapped(fs)
    targets = reach.Anchors.from_snapped(ps)
    nr = reach.node_reach(network, sources, 1, 150.0)
    assert sorted(nr.node.tolist()) == [0, 1]
    f, d = reach.nearest_facility(network, sources, 1, targets, 3, reach=nr)
    assert f.tolist() == [0, 0, -1]
    np.testing.assert_allclose(d, [100.0, 300.0, np.nan], atol=TOL_M)
    f_full, d_full = reach.nearest_facility(network, sources, 1, targets, 3)
    np.testing.assert_array_equal(f, f_full)
    np.testing.assert_allclose(d, d_full, atol=TOL_M)


def test_nearest_continues_through_virtual_edges_longer_than_the_bound():
    """Worked by hand: a 1000 m street 0-1 and a 100 m street 1-2 (x from 0 to 1100 m).

    Facility F at x = 100 on street 0-1; the node reach is bounded at 75 m (1 minute at
    4.5 km/h), so F reaches no node (node 0 is 100 m away, node 1 900 m). The POI at
    x = 1050 is 900 + 50 = 950 m away (through node 1); the one at x = 130 on F's own
    street 30 m. A facility 100 m off the street (north of x = 500) has an access leg
    longer than the bound: the POI at x = 1050 is 100 + 500 + 50 = 650 m away.
    """
    network = make_network({0: (0, 0), 1: (1000, 0), 2: (1100, 0)}, [(0, 1), (1, 2)])
    ps = _snap(network, [(1050, 0), (130, 0)])
    targets = reach.Anchors.from_snapped(ps)
    for where, expected in (((100, 0), [950.0, 30.0]), ((500, 100), [650.0, 470.0])):
        sources = reach.Anchors.from_snapped(_snap(network, [where]))
        nr = reach.node_reach(network, sources, 1, 75.0)
        assert len(nr.node) == 0  # nothing within the bound
        f, d = reach.nearest_facility(network, sources, 1, targets, 2, reach=nr)
        assert f.tolist() == [0, 0]
        np.testing.assert_allclose(d, expected, atol=TOL_M)
        f_full, d_full = reach.nearest_facility(network, sources, 1, targets, 2)
        np.testing.assert_array_equal(f, f_full)
        np.testing.assert_allclose(d, d_full, atol=TOL_M)


@pytest.mark.parametrize("limit", [5.0, 40.0])
def test_nearest_from_a_tight_bound_equals_the_whole_network_search(town, town_case, limit):
    """Bounds shorter than most entrances' access legs and streets: the continued search
    must start from the virtual edges that reached nothing, as the whole search does."""
    sources, targets, n_owners, n_pois = town_case
    nr = reach.node_reach(town, sources, n_owners, limit)
    f_full, d_full = reach.nearest_facility(town, sources, n_owners, targets, n_pois)
    f, d = reach.nearest_facility(town, sources, n_owners, targets, n_pois, reach=nr)
    np.testing.assert_allclose(d, d_full, atol=TOL_M, rtol=0)
    np.testing.assert_array_equal(f, f_full)
    assert np.isfinite(d_full).sum() > 0.9 * n_pois


# ------------------------------------------------------------------ coverage tables
def test_coverage_table_and_facility_summary_match(town):
    fac = random_points(town, 40, seed=8, prefix="F", entrances=2)
    pois = random_points(town, 2000, seed=9, prefix="P")
    # repeated POI ids and a facility id used twice, apart: the sort must keep ties stable
    pois.loc[5, "id"] = pois.loc[6, "id"]
    fac.loc[len(fac) - 1, "id"] = fac.loc[0, "id"]
    fac_snap = pipeline._snap_table(town, fac, 300.0)
    pd.testing.assert_frame_equal(
        pipeline.facility_summary(fac, fac_snap), ref.facility_summary_old(fac, fac_snap)
    )
    ids = np.asarray(pd.unique(fac["id"]), dtype=object)
    sources = reach.Anchors.from_snapped(fac_snap, pd.Index(ids).get_indexer(fac["id"]))
    targets = reach.Anchors.from_snapped(pipeline._snap_table(town, pois, 300.0))
    nr = reach.node_reach(town, sources, len(ids), 1125.0)
    pairs = reach.reach_pairs(town, nr, sources, targets, 1125.0)
    mpm = 75.0
    ids = np.asarray(pd.unique(fac["id"]), dtype=object)
    new = cov.coverage_table(pairs, ids, pois, mpm, (5.0, 10.0, 15.0))
    old = ref.coverage_table_old(pairs, ids, pois, mpm, (5.0, 10.0, 15.0))
    pd.testing.assert_frame_equal(new, old)
    assert len(new) > 100
    # the summary's counts per facility, band and kind, with a kind missing on some rows
    new.loc[new.index[::7], "poi_kind"] = None
    poi_table = pd.DataFrame({"status": ["ok"] * 3, "minutes_to_nearest": [1.0, 7.0, np.nan]})
    facilities = pipeline.facility_summary(fac, fac_snap)
    got = cov.summarise(new, poi_table, facilities, (5.0, 10.0, 15.0))
    want = ref.summarise_old(new, poi_table, facilities, (5.0, 10.0, 15.0))
    assert json.dumps(got) == json.dumps(want)  # the same counts, keys in the same order


def test_coverage_table_with_mixed_id_types_falls_back():
    pois = pd.DataFrame({"id": ["b", 2, "a"], "kind": ["shop"] * 3})
    pairs = pd.DataFrame({"facility": [0, 0, 0], "poi": [0, 1, 2], "distance_m": [75.0] * 3})
    ids = np.array(["F"], dtype=object)
    new = cov.coverage_table(pairs, ids, pois, 75.0, (5.0,))
    pd.testing.assert_frame_equal(new, ref.coverage_table_old(pairs, ids, pois, 75.0, (5.0,)))
    pois2 = pd.DataFrame({"id": ["b", "a", "c"], "kind": ["shop"] * 3})
    got = cov.coverage_table(pairs, ids, pois2, 75.0, (5.0,))
    assert got["poi_id"].tolist() == ["a", "b", "c"]


def test_handmade_minutes_through_analyse():
    """Access legs and partial edges through the whole analysis, worked out by hand."""
    network = make_network(
        {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (200, 100)}, [(0, 1), (1, 2), (2, 3)]
    )
    a = pipeline.analyse(
        network,
        points([("F", 0, 10)]),
        points([("P1", 100, 0), ("P2", 200, 50), ("P3", 150, 5)]),
        bands_min=(1, 2, 3),
        speed_kmh=6.0,
    )
    got = a.pois.set_index("poi_id")["minutes_to_nearest"]
    # F: 10 m access; P1 100 m; P2 200 + 50 m; P3 150 m + 5 m access
    np.testing.assert_allclose(got[["P1", "P2", "P3"]], [1.1, 2.6, 1.65], atol=1e-9)

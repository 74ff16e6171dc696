"""Simplified "grid" outlines: fewer vertices, still within the bound and still nested.

The grid method contours a grid of 6 m cells, so a curved outline has a vertex on every
cell side it crosses; each ring is then simplified by `GRID_SIMPLIFY_M` (Douglas-Peucker)
and each band unioned with the band inside it. Checked here: the simplified outline lies
within `GRID_SIMPLIFY_M` of the contoured one and within `GRID_BOUND_M` of the exact
corridor, bands nest, polygons are valid, the coverage tables do not change, and a
tolerance too large is caught by the same bound check.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import shapely

from planner import isochrones as iso
from planner import pipeline
from planner.isochrones import GRID_BOUND_M, GRID_SIMPLIFY_M, isochrones
from tests.handmade import points
from tests.isochrone_shapes import FAC_G, G_EDGES, G_IDS, G_NODES, close, within


@pytest.fixture(scope="module")
def net_g():
    from tests.handmade import make_network

    return make_network({G_IDS[k]: v for k, v in G_NODES.items()}, G_EDGES)


def _reach(network, fac, bands):
    from planner import reach
    from planner.snap import snap_points

    x, y = pipeline.to_network_xy(network, fac["lon"].to_numpy(), fac["lat"].to_numpy())
    ids = pd.unique(fac["id"])
    sources = reach.Anchors.from_snapped(
        snap_points(network, x, y, 300.0), pd.Index(ids).get_indexer(fac["id"])
    )
    return reach.node_reach(network, sources, len(ids), max(bands)), sources


@pytest.fixture(scope="module")
def sample():
    """The sample's network, reach and bands, its exact polygons and its grid polygons
    drawn with and without simplification (and with a tolerance far too large)."""
    from planner import inputs
    from planner.scenario import load_scenario

    scenario = load_scenario("sample")
    network = inputs.load_network(scenario)
    fac = inputs.load_facilities(scenario)
    settings = scenario.settings()
    bands = [b * settings.metres_per_minute for b in settings.bands_min]
    node, sources = _reach(network, fac, bands)

    def draw(**kw):
        return isochrones(network, node, sources, bands, **kw).geometry.to_numpy()

    return {
        "n_bands": len(bands),
        "exact": draw(method="exact"),
        "contoured": draw(method="grid", simplify_m=0.0),
        "simplified": draw(method="grid"),
        "too_far": draw(method="grid", simplify_m=6.0),
    }


def _vertices(polys):
    return int(shapely.get_num_coordinates(polys).sum())


def test_simplified_sample_outlines_within_the_bound_nested_and_lighter(sample):
    simple, contoured, exact = sample["simplified"], sample["contoured"], sample["exact"]
    assert len(simple) == 18 and shapely.is_valid(simple).all()
    for s, c, e in zip(simple, contoured, exact, strict=True):
        assert close(s, c, GRID_SIMPLIFY_M + 1e-6)  # moved by at most the tolerance
        assert close(s, e, GRID_BOUND_M)
        assert not close(s, c, 0.01)  # really simplified
    n = sample["n_bands"]
    for row in simple.reshape(-1, n):
        for inner, outer in itertools.pairwise(row):
            assert within(inner, outer, 1e-6)
    # measured 30,797 -> 11,452 vertices (benchmarks/notes/outline.md)
    assert _vertices(simple) < 0.5 * _vertices(contoured)


def test_a_tolerance_too_large_breaks_the_bound(sample):
    # 6 m on top of the grid's own error (up to 3.1 m on the sample): some outline strays
    # beyond the bound (measured 6.5 m); the check that passes the default tolerance
    # catches it
    too_far, exact = sample["too_far"], sample["exact"]
    assert shapely.is_valid(too_far).all()
    assert not all(close(s, e, GRID_BOUND_M) for s, e in zip(too_far, exact, strict=True))
    assert all(close(s, c, 6.0 + 1e-6) for s, c in zip(too_far, sample["contoured"], strict=True))


def test_simplified_bands_nest_on_the_hand_made_grid(net_g):
    bands = [100.0, 200.0, 400.0]
    node, sources = _reach(net_g, points(FAC_G), bands)
    exact = isochrones(net_g, node, sources, bands, method="exact").geometry.to_numpy()
    for buffer_m in (25.0, 8.0):
        drawn = {
            t: isochrones(
                net_g, node, sources, bands, method="grid", buffer_m=buffer_m, simplify_m=t
            ).geometry.to_numpy()
            for t in (0.0, GRID_SIMPLIFY_M)
        }
        simple = drawn[GRID_SIMPLIFY_M]
        assert shapely.is_valid(simple).all()
        for row in simple.reshape(-1, len(bands)):
            for inner, outer in itertools.pairwise(row):
                assert within(inner, outer, 1e-6)
        for s, c in zip(simple, drawn[0.0], strict=True):
            assert close(s, c, GRID_SIMPLIFY_M + 1e-6)
        if buffer_m == 25.0:
            assert all(close(s, e, GRID_BOUND_M) for s, e in zip(simple, exact, strict=True))


def test_coverage_tables_do_not_depend_on_simplification(monkeypatch):
    from planner import inputs
    from planner.scenario import load_scenario

    scenario = load_scenario("sample")
    network = inputs.load_network(scenario)
    fac, pois = inputs.load_facilities(scenario), inputs.load_pois(scenario)
    simple = pipeline.analyse(network, fac, pois, isochrone_method="grid")
    monkeypatch.setattr(iso, "GRID_SIMPLIFY_M", 0.0)
    contoured = pipeline.analyse(network, fac, pois, isochrone_method="grid")
    assert _vertices(contoured.isochrones.geometry.to_numpy()) > _vertices(
        simple.isochrones.geometry.to_numpy()
    )
    pd.testing.assert_frame_equal(simple.coverage, contoured.coverage)
    pd.testing.assert_frame_equal(simple.pois, contoured.pois)
    pd.testing.assert_frame_equal(simple.facilities, contoured.facilities)
    assert simple.summary == contoured.summary


def test_an_invalid_simplified_band_keeps_the_facility_contoured(net_g, monkeypatch):
    # fault injection: the simplified band 1 of every facility comes out self-crossing
    bands = [100.0, 200.0, 400.0]
    node, sources = _reach(net_g, points(FAC_G), bands)
    contoured = isochrones(net_g, node, sources, bands, method="grid", simplify_m=0.0)
    real = iso._polygons
    hit = []

    def faulty(rings, simplify_m=0.0):
        drawn = real(rings, simplify_m)
        hit.append(simplify_m)
        if simplify_m > 0 and hit.count(simplify_m) % 3 == 2:  # each facility's band 1
            drawn = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])  # a bow tie
        return drawn

    monkeypatch.setattr(iso, "_polygons", faulty)
    monkeypatch.setattr(iso, "POLYGON_THREADS", 1)
    got = isochrones(net_g, node, sources, bands, method="grid")
    # the simplified bands of a facility (F's outline passes through grid nodes, so only
    # K's were simplified) were refused and its contoured rings drawn instead
    assert hit.count(GRID_SIMPLIFY_M) == 3
    at = hit.index(GRID_SIMPLIFY_M)
    assert hit[at : at + 6] == [GRID_SIMPLIFY_M] * 3 + [0.0] * 3
    assert got.geometry.geom_equals_exact(contoured.geometry, 0).all()


def _rings(coords_per_ring, polygon_of_ring):
    xy = np.concatenate(
        [np.r_[np.asarray(c, float), np.asarray(c[:1], float)] for c in coords_per_ring]
    )
    ring = np.repeat(np.arange(len(coords_per_ring)), [len(c) + 1 for c in coords_per_ring])
    outers = np.r_[np.flatnonzero(np.r_[True, np.diff(polygon_of_ring) != 0]), len(polygon_of_ring)]
    return iso._Rings(xy, ring, outers)


def test_a_collapsing_hole_is_dropped_and_a_collapsing_shell_kept():
    square = [(0, 0), (100, 0), (100, 100), (0, 100)]
    thin = [(20, 50), (80, 50.5), (80, 51), (20, 51.5)]  # within 1.5 m of a line
    wide = [(20, 10), (40, 10), (40, 30), (20, 30)]
    sliver = [(200, 0), (260, 0.6), (200, 1.2)]  # a shell within 1.5 m of a line
    rings = _rings([square, thin, wide, sliver], [0, 0, 0, 1])
    drawn = iso._polygons(rings)
    assert len(drawn.geoms) == 2 and len(drawn.geoms[0].interiors) == 2
    simple = iso._polygons(rings, GRID_SIMPLIFY_M)
    first, second = simple.geoms
    assert len(first.interiors) == 1  # the thin hole is gone, the wide one stays
    assert shapely.equals(shapely.Polygon(first.interiors[0]), shapely.Polygon(wide))
    assert shapely.equals(second, shapely.Polygon(sliver))  # kept as drawn
    assert close(simple, drawn, GRID_SIMPLIFY_M)


def test_vertices_are_the_same_numbers_whatever_the_band_box():
    # one plane and the same values inside a larger box: the rings' vertices must be the
    # same numbers (so that a hole two bands share is drawn alike in both)
    import contourpy

    rows, cols = np.mgrid[0:30, 0:40]
    plane = np.hypot(cols - 17.3, rows - 12.1) / 3.0  # a disk of radius 9 cells
    plane = np.minimum(plane, np.hypot(cols - 25.0, rows - 16.7) / 2.0)
    big = np.full((37, 55), 50.0)
    big[5:35, 11:51] = plane
    level = 3.0 * (1 + 1e-12)
    origin = np.array([1000.0, 2000.0])
    got = []
    for z, box in ((plane, (5, 35, 11, 51)), (big, (0, 37, 0, 55))):
        gen = contourpy.contour_generator(
            z=z, fill_type=contourpy.FillType.ChunkCombinedOffsetOffset
        )
        p, r, o = gen.filled(-1.0, level)
        got.append(iso._contour_rings(p[0], r[0], o[0], z, level, box, origin, 6.0))
    assert len(got[0].xy) > 20
    np.testing.assert_array_equal(got[0].xy, got[1].xy)
    # and on the level: each vertex interpolated from its side's two node values
    local = (got[0].xy - origin) / 6.0 - [11, 5]
    yy, xx = local[:, 1], local[:, 0]
    exact = np.minimum(np.hypot(xx - 17.3, yy - 12.1) / 3.0, np.hypot(xx - 25.0, yy - 16.7) / 2.0)
    # (linear along a cell side: exact on a straight outline, a fraction of a cell off
    # where the two disks meet)
    assert np.abs(exact - 3.0).max() < 0.1 and np.median(np.abs(exact - 3.0)) < 0.005


def test_rings_start_at_their_lowest_leftmost_vertex_whichever_vertex_they_began_at():
    ring = np.array([(3.0, 1.0), (5.0, 2.0), (4.0, 4.0), (1.0, 1.0), (2.0, 0.5), (2.5, 0.5)])
    square = np.array([(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)])
    want = None
    for shift in range(len(ring)):
        rolled = np.roll(ring, shift, axis=0)
        xy = np.concatenate([rolled, rolled[:1], square, square[:1]])
        got = iso._from_lowest(xy, np.array([0, 7, 12]))
        assert got[0].tolist() == [2.0, 0.5] and got[6].tolist() == [2.0, 0.5]
        assert got[7:].tolist() == xy[7:].tolist()  # already started there
        if want is None:
            want = got
        np.testing.assert_array_equal(got, want)
    # the order along the ring is kept
    assert want[:7].tolist() == [[2, 0.5], [2.5, 0.5], [3, 1], [5, 2], [4, 4], [1, 1], [2, 0.5]]

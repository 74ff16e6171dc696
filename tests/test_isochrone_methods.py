"""The two ways of drawing band polygons ("exact" and "grid") and the GeoJSON rounding.

The "grid" outline must lie within `GRID_BOUND_M` of the exact corridor: every point of
either polygon within that distance of the other (the Hausdorff distance of the two areas),
checked on hand-made networks, the sample and a piece of the benchmark's city workload.
Coverage tables do not come from polygons and must not depend on the method.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely

from planner import io, pipeline
from planner.isochrones import GRID_BOUND_M, GRID_CELL_MAX_M, isochrones
from planner.result import Settings, SettingsError
from tests.handmade import X0, Y0, make_network, points
from tests.isochrone_shapes import FAC_G, G_EDGES, G_IDS, G_NODES, POIS_G, close, within


def test_the_closeness_check_can_fail():
    a = shapely.box(0, 0, 100, 50).buffer(25)
    assert close(a, shapely.affinity.translate(a, 4.9, 0), 5.0)
    assert not close(a, shapely.affinity.translate(a, 5.2, 0), 5.0)
    # a hole 12 m across, absent from the other polygon: 6 m from its edge
    holed = a.difference(shapely.Point(50, 25).buffer(6))
    assert within(a, holed, 6.1) and not within(a, holed, 5.9)


@pytest.fixture(scope="module")
def net_g():
    return make_network({G_IDS[k]: v for k, v in G_NODES.items()}, G_EDGES)


def _analyse(network, fac, pois, method, bands=(1, 2, 4), buffer_m=25.0):
    return pipeline.analyse(
        network,
        fac,
        pois,
        bands_min=bands,
        speed_kmh=6.0,  # 100 m/min
        buffer_m=buffer_m,
        isochrone_method=method,
    )


@pytest.mark.parametrize("buffer_m", [25.0, 8.0])
def test_grid_within_bound_of_exact_on_hand_made_grid(net_g, buffer_m):
    exact = _analyse(net_g, points(FAC_G), points(POIS_G), "exact", buffer_m=buffer_m)
    grid = _analyse(net_g, points(FAC_G), points(POIS_G), "grid", buffer_m=buffer_m)
    e = exact.isochrones.to_crs(net_g.crs)
    g = grid.isochrones.to_crs(net_g.crs)
    assert list(e["facility_id"]) == list(g["facility_id"]) == ["F"] * 3 + ["K"] * 3
    assert g.geometry.is_valid.all() and not g.geometry.is_empty.any()
    for a, b in zip(g.geometry, e.geometry, strict=True):
        assert close(a, b, GRID_BOUND_M)
        assert not close(a, b, 0.05)  # really drawn another way
    # coverage does not come from polygons: identical tables
    pd.testing.assert_frame_equal(exact.coverage, grid.coverage)
    pd.testing.assert_frame_equal(exact.pois, grid.pois)


def test_grid_follows_partial_edges_and_keeps_holes(net_g):
    # F at (65, 8): access 8 m, then 100 m band: the street y = 0 from x = -27..157 m
    grid = _analyse(net_g, points([("F", 65, 8)]), points(POIS_G), "grid")
    g = grid.isochrones.to_crs(net_g.crs).geometry.to_list()

    def at(x, y):
        return shapely.Point(x + X0, y + Y0)

    band1, band3 = g[0], g[2]
    assert band1.contains(at(150, 0)) and band1.contains(at(150, 18))
    assert not band1.contains(at(200, 0))  # 157 + 25 = 182 m, plus at most 5 m
    assert not band1.contains(at(60, 60))  # block interior, > 25 m from every street
    # band 3 (400 m) surrounds the second block (x 120-240, y 0-120); its middle, 56 m
    # from the nearest street (the bent one at x = 120-127), is a hole
    assert band3.contains(at(240, 60)) and band3.contains(at(180, 120))
    assert not band3.contains(at(180, 60))
    assert band3.buffer(0.01).contains(band1)


def test_grid_nothing_reached_is_empty(net_g):
    far = _analyse(net_g, points([("X", 5000, 5000), ("F", 65, 8)]), points(POIS_G), "grid")
    iso = far.isochrones.set_index("facility_id")
    assert iso.loc["X"].geometry.is_empty.all()
    assert not iso.loc["F"].geometry.is_empty.any()


def test_method_and_cell_are_checked(net_g):
    with pytest.raises(SettingsError, match="isochrone_method"):
        Settings(isochrone_method="fast")
    assert Settings().isochrone_method == "grid"
    with pytest.raises(SettingsError, match="isochrone_method"):
        _analyse(net_g, points(FAC_G), points(POIS_G), "raster")
    a = _analyse(net_g, points(FAC_G), points(POIS_G), "exact")
    assert a.settings.isochrone_method == "exact"
    assert pipeline.reanalyse(a).settings.isochrone_method == "exact"
    b = pipeline.reanalyse(a, isochrone_method="grid")
    assert b.settings.isochrone_method == "grid"
    assert not b.isochrones.geometry.geom_equals_exact(a.isochrones.geometry, 1e-9).all()


def test_grid_cell_size_limit(net_g):
    from planner import reach
    from planner.snap import snap_points

    fac = points(FAC_G)
    x, y = pipeline.to_network_xy(net_g, fac["lon"].to_numpy(), fac["lat"].to_numpy())
    sources = reach.Anchors.from_snapped(snap_points(net_g, x, y, 300.0), np.array([0, 0, 1]))
    node = reach.node_reach(net_g, sources, 2, 400.0)
    with pytest.raises(ValueError, match="cell_m"):
        isochrones(net_g, node, sources, [400.0], method="grid", cell_m=GRID_CELL_MAX_M + 1)
    with pytest.raises(ValueError, match="method"):
        isochrones(net_g, node, sources, [400.0], method="hull")
    # a finer grid lies closer to the exact corridor
    exact = isochrones(net_g, node, sources, [100.0, 400.0], method="exact").geometry
    for cell, bound in ((1.0, 1.5), (GRID_CELL_MAX_M, GRID_BOUND_M)):
        grid = isochrones(net_g, node, sources, [100.0, 400.0], method="grid", cell_m=cell)
        assert all(close(a, b, bound) for a, b in zip(grid.geometry, exact, strict=True))


def test_grid_within_bound_on_the_sample():
    from planner import inputs
    from planner.scenario import load_scenario

    scenario = load_scenario("sample")
    network = inputs.load_network(scenario)
    fac = inputs.load_facilities(scenario)
    pois = fac.iloc[0:0]
    out = {
        m: pipeline.analyse(network, fac, pois, isochrone_method=m).isochrones.to_crs(network.crs)
        for m in ("exact", "grid")
    }
    assert len(out["grid"]) == 18
    assert out["grid"].geometry.is_valid.all()
    for a, b in zip(out["grid"].geometry, out["exact"].geometry, strict=True):
        assert close(a, b, GRID_BOUND_M)


@pytest.mark.slow
def test_grid_within_bound_on_the_city_workload():
    from planner import reach
    from tests.synthetic import random_points, synthetic_network

    network = synthetic_network(20_000, seed=1)
    fac = random_points(network, 12, seed=2, prefix="F", entrances=2)
    x, y = pipeline.to_network_xy(network, fac["lon"].to_numpy(), fac["lat"].to_numpy())
    from planner.snap import snap_points

    ids = pd.unique(fac["id"])
    sources = reach.Anchors.from_snapped(
        snap_points(network, x, y, 300.0), pd.Index(ids).get_indexer(fac["id"])
    )
    node = reach.node_reach(network, sources, len(ids), 1125.0)
    bands = [375.0, 750.0, 1125.0]
    exact = isochrones(network, node, sources, bands, method="exact").geometry
    grid = isochrones(network, node, sources, bands, method="grid").geometry
    assert grid.is_valid.all() and not grid.is_empty.any()
    for a, b in zip(grid, exact, strict=True):
        assert close(a, b, GRID_BOUND_M)


# ------------------------------------------------------------------ GeoJSON rounding
def test_rounding_to_micro_degrees_keeps_polygons_valid(tmp_path):
    import geopandas as gpd

    # a hole whose right side lies 0.4e-6 degrees inside the shell: plain rounding puts it
    # on the shell's side (an invalid polygon); the writer must snap that one validly
    shell = [(113.0, 22.0), (113.001, 22.0), (113.001, 22.001), (113.0, 22.001)]
    hole = [(113.0005, 22.0002), (113.001 - 4e-7, 22.0004), (113.001 - 3e-7, 22.0006)]
    bad = shapely.Polygon(shell, [hole])
    fine = shapely.box(113.1234567, 22.7654321, 113.1244567, 22.7664321)
    assert bad.is_valid
    naive = shapely.transform(bad, lambda xy: np.round(xy, 6))
    assert not naive.is_valid  # the moment the fallback is for
    rounded = io.round_coordinates(np.array([bad, fine, None], dtype=object), 6)
    assert shapely.is_valid(rounded[:2]).all() and rounded[2] is None
    xy = shapely.get_coordinates(rounded[:2])
    np.testing.assert_allclose(xy * 1e6, np.round(xy * 1e6), atol=1e-6)
    assert shapely.equals_exact(rounded[1], shapely.transform(fine, lambda v: np.round(v, 6)))
    gdf = gpd.GeoDataFrame({"name": ["bad", "fine"]}, geometry=[bad, fine], crs=4326)
    path = io.write_geojson(gdf, tmp_path / "p.geojson")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert [f["properties"]["name"] for f in data["features"]] == ["bad", "fine"]
    back = gpd.read_file(path)
    assert back.geometry.is_valid.all()
    ring = data["features"][1]["geometry"]["coordinates"][0]
    assert [113.123457, 22.765432] in ring  # 1e-6 degrees, shortest form
    assert all(len(str(v).split(".")[1]) <= 6 for pt in ring for v in pt)


# ------------------------------------------------------------------ scenario key
def test_scenario_chooses_the_method(tmp_path):
    from planner import PlannerError
    from planner.scenario import load_scenario
    from tests.scenarios import edited, write_scenario

    path = write_scenario(
        tmp_path / "exact",
        edited("snap_limit_m = 300", 'snap_limit_m = 300\nisochrone_method = "exact"'),
    )
    assert load_scenario(path).settings().isochrone_method == "exact"
    default = write_scenario(
        tmp_path / "default", edited("snap_limit_m = 300", "snap_limit_m = 300")
    )
    assert load_scenario(default).settings().isochrone_method == "grid"
    bad = write_scenario(
        tmp_path / "bad",
        edited("snap_limit_m = 300", 'snap_limit_m = 300\nisochrone_method = "fast"'),
    )
    with pytest.raises(PlannerError) as err:
        load_scenario(bad)
    text = str(err.value)
    assert "[analysis] isochrone_method" in text and '"fast"' in text and '"grid"' in text


# ------------------------------------------------------------------ the grid's parts
def _net_g_reach(net_g, bands=(100.0, 200.0, 400.0)):
    from planner import reach
    from planner.snap import snap_points

    fac = points(FAC_G)
    x, y = pipeline.to_network_xy(net_g, fac["lon"].to_numpy(), fac["lat"].to_numpy())
    sources = reach.Anchors.from_snapped(snap_points(net_g, x, y, 300.0), np.array([0, 0, 1]))
    return reach.node_reach(net_g, sources, 2, max(bands)), sources


def test_distance_grid_is_exact_near_the_outline(net_g):
    # every node within one cell of the outline holds its distance to the pieces (GEOS);
    # nodes nearer hold a value below the level and nodes farther one above it
    from planner import isochrones as iso

    node, sources = _net_g_reach(net_g)
    bands = [100.0, 200.0, 400.0]
    growth = iso.band_growth(net_g, node, sources, bands)
    coords = iso.EdgeCoords.from_network(net_g)
    lines = iso.cut_lines(
        net_g, coords, growth["edge"], growth["start"].to_numpy(), growth["end"].to_numpy()
    )
    xy, piece = iso._stretch_xy(
        net_g, coords, growth["edge"], growth["start"].to_numpy(), growth["end"].to_numpy()
    )
    a, b, seg_piece = iso._segments(xy, piece)
    checked = 0
    for cell, buffer_m in ((5.0, 25.0), (3.0, 8.0)):
        level = buffer_m / cell
        for f in (0, 1):
            mine = growth["facility"].to_numpy()[seg_piece] == f
            band = growth["band"].to_numpy()[seg_piece][mine]
            planes, origin, boxes = iso._distance_grids(a[mine], b[mine], band, 3, buffer_m, cell)
            for k in range(3):
                pieces = lines[
                    (growth["facility"].to_numpy() == f) & (growth["band"].to_numpy() <= k)
                ]
                r0, r1, c0, c1 = boxes[k]
                rows, cols = np.mgrid[r0:r1, c0:c1]
                nodes = shapely.points(origin[0] + cols * cell, origin[1] + rows * cell)
                truth = shapely.distance(nodes, shapely.union_all(pieces)) / cell
                got = planes[k]
                near = np.abs(truth - level) <= 1.0
                np.testing.assert_allclose(got[near], truth[near], rtol=0, atol=1e-9)
                assert (got[truth < level - 1.0] < level).all()
                assert (got[truth > level + 1.0] > level).all()
                checked += int(near.sum())
    assert checked > 1000


def test_stretch_vertices_are_those_of_the_cut_lines(net_g):
    from planner import isochrones as iso

    node, sources = _net_g_reach(net_g)
    growth = iso.band_growth(net_g, node, sources, [100.0, 200.0, 400.0])
    edge, start, end = growth["edge"], growth["start"].to_numpy(), growth["end"].to_numpy()
    coords = iso.EdgeCoords.from_network(net_g)
    # add a zero-length stretch, a stretch ending on the bend's vertex and a whole edge
    bent = int(np.argmax(shapely.get_num_coordinates(net_g.edge_geometry)))
    on_vertex = float(coords.along[coords.offsets[bent] + 1])
    edge = np.r_[edge, 0, bent, bent, 3]
    start = np.r_[start, 10.0, 0.0, on_vertex, 0.0]
    end = np.r_[end, 10.0, on_vertex, net_g.edge_length[bent], net_g.edge_length[3]]
    lines = iso.cut_lines(net_g, coords, edge, start, end)
    xy, piece = iso._stretch_xy(net_g, coords, edge, start, end)
    for i, line in enumerate(lines):
        want = shapely.get_coordinates(line)
        if len(want) == 1:  # a point: given twice, a segment of zero length
            want = np.repeat(want, 2, axis=0)
        np.testing.assert_allclose(xy[piece == i], want, rtol=0, atol=1e-9)


def test_merged_stretches_match_a_plain_merge():
    from planner.isochrones import _merge_stretches

    rng = np.random.default_rng(5)
    n = 400
    start = rng.uniform(0, 100, n).round(1)
    df = pd.DataFrame(
        {
            "facility": rng.integers(0, 3, n),
            "band": rng.integers(0, 2, n),
            "edge": rng.integers(0, 6, n),
            "start": start,
            "end": start + rng.uniform(0, 20, n).round(1),
        }
    )
    want = []
    for (f, b, e), g in df.groupby(["facility", "band", "edge"]):
        spans = sorted(zip(g["start"], g["end"], strict=True))
        lo, hi = spans[0]
        for s, t in spans[1:]:
            if s > hi:
                want.append((f, b, e, lo, hi))
                lo, hi = s, t
            else:
                hi = max(hi, t)
        want.append((f, b, e, lo, hi))
    got = _merge_stretches(df)
    assert list(got.columns) == ["facility", "band", "edge", "start", "end"]
    assert [tuple(r) for r in got.itertuples(index=False)] == want
    assert len(want) < n  # overlapping and touching stretches were merged


def test_grid_bands_are_nested(net_g):
    node, sources = _net_g_reach(net_g)
    polys = isochrones(net_g, node, sources, [100.0, 200.0, 400.0], method="grid").geometry
    for f in range(2):
        inner, middle, outer = polys[3 * f : 3 * f + 3]
        # each band's distances are at most the band inside's: the outline only moves out
        assert within(inner, middle, 1e-6) and within(middle, outer, 1e-6)


def test_grid_with_a_corridor_under_one_cell_is_drawn_exactly(net_g):
    node, sources = _net_g_reach(net_g)
    bands = [100.0, 400.0]
    exact = isochrones(net_g, node, sources, bands, buffer_m=3.0, method="exact").geometry
    grid = isochrones(net_g, node, sources, bands, buffer_m=3.0, method="grid").geometry
    assert grid.geom_equals_exact(exact, 0).all()
    wide = isochrones(net_g, node, sources, bands, buffer_m=6.0, method="grid").geometry
    assert not wide.geom_equals_exact(
        isochrones(net_g, node, sources, bands, buffer_m=6.0, method="exact").geometry, 1e-6
    ).any()


def test_grid_nodes_exactly_on_the_outline(net_g):
    # 5 m cells on this network's 120 m lattice: rows of nodes lie exactly 25 m from the
    # streets, on the outline itself; the polygons stay valid and within the bound
    from planner import isochrones as iso

    node, sources = _net_g_reach(net_g)
    bands = [100.0, 200.0, 400.0]
    growth = iso.band_growth(net_g, node, sources, bands)
    coords = iso.EdgeCoords.from_network(net_g)
    xy, piece = iso._stretch_xy(
        net_g, coords, growth["edge"], growth["start"].to_numpy(), growth["end"].to_numpy()
    )
    a, b, seg_piece = iso._segments(xy, piece)
    mine = growth["facility"].to_numpy()[seg_piece] == 0
    band = growth["band"].to_numpy()[seg_piece][mine]
    planes, _origin, _boxes = iso._distance_grids(a[mine], b[mine], band, 3, 25.0, 5.0)
    assert (planes[2] == 5.0).sum() > 50  # the moment this is about
    exact = isochrones(net_g, node, sources, bands, method="exact").geometry
    grid = isochrones(net_g, node, sources, bands, method="grid", cell_m=5.0).geometry
    assert grid.is_valid.all()
    assert all(close(g, e, GRID_BOUND_M) for g, e in zip(grid, exact, strict=True))

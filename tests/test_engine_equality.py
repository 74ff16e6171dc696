"""The reach engine equals a plain networkx reference on the sample and a synthetic city."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import _cache, inputs, pipeline, reach, snap
from planner.network import StreetNetwork
from planner.scenario import load_scenario
from tests.synthetic import random_points, synthetic_network

TOL_M = 1e-6
SNAP_LIMIT_M = 300.0
BANDS_MIN = (5.0, 10.0, 15.0)
SPEED_KMH = 4.5
LIMIT_M = max(BANDS_MIN) * SPEED_KMH * 1000 / 60


# ------------------------------------------------------------------ networkx reference
def reference_snap(
    network: StreetNetwork, x: np.ndarray, y: np.ndarray, limit: float
) -> pd.DataFrame:
    """Brute-force snapping: distance to every edge, ties to the lowest edge index."""
    rows = []
    for px, py in zip(x, y, strict=True):
        if not (np.isfinite(px) and np.isfinite(py)):
            rows.append((-1, np.nan, np.nan))
            continue
        p = shapely.Point(px, py)
        d = shapely.distance(p, network.edge_geometry)
        e = int(np.argmin(d))  # first minimum = lowest edge index
        if d[e] > limit:
            rows.append((-1, np.nan, np.nan))
            continue
        geom = network.edge_geometry[e]
        off = min(max(geom.project(p), 0.0), network.edge_length[e])
        rows.append((e, off, float(d[e])))
    return pd.DataFrame(rows, columns=["edge", "offset", "access_m"])


def split_graph(
    network: StreetNetwork, anchors: list[tuple[str, int, int, float]]
) -> nx.MultiGraph:
    """Street graph with every edge cut at the anchor points lying on it.

    ``anchors`` holds ``(kind, key, edge, offset)``; each becomes node ``(kind, key)``.
    """
    graph = nx.MultiGraph()
    graph.add_nodes_from(range(network.n_nodes))
    on_edge: dict[int, list[tuple[float, tuple[str, int]]]] = {}
    for kind, key, e, off in anchors:
        on_edge.setdefault(e, []).append((off, (kind, key)))
    for e in range(network.n_edges):
        u, v, length = int(network.edge_u[e]), int(network.edge_v[e]), network.edge_length[e]
        stops = [(0.0, u), *sorted(on_edge.get(e, []), key=lambda s: s[0]), (length, v)]
        for (a, na), (b, nb) in itertools.pairwise(stops):
            graph.add_edge(na, nb, weight=b - a)
    return graph


@dataclass
class Reference:
    """Reference pair distances (within the limit) and reached node distances."""

    pairs: dict[tuple[int, int], float]
    nodes: dict[int, dict[int, float]]
    nearest: np.ndarray  # nearest walking distance per POI (unbounded), NaN if none


def reference_reach(
    network: StreetNetwork,
    fac_xy: tuple[np.ndarray, np.ndarray],
    fac_owner: np.ndarray,
    poi_xy: tuple[np.ndarray, np.ndarray],
    limit: float,
) -> Reference:
    """Distances from every facility to every POI and node, by networkx Dijkstra."""
    fs = reference_snap(network, *fac_xy, SNAP_LIMIT_M)
    ps = reference_snap(network, *poi_xy, SNAP_LIMIT_M)
    anchors = [
        ("f", i, int(r.edge), r.offset) for i, r in enumerate(fs.itertuples()) if r.edge >= 0
    ]
    anchors += [
        ("p", j, int(r.edge), r.offset) for j, r in enumerate(ps.itertuples()) if r.edge >= 0
    ]
    graph = split_graph(network, anchors)
    pairs: dict[tuple[int, int], float] = {}
    nodes: dict[int, dict[int, float]] = {}
    nearest = np.full(len(ps), np.inf)
    for owner in np.unique(fac_owner):
        legs = [
            (i, r.access_m)
            for i, r in enumerate(fs.itertuples())
            if r.edge >= 0 and fac_owner[i] == owner
        ]
        if not legs:
            continue
        # only this facility's source is in the graph: no path walks through another one
        src = ("src", int(owner))
        graph.add_weighted_edges_from((src, ("f", i), a) for i, a in legs)
        dist = nx.single_source_dijkstra_path_length(graph, src, weight="weight")
        graph.remove_node(src)
        nodes[int(owner)] = {n: d for n, d in dist.items() if isinstance(n, int) and d <= limit}
        for j, r in enumerate(ps.itertuples()):
            if r.edge >= 0 and ("p", j) in dist:
                d = dist[("p", j)] + r.access_m
                nearest[j] = min(nearest[j], d)
                if d <= limit:
                    pairs[(int(owner), j)] = d
    nearest[~np.isfinite(nearest)] = np.nan
    return Reference(pairs=pairs, nodes=nodes, nearest=nearest)


# ------------------------------------------------------------------ planner side
@dataclass
class Case:
    """One workload: network, point coordinates (network CRS), facility owners."""

    network: StreetNetwork
    fac_xy: tuple[np.ndarray, np.ndarray]
    fac_owner: np.ndarray
    poi_xy: tuple[np.ndarray, np.ndarray]


def planner_reach(case: Case, limit: float):
    """Snap, node reach, pairs and nearest facility with the planner's engine."""
    n_owners = int(case.fac_owner.max()) + 1
    fs = snap.snap_points(case.network, *case.fac_xy, SNAP_LIMIT_M)
    ps = snap.snap_points(case.network, *case.poi_xy, SNAP_LIMIT_M)
    sources = reach.Anchors.from_snapped(fs, case.fac_owner)
    targets = reach.Anchors.from_snapped(ps)
    nr = reach.node_reach(case.network, sources, n_owners, limit)
    pairs = reach.reach_pairs(case.network, nr, sources, targets, limit)
    near_f, near_d = reach.nearest_facility(
        case.network, sources, n_owners, targets, len(ps), reach=nr
    )
    return nr, pairs, near_f, near_d


def assert_equal_to_reference(case: Case, limit: float) -> None:
    """Pairs, reached sets, node distances and nearest facilities agree to `TOL_M`."""
    ref = reference_reach(case.network, case.fac_xy, case.fac_owner, case.poi_xy, limit)
    nr, pairs, near_f, near_d = planner_reach(case, limit)
    got = {(int(f), int(p)): float(d) for f, p, d in pairs.itertuples(index=False)}
    assert len(ref.pairs) > 0
    # reached sets: identical except for pairs within TOL_M of the limit itself
    only_ref = {k for k in ref.pairs.keys() - got.keys() if ref.pairs[k] < limit - TOL_M}
    only_got = {k for k in got.keys() - ref.pairs.keys() if got[k] < limit - TOL_M}
    assert not only_ref, f"pairs missed by the planner: {sorted(only_ref)[:5]}"
    assert not only_got, f"pairs only the planner found: {sorted(only_got)[:5]}"
    common = sorted(got.keys() & ref.pairs.keys())
    diff = np.abs(np.array([got[k] - ref.pairs[k] for k in common]))
    assert diff.max() <= TOL_M, f"max pair difference {diff.max()} m"
    # reached nodes and their distances
    for i in range(len(nr.facilities)):
        node, dist = nr.row(i)
        mine = dict(zip(node.tolist(), dist.tolist(), strict=True))
        theirs = ref.nodes.get(int(nr.facilities[i]), {})
        assert {n for n in theirs if theirs[n] < limit - TOL_M} <= mine.keys()
        assert {n for n in mine if mine[n] < limit - TOL_M} <= theirs.keys()
        both = mine.keys() & theirs.keys()
        assert all(abs(mine[n] - theirs[n]) <= TOL_M for n in both)
    # nearest facility distance (unbounded) for every POI
    np.testing.assert_allclose(near_d, ref.nearest, rtol=0, atol=TOL_M, equal_nan=True)
    assert ((near_f >= 0) == np.isfinite(ref.nearest)).all()


@pytest.fixture(scope="module")
def sample_case() -> tuple[Case, pd.DataFrame, pd.DataFrame, StreetNetwork]:
    """The sample scenario, loaded once (through the network cache)."""
    scenario = load_scenario("sample")
    network = _cache.load_network_cached(scenario.network_path)
    facilities = inputs.load_facilities(scenario)
    pois = inputs.load_pois(scenario)

    def xy(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        ok = table["usable"].to_numpy(dtype=bool)
        lon = np.where(ok, table["lon"].to_numpy(dtype=float), np.nan)
        lat = np.where(ok, table["lat"].to_numpy(dtype=float), np.nan)
        return pipeline.to_network_xy(network, lon, lat)

    owner = pd.Index(pd.unique(facilities["id"])).get_indexer(facilities["id"])
    case = Case(network, xy(facilities), owner, xy(pois))
    return case, facilities, pois, network


def _xy(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return table["x"].to_numpy(), table["y"].to_numpy()


@pytest.fixture(scope="module")
def synthetic_case() -> Case:
    """A ~2,000-node synthetic city with multi-entrance facilities."""
    network = synthetic_network(2_000, seed=7)
    fac = random_points(network, 12, seed=8, prefix="F", entrances=3)
    poi = random_points(network, 400, seed=9, prefix="P")
    owner = pd.Index(pd.unique(fac["id"])).get_indexer(fac["id"])
    return Case(network, _xy(fac), owner, _xy(poi))


def test_sample_matches_networkx(sample_case) -> None:
    case, *_ = sample_case
    assert_equal_to_reference(case, LIMIT_M)


def test_sample_pipeline_coverage_matches_networkx(sample_case, sample_map_run) -> None:
    """The session's run of the sample (same bands and speed) against the reference."""
    case, facilities, pois, network = sample_case
    analysis = sample_map_run
    assert analysis.settings.bands_min == BANDS_MIN and analysis.settings.speed_kmh == SPEED_KMH
    pd.testing.assert_frame_equal(analysis.facility_rows, facilities)
    pd.testing.assert_frame_equal(analysis.poi_rows, pois)
    ref = reference_reach(network, case.fac_xy, case.fac_owner, case.poi_xy, LIMIT_M)
    fac_ids = np.asarray(pd.unique(facilities["id"]), dtype=object)
    want = {
        (fac_ids[f], pois["id"].iloc[p]): d
        for (f, p), d in ref.pairs.items()
        if d < LIMIT_M - TOL_M
    }
    got = {
        (r.facility_id, r.poi_id): r.distance_m for r in analysis.coverage.itertuples(index=False)
    }
    assert want.keys() <= got.keys()
    assert all(got[k] < LIMIT_M + TOL_M for k in got.keys() - want.keys())
    assert max(abs(got[k] - want[k]) for k in want) <= TOL_M


def test_synthetic_matches_networkx(synthetic_case) -> None:
    assert_equal_to_reference(synthetic_case, LIMIT_M)


def test_synthetic_smaller_band_matches_networkx(synthetic_case) -> None:
    assert_equal_to_reference(synthetic_case, 5 * SPEED_KMH * 1000 / 60)

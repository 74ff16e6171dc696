"""The one-pass OSM reader (planner._osmread) against the osmnx path and hand-worked answers."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
from pyproj import CRS, Transformer

from planner import _cache, _osmread, pois
from planner import network as net
from planner._errors import PlannerError
from tests.handmade import assert_same_network
from tests.region_city import write_city_osm
from tests.synthetic import synthetic_network

ROOT = Path(__file__).resolve().parent.parent
#: Every OSM file bundled in the repository (data/sample_region reads the sample's file).
BUNDLED = [
    ROOT / "data" / "sample" / "shenzhen_nanshan_science_park_2021-03.osm",
    *sorted((ROOT / "benchmarks" / "scenarios").glob("*/*.osm")),
]


def test_bundled_files_are_all_listed() -> None:
    found = {p.resolve() for p in ROOT.glob("data/**/*.osm")}
    found |= {p.resolve() for p in ROOT.glob("benchmarks/scenarios/**/*.osm")}
    found |= {p.resolve() for p in ROOT.glob("tests/**/*.osm*")}
    assert found == {p.resolve() for p in BUNDLED}
    region = (ROOT / "data" / "sample_region" / "region.toml").read_text(encoding="utf-8")
    assert f'path = "../sample/{BUNDLED[0].name}"' in region


# ------------------------------------------------------------------------ comparing
def _edge_set(network: net.StreetNetwork) -> list[tuple[frozenset[int], tuple]]:
    """Each edge as its end ids and its coordinates read from the lower id's end."""
    out = []
    for u, v, geom in zip(network.edge_u, network.edge_v, network.edge_geometry, strict=True):
        a, b = int(network.node_ids[u]), int(network.node_ids[v])
        coords = tuple(map(tuple, np.asarray(geom.coords)))
        if b < a:
            coords = coords[::-1]
        out.append((frozenset((a, b)), coords))
    return sorted(out, key=repr)


def assert_equivalent(ref: net.StreetNetwork, new: net.StreetNetwork) -> None:
    """What the brief asks: same nodes, edges, lengths (1e-6 m), geometries and report."""
    assert set(ref.node_ids.tolist()) == set(new.node_ids.tolist())
    order_ref = np.argsort(ref.node_ids)
    order_new = np.argsort(new.node_ids)
    np.testing.assert_array_equal(ref.node_x[order_ref], new.node_x[order_new])
    np.testing.assert_array_equal(ref.node_y[order_ref], new.node_y[order_new])
    assert _edge_set(ref) == _edge_set(new)
    # lengths, names and road classes per edge, matched by (ends, geometry)
    by_edge = {}
    for i, key in enumerate(_edge_set_keys(ref)):
        by_edge.setdefault(key, []).append(i)
    for j, key in enumerate(_edge_set_keys(new)):
        i = by_edge[key].pop()
        assert abs(ref.edge_length[i] - new.edge_length[j]) <= 1e-6
        assert ref.edge_name[i] == new.edge_name[j]
        assert ref.edge_highway[i] == new.edge_highway[j]
    assert CRS(ref.crs) == CRS(new.crs)
    assert ref.components.to_dict() == new.components.to_dict()
    pd.testing.assert_frame_equal(ref.components.dropped, new.components.dropped)
    got = sorted(
        (int(p), shapely.normalize(g).wkb)
        for p, g in zip(new.dropped_piece, new.dropped_geometry, strict=True)
    )
    want = sorted(
        (int(p), shapely.normalize(g).wkb)
        for p, g in zip(ref.dropped_piece, ref.dropped_geometry, strict=True)
    )
    assert got == want


def _edge_set_keys(network: net.StreetNetwork) -> list[tuple[frozenset[int], bytes]]:
    return [
        (frozenset((int(network.node_ids[u]), int(network.node_ids[v]))), shapely.normalize(g).wkb)
        for u, v, g in zip(network.edge_u, network.edge_v, network.edge_geometry, strict=True)
    ]


def both_ways(path: Path) -> tuple[_osmread.OsmData, net.StreetNetwork, pd.DataFrame]:
    new = _osmread.read_osm(path)
    ref = net.build_network(net.load_graph(path))
    ref_pois = pois.records_from_osm_xml_osmnx(path)
    return new, ref, ref_pois


def assert_same_both_ways(path: Path) -> _osmread.OsmData:
    new, ref, ref_pois = both_ways(path)
    assert new.network is not None and new.pois is not None
    assert_equivalent(ref, new.network)
    # stronger: the very same arrays in the same order (so caches are byte-identical)
    assert_same_network(ref, new.network)
    pd.testing.assert_frame_equal(new.pois, ref_pois)
    return new


@pytest.mark.slow
@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_bundled_file_equal_to_the_osmnx_path(path: Path) -> None:
    new = assert_same_both_ways(path)
    assert new.network.n_edges > 500 and len(new.pois) > 100  # a real file, really compared


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 11])
def test_generated_city_equal_to_the_osmnx_path(seed: int, tmp_path: Path) -> None:
    """The region tests' generated city (tests/region_city.py): parallel ways, spurs, bends."""
    city = write_city_osm(synthetic_network(1500, seed=seed), tmp_path / "city.osm")
    new = assert_same_both_ways(city)
    assert new.network.n_nodes > 1000


def test_small_generated_city_equal_to_the_osmnx_path(tmp_path: Path) -> None:
    city = write_city_osm(synthetic_network(150, seed=5), tmp_path / "city.osm")
    new = assert_same_both_ways(city)
    assert new.network.n_nodes > 100


@pytest.mark.slow
def test_pbf_reads_as_the_xml(tmp_path: Path) -> None:
    """The same data as PBF gives the same network and POIs (osmnx cannot read PBF)."""
    source = BUNDLED[0]
    pbf = tmp_path / "sample.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(source)):
            writer.add(obj)
    a, b = _osmread.read_osm(source), _osmread.read_osm(pbf)
    assert_same_network(a.network, b.network)
    pd.testing.assert_frame_equal(a.pois, b.pois)


# ------------------------------------------------------------------ hand-made files
# A small walk network near 113.90°E 22.50°N (made up for the test, not a real place), 0.001°
# between neighbours:
#
#             8
#           9   7        way 12: the loop 6-7-8-9-6 (footway, no name)
#             6
#             5          way 11: 3-5-6 (residential 乙街)
#   1 - 2 - 3 - 4 - 24   way 10: 1-2-3-4 (footway 甲路), way 19: 4-24 (footway 丁道)
#       |       |
#       20      22       way 13: 2-20-21 motorway (not walkable); way 14: 4-22 access=private
#       21
#
#   60 - 61 - 62         way 15 (footway 丙径): a piece apart from the rest
#   70 - 71 - 72 - 70    way 16: a closed footway touching nothing (a ring)
NODES = {
    1: (113.900, 22.500),
    2: (113.901, 22.500),
    3: (113.902, 22.500),
    4: (113.903, 22.500),
    24: (113.904, 22.500),
    5: (113.902, 22.501),
    6: (113.902, 22.502),
    7: (113.903, 22.503),
    8: (113.902, 22.504),
    9: (113.901, 22.503),
    20: (113.901, 22.499),
    21: (113.901, 22.498),
    22: (113.903, 22.499),
    60: (113.910, 22.510),
    61: (113.911, 22.510),
    62: (113.912, 22.510),
    70: (113.920, 22.520),
    71: (113.921, 22.520),
    72: (113.921, 22.521),
    # POIs and their shapes
    40: (113.905, 22.505),
    41: (113.906, 22.505),
    42: (113.906, 22.506),
    43: (113.905, 22.506),
    44: (113.907, 22.505),
    45: (113.908, 22.505),
    46: (113.908, 22.506),
    47: (113.907, 22.506),
    50: (113.9005, 22.5005),
    51: (113.9006, 22.5006),
    52: (113.9007, 22.5007),
    53: (113.9008, 22.5008),
    54: (113.9009, 22.5009),
}
NODE_TAGS = {
    50: {"amenity": "cafe", "name": "咖啡"},
    51: {"amenity": "bench"},  # street furniture: not a POI
    52: {"building": "commercial"},  # an unnamed building: not a POI
    53: {"shop": "convenience"},  # a POI without a name
    54: {"tourism": "attraction"},  # a tourism value that is not asked for
}
WAYS = [
    (10, [1, 2, 3, 4], {"highway": "footway", "name": "甲路"}),
    (11, [3, 5, 6], {"highway": "residential", "name": "乙街"}),
    (12, [6, 7, 8, 9, 6], {"highway": "footway"}),
    (13, [2, 20, 21], {"highway": "motorway", "name": "高速"}),
    (14, [4, 22], {"highway": "footway", "access": "private"}),
    (19, [4, 24], {"highway": "footway", "name": "丁道"}),
    (15, [60, 61, 62], {"highway": "footway", "name": "丙径"}),
    (16, [70, 71, 72, 70], {"highway": "footway", "name": "环"}),
    (30, [40, 41, 42, 43, 40], {"building": "retail", "shop": "supermarket", "name": "超市"}),
    (91, [44, 45, 46, 47, 44], {}),
]
RELATIONS = [
    (90, [("w", 91, "outer")], {"type": "multipolygon", "amenity": "school", "name": "学校"}),
]


def write_osm(
    path: Path, nodes: dict, ways: list, relations=(), node_tags=None, *, ways_first=False
) -> Path:
    """Write OSM XML by hand (the layout openstreetmap.org exports, or ways before nodes)."""
    from xml.sax.saxutils import quoteattr

    node_tags = node_tags or {}
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']

    def tags(d: dict) -> list[str]:
        return [f"  <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in d.items()]

    node_lines, way_lines = [], []
    for nid, (lon, lat) in nodes.items():
        t = tags(node_tags.get(nid, {}))
        head = f'<node id="{nid}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"'
        node_lines += [head + ">", *t, "</node>"] if t else [head + "/>"]
    for wid, refs, wtags in ways:
        way_lines.append(f'<way id="{wid}" version="1">')
        way_lines += [f'  <nd ref="{r}"/>' for r in refs] + tags(wtags) + ["</way>"]
    lines += way_lines + node_lines if ways_first else node_lines + way_lines
    for rid, members, rtags in relations:
        lines.append(f'<relation id="{rid}" version="1">')
        kinds = {"w": "way", "n": "node", "r": "relation"}
        lines += [
            f'  <member type="{kinds[t]}" ref="{ref}" role="{role}"/>' for t, ref, role in members
        ]
        lines += [*tags(rtags), "</relation>"]
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def small_osm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("osm")
    return write_osm(folder / "small.osm", NODES, WAYS, RELATIONS, NODE_TAGS)


def _utm(ids: list[int], nodes: dict = NODES) -> list[tuple[float, float]]:
    """The nodes in UTM zone 49N (113.9°E lies in 108–114°E), projected independently."""
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True)
    return [to_utm.transform(*nodes[i]) for i in ids]


def _metres(ids: list[int], nodes: dict = NODES) -> float:
    pts = _utm(ids, nodes)
    return sum(math.dist(a, b) for a, b in itertools.pairwise(pts))


def _great_circle_m(ids: list[int]) -> float:
    total = 0.0
    for a, b in itertools.pairwise(ids):
        (lon1, lat1), (lon2, lat2) = NODES[a], NODES[b]
        p1, p2 = math.radians(lat1), math.radians(lat2)
        h = (
            math.sin((p2 - p1) / 2) ** 2
            + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
        )
        total += 2 * math.asin(math.sqrt(h)) * 6_371_009
    return total


def _edges_by_ends(network: net.StreetNetwork) -> dict[frozenset[int], list[int]]:
    out: dict[frozenset[int], list[int]] = {}
    for i, (u, v) in enumerate(zip(network.edge_u, network.edge_v, strict=True)):
        out.setdefault(frozenset((int(network.node_ids[u]), int(network.node_ids[v]))), []).append(
            i
        )
    return out


def test_small_network_worked_by_hand(small_osm: Path) -> None:
    network = _osmread.read_osm(small_osm).network
    assert CRS(network.crs) == CRS("EPSG:32649")
    # 2 and 4 join two streets each (the motorway and the private path are not walkable), 5
    # and 7, 8, 9 too: all merged into longer edges; the ring 70-71-72 has no end: dropped
    assert sorted(network.node_ids.tolist()) == [1, 3, 6, 24]
    edges = _edges_by_ends(network)
    want = {
        frozenset({1, 3}): ([1, 2, 3], "甲路", "footway"),
        frozenset({3, 24}): ([3, 4, 24], "丁道/甲路", "footway"),  # the split street merged
        frozenset({3, 6}): ([3, 5, 6], "乙街", "residential"),
        frozenset({6}): ([6, 7, 8, 9, 6], "", "footway"),  # the loop: one self-loop edge
    }
    assert set(edges) == set(want)
    for ends, (ids, name, highway) in want.items():
        (i,) = edges[ends]
        assert network.edge_name[i] == name and network.edge_highway[i] == highway
        assert abs(network.edge_length[i] - _metres(ids)) <= 1e-6
        coords = np.asarray(network.edge_geometry[i].coords)
        expected = np.array(_utm(ids))
        if not np.allclose(coords, expected, atol=1e-6, rtol=0):
            expected = expected[::-1]
        np.testing.assert_allclose(coords, expected, atol=1e-6, rtol=0)
        # the edge's u is the node at its geometry's start
        start = network.node_ids[network.edge_u[i]]
        np.testing.assert_allclose(coords[0], _utm([int(start)])[0], atol=1e-6, rtol=0)
    report = network.components
    assert (report.kept_nodes, report.kept_edges) == (4, 4)
    assert report.dropped.to_dict(orient="records") == [
        {
            "piece": 0,
            "nodes": 2,
            "edges": 1,
            "length_m": round(_great_circle_m([60, 61, 62]), 1),
            "names": "丙径",
            "example_node": 60,
        }
    ]
    assert network.dropped_piece.tolist() == [0]
    dropped = np.asarray(network.dropped_geometry[0].coords)
    expected = np.array(_utm([60, 61, 62]))
    if not np.allclose(dropped[0], expected[0], atol=1e-6, rtol=0):
        expected = expected[::-1]
    np.testing.assert_allclose(dropped, expected, atol=1e-6, rtol=0)


def test_small_pois_worked_by_hand(small_osm: Path) -> None:
    records = _osmread.read_osm(small_osm).pois
    assert records["id"].tolist() == ["node/50", "node/53", "relation/90", "way/30"]
    assert records["name"].tolist() == ["咖啡", "", "学校", "超市"]
    assert records["kind"].tolist() == [
        "amenity:cafe",
        "shop:convenience",
        "amenity:school",
        "shop:supermarket",
    ]
    # a node is its own point; a square's point inside it is its centre
    lonlat = records[["lon", "lat"]].to_numpy()
    np.testing.assert_array_equal(lonlat[0], NODES[50])
    np.testing.assert_array_equal(lonlat[1], NODES[53])
    np.testing.assert_allclose(lonlat[2], (113.9075, 22.5055), atol=1e-9)
    np.testing.assert_allclose(lonlat[3], (113.9055, 22.5055), atol=1e-9)


def test_small_file_equal_to_the_osmnx_path(small_osm: Path) -> None:
    assert_same_both_ways(small_osm)


def test_unsorted_file_with_negative_ids_equal_to_the_osmnx_path(tmp_path: Path) -> None:
    """Ways before nodes, nodes in no id order, negative ids (an editor's new objects)."""
    renumber = {nid: -nid if nid % 3 == 0 else nid for nid in NODES}
    nodes = {renumber[n]: NODES[n] for n in reversed(list(NODES))}
    ways = [(w, [renumber[r] for r in refs], t) for w, refs, t in WAYS]
    tags = {renumber[n]: t for n, t in NODE_TAGS.items()}
    path = write_osm(tmp_path / "unsorted.osm", nodes, ways, RELATIONS, tags, ways_first=True)
    network = assert_same_both_ways(path).network
    assert sorted(network.node_ids.tolist()) == sorted(renumber[n] for n in (1, 3, 6, 24))


# Parallel streets between two junctions A (1) and B (2), 0.002° apart: a direct way, two
# one-bend ways A-p-B and A-q-B, a street A-r-s-B mapped as two ways (A-r-s first in the
# file, s-B last), and way 105 repeating way 101's nodes (so p joins four edges and is a
# junction of its own). A meets r before q, B meets q before s: the two directions give the
# chains different keys, which osmnx's to_undirected sorts out by re-keying.
PARALLEL_NODES = {
    1: (113.900, 22.500),
    2: (113.902, 22.500),
    3: (113.901, 22.5005),  # p
    4: (113.901, 22.4995),  # q
    5: (113.9005, 22.501),  # r
    6: (113.9015, 22.501),  # s
    7: (113.899, 22.500),  # a dead end west of A
}
PARALLEL_WAYS = [
    (100, [1, 2], {"highway": "footway", "name": "直"}),
    (102, [1, 5, 6], {"highway": "path"}),
    (101, [1, 3, 2], {"highway": "footway", "name": "北"}),
    (103, [1, 4, 2], {"highway": "footway", "name": "南"}),
    (105, [1, 3, 2], {"highway": "footway", "name": "北"}),
    (106, [7, 1], {"highway": "steps"}),
    (107, [6, 2], {"highway": "path"}),
]


def test_parallel_streets_worked_by_hand_and_equal_to_osmnx(tmp_path: Path) -> None:
    path = write_osm(tmp_path / "parallel.osm", PARALLEL_NODES, PARALLEL_WAYS)
    network = assert_same_both_ways(path).network
    assert sorted(network.node_ids.tolist()) == [1, 2, 3, 7]
    edges = _edges_by_ends(network)
    counts = {tuple(sorted(k)): len(v) for k, v in edges.items()}
    # A-B: the direct way, A-q-B and A-r-s-B; A-p and p-B twice each (ways 101 and 105)
    assert counts == {(1, 2): 3, (1, 3): 2, (2, 3): 2, (1, 7): 1}
    lengths = sorted(round(float(network.edge_length[i]), 6) for i in edges[frozenset({1, 2})])
    routes = ([1, 2], [1, 4, 2], [1, 5, 6, 2])
    want = sorted(round(_metres(ids, PARALLEL_NODES), 6) for ids in routes)
    assert lengths == pytest.approx(want, abs=1e-6)
    assert network.components.kept_edges == 8


def test_many_small_pieces_equal_to_osmnx(tmp_path: Path) -> None:
    """The kept component is less than half the graph, so networkx orders its nodes by a
    Python set's iteration (ids 16 apart collide in a small set's table)."""
    nodes, ways = {}, []
    base = 4_000_000_000
    star = [base + 16 * k for k in range(6)]  # a centre and five streets out of it
    nodes[star[0]] = (113.90, 22.50)
    for k, nid in enumerate(star[1:]):
        angle = 2 * math.pi * k / 5
        nodes[nid] = (113.90 + 0.001 * math.cos(angle), 22.50 + 0.001 * math.sin(angle))
        ways.append((900 + k, [star[0], nid], {"highway": "footway", "name": f"星{k}"}))
    for piece in range(5):  # five two-node pieces
        ids = [base + 16 * (8 + piece * 2 + k) for k in range(2)]
        for k, nid in enumerate(ids):
            nodes[nid] = (113.91 + 0.002 * piece + 0.0005 * k, 22.50)
        ways.append((950 + piece, ids, {"highway": "footway", "name": f"段{piece}"}))
    path = write_osm(tmp_path / "pieces.osm", nodes, ways)
    network = assert_same_both_ways(path).network
    assert 2 * network.n_nodes < network.n_nodes + 2 * 5  # kept: under half the nodes
    assert network.n_nodes == 6 and network.n_edges == 5
    assert len(network.components.dropped) == 5
    assert sorted(network.dropped_piece.tolist()) == [0, 1, 2, 3, 4]


def test_missing_node_and_no_walkable_way_are_errors(tmp_path: Path) -> None:
    clipped = write_osm(
        tmp_path / "clipped.osm", {1: (113.9, 22.5)}, [(1, [1, 2], {"highway": "footway"})]
    )
    with pytest.raises(PlannerError, match=r"cannot read OSM XML .*way 1 names node 2"):
        _osmread.read_osm(clipped)
    with pytest.raises(PlannerError, match="cannot read OSM XML"):
        net.load_graph(clipped)  # osmnx fails on it too
    only = write_osm(
        tmp_path / "motorway.osm",
        {1: (113.9, 22.5), 2: (113.901, 22.5)},
        [(1, [1, 2], {"highway": "motorway"})],
    )
    for read in (_osmread.read_osm, net.load_graph):
        with pytest.raises(PlannerError, match="contains no walkable highway ways"):
            read(only)
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><way id='1'>", encoding="utf-8")
    with pytest.raises(PlannerError, match="cannot read OSM XML"):
        _osmread.read_osm(broken)
    with pytest.raises(PlannerError, match="cannot read POIs from"):
        pois.records_from_osm_xml(broken)
    with pytest.raises(PlannerError, match="OSM file not found"):
        _osmread.read_osm(tmp_path / "absent.osm")


def test_polygon_rules_follow_osmnx() -> None:
    from osmnx import features

    ours = {k: (rule, set(values)) for k, (rule, values) in _osmread.POLYGON_FEATURES.items()}
    theirs = {
        k: (d["polygon"], set(d.get("values", set())))
        for k, d in features._POLYGON_FEATURES.items()
    }
    assert ours == theirs
    assert set(features._RELATION_TYPES) == set(_osmread.RELATION_TYPES)


@pytest.mark.parametrize(
    ("lon", "lat"),
    [
        ((113.93, 113.96), (22.53, 22.56)),  # the sample
        ((118.77, 118.79), (32.03, 32.05)),  # Nanjing
        ((-0.2, 0.1), (51.4, 51.6)),  # across the prime meridian
        ((-70.7, -70.5), (-33.5, -33.4)),  # southern hemisphere
        ((113.9, 114.1), (22.5, 22.6)),  # centre on a zone border: geopandas decides
        ((10.0, 11.0), (-0.5, 0.5)),  # centre on the equator: geopandas decides
    ],
)
def test_utm_zone_as_geopandas_estimates(lon: tuple, lat: tuple) -> None:
    import geopandas as gpd

    x, y = np.array(lon), np.array(lat)
    want = gpd.GeoSeries(gpd.points_from_xy(x, y), crs="EPSG:4326").estimate_utm_crs()
    assert _osmread._utm_crs(x, y) == want


# ------------------------------------------------------------------------ the caches
def test_cold_load_fills_both_caches_in_one_pass_without_osmnx(
    small_osm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first network load fills the POI cache too; nothing imports osmnx on the way."""
    src = tmp_path / "small.osm"
    src.write_bytes(small_osm.read_bytes())
    cache = tmp_path / "cache"
    code = (
        "import sys; from pathlib import Path; from planner import _cache;"
        f"n = _cache.load_network_cached(Path({str(src)!r}), Path({str(cache)!r}));"
        "assert 'osmnx' not in sys.modules and 'networkx' not in sys.modules, 'osmnx imported';"
        "print(n.n_nodes)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"
    assert _cache.cache_path(src, cache).is_file()
    assert _cache.poi_cache_path(src, cache).is_file()
    # the POIs now come from the cache: parsing is not called
    calls = []
    real = pois.records_from_osm_xml
    with monkeypatch.context() as m:
        m.setattr(pois, "records_from_osm_xml", lambda path: calls.append(path) or real(path))
        got = _cache.load_pois_cached(src, None, cache_dir=cache)
    assert calls == []
    pd.testing.assert_frame_equal(got, pois.pois_from_osm_xml(src))
    assert_same_network(
        _cache.load_network_cached(src, cache), _osmread.read_osm(small_osm).network
    )

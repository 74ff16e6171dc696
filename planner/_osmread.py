"""Read an OSM file once into the routable walk network and the POI records, without osmnx."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from planner import network as net
from planner import pois as osm_pois
from planner._errors import PlannerError
from planner._i18n import _

__all__ = ["OsmData", "read_osm"]

# What this module reproduces, step by step, is the osmnx path of `planner.network`
# (``graph_from_xml(bidirectional=True, simplify=False, retain_all=True)``, `filter_walkable`,
# ``simplify_graph``, ``project_graph``, `largest_component`, `street_network`,
# `dropped_edges`) and of `planner.pois.poi_records` over ``features_from_xml``. The result is
# the same arrays in the same order, so a cache filled here equals one filled by osmnx. Where
# networkx's container order decides an order (dict insertion, or a Python set's iteration
# for the node order of a small subgraph), the same containers are built the same way here;
# the comments name the networkx/osmnx step each piece follows.

#: osmnx's rules for when a closed way is a polygon (``osmnx.features._POLYGON_FEATURES``,
#: osmnx 2.1), for the POIs only. tests/test_osmread.py checks this copy against osmnx's.
POLYGON_FEATURES: dict[str, tuple[str, frozenset[str]]] = {
    "aeroway": ("blocklist", frozenset({"taxiway"})),
    "amenity": ("all", frozenset()),
    "area": ("all", frozenset()),
    "area:highway": ("all", frozenset()),
    "barrier": (
        "passlist",
        frozenset({"city_wall", "ditch", "hedge", "retaining_wall", "spikes"}),
    ),
    "boundary": ("all", frozenset()),
    "building": ("all", frozenset()),
    "building:part": ("all", frozenset()),
    "craft": ("all", frozenset()),
    "golf": ("all", frozenset()),
    "highway": ("passlist", frozenset({"elevator", "escape", "rest_area", "services"})),
    "historic": ("all", frozenset()),
    "indoor": ("all", frozenset()),
    "landuse": ("all", frozenset()),
    "leisure": ("all", frozenset()),
    "man_made": ("blocklist", frozenset({"cutline", "embankment", "pipeline"})),
    "military": ("all", frozenset()),
    "natural": ("blocklist", frozenset({"arete", "cliff", "coastline", "ridge", "tree_row"})),
    "office": ("all", frozenset()),
    "place": ("all", frozenset()),
    "power": ("passlist", frozenset({"generator", "plant", "substation", "transformer"})),
    "public_transport": ("all", frozenset()),
    "railway": ("passlist", frozenset({"platform", "roundhouse", "station", "turntable"})),
    "ruins": ("all", frozenset()),
    "shop": ("all", frozenset()),
    "tourism": ("all", frozenset()),
    "waterway": ("passlist", frozenset({"boatyard", "dam", "dock", "riverbank"})),
}
#: Relation types osmnx builds feature geometries for.
RELATION_TYPES = frozenset({"boundary", "multipolygon"})
_WGS84 = "epsg:4326"  # osmnx.settings.default_crs


@dataclass
class OsmData:
    """What one read of an OSM file gives."""

    network: net.StreetNetwork | None  # as network.build_network(network.load_graph(path))
    pois: pd.DataFrame | None  # as pois.records_from_osm_xml_osmnx(path)


@dataclass
class _Parsed:
    node_ids: np.ndarray  # int64, every node in file order
    lon: np.ndarray
    lat: np.ndarray
    poi_nodes: list[tuple[int, float, float, dict[str, str]]]
    way_ids: list[int]  # file order, one entry per id (a repeated id keeps its first place)
    way_refs: list[list[int]]
    way_tags: list[dict[str, str]]
    relations: list[tuple[int, dict[str, str], list[tuple[str, int, str]]]]


def _osmium_file(path: Path) -> Any:
    import osmium

    name = path.name.lower()
    if name.endswith(".pbf"):
        fmt = "pbf"
    elif name.endswith((".gz", ".bz2")):
        fmt = "osm." + name.rsplit(".", 1)[1]
    else:
        fmt = "osm"  # osmnx reads any other name as OSM XML
    return osmium.io.File(str(path), fmt)


def _parse(path: Path, *, want_pois: bool) -> _Parsed:
    """Read every node, way and (multipolygon/boundary) relation of the file once."""
    import osmium

    poi_keys = tuple(osm_pois.POI_TAGS)
    ids: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    poi_nodes: list[tuple[int, float, float, dict[str, str]]] = []
    way_pos: dict[int, int] = {}
    way_refs: list[list[int]] = []
    way_tags: list[dict[str, str]] = []
    relations: list[tuple[int, dict[str, str], list[tuple[str, int, str]]]] = []
    node_type, way_type, relation_type = osmium.osm.Node, osmium.osm.Way, osmium.osm.Relation
    for obj in osmium.FileProcessor(_osmium_file(path)):
        if isinstance(obj, node_type):
            loc = obj.location
            ids.append(obj.id)
            lons.append(loc.lon)
            lats.append(loc.lat)
            tags = obj.tags
            if want_pois and tags and any(k in tags for k in poi_keys):
                poi_nodes.append(
                    (obj.id, loc.lon, loc.lat, {t.k: t.v for t in tags if t.k != "geometry"})
                )
        elif isinstance(obj, way_type):
            refs = [n.ref for n in obj.nodes]
            tag_dict = {t.k: t.v for t in obj.tags}
            at = way_pos.setdefault(obj.id, len(way_refs))
            if at == len(way_refs):
                way_refs.append(refs)
                way_tags.append(tag_dict)
            else:  # osmnx keeps a repeated id's first place and last data
                way_refs[at], way_tags[at] = refs, tag_dict
        elif (
            want_pois and isinstance(obj, relation_type) and obj.tags.get("type") in RELATION_TYPES
        ):
            members = [(m.type, m.ref, m.role) for m in obj.members]
            relations.append((obj.id, {t.k: t.v for t in obj.tags}, members))
    return _Parsed(
        node_ids=np.array(ids, dtype=np.int64),
        lon=np.array(lons, dtype=np.float64),
        lat=np.array(lats, dtype=np.float64),
        poi_nodes=poi_nodes,
        way_ids=list(way_pos),
        way_refs=way_refs,
        way_tags=way_tags,
        relations=relations,
    )


def read_osm(path: str | Path, *, network: bool = True, pois: bool = True) -> OsmData:
    """Read an OSM file (XML, or PBF) once into the walk network and the POI records.

    Parameters
    ----------
    path
        OSM XML (``.osm``, also ``.osm.gz``/``.osm.bz2``) or PBF (``.osm.pbf``) file.
    network
        Build the routable network (equal to
        ``planner.network.build_network(planner.network.load_graph(path))``).
    pois
        Build the POI records (equal to ``planner.pois.records_from_osm_xml_osmnx(path)``).

    Returns
    -------
    data
        The network and/or the records (None for what was not asked for).

    Raises
    ------
    planner.PlannerError
        The file is missing or unreadable, has no walkable way, or a walkable way names a
        node the file does not have.
    """
    path = Path(path)
    if not path.is_file():
        raise PlannerError(_("OSM file not found: {path}").format(path=path))
    try:
        parsed = _parse(path, want_pois=pois)
    except Exception as exc:  # pyosmium raises RuntimeError for a malformed file
        if network:
            message = _("cannot read OSM XML {path}: {exc}")
        else:
            message = _("cannot read POIs from {path}: {exc}")
        raise PlannerError(message.format(path=path, exc=exc)) from exc
    return OsmData(
        network=_walk_network(parsed, path) if network else None,
        pois=_poi_records(parsed) if pois else None,
    )


# ----------------------------------------------------------------------- the walk network
@dataclass
class _Edge:
    """A directed edge of the simplified graph: its node path and the way of each segment."""

    path: list[int]  # dense node indices, from the edge's origin
    ways: list[int]  # way index of each segment
    length: float  # osmnx "length": great-circle metres, summed in path order

    def osmid(self, way_ids: list[int]) -> Any:
        unique = {way_ids[w] for w in self.ways}
        return next(iter(unique)) if len(unique) == 1 else frozenset(unique)


def _great_circle(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """osmnx.distance.great_circle, written the same way (same float operations)."""
    y1 = np.deg2rad(lat1)
    y2 = np.deg2rad(lat2)
    delta_y = y2 - y1
    x1 = np.deg2rad(lon1)
    x2 = np.deg2rad(lon2)
    delta_x = x2 - x1
    h = np.sin(delta_y / 2) ** 2 + np.cos(y1) * np.cos(y2) * np.sin(delta_x / 2) ** 2
    h = np.minimum(1, h)
    arc = 2 * np.arcsin(np.sqrt(h))
    return arc * 6_371_009  # osmnx.distance.EARTH_RADIUS_M


def _dense_nodes(p: _Parsed) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unique node ids in file order (first place, last coordinates, as osmnx's dict)."""
    ids = p.node_ids
    uniq, first = np.unique(ids, return_index=True)
    if len(uniq) == len(ids):
        order = np.argsort(ids, kind="stable")
        return ids, p.lon, p.lat, order
    _uniq, last_rev = np.unique(ids[::-1], return_index=True)
    last = len(ids) - 1 - last_rev
    by_file = np.argsort(first, kind="stable")  # dense index -> sorted-unique position
    dense_ids = uniq[by_file]
    lon, lat = p.lon[last][by_file], p.lat[last][by_file]
    return dense_ids, lon, lat, np.argsort(dense_ids, kind="stable")


def _walk_network(p: _Parsed, path: Path) -> net.StreetNetwork:
    ids, lon, lat, sort_order = _dense_nodes(p)
    n_all = len(ids)
    sorted_ids = ids[sort_order]

    # ---- every way's consecutive node pairs, in osmnx's insertion order (graph._add_paths:
    # per way the forward edges, then the reversed ones), to know each directed pair's
    # first insertion (its place in a node's successor dict) and each edge's key
    walkable = np.array([net.is_walkable(t) for t in p.way_tags], dtype=bool)
    refs_list = []
    for refs in p.way_refs:  # consecutive duplicates dropped, as graph._convert_path
        refs_list.append([r for i, r in enumerate(refs) if i == 0 or r != refs[i - 1]])
    counts = np.array([len(r) for r in refs_list], dtype=np.int64)
    flat = np.fromiter((r for refs in refs_list for r in refs), dtype=np.int64, count=counts.sum())
    flat_way = np.repeat(np.arange(len(refs_list)), counts)
    pos = np.searchsorted(sorted_ids, flat)
    pos[pos == n_all] = 0
    found = sorted_ids[pos] == flat if n_all else np.zeros(len(flat), dtype=bool)
    dense = sort_order[pos] if n_all else pos
    missing_way = np.zeros(len(refs_list), dtype=bool)
    np.logical_or.at(missing_way, flat_way[~found], True)
    if (missing_way & walkable).any():
        w = int(np.flatnonzero(missing_way & walkable)[0])
        node = int(flat[(flat_way == w) & ~found][0])
        raise PlannerError(
            _(
                "cannot read OSM XML {path}: way {way} names node {node}, which the file lacks"
                " (an extract clipped without complete ways?)"
            ).format(path=path, way=p.way_ids[w], node=node)
        )
    no_walk = PlannerError(_("{path} contains no walkable highway ways").format(path=path))
    if not walkable.any():
        raise no_walk
    # a way with a missing node breaks osmnx's whole parse; only its walkable ways matter here
    pairs = np.flatnonzero((flat_way[:-1] == flat_way[1:]) & ~missing_way[flat_way[:-1]])
    pw = flat_way[pairs]
    n_pairs = np.maximum(counts - 1, 0)
    base = 2 * (np.cumsum(n_pairs) - n_pairs)  # first sequence number of each way
    start = np.cumsum(counts) - counts
    local = pairs - start[pw]
    a, b = dense[pairs], dense[pairs + 1]
    u = np.concatenate([a, b])
    v = np.concatenate([b, a])
    seq = np.concatenate([base[pw] + local, base[pw] + n_pairs[pw] + local])
    way = np.concatenate([pw, pw])
    order = np.argsort(seq, kind="stable")
    u, v, seq, way = u[order], v[order], seq[order], way[order]
    code = u * n_all + v
    by_code = np.argsort(code, kind="stable")
    c_sorted = code[by_code]
    group_start = np.ones(len(c_sorted), dtype=bool)
    group_start[1:] = c_sorted[1:] != c_sorted[:-1]
    group_id = np.cumsum(group_start) - 1
    first_index = np.flatnonzero(group_start)
    key = np.empty(len(code), dtype=np.int64)
    key[by_code] = np.arange(len(code)) - first_index[group_id]  # networkx new_edge_key
    first_seq = np.empty(len(code), dtype=np.int64)
    first_seq[by_code] = seq[by_code][first_index[group_id]]

    # ---- the walkable edges (filter_walkable), ordered as each node's successor dict
    keep = walkable[way]
    u, v, key, first_seq, way = u[keep], v[keep], key[keep], first_seq[keep], way[keep]
    if not len(u):  # walkable ways of a single node each: no edge (filter_walkable)
        raise no_walk
    order = np.lexsort((key, first_seq, u))
    u, v, key, way = u[order], v[order], key[order], way[order]
    length = _great_circle(lat[u], lon[u], lat[v], lon[v])
    out_count = np.bincount(u, minlength=n_all)
    new_pair = np.ones(len(u), dtype=bool)
    new_pair[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    distinct = np.bincount(u[new_pair], minlength=n_all)
    # simplification._is_endpoint on a graph where every edge runs both ways: a node is
    # interstitial when it has exactly two edges, to two different neighbours
    interstitial = (out_count == 2) & (distinct == 2)
    endpoint = (out_count > 0) & ~interstitial

    ul, vl, kl, wl, ll = u.tolist(), v.tolist(), key.tolist(), way.tolist(), length.tolist()
    nb: dict[int, list[tuple[int, int, float]]] = {}  # interstitial: (neighbour, way, length)
    succ0: dict[int, dict[int, dict[int, _Edge]]] = {}  # endpoint successors before merging
    inter_l = interstitial.tolist()
    for i, node in enumerate(ul):
        if inter_l[node]:
            nb.setdefault(node, []).append((vl[i], wl[i], ll[i]))
        else:
            succ0.setdefault(node, {}).setdefault(vl[i], {})[kl[i]] = _Edge(
                [node, vl[i]], [wl[i]], ll[i]
            )

    # ---- simplify_graph: one new edge per chain of interstitial nodes from each endpoint
    succ: dict[int, dict[int, dict[int, _Edge]]] = {}
    for node in sorted(succ0):  # the simplified graph's node order (file order)
        direct = succ0[node]
        s: dict[int, dict[int, _Edge]] = {m: kd for m, kd in direct.items() if not inter_l[m]}
        for m, kd in direct.items():
            if inter_l[m]:
                edge = _chain(node, m, kd, nb, inter_l)
                target = s.setdefault(edge.path[-1], {})
                k = len(target)
                while k in target:
                    k += 1
                target[k] = edge
        succ[node] = s
    # rings (components without an endpoint) never enter `succ`: simplification drops them
    if not succ:
        raise no_walk

    # ---- project_graph: nodes in the order graph_from_gdfs meets them, in UTM
    d_order: list[int] = []
    seen: set[int] = set()
    for node, s in succ.items():
        for n in (node, *s):
            if n not in seen:
                seen.add(n)
                d_order.append(n)
    end_idx = np.flatnonzero(endpoint)
    crs = _utm_crs(lon[end_idx], lat[end_idx])
    from pyproj import CRS, Transformer

    used = np.flatnonzero(out_count > 0)
    x = np.full(n_all, np.nan)
    y = np.full(n_all, np.nan)
    tx = Transformer.from_crs(CRS.from_user_input(_WGS84), crs, always_xy=True)
    x[used], y[used] = tx.transform(lon[used], lat[used])

    graph = _Graph(d_order, succ, ids.tolist(), x.tolist(), y.tolist(), p.way_ids, p.way_tags)
    return graph.routable(crs)


def _chain(
    start: int,
    first: int,
    keydict: dict[int, _Edge],
    nb: dict[int, list[tuple[int, int, float]]],
    inter_l: list[bool],
) -> _Edge:
    """simplification._build_path from endpoint `start` through interstitial `first`."""
    seg = next(iter(keydict.values()))  # the one edge start -> first
    path, ways, lengths = [start, first], [seg.ways[0]], [seg.length]
    prev, cur = start, first
    while inter_l[cur]:
        (n1, w1, l1), (n2, w2, l2) = nb[cur]
        nxt, w, ln = (n2, w2, l2) if n1 == prev else (n1, w1, l1)
        path.append(nxt)
        ways.append(w)
        lengths.append(ln)
        prev, cur = cur, nxt
        if nxt == start:  # back at the start: a self-loop
            break
    return _Edge(path, ways, sum(lengths))


def _utm_crs(lon: np.ndarray, lat: np.ndarray) -> Any:
    """The CRS osmnx.projection.project_gdf picks for these node coordinates.

    That is geopandas' ``estimate_utm_crs`` (a query of PROJ's database, ~0.15 s) unless the
    box's centre lies well inside one UTM zone, where the zone is computed directly (the
    WGS 84 UTM zones' areas of use are the 6-degree bands; tests/test_osmread.py checks).
    """
    import geopandas as gpd
    from pyproj import CRS

    if lat.min() < -80 or lat.max() > 84:
        centroid = shapely.union_all(shapely.points(lon, lat)).centroid
        if centroid.y < -80:
            return gpd.GeoSeries(crs="epsg:32761").crs
        if centroid.y > 84:
            return gpd.GeoSeries(crs="epsg:32661").crs
    x_center = float(np.mean([lon.min(), lon.max()]))
    y_center = float(np.mean([lat.min(), lat.max()]))
    band = (x_center + 180.0) / 6.0
    if 1e-6 < band - np.floor(band) < 1 - 1e-6 and 1e-6 < abs(y_center) < 79.0:
        zone = int(np.floor(band)) + 1
        return CRS.from_epsg((32600 if y_center > 0 else 32700) + zone)
    corners = gpd.points_from_xy([lon.min(), lon.max()], [lat.min(), lat.max()])
    return gpd.GeoSeries(corners, crs=_WGS84).estimate_utm_crs()


class _Graph:
    """The projected, simplified walk graph (osmnx's after ``project_graph``), as dicts."""

    def __init__(
        self,
        order: list[int],
        succ: dict[int, dict[int, dict[int, _Edge]]],
        ids: list[int],
        x: list[float],
        y: list[float],
        way_ids: list[int],
        way_tags: list[dict[str, str]],
    ) -> None:
        self.order, self.succ, self.ids, self.x, self.y = order, succ, ids, x, y
        self.way_ids, self.way_tags = way_ids, way_tags
        self.back = {ids[n]: n for n in order}  # OSM id -> dense index

    # networkx's node-set views: G.subgraph(nodes) iterates the set it builds from `nodes`
    # (a Python set of OSM ids) when that set is less than half the graph
    def _subgraph_order(self, nodes: Iterable[int]) -> list[int]:
        ids = self.ids
        chosen = set(ids[n] for n in nodes)  # built in the iteration order of `nodes`
        if 2 * len(chosen) < len(self.order):
            back = self.back
            return [back[i] for i in chosen]
        return [n for n in self.order if ids[n] in chosen]

    def _components(self) -> list[list[int]]:
        """weakly_connected_components: each as its BFS set's iteration order (OSM ids)."""
        ids = self.ids
        pred: dict[int, list[int]] = {}
        for node in sorted(self.succ):  # graph_from_gdfs adds edges in the old node order
            for m in self.succ[node]:
                lst = pred.setdefault(m, [])
                if not lst or lst[-1] != node:
                    lst.append(node)
        back = self.back
        seen: set[int] = set()
        out = []
        for v in self.order:
            if ids[v] in seen:
                continue
            comp = {ids[v]}  # networkx _plain_bfs
            level = [v]
            while level:
                this, level = level, []
                for w in this:
                    for z in (*self.succ[w], *pred.get(w, ())):
                        if ids[z] not in comp:
                            comp.add(ids[z])
                            level.append(z)
            seen.update(comp)
            out.append([back[i] for i in comp])
        return out

    def _names(self, edge: _Edge, tag: str) -> list[str]:
        """planner.network._values of the merged edge attribute."""
        values = {self.way_tags[w][tag] for w in edge.ways if tag in self.way_tags[w]}
        return sorted(values)

    def routable(self, crs: Any) -> net.StreetNetwork:
        """largest_component + street_network + dropped_edges."""
        ids = self.ids
        comps = sorted(self._components(), key=lambda c: (-len(c), min(ids[n] for n in c)))
        rows = []
        for piece, comp in enumerate(comps[1:]):
            names: set[str] = set()
            total = 0.0
            n_edges = 0
            for node in self._subgraph_order(comp):
                for kd in self.succ[node].values():
                    for edge in kd.values():
                        names.update(self._names(edge, "name"))
                        total += edge.length
                        n_edges += 1
            rows.append(
                {
                    "piece": piece,
                    "nodes": len(comp),
                    "edges": n_edges // 2,
                    "length_m": round(total / 2, 1),
                    "names": "、".join(sorted(names)),
                    "example_node": int(min(ids[n] for n in comp)),
                }
            )
        kept = self._subgraph_order(comps[0])
        kept_set = set(kept)
        report = net.ComponentReport(
            kept_nodes=len(kept),
            kept_edges=sum(len(kd) for n in kept for kd in self.succ[n].values()) // 2,
            dropped=pd.DataFrame(
                rows, columns=["piece", "nodes", "edges", "length_m", "names", "example_node"]
            ),
        )
        network = self._street_network(kept, crs, report)
        if rows:
            rest = self._subgraph_order([n for n in self.order if n not in kept_set])
            dropped = self._street_network(rest, crs, None)
            piece_of = {}
            for piece, comp in enumerate(comps[1:]):
                piece_of.update(dict.fromkeys((ids[n] for n in comp), piece))
            network.dropped_geometry = dropped.edge_geometry
            network.dropped_piece = np.array(
                [piece_of[int(i)] for i in dropped.node_ids[dropped.edge_u]], dtype=np.int64
            )
        return network

    def _coords(self, edge: _Edge) -> list[tuple[float, float]]:
        return [(self.x[n], self.y[n]) for n in edge.path]

    def _same(self, e1: _Edge, e2: _Edge) -> bool:
        """convert._is_duplicate_edge: same osmid(s), same geometry either way round."""
        if e1.osmid(self.way_ids) != e2.osmid(self.way_ids):
            return False
        c1, c2 = self._coords(e1), self._coords(e2)
        return c2 == c1 or c2 == c1[::-1]

    def _street_network(
        self, order: list[int], crs: Any, report: net.ComponentReport | None
    ) -> net.StreetNetwork:
        """convert.to_undirected of the subgraph on `order`, then network.street_network."""
        ids, succ = self.ids, self.succ
        at = {n: i for i, n in enumerate(order)}
        # _update_edge_keys: a pair's u->v and v->u edges of one key that are different
        # streets get a new key for u->v (u first in the edge list)
        pairs: dict[tuple[int, int], tuple[dict[int, _Edge], dict[int, _Edge]]] = {}
        rekey: list[tuple[str, tuple[int, int, int]]] = []
        for n in order:
            for m, fwd in succ[n].items():
                if m == n or at[m] < at[n]:
                    continue
                bwd = succ[m][n]
                if len(fwd) == 1 and len(bwd) == 1 and fwd.keys() == bwd.keys():
                    continue
                pairs[(n, m)] = (dict(fwd), dict(bwd))
                lo, hi = sorted((str(ids[n]), str(ids[m])))
                for k in fwd:
                    if k in bwd:
                        e1, e2 = fwd[k], bwd[k]
                        if self._coords(e2) not in (self._coords(e1), self._coords(e1)[::-1]):
                            rekey.append((f"{lo}_{hi}_{k}", (ids[n], ids[m], k)))
        back = self.back
        for iu, iv, k in set(t for _s, t in sorted(rekey, key=lambda r: r[0])):
            fwd, bwd = pairs[(back[iu], back[iv])]
            new = max([*fwd, *bwd]) + 1
            fwd[new] = fwd.pop(k)

        us: list[int] = []
        vs: list[int] = []
        edges: list[_Edge] = []
        for n in order:
            for m, kd in succ[n].items():
                if m != n and at[m] < at[n]:
                    continue
                if m == n:
                    merged = dict(kd)
                elif (n, m) in pairs:
                    fwd, bwd = pairs[(n, m)]
                    merged = dict(fwd)
                    merged.update(bwd)  # the later direction's data wins, in place
                else:
                    merged = dict(succ[m][n])
                keys = list(merged)
                if len(keys) > 1:  # to_undirected's duplicate removal
                    flagged: set[int] = set()
                    for k1 in keys:
                        if k1 in flagged:
                            continue
                        for k2 in keys:
                            if k2 != k1 and self._same(merged[k1], merged[k2]):
                                flagged.add(k2)
                    keys = [k for k in keys if k not in flagged]
                for k in keys:
                    us.append(at[n])
                    vs.append(at[m])
                    edges.append(merged[k])
        # street_network: name each edge's ends by its geometry's start
        x, y = self.x, self.y
        coords: list[tuple[float, float]] = []
        counts = []
        for i, edge in enumerate(edges):
            s = edge.path[0]
            sx, sy = x[s], y[s]
            nu, nv = order[us[i]], order[vs[i]]
            du = (sx - x[nu]) ** 2 + (sy - y[nu]) ** 2
            dv = (sx - x[nv]) ** 2 + (sy - y[nv]) ** 2
            if dv < du:
                us[i], vs[i] = vs[i], us[i]
            coords.extend((x[n], y[n]) for n in edge.path)
            counts.append(len(edge.path))
        if edges:
            geometry = np.asarray(
                shapely.linestrings(
                    np.array(coords, dtype=float),
                    indices=np.repeat(np.arange(len(edges)), counts),
                ),
                dtype=object,
            )
        else:
            geometry = np.empty(0, dtype=object)
        return net.StreetNetwork(
            crs=crs,
            node_ids=np.array([ids[n] for n in order], dtype=np.int64),
            node_x=np.array([x[n] for n in order], dtype=float),
            node_y=np.array([y[n] for n in order], dtype=float),
            edge_u=np.array(us, dtype=np.int64),
            edge_v=np.array(vs, dtype=np.int64),
            edge_length=shapely.length(geometry).astype(float),
            edge_geometry=geometry,
            edge_name=np.array(["/".join(self._names(e, "name")) for e in edges], dtype=object),
            edge_highway=np.array(
                ["/".join(self._names(e, "highway")) for e in edges], dtype=object
            ),
            components=report,
        )


# ---------------------------------------------------------------------------------- POIs
def _matches(tags: dict[str, str]) -> bool:
    """osmnx.features._filter_features's tag test with `planner.pois.POI_TAGS`."""
    for key, want in osm_pois.POI_TAGS.items():
        if key not in tags:
            continue
        if want is True or (isinstance(want, list) and tags[key] in want):
            return True
        if isinstance(want, str) and tags[key] == want:
            return True
    return False


def _way_geometry(refs: list[int], tags: dict[str, str], coords: dict[int, Any]) -> Any:
    """osmnx.features._build_way_geometry."""
    polygon = False
    if refs and refs[0] == refs[-1] and tags.get("area") != "no":
        for tag in tags.keys() & POLYGON_FEATURES.keys():
            rule, values = POLYGON_FEATURES[tag]
            if (
                rule == "all"
                or (rule == "passlist" and tags[tag] in values)
                or (rule == "blocklist" and tags[tag] not in values)
            ):
                polygon = True
                break
    kind = shapely.Polygon if polygon else shapely.LineString
    try:
        return kind([coords[r] for r in refs])
    except (shapely.errors.GEOSException, KeyError, ValueError):
        return kind()


def _relation_geometry(
    members: list[tuple[str, int, str]], way_geometry: Any
) -> shapely.Polygon | shapely.MultiPolygon:
    """osmnx.features._build_relation_geometry and _remove_polygon_holes."""
    from shapely.ops import linemerge, polygonize, unary_union

    outer_lines, inner_lines, outer, inner = [], [], [], []
    for kind, ref, role in members:
        if kind != "w":
            continue
        geom = way_geometry(ref)
        if geom is None:
            return shapely.Polygon()
        if role == "outer" and geom.geom_type == "LineString":
            outer_lines.append(geom)
        elif role == "outer" and geom.geom_type == "Polygon":
            outer.append(geom)
        elif role == "inner" and geom.geom_type == "LineString":
            inner_lines.append(geom)
        elif role == "inner" and geom.geom_type == "Polygon":
            inner.append(geom)
    for lines, polys in ((outer_lines, outer), (inner_lines, inner)):
        merged = linemerge(lines)
        if merged.geom_type == "LineString":
            merged = shapely.MultiLineString([merged])
        for line in merged.geoms:
            polys += polygonize(line)
    if not inner:
        geometry = unary_union(outer)
    else:
        with_holes = []
        for shell in outer:
            shapely.prepare(shell)
            holes = [hole for hole in inner if shell.contains(hole)]
            with_holes.append(shell.difference(unary_union(holes)))
        geometry = unary_union(with_holes)
    if isinstance(geometry, shapely.Polygon | shapely.MultiPolygon):
        return geometry
    return shapely.Polygon()


def _poi_records(p: _Parsed) -> pd.DataFrame:
    """planner.pois.poi_records(osmnx.features_from_xml(path, tags=POI_TAGS))."""
    coords: dict[int, tuple[float, float]] = dict(
        zip(p.node_ids.tolist(), zip(p.lon.tolist(), p.lat.tolist(), strict=True), strict=True)
    )
    rows: list[tuple[str, int, dict[str, str]]] = []
    points: list[Any] = []
    for osm_id, x, y, tags in p.poi_nodes:
        if _matches(tags):
            rows.append(("node", osm_id, tags))
            points.append((x, y))
    shapes: list[Any] = []
    shape_rows: list[tuple[str, int, dict[str, str]]] = []
    for osm_id, refs, tags in zip(p.way_ids, p.way_refs, p.way_tags, strict=True):
        if _matches(tags):
            shape_rows.append(("way", osm_id, tags))
            shapes.append(_way_geometry(refs, tags, coords))
    if p.relations:
        way_at = {w: i for i, w in enumerate(p.way_ids)}
        built: dict[int, Any] = {}

        def way_geometry(ref: int) -> Any:
            if ref not in way_at:
                return None
            if ref not in built:
                i = way_at[ref]
                built[ref] = _way_geometry(p.way_refs[i], p.way_tags[i], coords)
            return built[ref]

        for osm_id, tags, members in p.relations:
            tags = {k: v for k, v in tags.items() if k != "geometry"}
            if _matches(tags):
                shape_rows.append(("relation", osm_id, tags))
                shapes.append(_relation_geometry(members, way_geometry))
    if shapes:
        geoms = np.array(shapes, dtype=object)
        ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        pts = shapely.point_on_surface(shapely.make_valid(geoms[ok]))
        shape_rows = [r for r, keep in zip(shape_rows, ok, strict=True) if keep]
        rows += shape_rows
        points += list(zip(shapely.get_x(pts).tolist(), shapely.get_y(pts).tolist(), strict=True))
    # poi_records: street furniture and unnamed buildings left out, sorted by element and id
    out = []
    kinds = osm_pois._KIND_KEYS
    for (element, osm_id, tags), (x, y) in zip(rows, points, strict=True):
        building_only = not any(k in tags for k in kinds if k != "building")
        if tags.get("amenity") in osm_pois.EXCLUDED_AMENITIES and not any(
            k in tags for k in ("shop", "office", "craft")
        ):
            continue
        if building_only and "name" not in tags:
            continue
        kind = next((f"{k}:{tags[k]}" for k in kinds if tags.get(k)), "other")
        out.append((element, osm_id, tags.get("name", ""), kind, x, y))
    if not out:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in osm_pois.RECORD_COLUMNS})
    out.sort(key=lambda r: (r[0], r[1]))
    return pd.DataFrame(
        {
            "id": [f"{el}/{osm_id}" for el, osm_id, *_rest in out],
            "name": [r[2] for r in out],
            "kind": [r[3] for r in out],
            "lon": np.array([r[4] for r in out], dtype=float),
            "lat": np.array([r[5] for r in out], dtype=float),
        }
    )

"""Load a walkable street network and turn it into compact arrays for routing."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from planner._errors import NetworkUnavailableError, PlannerError
from planner._i18n import _
from planner._osm import osmnx_settings, overpass_session
from planner.io import write_atomic

if TYPE_CHECKING:
    import networkx as nx

# Tags the walk filter needs, on top of osmnx's default useful way tags.
_WALK_TAGS = ["foot", "sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right"]

# The same exclusions as osmnx's "walk" network type (the Overpass filter built by the private
# osmnx._overpass._get_network_filter("walk"), default access setting included), expressed as
# (tag, regex) pairs in its order; a way is dropped when re.search(regex, value) matches,
# exactly as Overpass's `!~` operator does. Written out rather than parsed from osmnx at import
# time, so a change of osmnx's filter is a reviewed change here (tests/test_osmnx_glue.py
# fails until this copy follows it) and never a silent change of the walk network.
WALK_EXCLUDE: tuple[tuple[str, str], ...] = (
    ("area", "yes"),
    ("access", "private"),
    (
        "highway",
        "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|proposed|"
        "raceway|razed|rest_area|services",
    ),
    ("foot", "no"),
    ("service", "private"),
    ("sidewalk", "separate"),
    ("sidewalk:both", "separate"),
    ("sidewalk:left", "separate"),
    ("sidewalk:right", "separate"),
)


@dataclass(frozen=True)
class ComponentReport:
    """What the connectivity check kept and dropped."""

    kept_nodes: int
    kept_edges: int
    dropped: pd.DataFrame  # one row per dropped component: nodes, edges, length_m, names

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description."""
        return {
            "kept_nodes": self.kept_nodes,
            "kept_edges": self.kept_edges,
            "dropped_components": len(self.dropped),
            "dropped_nodes": int(self.dropped["nodes"].sum()) if len(self.dropped) else 0,
            "dropped": self.dropped.to_dict(orient="records"),
        }


@dataclass
class StreetNetwork:
    """An undirected walkable street network as arrays, in a projected (metric) CRS.

    Every edge runs from ``edge_u`` (the node at the start of its geometry) to ``edge_v``
    (the node at its end); ``edge_length`` is the length of its geometry in metres.
    """

    crs: Any
    node_ids: np.ndarray  # OSM node id of each node index
    node_x: np.ndarray
    node_y: np.ndarray
    edge_u: np.ndarray  # int64 node index at geometry start
    edge_v: np.ndarray  # int64 node index at geometry end
    edge_length: np.ndarray  # float64 metres
    edge_geometry: np.ndarray  # shapely LineStrings (projected)
    edge_name: np.ndarray  # str ("" when unnamed)
    edge_highway: np.ndarray  # str
    components: ComponentReport | None = None
    # streets of the dropped components (not routed), kept to tell which points skip them
    dropped_geometry: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    dropped_piece: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    _csr: sparse.csr_matrix | None = field(default=None, repr=False)
    _tree: shapely.STRtree | None = field(default=None, repr=False)
    _dropped_tree: shapely.STRtree | None = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        """Number of undirected edges."""
        return len(self.edge_u)

    @property
    def csr(self) -> sparse.csr_matrix:
        """Symmetric node-to-node adjacency with the shortest parallel edge's length."""
        if self._csr is None:
            self._csr = adjacency(self.n_nodes, self.edge_u, self.edge_v, self.edge_length)
        return self._csr

    @property
    def tree(self) -> shapely.STRtree:
        """Spatial index over edge geometries."""
        if self._tree is None:
            self._tree = shapely.STRtree(self.edge_geometry)
        return self._tree

    @property
    def dropped_tree(self) -> shapely.STRtree:
        """Spatial index over the dropped components' street geometries."""
        if self._dropped_tree is None:
            self._dropped_tree = shapely.STRtree(self.dropped_geometry)
        return self._dropped_tree

    def dropped_gdf(self) -> gpd.GeoDataFrame:
        """Return the dropped components' streets (``piece`` id each) in the network CRS."""
        return gpd.GeoDataFrame(
            {"piece": np.asarray(self.dropped_piece, dtype=np.int64)},
            geometry=np.asarray(self.dropped_geometry, dtype=object),
            crs=self.crs,
        )

    def edges_gdf(self) -> gpd.GeoDataFrame:
        """Return the edges as a GeoDataFrame in the network CRS."""
        return gpd.GeoDataFrame(
            {
                "u": self.node_ids[self.edge_u],
                "v": self.node_ids[self.edge_v],
                "length": self.edge_length,
                "name": self.edge_name,
                "highway": self.edge_highway,
            },
            geometry=self.edge_geometry,
            crs=self.crs,
        )


def adjacency(
    n_nodes: int, u: np.ndarray, v: np.ndarray, weight: np.ndarray, *, symmetric: bool = True
) -> sparse.csr_matrix:
    """Build a CSR adjacency matrix keeping the minimum weight of parallel edges.

    scipy sums duplicate entries when it builds a sparse matrix; shortest paths need the
    minimum, so duplicates are reduced here first. Self-loops are dropped (they never
    shorten a path). Zero weights are kept as explicit entries (scipy's csgraph treats
    explicit zeros in a sparse matrix as edges).

    Parameters
    ----------
    n_nodes
        Matrix size.
    u, v
        Edge endpoints (node indices).
    weight
        Edge weights.
    symmetric
        If True, add every edge in both directions.

    Returns
    -------
    csr
        The adjacency matrix.
    """
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    w = np.asarray(weight, dtype=np.float64)
    if symmetric:
        u, v, w = np.concatenate([u, v]), np.concatenate([v, u]), np.concatenate([w, w])
    keep = u != v
    u, v, w = u[keep], v[keep], w[keep]
    order = np.lexsort((w, v, u))
    u, v, w = u[order], v[order], w[order]
    first = np.ones(len(u), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, w = u[first], v[first], w[first]  # sorted by weight within a pair: first is min
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.add.at(indptr, u + 1, 1)
    np.cumsum(indptr, out=indptr)
    return sparse.csr_matrix((w, v, indptr), shape=(n_nodes, n_nodes))


@contextlib.contextmanager
def _walk_tags() -> Iterator[None]:
    """Temporarily make osmnx keep the way tags the walk filter reads."""
    import osmnx as ox

    saved = list(ox.settings.useful_tags_way)
    with osmnx_settings(useful_tags_way=saved + [t for t in _WALK_TAGS if t not in saved]):
        yield


def _values(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, list | tuple | set):
        # osmnx merges the tags of simplified edges through a set: sorted, so the joined text
        # (and the main road class, the first one) does not depend on PYTHONHASHSEED
        return sorted(str(x) for x in value)
    return [str(value)]


def is_walkable(tags: dict[str, Any]) -> bool:
    """Tell whether an OSM way with these tags belongs to the walk network.

    Parameters
    ----------
    tags
        The way's tags (an osmnx edge attribute dict works).

    Returns
    -------
    walkable
        True when the way has a ``highway`` tag and no exclusion in `WALK_EXCLUDE` matches.
    """
    if not _values(tags.get("highway")):
        return False
    for tag, pattern in WALK_EXCLUDE:
        if any(re.search(pattern, value) for value in _values(tags.get(tag))):
            return False
    return True


def filter_walkable(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Keep only walkable highway edges and the nodes they touch.

    Parameters
    ----------
    G
        An unsimplified graph as built by osmnx from OSM data.

    Returns
    -------
    G
        A copy with non-walkable edges (and then isolated nodes) removed.
    """
    G = G.copy()
    drop = [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True) if not is_walkable(d)]
    G.remove_edges_from(drop)
    G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    return G


def graph_from_osm_xml(path: str | Path) -> nx.MultiDiGraph:
    """Load the walk network from an OSM XML file on disk.

    osmnx's ``graph_from_xml`` turns every way into edges (building outlines, landuse…), so
    the graph is built unsimplified, filtered with `is_walkable`, then simplified. Every
    edge is walkable in both directions.

    The planner's own loads of an OSM file (`planner._cache.load_network_cached`) read it in
    one pyosmium pass instead (`planner._osmread`, no osmnx), which gives the same
    `build_network` result array for array; this osmnx path stays the reference the tests
    compare it with, and reads what a user passes here directly.

    Parameters
    ----------
    path
        OSM XML file (as exported by openstreetmap.org, Overpass or osmium).

    Returns
    -------
    G
        Simplified, unprojected (EPSG:4326) walk graph, all components kept.
    """
    import osmnx as ox  # here: only a first parse or a download needs osmnx

    path = Path(path)
    if not path.is_file():
        raise PlannerError(_("OSM file not found: {path}").format(path=path))
    with _walk_tags():
        try:
            G = ox.graph_from_xml(path, bidirectional=True, simplify=False, retain_all=True)
        except Exception as exc:
            raise PlannerError(
                _("cannot read OSM XML {path}: {exc}").format(path=path, exc=exc)
            ) from exc
    G = filter_walkable(G)
    if len(G) == 0:
        raise PlannerError(_("{path} contains no walkable highway ways").format(path=path))
    return ox.simplify_graph(G)


def graph_from_overpass(
    bbox: tuple[float, float, float, float],
    cache_folder: str | Path,
    progress: Callable[[str], None] = lambda _text: None,
    url: str | None = None,
) -> nx.MultiDiGraph:
    """Download the walk network inside a bounding box with osmnx (Overpass), cached.

    Parameters
    ----------
    bbox
        (west, south, east, north) in WGS-84 degrees.
    cache_folder
        Folder for osmnx's HTTP response cache.
    progress
        Receives a line each time Overpass answers that it is busy.
    url
        The Overpass API (`planner._osm.overpass_url`).

    Returns
    -------
    G
        Simplified, unprojected walk graph, all components kept.

    Raises
    ------
    NetworkUnavailableError
        Overpass cannot be reached, is busy, answered an error or a partial answer
        (`planner._osm.overpass_session`), or had no walkable street in the box.
    """
    import osmnx as ox  # here: only a first parse or a download needs osmnx

    shown = "(" + ", ".join(f"{v:.5f}" for v in bbox) + ")"
    what = _("the street network")
    with overpass_session(str(cache_folder), what, progress, url), _walk_tags():
        try:
            # a street crossing the box's edge is kept whole (its outside end too), so the
            # part of it inside the box is not lost to a walk near the edge
            G = ox.graph_from_bbox(
                bbox, network_type="walk", simplify=True, retain_all=True, truncate_by_edge=True
            )
        except NetworkUnavailableError:
            raise
        except ox._errors.InsufficientResponseError as exc:
            raise NetworkUnavailableError(
                _("Overpass returned no walkable streets for bbox {bbox} ({exc})").format(
                    bbox=shown, exc=" ".join(str(exc).split())
                )
            ) from exc
        except Exception as exc:
            raise NetworkUnavailableError(
                _("could not download the street network from Overpass ({kind}: {exc})").format(
                    kind=type(exc).__name__, exc=" ".join(str(exc).split())[:300]
                )
            ) from exc
    return G


def largest_component(G: nx.MultiDiGraph) -> tuple[nx.MultiDiGraph, ComponentReport]:
    """Keep the largest connected component and describe what is dropped.

    Parameters
    ----------
    G
        A walk graph (projected or not).

    Returns
    -------
    G, report
        The largest weakly connected component, and a report naming dropped components
        (their size, total length and street names). Components are ordered by size, then
        by smallest node id, so ``piece`` (the row's position in ``report.dropped``) is the
        same on every load of the same data.
    """
    import networkx as nx

    components = sorted(nx.weakly_connected_components(G), key=lambda c: (-len(c), min(c)))
    rows = []
    for piece, nodes in enumerate(components[1:]):
        sub = G.subgraph(nodes)
        names: set[str] = set()
        length = 0.0
        for _u, _v, d in sub.edges(data=True):
            names.update(_values(d.get("name")))
            length += float(d.get("length", 0.0))
        rows.append(
            {
                "piece": piece,
                "nodes": len(nodes),
                "edges": sub.number_of_edges() // 2,  # both directions are stored
                "length_m": round(length / 2, 1),
                "names": "、".join(sorted(names)),
                "example_node": int(min(nodes)),
            }
        )
    kept = G.subgraph(components[0]).copy() if components else G.copy()
    report = ComponentReport(
        kept_nodes=kept.number_of_nodes(),
        kept_edges=kept.number_of_edges() // 2,
        dropped=pd.DataFrame(
            rows, columns=["piece", "nodes", "edges", "length_m", "names", "example_node"]
        ),
    )
    return kept, report


def dropped_edges(
    G: nx.MultiDiGraph, kept: nx.MultiDiGraph, report: ComponentReport
) -> tuple[np.ndarray, np.ndarray]:
    """Street geometries of the components `largest_component` dropped, with their piece id.

    Parameters
    ----------
    G
        The projected walk graph before dropping.
    kept
        Its largest component (from `largest_component`).
    report
        The matching report; a piece's id is its row position in ``report.dropped``.

    Returns
    -------
    geometry, piece
        One projected LineString per undirected dropped edge (reciprocal directed edges
        merged, as in `street_network`) and the int64 piece id of each.
    """
    import networkx as nx

    if not len(report.dropped):
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    rest = G.subgraph([n for n in G.nodes if n not in kept]).copy()
    piece_of_example = {int(n): i for i, n in enumerate(report.dropped["example_node"])}
    node_piece: dict[Any, int] = {}
    for nodes in nx.weakly_connected_components(rest):
        piece = piece_of_example[int(min(nodes))]
        node_piece.update(dict.fromkeys(nodes, piece))
    pieces = street_network(rest)
    edge_piece = np.array([node_piece[n] for n in pieces.node_ids[pieces.edge_u]], dtype=np.int64)
    return pieces.edge_geometry, edge_piece


def routable_network(G: nx.MultiDiGraph) -> StreetNetwork:
    """Keep the largest component of a projected walk graph and convert it to arrays.

    Parameters
    ----------
    G
        Projected walk graph, all components.

    Returns
    -------
    network
        The routable network with its component report and the dropped components'
        streets (``dropped_geometry``, ``dropped_piece``).
    """
    kept, report = largest_component(G)
    network = street_network(kept, report)
    network.dropped_geometry, network.dropped_piece = dropped_edges(G, kept, report)
    return network


def project(G: nx.MultiDiGraph, to_crs: Any = None) -> nx.MultiDiGraph:
    """Project a graph to its local UTM zone (or `to_crs`).

    Parameters
    ----------
    G
        Unprojected graph.
    to_crs
        Target CRS; None picks the UTM zone of the graph's centroid.

    Returns
    -------
    G
        Projected graph.
    """
    import osmnx as ox  # here: only a first parse or a download needs osmnx

    return ox.project_graph(G, to_crs=to_crs)


def street_network(G: nx.MultiDiGraph, components: ComponentReport | None = None) -> StreetNetwork:
    """Convert a projected osmnx-style graph to a `StreetNetwork`.

    Reciprocal directed edges become one undirected edge. Edge length is the projected
    geometry's length, so every distance in the planner is measured in the same metric CRS.

    Parameters
    ----------
    G
        Projected MultiDiGraph or MultiGraph with node ``x``/``y`` and optional edge geometry.
    components
        Connectivity report to attach.

    Returns
    -------
    network
        The arrays.
    """
    import osmnx as ox  # here: only a first parse or a download needs osmnx

    if G.graph.get("crs") is None or gpd.GeoSeries([], crs=G.graph["crs"]).crs.is_geographic:
        raise PlannerError(
            _("street_network needs a projected graph (metres); call project() first")
        )
    Gu = ox.convert.to_undirected(G) if G.is_directed() else G
    node_ids = np.fromiter(Gu.nodes, dtype=np.int64, count=len(Gu))
    index = pd.Index(node_ids)
    node_x = np.array([Gu.nodes[n]["x"] for n in node_ids], dtype=float)
    node_y = np.array([Gu.nodes[n]["y"] for n in node_ids], dtype=float)
    us, vs, geoms, names, highways = [], [], [], [], []
    for u, v, d in Gu.edges(data=True):
        geom = d.get("geometry")
        iu, iv = index.get_loc(u), index.get_loc(v)
        if geom is None:
            geom = shapely.LineString([(node_x[iu], node_y[iu]), (node_x[iv], node_y[iv])])
        else:
            start = shapely.get_point(geom, 0)
            du = (start.x - node_x[iu]) ** 2 + (start.y - node_y[iu]) ** 2
            dv = (start.x - node_x[iv]) ** 2 + (start.y - node_y[iv]) ** 2
            if dv < du:  # geometry is stored from v to u: name the endpoints accordingly
                iu, iv = iv, iu
        us.append(iu)
        vs.append(iv)
        geoms.append(geom)
        names.append("/".join(dict.fromkeys(_values(d.get("name")))))
        highways.append("/".join(dict.fromkeys(_values(d.get("highway")))))
    geometry = np.array(geoms, dtype=object)
    return StreetNetwork(
        crs=G.graph["crs"],
        node_ids=node_ids,
        node_x=node_x,
        node_y=node_y,
        edge_u=np.array(us, dtype=np.int64),
        edge_v=np.array(vs, dtype=np.int64),
        edge_length=shapely.length(geometry).astype(float),
        edge_geometry=geometry,
        edge_name=np.array(names, dtype=object),
        edge_highway=np.array(highways, dtype=object),
        components=components,
    )


def load_graph(path: str | Path) -> nx.MultiDiGraph:
    """Load an unprojected walk graph from an OSM XML file or an osmnx GraphML file.

    Parameters
    ----------
    path
        ``.osm``/``.xml`` (OSM XML) or ``.graphml`` (saved by `save_graph`).

    Returns
    -------
    G
        The walk graph.
    """
    import osmnx as ox  # here: only a first parse or a download needs osmnx

    path = Path(path)
    if path.suffix.lower() == ".graphml":
        if not path.is_file():
            raise NetworkUnavailableError(_("network cache not found: {path}").format(path=path))
        try:
            return ox.load_graphml(path)
        except Exception as exc:
            raise PlannerError(
                _("network cache {path} is unreadable ({exc}); fetch again").format(
                    path=path, exc=exc
                )
            ) from exc
    return graph_from_osm_xml(path)


def save_graph(G: nx.MultiDiGraph, path: str | Path) -> Path:
    """Save a graph as GraphML atomically (temporary file, then rename).

    Parameters
    ----------
    G
        Graph to save.
    path
        Destination ``.graphml``.

    Returns
    -------
    path
        The written file.
    """
    import osmnx as ox  # here: only a first parse or a download needs osmnx

    return write_atomic(path, lambda p: ox.save_graphml(G, p))


def build_network(G: nx.MultiDiGraph) -> StreetNetwork:
    """Project, keep the largest component, and convert a walk graph to arrays.

    Parameters
    ----------
    G
        Unprojected walk graph (from `load_graph` or `graph_from_overpass`).

    Returns
    -------
    network
        The routable network with its component report and dropped streets.
    """
    return routable_network(project(G))

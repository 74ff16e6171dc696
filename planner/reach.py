"""Exact walking distances from facilities to points, with access legs and partial edges.

Definition (the one every number in the planner follows). A point is snapped to the
nearest point of its nearest walkable edge; the *access leg* is the straight line between
the two. The walking distance from a facility to a POI is

    facility access leg + network distance between the two on-edge points + POI access leg,

where the network distance runs along partial edges at both ends (from the on-edge point
to either end node of its edge), or directly along the edge when both lie on the same edge.
A facility with several entrances (rows with the same id) takes the minimum over them.
Unreachable pairs have no distance (NaN), never a sentinel number.

All facilities are searched with scipy's compiled Dijkstra. Each facility becomes a virtual
source node with out-edges to the end nodes of its entrances' edges, weighted by access leg
plus the partial edge; virtual nodes have no in-edges, so no path passes through one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from planner._memo import memo
from planner.network import StreetNetwork


@dataclass(frozen=True)
class Anchors:
    """Snapped points: which edge, where along it, how far off it.

    ``owner`` groups anchors: for facilities it is the facility index (several entrances
    share one); for POIs it is simply 0..n-1.
    """

    owner: np.ndarray  # int64
    edge: np.ndarray  # int64 edge index
    offset: np.ndarray  # metres from the edge's u end
    access: np.ndarray  # metres of access leg

    @classmethod
    def from_snapped(cls, snapped: pd.DataFrame, owner: np.ndarray | None = None) -> Anchors:
        """Build anchors from `planner.snap.snap_points` output, keeping snapped rows only.

        Parameters
        ----------
        snapped
            Output of ``snap_points``.
        owner
            Owner index per row of `snapped` (default: the row number).

        Returns
        -------
        anchors
            Anchors of the rows whose ``edge`` is not -1.
        """
        owner = np.arange(len(snapped)) if owner is None else np.asarray(owner)
        ok = snapped["edge"].to_numpy() >= 0
        return cls(
            owner=owner[ok].astype(np.int64),
            edge=snapped["edge"].to_numpy()[ok].astype(np.int64),
            offset=snapped["offset"].to_numpy()[ok].astype(float),
            access=snapped["access_m"].to_numpy()[ok].astype(float),
        )

    def __len__(self) -> int:
        """Return the number of anchors."""
        return len(self.edge)


@dataclass(frozen=True)
class NodeReach:
    """Network distance from each facility to the nodes it reaches (ragged arrays).

    Row ``i`` (facility ``facilities[i]``) owns ``node[indptr[i]:indptr[i+1]]`` with
    distances ``dist[...]`` (metres, access leg included).
    """

    facilities: np.ndarray
    indptr: np.ndarray
    node: np.ndarray
    dist: np.ndarray

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Nodes and distances of row `i`."""
        s, e = self.indptr[i], self.indptr[i + 1]
        return self.node[s:e], self.dist[s:e]


def source_graph(
    network: StreetNetwork, sources: Anchors, n_owners: int
) -> tuple[sparse.csr_matrix, int]:
    """Add one virtual source node per owner to the network adjacency.

    Parameters
    ----------
    network
        The street network.
    sources
        Facility anchors (owner = facility index).
    n_owners
        Number of facilities (virtual nodes), including ones without anchors.

    Returns
    -------
    csr, first
        The (N + n_owners) square adjacency and the index of the first virtual node.
    """
    n = network.n_nodes
    base = network.csr  # streets in both directions, built once per network
    owner, node, w = _virtual_edges(network, sources)
    rows = _csr_rows(owner, node, w, n_owners)
    indptr = np.concatenate([base.indptr, base.indptr[-1] + rows.indptr[1:]])
    csr = sparse.csr_matrix(
        (
            np.concatenate([base.data, rows.data]),
            np.concatenate([base.indices, rows.indices]),
            indptr,
        ),
        shape=(n + n_owners, n + n_owners),
    )
    return csr, n


def _virtual_edges(
    network: StreetNetwork, sources: Anchors
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Owner, end node and weight (access leg + partial edge) of every virtual edge."""
    length = network.edge_length[sources.edge]
    owner = np.concatenate([sources.owner, sources.owner])
    node = np.concatenate([network.edge_u[sources.edge], network.edge_v[sources.edge]])
    w = np.concatenate(
        [sources.access + sources.offset, sources.access + (length - sources.offset)]
    )
    return owner, node, w


@dataclass(frozen=True)
class _Rows:
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray


def _csr_rows(owner: np.ndarray, node: np.ndarray, w: np.ndarray, n_rows: int) -> _Rows:
    """CSR rows of edges (owner -> node), the shortest of parallel ones, zero weights kept."""
    order = np.lexsort((w, node, owner))
    owner, node, w = owner[order], node[order], w[order]
    first = np.ones(len(owner), dtype=bool)
    first[1:] = (owner[1:] != owner[:-1]) | (node[1:] != node[:-1])
    owner, node, w = owner[first], node[first], w[first]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=n_rows), out=indptr[1:])
    return _Rows(indptr, node.astype(np.int32 if len(node) else np.int64), w.astype(float))


#: Facilities per bounded Dijkstra call (each call searches their part of the network).
CHUNK = 16


def node_reach(
    network: StreetNetwork,
    sources: Anchors,
    n_owners: int,
    limit: float,
    *,
    chunk: int = CHUNK,
) -> NodeReach:
    """Bounded multi-facility Dijkstra: distance to every node within `limit` metres.

    Every node within `limit` metres on foot also lies within `limit` metres as the crow
    flies of a snapped entrance (edges are at least as long as the straight line between
    their ends), so each call searches only the streets around its facilities: the
    facilities are taken in space-filling-curve order, `chunk` at a time, on the network
    cut to the box `limit` around their entrances. The distances are those of the whole
    network (every path of at most `limit` metres stays in the box).

    Parameters
    ----------
    network
        The street network.
    sources
        Facility anchors.
    n_owners
        Number of facilities.
    limit
        Search radius in metres (access leg included).
    chunk
        Facilities per Dijkstra call (bounds memory at chunk x nodes-in-the-box floats).

    Returns
    -------
    reach
        Reached nodes per facility, in ascending node order.
    """
    n = network.n_nodes
    base = network.csr
    spatial = _spatial(network)
    order = _curve_order(spatial, sources, max(limit, 1.0))
    v_owner, v_node, v_w = _virtual_edges(network, sources)
    keep = v_w <= limit  # a virtual edge longer than the limit reaches nothing
    v_owner, v_node, v_w = v_owner[keep], v_node[keep], v_w[keep]
    v_order = np.argsort(v_owner, kind="stable")
    v_ptr = _ptr(v_owner, n_owners)
    a_order = np.argsort(sources.owner, kind="stable")
    a_ptr = _ptr(sources.owner, n_owners)
    local = np.full(n, -1, dtype=np.int64)
    counts = np.zeros(n_owners, dtype=np.int64)
    nodes: list[np.ndarray] = []
    dists: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        ids = order[start : start + chunk]
        anchors = a_order[_ranges(a_ptr[ids], a_ptr[ids + 1])]
        e = sources.edge[anchors]
        box = (
            spatial.edge_box[e, 0].min() - limit,
            spatial.edge_box[e, 1].min() - limit,
            spatial.edge_box[e, 2].max() + limit,
            spatial.edge_box[e, 3].max() + limit,
        )
        sub = spatial.nodes_in(box)
        local[sub] = np.arange(len(sub))
        # the streets among those nodes: rows of the network's adjacency, columns kept inside
        pos = _ranges(base.indptr[sub], base.indptr[sub + 1])
        col = local[base.indices[pos]]
        inside = col >= 0
        row_cnt = np.bincount(
            np.repeat(np.arange(len(sub)), np.diff(base.indptr)[sub])[inside], minlength=len(sub)
        )
        # the chunk's virtual edges (their end nodes lie in the box when within the limit)
        vi = v_order[_ranges(v_ptr[ids], v_ptr[ids + 1])]
        rank = np.empty(n_owners, dtype=np.int64)
        rank[ids] = np.arange(len(ids))
        virt = _csr_rows(rank[v_owner[vi]], local[v_node[vi]], v_w[vi], len(ids))
        m = len(sub) + len(ids)
        indptr = np.concatenate([[0], np.cumsum(row_cnt), row_cnt.sum() + virt.indptr[1:]])
        csr = sparse.csr_matrix(
            (
                np.concatenate([base.data[pos][inside], virt.data]),
                np.concatenate([col[inside], virt.indices]),
                indptr,
            ),
            shape=(m, m),
        )
        d = dijkstra(csr, directed=True, indices=len(sub) + np.arange(len(ids)), limit=limit)
        r, c = np.nonzero(np.isfinite(d[:, : len(sub)]))
        nodes.append(sub[c])
        dists.append(d[r, c])
        owners.append(ids[r])
        counts[ids] = np.bincount(r, minlength=len(ids))
        local[sub] = -1
    return _gather_rows(n_owners, counts, owners, nodes, dists)


def _ptr(owner: np.ndarray, n: int) -> np.ndarray:
    """CSR pointer of a grouping: group g holds sorted positions ptr[g]:ptr[g+1]."""
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=n), out=ptr[1:])
    return ptr


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(lo[i], hi[i])`` for every i, in order."""
    cnt = hi - lo
    return np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))


def _gather_rows(
    n_owners: int,
    counts: np.ndarray,
    owners: list[np.ndarray],
    nodes: list[np.ndarray],
    dists: list[np.ndarray],
) -> NodeReach:
    """Put the rows found chunk by chunk (in search order) back in facility order."""
    indptr = np.zeros(n_owners + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    if not nodes:
        return NodeReach(np.arange(n_owners), indptr, np.zeros(0, dtype=np.int64), np.zeros(0))
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")  # rows in facility order, nodes ascending within
    return NodeReach(
        facilities=np.arange(n_owners),
        indptr=indptr,
        node=np.concatenate(nodes)[order].astype(np.int64),
        dist=np.concatenate(dists)[order],
    )


@dataclass(frozen=True)
class _Spatial:
    """Edge bounding boxes and nodes bucketed in square cells, for cutting search boxes."""

    edge_box: np.ndarray  # (edges, 4): minx, miny, maxx, maxy
    x0: float
    y0: float
    cell: float
    ni: int
    nj: int
    ptr: np.ndarray  # cell i * nj + j holds node[ptr[c] : ptr[c + 1]]
    node: np.ndarray

    def nodes_in(self, box: tuple[float, float, float, float]) -> np.ndarray:
        """Nodes of the cells that meet `box` (a superset of the nodes in it), ascending."""
        i0 = max(int((box[0] - self.x0) // self.cell), 0)
        j0 = max(int((box[1] - self.y0) // self.cell), 0)
        i1 = min(int((box[2] - self.x0) // self.cell), self.ni - 1)
        j1 = min(int((box[3] - self.y0) // self.cell), self.nj - 1)
        if i1 < i0 or j1 < j0:
            return np.zeros(0, dtype=np.int64)
        rows = np.arange(i0, i1 + 1) * self.nj
        # cells of one row are consecutive: one range per row
        return np.sort(self.node[_ranges(self.ptr[rows + j0], self.ptr[rows + j1 + 1])])


def _spatial(network: StreetNetwork) -> _Spatial:
    def build() -> _Spatial:
        x, y = network.node_x, network.node_y
        box = shapely.bounds(network.edge_geometry)
        if not len(x):
            return _Spatial(box, 0.0, 0.0, 1.0, 1, 1, np.zeros(2, dtype=np.int64), np.zeros(0))
        x0, y0 = float(x.min()), float(y.min())
        area = max(float(x.max() - x0) * float(y.max() - y0), 1.0)
        cell = max(100.0, (area / 4_000_000) ** 0.5)  # at most about 4M cells
        ni = int((x.max() - x0) // cell) + 1
        nj = int((y.max() - y0) // cell) + 1
        key = ((x - x0) // cell).astype(np.int64) * nj + ((y - y0) // cell).astype(np.int64)
        order = np.argsort(key, kind="stable")
        return _Spatial(box, x0, y0, cell, ni, nj, _ptr(key, ni * nj), order.astype(np.int64))

    return memo(network, "reach_spatial", build)


def _curve_order(spatial: _Spatial, sources: Anchors, cell: float) -> np.ndarray:
    """Facilities with an anchor, in Z-order of their first anchor's edge (cells of `cell` m)."""
    if not len(sources):
        return np.zeros(0, dtype=np.int64)
    ids, first = np.unique(sources.owner, return_index=True)
    b = spatial.edge_box[sources.edge[first]]
    i = np.clip((b[:, 0] - spatial.x0) // cell, 0, 2**20 - 1).astype(np.int64)
    j = np.clip((b[:, 1] - spatial.y0) // cell, 0, 2**20 - 1).astype(np.int64)
    code = np.zeros(len(ids), dtype=np.int64)
    for bit in range(20):
        code |= ((i >> bit) & 1) << (2 * bit + 1) | ((j >> bit) & 1) << (2 * bit)
    return ids[np.argsort(code, kind="stable")]


def _same_edge(sources: Anchors, targets: Anchors) -> pd.DataFrame:
    """Source/target anchor pairs that lie on the same edge, with their direct distance."""
    if not len(sources) or not len(targets):
        return pd.DataFrame({"source": [], "target": [], "dist": []})
    order = np.argsort(targets.edge, kind="stable")
    t_edge = targets.edge[order]
    lo = np.searchsorted(t_edge, sources.edge, side="left")
    hi = np.searchsorted(t_edge, sources.edge, side="right")
    cnt = hi - lo
    s = np.repeat(np.arange(len(sources)), cnt)
    t = order[np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))]
    dist = sources.access[s] + np.abs(sources.offset[s] - targets.offset[t]) + targets.access[t]
    return pd.DataFrame({"source": sources.owner[s], "target": targets.owner[t], "dist": dist})


def reach_pairs(
    network: StreetNetwork,
    reach: NodeReach,
    sources: Anchors,
    targets: Anchors,
    limit: float,
) -> pd.DataFrame:
    """Compute the walking distance of every facility-target pair within `limit` metres.

    Parameters
    ----------
    network
        The street network.
    reach
        Output of `node_reach` for the same sources, computed with a limit >= `limit`.
    sources
        Facility anchors.
    targets
        POI anchors (owner = POI index).
    limit
        Largest distance to report, metres.

    Returns
    -------
    pairs
        Columns ``facility``, ``poi``, ``distance_m``; one row per pair within the limit,
        sorted by facility then POI.
    """
    tol = 1e-9 * max(limit, 1.0)
    n = network.n_nodes
    tu = network.edge_u[targets.edge]
    tv = network.edge_v[targets.edge]
    to_u = targets.offset
    to_v = network.edge_length[targets.edge] - targets.offset
    # targets indexed by end node, to touch only the targets next to reached nodes
    ends = np.concatenate([tu, tv])
    leg = np.concatenate([to_u, to_v])
    tgt = np.concatenate([np.arange(len(targets)), np.arange(len(targets))])
    order = np.argsort(ends, kind="stable")
    ends, leg, tgt = ends[order], leg[order], tgt[order]
    starts = np.searchsorted(ends, np.arange(n + 1))
    # every (reached node, target at that node) at once, all facilities together
    row = np.repeat(np.asarray(reach.facilities, dtype=np.int64), np.diff(reach.indptr))
    node = reach.node
    cnt = starts[node + 1] - starts[node]
    pos = np.repeat(starts[node] - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))
    t = tgt[pos]
    d = np.repeat(reach.dist, cnt) + leg[pos] + targets.access[t]
    keep = d <= limit + tol
    fac = [np.repeat(row, cnt)[keep]]
    poi = [targets.owner[t[keep]]]
    dist = [d[keep]]
    same = _same_edge(sources, targets)
    if len(same):
        within = same["dist"].to_numpy() <= limit + tol
        fac.append(same["source"].to_numpy(dtype=np.int64)[within])
        poi.append(same["target"].to_numpy(dtype=np.int64)[within])
        dist.append(same["dist"].to_numpy(dtype=float)[within])
    f, p, dd = np.concatenate(fac), np.concatenate(poi), np.concatenate(dist)
    # the shortest of each pair's candidates, sorted by facility then POI
    n_poi = int(targets.owner.max()) + 1 if len(targets) else 1
    key = f * n_poi + p
    o = np.argsort(key, kind="stable")
    key, dd = key[o], dd[o]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, int)
    best = np.minimum.reduceat(dd, first) if len(key) else np.zeros(0)
    return pd.DataFrame(
        {
            "facility": (key[first] // n_poi).astype(np.int64),
            "poi": (key[first] % n_poi).astype(np.int64),
            "distance_m": best.astype(float),
        }
    )


def nearest_facility(
    network: StreetNetwork,
    sources: Anchors,
    n_owners: int,
    targets: Anchors,
    n_targets: int,
    reach: NodeReach | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest facility of every target from one unbounded multi-source search.

    With `reach` (`node_reach` of the same sources), the nodes it reached already have
    their nearest facility (the smallest distance over its rows, ties to the lowest
    facility); the search then only continues into the rest of the network, from the
    reached nodes on its border (a shortest path to an unreached node leaves the reached
    ones for the last time at one of them).

    Parameters
    ----------
    network
        The street network.
    sources
        Facility anchors.
    n_owners
        Number of facilities.
    targets
        POI anchors.
    n_targets
        Number of POIs (targets without anchors get no facility).
    reach
        Node reach of the same facilities, if already computed.

    Returns
    -------
    facility, distance_m
        Per POI: the nearest facility index (-1 when unreachable or not snapped) and the
        walking distance in metres (NaN likewise). Exact ties may go to either facility;
        `planner.coverage` breaks ties within the bands by facility order.
    """
    facility = np.full(n_targets, -1, dtype=np.int64)
    distance = np.full(n_targets, np.nan)
    if not len(sources) or not len(targets):
        return facility, distance
    if reach is None:
        dist, node_fac = _nearest_nodes_full(network, sources, n_owners)
    else:
        dist, node_fac = _nearest_nodes_from_reach(network, reach)
    e = targets.edge
    du = dist[network.edge_u[e]] + targets.offset
    dv = dist[network.edge_v[e]] + (network.edge_length[e] - targets.offset)
    via_v = dv < du
    best = np.where(via_v, dv, du) + targets.access
    best_fac = np.where(via_v, node_fac[network.edge_v[e]], node_fac[network.edge_u[e]])
    ok = np.isfinite(best)
    same = _same_edge(sources, targets)
    poi = np.concatenate([targets.owner[ok], same["target"].to_numpy(dtype=np.int64)])
    dd = np.concatenate([best[ok], same["dist"].to_numpy(dtype=float)])
    fac = np.concatenate([best_fac[ok], same["source"].to_numpy(dtype=np.int64)])
    distance[:] = np.inf
    np.minimum.at(distance, poi, dd)
    tie = dd == distance[poi]  # the lowest facility among equally near candidates
    facility[:] = np.iinfo(np.int64).max
    np.minimum.at(facility, poi[tie], fac[tie])
    facility[~np.isfinite(distance)] = -1
    distance[~np.isfinite(distance)] = np.nan
    return facility, distance


def _nearest_nodes_full(
    network: StreetNetwork, sources: Anchors, n_owners: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of the nearest facility of every node (whole-network search)."""
    csr, first = source_graph(network, sources, n_owners)
    active = np.unique(sources.owner)
    dist, _, src = dijkstra(
        csr, directed=True, indices=first + active, min_only=True, return_predecessors=True
    )
    n = network.n_nodes
    return dist[:n], np.where(src[:n] >= 0, src[:n] - first, -1)


def node_minimum(reach: NodeReach, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Smallest distance to each node over the rows of `reach`, and its row (lowest on ties).

    Parameters
    ----------
    reach
        Node reach.
    n_nodes
        Number of network nodes.

    Returns
    -------
    dist, facility
        Per node: metres (inf when no row reaches it) and facility (-1 likewise).
    """
    dist = np.full(n_nodes, np.inf)
    fac = np.full(n_nodes, -1, dtype=np.int64)
    row = np.repeat(np.asarray(reach.facilities, dtype=np.int64), np.diff(reach.indptr))
    np.minimum.at(dist, reach.node, reach.dist)
    tie = reach.dist == dist[reach.node]
    fac[:] = np.iinfo(np.int64).max
    np.minimum.at(fac, reach.node[tie], row[tie])
    fac[~np.isfinite(dist)] = -1
    return dist, fac


def _nearest_nodes_from_reach(
    network: StreetNetwork, reach: NodeReach
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of the nearest facility of every node, continuing `reach`."""
    n = network.n_nodes
    dist, fac = node_minimum(reach, n)
    out = ~np.isfinite(dist)
    if not out.any() or not len(reach.node):
        return dist, fac
    base = network.csr
    u = np.repeat(np.arange(n), np.diff(base.indptr))
    v = base.indices
    into = out[v]
    local = np.full(n, -1, dtype=np.int64)
    rest = np.flatnonzero(out)
    local[rest] = np.arange(len(rest))
    inner = into & out[u]  # streets among unreached nodes
    border = into & ~out[u]  # from a reached node into the rest: starts of the search
    facs = np.unique(fac[u[border]])
    if not len(facs):  # the unreached nodes hang together with no reached one
        return dist, fac
    rank = np.full(len(reach.facilities), -1, dtype=np.int64)
    rank[facs] = np.arange(len(facs))
    m = len(rest)
    starts = _csr_rows(
        rank[fac[u[border]]], local[v[border]], dist[u[border]] + base.data[border], len(facs)
    )
    iu, iv, iw = local[u[inner]], local[v[inner]], base.data[inner]
    indptr = np.concatenate([_ptr(iu, m), len(iu) + starts.indptr[1:]])
    csr = sparse.csr_matrix(
        (np.concatenate([iw, starts.data]), np.concatenate([iv, starts.indices]), indptr),
        shape=(m + len(facs), m + len(facs)),
    )
    d, _, src = dijkstra(
        csr,
        directed=True,
        indices=m + np.arange(len(facs)),
        min_only=True,
        return_predecessors=True,
    )
    dist[rest] = d[:m]
    fac[rest] = np.where(src[:m] >= 0, facs[np.maximum(src[:m] - m, 0)], -1)
    return dist, fac

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


#: Most facilities per Dijkstra call (a call's facilities search together; see `node_reach`).
CHUNK = 128


def node_reach(
    network: StreetNetwork,
    sources: Anchors,
    n_owners: int,
    limit: float,
    *,
    chunk: int = CHUNK,
) -> NodeReach:
    """Bounded multi-facility Dijkstra: distance to every node within `limit` metres.

    Every node within `limit` metres on foot of a facility also lies within `limit`
    metres as the crow flies of one of its snapped entrances (edges are at least as long
    as the straight line between their ends), so inside its *box*: its entrances' edges'
    bounding box grown by `limit`, in whole cells of a grid. Facilities whose boxes do
    not meet cannot reach a common node within the limit, nor a node on the way to one;
    so one bounded multi-source search (scipy's compiled Dijkstra, ``min_only``) of such
    facilities gives each its own exact distances, and tells which facility reached each
    node. The facilities are split into such groups (first fit, in order of their boxes'
    west edge); each group, `chunk` facilities at most, is one search on the whole network.

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
        Most facilities per Dijkstra call.

    Returns
    -------
    reach
        Reached nodes per facility, in ascending node order.
    """
    n = network.n_nodes
    v_owner, v_node, v_w = _virtual_edges(network, sources)
    keep = v_w <= limit  # a virtual edge longer than the limit reaches nothing
    v_owner, v_node, v_w = v_owner[keep], v_node[keep], v_w[keep]
    active = np.unique(v_owner)
    if not len(active):
        return _gather_rows(n_owners, [], [], [])
    rows = _csr_rows(v_owner, v_node, v_w, n_owners)
    base = network.csr
    csr = sparse.csr_matrix(
        (
            np.concatenate([base.data, rows.data]),
            np.concatenate([base.indices, rows.indices]),
            np.concatenate([base.indptr, base.indptr[-1] + rows.indptr[1:]]),
        ),
        shape=(n + n_owners, n + n_owners),
    )
    nodes: list[np.ndarray] = []
    dists: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    for group in _disjoint_groups(network, sources, active, limit, chunk):
        d, _, src = dijkstra(
            csr,
            directed=True,
            indices=n + group,
            limit=limit,
            min_only=True,
            return_predecessors=True,
        )
        hit = np.flatnonzero(np.isfinite(d[:n]))
        nodes.append(hit)
        dists.append(d[hit])
        owners.append(src[hit] - n)
    return _gather_rows(n_owners, owners, nodes, dists)


def _disjoint_groups(
    network: StreetNetwork, sources: Anchors, active: np.ndarray, limit: float, chunk: int
) -> list[np.ndarray]:
    """Facilities `active` in groups whose boxes do not meet, `chunk` at most per group.

    Boxes are whole tiles of an occupancy grid (tiles of a quarter of `limit`, at
    most about 2**18 of them); a box more than 64 tiles wide or high gets a group of its
    own (it would meet most others anyway).
    """
    if not np.isfinite(limit):  # every box is the whole plane: one facility per search
        return [active[k : k + 1] for k in range(len(active))]
    spatial = _spatial(network)
    a_order = np.argsort(sources.owner, kind="stable")
    a_owner = sources.owner[a_order]
    a_first = np.flatnonzero(np.r_[True, a_owner[1:] != a_owner[:-1]])
    box = spatial.edge_box[sources.edge[a_order]]
    at = np.searchsorted(a_owner[a_first], active)
    x0 = np.minimum.reduceat(box[:, 0], a_first)[at] - limit
    y0 = np.minimum.reduceat(box[:, 1], a_first)[at] - limit
    x1 = np.maximum.reduceat(box[:, 2], a_first)[at] + limit
    y1 = np.maximum.reduceat(box[:, 3], a_first)[at] + limit
    gx0, gy0, gx1, gy1 = spatial.extent
    area = max((gx1 - gx0) * (gy1 - gy0), 1.0)
    tile = max(limit / 4.0, (area / 2**18) ** 0.5, 1.0)
    ni = int((gx1 - gx0) // tile) + 1
    nj = int((gy1 - gy0) // tile) + 1

    def cell(v: np.ndarray, origin: float, size: int) -> np.ndarray:
        # a margin of a metre: distances summed in floating point stay inside
        return np.clip(np.floor_divide(v - origin, tile), 0, size - 1).astype(np.int64)

    i0, i1 = cell(x0 - 1.0, gx0, ni), cell(x1 + 1.0, gx0, ni)
    j0, j1 = cell(y0 - 1.0, gy0, nj), cell(y1 + 1.0, gy0, nj)
    big = (i1 - i0 >= 64) | (j1 - j0 >= 64)
    groups: list[list[int]] = [[k] for k in np.flatnonzero(big).tolist()]
    first_fit: list[list[int]] = []
    # bit g of a tile's word w: group 64 * w + g covers the tile
    taken = np.zeros((ni, nj, 1), dtype=np.uint64)
    for k in np.flatnonzero(~big)[np.argsort(x0[~big], kind="stable")].tolist():
        a, b, c, d = i0[k], i1[k] + 1, j0[k], j1[k] + 1
        used = np.bitwise_or.reduce(taken[a:b, c:d].reshape(-1, taken.shape[2]), axis=0)
        g = 64 * len(used)  # the first group none of the box's tiles is in
        for w, u in enumerate(used.tolist()):
            if u != 2**64 - 1:
                g = 64 * w + (~u & (u + 1)).bit_length() - 1  # lowest zero bit
                break
        if g == len(first_fit):
            first_fit.append([])
            if g == 64 * taken.shape[2]:
                taken = np.concatenate([taken, np.zeros_like(taken)], axis=2)
        first_fit[g].append(k)
        taken[a:b, c:d, g // 64] |= np.uint64(1 << (g % 64))
    out = []
    for members in groups + first_fit:
        ids = active[np.sort(np.asarray(members, dtype=np.int64))]
        out += [ids[s : s + chunk] for s in range(0, len(ids), chunk)]
    return out


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(lo[i], hi[i])`` for every i, in order."""
    cnt = hi - lo
    return np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))


def _gather_rows(
    n_owners: int,
    owners: list[np.ndarray],
    nodes: list[np.ndarray],
    dists: list[np.ndarray],
) -> NodeReach:
    """Rows found group by group (nodes ascending in each) in facility order."""
    indptr = np.zeros(n_owners + 1, dtype=np.int64)
    if not nodes:
        return NodeReach(np.arange(n_owners), indptr, np.zeros(0, dtype=np.int64), np.zeros(0))
    owner = np.concatenate(owners).astype(np.int64)
    ptr, order = _group(owner, n_owners)  # stable: nodes stay ascending within a facility
    return NodeReach(
        facilities=np.arange(n_owners),
        indptr=ptr,
        node=np.concatenate(nodes).astype(np.int64)[order],
        dist=np.concatenate(dists)[order],
    )


@dataclass(frozen=True)
class _Spatial:
    """Bounding boxes of the network's edges, and of the whole network."""

    edge_box: np.ndarray  # (edges, 4): minx, miny, maxx, maxy
    extent: tuple[float, float, float, float]


def _spatial(network: StreetNetwork) -> _Spatial:
    def build() -> _Spatial:
        box = shapely.bounds(network.edge_geometry).reshape(-1, 4)
        x, y = network.node_x, network.node_y
        if not len(x):
            return _Spatial(box, (0.0, 0.0, 0.0, 0.0))
        return _Spatial(box, (float(x.min()), float(y.min()), float(x.max()), float(y.max())))

    return memo(network, "reach_spatial", build)


def _same_edge(sources: Anchors, targets: Anchors) -> pd.DataFrame:
    """Source/target anchor pairs that lie on the same edge, with their direct distance."""
    s, t, dist = _same_edge_arrays(sources, targets)
    return pd.DataFrame({"source": sources.owner[s], "target": targets.owner[t], "dist": dist})


def _same_edge_arrays(
    sources: Anchors, targets: Anchors
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source and target anchors on the same edge (by source, then target), direct distance."""
    if not len(sources) or not len(targets):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    on = np.zeros(int(max(sources.edge.max(), targets.edge.max())) + 1, dtype=bool)
    on[sources.edge] = True
    near = np.flatnonzero(on[targets.edge])  # the few targets on an entrance's edge
    order = near[np.argsort(targets.edge[near], kind="stable")]
    t_edge = targets.edge[order]
    lo = np.searchsorted(t_edge, sources.edge, side="left")
    hi = np.searchsorted(t_edge, sources.edge, side="right")
    s = np.repeat(np.arange(len(sources)), hi - lo)
    t = order[_ranges(lo, hi)]
    dist = sources.access[s] + np.abs(sources.offset[s] - targets.offset[t]) + targets.access[t]
    return s, t, dist


def _group(key: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable counting sort of `key` (values 0..n-1): key k holds ``order[ptr[k]:ptr[k+1]]``.

    scipy's COO to CSR conversion is a compiled counting sort (linear time, and stable:
    within a row the columns, here the positions in `key`, stay ascending).
    """
    m = len(key)
    g = sparse.coo_matrix(
        (np.ones(m, dtype=np.int8), (key, np.arange(m))), shape=(n, max(m, 1))
    ).tocsr()
    return g.indptr.astype(np.int64, copy=False), g.indices


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
    e = targets.edge
    # targets indexed by end node, to touch only the targets next to reached nodes
    ptr, order = _group(np.concatenate([network.edge_u[e], network.edge_v[e]]), n)
    leg = np.concatenate([targets.offset, network.edge_length[e] - targets.offset])[order]
    tgt = np.concatenate([np.arange(len(targets)), np.arange(len(targets))])[order]
    # every (reached node, target at that node) at once, all facilities together
    row = np.repeat(np.asarray(reach.facilities, dtype=np.int64), np.diff(reach.indptr))
    node = reach.node
    pos = _ranges(ptr[node], ptr[node + 1])
    cnt = ptr[node + 1] - ptr[node]
    t = tgt[pos]
    d = np.repeat(reach.dist, cnt) + leg[pos] + targets.access[t]
    keep = d <= limit + tol
    s_src, s_tgt, s_dist = _same_edge_arrays(sources, targets)
    within = s_dist <= limit + tol
    f = np.concatenate([np.repeat(row, cnt)[keep], sources.owner[s_src[within]]])
    p = targets.owner[np.concatenate([t[keep], s_tgt[within]])]
    dd = np.concatenate([d[keep], s_dist[within]])
    # the shortest of each pair's candidates, sorted by facility then POI
    n_poi = int(targets.owner.max()) + 1 if len(targets) else 1
    key = f * n_poi + p
    o = np.argsort(key, kind="stable")  # runs: already by facility
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
        dist, node_fac = _nearest_nodes_from_reach(network, reach, sources)
    e = targets.edge
    tu, tv = network.edge_u[e], network.edge_v[e]
    du = dist[tu] + targets.offset
    dv = dist[tv] + (network.edge_length[e] - targets.offset)
    via_v = dv < du
    best = np.where(via_v, dv, du) + targets.access
    best_fac = node_fac[np.where(via_v, tv, tu)]
    ok = np.isfinite(best)
    s_src, s_tgt, s_dist = _same_edge_arrays(sources, targets)
    poi = np.concatenate([targets.owner[ok], targets.owner[s_tgt]])
    dd = np.concatenate([best[ok], s_dist])
    fac = np.concatenate([best_fac[ok], sources.owner[s_src]])
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
    network: StreetNetwork, reach: NodeReach, sources: Anchors
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of the nearest facility of every node, continuing `reach`.

    The search runs on the unreached nodes' streets only. A shortest path to an unreached
    node either leaves the reached nodes for the last time at one of them, or never meets
    one after its facility's virtual edge (access leg and part of the entrance's street).
    So it starts from both: the streets between the unreached and the reached nodes (found
    from the unreached side, the adjacency being symmetric), from each reached node's
    nearest facility at its distance plus the street, which in the graph lead to one
    dead-end node; and every virtual edge that ends at an unreached node (one longer than
    the bound of `reach`, e.g. an entrance far along a long street, reached nothing there).
    """
    n = network.n_nodes
    dist, fac = node_minimum(reach, n)
    rest = np.flatnonzero(~np.isfinite(dist))
    if not len(rest):
        return dist, fac
    v_owner, v_node, v_w = _virtual_edges(network, sources)
    into = ~np.isfinite(dist[v_node])  # virtual edges into the unreached nodes
    v_owner, v_node, v_w = v_owner[into], v_node[into], v_w[into]
    m = len(rest)
    base = network.csr
    local = np.full(n, m, dtype=np.int32 if m < 2**31 else np.int64)  # m: the dead end
    local[rest] = np.arange(m)
    lo, hi = base.indptr[rest], base.indptr[rest + 1]
    ent = _ranges(lo, hi)
    col = local[base.indices[ent]]
    border = np.flatnonzero(col == m)  # streets from the rest to reached nodes
    if not len(border) and not len(v_owner):  # nothing leads into the unreached nodes
        return dist, fac
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(hi - lo, out=indptr[1:])
    b_row = np.searchsorted(indptr, border, side="right") - 1
    b_from = base.indices[ent[border]]
    seed_fac = np.concatenate([fac[b_from], v_owner])
    seed_row = np.concatenate([b_row, local[v_node]]).astype(col.dtype)
    seed_w = np.concatenate([dist[b_from] + base.data[ent[border]], v_w])
    facs, s_rank = np.unique(seed_fac, return_inverse=True)
    # one source per facility, its rows grouped by a counting sort (parallel starts are
    # harmless: the search keeps the shorter)
    s_ptr, s_order = _group(s_rank, len(facs))
    size = m + 1 + len(facs)
    csr = sparse.csr_matrix(
        (
            np.concatenate([base.data[ent], seed_w[s_order]]),
            np.concatenate([col, seed_row[s_order]]),
            np.concatenate([indptr, indptr[-1:], indptr[-1] + s_ptr[1:]]),
        ),
        shape=(size, size),
    )
    d, _, src = dijkstra(
        csr,
        directed=True,
        indices=m + 1 + np.arange(len(facs)),
        min_only=True,
        return_predecessors=True,
    )
    dist[rest] = d[:m]
    fac[rest] = np.where(src[:m] >= 0, facs[np.maximum(src[:m] - m - 1, 0)], -1)
    return dist, fac

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


#: Facilities per Dijkstra call. scipy fills a facilities x nodes matrix per call, here
#: over the boxes of the call's facilities only, and keeps one small heap per facility.
CHUNK = 8
#: Most street entries (directed) of the boxes cut at once (bounds memory).
BOX_ENTRIES = 1 << 22


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
    their ends), so each facility is searched on its own copy of the streets around it:
    the network cut to the box of `limit` metres around its entrances' edges (in whole
    cells of a grid; streets leaving the box are left out). All the facilities' copies are
    cut at once into one block-diagonal graph; each compiled Dijkstra call then takes
    `chunk` consecutive facilities and the rows of their copies only. Every path of at
    most `limit` metres stays in the box, so the distances are those of the whole network.

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
        Facilities per Dijkstra call (memory per call: chunk x nodes of their boxes).

    Returns
    -------
    reach
        Reached nodes per facility, in ascending node order.
    """
    counts = np.zeros(n_owners, dtype=np.int64)
    v_owner, v_node, v_w = _virtual_edges(network, sources)
    keep = v_w <= limit  # a virtual edge longer than the limit reaches nothing
    v_owner, v_node, v_w = v_owner[keep], v_node[keep], v_w[keep]
    active = np.unique(v_owner)
    if not len(active):
        return _gather_rows(n_owners, counts, [], [])
    spatial = _spatial(network)
    # each facility's box: its entrances' edges and `limit` around them, in whole cells
    a_order = np.argsort(sources.owner, kind="stable")
    a_owner = sources.owner[a_order]
    a_first = np.flatnonzero(np.r_[True, a_owner[1:] != a_owner[:-1]])
    edge_box = spatial.edge_box[sources.edge[a_order]]
    at = np.searchsorted(a_owner[a_first], active)
    runs = spatial.runs(
        np.minimum.reduceat(edge_box[:, 0], a_first)[at] - limit,
        np.minimum.reduceat(edge_box[:, 1], a_first)[at] - limit,
        np.maximum.reduceat(edge_box[:, 2], a_first)[at] + limit,
        np.maximum.reduceat(edge_box[:, 3], a_first)[at] + limit,
    )
    # boxes cut in batches of about BOX_ENTRIES streets (at least one facility each)
    entries = np.cumsum(
        np.bincount(runs.fac, spatial.indptr[runs.hi] - spatial.indptr[runs.lo], len(active))
    )
    cuts = np.unique(
        np.searchsorted(entries, np.arange(1, 1 + entries[-1] // BOX_ENTRIES) * BOX_ENTRIES)
    )
    bounds = np.unique(np.r_[0, cuts + 1, len(active)]).clip(0, len(active))
    v_order = np.argsort(v_owner, kind="stable")
    v_ptr = _ptr(v_owner, n_owners)
    run_ptr = _ptr(runs.fac, len(active))
    nodes: list[np.ndarray] = []
    dists: list[np.ndarray] = []
    for g0, g1 in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        ids = active[g0:g1]
        vi = v_order[_ranges(v_ptr[ids], v_ptr[ids + 1])]
        rank = np.empty(n_owners, dtype=np.int64)
        rank[ids] = np.arange(len(ids))
        boxes = _cut_boxes(
            spatial,
            runs.part(int(run_ptr[g0]), int(run_ptr[g1]), g0, g1),
            (rank[v_owner[vi]], v_node[vi], v_w[vi]),
        )
        node, dist, per = boxes.search(spatial, limit, chunk)
        nodes.append(node)
        dists.append(dist)
        counts[ids] = per
    return _gather_rows(n_owners, counts, nodes, dists)


@dataclass(frozen=True)
class _Runs:
    """Boxes as runs of cell-ordered node positions: one run per row of cells of a box."""

    fac: np.ndarray  # box (facility) of each run, ascending
    first: np.ndarray  # per box: its first run
    i0: np.ndarray  # per box: its first row of cells and column of cells (int32)
    j0: np.ndarray
    nrow: np.ndarray  # per box: its rows and columns of cells (int32)
    ncol: np.ndarray
    lo: np.ndarray  # per run: positions lo:hi in cell order
    hi: np.ndarray

    def part(self, r0: int, r1: int, f0: int, f1: int) -> _Runs:
        """Runs r0:r1, those of boxes f0:f1 (renumbered from 0)."""
        return _Runs(
            self.fac[r0:r1] - f0,
            self.first[f0:f1] - r0,
            self.i0[f0:f1],
            self.j0[f0:f1],
            self.nrow[f0:f1],
            self.ncol[f0:f1],
            self.lo[r0:r1],
            self.hi[r0:r1],
        )


@dataclass(frozen=True)
class _Boxes:
    """Facilities' boxes as one block-diagonal graph; box f holds local nodes start[f]:start[f+1].

    ``pos`` is the cell-order position of each local node; the CSR arrays hold the streets
    inside the boxes (local indices, int32); ``v_ptr``, ``v_col``, ``v_w`` each facility's
    source edges (to local nodes of its own box).
    """

    start: np.ndarray
    pos: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    v_ptr: np.ndarray
    v_col: np.ndarray
    v_w: np.ndarray

    def search(
        self, spatial: _Spatial, limit: float, chunk: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bounded Dijkstra of every facility on its own box, `chunk` facilities per call.

        Returns
        -------
        node, dist, counts
            Reached nodes (facility by facility, nodes ascending within), their distances,
            and the number of nodes per facility.
        """
        n_fac = len(self.start) - 1
        n = len(spatial.node)
        nodes: list[np.ndarray] = []
        dists: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        for a in range(0, n_fac, chunk):
            b = min(a + chunk, n_fac)
            s, e = int(self.start[a]), int(self.start[b])
            pa, pb = int(self.indptr[s]), int(self.indptr[e])
            va, vb = int(self.v_ptr[a]), int(self.v_ptr[b])
            m = e - s
            indptr = np.empty(m + b - a + 1, dtype=self.indptr.dtype)
            np.subtract(self.indptr[s : e + 1], pa, out=indptr[: m + 1])
            np.add(self.v_ptr[a + 1 : b + 1], pb - pa - va, out=indptr[m + 1 :])
            indices = np.concatenate([self.indices[pa:pb], self.v_col[va:vb]])
            indices -= s
            csr = sparse.csr_matrix(
                (np.concatenate([self.data[pa:pb], self.v_w[va:vb]]), indices, indptr),
                shape=(m + b - a, m + b - a),
            )
            # one search from all the call's sources: each leads only into its own box
            d = dijkstra(
                csr, directed=True, indices=m + np.arange(b - a), limit=limit, min_only=True
            )
            c = np.flatnonzero(np.isfinite(d[:m])) + s
            r = np.searchsorted(self.start, c, side="right") - 1
            node = spatial.node[self.pos[c]]
            order = np.argsort(r * n + node)  # nodes ascending within each facility
            nodes.append(node[order])
            dists.append(d[c[order] - s])
            counts.append(np.bincount(r - a, minlength=b - a))
        return np.concatenate(nodes), np.concatenate(dists), np.concatenate(counts)


def _cut_boxes(
    spatial: _Spatial, runs: _Runs, virtual: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> _Boxes:
    """Cut each facility's box out of the cell-ordered network, all at once.

    `virtual` holds the facilities' source edges: facility (0..F-1), end node, weight.
    """
    n_fac = len(runs.first)
    size = runs.hi - runs.lo
    end = np.cumsum(size)
    shift = end - size - runs.lo  # local index = position + shift of its run
    pos = _ranges(runs.lo, runs.hi)  # the boxes' nodes, in local order
    # their streets: one stretch of the cell-ordered adjacency per run
    e_lo, e_hi = spatial.indptr[runs.lo], spatial.indptr[runs.hi]
    ent = _ranges(e_lo, e_hi)
    e_fac = np.repeat(runs.fac, e_hi - e_lo)
    # inside the box when its far end's cell is: 0 <= cell - first cell < cells, unsigned
    rel = spatial.to_row[ent] - runs.i0[e_fac]
    inside = rel.view(np.uint32) < runs.nrow[e_fac].view(np.uint32)
    inside &= (spatial.to_col[ent] - runs.j0[e_fac]).view(np.uint32) < runs.ncol[e_fac].view(
        np.uint32
    )
    keep = np.flatnonzero(inside)
    ent, e_fac, rel = ent[keep], e_fac[keep], rel[keep]
    col = shift[runs.first[e_fac] + rel] + spatial.indices[ent]
    kept = np.zeros(len(inside) + 1, dtype=np.int64)
    np.cumsum(inside, out=kept[1:])
    raw = np.zeros(len(pos) + 1, dtype=np.int64)
    np.cumsum(spatial.indptr[pos + 1] - spatial.indptr[pos], out=raw[1:])
    v_fac, v_node, v_w = virtual
    vp = spatial.pos[v_node]  # inside its own box: the end of an entrance's edge
    v_run = runs.first[v_fac] + spatial.row[vp] - runs.i0[v_fac]
    virt = _csr_rows(v_fac, shift[v_run] + vp, v_w, n_fac)
    start = np.zeros(n_fac + 1, dtype=np.int64)
    start[1:] = end[np.cumsum(runs.nrow) - 1]
    itype = np.int32 if max(len(pos), len(ent)) + n_fac < 2**31 else np.int64
    return _Boxes(
        start=start,
        pos=pos,
        indptr=kept[raw].astype(itype),
        indices=col.astype(itype),
        data=spatial.data[ent],
        v_ptr=virt.indptr.astype(itype),
        v_col=virt.indices.astype(itype),
        v_w=virt.data,
    )


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
    n_owners: int, counts: np.ndarray, nodes: list[np.ndarray], dists: list[np.ndarray]
) -> NodeReach:
    """Rows found call by call (facilities ascending) as one `NodeReach`."""
    indptr = np.zeros(n_owners + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    if not nodes:
        return NodeReach(np.arange(n_owners), indptr, np.zeros(0, dtype=np.int64), np.zeros(0))
    return NodeReach(
        facilities=np.arange(n_owners),
        indptr=indptr,
        node=np.concatenate(nodes).astype(np.int64, copy=False),
        dist=np.concatenate(dists),
    )


@dataclass(frozen=True)
class _Spatial:
    """The network's nodes in square cells, and its adjacency in that order.

    Nodes are ordered by cell (row of cells ``i`` first, then ``j``), so the nodes of a
    row of cells ``j0..j1`` are one run of positions, and their streets one stretch of
    the reordered adjacency (``indptr``, ``indices`` as positions, ``data``; ``to_row``
    and ``to_col`` the cell of each street's far end).
    """

    edge_box: np.ndarray  # (edges, 4): minx, miny, maxx, maxy
    x0: float
    y0: float
    cell: float
    ni: int
    nj: int
    ptr: np.ndarray  # cell i * nj + j holds positions ptr[c] : ptr[c + 1]
    node: np.ndarray  # node at each position
    pos: np.ndarray  # position of each node
    row: np.ndarray  # row of cells of each position (int32)
    indptr: np.ndarray
    indices: np.ndarray  # int32
    data: np.ndarray
    to_row: np.ndarray  # int32
    to_col: np.ndarray  # int32

    def runs(self, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> _Runs:
        """The cells meeting each box (a superset of the nodes in it), as runs."""

        def cell(v: np.ndarray, origin: float, n: int) -> np.ndarray:
            return np.clip(np.floor_divide(v - origin, self.cell), 0, n - 1).astype(np.int32)

        i0, i1 = cell(x0, self.x0, self.ni), cell(x1, self.x0, self.ni)
        j0, j1 = cell(y0, self.y0, self.nj), cell(y1, self.y0, self.nj)
        nrow, ncol = i1 - i0 + 1, j1 - j0 + 1  # at least 1: clipped, x0 <= x1
        fac = np.repeat(np.arange(len(i0)), nrow)
        c = _ranges(i0, i0 + nrow).astype(np.int64) * self.nj + j0[fac]
        return _Runs(
            fac=fac,
            first=np.cumsum(nrow, dtype=np.int64) - nrow,
            i0=i0,
            j0=j0,
            nrow=nrow,
            ncol=ncol,
            lo=self.ptr[c],
            hi=self.ptr[c + ncol[fac]],
        )


def _spatial(network: StreetNetwork) -> _Spatial:
    def build() -> _Spatial:
        x, y = network.node_x, network.node_y
        n = network.n_nodes
        box = shapely.bounds(network.edge_geometry)
        base = network.csr
        x0, y0 = (float(x.min()), float(y.min())) if n else (0.0, 0.0)
        x1, y1 = (float(x.max()), float(y.max())) if n else (0.0, 0.0)
        area = max((x1 - x0) * (y1 - y0), 1.0)
        cell = max(100.0, (area / 4_000_000) ** 0.5)  # at most about 4M cells
        ni = int((x1 - x0) // cell) + 1
        nj = int((y1 - y0) // cell) + 1
        i = ((x - x0) // cell).astype(np.int32)
        j = ((y - y0) // cell).astype(np.int32)
        key = i.astype(np.int64) * nj + j
        order = np.argsort(key, kind="stable")
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.diff(base.indptr)[order], out=indptr[1:])
        ent = _ranges(base.indptr[order], base.indptr[order + 1])
        far = base.indices[ent]
        return _Spatial(
            box,
            x0,
            y0,
            cell,
            ni,
            nj,
            _ptr(key, ni * nj),
            order.astype(np.int64),
            pos,
            i[order],
            indptr,
            pos[far].astype(np.int32 if n < 2**31 else np.int64),
            base.data[ent].astype(float),
            i[far],
            j[far],
        )

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
    o = np.argsort(key)
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
    network: StreetNetwork, reach: NodeReach
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of the nearest facility of every node, continuing `reach`.

    The search runs on the unreached nodes' streets only. Streets between them and the
    reached nodes are found from the unreached side (the adjacency is symmetric): they
    start the search, from each reached node's nearest facility, at its distance plus the
    street; in the graph they lead to one dead-end node.
    """
    n = network.n_nodes
    dist, fac = node_minimum(reach, n)
    rest = np.flatnonzero(~np.isfinite(dist))
    if not len(rest) or not len(reach.node):
        return dist, fac
    m = len(rest)
    base = network.csr
    local = np.full(n, m, dtype=np.int32 if m < 2**31 else np.int64)  # m: the dead end
    local[rest] = np.arange(m)
    lo, hi = base.indptr[rest], base.indptr[rest + 1]
    ent = _ranges(lo, hi)
    col = local[base.indices[ent]]
    border = np.flatnonzero(col == m)  # streets from the rest to reached nodes
    if not len(border):  # the unreached nodes hang together with no reached one
        return dist, fac
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(hi - lo, out=indptr[1:])
    b_row = np.searchsorted(indptr, border, side="right") - 1
    b_from = base.indices[ent[border]]
    facs, b_rank = np.unique(fac[b_from], return_inverse=True)
    starts = _csr_rows(b_rank, b_row, dist[b_from] + base.data[ent[border]], len(facs))
    size = m + 1 + len(facs)
    csr = sparse.csr_matrix(
        (
            np.concatenate([base.data[ent], starts.data]),
            np.concatenate([col, starts.indices]),
            np.concatenate([indptr, indptr[-1:], indptr[-1] + starts.indptr[1:]]),
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

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
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from planner.network import StreetNetwork, adjacency


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
    length = network.edge_length[sources.edge]
    owner = n + sources.owner
    # streets in both directions, virtual edges out of the source nodes only; one adjacency
    # call keeps zero-weight entries (an entrance on a node with no access leg), which
    # adding two sparse matrices would silently drop
    u = np.concatenate([network.edge_u, network.edge_v, owner, owner])
    v = np.concatenate(
        [network.edge_v, network.edge_u, network.edge_u[sources.edge], network.edge_v[sources.edge]]
    )
    w = np.concatenate(
        [
            network.edge_length,
            network.edge_length,
            sources.access + sources.offset,
            sources.access + (length - sources.offset),
        ]
    )
    return adjacency(n + n_owners, u, v, w, symmetric=False), n


def node_reach(
    network: StreetNetwork,
    sources: Anchors,
    n_owners: int,
    limit: float,
    *,
    chunk: int = 64,
) -> NodeReach:
    """Bounded multi-facility Dijkstra: distance to every node within `limit` metres.

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
        Facilities per Dijkstra call (bounds memory at chunk x nodes floats).

    Returns
    -------
    reach
        Reached nodes per facility.
    """
    csr, first = source_graph(network, sources, n_owners)
    n = network.n_nodes
    indptr = [0]
    nodes: list[np.ndarray] = []
    dists: list[np.ndarray] = []
    for start in range(0, n_owners, chunk):
        ids = np.arange(start, min(start + chunk, n_owners))
        d = dijkstra(csr, directed=True, indices=first + ids, limit=limit)[:, :n]
        for row in d:
            hit = np.flatnonzero(np.isfinite(row))
            nodes.append(hit)
            dists.append(row[hit])
            indptr.append(indptr[-1] + len(hit))
    return NodeReach(
        facilities=np.arange(n_owners),
        indptr=np.asarray(indptr, dtype=np.int64),
        node=np.concatenate(nodes) if nodes else np.zeros(0, dtype=np.int64),
        dist=np.concatenate(dists) if dists else np.zeros(0),
    )


def _same_edge(sources: Anchors, targets: Anchors) -> pd.DataFrame:
    """Source/target anchor pairs that lie on the same edge, with their direct distance."""
    if not len(sources) or not len(targets):
        return pd.DataFrame({"source": [], "target": [], "dist": []})
    s = pd.DataFrame({"edge": sources.edge, "source": sources.owner, "a": sources.offset})
    s["alpha"] = sources.access
    t = pd.DataFrame({"edge": targets.edge, "target": targets.owner, "b": targets.offset})
    t["beta"] = targets.access
    m = s.merge(t, on="edge")
    m["dist"] = m["alpha"] + (m["a"] - m["b"]).abs() + m["beta"]
    return m[["source", "target", "dist"]]


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
    frames = []
    for i, fac in enumerate(reach.facilities):
        node, dist = reach.row(i)
        if len(node):
            cnt = starts[node + 1] - starts[node]
            pos = np.repeat(starts[node] - np.cumsum(np.r_[0, cnt[:-1]]), cnt) + np.arange(
                cnt.sum()
            )
            t = tgt[pos]
            d = np.repeat(dist, cnt) + leg[pos] + targets.access[t]
            keep = d <= limit + tol
            frames.append(
                pd.DataFrame(
                    {"facility": fac, "poi": targets.owner[t[keep]], "distance_m": d[keep]}
                )
            )
    same = _same_edge(sources, targets)
    if len(same):
        same = same.rename(columns={"source": "facility", "target": "poi", "dist": "distance_m"})
        frames.append(same[same["distance_m"] <= limit + tol])
    if not frames:
        return pd.DataFrame(
            {
                "facility": pd.Series(dtype=np.int64),
                "poi": pd.Series(dtype=np.int64),
                "distance_m": pd.Series(dtype=float),
            }
        )
    pairs = pd.concat(frames, ignore_index=True)
    pairs = pairs.groupby(["facility", "poi"], as_index=False, sort=True)["distance_m"].min()
    pairs["facility"] = pairs["facility"].astype(np.int64)
    pairs["poi"] = pairs["poi"].astype(np.int64)
    return pairs


def nearest_facility(
    network: StreetNetwork, sources: Anchors, n_owners: int, targets: Anchors, n_targets: int
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest facility of every target from one unbounded multi-source search.

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
    csr, first = source_graph(network, sources, n_owners)
    active = np.unique(sources.owner)
    dist, _, src = dijkstra(
        csr, directed=True, indices=first + active, min_only=True, return_predecessors=True
    )
    tu = network.edge_u[targets.edge]
    tv = network.edge_v[targets.edge]
    du = dist[tu] + targets.offset
    dv = dist[tv] + (network.edge_length[targets.edge] - targets.offset)
    best = np.where(dv < du, dv, du)
    best_src = np.where(dv < du, src[tv], src[tu])
    cand = pd.DataFrame(
        {"poi": targets.owner, "dist": best + targets.access, "facility": best_src - first}
    )
    cand = cand[np.isfinite(cand["dist"])]
    same = _same_edge(sources, targets).rename(columns={"source": "facility", "target": "poi"})
    cand = pd.concat([cand, same], ignore_index=True).sort_values(["poi", "dist", "facility"])
    cand = cand.drop_duplicates("poi")
    facility[cand["poi"].to_numpy()] = cand["facility"].to_numpy()
    distance[cand["poi"].to_numpy()] = cand["dist"].to_numpy()
    return facility, distance

"""Where the next service points go: maximal covering (MCLP) and set covering (LSCP) siting."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

from planner._errors import PlannerError
from planner._i18n import _
from planner.schema import ROUTED_STATUSES, Status

if TYPE_CHECKING:
    from planner.network import StreetNetwork
    from planner.result import Result

__all__ = [
    "EXACT_MAX_NNZ",
    "SITES_COLUMNS",
    "Coverage",
    "Siting",
    "SitingError",
    "Solution",
    "greedy_mclp",
    "street_candidates",
]

#: Columns of sites.csv (`Siting.to_csv`).
SITES_COLUMNS = (
    "rank",
    "site_id",
    "name",
    "lon",
    "lat",
    "newly_covered",
    "covered_total",
    "method",
    "gap",
)
#: Problems with more coverage incidences than this (after merging merchants with the same
#: covering sites) are solved by greedy + 1-swap only; smaller ones exactly with HiGHS.
EXACT_MAX_NNZ = 200_000
#: Method names in `Siting.selected` and sites.csv.
METHOD_MILP = "milp (HiGHS)"
METHOD_GREEDY = "greedy+swap"
#: Statuses of merchants that were routed (snapped, walked): the demand.
_ROUTED = sorted(s.value for s in ROUTED_STATUSES)  # swapped_lat_lon rows are walked too
#: Candidates per engine call (bounds the memory of the reached-node tables).
_CHUNK = 256


class SitingError(PlannerError, ValueError):
    """A siting request cannot be met: bad count, target, weights or candidates.

    Parameters
    ----------
    detail
        What is wrong.
    argument
        The argument it is about (``"n"``, ``"target_share"``), named before the detail in the
        message; the command line names its own option instead.
    """

    def __init__(self, detail: str, argument: str | None = None) -> None:
        self.detail = detail
        self.argument = argument
        super().__init__(detail if argument is None else f"{argument}: {detail}")


@dataclass(frozen=True)
class Coverage:
    """Merchants within the band of a set of sites.

    Attributes
    ----------
    covered, total
        Routed merchants within the band, and all routed merchants.
    covered_weight, total_weight
        The same, weighted (equal to the counts without a weight column).
    """

    covered: int
    total: int
    covered_weight: float
    total_weight: float

    @property
    def share(self) -> float:
        """Covered share of the weight (of the count without weights); NaN when empty."""
        return self.covered_weight / self.total_weight if self.total_weight > 0 else math.nan


@dataclass(frozen=True)
class Solution:
    """A set of chosen candidate indices with how it was found and how good it is proven.

    Attributes
    ----------
    sites
        Candidate indices, in rank order (as greedy would add them).
    value
        Objective: newly covered weight (MCLP) or number of sites (LSCP).
    bound
        Upper bound on the MCLP optimum, or lower bound on the LSCP optimum.
    gap
        Relative gap ``|bound - value| / max(|bound|, |value|)`` (0 when proven optimal).
    method
        ``milp (HiGHS)`` or ``greedy+swap``.
    note
        Why this method (time limit reached, problem too big), empty otherwise.
    seconds
        Solve time.
    """

    sites: np.ndarray
    value: float
    bound: float
    gap: float
    method: str
    note: str = ""
    seconds: float = 0.0


def _rel_gap(value: float, bound: float) -> float:
    scale = max(abs(value), abs(bound))
    gap = 0.0 if scale <= 1e-12 else abs(bound - value) / scale
    return 0.0 if gap < 1e-7 else gap  # below solver tolerances: optimal


# --------------------------------------------------------------------------- heuristics


def _gains(csc: sparse.csc_matrix, w: np.ndarray, open_cols: np.ndarray) -> np.ndarray:
    """Weight each candidate would newly cover among the open (uncovered) columns."""
    return np.asarray(csc @ np.where(open_cols, w, 0.0)).ravel()


def greedy_mclp(
    A: sparse.csr_matrix,
    w: np.ndarray,
    n: int,
    *,
    swap: bool = True,
    time_limit: float | None = None,
) -> tuple[np.ndarray, float, float]:
    """Greedy maximal covering with 1-swap local search, and an upper bound on the optimum.

    Parameters
    ----------
    A
        Candidate x demand coverage incidence (0/1).
    w
        Demand weights (non-negative).
    n
        Sites to choose (at most the number of candidates).
    swap
        Improve the greedy set by best-improvement 1-swaps until none improves.
    time_limit
        Seconds for the swap phase (None: no limit).

    Returns
    -------
    sites, value, bound
        Chosen candidate indices, the covered weight, and an upper bound on the optimum:
        the least over the greedy steps of ``f(S_k) + the n largest marginal gains``
        (submodularity), which is also at most ``value / (1 - 1/e)``.
    """
    t0 = time.perf_counter()
    A = sparse.csr_matrix(A, dtype=float)
    csc = A.tocsc()
    m = A.shape[1]
    w = np.asarray(w, dtype=float)
    covered = np.zeros(m, dtype=bool)
    gains = np.asarray(A @ w).ravel()
    chosen: list[int] = []
    value = 0.0
    bound = math.inf
    for _step in range(n):
        g = gains.copy()
        g[chosen] = -np.inf
        bound = min(bound, value + _top_sum(g, n))
        best = int(np.argmax(g))
        chosen.append(best)
        row = A.indices[A.indptr[best] : A.indptr[best + 1]]
        new = row[~covered[row]]
        if len(new):
            covered[new] = True
            value += float(w[new].sum())
            gains -= np.asarray(csc[:, new] @ w[new]).ravel()
    g = gains.copy()
    g[chosen] = -np.inf
    bound = min(bound, value + _top_sum(g, n))
    sites = np.asarray(chosen, dtype=np.int64)
    if swap and n:
        sites, value = _swap(A, csc, w, sites, t0, time_limit)
    return sites, value, max(bound, value)


def _top_sum(gains: np.ndarray, n: int) -> float:
    """Sum of the `n` largest finite positive gains."""
    g = np.maximum(gains[np.isfinite(gains)], 0.0)
    k = min(n, len(g))
    return float(np.partition(g, len(g) - k)[len(g) - k :].sum()) if k else 0.0


def _swap(
    A: sparse.csr_matrix,
    csc: sparse.csc_matrix,
    w: np.ndarray,
    sites: np.ndarray,
    t0: float,
    time_limit: float | None,
) -> tuple[np.ndarray, float]:
    """Best-improvement 1-swap local search from `sites`."""
    n_cand = A.shape[0]
    sites = sites.copy()
    eps = 1e-9 * max(1.0, float(w.sum()))
    while True:
        count = np.asarray(A[sites].sum(axis=0)).ravel()
        value = float(w[count > 0].sum())
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            return sites, value
        gain0 = _gains(A, w, count == 0)  # what each candidate adds to the set as it is
        once = np.flatnonzero(count == 1)
        # owner (position in `sites`) of each merchant covered exactly once
        sub = A[sites][:, once].tocoo()
        owner = np.full(len(once), -1, dtype=np.int64)
        owner[sub.col] = sub.row
        loss = np.bincount(owner, weights=w[once], minlength=len(sites))
        # shared[c, s]: weight covered only by site s that candidate c would keep covered
        onehot = sparse.csr_matrix(
            (w[once], (np.arange(len(once)), owner)), shape=(len(once), len(sites))
        )
        shared = (csc[:, once] @ onehot).toarray() if len(once) else np.zeros((n_cand, len(sites)))
        delta = gain0[:, None] + shared - loss[None, :]
        delta[sites, :] = -np.inf
        c, s = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if not delta[c, s] > eps:
            return sites, value
        sites[s] = c


def _rank(A: sparse.csr_matrix, w: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Order sites as greedy would add them: largest marginal weight first (ties: index)."""
    left = list(np.sort(np.asarray(sites, dtype=np.int64)))
    covered = np.zeros(A.shape[1], dtype=bool)
    order: list[int] = []
    while left:
        best, best_gain = left[0], -1.0
        for s in left:
            row = A.indices[A.indptr[s] : A.indptr[s + 1]]
            g = float(w[row[~covered[row]]].sum())
            if g > best_gain + 1e-12:
                best, best_gain = s, g
        order.append(best)
        left.remove(best)
        covered[A.indices[A.indptr[best] : A.indptr[best + 1]]] = True
    return np.asarray(order, dtype=np.int64)


# --------------------------------------------------------------------------- exact (HiGHS)


def _milp_mclp(
    A: sparse.csr_matrix, w: np.ndarray, n: int, time_limit: float
) -> tuple[np.ndarray | None, float, float, bool]:
    """MCLP as a MILP: returns sites (None if none found), value, dual bound, finished."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n_cand, m = A.shape
    # y_j - sum_i A_ij x_i <= 0 ; sum_i x_i = n ; maximise sum_j w_j y_j
    cover = sparse.hstack([-A.T.tocsr(), sparse.identity(m, format="csr")], format="csr")
    count = sparse.csr_matrix(np.r_[np.ones(n_cand), np.zeros(m)][None, :])
    res = milp(
        c=np.r_[np.zeros(n_cand), -w],
        constraints=[
            LinearConstraint(cover, -np.inf, 0.0),
            LinearConstraint(count, n, n),
        ],
        integrality=np.r_[np.ones(n_cand), np.zeros(m)],
        bounds=Bounds(0.0, 1.0),
        options={"time_limit": float(time_limit), "disp": False},
    )
    finished = res.status == 0
    bound = -float(res.mip_dual_bound) if res.mip_dual_bound is not None else math.inf
    if res.x is None:
        return None, 0.0, bound, finished
    sites = np.flatnonzero(res.x[:n_cand] > 0.5)
    value = float(w[np.asarray(A[sites].sum(axis=0)).ravel() > 0].sum())
    return sites, value, bound, finished


def _lp_bound_mclp(A: sparse.csr_matrix, w: np.ndarray, n: int, time_limit: float) -> float:
    """The LP relaxation's optimum of the MCLP (an upper bound), or inf if not finished."""
    from scipy.optimize import linprog

    n_cand, m = A.shape
    cover = sparse.hstack([-A.T.tocsr(), sparse.identity(m, format="csr")], format="csr")
    res = linprog(
        np.r_[np.zeros(n_cand), -w],
        A_ub=cover,
        b_ub=np.zeros(m),
        A_eq=sparse.csr_matrix(np.r_[np.ones(n_cand), np.zeros(m)][None, :]),
        b_eq=[n],
        bounds=(0.0, 1.0),
        method="highs-ipm",
        options={"time_limit": float(time_limit)},
    )
    if res.status != 0 or res.fun is None:
        return math.inf
    return -float(res.fun) * (1 + 1e-9) + 1e-9  # solver tolerance: never below the optimum


def _milp_lscp(
    A: sparse.csr_matrix, w: np.ndarray, need: float, time_limit: float
) -> tuple[np.ndarray | None, int, bool]:
    """Fewest sites covering at least `need` weight: sites, dual (lower) bound, finished."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n_cand, m = A.shape
    cover = sparse.hstack([-A.T.tocsr(), sparse.identity(m, format="csr")], format="csr")
    total = sparse.csr_matrix(np.r_[np.zeros(n_cand), w][None, :])
    res = milp(
        c=np.r_[np.ones(n_cand), np.zeros(m)],
        constraints=[
            LinearConstraint(cover, -np.inf, 0.0),
            LinearConstraint(total, need, np.inf),
        ],
        integrality=np.r_[np.ones(n_cand), np.zeros(m)],
        bounds=Bounds(0.0, 1.0),
        options={"time_limit": float(time_limit), "disp": False},
    )
    finished = res.status == 0
    bound = float(res.mip_dual_bound) if res.mip_dual_bound is not None else 0.0
    if res.x is None:
        return None, math.ceil(bound - 1e-6), finished
    return np.flatnonzero(res.x[:n_cand] > 0.5), math.ceil(bound - 1e-6), finished


# --------------------------------------------------------------------------- candidates


def street_candidates(network: StreetNetwork, spacing_m: float = 50.0) -> pd.DataFrame:
    """Points along every walkable street about every `spacing_m` metres.

    Each edge gets points at 0, s, 2s, … metres from its start and at its end, with
    ``s = length / ceil(length / spacing_m)``; points closer than ``spacing_m / 2`` to an
    earlier point (the same node reached from several edges, short edges) are dropped.

    Parameters
    ----------
    network
        The routed street network (projected).
    spacing_m
        Target spacing in metres (> 0).

    Returns
    -------
    candidates
        Columns ``edge``, ``offset`` (metres from the edge's start), ``x``, ``y`` (network
        CRS), ``lon``, ``lat`` (WGS-84).
    """
    import shapely
    from pyproj import Transformer
    from scipy.spatial import cKDTree

    if not spacing_m > 0:
        raise SitingError(
            _("spacing_m: expected a positive number of metres, got {spacing_m!r}").format(
                spacing_m=spacing_m
            )
        )
    length = np.asarray(network.edge_length, dtype=float)
    steps = np.maximum(1, np.ceil(length / spacing_m)).astype(np.int64)
    edge = np.repeat(np.arange(network.n_edges), steps + 1)
    k = np.arange(len(edge)) - np.repeat(np.cumsum(np.r_[0, steps[:-1] + 1]), steps + 1)
    # clipped: k * (length / steps) may pass the end by a rounding error (a negative leg)
    offset = np.minimum(k * np.repeat(length / steps, steps + 1), length[edge])
    geoms = np.asarray(network.edge_geometry, dtype=object)[edge]
    pts = shapely.line_interpolate_point(geoms, offset)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    keep = np.ones(len(x), dtype=bool)
    if len(x):
        pairs = cKDTree(np.c_[x, y]).query_pairs(spacing_m / 2.0, output_type="ndarray")
        if len(pairs):
            pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
            for i, j in pairs:  # keep the first of each near pair, in edge order
                if keep[i]:
                    keep[j] = False
    t = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    lon, lat = t.transform(x[keep], y[keep])
    return pd.DataFrame(
        {
            "edge": edge[keep],
            "offset": offset[keep],
            "x": x[keep],
            "y": y[keep],
            "lon": np.asarray(lon, dtype=float),
            "lat": np.asarray(lat, dtype=float),
        }
    )


# --------------------------------------------------------------------------- the problem


@dataclass
class Siting:
    """A siting problem built from an analysis, and after solving, its chosen sites.

    Build it with `Siting.from_result`, then call `solve_mclp` or `solve_lscp`.

    Attributes
    ----------
    band_min, band_m
        The walking band new sites must bring merchants within.
    demand
        The routed merchants (``poi_id, lon, lat, weight, covered_before``).
    candidates
        Usable candidate sites (``site_id, lon, lat`` and for street points ``edge``,
        ``offset``).
    excluded
        Candidate rows left out, with ``status`` and ``reason``.
    coverage
        Sparse candidate x demand incidence: True where a candidate's exact walking
        distance to a merchant is within the band.
    distance
        The same pairs' walking distances in metres (sparse, same pattern).
    selected
        After solving: ``rank, site_id, lon, lat, newly_covered, covered_total, method,
        gap`` (and ``newly_covered_weight`` when weighted).
    before, after
        Coverage of the routed merchants by today's facilities, and with the new sites.
    solution
        The raw solution (method, value, bound, gap, note).
    """

    band_min: float
    band_m: float
    demand: pd.DataFrame
    candidates: pd.DataFrame
    excluded: pd.DataFrame
    coverage: sparse.csr_matrix
    distance: sparse.csr_matrix
    weighted: bool = False
    selected: pd.DataFrame | None = None
    before: Coverage | None = None
    after: Coverage | None = None
    solution: Solution | None = None
    timings: dict[str, float] = field(default_factory=dict)

    # ----------------------------------------------------------------------- building

    @classmethod
    def from_result(
        cls,
        result: Result,
        candidates: pd.DataFrame | None = None,
        band_min: float | None = None,
        weight: str | None = None,
        spacing_m: float = 50.0,
    ) -> Siting:
        """Build the siting problem of an analysis.

        Parameters
        ----------
        result
            The analysis (`planner.analyse_scenario`); its network, settings and merchants.
        candidates
            Candidate sites in the `planner.read_points` layout (rows keep their statuses;
            rows not usable or not within the snapping limit of a street are excluded and
            listed in ``excluded``). None: points along the streets every `spacing_m`.
        band_min
            Walking band in minutes (any positive number; default: the largest band).
        weight
            Numeric column of ``result.pois`` weighting the merchants (default: 1 each).
        spacing_m
            Spacing of the street candidates, metres.

        Returns
        -------
        siting
            The problem, not yet solved.

        Raises
        ------
        SitingError
            Bad band, weight column or candidate table.
        """
        from planner import pipeline, reach
        from planner.readers import ATTR_SOURCE, ATTR_UNIT

        t0 = time.perf_counter()
        settings = result.settings
        band = settings.largest_band_min if band_min is None else _positive(band_min, "band_min")
        band_m = band * settings.metres_per_minute
        network = result.network
        pois = result.pois
        routed = pois["status"].isin(_ROUTED).to_numpy()
        weights = np.ones(len(pois))
        if weight is not None:
            if weight not in pois.columns:
                raise SitingError(
                    _("weight: result.pois has no column {weight!r}").format(weight=weight)
                )
            weights = pd.to_numeric(pois[weight], errors="coerce").to_numpy(dtype=float)
            bad = routed & ~(np.isfinite(weights) & (weights >= 0))
            if bad.any():
                ids = ", ".join(map(str, pois.loc[bad, "poi_id"].head(3)))
                raise SitingError(
                    _(
                        "weight: column {weight!r} must be a non-negative number for every "
                        "routed merchant ({value} are not, e.g. {ids})"
                    ).format(weight=weight, value=int(bad.sum()), ids=ids)
                )
        tol = 1e-9 * max(band_m, 1.0)
        nearest_m = pois["minutes_to_nearest"].to_numpy(dtype=float) * settings.metres_per_minute
        demand = pd.DataFrame(
            {
                "poi_id": pois["poi_id"].to_numpy()[routed],
                "lon": pois["lon"].to_numpy(dtype=float)[routed],
                "lat": pois["lat"].to_numpy(dtype=float)[routed],
                "weight": weights[routed],
                "covered_before": (nearest_m <= band_m + tol)[routed],
            }
        )
        # merchants' positions on the network, as the analysis snapped them
        poi_snap = pipeline._snap_table(network, result.poi_rows, settings.snap_limit_m)
        poi_snap.loc[~routed, "edge"] = -1
        targets = reach.Anchors.from_snapped(poi_snap, np.cumsum(routed) - 1)

        if candidates is None:
            street = street_candidates(network, spacing_m)
            cand = pd.DataFrame(
                {
                    "site_id": _free_ids(
                        [f"S{i + 1:05d}" for i in range(len(street))],
                        {str(f) for f in result.facilities["facility_id"]},
                    ),
                    "lon": street["lon"],
                    "lat": street["lat"],
                    "edge": street["edge"],
                    "offset": street["offset"],
                }
            )
            excluded = pd.DataFrame(columns=["row", "site_id", "status", "reason"])
            cand_snap = pd.DataFrame(
                {
                    "edge": street["edge"].to_numpy(),
                    "offset": street["offset"].to_numpy(),
                    "access_m": np.zeros(len(street)),
                }
            )
        else:
            pipeline._check_table(candidates, "candidates")
            snapped = pipeline._snap_table(network, candidates, settings.snap_limit_m)
            usable = candidates["usable"].to_numpy(dtype=bool)
            source = candidates.attrs.get(ATTR_SOURCE) or "candidates"
            unit = candidates.attrs.get(ATTR_UNIT) or "row"
            status = np.asarray(candidates["status"], dtype=object).copy()
            reason = np.asarray(candidates["reason"], dtype=object).copy()
            # a new site is added as a facility by its id: an existing facility's id clashes
            taken = {str(f) for f in result.facilities["facility_id"]}
            clash = usable & candidates["id"].astype(str).isin(taken).to_numpy()
            status[clash] = Status.DUPLICATE_ID.value
            reason[clash] = [
                _("{file} {unit} {number}: candidate {id} has the id of a facility").format(
                    file=source, unit=_(unit), number=r, id=json.dumps(str(i), ensure_ascii=False)
                )
                for r, i in zip(
                    candidates["row"].to_numpy()[clash],
                    candidates["id"].to_numpy()[clash],
                    strict=True,
                )
            ]
            usable = usable & ~clash
            ok = usable & (snapped["edge"].to_numpy() >= 0)
            far = usable & ~ok
            status[far] = snapped["status"].to_numpy()[far]
            reason[far] = [
                _(
                    "{file} {unit} {number}: no walkable street within the snapping limit "
                    "of {limit:g} m"
                ).format(file=source, unit=_(unit), number=r, limit=settings.snap_limit_m)
                for r in candidates["row"].to_numpy()[far]
            ]
            excluded = pd.DataFrame(
                {
                    "row": candidates["row"].to_numpy()[~ok],
                    "site_id": candidates["id"].to_numpy()[~ok],
                    "status": status[~ok],
                    "reason": reason[~ok],
                }
            )
            cand = pd.DataFrame(
                {
                    "site_id": candidates["id"].to_numpy()[ok].astype(str),
                    "name": (
                        candidates["name"].fillna("").astype(str).to_numpy()[ok]
                        if "name" in candidates
                        else ""
                    ),
                    "lon": candidates["lon"].to_numpy(dtype=float)[ok],
                    "lat": candidates["lat"].to_numpy(dtype=float)[ok],
                }
            )
            cand_snap = snapped[ok].reset_index(drop=True)
        dist = _reach_matrix(network, cand_snap, targets, len(demand), band_m, reach)
        incidence = dist.copy()
        incidence.data = np.ones(len(incidence.data), dtype=bool)
        siting = cls(
            band_min=band,
            band_m=band_m,
            demand=demand,
            candidates=cand.reset_index(drop=True),
            excluded=excluded.reset_index(drop=True),
            coverage=incidence.tocsr(),
            distance=dist,
            weighted=weight is not None,
        )
        siting.before = siting._coverage_of(np.zeros(0, dtype=np.int64))
        siting.timings["build"] = time.perf_counter() - t0
        return siting

    # ----------------------------------------------------------------------- helpers

    def _open_problem(self) -> tuple[sparse.csr_matrix, np.ndarray]:
        """Incidence and weights of the merchants not covered yet and reached by a candidate.

        Merchants with the same covering candidates are merged (weights summed).
        """
        open_ = ~self.demand["covered_before"].to_numpy()
        A = self.coverage.tocsc()[:, open_].tocsc()
        w = self.demand["weight"].to_numpy(dtype=float)[open_]
        A.sort_indices()
        keys: dict[bytes, int] = {}
        group = np.empty(A.shape[1], dtype=np.int64)
        for j in range(A.shape[1]):
            key = A.indices[A.indptr[j] : A.indptr[j + 1]].tobytes()
            group[j] = keys.setdefault(key, len(keys))
        has = np.diff(A.indptr) > 0
        ng = len(keys)
        wg = np.bincount(group[has], weights=w[has], minlength=ng)
        first = np.full(ng, -1, dtype=np.int64)
        first[group[::-1]] = np.arange(A.shape[1])[::-1]
        Ag = A[:, first].tocsr() if ng else sparse.csr_matrix((A.shape[0], 0))
        keep = np.diff(Ag.tocsc().indptr) > 0  # drop the merchants no candidate reaches
        return Ag[:, keep].tocsr().astype(float), wg[keep]

    def _coverage_of(self, sites: np.ndarray) -> Coverage:
        covered = self.demand["covered_before"].to_numpy().copy()
        if len(sites):
            covered |= np.asarray(self.coverage[sites].sum(axis=0)).ravel() > 0
        w = self.demand["weight"].to_numpy(dtype=float)
        return Coverage(int(covered.sum()), len(covered), float(w[covered].sum()), float(w.sum()))

    def _finish(self, solution: Solution) -> None:
        order = _rank(self.coverage.astype(float).tocsr(), self._open_weights(), solution.sites)
        covered = self.demand["covered_before"].to_numpy().copy()
        w = self.demand["weight"].to_numpy(dtype=float)
        rows: list[dict[str, Any]] = []
        for rank, s in enumerate(order, start=1):
            row = self.coverage.indices[self.coverage.indptr[s] : self.coverage.indptr[s + 1]]
            new = row[~covered[row]]
            covered[new] = True
            rows.append(
                {
                    "rank": rank,
                    "site_id": self.candidates["site_id"].iloc[s],
                    "name": str(
                        self.candidates.get(
                            "name", pd.Series("", index=self.candidates.index)
                        ).iloc[s]
                    ),
                    "lon": float(self.candidates["lon"].iloc[s]),
                    "lat": float(self.candidates["lat"].iloc[s]),
                    "newly_covered": len(new),
                    "covered_total": int(covered.sum()),
                    "method": solution.method,
                    "gap": solution.gap,
                    "newly_covered_weight": float(w[new].sum()),
                }
            )
        columns = [*SITES_COLUMNS, "newly_covered_weight"]
        table = pd.DataFrame(rows, columns=columns)
        if not self.weighted:
            table = table.drop(columns="newly_covered_weight")
        self.selected = table
        self.solution = Solution(
            sites=order,
            value=solution.value,
            bound=solution.bound,
            gap=solution.gap,
            method=solution.method,
            note=solution.note,
            seconds=solution.seconds,
        )
        self.after = self._coverage_of(order)

    def _open_weights(self) -> np.ndarray:
        return np.where(
            self.demand["covered_before"].to_numpy(), 0.0, self.demand["weight"].to_numpy(float)
        )

    # ----------------------------------------------------------------------- solving

    def solve_mclp(
        self, n: int, time_limit: float = 10.0, *, exact_max_nnz: int = EXACT_MAX_NNZ
    ) -> pd.DataFrame:
        """Choose `n` new sites that newly cover the most merchant weight (maximal covering).

        Solved exactly with HiGHS (`scipy.optimize.milp`) when the problem has at most
        `exact_max_nnz` coverage incidences; greedy + 1-swap is run first and kept when
        HiGHS does not finish within `time_limit` with a better set, or when the problem
        is bigger. The method and the gap to the best bound are always reported.

        Parameters
        ----------
        n
            Number of new sites (1 to the number of candidates).
        time_limit
            Seconds for HiGHS (and for the swap phase).
        exact_max_nnz
            Size threshold for the exact solve.

        Returns
        -------
        selected
            ``self.selected``.

        Raises
        ------
        SitingError
            `n` is not between 1 and the number of candidates.
        """
        n_cand = len(self.candidates)
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise SitingError(
                _("expected a whole number of sites >= 1, got {n!r}").format(n=n), argument="n"
            )
        n = int(n)
        if n > n_cand:
            raise SitingError(
                _("{n} sites asked for, but there are only {n_cand} usable candidate(s)").format(
                    n=n, n_cand=n_cand
                ),
                argument="n",
            )
        t0 = time.perf_counter()
        A, w = self._open_problem()
        sites, value, bound = greedy_mclp(A, w, n, time_limit=time_limit)
        method, note = METHOD_GREEDY, ""
        if A.nnz > exact_max_nnz:
            note = _("{nnz} coverage pairs > {exact_max_nnz}: too big for the exact solve").format(
                nnz=A.nnz, exact_max_nnz=exact_max_nnz
            )
            if value < bound - 1e-9 * max(1.0, bound):
                lp = _lp_bound_mclp(A, w, n, max(0.1, time_limit - (time.perf_counter() - t0)))
                if np.isfinite(lp):
                    bound = max(min(bound, lp), value)
                    note += "; bound: LP relaxation"
                else:
                    note += f"; LP bound not finished in {time_limit:g} s; bound: submodularity"
        elif value < bound - 1e-9 * max(1.0, bound):
            left = max(0.1, time_limit - (time.perf_counter() - t0))
            ms, mv, mb, finished = _milp_mclp(A, w, n, left)
            bound = min(bound, mb) if np.isfinite(mb) else bound
            if ms is not None and (mv > value + 1e-9 or finished):
                sites, value, method = ms, mv, METHOD_MILP
            if finished:
                bound = value
            else:
                note = _("HiGHS did not finish within {time_limit:g} s").format(
                    time_limit=time_limit
                )
        else:
            method, note = METHOD_GREEDY, "greedy meets its upper bound: optimal"
        sites = _pad(sites, n, A)
        self._finish(
            Solution(
                sites=sites,
                value=value,
                bound=max(bound, value),
                gap=_rel_gap(value, max(bound, value)),
                method=method,
                note=note,
                seconds=time.perf_counter() - t0,
            )
        )
        assert self.selected is not None
        return self.selected

    def solve_lscp(
        self, target_share: float, time_limit: float = 10.0, *, exact_max_nnz: int = EXACT_MAX_NNZ
    ) -> pd.DataFrame:
        """Choose the fewest new sites so that the covered share reaches `target_share`.

        The share is of the routed merchants' weight (of their count without weights),
        today's coverage included. Exact with HiGHS within `time_limit` when the problem is
        small enough, else greedy followed by dropping sites that are not needed.

        Parameters
        ----------
        target_share
            Share to reach, in (0, 1].
        time_limit
            Seconds for HiGHS.
        exact_max_nnz
            Size threshold for the exact solve.

        Returns
        -------
        selected
            ``self.selected`` (empty when today's coverage already reaches the target).

        Raises
        ------
        SitingError
            The target is outside (0, 1], or not reachable even with every candidate (the
            message gives the best reachable share).
        """
        share = _number(target_share, "target_share")
        if not 0 < share <= 1:
            raise SitingError(
                _("{target_share!r} is outside (0, 1]").format(target_share=target_share),
                argument="target_share",
            )
        t0 = time.perf_counter()
        before = self._coverage_of(np.zeros(0, dtype=np.int64))
        A, w = self._open_problem()
        total = before.total_weight
        need = share * total - before.covered_weight - 1e-9 * max(total, 1.0)
        best = before.covered_weight + float(w.sum())
        if need <= 0:
            self._finish(Solution(np.zeros(0, dtype=np.int64), 0.0, 0.0, 0.0, METHOD_GREEDY))
            return self.selected  # type: ignore[return-value]
        if best < share * total - 1e-9 * max(total, 1.0):
            raise SitingError(
                _(
                    "a covered share of {share:.1%} cannot be reached: with all "
                    "{count} candidates the best is {best:.1%} (today {today:.1%})"
                ).format(share=share, count=A.shape[0], best=best / total, today=before.share),
                argument="target_share",
            )
        sites = _greedy_lscp(A, w, need)
        gains = np.sort(np.asarray(A @ w).ravel())[::-1]
        lower = int(np.searchsorted(np.cumsum(gains), need - 1e-9) + 1)
        method, note = METHOD_GREEDY, ""
        if A.nnz > exact_max_nnz:
            note = _("{nnz} coverage pairs > {exact_max_nnz}: too big for the exact solve").format(
                nnz=A.nnz, exact_max_nnz=exact_max_nnz
            )
        elif len(sites) > lower:
            ms, mb, finished = _milp_lscp(A, w, need, time_limit)
            lower = max(lower, mb)
            if ms is not None and len(ms) <= len(sites):
                sites, method = ms, METHOD_MILP
            if finished:
                lower = len(sites)
            else:
                note = _("HiGHS did not finish within {time_limit:g} s").format(
                    time_limit=time_limit
                )
        self._finish(
            Solution(
                sites=np.asarray(sites, dtype=np.int64),
                value=float(len(sites)),
                bound=float(lower),
                gap=_rel_gap(float(len(sites)), float(lower)),
                method=method,
                note=note,
                seconds=time.perf_counter() - t0,
            )
        )
        assert self.selected is not None
        return self.selected

    # ----------------------------------------------------------------------- writing

    def as_facilities(self, kind: str = "proposed") -> pd.DataFrame:
        """The selected sites as facility rows, to try them as a proposal.

        Parameters
        ----------
        kind
            The kind given to every new site.

        Returns
        -------
        facilities
            A `planner.read_points`-layout table (ids ``site_id``), e.g. for
            ``planner.Proposal("new-sites", add=siting.as_facilities())``.
        """
        from planner.readers import valid_points

        if self.selected is None:
            raise SitingError(_("no sites selected yet: call solve_mclp or solve_lscp first"))
        sites = self.selected
        return valid_points(
            [str(s) for s in sites["site_id"]],
            sites["lon"].to_numpy(float),
            sites["lat"].to_numpy(float),
            names=[
                f"新服务点 new site {r}" + (f" · {n}" if n else "")
                for r, n in zip(sites["rank"], sites["name"], strict=True)
            ],
            kinds=kind,
        )

    def map(self, result: Result) -> Any:
        """The analysis' map with the selected sites tried as a proposal.

        The sites are added to `result` as new facilities (`as_facilities`,
        `planner.apply_proposal`) and drawn with `planner.proposals.compare_map`: their
        bands, each site ringed in the "方案 Proposal" layer, and the merchants they bring
        within the largest band ringed green (with the band of `from_result`, the largest by
        default, as many as ``after.covered - before.covered``).

        Parameters
        ----------
        result
            The analysis the problem was built from.

        Returns
        -------
        folium.Map
            Save it with `planner.offline.save_offline`.
        """
        from planner.proposals import Proposal, apply_proposal, compare_map

        proposal = Proposal("sites", add=self.as_facilities())
        return compare_map(result, apply_proposal(result, proposal), proposal)

    def candidate_rows(self, table: pd.DataFrame) -> pd.DataFrame:
        """Every row of the candidates table with its status, reason and rank if chosen.

        Parameters
        ----------
        table
            The candidates table given to `from_result` (`planner.read_points` layout).

        Returns
        -------
        rows
            ``row, site_id, name, lon, lat, status, reason, rank`` (rank empty unless the
            site was chosen), one per row of `table`, in its order.
        """
        status = table["status"].astype(object).to_numpy().copy()
        reason = table["reason"].astype(object).to_numpy().copy()
        usable = table["usable"].to_numpy(dtype=bool).copy()
        at = {int(r): n for n, r in enumerate(table["row"])}
        for r, st, why in self.excluded[["row", "status", "reason"]].itertuples(index=False):
            if int(r) in at:  # left out after reading: too far, a facility's id
                n = at[int(r)]
                status[n], reason[n], usable[n] = st, why, False
        chosen = self.selected if self.selected is not None else pd.DataFrame(columns=["site_id"])
        ranks = dict(zip(chosen["site_id"].astype(str), chosen.get("rank", []), strict=True))
        rank = [
            ranks.get(str(i), pd.NA) if ok else pd.NA
            for i, ok in zip(table["id"], usable, strict=True)
        ]
        return pd.DataFrame(
            {
                "row": table["row"].to_numpy(),
                "site_id": table["id"].astype(str).to_numpy(),
                "name": table["name"].to_numpy() if "name" in table else "",
                "lon": table["lon"].to_numpy(dtype=float),
                "lat": table["lat"].to_numpy(dtype=float),
                "status": status,
                "reason": reason,
                "rank": pd.array(rank, dtype="Int64"),
            }
        )

    def to_csv(self, path: str | Path) -> Path:
        """Write the chosen sites as sites.csv (`SITES_COLUMNS`), spreadsheet-safe.

        Parameters
        ----------
        path
            A file path, or a folder to write ``sites.csv`` into.

        Returns
        -------
        path
            The file written.
        """
        from planner import io

        if self.selected is None:
            raise SitingError(_("nothing to write: call solve_mclp or solve_lscp first"))
        path = Path(path)
        if path.is_dir():
            path = path / "sites.csv"
        return io.write_csv(self.selected[list(SITES_COLUMNS)], path)


def _greedy_lscp(A: sparse.csr_matrix, w: np.ndarray, need: float) -> np.ndarray:
    """Greedy until `need` weight is covered, then drop sites that are not needed."""
    csc = A.tocsc()
    covered = np.zeros(A.shape[1], dtype=bool)
    gains = np.asarray(A @ w).ravel()
    chosen: list[int] = []
    value = 0.0
    while value < need:
        best = int(np.argmax(gains))
        chosen.append(best)
        row = A.indices[A.indptr[best] : A.indptr[best + 1]]
        new = row[~covered[row]]
        covered[new] = True
        value += float(w[new].sum())
        gains -= np.asarray(csc[:, new] @ w[new]).ravel()
        gains[best] = -np.inf
    for s in list(chosen[::-1]):  # reverse delete
        rest = [c for c in chosen if c != s]
        cov = np.asarray(A[rest].sum(axis=0)).ravel() > 0 if rest else np.zeros(A.shape[1], bool)
        if float(w[cov].sum()) >= need:
            chosen = rest
    return np.asarray(chosen, dtype=np.int64)


def _pad(sites: np.ndarray, n: int, A: sparse.csr_matrix) -> np.ndarray:
    """Fill a set up to `n` sites with the lowest unused indices (they add nothing)."""
    sites = np.asarray(sites, dtype=np.int64)
    if len(sites) >= n:
        return sites
    free = np.setdiff1d(np.arange(A.shape[0]), sites)[: n - len(sites)]
    return np.r_[sites, free].astype(np.int64)


def _free_ids(ids: list[str], taken: set[str]) -> list[str]:
    """`ids` with ``-new`` added to any a facility already has (a site is added by its id)."""
    out, used = [], set(taken) | set(ids)
    for i in ids:
        if i in taken:
            name = f"{i}-new"
            while name in used:
                name += "-new"
            used.add(name)
            i = name
        out.append(i)
    return out


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise SitingError(_("expected a number, got {value!r}").format(value=value), argument=name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SitingError(
            _("expected a number, got {value!r}").format(value=value), argument=name
        ) from None
    if not math.isfinite(number):
        raise SitingError(
            _("expected a finite number, got {value!r}").format(value=value), argument=name
        )
    return number


def _positive(value: Any, name: str) -> float:
    number = _number(value, name)
    if number <= 0:
        raise SitingError(
            _("expected a positive number of minutes, got {value!r}").format(value=value),
            argument=name,
        )
    return number


def _reach_matrix(
    network: StreetNetwork,
    cand_snap: pd.DataFrame,
    targets: Any,
    n_demand: int,
    limit: float,
    reach: Any,
) -> sparse.csr_matrix:
    """Exact walking distances candidate -> merchant within `limit`, with the planner's engine.

    Candidates are sources (one owner each), as facilities are in `planner.pipeline`:
    `planner.reach.node_reach` then `planner.reach.reach_pairs`, in chunks of candidates.
    Distances of 0 are stored as a tiny positive number so the pattern keeps them.
    """
    n_cand = len(cand_snap)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    for start in range(0, n_cand, _CHUNK):
        part = cand_snap.iloc[start : start + _CHUNK]
        sources = reach.Anchors.from_snapped(part)
        if not len(sources) or not len(targets):
            continue
        nr = reach.node_reach(network, sources, len(part), limit)
        pairs = reach.reach_pairs(network, nr, sources, targets, limit)
        rows.append(pairs["facility"].to_numpy() + start)
        cols.append(pairs["poi"].to_numpy())
        vals.append(pairs["distance_m"].to_numpy())
    if rows:
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        r = c = np.zeros(0, dtype=np.int64)
        v = np.zeros(0)
    v = np.maximum(v, 1e-12)  # keep zero distances in the sparse pattern
    return sparse.csr_matrix((v, (r, c)), shape=(n_cand, n_demand))

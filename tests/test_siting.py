"""Siting (planner.siting): hand-worked coverage, brute-force optima, engine distances, CLI."""

from __future__ import annotations

import dataclasses
import itertools
import re

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import sparse

import planner
from planner import siting as st
from planner.readers import valid_points
from tests.handmade import make_network, points

# A straight street 0..1000 m (nodes every 100 m) and a separate 100 m street far away.
# 4.5 km/h = 75 m/min, so the 2-minute band is 150 m. Facility F at x=0.
#   merchants  M1 x=50 (F covers it), M2 300, M3 420, M4 600, M5 700, M6 900, M7 on the
#              separate street (unreachable, routed: in the denominator, never coverable)
#   candidates C1 x=350 -> [200, 500]: M2, M3      C2 x=560 -> [410, 710]: M3, M4, M5
#              C3 x=800 -> [650, 950]: M5, M6      C4 x=100 -> [-50, 250]: M1 (covered)
#              C5 x=950 -> [800, 1100]: M6
HAND = {
    "C1": {"M2", "M3"},
    "C2": {"M3", "M4", "M5"},
    "C3": {"M5", "M6"},
    "C4": {"M1"},
    "C5": {"M6"},
}
MERCHANTS = ["M1", "M2", "M3", "M4", "M5", "M6", "M7"]


@pytest.fixture(scope="module")
def line():
    nodes = {i: (100.0 * i, 0.0) for i in range(11)}
    nodes.update({20: (0.0, 1000.0), 21: (100.0, 1000.0)})
    network = make_network(nodes, [(i, i + 1) for i in range(10)] + [(20, 21)])
    fac = points([("F", 0, 0)])
    xs = [50, 300, 420, 600, 700, 900]
    pois = points([(m, x, 0) for m, x in zip(MERCHANTS, xs, strict=False)] + [("M7", 50, 1000)])
    cands = points([("C1", 350, 0), ("C2", 560, 0), ("C3", 800, 0), ("C4", 100, 0), ("C5", 950, 0)])
    result = planner.analyse(network, fac, pois, bands_min=(2, 4))
    return result, cands


def covered_by(s: st.Siting, sites) -> float:
    cov = s.demand["covered_before"].to_numpy().copy()
    if len(sites):
        cov |= np.asarray(s.coverage[list(sites)].sum(axis=0)).ravel() > 0
    return float(s.demand["weight"].to_numpy()[cov].sum())


def test_coverage_matches_the_hand_worked_sets(line):
    result, cands = line
    s = st.Siting.from_result(result, cands, band_min=2)
    assert list(s.demand["poi_id"]) == MERCHANTS
    assert list(s.demand["covered_before"]) == [True] + [False] * 6
    for i, sid in enumerate(s.candidates["site_id"]):
        got = {MERCHANTS[j] for j in s.coverage[i].indices}
        assert got == HAND[sid], sid
    assert (s.before.covered, s.before.total) == (1, 7)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("exact_max_nnz", [st.EXACT_MAX_NNZ, 0])  # HiGHS, greedy+swap
def test_mclp_equals_brute_force(line, n, exact_max_nnz):
    result, cands = line
    s = st.Siting.from_result(result, cands, band_min=2)
    best = max(covered_by(s, c) for c in itertools.combinations(range(5), n))
    table = s.solve_mclp(n, exact_max_nnz=exact_max_nnz)
    assert len(table) == n
    assert s.after.covered_weight == best
    assert table["covered_total"].iloc[-1] == best
    assert s.solution.gap == 0.0
    assert table["method"].iloc[0] == s.solution.method
    if exact_max_nnz == 0:
        assert s.solution.method == st.METHOD_GREEDY
    # ranked as greedy adds them: marginal gains never increase
    assert list(table["newly_covered"]) == sorted(table["newly_covered"], reverse=True)


def test_hand_worked_mclp_answers(line):
    result, cands = line
    s = st.Siting.from_result(result, cands, band_min=2)
    assert list(s.solve_mclp(1)["site_id"]) == ["C2"]  # 3 new merchants
    assert s.after.covered == 4
    table = s.solve_mclp(5)
    # existing coverage is kept: C4 only reaches M1, already covered, so it adds nothing
    assert table.set_index("site_id").loc["C4", "newly_covered"] == 0
    assert s.after.covered == 6  # M7 is unreachable from every candidate


def test_weights_change_the_answer(line):
    result, cands = line
    weights = {"M1": 1, "M2": 1, "M3": 1, "M4": 1, "M5": 1, "M6": 10, "M7": 1}
    weighted = dataclasses.replace(
        result, pois=result.pois.assign(w=result.pois["poi_id"].map(weights))
    )
    s = st.Siting.from_result(weighted, cands, band_min=2, weight="w")
    # C3 newly covers M5 + M6 = 11 > C5 (10) > C2 (3)
    table = s.solve_mclp(1)
    assert list(table["site_id"]) == ["C3"]
    assert table["newly_covered_weight"].iloc[0] == 11
    assert s.after.covered_weight == 12 and s.after.total_weight == 16
    with pytest.raises(st.SitingError, match="no column"):
        st.Siting.from_result(result, cands, band_min=2, weight="nope")


@pytest.mark.parametrize(("share", "count"), [(0.1, 0), (0.5, 1), (5 / 7, 2), (6 / 7, 3)])
def test_lscp_equals_brute_force(line, share, count):
    result, cands = line
    s = st.Siting.from_result(result, cands, band_min=2)
    need = share * 7 - 1e-9
    brute = next(
        k
        for k in range(6)
        if any(covered_by(s, c) >= need for c in itertools.combinations(range(5), k))
    )
    assert brute == count
    table = s.solve_lscp(share)
    assert len(table) == count
    assert s.after.share >= share - 1e-9
    assert s.solution.gap == 0.0


def test_lscp_unreachable_target_says_the_best_share(line):
    result, cands = line
    s = st.Siting.from_result(result, cands, band_min=2)
    with pytest.raises(st.SitingError, match=r"best is 85\.7%"):
        s.solve_lscp(1.0)
    for bad in (0, 1.5, -1, float("nan"), "x"):
        with pytest.raises(st.SitingError):
            s.solve_lscp(bad)
    for bad in (0, 6, 2.5):
        with pytest.raises(st.SitingError):
            s.solve_mclp(bad)


def test_rows_with_swapped_lat_lon_are_walked_and_so_in_the_demand(tmp_path):
    """A row whose lon/lat were swapped is fixed, snapped and walked: the demand counts it.

    Street 0-1000 m, F at 0, band 2 min = 150 m. M1 at 50 m (covered), M2 at 290 m and M4 at
    310 m typed with lat and lon swapped, M3 at 600 m. C1 at 300 m covers M2 and M4, C2 at
    600 m only M3: the best one site is C1, 3 of 4 merchants.
    """
    from pyproj import Transformer

    from tests.handmade import CRS, X0, Y0

    network = make_network(
        {i: (100.0 * i, 0.0) for i in range(11)}, [(i, i + 1) for i in range(10)]
    )
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lines = ["id,lon,lat,kind"]
    for pid, x, swapped in (
        ("M1", 50, False),
        ("M2", 290, True),
        ("M4", 310, True),
        ("M3", 600, False),
    ):
        lon, lat = to_lonlat.transform(x + X0, 5.0 + Y0)
        lines.append(f"{pid},{lat!r},{lon!r},shop" if swapped else f"{pid},{lon!r},{lat!r},shop")
    (tmp_path / "pois.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pois = planner.read_points(tmp_path / "pois.csv")
    assert list(pois["status"]) == ["ok", "swapped_lat_lon", "swapped_lat_lon", "ok"]
    result = planner.analyse(network, points([("F", 0, 0)]), pois, bands_min=(2,))
    s = st.Siting.from_result(result, points([("C1", 300, 0), ("C2", 600, 0)]), band_min=2)
    assert sorted(s.demand["poi_id"]) == ["M1", "M2", "M3", "M4"]
    assert (s.before.covered, s.before.total) == (1, 4)
    assert list(s.solve_mclp(1)["site_id"]) == ["C1"]
    assert (s.after.covered, s.after.total) == (3, 4)


def test_street_candidates_never_take_a_facilitys_id():
    """A site is added as a facility by its id: S00003 is a facility's, so the third street
    candidate is S00003-new (the command wrote sites.csv, then failed)."""
    network = make_network(
        {i: (100.0 * i, 0.0) for i in range(11)}, [(i, i + 1) for i in range(10)]
    )
    result = planner.analyse(
        network, points([("S00003", 0, 0)]), points([("M", 900, 0)]), bands_min=(2,)
    )
    s = st.Siting.from_result(result, band_min=2)
    ids = list(s.candidates["site_id"])
    assert "S00003" not in ids and "S00003-new" in ids and len(set(ids)) == len(ids)
    s.solve_mclp(1)
    s.map(result)  # adds the chosen site as a facility: no clash


def test_library_errors_name_the_arguments_not_the_command_line_options(line):
    """In a notebook the error names the argument the planner typed (n, target_share)."""
    result, cands = line
    s = st.Siting.from_result(result, cands, band_min=2)
    for call, argument in (
        (lambda: s.solve_mclp(0), "n"),
        (lambda: s.solve_mclp(6), "n"),
        (lambda: s.solve_lscp(1.5), "target_share"),
        (lambda: s.solve_lscp("x"), "target_share"),
        (lambda: s.solve_lscp(1.0), "target_share"),
        (lambda: st.Siting.from_result(result, cands, band_min=-1), "band_min"),
    ):
        with pytest.raises(st.SitingError) as caught:
            call()
        assert caught.value.argument == argument
        assert str(caught.value).startswith(f"{argument}: ")
        assert "--" not in str(caught.value)


def test_cost_matrix_equals_the_engine(line):
    """Each candidate analysed as a facility gives the same walking distances."""
    result, cands = line
    s = st.Siting.from_result(result, cands, band_min=3)
    as_facilities = planner.analyse(
        result.network, cands, result.poi_rows, bands_min=(3,), snap_limit_m=300
    )
    cov = as_facilities.coverage
    assert len(cov) == s.distance.nnz
    index = {m: j for j, m in enumerate(s.demand["poi_id"])}
    sites = list(s.candidates["site_id"])
    for f, p, d in cov[["facility_id", "poi_id", "distance_m"]].itertuples(index=False):
        assert s.distance[sites.index(f), index[p]] == pytest.approx(d, abs=1e-6)


@pytest.fixture(scope="module")
def grid():
    nodes = {10 * i + j: (120.0 * i, 90.0 * j) for i in range(5) for j in range(5)}
    edges = [(10 * i + j, 10 * i + j + 1) for i in range(5) for j in range(4)]
    edges += [(10 * i + j, 10 * (i + 1) + j) for i in range(4) for j in range(5)]
    edges.append((0, 44, [(0.0, 0.0), (200.0, 50.0), (480.0, 360.0)]))  # a bent diagonal
    network = make_network(nodes, edges)
    fac = points([("F", 0, 0), ("G", 480, 360)])
    pois = points([(f"P{k}", 37.0 * k % 480, 53.0 * k % 360 + 3) for k in range(40)])
    return planner.analyse(network, fac, pois, bands_min=(3,))


def test_street_candidates_lie_on_edges_every_spacing(grid):
    network = grid.network
    cand = st.street_candidates(network, 50.0)
    pts = shapely.points(cand["x"], cand["y"])
    on_own = shapely.distance(network.edge_geometry[cand["edge"].to_numpy()], pts)
    assert on_own.max() < 1e-6
    length = network.edge_length[cand["edge"].to_numpy()]
    assert (cand["offset"] >= 0).all() and (cand["offset"] <= length).all()  # no negative leg
    xy = cand[["x", "y"]].to_numpy()
    gaps = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)) + np.eye(len(xy)) * 1e9
    assert gaps.min() >= 25.0 - 1e-9  # near-duplicates (shared nodes) dropped
    # roughly one point per 50 m of street
    assert 0.7 < len(cand) / (network.edge_length.sum() / 50.0) < 1.3
    # lon/lat project back to the same points
    x, y = planner.pipeline.to_network_xy(network, cand["lon"], cand["lat"])
    assert np.abs(x - cand["x"]).max() < 1e-3 and np.abs(y - cand["y"]).max() < 1e-3
    with pytest.raises(st.SitingError):
        st.street_candidates(network, 0)


@pytest.mark.filterwarnings("error")  # e.g. scipy's "negative weights" from a leg past an end
def test_street_candidate_distances_equal_the_engine(grid):
    s = st.Siting.from_result(grid, band_min=3)
    some = [0, 7, len(s.candidates) // 2, len(s.candidates) - 1]
    rows = s.candidates.iloc[some]
    fac = valid_points(list(rows["site_id"]), rows["lon"].to_numpy(), rows["lat"].to_numpy())
    check = planner.analyse(grid.network, fac, grid.poi_rows, bands_min=(3,))
    index = {m: j for j, m in enumerate(s.demand["poi_id"])}
    for k, sid in zip(some, rows["site_id"], strict=True):
        mine = {s.demand["poi_id"].iloc[j]: s.distance[k, j] for j in s.distance[k].indices}
        theirs = check.coverage[check.coverage["facility_id"] == sid]
        assert set(mine) == set(theirs["poi_id"]), sid
        for p, d in zip(theirs["poi_id"], theirs["distance_m"], strict=True):
            assert mine[p] == pytest.approx(d, abs=1e-6)
            assert index[p] >= 0


@pytest.mark.parametrize("seed", range(12))
def test_random_small_cases_exact_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_cand, n_dem = 9, 30
    A = sparse.csr_matrix((rng.random((n_cand, n_dem)) < 0.2).astype(float))
    w = rng.integers(1, 6, n_dem).astype(float)
    dense = A.toarray() > 0
    for n in (1, 2, 3, 4):
        brute = max(
            float(w[dense[list(c)].any(axis=0)].sum())
            for c in itertools.combinations(range(n_cand), n)
        )
        _, mv, _, finished = st._milp_mclp(A, w, n, 10.0)
        assert finished and mv == brute
        gs, gv, gb = st.greedy_mclp(A, w, n)
        assert len(set(gs)) == n
        assert gv <= brute + 1e-9 <= gb + 2e-9  # the bound is a true upper bound


def test_sites_csv_columns_and_spreadsheet_safety(line, tmp_path):
    result, cands = line
    cands = cands.assign(id=["=C1", "C2", "C3", "C4", "C5"])
    s = st.Siting.from_result(result, cands, band_min=2)
    s.solve_mclp(2)
    path = s.to_csv(tmp_path / "sites.csv")
    text = path.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == ",".join(st.SITES_COLUMNS)
    assert "'=C1" in text
    back = pd.read_csv(path, encoding="utf-8-sig")
    assert list(back["rank"]) == [1, 2]


def test_the_sites_map_shows_what_the_sites_bring(line):
    """`Siting.map`: the sites tried as a proposal; its gains equal the siting's own count."""
    import folium

    result, cands = line
    s = st.Siting.from_result(result, cands)  # the largest band, 4 min (300 m)
    s.solve_mclp(2)
    m = s.map(result)
    names = [getattr(c, "layer_name", "") for c in m._children.values()]
    (changes,) = [n for n in names if n.startswith("变化 Changes")]
    gained = s.after.covered - s.before.covered
    assert gained > 0 and changes == f"变化 Changes: 新覆盖 gained {gained} / 失去 lost 0"
    (layer,) = [c for c in m._children.values() if getattr(c, "layer_name", "").startswith("方案")]
    assert layer.layer_name.endswith("新增 added 2")
    rings = [c for c in layer._children.values() if isinstance(c, folium.CircleMarker)]
    want = s.selected[["lat", "lon"]].to_numpy()
    np.testing.assert_allclose([r.location for r in rings], want, atol=1e-9)


def test_bad_candidate_rows_are_excluded_with_their_status(line):
    result, cands = line
    far = points([("FAR", 5000, 5000)])
    table = pd.concat([cands, far], ignore_index=True)
    table.loc[1, ["status", "usable", "reason"]] = ["invalid_coordinates", False, "row 3: bad"]
    table.loc[1, ["lon", "lat"]] = np.nan
    s = st.Siting.from_result(result, table, band_min=2)
    assert list(s.candidates["site_id"]) == ["C1", "C3", "C4", "C5"]
    assert dict(zip(s.excluded["site_id"], s.excluded["status"], strict=True)) == {
        "C2": "invalid_coordinates",
        "FAR": "too_far_from_network",
    }
    # a candidate with a facility's id would be added as that facility: left out, said why
    same = pd.concat([cands, points([("F", 350, 0)])], ignore_index=True)
    s = st.Siting.from_result(result, same, band_min=2)
    assert "F" not in set(s.candidates["site_id"])
    (row,) = s.excluded[s.excluded["site_id"] == "F"].itertuples(index=False)
    assert row.status == "duplicate_id" and 'candidate "F" has the id of a facility' in row.reason


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["site", "sample", "--add", "0"], "--add: expected a whole number"),
        (["site", "sample", "--add", "2.5"], "--add: expected a whole number"),
        (["site", "sample", "--add", "x"], "--add: 'x' is not a number"),
        (["site", "sample", "--target", "1.5"], "--target: '1.5' is outside (0, 1]"),
        (["site", "sample", "--target", "0"], "--target: '0' is outside (0, 1]"),
        (["site", "sample"], "give either --add N or --target SHARE"),
        (["site", "sample", "--add", "2", "--target", "0.5"], "give either"),
        (["site", "sample", "--add", "2", "--minutes", "-3"], "--minutes: expected a positive"),
        (["site", "sample", "--add", "2", "--time-limit", "0"], "--time-limit"),
        (["site", "nowhere", "--add", "2"], "scenario 'nowhere' not found"),
    ],
)
def test_site_usage_errors_are_one_line(cli, tmp_path, args, needle):
    r = cli(*args)
    assert r.exit_code == 1, r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_site_sample_writes_sites_csv(cli, tmp_path):
    cand = tmp_path / "cand.csv"
    cand.write_text(
        "id,name,lon,lat\n"
        "A,a,113.9385,22.5463\n"
        "B,b,113.9497,22.5436\n"
        "C,c,113.9600,22.5500\n"
        "D,d,abc,22.55\n"  # bad row: reported, left out
        "E,e,113.9450,22.5520\n",
        encoding="utf-8",
    )
    r = cli("site", "sample", "--add", "2", "--candidates", cand, "--out", "s")
    assert r.exit_code == 0, r.output
    out = r.stdout.splitlines()
    assert out[0].startswith("before: ") and out[1].startswith("after : ")
    assert "within 15 min" in out[0]
    assert "candidate left out" in r.stderr and "row 5" in r.stderr
    sites = pd.read_csv(tmp_path / "s" / "sites.csv", encoding="utf-8-sig")
    assert list(sites.columns) == list(st.SITES_COLUMNS) and len(sites) == 2
    names = dict(zip("ABCDE", "abcde", strict=True))  # each chosen site keeps its name
    assert list(sites["name"]) == [names[i] for i in sites["site_id"]]
    # every candidate row is in candidates.csv with its status, the chosen ones ranked
    rows = pd.read_csv(
        tmp_path / "s" / "candidates.csv", encoding="utf-8-sig", dtype={"rank": "Int64"}
    )
    assert list(rows["site_id"]) == list("ABCDE") and list(rows["name"]) == list("abcde")
    assert list(rows["status"]) == ["ok", "ok", "ok", "invalid_coordinates", "ok"]
    assert 'row 5, field "lon"' in rows["reason"][3]
    chosen = rows.dropna(subset=["rank"]).set_index("site_id")["rank"]
    assert chosen.to_dict() == dict(zip(sites["site_id"], sites["rank"], strict=True))
    # the map: written where the output says, offline, the new sites' gains as counted
    from planner.offline import external_urls

    assert "  map: maps/sample-sites.html" in out
    page = (tmp_path / "maps" / "sample-sites.html").read_text(encoding="utf-8")
    assert external_urls(page) == []
    assert f"新服务点 new site 1 · {sites['name'][0]}" in page  # the map names them too
    before, after = (int(re.search(r": (\d+) of", line)[1]) for line in out[:2])
    assert f"gained {after - before} / " in page.encode("ascii", "backslashreplace").decode()
    r = cli("site", "sample", "--add", "9", "--candidates", cand, "--out", "s2")
    assert r.exit_code == 1
    assert "error: --add: 9 sites asked for, but there are only 4 usable" in r.stderr
    assert len(r.stderr.splitlines()) == 1 or r.stderr.splitlines()[-1].startswith("error: ")


@pytest.mark.filterwarnings("ignore::DeprecationWarning:pulp")  # PuLP 4 API changes
@pytest.mark.parametrize("seed", [3, 7, 11])
def test_mclp_optimum_equals_an_independent_cbc_model(seed):
    """An independent solver and formulation: the maximal covering model written here in
    PuLP and solved by CBC finds the same optimal covered weight as the planner's exact
    (HiGHS) solve on small random coverage cases. (spopt's MCLP gives the same answer too,
    see ``benchmarks/siting.py --crosscheck``; spopt is not a test dependency because it
    pulls in scikit-learn.)"""
    import pulp
    from scipy import sparse

    from planner import siting

    rng = np.random.default_rng(seed)
    n_dem, n_cand, n = 60, 15, 3
    covers = rng.random((n_cand, n_dem)) < 0.15
    weight = rng.integers(1, 10, n_dem).astype(float)
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{j}", cat="Binary") for j in range(n_cand)]
    y = [pulp.LpVariable(f"y{i}", cat="Binary") for i in range(n_dem)]
    prob += pulp.lpSum(float(weight[i]) * y[i] for i in range(n_dem))
    prob += pulp.lpSum(x) == n
    for i in range(n_dem):
        prob += y[i] <= pulp.lpSum(x[j] for j in range(n_cand) if covers[j, i])
    prob.solve(pulp.PULP_CBC_CMD(msg=False))
    assert pulp.LpStatus[prob.status] == "Optimal"
    cbc_value = float(pulp.value(prob.objective))
    sites, value, _, finished = siting._milp_mclp(
        sparse.csr_matrix(covers.astype(float)), weight, n, 30.0
    )
    assert finished and sites is not None
    assert value == pytest.approx(cbc_value)
    assert float(weight[covers[sites].any(axis=0)].sum()) == pytest.approx(cbc_value)


def test_site_with_an_empty_candidates_table_says_so(cli, tmp_path):
    (tmp_path / "cand.csv").write_text("id,name,lon,lat\n", encoding="utf-8")
    r = cli("site", "sample", "--add", "1", "--candidates", tmp_path / "cand.csv", "--out", "s")
    assert r.exit_code == 1 and r.stderr.splitlines()[-1].startswith("error: "), r.stderr
    assert "cand.csv: no candidate sites (the table has no rows)" in r.stderr
    assert not (tmp_path / "s").exists() and not (tmp_path / "maps").exists()


def test_site_leaves_a_file_it_did_not_write_alone(cli, tmp_path):
    """A file of the user's where the sites map would go: refused before any work."""
    mine = tmp_path / "maps" / "sample-sites.html"
    mine.parent.mkdir()
    mine.write_text("<html>my notes</html>", encoding="utf-8")
    r = cli("site", "sample", "--add", "1", "--out", "s")
    assert r.exit_code == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "was not written by the planner; it is left alone" in r.stderr
    assert mine.read_text(encoding="utf-8") == "<html>my notes</html>"
    assert not (tmp_path / "s").exists()

"""`planner.LiveCoverage`: every edit equals a full analysis of the edited facility table.

Hand-made network (metres), a 3 x 2 grid of 100 m blocks, walking 6 km/h = 100 m/min::

    3 (0,100) --- 4 (100,100) --- 5 (200,100)
    |             |               |
    0 (0,0) ----- 1 (100,0) ----- 2 (200,0)

Facilities F (two entrances) and G; POIs along the streets. Adding H at node 5 puts P5
(on node 5) at 0 minutes from H; removing it gives P5 back to its nearest other facility.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

import planner
from planner import pipeline
from planner.interactive import Coverage, LiveCoverage
from tests.handmade import CRS, X0, Y0, make_network, points

NODES = {0: (0, 0), 1: (100, 0), 2: (200, 0), 3: (0, 100), 4: (100, 100), 5: (200, 100)}
EDGES = [(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5)]
FACILITIES = [("F", 10, 5), ("G", 150, 95), ("F", 0, 60)]
POIS = [("P1", 50, 0), ("P2", 100, 50), ("P3", 180, 0), ("P4", 0, 90), ("P5", 200, 100)]
TOL = 1e-6  # metres and minutes: the bound; the tables are in fact identical


def lonlat(x: float, y: float) -> tuple[float, float]:
    t = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = t.transform(x + X0, y + Y0)
    return float(lon), float(lat)


def assert_same(got: Coverage, want: planner.Result) -> None:
    """The edit's tables and summary equal those of a full analysis."""

    def plain(table: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(table.drop(columns="geometry"))

    kw = {"check_exact": False, "atol": TOL, "rtol": 0}
    pd.testing.assert_frame_equal(got.coverage, want.coverage, **kw)
    pd.testing.assert_frame_equal(got.pois, plain(want.pois), **kw)
    pd.testing.assert_frame_equal(got.facilities, plain(want.facilities), **kw)
    pd.testing.assert_frame_equal(got.entrances, plain(want.entrances), **kw)
    for key in ("inputs", "facilities", "overall", "disconnected_pieces"):
        assert got.summary[key] == want.summary[key], key


@pytest.fixture
def base():
    return pipeline.analyse(
        make_network(NODES, EDGES),
        points(FACILITIES),
        points(POIS),
        bands_min=(1, 2, 3),
        speed_kmh=6.0,
    )


def test_add_move_remove_equal_a_full_analysis(base):
    live = LiveCoverage(base)
    assert_same(live.current, base)
    steps = [
        ("add", ("H", *lonlat(200, 100)), {"name": "新点", "kind": "clinic"}),
        ("move", ("H", *lonlat(200, 40)), {}),
        ("move", ("F", *lonlat(100, 5)), {}),  # two entrances: both move
        ("remove", ("G",), {}),
        ("add", ("G", [lonlat(150, 95)[0]], [lonlat(150, 95)[1]]), {}),
        ("remove", ("H",), {}),
    ]
    for op, args, kw in steps:
        got = getattr(live, op)(*args, **kw)
        want = pipeline.reanalyse(base, facilities=live.facility_rows)
        assert_same(got, want)
        assert got is live.current
    assert live.facility_rows["id"].tolist() == ["F", "F", "G"]


def test_hand_worked_minutes_after_adding_and_removing(base):
    live = LiveCoverage(base)
    p5 = live.current.pois.set_index("poi_id").loc["P5"]
    # G (150, 95) is 5 m off street 4-5 at (150, 100): 5 + 50 m to node 5 -> 0.55 min
    assert p5["nearest_facility_id"] == "G"
    assert p5["minutes_to_nearest"] == pytest.approx(0.55, abs=1e-9)
    added = live.add("H", *lonlat(200, 100)).pois.set_index("poi_id").loc["P5"]
    assert added["nearest_facility_id"] == "H"
    assert added["minutes_to_nearest"] == pytest.approx(0, abs=1e-9)  # lon/lat round trip
    back = live.remove("H").pois.set_index("poi_id").loc["P5"]
    assert back["nearest_facility_id"] == "G"
    assert back["minutes_to_nearest"] == pytest.approx(0.55, abs=1e-9)


def test_moving_back_reuses_the_reach(base):
    live = LiveCoverage(base)
    live.move("G", *lonlat(20, 20))
    n_cached = len(live._reach)
    live.move("G", *lonlat(150, 95))  # back where it was: nothing new is searched
    assert len(live._reach) == n_cached
    assert_same(live.current, base)


def test_edits_refuse_unknown_and_duplicate_ids(base):
    live = LiveCoverage(base)
    with pytest.raises(planner.PlannerError, match="already"):
        live.add("F", *lonlat(0, 0))
    with pytest.raises(planner.PlannerError, match="not in the table"):
        live.move("X", *lonlat(0, 0))
    with pytest.raises(planner.PlannerError, match="not in the table"):
        live.remove("X")


def test_a_facility_beyond_the_snapping_limit_is_kept_with_its_status(base):
    live = LiveCoverage(base)
    got = live.add("FAR", *lonlat(5000, 5000))
    assert_same(got, pipeline.reanalyse(base, facilities=live.facility_rows))
    assert got.facilities.set_index("facility_id").loc["FAR", "status"] == "no_usable_entrance"


def test_full_result_equals_reanalyse(base):
    live = LiveCoverage(base)
    live.add("H", *lonlat(200, 100))
    full = live.result()
    assert_same(live.current, full)
    assert set(full.isochrones["facility_id"]) == {"F", "G", "H"}


def test_exported_from_planner():
    assert planner.LiveCoverage is LiveCoverage and "LiveCoverage" in planner.__all__
    assert planner.Coverage is Coverage and "Coverage" in planner.__all__


@pytest.mark.slow
def test_sample_add_move_remove_equal_a_full_analysis():
    scenario = planner.load_scenario("sample")
    base = pipeline.analyse(
        planner.load_network(scenario),
        planner.load_facilities(scenario),
        planner.load_pois(scenario),
        speed_kmh=scenario.speed_kmh,
        bands_min=scenario.bands_min,
        snap_limit_m=scenario.snap_limit_m,
    )
    live = LiveCoverage(base)
    rows = base.facility_rows
    lon, lat = float(rows["lon"].mean()), float(rows["lat"].mean())
    first, second = rows["id"].iloc[0], pd.unique(rows["id"])[1]
    for op, args in (
        ("add", ("NEW", lon, lat)),
        ("move", ("NEW", lon + 0.003, lat - 0.002)),
        ("move", (first, lon - 0.004, lat)),
        ("remove", (second,)),
    ):
        got = getattr(live, op)(*args)
        assert_same(got, pipeline.reanalyse(base, facilities=live.facility_rows))
    assert np.isfinite(got.pois["minutes_to_nearest"]).sum() > 50


def test_a_coverage_s_facility_rows_are_the_caller_s_own() -> None:
    """Editing the table of a Coverage that LiveCoverage returned leaves its state alone."""
    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0)}, [(0, 1), (1, 2)])
    r = planner.analyse(net, points([("F1", 10, 5)]), points([("P1", 60, 5)]), bands_min=(1,))
    live = LiveCoverage(r)
    x0 = live.facility_rows.loc[0, "lon"]
    got = live.current
    got.facility_rows.loc[0, "lon"] += 0.01  # the caller's table, edited
    assert live.facility_rows.loc[0, "lon"] == x0  # the editor's own rows are as they were
    assert live.result().summary["overall"] == live.current.summary["overall"]


@pytest.mark.parametrize(
    ("lon", "lat", "swapped"),
    [
        (116.19, 200.0, False),
        (23.29, 116.19, True),
        (float("nan"), 23.29, False),
        (181.0, 23.0, False),
    ],
)
def test_an_edit_at_no_wgs84_position_is_refused(lon, lat, swapped) -> None:
    """Numbers given by hand are checked as read_points checks a file's: one clear error."""
    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    r = planner.analyse(net, points([("F1", 10, 5)]), points([("P1", 60, 5)]), bands_min=(1,))
    live = LiveCoverage(r)
    before = live.current.summary
    for edit in (lambda: live.add("N", lon, lat), lambda: live.move("F1", lon, lat)):
        with pytest.raises(planner.PlannerError, match=r"is not a WGS-84 position") as err:
            edit()
        assert ("swapped?" in str(err.value)) == swapped
    assert live.current.summary == before and list(live.facility_rows["id"]) == ["F1"]
    with pytest.raises(planner.PlannerError, match=r"proposal 'p': move 'F1': lon"):
        planner.Proposal("p", move={"F1": (lon, lat)})

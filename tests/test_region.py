"""planner region: the region file, areas, and the merge equal to one run on the whole region."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from planner import region as rg
from planner._errors import ScenarioError
from planner.scenario import DATA_DIR
from tests.region_city import write_region

SAMPLE_REGION = DATA_DIR / "sample_region" / "region.toml"
KEY = ["facility_id", "poi_id"]


def sample_region_with_boxes(folder: Path, boxes: dict[str, tuple[float, ...]]) -> Path:
    """The bundled sample region in `folder`, its areas the (west, south, east, north) boxes."""
    folder.mkdir(parents=True, exist_ok=True)
    features = [
        {"type": "Feature", "properties": {"id": k, "name": k},
         "geometry": {"type": "Polygon",
                      "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}}
        for k, (w, s, e, n) in boxes.items()
    ]  # fmt: skip
    (folder / "areas.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8"
    )
    text = SAMPLE_REGION.read_text(encoding="utf-8")
    (folder / "region.toml").write_text(
        text.replace('"../sample/', f'"{(DATA_DIR / "sample").as_posix()}/'), encoding="utf-8"
    )
    return folder / "region.toml"


def assert_same_as_whole(result: rg.RegionResult, region_file: Path) -> pd.DataFrame:
    """The merged pairs and minutes equal one planner.analyse over the whole region."""
    whole_cov, whole_pois = rg.analyse_whole(region_file)
    a = whole_cov.sort_values(KEY).reset_index(drop=True)
    b = result.coverage.sort_values(KEY).reset_index(drop=True)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a[[*KEY, "area_id"]], b[[*KEY, "area_id"]])
    np.testing.assert_allclose(b["distance_m"], a["distance_m"], rtol=0, atol=1e-6)
    # every merchant of the areas once, in the same area, same nearest facility and minutes
    mine = result.pois[result.pois["area_id"] != ""].set_index("poi_id").sort_index()
    ref = whole_pois.set_index("poi_id").sort_index()
    assert mine.index.is_unique
    assert list(mine.index) == list(ref.index)
    assert (mine["area_id"] == ref["area_id"]).all()
    assert (mine["nearest_facility_id"] == ref["nearest_facility_id"]).all()
    mpm = result.region.settings.metres_per_minute
    np.testing.assert_allclose(
        mine["minutes_to_nearest"].astype(float) * mpm,
        ref["minutes_to_nearest"].astype(float) * mpm,
        rtol=0,
        atol=1e-6,
    )
    return a


def outside_reaching_in(result: rg.RegionResult, facilities: pd.DataFrame) -> int:
    """Pairs whose facility (every entrance) stands outside the merchant's area."""
    areas = dict(zip(result.circles["area_id"], result.circles.geometry, strict=True))
    fac = facilities.groupby("id")[["lon", "lat"]].agg(list)
    count = 0
    for fid, aid in zip(result.coverage["facility_id"], result.coverage["area_id"], strict=True):
        pts = shapely.points(fac.loc[fid, "lon"], fac.loc[fid, "lat"])
        count += not shapely.covers(areas[aid], pts).any()
    return count


# --------------------------------------------------------------------------- region file
@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        ('id = "id"', 'id = "id"\nradius = 300', ["[areas] radius", "did you mean radius_m?"]),
        ("snap_limit_m = 300", 'snap_limit_m = "300米"', ["[analysis] snap_limit_m", "metres"]),
        ('source = "osm_xml"', 'source = "pbf"', ["[network] path", ".pbf"]),
        ('source = "osm_xml"', 'source = "overpass"', ["[network] source", '"pbf"']),
        ('path = "areas.geojson"', 'path = "nope.geojson"', ["[areas] path", "no such file"]),
        ("[pois]", "[poi]", ["[poi]: unknown table", "did you mean [pois]?"]),
        ("from_osm = true", 'from_osm = "true"', ["[pois] from_osm", "true or false"]),
    ],
)
def test_region_file_errors_are_one_line_naming_file_and_key(tmp_path, old, new, needles):
    text = SAMPLE_REGION.read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1).replace("../sample/", (DATA_DIR / "sample").as_posix() + "/")
    (tmp_path / "areas.geojson").write_bytes((SAMPLE_REGION.parent / "areas.geojson").read_bytes())
    path = tmp_path / "region.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        rg.load_region(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_bundled_region_loads():
    region = rg.load_region(SAMPLE_REGION.parent)
    assert region.name == "sample_region"
    assert region.network_path.is_file() and region.facilities.path.is_file()
    assert region.halo_m == pytest.approx(15 * 75 + 300)
    areas = rg.read_areas(region)
    assert list(areas["area_id"]) == ["A1", "A2", "A3", "A4"]
    assert (areas["status"] == "ok").all()


def test_cli_region_error_is_one_line(cli, tmp_path):
    bad = tmp_path / "region.toml"
    bad.write_text("[region]\nname = 3\n", encoding="utf-8")
    result = cli("region", bad)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0] and "[region] name" in errors[0]
    assert "Traceback" not in result.output
    result = cli("region", SAMPLE_REGION, "--scheduler", "localhost:8786")
    assert result.exit_code == 1 and "tcp://HOST:PORT" in result.stderr


def test_an_areas_file_with_no_areas_says_so(tmp_path):
    region_file = write_region(tmp_path, side=1, n_nodes=200, n_facilities=5, n_pois=20)
    (tmp_path / "areas.geojson").write_text(
        '{"type": "FeatureCollection", "features": []}', encoding="utf-8"
    )
    with pytest.raises(rg.PlannerError, match="holds no study areas"):
        rg.read_areas(rg.load_region(region_file))


def test_area_rows_get_a_status(tmp_path):
    region_file = write_region(tmp_path, side=2, n_nodes=400, n_facilities=5, n_pois=50)
    features = [
        {"type": "Feature", "properties": {"id": "P1", "radius_m": 200},
         "geometry": {"type": "Point", "coordinates": [116.2, 23.3]}},
        {"type": "Feature", "properties": {"id": "P2"},
         "geometry": {"type": "Point", "coordinates": [116.2, 23.3]}},
        {"type": "Feature", "properties": {"id": "P1", "radius_m": 100},
         "geometry": {"type": "Point", "coordinates": [116.21, 23.3]}},
        {"type": "Feature", "properties": {"id": "L1"},
         "geometry": {"type": "LineString", "coordinates": [[116.2, 23.3], [116.21, 23.31]]}},
        {"type": "Feature", "properties": {"id": None},
         "geometry": {"type": "Point", "coordinates": [116.2, 23.3]}},
    ]  # fmt: skip
    (tmp_path / "areas.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8"
    )
    areas = rg.read_areas(rg.load_region(region_file))
    assert list(areas["status"]) == [
        "ok",
        "bad_geometry",
        "duplicate_id",
        "bad_geometry",
        "missing_id",
    ]
    assert "radius" in areas["reason"][1] and "row 1" in areas["reason"][2]
    # the point area is a circle of 200 m (area within 1% of pi r^2)
    circle = areas.iloc[[0]].to_crs(areas.iloc[[0]].estimate_utm_crs())
    assert circle.area.iloc[0] == pytest.approx(np.pi * 200**2, rel=0.01)
    # numeric community codes, one missing: read as written, not as 440305001001.0
    for feature, code in zip(
        features, [440305001001, 440305001002, None, 7, 440305001003], strict=True
    ):
        feature["properties"]["id"] = code
    (tmp_path / "areas.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8"
    )
    ids = list(rg.read_areas(rg.load_region(region_file))["area_id"])
    assert ids == ["440305001001", "440305001002", "", "7", "440305001003"]


# --------------------------------------------------------------------------- merge
def test_small_generated_region_equals_one_run_on_the_whole(tmp_path):
    region_file = write_region(tmp_path / "r", side=2, area_m=300, n_nodes=700, n_facilities=60)
    result = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "work")
    assert (result.circles["status"] == "ok").all()
    assert_same_as_whole(result, region_file)
    facilities = pd.read_csv(region_file.parent / "facilities.csv")
    assert outside_reaching_in(result, facilities) > 0
    # every merchant row of the table is in the output once, with a status
    table = pd.read_csv(region_file.parent / "pois.csv")
    assert sorted(result.pois["poi_id"]) == sorted(table["id"])
    outside = result.pois[result.pois["area_id"] == ""]
    assert len(outside) > 0 and (outside["status"] == "outside_areas").all()
    # the areas' counts add up to the merchants of the areas
    assert result.circles["pois"].sum() == (result.pois["area_id"] != "").sum()
    for band in result.region.settings.bands_min:
        minutes = result.pois["minutes_to_nearest"].astype(float)
        assert result.circles[f"covered_{band:g}min"].sum() == (minutes <= band).sum()

    # a second run reuses every area's result file and gives the same tables
    again = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "work")
    assert again.tasks["reused"].all()
    pd.testing.assert_frame_equal(again.coverage, result.coverage)


def test_every_merchant_row_appears_once_with_a_status_duplicates_too(tmp_path):
    """A row whose id an earlier row has, or with no coordinates, is in pois.csv, not lost."""
    region_file = write_region(tmp_path / "r", side=2, area_m=300, n_nodes=300, n_facilities=20)
    path = region_file.parent / "pois.csv"
    table = pd.read_csv(path, dtype={"id": str})
    before = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "w0").pois
    placed = before.loc[before["area_id"] != "", "poi_id"].iloc[0]  # a merchant in an area
    first = table[table["id"] == placed].iloc[0]
    extra = pd.DataFrame(
        [
            {**first.to_dict(), "name": "same id, later row"},  # its id repeats the first
            {**first.to_dict(), "id": "no-xy", "lon": None, "lat": None},
        ]
    )
    pd.concat([table, extra], ignore_index=True).to_csv(path, index=False)
    result = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "work")
    out = result.pois
    assert len(out) == len(table) + 2
    assert sorted(out["poi_id"]) == sorted([*table["id"], first["id"], "no-xy"])
    mine = out[out["poi_id"] == first["id"]]
    assert sorted(mine["status"]) == ["duplicate_id", "ok"]  # the later row; the first in its area
    assert (mine.loc[mine["status"] == "ok", "area_id"] != "").all()
    assert out.loc[out["poi_id"] == "no-xy", "status"].tolist() == ["missing_coordinates"]
    # the reference of the merge keeps the first row in its area too (the later row's empty
    # area took the first row's place in analyse_whole)
    _cov, whole = rg.analyse_whole(region_file)
    assert whole.loc[whole["poi_id"] == first["id"], "area_id"].tolist() == [
        mine.loc[mine["status"] == "ok", "area_id"].iloc[0]
    ]


@pytest.mark.slow
def test_merchants_typed_with_lat_and_lon_swapped_count_as_routed(tmp_path):
    """A swapped row is fixed, snapped and walked: circles.csv counts it in pois_routed."""
    region_file = write_region(tmp_path / "r", side=2, area_m=300, n_nodes=300, n_facilities=20)
    path = region_file.parent / "pois.csv"
    table = pd.read_csv(path, dtype={"id": str})
    before = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "w0")
    placed = before.pois.loc[before.pois["area_id"] != "", "poi_id"].head(5)
    swap = table["id"].isin(placed)
    table.loc[swap, ["lon", "lat"]] = table.loc[swap, ["lat", "lon"]].to_numpy()
    table.to_csv(path, index=False)
    result = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "work")
    mine = result.pois.set_index("poi_id").loc[placed]
    assert (mine["status"] == "swapped_lat_lon").all() and mine["access_m"].notna().all()
    assert list(result.circles["pois_routed"]) == list(before.circles["pois_routed"])
    routed = result.pois[result.pois["status"].isin(["ok", "unreachable", "swapped_lat_lon"])]
    per_area = routed.groupby("area_id").size()
    assert list(result.circles["pois_routed"]) == [per_area[a] for a in result.circles["area_id"]]


@pytest.mark.slow
def test_an_edited_types_table_or_planner_computes_the_areas_again(tmp_path, monkeypatch):
    """The per-area results are reused only for the same policy table bytes and code."""
    import shutil

    from planner import _paths
    from planner.policy import DEFAULT_TYPES_FILE

    region_file = write_region(
        tmp_path / "r", side=2, area_m=300, n_nodes=300, n_facilities=20, bands="[5, 10, 15]"
    )
    types = region_file.parent / "types.csv"
    shutil.copyfile(DEFAULT_TYPES_FILE, types)
    text = region_file.read_text(encoding="utf-8")
    region_file.write_text(text + '\n[policy]\ntypes = "types.csv"\n', encoding="utf-8")
    work = tmp_path / "work"
    first = rg.run_region(region_file, scheduler="serial", work_dir=work)
    assert set(first.circles["policy_required"]) == {26}
    assert rg.run_region(region_file, scheduler="serial", work_dir=work).tasks["reused"].all()
    lines = types.read_text(encoding="utf-8").splitlines()
    types.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")  # 3 types left
    edited = rg.run_region(region_file, scheduler="serial", work_dir=work)
    assert not edited.tasks["reused"].any()
    assert set(edited.circles["policy_required"]) <= {0, 1, 2, 3}
    # an upgraded or edited planner: the same inputs are computed again
    monkeypatch.setattr(_paths, "code_digest", lambda: "another planner")
    assert not rg.run_region(region_file, scheduler="serial", work_dir=work).tasks["reused"].any()


def test_a_network_file_edited_with_its_size_and_time_kept_computes_again(tmp_path):
    """The job key holds the network file's bytes, not its size and modification time."""
    region_file = write_region(
        tmp_path / "r", side=1, area_m=300, n_nodes=200, n_facilities=5, source="osm_xml"
    )
    work = tmp_path / "work"
    first = rg.run_region(region_file, scheduler="serial", work_dir=work)
    assert rg.run_region(region_file, scheduler="serial", work_dir=work).tasks["reused"].all()
    osm = region_file.parent / "city.osm"
    st = osm.stat()
    text = osm.read_bytes()
    # every street made unwalkable, padded to the same length (as cp -p or rsync -a leave it)
    edited = text.replace(b'v="residential"', b'v="proposed"   ')
    assert edited != text and len(edited) == len(text)
    osm.write_bytes(edited)
    os.utime(osm, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (osm.stat().st_size, osm.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    again = rg.run_region(region_file, scheduler="serial", work_dir=work)
    assert not again.tasks["reused"].any()
    columns = ["network_nodes", "covered_4min"]
    assert not again.circles[columns].equals(first.circles[columns])


def test_a_users_folder_is_never_taken_as_the_work_folder(tmp_path):
    """--work on a folder of the user's: refused before anything is written or deleted."""
    region_file = write_region(tmp_path / "r", side=1, area_m=300, n_nodes=200, n_facilities=5)
    mine = tmp_path / "myproject"
    (mine / "running").mkdir(parents=True)
    (mine / "running" / "notes.txt").write_text("mine", encoding="utf-8")
    (mine / "todo.md").write_text("mine", encoding="utf-8")
    before = sorted(p.relative_to(mine) for p in mine.rglob("*"))
    with pytest.raises(rg.PlannerError, match="files the planner did not make"):
        rg.run_region(region_file, scheduler="serial", work_dir=mine)
    assert sorted(p.relative_to(mine) for p in mine.rglob("*")) == before
    # its own folder: marked, and only its own running markers are cleared
    work = tmp_path / "work"
    rg.run_region(region_file, scheduler="serial", work_dir=work)
    assert (work / rg.WORK_MARK).is_file()
    (work / "running" / "000000-123").write_text("{}", encoding="utf-8")  # a stale marker
    (work / "running" / "keep.txt").write_text("a user's note", encoding="utf-8")
    rg.run_region(region_file, scheduler="serial", work_dir=work)
    assert sorted(p.name for p in (work / "running").iterdir()) == ["keep.txt"]
    # a relative folder is made absolute (workers elsewhere write where the command reads)
    tasks = rg.area_tasks(rg.load_region(region_file), Path(os.path.relpath(work)))[1]
    assert all(Path(t.work).is_absolute() for t in tasks)


def test_a_damaged_result_file_is_recomputed(tmp_path):
    region_file = write_region(tmp_path / "r", side=1, area_m=300, n_nodes=300, n_facilities=20)
    first = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "work")
    files = sorted((tmp_path / "work" / "areas").glob("*.pkl"))
    assert len(files) == 1
    files[0].write_bytes(files[0].read_bytes()[:100])  # truncated
    again = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "work")
    assert not again.tasks["reused"].any()
    pd.testing.assert_frame_equal(again.coverage, first.coverage)
    with open(files[0], "rb") as fh:
        assert pickle.load(fh)["area_id"] == first.circles["area_id"][0]


def test_a_result_another_run_replaced_says_so(tmp_path):
    """Two runs with other inputs sharing --work: an area whose result file became the other
    run's is failed with a reason (it was failed with an empty reason)."""
    region_file = write_region(tmp_path / "r", side=1, area_m=300, n_nodes=300, n_facilities=20)
    reg = rg.load_region(region_file)
    areas, tasks, facilities, pois = rg.area_tasks(reg, tmp_path / "work")
    statuses = [rg.run_area(t) for t in tasks]
    with open(tasks[0].result_path, "rb") as fh:
        data = pickle.load(fh)
    data["job"] = "another run's job"
    with open(tasks[0].result_path, "wb") as fh:
        pickle.dump(data, fh)
    merged = rg.merge(reg, areas, tasks, statuses, facilities, pois)
    assert merged.circles["status"].tolist() == ["failed"]
    assert "replaced" in merged.circles["reason"][0]


@pytest.mark.slow
def test_sample_in_4_areas_equals_one_run_on_the_whole(cli, tmp_path):
    result = rg.run_region(SAMPLE_REGION, scheduler="serial", work_dir=tmp_path / "work")
    assert (result.circles["status"] == "ok").all()
    pairs = assert_same_as_whole(result, SAMPLE_REGION)
    assert len(pairs) > 300
    facilities = pd.read_csv(DATA_DIR / "sample" / "facilities.csv").rename(
        columns={"facility_id": "id"}
    )
    assert outside_reaching_in(result, facilities) > 0
    # the command writes the same through the Dask-free path, as one published set
    out = tmp_path / "out"
    run = cli("region", SAMPLE_REGION, "--scheduler", "serial", "--work", tmp_path / "work",
              "--out", out)  # fmt: skip
    assert run.exit_code == 0, run.output
    assert "4 of 4 areas computed, 0 failed" in run.stdout
    assert "areas: 4/4 done, 0 failed" in run.stderr
    circles = pd.read_csv(out / "circles.csv", encoding="utf-8-sig")
    assert list(circles["area_id"]) == ["A1", "A2", "A3", "A4"]
    assert circles["pois"].sum() == 180
    import pyogrio

    layers = [name for name, _ in pyogrio.list_layers(out / "sample_region.gpkg")]
    assert layers == ["circles", "pois", "facilities"]
    cov = pd.read_csv(out / "coverage.csv", encoding="utf-8-sig")
    assert len(cov) == len(result.coverage)


@pytest.mark.slow
def test_100_generated_areas_equal_one_run_on_the_whole(tmp_path):
    region_file = write_region(tmp_path / "r", side=10, area_m=250, n_nodes=2500, n_facilities=150)
    # on the local Dask cluster, 2 worker processes
    lines: list[str] = []
    result = rg.run_region(
        region_file, work_dir=tmp_path / "work", workers=2, progress=lines.append
    )
    assert lines[-1] == "areas: 100/100 done, 0 failed"
    assert result.tasks["pid"].nunique() == 2  # both workers computed areas
    assert len(result.circles) == 100
    assert (result.circles["status"] == "ok").all()
    assert (result.circles.geometry.geom_type == "Polygon").all()
    pairs = assert_same_as_whole(result, region_file)
    assert len(pairs) > 500
    facilities = pd.read_csv(region_file.parent / "facilities.csv")
    assert outside_reaching_in(result, facilities) > 50


def test_pieces_left_out_at_the_cut_edge_are_counted():
    from pyproj import Transformer

    from tests.handmade import X0, Y0, make_routable_network

    # main piece: a 3-edge path; piece 0: a line crossing x = 500 (the cut's east edge);
    # piece 1: a short line well inside the cut
    net = make_routable_network(
        {1: (0, 0), 2: (100, 0), 3: (200, 0), 4: (300, 0), 5: (450, 50), 6: (550, 50),
         7: (100, 100), 8: (120, 100)},
        [(1, 2), (2, 3), (3, 4), (5, 6), (7, 8)],
    )  # fmt: skip
    assert len(net.components.dropped) == 2
    to_wgs = Transformer.from_crs("EPSG:32649", "EPSG:4326", always_xy=True)
    w, s = to_wgs.transform(X0 - 50, Y0 - 50)
    e, n = to_wgs.transform(X0 + 500, Y0 + 150)
    assert rg._pieces_at_cut_edge(net, (w, s, e, n)) == 1
    e_far, _ = to_wgs.transform(X0 + 600, Y0 + 150)
    assert rg._pieces_at_cut_edge(net, (w, s, e_far, n)) == 0


def test_region_never_writes_over_a_folder_the_planner_did_not_make(cli, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes", encoding="utf-8")
    result = cli("region", SAMPLE_REGION, "--scheduler", "serial", "--out", out)
    assert result.exit_code == 1
    assert result.stderr.startswith("error:") and str(out) in result.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text(encoding="utf-8") == "my notes"


def test_an_area_without_streets_fails_alone_and_the_command_says_so(cli, tmp_path):
    region_file = write_region(tmp_path / "r", side=1, area_m=300, n_nodes=300, n_facilities=10)
    areas = json.loads((tmp_path / "r" / "areas.geojson").read_text(encoding="utf-8"))
    far = {
        "type": "Feature",
        "properties": {"id": "FAR", "name": "no streets here"},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[100.0, 20.0], [100.01, 20.0], [100.01, 20.01], [100.0, 20.0]]],
        },
    }
    bad = {"type": "Feature", "properties": {"id": "BAD"}, "geometry": None}
    areas["features"] += [far, bad]  # fmt: skip
    (tmp_path / "r" / "areas.geojson").write_text(json.dumps(areas), encoding="utf-8")
    out = tmp_path / "out"
    result = cli("region", region_file, "--scheduler", "serial", "--work", tmp_path / "w",
                 "--out", out)  # fmt: skip
    assert result.exit_code == 1
    assert "1 of 3 areas computed, 1 failed, 1 with input problems" in result.stdout
    assert "areas: 1/2 done, 1 failed" in result.stderr
    circles = pd.read_csv(out / "circles.csv", encoding="utf-8-sig", keep_default_na=False)
    assert list(circles["status"]) == ["ok", "failed", "bad_geometry"]
    assert "no way inside the box" in circles["reason"][1]
    assert "no geometry" in circles["reason"][2]
    raw = pd.read_csv(out / "circles.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    for col in ("pois", "pois_routed", "covered_2min", "network_nodes"):
        assert raw[col][0].isdigit() and raw[col][1] == "", (col, list(raw[col]))  # not 78.000000
    # a merchant in the failed area is not "in no study area": its area failed
    pois = pd.read_csv(out / "pois.csv", encoding="utf-8-sig", keep_default_na=False)
    assert "outside_areas" in set(pois["status"])  # the generated city has merchants outside
    table = pd.read_csv(region_file.parent / "pois.csv")
    table.loc[len(table)] = {
        **table.iloc[0].to_dict(),
        "id": "in-far",
        "lon": 100.005,
        "lat": 20.002,
    }
    table.to_csv(region_file.parent / "pois.csv", index=False)
    cli("region", region_file, "--scheduler", "serial", "--work", tmp_path / "w", "--out", out)
    pois = pd.read_csv(out / "pois.csv", encoding="utf-8-sig", keep_default_na=False)
    (row,) = pois[pois["poi_id"] == "in-far"].itertuples(index=False)
    assert (row.status, row.area_id) == ("area_failed", "FAR") and "task failed" in row.reason
    # every area fails, and the merchants come from OpenStreetMap only: the tables are still
    # written, with their columns, and the command says so in one line (it crashed: 'lon')
    areas["features"] = [far]
    (tmp_path / "r" / "areas.geojson").write_text(json.dumps(areas), encoding="utf-8")
    text = region_file.read_text(encoding="utf-8")
    text = text.replace('path = "pois.csv"\nfrom_osm = false', "from_osm = true")
    region_file.write_text(text, encoding="utf-8")
    out2 = tmp_path / "out2"
    result = cli("region", region_file, "--scheduler", "serial", "--work", tmp_path / "w2",
                 "--out", out2)  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "0 of 1 areas computed, 1 failed" in result.stdout
    pois = pd.read_csv(out2 / "pois.csv", encoding="utf-8-sig")
    assert len(pois) == 0 and {"area_id", "poi_id", "status"} <= set(pois.columns)
    circles = pd.read_csv(out2 / "circles.csv", encoding="utf-8-sig", keep_default_na=False)
    assert list(circles["status"]) == ["failed"]


@pytest.mark.slow
def test_a_table_row_with_an_osm_features_id_far_away_is_the_tables_row(tmp_path):
    """way/187671936 (IKEA, area A4) given as a shop in area A1 by the merchants table: the
    table's row counts, in A1, and the OSM feature is its duplicate, as in `planner run`.
    Each area used to keep its own, and the run stopped: "counted in two areas"."""
    folder = tmp_path / "region"
    folder.mkdir()
    shutil.copyfile(SAMPLE_REGION.parent / "areas.geojson", folder / "areas.geojson")
    text = SAMPLE_REGION.read_text(encoding="utf-8")
    text = text.replace('"../sample/', f'"{(DATA_DIR / "sample").as_posix()}/')
    text = text.replace("from_osm = true", 'from_osm = true\npath = "merchants.csv"')
    (folder / "region.toml").write_text(text, encoding="utf-8")
    (folder / "merchants.csv").write_text(
        "id,name,kind,lon,lat\nway/187671936,my shop,shop:convenience,113.9260,22.5420\n",
        encoding="utf-8",
    )
    result = rg.run_region(folder / "region.toml", scheduler="serial", work_dir=tmp_path / "w")
    mine = result.pois[result.pois["poi_id"] == "way/187671936"]
    assert len(mine) == 1 and mine["area_id"].tolist() == ["A1"]
    assert mine["name"].tolist() == ["my shop"]


def test_the_command_lists_input_rows_with_problems_and_stops_without_a_facility(cli, tmp_path):
    region_file = write_region(tmp_path / "r", side=1, area_m=300, n_nodes=200, n_facilities=5)
    fac = pd.read_csv(region_file.parent / "facilities.csv", dtype=str)
    fac.loc[0, "lon"] = "113.94x"
    fac.to_csv(region_file.parent / "facilities.csv", index=False)
    pois = pd.read_csv(region_file.parent / "pois.csv", dtype=str)
    pois.loc[1, "lat"] = ""
    pois.to_csv(region_file.parent / "pois.csv", index=False)
    run = cli("region", region_file, "--scheduler", "serial", "--work", tmp_path / "w",
              "--out", tmp_path / "out")  # fmt: skip
    assert run.exit_code == 0, run.output
    lines = run.stdout.splitlines()
    at = lines.index("  2 input row(s) with problems (see facilities.csv, pois.csv):")
    assert "facilities.csv row 2" in lines[at + 1] and "pois.csv row 3" in lines[at + 2]
    fac["lon"] = "x"  # no facility left to walk from: one error line, nothing written
    fac.to_csv(region_file.parent / "facilities.csv", index=False)
    run = cli("region", region_file, "--scheduler", "serial", "--work", tmp_path / "w",
              "--out", tmp_path / "out2")  # fmt: skip
    assert run.exit_code == 1 and run.stderr.startswith("error: ")
    assert "no usable facility row" in run.stderr and len(run.stderr.splitlines()) == 1
    assert not (tmp_path / "out2").exists()


def test_an_input_problem_fails_the_area_at_once_not_after_retries(tmp_path, monkeypatch):
    """In Dask, a task that raises is tried three times, each with a traceback on the
    terminal: a problem of the area's data (PlannerError) is returned as its failure."""
    region_file = write_region(tmp_path / "r", side=1, area_m=300, n_nodes=200, n_facilities=5)
    (task,) = rg.area_tasks(rg.load_region(region_file), tmp_path / "w")[1]
    calls = []

    def broken(task, tile=None):
        calls.append(tile)
        raise rg.PlannerError("cannot read OSM file x.pbf: no way inside the box")

    monkeypatch.setattr(rg, "run_area", broken)
    status = rg._run_area_task(task, "tile.pbf")
    assert status["status"] == "failed" and "no way inside the box" in status["reason"]
    assert calls == ["tile.pbf"]
    status = rg._run_area_task(task, rg._TileError("PlannerError: no way inside the box"))
    assert status["status"] == "failed" and status["reason"].endswith("no way inside the box")
    assert calls == ["tile.pbf"]  # a tile that failed: the area is not run
    monkeypatch.setattr(rg, "cut_tile", lambda *a: (_ for _ in ()).throw(rg.PlannerError("bad")))
    assert rg._cut_tile_task("x.pbf", (0.0, 0.0, 1.0, 1.0), str(tmp_path)) == rg._TileError(
        "PlannerError: bad"
    )
    monkeypatch.setattr(rg, "run_area", lambda task, tile=None: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # anything else: raised, so Dask retries it
        rg._run_area_task(task, "tile.pbf")


@pytest.mark.slow
def test_a_merchant_beyond_the_cut_is_not_called_unreachable(tmp_path):
    """Cut into 16 cells, some merchants have no facility within a cell's cut although F04
    reaches them in 21-35 min on the whole network: routed, no minutes within the largest
    band, not "no facility can reach it on the walk network"."""
    west, south, east, north = 113.9232, 22.5408, 113.9676, 22.5590
    dx, dy = (east - west) / 4, (north - south) / 4
    boxes = {
        f"G{j}{i}": (west + dx * i, south + dy * j, west + dx * (i + 1), south + dy * (j + 1))
        for j in range(4)
        for i in range(4)
    }
    region_file = sample_region_with_boxes(tmp_path / "region", boxes)
    result = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "w")
    pois = result.pois[result.pois["area_id"] != ""]
    assert "unreachable" not in set(pois["status"])
    whole = rg.analyse_whole(region_file)[1].set_index("poi_id")
    lone = pois[pois["minutes_to_nearest"].isna()]
    assert len(lone) > 0  # merchants no facility reaches within 15 minutes
    for pid in lone["poi_id"]:  # the whole network has them beyond 15 minutes or unreachable
        assert np.isnan(float(whole.loc[pid, "minutes_to_nearest"]))


def test_areas_drawn_on_amap_are_converted_from_gcj02(tmp_path):
    """The sample's quadrants as an Amap drawing (GCJ-02, ~500 m off): with [areas] crs =
    "GCJ02" they come back within a metre of the WGS-84 ones."""
    from planner import crs as crs_mod

    original = json.loads((SAMPLE_REGION.parent / "areas.geojson").read_text(encoding="utf-8"))
    drawn = json.loads(json.dumps(original))
    for f in drawn["features"]:
        ring = np.array(f["geometry"]["coordinates"][0], dtype=float)
        lon, lat = crs_mod.wgs84_to_gcj02(ring[:, 0], ring[:, 1])
        f["geometry"]["coordinates"][0] = np.column_stack([lon, lat]).tolist()
    (tmp_path / "areas.geojson").write_text(json.dumps(drawn), encoding="utf-8")
    text = SAMPLE_REGION.read_text(encoding="utf-8")
    text = text.replace('"../sample/', f'"{(DATA_DIR / "sample").as_posix()}/')
    (tmp_path / "region.toml").write_text(text, encoding="utf-8")
    shifted = rg.read_areas(rg.load_region(tmp_path / "region.toml"))
    text = text.replace('name = "name"', 'name = "name"\ncrs = "高德"')
    (tmp_path / "region.toml").write_text(text, encoding="utf-8")
    fixed = rg.read_areas(rg.load_region(tmp_path / "region.toml"))
    want = rg.read_areas(rg.load_region(SAMPLE_REGION))
    utm = want.estimate_utm_crs()
    off = shifted.to_crs(utm).geometry.hausdorff_distance(want.to_crs(utm).geometry)
    near = fixed.to_crs(utm).geometry.hausdorff_distance(want.to_crs(utm).geometry)
    assert (off > 300).all() and (near < 1.0).all(), (list(off), list(near))
    text = text.replace('crs = "高德"', 'crs = "mars"')
    (tmp_path / "region.toml").write_text(text, encoding="utf-8")
    with pytest.raises(rg.ScenarioError, match="crs"):
        rg.load_region(tmp_path / "region.toml")


def test_ctrl_c_that_a_reader_turns_into_its_own_error_stops_a_serial_run(
    tmp_path, monkeypatch, request
):
    """pyosmium turned a Ctrl-C during a cut into 'Need node, way or relation object': the
    area failed and the run went on (and published without it). It now stops."""
    import signal

    # as in a `planner region` process: Python's own Ctrl-C handler (a test run before this
    # one in the same worker process may have left another)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, handler))
    region_file = write_region(tmp_path / "r", side=2, area_m=300, n_nodes=300, n_facilities=5)
    tasks = rg.area_tasks(rg.load_region(region_file), tmp_path / "w")[1]
    ran = []

    def reader_swallows_ctrl_c(task, tile=None):
        ran.append(task.index)
        try:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the reader runs
            time.sleep(1)
        except KeyboardInterrupt:
            raise RuntimeError("Need node, way or relation object.") from None
        raise AssertionError("the interrupt did not arrive")

    monkeypatch.setattr(rg, "run_area", reader_swallows_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        list(rg._execute(tasks, "serial", None))
    assert ran == [tasks[0].index]  # the next area was not started
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    # the same when the area turns the reader's error into its own failure (run_area does:
    # 'cannot read OSM file ...: Need node, way or relation object')
    ran.clear()

    def area_fails_quietly(task, tile=None):
        ran.append(task.index)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            return rg._failed(task, rg.PlannerError("cannot read OSM file: Need node, way"))
        raise AssertionError("the interrupt did not arrive")

    monkeypatch.setattr(rg, "run_area", area_fails_quietly)
    with pytest.raises(KeyboardInterrupt):
        list(rg._execute(tasks, "serial", None))
    assert ran == [tasks[0].index]
    # another error is still one area's failure, and the run goes on
    monkeypatch.setattr(rg, "run_area", lambda task, tile=None: 1 / 0)
    statuses = list(rg._execute(tasks, "serial", None))
    assert [s["status"] for s in statuses] == ["failed"] * len(tasks)


def test_a_merchants_tables_own_columns_never_break_a_region_run(tmp_path):
    """area_id, fid (QGIS exports have it), Name beside name, 电话: carried, renamed where
    they would clash, on every row, with whole row numbers; the GeoPackage takes them."""
    region_file = write_region(tmp_path / "r", side=2, area_m=300, n_nodes=300, n_facilities=10)
    path = region_file.parent / "pois.csv"
    table = pd.read_csv(path, dtype={"id": str})
    table["area_id"] = "mine"
    table["fid"] = range(len(table))
    table["Name"] = "upper"
    table["电话"] = [f"1380000{i:04d}" for i in range(len(table))]
    table.to_csv(path, index=False)
    out = tmp_path / "out"
    result = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "w", out_dir=out)
    assert (result.circles["status"] == "ok").all()
    pois = result.pois
    assert {"area_id_src", "fid_src", "Name_src", "电话"} <= set(pois.columns)
    assert (pois["area_id_src"] == "mine").all() and pois["电话"].notna().all()
    assert (pois["area_id"] == "").any()  # rows outside every area keep their columns too
    assert str(pois["row"].dtype) == "Int64"
    written = pd.read_csv(out / "pois.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert all(r.isdigit() for r in written["row"])  # not 4.000000
    import pyogrio

    names = [n for n, _ in pyogrio.list_layers(result.files["geopackage"])]
    assert names == ["circles", "pois", "facilities"]


def test_merchants_in_an_area_row_with_a_problem_say_so(tmp_path):
    """Area row 2 repeats row 1's id: not computed; its merchants are area_not_usable,
    named by the row, not "in no study area of the region"."""
    region_file = write_region(tmp_path / "r", side=2, area_m=300, n_nodes=300, n_facilities=10)
    areas = json.loads((tmp_path / "r" / "areas.geojson").read_text(encoding="utf-8"))
    areas["features"][1]["properties"]["id"] = areas["features"][0]["properties"]["id"]
    (tmp_path / "r" / "areas.geojson").write_text(json.dumps(areas), encoding="utf-8")
    result = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "w")
    assert list(result.circles["status"][:2]) == ["ok", "duplicate_id"]
    lost = result.pois[result.pois["status"] == "area_not_usable"]
    assert len(lost) > 0
    assert lost["reason"].str.contains("in area row 2").all()
    assert lost["reason"].str.contains("duplicate_id").all()


@pytest.mark.slow
def test_an_area_whose_point_was_not_walked_has_no_missing_list(tmp_path):
    """Area 2 lies mostly east of the extract: its representative point is far from every
    street. Nothing was measured from it, so it lacks nothing said (it listed all 26)."""
    boxes = {
        "1": (113.9454, 22.5408, 113.9676, 22.5499),
        "2": (113.9600, 22.5499, 114.0200, 22.6000),
    }
    region_file = sample_region_with_boxes(tmp_path / "region", boxes)
    result = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "w")
    c = result.circles.set_index("area_id")
    assert c.loc["1", "policy_point_status"] == "ok" and c.loc["1", "policy_required"] == 26
    assert c.loc["2", "policy_point_status"] == "too_far_from_network"  # the reason itself
    assert pd.isna(c.loc["2", "policy_required"]) and c.loc["2", "policy_missing"] == ""


def test_a_merchant_in_a_failed_area_is_area_failed_whatever_the_row_order(tmp_path):
    """Row 1 has no id and row 2's task failed; both cover the merchant: it is area_failed
    (run the command again), not area_not_usable."""
    import geopandas as gpd

    box = shapely.box(0.0, 0.0, 1.0, 1.0)
    areas = gpd.GeoDataFrame(
        {"area_id": ["", "A2"], "status": ["missing_id", "ok"]}, geometry=[box, box], crs=4326
    )
    rest = pd.DataFrame(
        {"usable": [True], "lon": [0.5], "lat": [0.5], "status": ["ok"], "reason": [""]}
    )
    status, reason, area = rg._unplaced(rest, areas, [{"index": 1, "status": "failed"}])
    assert (status[0], area[0]) == ("area_failed", "A2") and "run the command again" in reason[0]


@pytest.mark.slow
def test_area_ids_equal_to_facility_ids_keep_their_policy_check(tmp_path):
    """Areas and facilities both numbered from 1 in a city's tables: the area's point is
    walked (it was duplicate_id against the facilities, and the check was lost)."""
    region_file = write_region(
        tmp_path / "r", side=2, area_m=300, n_nodes=300, n_facilities=10, bands="[5, 10, 15]"
    )
    fac = pd.read_csv(region_file.parent / "facilities.csv", dtype=str)
    areas = json.loads((tmp_path / "r" / "areas.geojson").read_text(encoding="utf-8"))
    for f, fid in zip(areas["features"], fac["id"].drop_duplicates(), strict=False):
        f["properties"]["id"] = fid
    (tmp_path / "r" / "areas.geojson").write_text(json.dumps(areas), encoding="utf-8")
    result = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "w")
    assert set(result.circles["policy_point_status"]) == {"ok"}
    assert set(result.circles["policy_required"]) == {26}


@pytest.mark.slow
def test_a_regions_pois_csv_read_back_adds_no_columns(tmp_path):
    region_file = write_region(tmp_path / "r", side=2, area_m=300, n_nodes=300, n_facilities=10)
    headers = []
    for run in range(3):
        out = tmp_path / f"out{run}"
        rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / f"w{run}", out_dir=out)
        headers.append(pd.read_csv(out / "pois.csv", nrows=0).columns.tolist())
        shutil.copyfile(out / "pois.csv", region_file.parent / "pois.csv")  # edit, run again
    assert headers[1] == headers[2] and "area_id_src" not in headers[2]


@pytest.mark.slow
def test_a_merchants_column_named_like_the_osm_source_is_one_column(tmp_path):
    """With OpenStreetMap POIs too, a table's 'Source' column took two names: Source_src in
    computed areas, Source outside them."""
    region_file = sample_region_with_boxes(
        tmp_path / "region", {"A1": (113.9232, 22.5408, 113.9454, 22.5499)}
    )
    text = region_file.read_text(encoding="utf-8")
    region_file.write_text(
        text.replace("from_osm = true", 'from_osm = true\npath = "merchants.csv"'),
        encoding="utf-8",
    )
    (region_file.parent / "merchants.csv").write_text(
        "id,name,kind,lon,lat,Source\n"
        "M1,in,shop:convenience,113.9300,22.5450,survey\n"
        "M2,out,shop:convenience,113.9600,22.5550,survey\n",
        encoding="utf-8",
    )
    pois = rg.run_region(region_file, scheduler="serial", work_dir=tmp_path / "w").pois
    mine = pois[pois["poi_id"].isin(["M1", "M2"])].set_index("poi_id")
    assert "Source" not in pois.columns
    assert mine["Source_src"].tolist() == ["survey", "survey"]
    assert mine.loc["M1", "area_id"] == "A1" and mine.loc["M2", "status"] == "outside_areas"

"""Networks from a regional OSM PBF: the same walk network and minutes as the OSM XML path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import osmium
import pandas as pd
import pytest

import planner
from planner import _pbf, inputs
from planner._errors import PlannerError, ScenarioError
from tests.scenarios import OSM, SAMPLE, edited, write_scenario

#: A small box around the Hi-Tech Park metro station (sample facility F02) and its neighbours.
SMALL_BOX = (113.9440, 22.5410, 113.9530, 22.5470)


def write_pbf(source: Path, dest: Path) -> Path:
    """Convert an OSM XML file to PBF with pyosmium (libosmium's writer), object by object."""
    with osmium.SimpleWriter(str(dest), overwrite=True) as writer:
        for obj in osmium.FileProcessor(str(source)):
            writer.add(obj)
    return dest


@pytest.fixture(scope="module")
def sample_pbf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pbf(OSM, tmp_path_factory.mktemp("pbf") / "sample.osm.pbf")


def small_scenarios(folder: Path, pbf: Path) -> tuple[planner.Scenario, planner.Scenario]:
    """The sample's facilities inside SMALL_BOX, 2/4-minute bands: XML and PBF scenarios."""
    w, s, e, n = SMALL_BOX
    text = edited(
        "study_bbox = [113.9232, 22.5408, 113.9676, 22.5590]", f"study_bbox = {list(SMALL_BOX)}"
    )
    text = text.replace("bands_min = [5, 10, 15]", "bands_min = [2, 4]").replace(
        "snap_limit_m = 300", "snap_limit_m = 100"
    )
    xml = write_scenario(folder / "xml", text)
    pbf_text = text.replace('source = "osm_xml"', 'source = "pbf"').replace(
        f'path = "{OSM.as_posix()}"', f'path = "{pbf.as_posix()}"'
    )
    assert pbf_text != text
    pbf_file = write_scenario(folder / "pbf", pbf_text)
    for path in (xml, pbf_file):
        fac = pd.read_csv(SAMPLE / "facilities.csv", dtype=str)
        lon, lat = fac["lon"].astype(float), fac["lat"].astype(float)
        inside = fac[(lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)]
        assert len(inside["facility_id"].unique()) >= 2
        inside.to_csv(path.parent / "facilities.csv", index=False)
    return planner.load_scenario(xml), planner.load_scenario(pbf_file)


@pytest.mark.slow
def test_pbf_cut_is_smaller_and_gives_the_same_minutes(tmp_path, sample_pbf):
    xml, pbf = small_scenarios(tmp_path, sample_pbf)
    assert pbf.network_source == "pbf"
    cut = inputs.pbf_cut(pbf)
    full_net = planner.load_network(xml)
    cut_net = planner.load_network(pbf)
    # the cut really clips the network (so the equality below is not the whole file's)
    assert cut_net.n_nodes < 0.7 * full_net.n_nodes, (cut_net.n_nodes, full_net.n_nodes)
    # and it holds every street within the largest band + snap limit of the study area
    w, s, e, n = inputs.pbf_bbox(pbf)
    assert w < SMALL_BOX[0] and e > SMALL_BOX[2] and s < SMALL_BOX[1] and n > SMALL_BOX[3]
    a = planner.analyse_scenario(xml)
    b = planner.analyse_scenario(pbf)
    key = ["facility_id", "poi_id"]
    ca = a.coverage.sort_values(key).reset_index(drop=True)
    cb = b.coverage.sort_values(key).reset_index(drop=True)
    assert len(ca) > 20
    pd.testing.assert_frame_equal(ca[key], cb[key])
    np.testing.assert_allclose(cb["distance_m"], ca["distance_m"], rtol=0, atol=1e-6)
    # every POI of the study area is read from the cut; within the largest band its nearest
    # facility and minutes are the same (beyond it, a walk may leave the cut: not compared)
    pa = a.pois.set_index("poi_id").sort_index()
    pb = b.pois.set_index("poi_id").sort_index()
    assert list(pa.index) == list(pb.index)
    assert (pa["status"] == pb["status"]).all()
    ma, mb = pa["minutes_to_nearest"].astype(float), pb["minutes_to_nearest"].astype(float)
    near = (ma <= 4) | (mb <= 4)
    assert near.sum() > 10
    assert (pa.loc[near, "nearest_facility_id"] == pb.loc[near, "nearest_facility_id"]).all()
    np.testing.assert_allclose(mb[near] * 75, ma[near] * 75, rtol=0, atol=1e-6)
    assert cut.suffix == ".osm" and cut.is_file()
    assert inputs.pbf_cut(pbf) == cut  # reused, not cut again


def test_cut_keeps_whole_ways_crossing_the_box(tmp_path):
    box = SMALL_BOX
    out = _pbf.cut(OSM, box, tmp_path / "cut.osm")
    inside_nodes, ways, members = set(), {}, set()
    locations = {}
    for obj in osmium.FileProcessor(str(out)):
        if obj.is_node():
            locations[obj.id] = (obj.location.lon, obj.location.lat)
        elif obj.is_way():
            ways[obj.id] = [r.ref for r in obj.nodes]
        else:  # multipolygons: their member ways come whole, wherever they lie
            assert obj.tags.get("type") == "multipolygon"
            members.update(m.ref for m in obj.members if m.type == "w")
    way_refs = [refs for wid, refs in ways.items() if wid not in members]
    for nid, (lon, lat) in locations.items():
        if box[0] <= lon <= box[2] and box[1] <= lat <= box[3]:
            inside_nodes.add(nid)
    assert way_refs
    crossing = 0
    for refs in way_refs:
        assert all(r in locations for r in refs)  # complete ways
        assert any(r in inside_nodes for r in refs)  # each touches the box
        crossing += not all(r in inside_nodes for r in refs)
    assert crossing > 0  # some ways cross the edge and were kept whole


@pytest.mark.slow
def test_pbf_network_equals_xml_on_the_whole_sample(tmp_path, sample_pbf):
    # a box holding the whole extract: the cut is the file, the network identical
    cut = _pbf.cut(sample_pbf, (113.90, 22.52, 113.99, 22.58), tmp_path / "all.osm")
    from planner import network as net

    a = net.build_network(net.load_graph(OSM))
    b = net.build_network(net.load_graph(cut))
    assert (a.node_ids == b.node_ids).all()
    assert (a.edge_u == b.edge_u).all() and (a.edge_v == b.edge_v).all()
    np.testing.assert_allclose(b.edge_length, a.edge_length, rtol=0, atol=1e-6)


def test_pbf_source_needs_a_pbf_file(tmp_path):
    path = write_scenario(tmp_path, edited('source = "osm_xml"', 'source = "pbf"'))
    with pytest.raises(ScenarioError) as info:
        planner.load_scenario(path)
    message = str(info.value)
    assert str(path) in message and "[network] path" in message and ".pbf" in message
    assert "\n" not in message


def test_unreadable_pbf_is_one_planner_error(tmp_path):
    bad = tmp_path / "broken.osm.pbf"
    bad.write_bytes(b"not a pbf at all" * 10)
    with pytest.raises(PlannerError) as info:
        _pbf.cut(bad, SMALL_BOX, tmp_path / "cut.osm")
    assert str(bad) in str(info.value)
    assert not (tmp_path / "cut.osm").exists()


@pytest.mark.slow
def test_osm_option_with_a_pbf_runs_the_command(cli, tmp_path, sample_pbf):
    xml, _ = small_scenarios(tmp_path / "s", sample_pbf)
    assert xml.file is not None
    result = cli("run", xml.file, "--osm", sample_pbf, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary = (tmp_path / "out" / "summary.json").read_text(encoding="utf-8")
    assert '"network_source": "pbf"' in summary
    assert '"network_file": "sample.osm.pbf"' in summary


def test_pad_bbox_is_never_short():
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    for lat in (0.0, 23.3, 45.0, -60.0):
        box = (116.0, lat, 116.1, lat + 0.05)
        w, s, e, n = _pbf.pad_bbox(box, 1425.0)
        for y in (s, n, lat, lat + 0.05):
            _, _, west = geod.inv(w, y, box[0], y)
            _, _, east = geod.inv(box[2], y, e, y)
            assert min(west, east) >= 1425.0
        assert geod.inv(116.0, s, 116.0, box[1])[2] >= 1425.0
        assert geod.inv(116.0, box[3], 116.0, n)[2] >= 1425.0


def test_a_box_outside_the_file_is_one_planner_error(tmp_path):
    with pytest.raises(PlannerError, match="no way inside the box") as info:
        _pbf.cut(OSM, (100.0, 20.0, 100.01, 20.01), tmp_path / "cut.osm")
    assert str(OSM) in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "cut.osm").exists()


def test_a_damaged_cut_in_the_cache_is_cut_again(tmp_path, sample_pbf):
    """A cut whose bytes changed after it was written is not trusted: it is cut again."""
    cache = tmp_path / "cache"
    first = _pbf.cut_cached(sample_pbf, SMALL_BOX, cache)
    good = first.read_bytes()
    assert (first.parent / f"{first.name}.sha256.json").is_file()
    # a way dropped (same length: a damaged sector), then a truncated file
    damaged = good.replace(b"<way ", b"<xay ", 1)
    assert damaged != good and len(damaged) == len(good)
    first.write_bytes(damaged)
    again = _pbf.cut_cached(sample_pbf, SMALL_BOX, cache)
    assert again == first and again.read_bytes() == good
    first.write_bytes(good[: len(good) // 2])
    assert _pbf.cut_cached(sample_pbf, SMALL_BOX, cache).read_bytes() == good


def test_an_edit_keeping_size_and_time_is_seen_in_one_process(tmp_path):
    """The in-process sha256 memo is keyed by more than size and modification time."""
    import os
    import time

    path = tmp_path / "f.osm"
    path.write_bytes(b"a" * 100)
    st = path.stat()
    first = _pbf.file_sha256(path)
    time.sleep(0.05)  # past the file system's timestamp tick (ctime is coarse on Linux)
    path.write_bytes(b"b" * 100)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    assert _pbf.file_sha256(path) != first


def test_an_osm_override_dates_the_network_by_the_file_it_names(tmp_path):
    """`--osm OTHER` must not keep the scenario's own data date (the sample's 2021-03-17)."""
    sample = planner.load_scenario("sample")
    assert sample.network_date == "2021-03-17"
    # an Overpass extract names its date in <meta osm_base=...>
    text = OSM.read_text(encoding="utf-8").replace(
        'osm_base="2021-03-17T09:57:28Z"', 'osm_base="2024-02-29T08:00:00Z"'
    )
    newer = tmp_path / "newer.osm"
    newer.write_text(text, encoding="utf-8")
    assert sample.with_overrides(network_path=newer).network_date == "2024-02-29"
    single = tmp_path / "single.osm"  # attributes in single quotes (osmium, JOSM)
    single.write_text(
        text.replace(
            '<meta osm_base="2024-02-29T08:00:00Z"/>', "<meta osm_base='2023-05-06T08:00:00Z'/>"
        ),
        encoding="utf-8",
    )
    assert sample.with_overrides(network_path=single).network_date == "2023-05-06"
    # a file without a date in its header: undated, not the scenario's date; an element's
    # own timestamp is its last edit, not the data's date
    undated = tmp_path / "undated.osm"
    undated.write_text(
        text.replace('<meta osm_base="2024-02-29T08:00:00Z"/>', "").replace(
            '<node id="74385640"', '<node id="74385640" timestamp="2019-01-01T00:00:00Z"', 1
        ),
        encoding="utf-8",
    )
    assert planner.Scenario.with_overrides(sample, network_path=undated).network_date == ""
    # a PBF names it in its header (osmosis_replication_timestamp, as Geofabrik's do)
    pbf = tmp_path / "dated.osm.pbf"
    header = osmium.io.Header()
    header.set("osmosis_replication_timestamp", "2025-06-01T20:21:02Z")
    with osmium.SimpleWriter(str(pbf), header=header) as writer:
        for obj in osmium.FileProcessor(str(OSM)):
            writer.add(obj)
    assert sample.with_overrides(network_path=pbf).network_date == "2025-06-01"

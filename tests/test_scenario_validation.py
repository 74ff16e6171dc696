"""Scenario validation: every bad setting is one `error:` line naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib
from typer.testing import CliRunner

from planner import scenario as scenario_mod
from planner._errors import ScenarioError
from planner.cli import app
from planner.scenario import DATA_DIR, load_scenario, parse_bands
from tests.scenarios import OSM, edited, sample_text, write_scenario

BBOX = "[113.9232, 22.5408, 113.9676, 22.5590]"


def run_cli(tmp_path: Path, scenario: Path):
    """``planner run SCENARIO`` in-process, outputs under tmp_path."""
    result = CliRunner().invoke(
        app,
        ["run", str(scenario), "--out", str(tmp_path / "out"), "--maps-dir", str(tmp_path / "m")],
    )
    # a SystemExit is the CLI's own exit; any other exception would be a crash
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assert_one_error_line(tmp_path: Path, result, *needles: str) -> str:
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "m").exists()
    return errors[0]


# one test per bad case named in the issue -------------------------------------------------
BAD_CASES = {
    "text_in_study_bbox": (
        edited(BBOX, '["113.9232", 22.5408, 113.9676, 22.5590]'),
        ["[scenario] study_bbox", '"113.9232"', "4 finite numbers"],
    ),
    "snap_limit_with_unit": (
        edited("snap_limit_m = 300", 'snap_limit_m = "300米"'),
        ["[analysis] snap_limit_m", '"300米"', "expected a number of metres"],
    ),
    "negative_snap_limit": (
        edited("snap_limit_m = 300", "snap_limit_m = -5"),
        ["[analysis] snap_limit_m = -5", "> 0"],
    ),
    "facilities_path_number": (
        edited('path = "facilities.csv"', "path = 5"),
        ["[facilities] path = 5", "expected a string"],
    ),
    "study_bbox_lat_lon_order": (
        edited(BBOX, "[22.5408, 113.9232, 22.5590, 113.9676]"),
        [
            "[scenario] study_bbox",
            "looks like [south, west, north, east] (lat/lon order)",
            "write [west, south, east, north] = [113.9232, 22.5408, 113.9676, 22.559]",
        ],
    ),
    "from_osm_string": (
        edited("from_osm = true", 'from_osm = "false"'),
        ["[pois] from_osm", '"false"', "true or false"],
    ),
    "unknown_key_typo": (
        edited("snap_limit_m = 300", "snap_limt_m = 300"),
        ["[analysis] snap_limt_m", "unknown key", "did you mean snap_limit_m?"],
    ),
    "unknown_table": (
        sample_text() + "\n[analyis]\nbuffer_m = 30\n",
        ["[analyis]", "unknown table", "did you mean [analysis]?"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_setting_is_one_error_line_naming_file_and_key(tmp_path, case):
    text, needles = BAD_CASES[case]
    path = write_scenario(tmp_path / "sc", text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    line = assert_one_error_line(tmp_path, run_cli(tmp_path, path), str(path), *needles)
    assert line == f"error: {message}"


def test_study_bbox_not_overlapping_the_network(tmp_path):
    # a valid box, but around Liusha (Puning), while the network is Shenzhen's
    path = write_scenario(tmp_path / "sc", edited(BBOX, "[116.158, 23.270, 116.218, 23.324]"))
    load_scenario(path)  # valid on its own: the mismatch shows once the network is loaded
    assert_one_error_line(
        tmp_path,
        run_cli(tmp_path, path),
        "study_bbox [116.1580, 23.2700, 116.2180, 23.3240]",
        str(path),
        "does not overlap the street network's extent [113.9",
        OSM.name,
        "wrong area, or lat/lon order?",
    )


def test_lat_lon_box_that_is_numerically_valid_is_caught_by_the_overlap_check(tmp_path):
    # a place where both orders are possible boxes: [lat, lon] of Shenzhen is only caught by
    # |lat| > 90, but [lat, lon] of a place at lon < 90 would pass the static check
    path = write_scenario(tmp_path / "sc", edited(BBOX, "[22.5408, 13.9232, 22.5590, 13.9676]"))
    load_scenario(path)
    assert_one_error_line(tmp_path, run_cli(tmp_path, path), "lat/lon order?")


# more bad values: the message names the key, shows the value, says what is expected ------
@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        (BBOX, "[113.9676, 22.5590, 113.9232, 22.5408]", ["west 113.9676 must be less than"]),
        (BBOX, "[113.9, 22.5, 113.9]", ["[scenario] study_bbox", "got 3"]),
        (BBOX, "[113.9, 22.5, inf, 22.6]", ["[scenario] study_bbox", "finite"]),
        (BBOX, "[190.0, 22.5, 191.0, 22.6]", ["within -180..180"]),
        (BBOX, '"113.9,22.5,114,22.6"', ["[scenario] study_bbox"]),
        ("speed_kmh = 4.5", "speed_kmh = nan", ["[analysis] speed_kmh = nan", "0.5 to 10"]),
        ("speed_kmh = 4.5", "speed_kmh = 12", ["[analysis] speed_kmh = 12", "0.5 to 10"]),
        ("speed_kmh = 4.5", 'speed_kmh = "4.5"', ['[analysis] speed_kmh = "4.5"']),
        ("speed_kmh = 4.5", "speed_kmh = true", ["[analysis] speed_kmh = true"]),
        ("bands_min = [5, 10, 15]", "bands_min = [5, 5]", ["bands must be distinct"]),
        ("bands_min = [5, 10, 15]", "bands_min = [0, 5]", ["bands must be positive"]),
        ("bands_min = [5, 10, 15]", "bands_min = [5, -inf]", ["[analysis] bands_min"]),
        ("bands_min = [5, 10, 15]", "bands_min = []", ["[analysis] bands_min = []"]),
        ("bands_min = [5, 10, 15]", "bands_min = 15", ["[analysis] bands_min = 15"]),
        ("snap_limit_m = 300", "snap_limit_m = inf", ["[analysis] snap_limit_m = inf"]),
        ("snap_limit_m = 300", "snap_limit_m = 1e6", ["<= 5000"]),
        ("snap_limit_m = 300", "buffer_m = 0", ["[analysis] buffer_m = 0"]),
        ('source = "osm_xml"', 'source = "osm"', ['one of "osm_xml", "overpass"']),
        ('source = "osm_xml"', 'source = "overpass"', ['not used with source = "overpass"']),
        ('data_date = "2021-03-17"', "download_margin_m = -1", ["download_margin_m = -1"]),
        ('path = "facilities.csv"', 'path = "nope.csv"', ["[facilities] path", "no such file"]),
        ('path = "facilities.csv"', 'path = "."', ["is a folder"]),
        ('path = "facilities.csv"', 'path = "/dev/null"', ["[facilities] path", "not a regular"]),
        (f'path = "{OSM.as_posix()}"', 'path = "nope.osm"', ["[network] path", "nope.osm"]),
        ('crs = "WGS84"', 'crs = "mars"', ['[facilities] crs = "mars"', "unknown CRS"]),
        ('crs = "WGS84"', 'crs = "EPSG:99999"', ["not a known EPSG code"]),
        ('crs = "WGS84"', "crs = 4326", ["[facilities] crs = 4326", "a CRS name"]),
        ('crs = "WGS84"', "columns = { lng = 1 }", ["[facilities] columns"]),
        ('crs = "WGS84"', 'columns = { lng = "x" }', ["unknown role 'lng'", "did you mean lon"]),
        ('crs = "WGS84"', "sheet = true", ["[facilities] sheet = true"]),
        ('crs = "WGS84"', "sheet = -1", ["[facilities] sheet = -1", "from 0"]),
        ('crs = "WGS84"', "layer = 2", ["[facilities] layer = 2"]),
        ('name = "sample"', 'name = "../elsewhere"', ["[scenario] name", "file name"]),
        ('name = "sample"', "name = 7", ["[scenario] name = 7"]),
        ('name = "sample"', 'nam = "x"', ["did you mean name?"]),
        ("snap_limit_m = 300", "from_osm = true", ["[analysis] from_osm", "belongs in [pois]"]),
        ("from_osm = true", 'crs = "GCJ02"', ["[pois] crs", "only used with [pois] path"]),
        ("[pois]\n", "pois = 1\n[x]\n", ["pois = 1"]),
        ("[analysis]", "[[analysis]]", ["[analysis]"]),
        ("[scenario]\n", "speed_kmh = 5\n[scenario]\n", ["belongs under the [analysis] header"]),
        ("[facilities]", "[facility]", ["[facility]", "did you mean [facilities]?"]),
        ("snap_limit_m = 300", "snap_limit_m = 300\nsnap_limit_m = 200", ["cannot read"]),
    ],
)
def test_more_bad_values(tmp_path, old, new, needles):
    path = write_scenario(tmp_path / "sc", edited(old, new))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for needle in needles:
        assert needle in message, message


def test_missing_facilities_table(tmp_path):
    text = sample_text().replace('[facilities]\npath = "facilities.csv"\ncrs = "WGS84"\n', "")
    path = write_scenario(tmp_path / "sc", text)
    with pytest.raises(ScenarioError, match=r"missing \[facilities\] table"):
        load_scenario(path)


def test_several_problems_in_one_line(tmp_path):
    text = edited("snap_limit_m = 300", 'snap_limit_m = "300米"\nbuffer_m = -1\nfoo = 1')
    path = write_scenario(tmp_path / "sc", text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.count("; [analysis] ") == 2 and "snap_limit_m" in message


def test_control_characters_stay_on_one_line(tmp_path):
    path = write_scenario(tmp_path / "sc", edited('name = "sample"', 'name = "a\\nb\\u2028c"'))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert len(str(info.value).splitlines()) == 1


# what stays valid --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sample", "liusha"])
def test_bundled_scenarios_load_unchanged(name):
    sc = load_scenario(name)
    doc = tomllib.loads((DATA_DIR / name / "scenario.toml").read_text(encoding="utf-8"))
    for table, keys in doc.items():
        assert table in scenario_mod.TABLES
        assert set(keys) <= set(scenario_mod.TABLES[table].model_fields)
    assert sc.name == name and sc.study_bbox is not None
    assert sc.bands_min == (5.0, 10.0, 15.0) and sc.snap_limit_m == 300.0
    assert sc.file == DATA_DIR / name / "scenario.toml"


def test_sample_values_are_read_as_before():
    sc = load_scenario("sample")
    assert sc.study_bbox == (113.9232, 22.5408, 113.9676, 22.5590)
    assert sc.network_source == "osm_xml" and sc.network_path == OSM
    assert sc.network_date == "2021-03-17" and sc.attribution.startswith("©")
    assert sc.facilities is not None and sc.facilities.crs == "WGS84"
    assert sc.pois is None and sc.pois_from_osm is True
    assert sc.speed_kmh == 4.5 and sc.buffer_m == 25.0
    assert sc.title.startswith("深圳南山科技园")


def test_every_key_has_an_expectation():
    keys = {(t, k) for t, model in scenario_mod.TABLES.items() for k in model.model_fields}
    assert keys == set(scenario_mod.EXPECTED)


def test_every_scenario_field_comes_from_a_key():
    # Scenario fields not read from a key: derived (folder, file) or renamed in the mapping
    derived = {"folder", "file"}
    renamed = {
        "network_source": "source",
        "network_path": "path",
        "network_date": "data_date",
        "pois_from_osm": "from_osm",
    }
    keys = {k for model in scenario_mod.TABLES.values() for k in model.model_fields} | set(
        scenario_mod.TABLES
    )
    for name in scenario_mod.Scenario.__dataclass_fields__:
        assert name in derived or renamed.get(name, name) in keys, name


def test_all_keys_set_and_friendly_forms(tmp_path):
    folder = tmp_path / "sc"
    folder.mkdir()
    (folder / "shops.csv").write_text("编号,经度,纬度\nA,113.93,22.55\n", encoding="utf-8")
    text = edited(
        "[pois]\nfrom_osm = true",
        '[pois]\nfrom_osm = true\npath = "shops.csv"\ncrs = "gcj-02"\n'
        'columns = { id = "编号", lon = "经度", lat = "纬度" }\nsheet = 0\nlayer = "x"',
    )
    text = text.replace('data_date = "2021-03-17"', "data_date = 2021-03-17\ndownload_margin_m = 0")
    text = text.replace("snap_limit_m = 300", "snap_limit_m = 250.5\nbuffer_m = 30")
    text = text.replace("bands_min = [5, 10, 15]", "bands_min = [15, 5.5]")
    sc = load_scenario(write_scenario(folder, text))
    assert sc.pois is not None and sc.pois.path == folder / "shops.csv"
    assert sc.pois.crs == "gcj-02" and sc.pois.columns["lon"] == "经度"
    assert sc.pois.sheet == 0 and sc.pois.layer == "x"
    assert sc.network_date == "2021-03-17" and sc.download_margin_m == 0.0
    assert sc.snap_limit_m == 250.5 and sc.buffer_m == 30.0 and sc.bands_min == (5.5, 15.0)
    assert isinstance(sc.speed_kmh, float)


def test_no_pois_is_left_to_the_run(tmp_path):
    # valid for `planner fetch` and for reading facilities; `run` says "has no POIs"
    sc = load_scenario(
        write_scenario(tmp_path / "sc", edited("from_osm = true", "from_osm = false"))
    )
    assert sc.pois is None and sc.pois_from_osm is False


def test_minimal_scenario_gets_defaults(tmp_path):
    folder = tmp_path / "mini"
    text = f'[network]\npath = "{OSM.as_posix()}"\n[facilities]\npath = "facilities.csv"\n'
    sc = load_scenario(write_scenario(folder, text))
    assert sc.name == "mini" and sc.title == "mini" and sc.study_bbox is None
    assert sc.speed_kmh == 4.5 and sc.bands_min == (5.0, 10.0, 15.0) and sc.pois_from_osm


def test_overrides_and_parse_bands_keep_one_line_errors():
    sc = load_scenario("sample")
    assert sc.with_overrides(bands_min=(10, 5), speed_kmh=5).bands_min == (5.0, 10.0)
    for bad in ("5,x", "5,5", "", "-5", "nan"):
        with pytest.raises(ScenarioError) as info:
            parse_bands(bad)
        assert "\n" not in str(info.value) and "--minutes" in str(info.value)
    with pytest.raises(ScenarioError, match=r"outside 0\.5-10"):
        sc.with_overrides(speed_kmh=80)
    with pytest.raises(ScenarioError, match="--speed-kmh: 'abc' is not a number"):
        sc.with_overrides(speed_kmh="abc")  # type: ignore[arg-type]


def test_check_bbox_directly():
    assert scenario_mod.check_bbox([1, 2, 3, 4]) == (1.0, 2.0, 3.0, 4.0)
    with pytest.raises(ValueError, match="lat/lon order"):
        scenario_mod.check_bbox([22.5, 113.9, 22.6, 114.0])
    with pytest.raises(ValueError, match="south 5 must be less than north 4"):
        scenario_mod.check_bbox([1, 5, 3, 4])


def test_a_scenario_file_saved_with_a_bom_reads_as_without(tmp_path):
    """Windows Notepad may save UTF-8 with a byte order mark: the file reads the same."""
    plain = load_scenario(write_scenario(tmp_path / "plain", sample_text()))
    path = write_scenario(tmp_path / "bom", sample_text())
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    with_bom = load_scenario(path)
    assert with_bom.settings() == plain.settings()
    assert with_bom.title == plain.title and with_bom.study_bbox == plain.study_bbox

"""Small and warm: light imports, the POI cache, optional outputs and their carry-over."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely

from planner import _cache, _carry, maps, pipeline, pois
from planner._publish import SIGNATURE, check_replaceable
from planner.scenario import load_scenario
from tests.handmade import make_network, points
from tests.scenarios import OSM, sample_text, write_scenario

ROOT = Path(__file__).resolve().parent.parent
POST_OFFICE = "中国邮政深圳高新支局"  # a POI name of the sample's OSM file (node 7495766762)


# --------------------------------------------------------------------------- imports
def test_pipeline_and_cli_import_without_osmnx_folium_matplotlib():
    code = (
        "import sys, planner.cli, planner.pipeline, planner.inputs, planner._cache;"
        "print([m for m in ('osmnx', 'networkx', 'folium', 'matplotlib', 'sklearn')"
        " if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- map encoding
def test_encode_lines_equals_encode_line_one_by_one():
    rng = np.random.default_rng(3)
    geoms: list[object] = []
    for n in (2, 5, 3, 9, 2):
        xy = 113.9 + rng.random((n, 2)) * 1e-3
        xy[1] = xy[0] + 1e-9  # a vertex that rounds onto the previous one: dropped
        geoms.append(shapely.linestrings(xy))
    geoms[2:2] = [None, shapely.LineString()]
    geoms.append(shapely.linestrings([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]))  # all one vertex
    expected = [
        maps.encode_line(*shapely.get_coordinates(g).T)
        for g in geoms
        if g is not None and not g.is_empty
    ]
    assert maps.encode_lines(np.array(geoms, dtype=object)) == expected
    assert maps.encode_lines(np.array([], dtype=object)) == []
    assert len(maps.unpack_ints(expected[-1])) == 2  # a line of one repeated vertex: one pair


# --------------------------------------------------------------------------- POI cache
@pytest.fixture(scope="module")
def osm_nodes(tmp_path_factory):
    """A small OSM XML of the sample's own tagged nodes (real data, cut from the sample file)."""
    import xml.etree.ElementTree as ET

    root = ET.Element("osm", version="0.6", generator="cut from the sample (tests)")
    for _, el in ET.iterparse(OSM):
        if el.tag == "node" and any(t.get("k") in ("amenity", "shop") for t in el):
            root.append(el)
    path = tmp_path_factory.mktemp("osm") / "nodes.osm"
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


@pytest.fixture
def osm_copy(tmp_path, osm_nodes):
    path = tmp_path / "area.osm"
    shutil.copy(osm_nodes, path)
    return path


def _counting_parser(monkeypatch):
    calls = []
    real = pois.records_from_osm_xml

    def counting(path):
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(pois, "records_from_osm_xml", counting)
    return calls


def test_poi_cache_equals_a_fresh_parse_and_is_reused(osm_copy, tmp_path, monkeypatch):
    bbox = load_scenario("sample").study_bbox
    direct = pois.pois_from_osm_xml(osm_copy, bbox)
    calls = _counting_parser(monkeypatch)
    first = _cache.load_pois_cached(osm_copy, bbox, cache_dir=tmp_path / "c")
    second = _cache.load_pois_cached(osm_copy, bbox, cache_dir=tmp_path / "c")
    assert len(calls) == 1  # parsed once, then read from the cache
    for table in (first, second):
        pd.testing.assert_frame_equal(table, direct)
        assert table.attrs == direct.attrs
    # another study area from the same cache: the box is applied after the cache
    w, s, e, n = bbox
    half = _cache.load_pois_cached(osm_copy, (w, s, (w + e) / 2, n), cache_dir=tmp_path / "c")
    assert len(calls) == 1 and 0 < len(half) < len(direct)
    pd.testing.assert_frame_equal(
        half, pois.pois_from_osm_xml(osm_copy, (w, s, (w + e) / 2, n)), check_like=False
    )


def test_editing_the_osm_file_reparses_its_pois(osm_copy, tmp_path, monkeypatch):
    bbox = load_scenario("sample").study_bbox
    calls = _counting_parser(monkeypatch)
    before = _cache.load_pois_cached(osm_copy, bbox, cache_dir=tmp_path / "c")
    assert POST_OFFICE in set(before["name"])
    text = osm_copy.read_text(encoding="utf-8")
    osm_copy.write_text(text.replace(f'v="{POST_OFFICE}"', 'v="改名邮局"'), encoding="utf-8")
    after = _cache.load_pois_cached(osm_copy, bbox, cache_dir=tmp_path / "c")
    assert len(calls) == 2  # the file's bytes changed: parsed again
    assert POST_OFFICE not in set(after["name"]) and "改名邮局" in set(after["name"])
    assert len(after) == len(before)


def test_poi_cache_rebuilt_for_another_planner_version_or_damage(osm_copy, tmp_path, monkeypatch):
    bbox = load_scenario("sample").study_bbox
    calls = _counting_parser(monkeypatch)
    cache = tmp_path / "c"
    good = _cache.load_pois_cached(osm_copy, bbox, cache_dir=cache)
    monkeypatch.setattr(_cache, "planner_version", lambda: "0.0.0-other")
    pd.testing.assert_frame_equal(_cache.load_pois_cached(osm_copy, bbox, cache_dir=cache), good)
    assert len(calls) == 2
    target = _cache.poi_cache_path(osm_copy, cache)
    target.write_bytes(target.read_bytes()[:-100])  # truncated
    pd.testing.assert_frame_equal(_cache.load_pois_cached(osm_copy, bbox, cache_dir=cache), good)
    assert len(calls) == 3


def test_poi_cache_lives_in_the_user_cache(osm_copy, monkeypatch, tmp_path):
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "user"))
    target = _cache.poi_cache_path(osm_copy)
    assert target.parent == tmp_path / "user" / "pois"
    assert target.name.startswith("area.osm-") and target.name.endswith(".planner-pois.npz")


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, ()),
        ("", ()),
        ("none", ()),
        ("all", _carry.FORMATS),
        ("pdf, PNG", ("png", "pdf")),
        ("gpkg,xlsx,gpkg", ("xlsx", "gpkg")),
    ],
)
def test_parse_formats(text, expected):
    assert _carry.parse_formats(text) == expected


def test_parse_formats_names_the_unknown_one():
    with pytest.raises(ValueError, match=r"unknown format 'svg'.*png, pdf, xlsx, gpkg"):
        _carry.parse_formats("png,svg")


def test_cli_refuses_an_unknown_format_before_any_work(cli, tmp_path):
    r = cli("run", "sample", "--formats", "png,jpeg", "--out", "o")
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines()[-1].startswith("error: --formats: unknown format 'jpeg'")
    assert not (tmp_path / "o").exists() and not (tmp_path / "maps").exists()


def test_run_refuses_an_unknown_format():
    with pytest.raises(Exception, match="unknown output format 'svg'"):
        pipeline.run(load_scenario("sample"), formats=("svg",))


# --------------------------------------------------------------------------- fingerprint
def test_fingerprint_follows_input_bytes_and_settings(tmp_path):
    path = write_scenario(tmp_path / "s", sample_text())
    sc = load_scenario(path)
    same = _carry.fingerprint(load_scenario(path))
    assert _carry.fingerprint(sc) == same
    assert _carry.fingerprint(sc.with_overrides(speed_kmh=4.0)) != same
    assert _carry.fingerprint(sc.with_overrides(bands_min=(5.0, 10.0))) != same
    facilities = tmp_path / "s" / "facilities.csv"
    facilities.write_text(facilities.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert _carry.fingerprint(load_scenario(path)) != same  # one more byte in an input
    assert _carry.fingerprint(sc, {"review": "x"}) != _carry.fingerprint(sc)
    # the workbook's and GeoPackage's reasons are in the language of messages
    from planner import _i18n

    before = _i18n.chosen_language()
    try:
        _i18n.set_language("en")
        english = _carry.fingerprint(sc)
        _i18n.set_language("zh")
        assert _carry.fingerprint(sc) != english
    finally:
        _i18n.set_language(before)


# --------------------------------------------------------------------------- carry-over
@pytest.fixture(scope="module")
def small_result():
    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0)}, [(0, 1), (1, 2)])
    fac = points([("F1", 50, 10)])
    poi = points([(f"P{i}", 30 * i, 5) for i in range(5)])
    a = pipeline.analyse(net, fac, poi, bands_min=(1, 2), speed_kmh=4.5)
    return replace(a, provenance=replace(a.provenance, name="small", title="small"))


def test_workbook_carried_over_only_with_the_same_fingerprint(small_result, tmp_path):
    out = tmp_path / "out"
    files = pipeline.write_outputs(small_result, out, formats=("xlsx",), fingerprint="A")
    book = files["workbook"]
    data, inode = book.read_bytes(), book.stat().st_ino
    assert "geopackage" not in files and not (out / "small.gpkg").exists()
    again = pipeline.write_outputs(small_result, out, formats=(), fingerprint="A")
    assert again["workbook"] == book and book.read_bytes() == data
    assert book.stat().st_ino == inode  # the same file, linked into the new set
    other = pipeline.write_outputs(small_result, out, formats=(), fingerprint="B")
    assert "workbook" not in other and not book.exists()  # other inputs: not carried
    assert _carry.published_run(out)[1][_carry.FINGERPRINT] == "B"


def test_a_user_edited_workbook_is_never_carried_or_overwritten(small_result, tmp_path):
    out = tmp_path / "out"
    files = pipeline.write_outputs(small_result, out, formats=("xlsx",), fingerprint="A")
    run = out.resolve()
    (run / files["workbook"].name).write_bytes(b"my notes")  # edited by the user
    again = pipeline.write_outputs(small_result, out, formats=(), fingerprint="A")
    assert "workbook" not in again
    assert (run / "small.xlsx").read_bytes() == b"my notes"  # kept where it was, untouched


def _fake_png(path: Path, text: bytes = b"") -> Path:
    # signed as the planner signs its PNGs: a tEXt chunk "Software" (`planner.plot`)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"tEXtSoftware\0" + SIGNATURE.encode() + text)
    return path


def test_optional_maps_kept_when_current_removed_when_stale_foreign_left(tmp_path):
    html = tmp_path / "s.html"
    png, pdf = tmp_path / "s.png", tmp_path / "s.pdf"
    drawn: list[Path] = []

    def draw(path: Path) -> Path:
        drawn.append(path)
        return _fake_png(path, b"drawn")

    said: list[str] = []
    noted: dict = {}
    assert _carry.draw_or_carry(png, True, draw, {}, "A", said.append, noted) == png
    assert drawn[0] != png and not drawn[0].exists()  # drawn aside, then put in place
    _carry.write_manifest(html, "A", noted)
    manifest = _carry.read_manifest(html)
    assert _carry.map_state(png, manifest, "A") == "current"
    assert _carry.draw_or_carry(png, False, draw, manifest, "A", said.append) == png
    assert len(drawn) == 1 and png.is_file()  # kept, not drawn again
    assert _carry.map_state(pdf, manifest, "A") == "absent"
    # a stale planner map (other fingerprint, unchanged since drawn) is removed
    assert _carry.draw_or_carry(png, False, draw, manifest, "B", said.append) is None
    assert not png.exists() and "removed" in said[-1]
    # a map the user changed after the planner drew it is left alone, whatever the fingerprint
    noted = {}
    _carry.draw_or_carry(png, True, draw, {}, "A", said.append, noted)
    _carry.write_manifest(html, "A", noted)
    _fake_png(png, b"edited by the user, longer")
    for fp in ("A", "B"):
        assert (
            _carry.draw_or_carry(png, False, draw, _carry.read_manifest(html), fp, said.append)
            is None
        )
        assert png.read_bytes().endswith(b"edited by the user, longer")
    # a file that is not the planner's at all
    pdf.write_bytes(b"%PDF-1.4 my own")
    assert _carry.map_state(pdf, _carry.read_manifest(html), "A") == "foreign"
    assert _carry.draw_or_carry(pdf, False, draw, {}, "B", said.append) is None
    assert pdf.read_bytes() == b"%PDF-1.4 my own"


def test_what_a_killed_drawing_left_is_deleted_by_the_next(tmp_path):
    """``.<name>.<pid>.drawing.tmp`` of a process that is gone: deleted; a running one's kept."""
    png = tmp_path / "s.png"
    import subprocess

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = tmp_path / f".s.png.{gone.stdout.strip()}.drawing.tmp"
    dead.write_bytes(b"half a png")
    # what the drawing itself was writing (planner.io.write_atomic's temporary sibling)
    inner = tmp_path / f"..s.png.{gone.stdout.strip()}.drawing.tmp.k2j3h4.tmp"
    inner.write_bytes(b"half a png")
    odd = tmp_path / f".s.png.{'9' * 30}.drawing.tmp"  # no pid: left alone, no crash
    odd.write_bytes(b"?")
    # an earlier process with this one's id (pid 1 in a container): it is not drawing
    own = tmp_path / f"..s.png.{os.getpid()}.drawing.tmp.q8w7e6.tmp"
    own.write_bytes(b"half a png")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        busy = tmp_path / f".s.png.{alive.pid}.drawing.tmp"
        busy.write_bytes(b"being drawn")
        mine = tmp_path / "my.drawing.tmp"
        mine.write_bytes(b"the user's")
        _carry.draw_or_carry(png, True, lambda p: _fake_png(p, b"drawn"), {}, "A", print, {})
        assert png.is_file() and not dead.exists() and not inner.exists() and not own.exists()
        assert busy.exists() and mine.exists() and odd.exists()
        # a map name with brackets (no glob pattern in the way)
        bracket = tmp_path / "[a].png"
        left = tmp_path / f".[a].png.{gone.stdout.strip()}.drawing.tmp"
        left.write_bytes(b"half")
        _carry.draw_or_carry(bracket, True, lambda p: _fake_png(p, b"drawn"), {}, "A", print, {})
        assert bracket.is_file() and not left.exists()
    finally:
        alive.kill()
        alive.wait()


def test_a_map_edited_with_its_size_and_time_kept_is_not_current(tmp_path):
    """The manifest holds the drawn bytes' sha256: an equal size and time are not enough."""
    html, png = tmp_path / "s.html", tmp_path / "s.png"
    noted: dict = {}
    _carry.draw_or_carry(png, True, lambda p: _fake_png(p, b"drawn"), {}, "A", print, noted)
    _carry.write_manifest(html, "A", noted)
    st = png.stat()
    _fake_png(png, b"other")  # as long as b"drawn"
    os.utime(png, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert png.stat().st_size == st.st_size
    assert _carry.map_state(png, _carry.read_manifest(html), "A") == "foreign"


def test_a_map_another_run_puts_in_place_is_not_taken_for_this_runs(tmp_path, monkeypatch):
    """Two runs sharing a map folder: the PNG another run writes while this one draws its
    PDF is not recorded as this run's, so a later run does not keep it as current."""
    from planner import report

    path = write_scenario(tmp_path / "s", sample_text())
    name = load_scenario(path).name
    maps_dir = tmp_path / "maps"
    real_pdf = report.save_pdf
    hit: list[Path] = []

    def pdf_while_another_run_writes_the_png(result, dest):
        hit.append(_fake_png(maps_dir / f"{name}.png", b"another run's map"))
        return real_pdf(result, dest)

    monkeypatch.setattr(report, "save_pdf", pdf_while_another_run_writes_the_png)
    first = pipeline.run(path, out_dir=tmp_path / "out", maps_dir=maps_dir, formats=("png", "pdf"))
    assert hit and first.files["png"] == maps_dir / f"{name}.png"
    monkeypatch.setattr(report, "save_pdf", real_pdf)
    said: list[str] = []
    again = pipeline.run(path, out_dir=tmp_path / "out", maps_dir=maps_dir, progress=said.append)
    assert "png" not in again.files and "pdf" in again.files  # the PDF is this run's
    assert (maps_dir / f"{name}.png").read_bytes().endswith(b"another run's map")
    assert any("left" in line and f"{name}.png" in line for line in said)


def test_maps_in_the_output_folder_are_kept_with_its_set(tmp_path):
    """--maps-dir = --out: an unchanged rerun keeps the PNG (it moves into the new set with
    the note of what drew it), and no earlier run folder stays behind."""
    path = write_scenario(tmp_path / "s", sample_text())
    name = load_scenario(path).name
    out = tmp_path / "out"
    first = pipeline.run(path, out_dir=out, maps_dir=out, formats=("png",))
    drawn = first.files["png"].read_bytes()
    said: list[str] = []
    again = pipeline.run(path, out_dir=out, maps_dir=out, progress=said.append)
    assert again.files["png"] == out / f"{name}.png"
    assert (out / f"{name}.png").read_bytes() == drawn
    assert any(line.startswith("kept") and f"{name}.png" in line for line in said)
    runs = [p for p in (tmp_path / ".out.runs").iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1  # the earlier set went: nothing in it was the user's
    # the same folder named through a link: the same set
    link = tmp_path / "link"
    link.symlink_to(out, target_is_directory=True)
    linked = pipeline.run(path, out_dir=out, maps_dir=link)
    assert "png" in linked.files and (out / f"{name}.png").read_bytes() == drawn
    # other settings: the PNG is not carried into the new set
    other = pipeline.run(path, out_dir=out, maps_dir=out, progress=said.append)
    assert "png" in other.files
    changed = load_scenario(path).with_overrides(speed_kmh=3.0)
    third = pipeline.run(changed, out_dir=out, maps_dir=out)
    assert "png" not in third.files and not (out / f"{name}.png").exists()


# --------------------------------------------------------------------------- end to end
def _tables(out: Path) -> dict[str, bytes]:
    names = ["coverage.csv", "pois.csv", "facilities.csv", "isochrones.geojson", "gaps.geojson"]
    names += ["policy.csv", "summary.json"]
    return {n: (out / n).read_bytes() for n in names}


@pytest.mark.slow
def test_run_formats_carry_over_and_regeneration(tmp_path):
    scenario = write_scenario(tmp_path / "s", sample_text())
    out, maps_dir = tmp_path / "out", tmp_path / "maps"
    said: list[str] = []
    plain = pipeline.run(load_scenario(scenario), out_dir=out, maps_dir=maps_dir)
    assert set(plain.files) >= {"coverage", "summary", "map"}
    assert not {"png", "pdf", "workbook", "geopackage"} & set(plain.files)
    tables = _tables(out)
    full = pipeline.run(
        load_scenario(scenario), out_dir=out, maps_dir=maps_dir, formats=_carry.FORMATS
    )
    assert _tables(out) == tables  # the options never change a table
    optional = {k: full.files[k] for k in ("png", "pdf", "workbook", "geopackage")}
    stamps = {k: (p.read_bytes(), p.stat().st_mtime_ns) for k, p in optional.items()}
    # unchanged inputs, no formats asked: every optional file carried over as it was
    kept = pipeline.run(
        load_scenario(scenario), out_dir=out, maps_dir=maps_dir, progress=said.append
    )
    for key, path in optional.items():
        assert kept.files[key] == path
        assert (path.read_bytes(), path.stat().st_mtime_ns) == stamps[key]
    assert any("kept" in s and "sample.png" in s for s in said)
    # a changed input: the optional maps are removed, the workbook and GeoPackage not carried
    facilities = tmp_path / "s" / "facilities.csv"
    rows = facilities.read_text(encoding="utf-8").splitlines()
    facilities.write_text("\n".join(rows[:-1]) + "\n", encoding="utf-8")  # one entrance fewer
    changed = pipeline.run(load_scenario(scenario), out_dir=out, maps_dir=maps_dir)
    assert not {"png", "pdf", "workbook", "geopackage"} & set(changed.files)
    assert not optional["png"].exists() and not optional["pdf"].exists()
    assert not (out / optional["workbook"].name).exists()
    # a PNG the user put there is never touched, and not counted as the run's
    mine = maps_dir / "sample.png"
    mine.write_bytes(b"\x89PNG\r\n\x1a\nmy own picture")
    again = pipeline.run(load_scenario(scenario), out_dir=out, maps_dir=maps_dir)
    assert "png" not in again.files and mine.read_bytes() == b"\x89PNG\r\n\x1a\nmy own picture"
    with pytest.raises(Exception, match="not written by the planner"):
        check_replaceable(mine)  # and asking for a PNG would refuse it, before any work
    manifest = json.loads(_carry.manifest_path(maps_dir / "sample.html").read_text("utf-8"))
    assert manifest["planner"] == "liusha-planner" and "sample.png" not in manifest["files"]


@pytest.mark.slow
def test_warm_benchmark_smoke(tmp_path):
    """benchmarks/warm.py end to end with one run per method on the sample."""
    out = tmp_path / "warm.json"
    done = subprocess.run(
        [
            *(sys.executable, str(ROOT / "benchmarks" / "warm.py"), "--repeat", "1"),
            *("--scenarios", "sample", "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ},
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    methods = report["results"]["sample"]
    assert set(methods) == {
        "planner warm",
        "planner warm, all formats",
        "planner warm, polygons drawn",
        "planner cold",
        "planner cold, empty cache",
        "imports only",
        "osmnx method",
    }
    for rec in methods.values():
        assert rec["wall"] > 0 and rec["stages"]
    assert {"network", "inputs", "map", "startup"} <= set(methods["planner warm"]["stages"])
    assert {"load", "reach", "polygons", "write"} <= set(methods["osmnx method"]["stages"])
    assert "| sample | OSMnx method ÷ planner warm" in done.stdout
    assert "| sample | warm process, every polygon drawn (none cached)" in done.stdout
    assert "| sample | OSMnx method ÷ that floor: the highest ratio these imports allow" in (
        done.stdout
    )


@pytest.mark.slow
def test_the_planner_command_ends_quickly_with_everything_written(tmp_path):
    """`main` ends a finished run with os._exit: output flushed, files complete, exit code 0."""
    done = subprocess.run(
        [sys.executable, "-m", "planner", "run", "sample", "--out", "o", "--maps-dir", "m"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(f"map: {Path('m') / 'sample.html'}")
    assert json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))["overall"]
    assert (tmp_path / "m" / "sample.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    failed = subprocess.run(
        [sys.executable, "-m", "planner", "run", "nowhere"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=600,
    )
    assert failed.returncode == 1 and failed.stderr.startswith("error: ")


_GC_PROBE = """
import gc, json, sys
import planner.pipeline, planner.scenario
seen = {}
load, run = planner.scenario.load_scenario, planner.pipeline.run

def probe(name, real):
    def wrapped(*args, **kwargs):
        seen.setdefault(name, (gc.isenabled(), gc.get_freeze_count()))
        return real(*args, **kwargs)
    return wrapped

planner.scenario.load_scenario = probe("load", load)
planner.pipeline.run = probe("run", run)
frozen_before = gc.get_freeze_count()
sys.argv = ["planner", "run", "sample", "--out", "o", "--maps-dir", "m"]
import atexit, os
real_exit = os._exit

def report(code):
    seen["exit"] = (gc.isenabled(), gc.get_freeze_count())
    with open("gc.json", "w") as f:
        json.dump({"frozen_before": frozen_before, **seen}, f)
    real_exit(code)

os._exit = report
from planner.cli import main
main()
"""


def _probe_run(
    code: str, cwd: Path, report: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run a probe script (a ``planner run`` watched from inside); return what it reported."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return json.loads((cwd / report).read_text(encoding="utf-8"))


@pytest.mark.slow
def test_the_planner_command_imports_without_the_collector_then_computes_with_it(tmp_path):
    """`main` pauses the garbage collector while the run imports its libraries (loading the
    scenario imports pandas and pydantic), then freezes what they made and resumes it before
    the computation: seen from inside the run's own calls."""
    seen = _probe_run(_GC_PROBE, tmp_path, "gc.json")
    assert seen["load"] == [False, seen["frozen_before"]]  # paused, nothing frozen yet
    enabled, frozen = seen["run"]
    assert enabled and frozen > seen["frozen_before"] + 10_000  # the imports' objects
    assert seen["exit"][0]
    assert (tmp_path / "m" / "sample.html").is_file()


_BLAS_PROBE = """
import os, sys
from planner import cli
assert "numpy" not in sys.modules  # so that `main` can still choose numpy's BLAS threads
cli.set_process_env()
import numpy, scipy.linalg, scipy.sparse.csgraph
print(os.environ["OPENBLAS_NUM_THREADS"], len(os.listdir("/proc/self/task")))
"""


_EXIT_PROBE = """
import json, os, sys
sys.argv = ["planner", "run", "sample", "--out", "o", "--maps-dir", "m"]
real_exit = os._exit

def report(code):
    with open("exit.json", "w") as f:
        json.dump({"blas": os.environ.get("OPENBLAS_NUM_THREADS"),
                   "threads": len(os.listdir("/proc/self/task"))}, f)
    real_exit(code)

os._exit = report
from planner.cli import main
main()
"""


@pytest.mark.slow
def test_the_planner_command_runs_with_single_threaded_blas(tmp_path):
    """`main` sets `PROCESS_ENV` before the run imports numpy: a whole ``planner run`` ends
    with no thread but its own (numpy's and scipy's OpenBLAS started none)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    seen = _probe_run(_EXIT_PROBE, tmp_path, "exit.json", env)
    assert seen == {"blas": "1", "threads": 1}
    assert (tmp_path / "m" / "sample.html").is_file()


def test_process_env_makes_blas_single_threaded_unless_the_user_chose():
    """numpy's and scipy's OpenBLAS start no thread pool (their threads spin and take CPU from
    the run's processes); a value the user set is kept."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}

    def probe(**extra: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", _BLAS_PROBE],
            capture_output=True,
            text=True,
            check=True,
            env={**env, **extra},
        )
        return done.stdout.split()

    assert probe() == ["1", "1"]  # the interpreter's thread alone
    chosen, threads = probe(OPENBLAS_NUM_THREADS="2")
    assert chosen == "2"
    if (os.cpu_count() or 1) > 1:  # OpenBLAS starts as many as asked, up to the CPUs
        assert int(threads) > 1


def test_imports_done_leaves_the_collector_alone_unless_main_paused_it(monkeypatch):
    """A caller of the command line's functions (a test, a notebook) keeps its collector as
    it set it: nothing is frozen and a collector the caller turned off stays off; the first
    progress line of a command `main` started resumes it."""
    import gc

    from planner import cli

    frozen = gc.get_freeze_count()
    was = gc.isenabled()
    try:
        gc.disable()
        cli._imports_done()
        cli._say("x")
        assert not gc.isenabled() and gc.get_freeze_count() == frozen
        gc.enable()
        cli._imports_done()
        assert gc.isenabled() and gc.get_freeze_count() == frozen
        gc.disable()
        monkeypatch.setattr(cli, "_GC_PAUSED", [True])
        monkeypatch.setattr(gc, "freeze", lambda: None)  # this process keeps its collector
        cli._say("computing")
        assert gc.isenabled() and cli._GC_PAUSED == []
    finally:
        (gc.enable if was else gc.disable)()


def test_nanjing_benchmark_facilities_are_real_nodes_of_its_osm_file():
    """Every facility of the benchmark scenario is an OSM node of the file, copied as it is."""
    import csv
    import re
    import xml.etree.ElementTree as ET

    folder = ROOT / "benchmarks" / "scenarios" / "nanjing_xinjiekou"
    with open(folder / "facilities.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 and len({r["facility_id"] for r in rows}) == 20
    wanted = {int(re.search(r"OpenStreetMap node (\d+) ", r["source"]).group(1)): r for r in rows}
    found = {}
    for _, el in ET.iterparse(folder / "nanjing_xinjiekou_2021-06.osm"):
        if el.tag == "node" and int(el.get("id")) in wanted:
            found[int(el.get("id"))] = (
                el.get("lon"),
                el.get("lat"),
                {t.get("k"): t.get("v") for t in el},
            )
    assert set(found) == set(wanted)
    for node, row in wanted.items():
        lon, lat, tags = found[node]
        assert (row["lon"], row["lat"]) == (lon, lat)
        assert row["kind"] in (tags.get("amenity"), tags.get("shop"))
        names = {tags.get(k) for k in ("name", "name:zh", "name:en")}
        assert row["name"] in names or (
            row["name"] == f"(unnamed {row['kind']})" and names == {None}
        )
        assert "© OpenStreetMap contributors, ODbL" in row["source"]
    scenario = load_scenario(folder)
    assert scenario.attribution.startswith("© OpenStreetMap contributors")


def test_osmnx_method_script_uses_the_planners_poi_tags():
    """benchmarks/osmnx_method.py copies POI_TAGS to stay standalone: the copy must not drift."""
    import ast

    from planner.pois import POI_TAGS

    tree = ast.parse((ROOT / "benchmarks" / "osmnx_method.py").read_text(encoding="utf-8"))
    copies = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "POI_TAGS" for t in node.targets)
    ]
    assert copies == [POI_TAGS]


def test_main_starts_the_process_with_start_process(monkeypatch):
    from planner import cli

    calls: list[str] = []
    monkeypatch.setattr(cli, "start_process", lambda: calls.append("start"))
    # (a run earlier in this process may have asked for the quick exit: not for --help here)
    monkeypatch.setattr(cli, "_QUICK_EXIT", [])
    monkeypatch.setattr(sys, "argv", ["planner", "--help"])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code in (0, None) and calls == ["start"]

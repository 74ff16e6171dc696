"""Property-based (hypothesis) tests: any scenario file loads or gives one clean error line."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import tomllib
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner import crs as crs_mod
from planner._errors import ScenarioError
from planner.cli import app
from planner.scenario import DATA_DIR, Scenario, load_scenario

SAMPLE = DATA_DIR / "sample"
OSM = SAMPLE / "shenzhen_nanshan_science_park_2021-03.osm"

# The schema written out by hand (not imported from planner.scenario): the fuzz draws keys
# from it, and its oracle below must not share the code under test.
KNOWN: dict[str, set[str]] = {
    "scenario": {"name", "title", "place", "study_bbox", "notes"},
    "network": {"source", "path", "data_date", "attribution", "download_margin_m"},
    "facilities": {"path", "crs", "columns", "sheet", "layer"},
    "pois": {"from_osm", "path", "crs", "columns", "sheet", "layer"},
    "origins": {"path", "crs", "columns", "sheet", "layer"},
    "policy": {"types"},
    "proposals": {"files"},
    "analysis": {"speed_kmh", "bands_min", "snap_limit_m", "buffer_m", "isochrone_method"},
    "report": {"review_number", "issuing_unit"},
}
NUMBERS = {
    ("network", "download_margin_m"),
    ("analysis", "speed_kmh"),
    ("analysis", "snap_limit_m"),
    ("analysis", "buffer_m"),
}
PATHS = [("network", "path"), ("facilities", "path"), ("pois", "path")]
KEYS = sorted((t, k) for t, keys in KNOWN.items() for k in keys)

FUZZ = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def base_doc() -> dict[str, Any]:
    """The sample scenario as a dict, its network file referenced by absolute path."""
    doc = tomllib.loads((SAMPLE / "scenario.toml").read_text(encoding="utf-8"))
    doc["network"]["path"] = OSM.as_posix()
    doc["origins"]["path"] = (SAMPLE / "origins.csv").as_posix()
    return doc


BASE = base_doc()


# --------------------------------------------------------------------------- TOML writer
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_key(key: str) -> str:
    return key if _BARE.match(key) else toml_value(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # JSON escapes every control character below U+0020; TOML also wants U+007F escaped
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(value)


def dump(doc: dict[str, Any]) -> str:
    """Write a document: top-level keys first, then one ``[table]`` per dict."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for name, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{toml_key(name)}]")
            lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- strategies
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
special_floats = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, -5.0, 1e308, 5e-324])
scalars = st.one_of(
    text,
    st.sampled_from(["300米", "false", "true", "4.5", "", " ", "WGS84", "nan", "grid", "exact"]),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    special_floats,
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.times(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
numbers = st.one_of(
    st.integers(-10, 10_000), st.floats(-100, 20_000), special_floats, st.sampled_from(["300米"])
)
lon, lat = st.floats(-180, 180), st.floats(-90, 90)


@st.composite
def boxes(draw: st.DrawFn) -> Any:
    w, e = sorted(draw(st.tuples(lon, lon)))
    s, n = sorted(draw(st.tuples(lat, lat)))
    kind = draw(st.sampled_from(["valid", "lat_lon", "reversed", "any4", "length", "sample"]))
    if kind == "lat_lon":
        return [s, w, n, e]
    if kind == "reversed":
        return [e, n, w, s]
    if kind == "any4":
        return draw(
            st.lists(st.one_of(st.floats(), special_floats, st.integers()), min_size=4, max_size=4)
        )
    if kind == "length":
        return draw(st.lists(st.floats(-200, 200), max_size=6))
    if kind == "sample":
        return [22.5408, 113.9232, 22.5590, 113.9676]  # the real lat/lon mistake
    return [w, s, e, n]


def typo(key: str) -> st.SearchStrategy[str]:
    """A near miss of a known key: one character dropped, doubled or changed."""

    def mutate(args: tuple[int, str, int]) -> str:
        i, char, how = args
        i %= len(key)
        return [key[:i] + key[i + 1 :], key[:i] + key[i] + key[i:], key[:i] + char + key[i + 1 :]][
            how
        ]

    return st.tuples(
        st.integers(0, 99), st.sampled_from("abcdefghijklmnopqrstuvwxyz_"), st.integers(0, 2)
    ).map(mutate)


path_values = st.one_of(
    st.sampled_from(
        ["facilities.csv", "nowhere.csv", "", ".", "adir", "/nonexistent/file.osm", OSM.as_posix()]
    ),
    text,
    st.integers(),
    st.lists(st.just("facilities.csv"), max_size=2),
)
crs_values = st.one_of(
    st.sampled_from(["WGS84", "gcj-02", "BD09", "EPSG:32650", "EPSG:99999", "mars", "", "4326"]),
    text,
    st.integers(),
)


@st.composite
def scenario_docs(draw: st.DrawFn) -> dict[str, Any]:
    """The sample scenario with one to three things changed, mostly for the worse."""
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(
                [
                    "set",
                    "number",
                    "bbox",
                    "path",
                    "crs",
                    "columns",
                    "bool",
                    "delete_key",
                    "delete_table",
                    "typo_key",
                    "unknown_key",
                    "unknown_table",
                    "not_a_table",
                ]
            )
        )
        event(op)
        table, key = draw(st.sampled_from(KEYS))
        if op == "number":
            table, key = draw(st.sampled_from(sorted(NUMBERS)))
            value: Any = draw(numbers)
        elif op == "bbox":
            table, key, value = "scenario", "study_bbox", draw(boxes())
        elif op == "path":
            (table, key), value = draw(st.sampled_from(PATHS)), draw(path_values)
        elif op == "crs":
            table, key = draw(st.sampled_from(["facilities", "pois"])), "crs"
            value = draw(crs_values)
        elif op == "columns":
            table, key = draw(st.sampled_from(["facilities", "pois"])), "columns"
            value = draw(st.dictionaries(st.sampled_from(["lon", "lat", "lng", "id", "x"]), values))
        elif op == "bool":
            table, key = "pois", "from_osm"
            value = draw(st.one_of(st.booleans(), st.sampled_from(["false", "true", 0, 1])))
        elif op == "set":
            value = draw(values)
        elif op == "delete_key":
            if isinstance(doc.get(table), dict):
                doc[table].pop(key, None)
            continue
        elif op == "delete_table":
            doc.pop(table, None)
            continue
        elif op == "typo_key":
            key, value = draw(typo(key)), draw(values)
        elif op == "unknown_key":
            key, value = draw(text), draw(values)
        elif op == "unknown_table":
            doc[draw(st.one_of(typo(table), text))] = draw(
                st.dictionaries(text, values, max_size=2)
            )
            continue
        else:  # not_a_table
            doc[table] = draw(scalars)
            continue
        if not isinstance(doc.get(table), dict):
            doc[table] = {}
        doc[table][key] = value
    return doc


# --------------------------------------------------------------------------- oracle
def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def good_box(box: Any) -> bool:
    if not (isinstance(box, list) and len(box) == 4 and all(is_number(v) for v in box)):
        return False
    w, s, e, n = box
    return -180 <= w < e <= 180 and -90 <= s < n <= 90


def must_fail(doc: dict[str, Any]) -> str | None:
    """A reason the document is certainly invalid, found without the code under test."""
    if not isinstance(doc.get("facilities"), dict):
        return "no [facilities] table"
    for name, table in doc.items():
        if name not in KNOWN:
            return f"unknown table or top-level key {name!r}"
        if not isinstance(table, dict):
            return f"[{name}] is not a table"
        for key, value in table.items():
            if key not in KNOWN[name]:
                return f"unknown key [{name}] {key!r}"
            if (name, key) in NUMBERS and not is_number(value):
                return f"[{name}] {key} is not a finite number"
            if key in ("path", "types") and not isinstance(value, str):
                return f"[{name}] {key} is not a string"
            if key == "from_osm" and not isinstance(value, bool):
                return "[pois] from_osm is not a boolean"
            if (name, key) == ("analysis", "isochrone_method") and value not in ("grid", "exact"):
                return "[analysis] isochrone_method is not grid or exact"
            if name == "report" and not isinstance(value, str):
                return f"[report] {key} is not a string"
    box = doc.get("scenario", {}).get("study_bbox")
    if box is not None and not good_box(box):
        return "bad study_bbox"
    return None


def assert_sane(sc: Scenario) -> None:
    """A scenario that loaded keeps every promise of the schema."""
    if sc.study_bbox is not None:
        assert good_box(list(sc.study_bbox))
    assert 0.5 <= sc.speed_kmh <= 10 and isinstance(sc.speed_kmh, float)
    assert 0 < sc.snap_limit_m <= 5000 and 0 < sc.buffer_m <= 500
    assert 0 <= sc.download_margin_m <= 10_000
    assert sc.bands_min and list(sc.bands_min) == sorted(set(sc.bands_min))
    assert all(is_number(b) and b > 0 for b in sc.bands_min)
    assert sc.network_source in {"osm_xml", "overpass", "graphml", "pbf"}
    assert sc.isochrone_method in {"grid", "exact"}
    assert isinstance(sc.review_number, str) and isinstance(sc.issuing_unit, str)
    assert "\n" not in sc.review_number + sc.issuing_unit
    if sc.network_source != "overpass":
        assert sc.network_path is not None and sc.network_path.is_file()
    assert sc.facilities is not None and sc.facilities.path.is_file()
    if sc.policy is not None:
        assert sc.policy.is_file()
    for source in (sc.facilities, sc.pois, sc.origins):
        if source is not None:
            assert source.path.is_file()
            crs_mod.normalize_crs(source.crs)
            assert all(isinstance(v, str) for v in source.columns.values())
    assert isinstance(sc.pois_from_osm, bool) and sc.name and "/" not in sc.name
    assert all(isinstance(v, str) for v in (sc.title, sc.place, sc.network_date, sc.notes))


# --------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scenario_fuzz")
    shutil.copy(SAMPLE / "facilities.csv", folder / "facilities.csv")
    (folder / "adir").mkdir()
    return folder


def test_the_base_document_is_valid(workdir):
    path = workdir / "base.toml"
    path.write_text(dump(BASE), encoding="utf-8")
    assert tomllib.loads(dump(BASE)) == BASE
    assert_sane(load_scenario(path))


@FUZZ
@given(doc=scenario_docs())
def test_load_scenario_gives_a_scenario_or_one_error_line(workdir, doc):
    path = workdir / "scenario.toml"
    path.write_text(dump(doc), encoding="utf-8")
    reason = must_fail(doc)
    try:
        sc = load_scenario(path)
    except ScenarioError as exc:
        message = str(exc)
        assert "\n" not in message and len(message.splitlines()) == 1, message
        assert message.startswith(f"{path}: "), message
        event("error")
        return
    assert reason is None, f"loaded although {reason}: {dump(doc)}"
    assert_sane(sc)
    event("valid")


RUNS = itertools.count()


@settings(FUZZ, max_examples=5)
@given(doc=scenario_docs())
def test_bad_generated_scenarios_through_the_cli(workdir, doc):
    assume(must_fail(doc) is not None)  # certainly bad, so the pipeline never starts
    folder = workdir / f"cli{next(RUNS)}"
    folder.mkdir()
    shutil.copy(workdir / "facilities.csv", folder / "facilities.csv")
    path = folder / "scenario.toml"
    path.write_text(dump(doc), encoding="utf-8")
    out, maps = folder / "out", folder / "maps"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--maps-dir", str(maps)])
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), result.stderr
    assert "Traceback" not in result.output
    assert not out.exists() and not maps.exists()

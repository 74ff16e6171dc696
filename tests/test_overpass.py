"""Downloads from Overpass through the real osmnx, with every HTTP request answered here.

osmnx pauses 60 s before a query when Overpass's status endpoint cannot be reached. The
planner probes the endpoint first, so that a machine without internet access gets its error
at once. The street coordinates below are made up for the test (about 200 m of footway near
the Liusha facilities); they are not data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import osmnx as ox
import pytest
import requests

from planner import _osm, download, inputs
from planner._errors import NetworkUnavailableError, PlannerError
from planner.scenario import DATA_DIR, PointSource, load_scenario

STATUS = (
    "Connected as: 1\nCurrent time: 2026-11-29T00:00:00Z\nAnnounced endpoint: none\n"
    "Rate limit: 2\n2 slots available now.\n"
    "Currently running queries (pid, space limit, time limit, start time):\n"
)
#: A made-up footway of three nodes and one shop, inside the liusha scenario's bbox.
STREETS = {
    "elements": [
        {"type": "node", "id": 1, "lat": 23.2950, "lon": 116.1800},
        {"type": "node", "id": 2, "lat": 23.2950, "lon": 116.1810},
        {"type": "node", "id": 3, "lat": 23.2960, "lon": 116.1810},
        {"type": "way", "id": 10, "nodes": [1, 2, 3], "tags": {"highway": "footway"}},
    ]
}
SHOPS = {
    "elements": [
        {
            "type": "node",
            "id": 20,
            "lat": 23.2951,
            "lon": 116.1805,
            "tags": {"shop": "convenience", "name": "test shop"},
        }
    ]
}


def _asks_for(query: str, tag: str) -> bool:
    """Whether an Overpass query filters on `tag` (``['shop']`` or ``["shop"]``)."""
    return f"['{tag}']" in query or f'["{tag}"]' in query


class FakeOverpass:
    """Stands in for the internet: answers Overpass's status and queries, or refuses all."""

    def __init__(self) -> None:
        self.online = True
        self.refuse = ""  # a query containing this tag fails (the connection drops)
        self.urls: list[str] = []
        self.status = (200, STATUS)  # the status endpoint's answer
        self.queued: list[tuple[int, str]] = []  # answers to the next queries, in turn
        self.moved_to = ""  # the next query is redirected (307) here
        self.portal = ""  # a page that answers that address (a Wi-Fi login page), if any
        self.portal_url = ""

    def send(self, request: requests.PreparedRequest) -> requests.Response:
        url = str(request.url)
        self.urls.append(url)
        if not self.online:
            raise requests.ConnectionError(
                "Failed to resolve 'overpass-api.de' ([Errno -2] Name or service not known)"
            )
        response = requests.Response()
        response.status_code = 200
        response.url = url
        response.request = request
        response.encoding = "utf-8"
        if self.portal and url == self.portal_url:
            response._content = self.portal.encode()
            return response
        if url.endswith("/status"):
            response.status_code, text = self.status
            response._content = text.encode()
        else:
            body = str(requests.utils.unquote(str(request.body or "")))
            if self.refuse and _asks_for(body, self.refuse):
                raise requests.ConnectionError("Connection reset by peer")
            if self.moved_to:
                response.status_code, response.reason = 307, "Temporary Redirect"
                response.headers["Location"] = self.moved_to
                response._content = b"<html><body>moved</body></html>"
                self.portal_url, self.moved_to = self.moved_to, ""
                return response
            if self.queued:
                response.status_code, text = self.queued.pop(0)
                response._content = text.encode()
                return response
            answer = SHOPS if _asks_for(body, "shop") else STREETS
            response._content = json.dumps(answer).encode()
        return response


@pytest.fixture
def overpass(monkeypatch: pytest.MonkeyPatch) -> FakeOverpass:
    fake = FakeOverpass()
    monkeypatch.setattr(
        requests.adapters.HTTPAdapter, "send", lambda adapter, request, **kw: fake.send(request)
    )
    # osmnx resolves Overpass's host itself and pins it in socket.getaddrinfo: keep both here
    import socket

    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)
    monkeypatch.setattr(socket, "gethostbyname", lambda host: "192.0.2.1")
    return fake


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """osmnx's pauses before its queries, recorded instead of slept."""
    seen: list[float] = []
    monkeypatch.setattr(ox._overpass.time, "sleep", seen.append)
    return seen


def _liusha(folder: Path):
    folder.mkdir()
    for name in ("scenario.toml", "facilities.csv"):
        shutil.copy(DATA_DIR / "liusha" / name, folder / name)
    return replace(load_scenario("liusha"), folder=folder)


def _queries(urls: list[str]) -> list[str]:
    return [u for u in urls if u.endswith("/interpreter")]


def test_online_fetch_goes_through_osmnx_and_offline_fails_at_once(
    tmp_path: Path, overpass: FakeOverpass, sleeps: list[float]
) -> None:
    sc = _liusha(tmp_path / "liusha")
    # online: the probe, then osmnx's status check, pause (0 s, as Overpass says) and query
    files = download.fetch(sc)
    assert files["network"].is_file() and files["pois"].is_file()
    # the footway's two ends: osmnx simplified its middle node away, as for any download
    assert json.loads(files["meta"].read_text(encoding="utf-8"))["nodes"] == 2
    assert len(_queries(overpass.urls)) == 2 and sleeps and max(sleeps) == 0
    meta = json.loads(files["meta"].read_text(encoding="utf-8"))
    age = time.time() - datetime.fromisoformat(meta["downloaded_utc"]).timestamp()
    assert -1 < age < 60
    # the answers are in the files now, not kept: the next fetch asks Overpass again
    assert not download.osmnx_answers(sc.cache_dir / "http")
    overpass.urls = []
    files = download.fetch(sc)
    assert len(_queries(overpass.urls)) == 2

    # offline: one error naming the endpoint and the way out, at once: no query, no pause
    for path in files.values():
        path.unlink()  # the files this test's fetch wrote, and osmnx's answers cached by it
    shutil.rmtree(sc.cache_dir / "http")
    overpass.online, overpass.urls, sleeps[:] = False, [], []
    started = time.perf_counter()
    with pytest.raises(NetworkUnavailableError) as err:
        download.fetch(sc)
    assert not sleeps  # osmnx's 60 s pause for an unreachable status endpoint never came
    assert time.perf_counter() - started < 10
    message = str(err.value)
    assert message.startswith("could not download the street network: ")
    assert f"Overpass ({ox.settings.overpass_url}) cannot be reached" in message
    assert "Failed to resolve 'overpass-api.de'" in message and "--osm FILE" in message
    assert "\n" not in message
    assert overpass.urls == [ox.settings.overpass_url + "/status"]  # the probe, nothing more
    assert not (sc.cache_dir / "network.graphml").exists()


def test_retry_after_a_failed_fetch_reuses_answers_and_dates_them(
    tmp_path: Path, overpass: FakeOverpass, sleeps: list[float]
) -> None:
    sc = _liusha(tmp_path / "liusha")
    overpass.refuse = "shop"  # the street network comes, then the merchants' query fails
    with pytest.raises(NetworkUnavailableError, match="could not download POIs"):
        download.fetch(sc)
    assert not (sc.cache_dir / "fetch.json").exists()
    (kept,) = download.osmnx_answers(sc.cache_dir / "http")  # the street network's answer
    two_hours_ago = time.time() - 7200
    os.utime(kept, (two_hours_ago, two_hours_ago))
    # the retry asks only for the merchants, and the data are dated by the older answer
    overpass.refuse, overpass.urls = "", []
    files = download.fetch(sc)
    assert len(_queries(overpass.urls)) == 1
    meta = json.loads(files["meta"].read_text(encoding="utf-8"))
    assert datetime.fromisoformat(meta["downloaded_utc"]).timestamp() == int(two_hours_ago)
    assert inputs.fetched_date(sc) == meta["downloaded_utc"][:10]
    assert not download.osmnx_answers(sc.cache_dir / "http")


def test_osmnx_answers_are_only_its_own_files(tmp_path: Path) -> None:
    http = tmp_path / "http"
    assert download.osmnx_answers(http) == []  # no folder yet
    http.mkdir()
    answer = http / ("0123456789abcdef" * 2 + "01234567.json")
    answer.write_text("{}", encoding="utf-8")
    for other in ("notes.json", "0123.json", answer.name.upper(), answer.name + ".bak"):
        (http / other).write_text("mine", encoding="utf-8")
    assert download.osmnx_answers(http) == [answer]


def test_offline_merchants_download_fails_at_once(
    tmp_path: Path, overpass: FakeOverpass, sleeps: list[float]
) -> None:
    from planner import pois

    overpass.online = False
    with pytest.raises(NetworkUnavailableError, match=r"^could not download merchants and"):
        pois.pois_from_overpass((116.17, 23.29, 116.19, 23.30), tmp_path / "http")
    assert not _queries(overpass.urls) and not sleeps


def test_probe_counts_only_failed_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    def answer_with(outcome: Exception | None):
        def send(self: object, request: requests.PreparedRequest, **kw: object):
            assert kw["timeout"] == 3.0  # a requests timeout of (connect, read)? one number
            if outcome is not None:
                raise outcome
            response = requests.Response()
            response.status_code = 504  # any answer: the server is there
            return response

        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)

    answer_with(requests.ConnectTimeout("connect timed out"))
    assert _osm.overpass_unreachable(3.0) == "ConnectTimeout: connect timed out"
    answer_with(requests.ConnectionError("refused"))
    assert _osm.overpass_unreachable(3.0) == "ConnectionError: refused"
    answer_with(requests.ReadTimeout("slow"))  # connected, slow to answer: osmnx's to handle
    assert _osm.overpass_unreachable(3.0) is None
    answer_with(None)
    assert _osm.overpass_unreachable(3.0) is None


def test_reachable_session_sets_and_puts_back_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ox.settings, "use_cache", "sentinel-use-cache")
    monkeypatch.setattr(ox.settings, "cache_folder", "sentinel-folder")
    monkeypatch.setattr(_osm, "probe_overpass", lambda *a, **k: (None, True))
    with _osm.overpass_session("somewhere", "x"):
        assert ox.settings.use_cache is True and ox.settings.cache_folder == "somewhere"
    assert ox.settings.use_cache == "sentinel-use-cache"
    assert ox.settings.cache_folder == "sentinel-folder"
    monkeypatch.setattr(_osm, "probe_overpass", lambda *a, **k: ("offline", False))
    with (
        pytest.raises(NetworkUnavailableError, match="cannot be reached from this machine"),
        _osm.overpass_session("somewhere", "x"),
    ):
        pytest.fail("the block ran although Overpass cannot be reached")
    assert ox.settings.cache_folder == "sentinel-folder"


def test_a_download_too_small_for_this_runs_walks_is_refused(
    tmp_path: Path, overpass: FakeOverpass, sleeps: list[float]
) -> None:
    """Bands or speed raised after `planner fetch`: the run stops instead of drawing circles
    cut at the download's edge; the bands fetched for (or smaller) load."""
    sc = _liusha(tmp_path / "liusha")
    # made-up streets across the whole download: a cross through its middle, ends 10 m in
    w, s, e, n = download.download_bbox(sc)
    cx, cy, d = (w + e) / 2, (s + n) / 2, 0.0001
    cross = {
        "elements": [
            {"type": "node", "id": 1, "lat": cy, "lon": w + d},
            {"type": "node", "id": 2, "lat": cy, "lon": cx},
            {"type": "node", "id": 3, "lat": cy, "lon": e - d},
            {"type": "node", "id": 4, "lat": s + d, "lon": cx},
            {"type": "node", "id": 5, "lat": n - d, "lon": cx},
            {"type": "way", "id": 10, "nodes": [1, 2, 3], "tags": {"highway": "footway"}},
            {"type": "way", "id": 11, "nodes": [4, 2, 5], "tags": {"highway": "footway"}},
        ]
    }
    overpass.queued = [(200, json.dumps(cross))]
    download.fetch(sc)
    fetched = json.loads((sc.cache_dir / "fetch.json").read_text(encoding="utf-8"))
    assert fetched["bbox_wgs84"] == [w, s, e, n]
    nodes = inputs.load_network(sc).n_nodes
    assert nodes == 5
    assert inputs.load_network(sc.with_overrides(bands_min=(5.0, 10.0))).n_nodes == nodes
    # within the margin (300 m): 15 min at 5 km/h is 125 m farther than at 4.5 km/h
    assert inputs.load_network(sc.with_overrides(speed_kmh=5.0)).n_nodes == nodes
    for wider in (sc.with_overrides(bands_min=(5.0, 10.0, 25.0)), sc.with_overrides(speed_kmh=6)):
        with pytest.raises(PlannerError) as err:
            inputs.load_network(wider)
        message = str(err.value)
        assert "planner fetch liusha" in message and "\n" not in message
        assert f"{max(wider.bands_min):g} min at {wider.speed_kmh:g} km/h" in message
        assert re.search(r'leave it from facility "L0\d" \(row \d\)', message)
    # a facility added 1 km east of the download: named; a row mistyped 50 km away (it can
    # reach no street of the download: the run reports it) does not stop the run
    table = sc.facilities.path
    rows = table.read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    fetched_box = fetched["bbox_wgs84"]

    def row_at(fid: str, lon: float, lat: float) -> str:
        values = dict.fromkeys(header, "")
        values.update({header[0]: fid})
        for col in header:
            if col.lower() in ("lon", "longitude", "x", "经度"):
                values[col] = f"{lon:.6f}"
            if col.lower() in ("lat", "latitude", "y", "纬度"):
                values[col] = f"{lat:.6f}"
        return ",".join(values[c] for c in header)

    middle = (fetched_box[1] + fetched_box[3]) / 2
    table.write_text("\n".join([*rows, row_at("FAR", 117.0, 23.8)]) + "\n", encoding="utf-8")
    assert inputs.load_network(sc).n_nodes == nodes
    table.write_text(
        "\n".join([*rows, row_at("EDGE", fetched_box[2] + 0.0005, middle)]) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(PlannerError, match=r'from facility "EDGE" \(row \d+\): its circles'):
        inputs.load_network(sc)
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    lower = replace(sc, study_bbox=(fetched_box[0] - 0.01, *fetched_box[1:]))
    with pytest.raises(PlannerError, match="leave it from study_bbox"):
        inputs.load_network(lower)
    # a fetch.json of an older planner, without its box: nothing is known, a new fetch asked
    meta = sc.cache_dir / "fetch.json"
    old = json.loads(meta.read_text(encoding="utf-8"))
    del old["bbox_wgs84"]
    meta.write_text(json.dumps(old), encoding="utf-8")
    with pytest.raises(PlannerError, match="does not say which area it covers"):
        inputs.check_download_box(sc)


PARTIAL = json.dumps(
    {**STREETS, "remark": "runtime error: Query run out of memory using about 2048 MB of RAM."}
)


def test_a_partial_answer_is_refused_and_nothing_is_kept(
    tmp_path: Path, overpass: FakeOverpass, sleeps: list[float]
) -> None:
    """Overpass ran out of memory and sent part of the streets with a remark: refused."""
    sc = _liusha(tmp_path / "liusha")
    overpass.queued = [(200, PARTIAL)]
    with pytest.raises(NetworkUnavailableError) as err:
        download.fetch(sc)
    message = str(err.value)
    assert "did not finish the query" in message and "out of memory" in message
    assert "\n" not in message and "--osm FILE" in message
    assert not (sc.cache_dir / "network.graphml").exists()
    assert not download.osmnx_answers(sc.cache_dir / "http")
    # the merchants' query timing out the same way fails the fetch too (not "0 POIs")
    timed_out = json.dumps({"elements": [], "remark": "runtime error: Query timed out"})
    overpass.queued = [(200, json.dumps(STREETS)), (200, timed_out)]
    with pytest.raises(NetworkUnavailableError, match=r"merchants.*timed out"):
        download.fetch(sc)
    assert not (sc.cache_dir / "fetch.json").exists()


def test_an_empty_merchants_answer_is_said(
    tmp_path: Path, overpass: FakeOverpass, sleeps: list[float]
) -> None:
    sc = _liusha(tmp_path / "liusha")
    overpass.queued = [(200, json.dumps(STREETS)), (200, json.dumps({"elements": []}))]
    said: list[str] = []
    download.fetch(sc, progress=said.append)
    assert any(line.startswith("warning: Overpass has no merchants") for line in said)


def test_a_busy_overpass_is_said_and_given_up_after_three_answers(
    tmp_path: Path, overpass: FakeOverpass, sleeps: list[float]
) -> None:
    """osmnx waits 55 s and asks again after a 429 or 504, without end: the planner says so
    and stops after three busy answers in a row; one busy answer then data is fine."""
    sc = _liusha(tmp_path / "liusha")
    overpass.queued = [(429, "Too Many Requests")]
    said: list[str] = []
    assert download.fetch(sc, progress=said.append)["network"].is_file()
    assert any("busy (HTTP 429)" in line and "attempt 2 of 3" in line for line in said)
    overpass.queued = [(504, "Gateway Timeout"), (429, ""), (504, "")]
    with pytest.raises(NetworkUnavailableError) as err:
        download.fetch(sc, progress=said.append)
    assert "busy (HTTP 504, 3 answers in a row)" in str(err.value)
    # the first fetch: busy, its streets, its merchants; then three busy tries
    assert len(_queries(overpass.urls)) == 3 + 3
    assert sleeps.count(55) == 1 + 2  # osmnx's waits between tries, recorded here


def test_an_error_page_is_one_line_naming_the_status(
    tmp_path: Path, overpass: FakeOverpass, sleeps: list[float]
) -> None:
    sc = _liusha(tmp_path / "liusha")
    page = (
        "<html>\n<head><title>Error</title></head>\n<body>\n"
        "<p>The server is probably too busy.</p>\n</body></html>"
    )
    for status in (400, 500):
        overpass.queued = [(status, page)]
        with pytest.raises(NetworkUnavailableError) as err:
            download.fetch(sc)
        message = str(err.value)
        assert f"Overpass answered HTTP {status} (Error" in message and "\n" not in message
        assert "no walkable streets" not in message
    overpass.queued = [(200, page)]
    with pytest.raises(NetworkUnavailableError, match="not JSON"):
        download.fetch(sc)


def test_answers_that_must_not_be_reused_are_dropped_before_a_fetch(
    tmp_path: Path, overpass: FakeOverpass, sleeps: list[float]
) -> None:
    """An empty answer (a lagging server) and one cut short are not read back: the next
    fetch asks Overpass again instead of failing the same way for ever."""
    sc = _liusha(tmp_path / "liusha")
    overpass.queued = [(200, json.dumps({"elements": []}))]
    with pytest.raises(NetworkUnavailableError, match="no walkable streets"):
        download.fetch(sc)
    http = sc.cache_dir / "http"
    (empty,) = download.osmnx_answers(http)  # osmnx kept the empty answer
    assert json.loads(empty.read_text(encoding="utf-8"))["elements"] == []
    cut = http / ("0" * 40 + ".json")
    cut.write_text(json.dumps(STREETS)[:40], encoding="utf-8")
    mine = http / "notes.txt"
    mine.write_text("not osmnx's", encoding="utf-8")
    overpass.urls = []
    assert download.fetch(sc)["network"].is_file()
    assert len(_queries(overpass.urls)) == 2  # asked again, not read back
    assert not cut.exists() and not empty.exists() and mine.is_file()


def test_a_status_endpoint_osmnx_cannot_read_costs_no_pause(
    tmp_path: Path, overpass: FakeOverpass, sleeps: list[float]
) -> None:
    """osmnx pauses 60 s before each query when the status answer is not one it reads."""
    sc = _liusha(tmp_path / "liusha")
    overpass.status = (503, "Service Unavailable")
    assert download.fetch(sc)["network"].is_file()
    assert 60 not in sleeps and max(sleeps, default=0) == 0


def test_fetch_is_only_for_downloaded_scenarios(tmp_path: Path) -> None:
    with pytest.raises(PlannerError, match=r"only for scenarios with source = \"overpass\""):
        download.fetch(load_scenario("sample"))


def test_a_graphml_network_takes_the_merchants_written_beside_it(
    tmp_path: Path, overpass: FakeOverpass, sleeps: list[float]
) -> None:
    """`--osm network.graphml` with from_osm = true: the pois.geojson `planner fetch` wrote
    beside it; a GraphML alone is one line saying it holds no merchants."""
    sc = _liusha(tmp_path / "liusha")
    files = download.fetch(sc)
    fetched = replace(sc, pois=None, pois_from_osm=True)
    pois = inputs.load_pois(fetched.with_overrides(network_path=files["network"]))
    assert list(pois["name"]) == ["test shop"]
    alone = tmp_path / "elsewhere" / "network.graphml"
    alone.parent.mkdir()
    shutil.copyfile(files["network"], alone)
    with pytest.raises(PlannerError) as err:
        inputs.load_pois(fetched.with_overrides(network_path=alone))
    assert "GraphML" in str(err.value) and "pois.geojson" in str(err.value)
    # with a merchants table of its own, a GraphML alone runs on that table, as before
    table = tmp_path / "merchants.csv"
    table.write_text("id,name,lon,lat\nM1,mine,116.1805,23.2951\n", encoding="utf-8")
    with_table = replace(fetched, pois=PointSource(path=table))
    mine = inputs.load_pois(with_table.with_overrides(network_path=alone))
    assert list(mine["id"]) == ["M1"]


def test_a_redirected_query_is_followed_not_refused(
    tmp_path: Path, overpass: FakeOverpass, sleeps: list[float]
) -> None:
    """requests shows the hook the 307 itself (an HTML body): it is followed, as osmnx does."""
    sc = _liusha(tmp_path / "liusha")
    overpass.moved_to = "https://overpass.mirror.example/api/interpreter"
    assert download.fetch(sc)["network"].is_file()
    assert "https://overpass.mirror.example/api/interpreter" in overpass.urls
    # a redirect to a page that is not Overpass (a Wi-Fi login page): its answer is checked
    overpass.moved_to, overpass.portal = "http://portal.example/login", "<html>Please log in</html>"
    with pytest.raises(NetworkUnavailableError, match=r"not JSON \(Please log in\)"):
        download.fetch(sc)


def test_a_mirror_is_asked_when_named(
    tmp_path: Path,
    overpass: FakeOverpass,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--overpass-url (or $PLANNER_OVERPASS_URL) sends every request there; osmnx's own
    setting is put back after; fetch.json says which server answered."""
    sc = _liusha(tmp_path / "liusha")
    default = ox.settings.overpass_url
    files = download.fetch(sc, overpass_url="https://mirror.example.cn/api/")
    assert overpass.urls and all(
        u.startswith("https://mirror.example.cn/api/") for u in overpass.urls
    )
    meta = json.loads(files["meta"].read_text(encoding="utf-8"))
    assert meta["overpass_url"] == "https://mirror.example.cn/api"
    assert ox.settings.overpass_url == default
    overpass.urls = []
    monkeypatch.setenv(_osm.OVERPASS_URL_ENV, "http://10.0.0.5/api")
    download.fetch(sc)
    assert overpass.urls and all(u.startswith("http://10.0.0.5/api/") for u in overpass.urls)
    overpass.online = False
    with pytest.raises(NetworkUnavailableError, match=r"Overpass \(http://10\.0\.0\.5/api\)"):
        download.fetch(sc)


def test_the_download_grows_with_a_snapping_limit_beyond_its_margin(tmp_path: Path) -> None:
    """Margin 300 m; a snapping limit of 1,000 m grows the box by 700 m on every side."""
    sc = replace(_liusha(tmp_path / "liusha"), study_bbox=None)  # the facilities' box only
    assert sc.download_margin_m == 300 and sc.snap_limit_m <= 300
    w, s, e, n = download.download_bbox(sc)
    w2, s2, e2, n2 = download.download_bbox(replace(sc, snap_limit_m=1000.0))
    assert (s - s2) * 111_320.0 == pytest.approx(700.0)
    assert (n2 - n) * 111_320.0 == pytest.approx(700.0)
    assert w2 < w and e2 > e


def test_the_streets_extent_holds_every_street_point_across_the_central_meridian() -> None:
    """A line of constant northing curves in lon/lat: the extent is not the corners' box."""
    import numpy as np
    import shapely
    from pyproj import Transformer

    from tests.handmade import CRS, make_network

    # 40 km east-west, centred on the zone's central meridian (x = 500,000 m)
    network = make_network({0: (-20_000.0, 0.0), 1: (20_000.0, 0.0)}, [(0, 1)])
    w, s, e, n = inputs._wgs84_extent(network)
    line = network.edge_geometry[0]
    dense = shapely.segmentize(line, 100.0)
    x, y = shapely.get_coordinates(dense).T
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    assert w <= lon.min() and e >= lon.max() and s <= lat.min() and n >= np.max(lat)

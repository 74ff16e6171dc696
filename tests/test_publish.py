"""Publishing outputs: never touch what the user has; one complete set whatever happens."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner import _publish, io
from planner._publish import OutputLocationError, check_output_dir, output_set
from planner.outputs import OUTPUT_FILES, output_files
from planner.scenario import DATA_DIR

ROOT = Path(__file__).resolve().parent.parent
# a result of plain `analyse` (scenario name "analysis") has no policy table, so no policy.csv
OUTPUT_NAMES = set(output_files("analysis").values()) - {OUTPUT_FILES["policy"]}

# A process that computes two analyses (speeds 3 and 6 km/h) of a hand-made network with
# N POIs, says "ready", then writes them into OUT alternately: "loop" forever, or "ROUNDS"
# times. It prints how long each write took.
WRITER = textwrap.dedent(
    """
    import sys, time
    from dataclasses import replace
    from pathlib import Path
    from planner import pipeline
    from planner.scenario import load_scenario
    from tests.handmade import make_network, points
    out, n, rounds, first = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    net = make_network({0: (0, 0), 1: (100, 0), 2: (200, 0)}, [(0, 1), (1, 2)])
    fac = points([("F", 50, 10)])
    pois = points([(f"P{i}", i % 200, 7) for i in range(n)])
    sc = load_scenario("sample")
    runs = [
        (s, pipeline.analyse(net, fac, pois, bands_min=(1, 2), speed_kmh=s)) for s in (3.0, 6.0)
    ]
    print("ready", flush=True)
    i = first
    while rounds == "loop" or i < first + int(rounds):
        speed, a = runs[i % 2]
        t = time.perf_counter()
        pipeline.write_outputs(a, out)
        print("wrote", time.perf_counter() - t, flush=True)
        i += 1
    """
)


def _writer(out: Path, n: int, rounds: str, first: int = 0) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(out), str(n), rounds, str(first)],
        cwd=out.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _complete_and_consistent(out: Path, n: int) -> bool:
    """The published folder holds one whole set, every file from the same run."""
    names = {p.name for p in out.iterdir()} - {_publish.RUN_MARK}
    if names != OUTPUT_NAMES:
        return False
    mark = json.loads((out / _publish.RUN_MARK).read_text(encoding="utf-8"))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    speed = summary["inputs"]["speed_kmh"]
    cov = pd.read_csv(out / "coverage.csv", encoding="utf-8-sig")
    pois = pd.read_csv(out / "pois.csv", encoding="utf-8-sig")
    fac = pd.read_csv(out / "facilities.csv", encoding="utf-8-sig")
    same_speed = np.allclose(cov["minutes"], cov["distance_m"] / (speed * 1000 / 60), atol=1e-5)
    return (
        mark["complete"]
        and same_speed
        and len(pois) == n
        and len(fac) == 1
        and summary["overall"]["pois_total"] == n
    )


def _runs(out: Path) -> list[Path]:
    return sorted(p for p in _publish.runs_dir(out).iterdir() if p.is_dir())


def _write_set(folder: Path, text: str = "a") -> None:
    for name in OUTPUT_NAMES:
        (folder / name).write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- what may be there
def test_existing_user_folder_is_refused_and_untouched(tmp_path):
    user = tmp_path / "u"
    user.mkdir()
    (user / "报告.docx").write_bytes(b"x")
    with pytest.raises(OutputLocationError, match=r"报告\.docx") as info, output_set(user) as f:
        _write_set(f)
    assert "\n" not in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["u"]  # no runs folder made either
    assert [p.name for p in user.iterdir()] == ["报告.docx"] and not user.is_symlink()


@pytest.mark.parametrize("kind", ["empty folder", "file", "foreign link"])
def test_anything_not_made_by_the_planner_is_refused(tmp_path, kind):
    target = tmp_path / "o"
    if kind == "empty folder":
        target.mkdir()
    elif kind == "file":
        target.write_text("mine", encoding="utf-8")
    else:
        (tmp_path / "elsewhere").mkdir()
        target.symlink_to("elsewhere")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(OutputLocationError, match=r"not made by the planner|did not make") as err:
        check_output_dir(target)
    assert sorted(os.listdir(tmp_path)) == before
    # the name it suggests can be made: inside the folder, beside a file or a link
    suggested = Path(str(err.value).rsplit("(for example ", 1)[1].rstrip(")"))
    assert not suggested.exists()
    assert suggested.parent == (target if kind == "empty folder" else tmp_path)


def test_runs_folder_not_made_by_the_planner_is_refused(tmp_path):
    (tmp_path / ".o.runs").mkdir()
    (tmp_path / ".o.runs" / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputLocationError, match="runs"):
        check_output_dir(tmp_path / "o")


def test_runs_folder_marked_by_another_run_while_checked_is_accepted(tmp_path, monkeypatch):
    # another run makes `.out.runs` and writes its mark between this run's look for the mark
    # and its listing of the folder: the listing shows the mark file, which must not make the
    # folder look like someone else's (four concurrent runs failed on this in CI)
    target = tmp_path / "out"
    runs = _publish.runs_dir(target)
    runs.mkdir()
    mark = runs / _publish.RUNS_MARK
    real_is_file = Path.is_file
    looks = []

    def is_file(self):
        if self == mark and not looks:
            looks.append(self)
            mark.write_text("made by the other run\n", encoding="utf-8")  # just after the look
            return False
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    check_output_dir(target)  # no error
    assert looks == [mark]  # the first look missed the mark: the moment was hit


def test_planner_link_is_replaced_and_old_run_removed(tmp_path):
    out = tmp_path / "o"
    with output_set(out) as folder:
        _write_set(folder, "first")
    first = _runs(out)
    with output_set(out) as folder:
        _write_set(folder, "second")
    assert (out / "pois.csv").read_text(encoding="utf-8") == "second"
    assert len(_runs(out)) == 1 and _runs(out) != first
    assert out.is_symlink()


def test_a_file_the_user_put_in_a_published_folder_survives(tmp_path):
    out = tmp_path / "o"
    with output_set(out) as folder:
        _write_set(folder)
    (out / "批注.txt").write_text("my notes", encoding="utf-8")
    old_run = out.resolve()
    notes: list[str] = []
    with output_set(out, notes=notes) as folder:
        _write_set(folder, "b")
    assert (old_run / "批注.txt").read_text(encoding="utf-8") == "my notes"
    # only the planner's files went; its marker stays so a later run can finish the job
    assert {p.name for p in old_run.iterdir()} == {"批注.txt", _publish.RUN_MARK}
    assert len(notes) == 1 and "批注.txt" in notes[0]


def test_a_failed_write_keeps_the_published_set_and_leaves_nothing(tmp_path):
    out = tmp_path / "o"
    with output_set(out) as folder:
        _write_set(folder, "good")
    with pytest.raises(RuntimeError), output_set(out) as folder:
        (folder / "pois.csv").write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert (out / "pois.csv").read_text(encoding="utf-8") == "good"
    assert len(_runs(out)) == 1


def test_cli_out_onto_existing_folders_deletes_nothing(cli, tmp_path, monkeypatch):
    """The issue's three cases, through the command: a report folder, the scenario's
    own folder, and the working directory."""
    user = tmp_path / "u"
    user.mkdir()
    (user / "报告.docx").write_bytes(b"report")
    scen = tmp_path / "s"
    scen.mkdir()
    for name in ("scenario.toml", "facilities.csv", "origins.csv", "README.md"):
        (scen / name).write_bytes((DATA_DIR / "sample" / name).read_bytes())
    text = (scen / "scenario.toml").read_text(encoding="utf-8")
    osm = DATA_DIR / "sample" / "shenzhen_nanshan_science_park_2021-03.osm"
    (scen / "scenario.toml").write_text(
        text.replace('"shenzhen_nanshan_science_park_2021-03.osm"', json.dumps(str(osm))),
        encoding="utf-8",
    )
    snapshot = {p: p.read_bytes() for p in [*user.iterdir(), *scen.iterdir()]}
    for args, cwd in (
        (["sample", "--out", str(user)], tmp_path),
        ([str(scen / "scenario.toml"), "--out", str(scen)], tmp_path),
        (["sample", "--out", "."], user),
    ):
        monkeypatch.chdir(cwd)
        r = cli("run", *args, "--maps-dir", str(tmp_path / "m"))
        assert r.exit_code == 1, r.output
        lines = r.stderr.strip().splitlines()
        assert lines[-1].startswith("error: --out "), r.stderr
        assert "not made by the planner" in lines[-1]
    assert {p: p.read_bytes() for p in [*user.iterdir(), *scen.iterdir()]} == snapshot
    assert sorted(os.listdir(tmp_path)) == ["s", "u"]  # no map, no runs folder, nothing


def test_a_map_file_not_written_by_the_planner_is_not_overwritten(tmp_path):
    html = tmp_path / "sample.html"
    html.write_text("<html>my own page</html>", encoding="utf-8")
    with pytest.raises(OutputLocationError, match="not written by the planner"):
        _publish.check_replaceable(html)
    png = tmp_path / "sample.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(OutputLocationError):
        _publish.check_replaceable(png)


def test_the_name_in_a_users_file_does_not_make_it_the_planners(tmp_path, sample_map_run):
    """Only the signature where the planner puts it counts, not the name written anywhere."""
    import shutil

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notes = tmp_path / "sample.html"
    notes.write_text(
        "<html><head><title>Notes on the liusha-planner results</title></head>"
        '<body>my meeting notes; content="liusha-planner"</body></html>',
        encoding="utf-8",
    )
    folder = tmp_path / "maps"
    folder.mkdir()
    shutil.copy(sample_map_run.files["map"], folder / "sample.html")  # a planner map ...
    fig = plt.figure()
    fig.gca().plot([1, 2, 3], [3, 1, 2])
    fig.savefig(folder / "sample.png")  # ... and the user's own chart beside it
    plt.close(fig)
    chart = folder / "sample.png"
    assert b"Matplotlib" in chart.read_bytes()[:4096]
    for path in (notes, chart):
        assert not _publish.is_planner_file(path)
        with pytest.raises(OutputLocationError, match="not written by the planner"):
            _publish.check_replaceable(path)


def test_planner_maps_are_recognised(sample_map_run):
    for key in ("map", "png"):
        path = sample_map_run.files[key]
        assert _publish.is_planner_file(path)
        _publish.check_replaceable(path)  # may be replaced by the next run


# --------------------------------------------------------------------------- concurrent runs
@pytest.mark.slow
def test_four_concurrent_runs_publish_complete_sets(tmp_path):
    """Four processes publish into one folder at once, three times each, twice over."""
    n = 2000
    for attempt in range(2):
        out = tmp_path / f"c{attempt}"
        procs = [_writer(out, n, "3", first=k) for k in range(4)]
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
            assert _complete_and_consistent(out, n)
        assert len(_runs(out)) == 1  # every finished run cleaned up after itself
        assert out.resolve() == _runs(out)[0]


# --------------------------------------------------------------------------- killed runs
def _new_run_of(out: Path, pid: int, deadline: float) -> Path | None:
    """Wait for the run folder that process `pid` creates when it starts writing."""
    runs = _publish.runs_dir(out)
    while time.perf_counter() < deadline:
        if runs.is_dir():
            for run in runs.iterdir():
                mark = _publish._read_mark(run / _publish.RUN_MARK) if run.is_dir() else None
                if mark and mark.get("pid") == pid and not mark.get("complete"):
                    return run
        time.sleep(0.0005)
    return None


def _unfinished_runs_of(out: Path, pid: int) -> int:
    marks = [_publish._read_mark(run / _publish.RUN_MARK) for run in _runs(out)]
    return sum(1 for m in marks if m and m.get("pid") == pid and not m.get("complete"))


@pytest.mark.slow
def test_killed_mid_write_leaves_a_complete_set(tmp_path):
    """SIGKILL at random moments *inside* the write, many times.

    Each writer process first computes, then says "ready"; the signal that writing has
    started is its new run folder appearing. The kill lands a random time into the
    measured write. A kill that landed inside the write leaves that process's run folder
    unfinished: the test counts those, so it proves it hit the moment it targets.
    """
    out = tmp_path / "out"
    n = 20_000
    calib = _writer(out, n, "2")
    stdout, err = calib.communicate(timeout=300)
    assert calib.returncode == 0, err
    write_s = max(
        float(line.split()[1]) for line in stdout.splitlines() if line.startswith("wrote")
    )
    assert _complete_and_consistent(out, n)
    rng = np.random.default_rng(7)
    kills, hits = 12, 0
    for k in range(kills):
        proc = _writer(out, n, "loop", first=k)
        try:
            assert proc.stdout.readline().startswith("ready")
            started = _new_run_of(out, proc.pid, time.perf_counter() + 60)
            assert started is not None, "the writer never started writing"
            time.sleep(float(rng.uniform(0.0, 0.8 * write_s)))
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        hits += _unfinished_runs_of(out, proc.pid) > 0  # killed before a write was finished
        assert _complete_and_consistent(out, n), "a killed run left a partial or mixed set"
    print(f"{hits} of {kills} kills landed inside a write of {write_s:.3f} s")
    assert hits >= kills * 2 // 3, f"only {hits} of {kills} kills landed inside a write"
    # the next run clears the abandoned folders of the killed processes
    proc = _writer(out, n, "1")
    assert proc.communicate(timeout=300)[0] and proc.returncode == 0
    assert _complete_and_consistent(out, n) and len(_runs(out)) == 1


# --------------------------------------------------------------------------- spreadsheets
FORMULAS = ['=HYPERLINK("http://x","点我")', "+cmd|' /C calc'!A0", "-2+3+cmd", "@SUM(1+1)"]


@pytest.mark.parametrize("text", [*FORMULAS, "\tTAB", "\rCR"])
def test_formula_cells_are_neutralised(text):
    assert io.spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["普宁商品城", "a=b", "", 3.5, -2, None])
def test_other_cells_are_unchanged(value):
    assert io.spreadsheet_safe(value) == value


def test_written_csv_has_no_formula_cells(tmp_path):
    df = pd.DataFrame(
        {"name": [*FORMULAS, "正常商户"], "minutes": [-1.5, 2.0, 3.0, 4.0, 5.0]},
    )
    path = io.write_csv(df, tmp_path / "pois.csv")
    back = pd.read_csv(path, encoding="utf-8-sig", dtype={"name": str})
    assert list(back["name"]) == ["'" + f for f in FORMULAS] + ["正常商户"]
    assert list(back["minutes"]) == [-1.5, 2.0, 3.0, 4.0, 5.0]  # numbers stay numbers
    assert list(df["name"]) == [*FORMULAS, "正常商户"]  # the table in memory is untouched


@pytest.mark.parametrize("breaks", ["\r", "\n", "\r\n"])
def test_line_breaks_inside_a_cell_keep_one_row_per_row(tmp_path, breaks):
    """A line break inside a text cell (a lone CR too) is quoted: one row stays one row."""
    import csv

    names = [f"shop{breaks}=cmd|' /C calc'!A0", f"{breaks}=1", "plain"]
    df = pd.DataFrame({"id": ["C1", "C2", "C3"], "name": names, "minutes": [1.0, 2.0, 3.0]})
    path = io.write_csv(df, tmp_path / "pois.csv")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id", "name", "minutes"] and len(rows) == 4
    assert [r[0] for r in rows[1:]] == ["C1", "C2", "C3"]
    assert rows[1][1] == names[0]  # the text as it was, break included
    assert rows[2][1] == "'" + names[1]  # starts with a break: neutralised
    for row in rows:  # no cell a spreadsheet would take as a formula
        assert not any(c.startswith(io.FORMULA_START) for c in row), row
    back = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
    assert list(back["id"]) == ["C1", "C2", "C3"]


def test_merchant_names_reach_pois_csv_neutralised(tmp_path):
    """Through the pipeline: hostile merchant names are text in every written table."""
    import csv

    from planner import pipeline
    from tests.handmade import make_network, points

    net = make_network({0: (0, 0), 1: (100, 0)}, [(0, 1)])
    fac = points([("F", 50, 10)])
    pois = points([(f"P{i}", 10 * i, 5) for i in range(len(FORMULAS))])
    pois["name"] = FORMULAS
    pois["kind"] = ["=1+1", "shop", "shop", "shop"]
    a = pipeline.analyse(net, fac, pois, bands_min=(5,), speed_kmh=4.5)
    out = tmp_path / "o"
    pipeline.write_outputs(a, out)
    for name in ("pois.csv", "coverage.csv", "facilities.csv"):
        with open(out / name, encoding="utf-8-sig", newline="") as fh:
            cells = [c for row in csv.reader(fh) for c in row]
        hostile = [c for c in cells if c.startswith(io.FORMULA_START)]
        # a number such as -1.5 is still a number; text never starts a formula
        assert all(_is_number(c) for c in hostile), (name, hostile)
    with open(out / "pois.csv", encoding="utf-8-sig", newline="") as fh:
        names = [r["name"] for r in csv.DictReader(fh)]
    assert names == ["'" + f for f in FORMULAS]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_outputs_of_the_earlier_version_are_taken_over(tmp_path):
    """An ``out/<name>`` link made before the markers existed is still the planner's."""
    runs = tmp_path / ".o.runs"
    old = runs / "20261001T101010-abcd1234"
    old.mkdir(parents=True)
    for name in _publish._LEGACY_FILES:  # the five files of that version (no gaps.geojson)
        (old / name).write_text("old", encoding="utf-8")
    (tmp_path / "o").symlink_to(os.path.join(".o.runs", old.name))
    with output_set(tmp_path / "o") as folder:
        _write_set(folder, "new")
    assert (tmp_path / "o" / "pois.csv").read_text(encoding="utf-8") == "new"
    assert not old.exists() and len(_runs(tmp_path / "o")) == 1


def test_a_published_file_the_user_edited_is_kept(tmp_path):
    """Editing out/<name>/pois.csv in place, then running again, loses no edit."""
    out = tmp_path / "o"
    with output_set(out) as folder:
        _write_set(folder, "planner")
    old_run = out.resolve()
    (out / "pois.csv").write_text("edited by hand", encoding="utf-8")
    notes: list[str] = []
    with output_set(out, notes=notes) as folder:
        _write_set(folder, "again")
    assert (old_run / "pois.csv").read_text(encoding="utf-8") == "edited by hand"
    assert {p.name for p in old_run.iterdir()} == {"pois.csv", _publish.RUN_MARK}
    assert "pois.csv" in notes[0]


def test_plain_folder_fallback_keeps_edited_files(tmp_path, monkeypatch):
    """Where symbolic links fail, files are renamed into a marked folder; an edited one
    stops the publish instead of being replaced."""

    def no_symlink(*args, **kwargs):
        raise OSError("symbolic links not supported here")

    monkeypatch.setattr(_publish.os, "symlink", no_symlink)
    out = tmp_path / "o"
    with output_set(out) as folder:
        _write_set(folder, "one")
    assert not out.is_symlink() and (out / _publish.PLAIN_MARK).is_file()
    with output_set(out) as folder:
        _write_set(folder, "two")
    assert (out / "pois.csv").read_text(encoding="utf-8") == "two"
    (out / "pois.csv").write_text("edited", encoding="utf-8")
    with pytest.raises(OutputLocationError, match="changed since"), output_set(out) as f:
        _write_set(f, "three")
    assert (out / "pois.csv").read_text(encoding="utf-8") == "edited"
    assert (out / "coverage.csv").read_text(encoding="utf-8") == "two"
    assert _runs(out) == []


def test_a_run_folder_being_created_is_never_cleaned(tmp_path):
    """Run folders are made under a hidden name and renamed once marked; another run's
    clean-up leaves hidden entries alone (the concurrent-runs test found a run whose folder
    was taken for an unmarked one of the earlier version and removed)."""
    out = tmp_path / "o"
    with output_set(out) as folder:
        _write_set(folder)
    being_made = _publish.runs_dir(out) / ".new-abcd1234"
    being_made.mkdir()
    with output_set(out) as folder:
        _write_set(folder, "b")
        assert _publish._read_mark(folder / _publish.RUN_MARK)["pid"] == os.getpid()
    assert being_made.is_dir()


@pytest.mark.slow
def test_maps_written_into_the_output_folder_go_with_its_set(tmp_path):
    """--maps-dir = --out: each run's map goes with its run; none is left behind per run."""
    from planner import pipeline
    from planner.scenario import load_scenario

    sc = load_scenario("sample")
    out = tmp_path / "o"
    for _round in range(3):
        result = pipeline.run(sc, out_dir=out, maps_dir=out)
        assert result.files["map"] == out / "sample.html"
    runs = [p for p in (tmp_path / ".o.runs").iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1 and (runs[0] / "sample.html").is_file()  # the published one only
    # a map the user changed is still never removed: its run folder is kept
    with open(out / "sample.html", "a", encoding="utf-8") as fh:
        fh.write("<!-- my note -->")
    notes: list[str] = []
    pipeline.run(sc, out_dir=out, maps_dir=out, progress=notes.append)
    assert (runs[0] / "sample.html").read_text(encoding="utf-8").endswith("<!-- my note -->")
    assert any(n.startswith(f"kept {runs[0]}") for n in notes)


@pytest.mark.slow
def test_library_writers_replace_their_own_files_and_never_a_users(sample_map_run, tmp_path):
    """save_map, save_png, save_pdf, write_workbook, write_geopackage: a user's file of the
    name is refused with one message and left as it was; the planner's own is replaced."""
    from planner import export, maps, plot, report

    writers = {
        "map.html": maps.save_map,
        "map.png": plot.save_png,
        "page.pdf": report.save_pdf,
        "book.xlsx": export.write_workbook,
        "layers.gpkg": export.write_geopackage,
    }
    r = sample_map_run
    for name, write in writers.items():
        mine = tmp_path / "mine" / name
        mine.parent.mkdir(exist_ok=True)
        mine.write_bytes(b"USER DATA, not written by the planner\n")
        with pytest.raises(OutputLocationError, match="not written by the planner"):
            write(r, mine)
        assert mine.read_bytes() == b"USER DATA, not written by the planner\n"
        ours = tmp_path / "ours" / name
        ours.parent.mkdir(exist_ok=True)
        write(r, ours)
        assert _publish.is_planner_file(ours), name  # signed where the planner signs it
        first = ours.stat().st_mtime_ns
        write(r, ours)  # the planner's own file: replaced
        assert ours.stat().st_mtime_ns >= first and _publish.is_planner_file(ours)

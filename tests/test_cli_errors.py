"""Command-line usage errors: exit 1 and one `error:` line naming the option, no usage box."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["run", "sample", "--speed-kmh", "abc"], ["--speed-kmh: 'abc' is not a number"]),
        (["run", "--speed-kmh", "4,5"], ["--speed-kmh: '4,5' is not a number"]),
        (["run", "--speed-kmh", "inf"], ["--speed-kmh: 'inf' is not a finite number"]),
        (["run", "--speed-kmh", "80"], ["--speed-kmh", "outside 0.5-10 km/h"]),
        (["run", "--speed-kmh"], ["--speed-kmh", "needs a value"]),
        (["run", "--minutes", "5,x"], ["--minutes", "'x'"]),
        (["run", "--speed", "3"], ["no such option: --speed", "--speed-kmh", "planner run --help"]),
        (["run", "sample", "extra"], ["unexpected extra argument(s): extra"]),
        (["fetch"], ["missing argument scenario"]),
        (["--bogus"], ["no such option: --bogus"]),
        (["runn"], ["no such command: 'runn'", "did you mean 'run'?"]),
        (["run", "nowhere"], ["scenario 'nowhere' not found"]),
    ],
)
def test_usage_errors_are_one_line_exit_1(cli, tmp_path, args, needles):
    result = cli(*args)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Usage:" not in result.output and "╭" not in result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["run", "--speed", "3"], ["没有选项：--speed", "--speed-kmh", "参见"]),
        (["run", "--speed-kmh"], ["--speed-kmh", "需要一个值"]),
        (["run", "--strict=yes"], ["--strict", "不接受值"]),
        (["run", "sample", "extra"], ["多余的参数", "extra"]),
        (["fetch"], ["缺少参数", "scenario"]),
        (["runn"], ["没有命令", "'run'"]),
        (["region", "r.toml", "--workers", "0"], ["--workers", "应不小于 1"]),
        (["region", "r.toml", "--workers", "x"], ["--workers", "应为整数"]),
        (["region", "r.toml", "--scheduler", "foo"], ["--scheduler 'foo'", "serial"]),
    ],
)
def test_usage_errors_are_said_in_chinese(cli, tmp_path, args, needles):
    """The parser's own messages (English in it) are said in the chosen language too."""
    result = cli("--lang", "zh", *args)
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    for needle in needles:
        assert needle in line, line
    english = ("No such", "Missing", "requires an argument", "Got unexpected", "Input should")
    assert not any(word in line for word in english), line


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["fetch", "--help"], []])
def test_help_still_works(cli, args):
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout and "error" not in result.stderr


@pytest.mark.slow
def test_real_process_reports_a_bad_number_in_one_line(tmp_path):
    """A real process: exactly one line on stderr, nothing on stdout, no files."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    p = subprocess.run(
        [sys.executable, "-m", "planner", "run", "sample", "--speed-kmh", "abc"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert p.returncode == 1
    assert p.stderr == "error: --speed-kmh: 'abc' is not a number\n" and p.stdout == ""
    assert not any(tmp_path.iterdir())

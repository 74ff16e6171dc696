"""A normal (non-editable) install from a built wheel runs the bundled sample from anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_FILES = {
    "README.md",
    "sample/README.md",
    "sample/facilities.csv",
    "sample/origins.csv",
    "sample/scenario.toml",
    "sample/shenzhen_nanshan_science_park_2021-03.osm",
    "liusha/README.md",
    "liusha/facilities.csv",
    "liusha/puning_reference_points.csv",
    "liusha/scenario.toml",
    "sample_region/areas.geojson",
    "sample_region/region.toml",
}
_SKIP = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "cache", ".graph-cache")


def _run(args: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess:
    p = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs
    )
    assert p.returncode == 0, f"{args}\n{p.stdout}\n{p.stderr}"
    return p


def _copy_source(dst: Path) -> Path:
    """Copy the working tree's files (tracked or not ignored) so no build output lands in it."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(*_SKIP))
        return dst
    for rel in filter(None, listed.split("\0")):
        if (ROOT / rel).is_file():  # deleted but still tracked: skip
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dst / rel)
    return dst


def _bundled(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    return {n.removeprefix("planner/_data/") for n in names if n.startswith("planner/_data/")}


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.slow
def test_wheel_install_runs_the_sample_from_another_folder(tmp_path: Path) -> None:
    """Build sdist and wheels as pip does, install one into a fresh venv, run ``planner``.

    The venv gets the wheel by ``pip --python NEWVENV install --no-deps`` (a normal install:
    files, RECORD, console script), then a ``.pth`` line pointing at this venv's site-packages
    for the dependencies. Python does not read ``.pth`` files inside a folder added that way,
    so this venv's editable-install finder stays inactive and ``planner`` can only come
    from the wheel.
    """
    if int(version("setuptools").split(".")[0]) < 77:
        pytest.fail(
            f"setuptools {version('setuptools')} is too old to build this project without "
            "build isolation (needs >=77): run `.venv/bin/pip install -e '.[test]'` again",
            pytrace=False,
        )
    py = sys.executable
    build_existed = (ROOT / "build").exists()
    src = _copy_source(tmp_path / "src")
    dist = tmp_path / "dist"
    # sdist through the PEP 517 hook (what `python -m build --sdist` calls)
    _run(
        [py, "-c", f"from setuptools import build_meta as b; b.build_sdist({str(dist)!r})"],
        cwd=src,
    )
    (sdist,) = dist.glob("*.tar.gz")
    pip = [py, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    wheel_args = ["wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    _run([*pip, *wheel_args, "-w", tmp_path / "from-tree", src])  # what `pip install .` does
    _run([*pip, *wheel_args, "-w", tmp_path / "from-sdist", sdist])
    (tree_wheel,) = (tmp_path / "from-tree").glob("*.whl")
    (wheel,) = (tmp_path / "from-sdist").glob("*.whl")
    assert _bundled(wheel) == _bundled(tree_wheel) == SCENARIO_FILES
    for built in (wheel, tree_wheel):  # the compiled Chinese catalogue ships in the package
        with zipfile.ZipFile(built) as zf:
            assert "planner/locale/zh_CN/LC_MESSAGES/planner.mo" in zf.namelist()

    venv = tmp_path / "venv"
    _run([py, "-m", "venv", "--without-pip", venv])
    vpy = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    _run([*pip, "--python", vpy, "install", "-q", "--no-deps", "--no-index", wheel])
    site = Path(
        _run(
            [vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    installed_before = _files(site / "planner")
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "_project_deps.pth").write_text("\n".join(sorted(ours)) + "\n", encoding="utf-8")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PLANNER_CACHE_DIR=str(tmp_path / "user-cache"), PYTHONNOUSERSITE="1")
    env["PYTHONWARNINGS"] = "ignore"
    where = _run(
        [
            vpy,
            "-c",
            "import planner, planner.scenario as s; print(planner.__file__); print(s.DATA_DIR);"
            "print(s.load_scenario('liusha').cache_dir)",
        ],
        cwd=elsewhere,
        env=env,
    ).stdout.splitlines()
    assert Path(where[0]).parent == site / "planner"
    assert Path(where[1]) == site / "planner" / "_data"
    assert Path(where[2]) == tmp_path / "user-cache" / "scenarios" / "liusha"

    script = venv / ("Scripts/planner.exe" if os.name == "nt" else "bin/planner")
    zh = {**env, "LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": ""}
    assert "便民生活圈规划工具" in _run([script, "--help"], cwd=elsewhere, env=zh).stdout
    run = _run([script, "run", "sample", "--out", "o", "--maps-dir", "m"], cwd=elsewhere, env=env)
    assert "sample:" in run.stdout
    assert (elsewhere / "o" / "coverage.csv").is_file()
    assert (elsewhere / "m" / "sample.html").is_file()
    # the network cache went to the user cache, nothing into the installed package
    assert list((tmp_path / "user-cache" / "networks").glob("*.planner-cache.npz"))
    assert _files(site / "planner") == installed_before
    assert (ROOT / "build").exists() == build_existed  # nothing built in the source tree

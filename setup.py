"""Build hook: copy the bundled scenarios from the top-level ``data/`` into ``planner/_data``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: Folder names (anywhere under data/) that hold caches, never scenario inputs.
SKIP_DIRS = {"cache", "__pycache__"}


def tracked_files(data: Path) -> set[Path] | None:
    """Return the git-tracked files under `data` (relative to it), or None outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", "."],
            cwd=data,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {Path(p) for p in out.decode("utf-8", "surrogateescape").split("\0") if p}


def scenario_files(data: Path) -> list[Path]:
    """List the files of the bundled scenarios, relative to `data`.

    ``data/README.md`` and every file under a ``data/<name>/`` that holds a
    ``scenario.toml`` (or a ``region.toml``: a region for ``planner region``); hidden files
    and folders (``.graph-cache/``…) and ``cache/`` folders (downloads of ``planner fetch``)
    are left out. In a git checkout only tracked files count; an sdist (no ``.git``) holds
    only what ``MANIFEST.in`` let in, by the same rules.

    Parameters
    ----------
    data
        The top-level ``data/`` folder.

    Returns
    -------
    files
        Relative paths, sorted.
    """
    if not data.is_dir():
        return []
    found = [Path(p.name) for p in data.iterdir() if p.is_file() and not p.name.startswith(".")]
    for scenario in sorted(data.iterdir()):
        bundled = (scenario / "scenario.toml").is_file() or (scenario / "region.toml").is_file()
        if not bundled or scenario.name.startswith("."):
            continue
        for path in scenario.rglob("*"):
            rel = path.relative_to(data)
            parts = rel.parts
            if any(p.startswith(".") or p in SKIP_DIRS for p in parts[:-1]):
                continue
            if path.is_file() and not parts[-1].startswith(".") and path.suffix != ".pyc":
                found.append(rel)
    tracked = tracked_files(data)
    if tracked is not None:
        found = [rel for rel in found if rel in tracked]
    return sorted(found)


class BuildPyWithData(build_py):
    """``build_py`` that also copies ``data/`` scenario files into ``<build>/planner/_data``.

    An editable install (``pip install -e .``) copies nothing: the package then finds the
    repository's own ``data/``.
    """

    def run(self) -> None:
        """Build the package, then add the scenario files."""
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for rel in scenario_files(HERE / "data"):
            dst = Path(self.build_lib) / "planner" / "_data" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / "data" / rel, dst)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        """Files this command writes, the scenario files included."""
        outputs = list(super().get_outputs(include_bytecode))
        if not getattr(self, "editable_mode", False):
            base = Path(self.build_lib) / "planner" / "_data"
            outputs += [str(base / rel) for rel in scenario_files(HERE / "data")]
        return outputs


setup(cmdclass={"build_py": BuildPyWithData})

"""Copies of the sample scenario for tests (a helper module, not a test module)."""

from __future__ import annotations

import shutil
from pathlib import Path

from planner.scenario import DATA_DIR

__all__ = ["OSM", "SAMPLE", "edited", "sample_text", "write_scenario"]

SAMPLE = DATA_DIR / "sample"
OSM = SAMPLE / "shenzhen_nanshan_science_park_2021-03.osm"


def sample_text() -> str:
    """The sample scenario with its (large) network file referenced by absolute path."""
    text = (SAMPLE / "scenario.toml").read_text(encoding="utf-8")
    return text.replace(f'path = "{OSM.name}"', f'path = "{OSM.as_posix()}"')


def write_scenario(folder: Path, text: str) -> Path:
    """Write `text` as folder/scenario.toml beside a copy of the sample facilities."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE / "facilities.csv", folder / "facilities.csv")
    shutil.copy(SAMPLE / "origins.csv", folder / "origins.csv")
    path = folder / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def edited(old: str, new: str) -> str:
    """The sample scenario's text with `old` replaced by `new` once (which must be there)."""
    text = sample_text()
    assert old in text, old
    return text.replace(old, new, 1)

"""Copies of the sample scenario for tests (a helper module, not a test module)."""

from __future__ import annotations

import shutil
from pathlib import Path

from planner.scenario import DATA_DIR

__all__ = ["OSM", "SAMPLE", "edited", "sample_reach", "sample_text", "write_scenario"]

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


def sample_reach() -> tuple:
    """The sample's network, node reach of its 6 facilities, their anchors and bands (m)."""
    import pandas as pd

    from planner import inputs, pipeline, reach
    from planner.scenario import load_scenario
    from planner.snap import snap_points

    scenario = load_scenario("sample")
    network = inputs.load_network(scenario)
    fac = inputs.load_facilities(scenario)
    settings = scenario.settings()
    bands = [b * settings.metres_per_minute for b in settings.bands_min]
    x, y = pipeline.to_network_xy(network, fac["lon"].to_numpy(), fac["lat"].to_numpy())
    ids = pd.unique(fac["id"])
    sources = reach.Anchors.from_snapped(
        snap_points(network, x, y, 300.0), pd.Index(ids).get_indexer(fac["id"])
    )
    node = reach.node_reach(network, sources, len(ids), max(bands))
    return network, node, sources, bands

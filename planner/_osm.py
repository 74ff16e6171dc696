"""Temporary osmnx settings, put back as they were even when the call inside fails."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def osmnx_settings(**values: Any) -> Iterator[None]:
    """Set ``osmnx.settings`` attributes for the duration of a ``with`` block.

    Parameters
    ----------
    **values
        Setting name -> value, e.g. ``use_cache=True, cache_folder="cache/http"``.

    Yields
    ------
    None
        On exit (normal or by an exception) every setting named gets back the object it
        held before, so the caller's own osmnx configuration is left as it was.

    Raises
    ------
    AttributeError
        When a name is not an osmnx setting (nothing is changed then).
    """
    import osmnx as ox  # here: importing planner._osm stays light

    unknown = sorted(k for k in values if not hasattr(ox.settings, k))
    if unknown:
        raise AttributeError(f"not osmnx settings: {', '.join(unknown)}")
    saved = {name: getattr(ox.settings, name) for name in values}
    try:
        for name, value in values.items():
            setattr(ox.settings, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(ox.settings, name, value)

"""Temporary osmnx settings (put back even when the call inside fails), and Overpass probing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from planner._errors import NetworkUnavailableError
from planner._i18n import _


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


#: Seconds the probe of Overpass's status endpoint waits for an answer (`overpass_session`).
PROBE_TIMEOUT_S = 15.0


def overpass_unreachable(timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Why Overpass cannot be reached from this machine, or None when it answers.

    One GET of the status endpoint of ``osmnx.settings.overpass_url`` through requests, as
    osmnx sends it (``settings.requests_kwargs``, so a proxy set there or in the
    environment is used), waiting at most `timeout_s`. Only a failed connection (no name
    resolution, refused, no route, no TLS, no connection within `timeout_s`) counts as
    unreachable: any HTTP answer, or a connection whose answer is slow, is left to osmnx.

    Parameters
    ----------
    timeout_s
        Seconds to wait for the connection and for the answer.

    Returns
    -------
    why
        None, or the error in one line (its type and message).
    """
    import osmnx as ox
    import requests

    url = ox.settings.overpass_url.rstrip("/") + "/status"
    try:
        requests.get(url, **{**ox.settings.requests_kwargs, "timeout": timeout_s})
    except requests.ConnectionError as exc:  # ConnectTimeout and SSLError included
        return f"{type(exc).__name__}: {exc}"
    except requests.RequestException:
        return None
    return None


@contextlib.contextmanager
def overpass_session(cache_folder: str, what: str) -> Iterator[None]:
    """Set osmnx up for one download of `what` from Overpass, cached in `cache_folder`.

    osmnx asks Overpass's status endpoint how long to pause before each query and, when
    that endpoint cannot be reached, sleeps 60 s and then sends the query anyway: on a
    machine without internet access, a minute or more of silence before an error. So the
    endpoint is probed first (`overpass_unreachable`), and when it cannot be reached the
    download stops at once with one line saying so and what to use instead.

    Parameters
    ----------
    cache_folder
        Folder of osmnx's HTTP response cache.
    what
        What is downloaded, for the error message (e.g. "the street network").

    Raises
    ------
    NetworkUnavailableError
        Overpass cannot be reached from this machine.
    """
    why = overpass_unreachable()
    if why is not None:
        raise NetworkUnavailableError(unreachable_message(what, why))
    with osmnx_settings(use_cache=True, cache_folder=cache_folder):
        yield


def unreachable_message(what: str, why: str) -> str:
    """One line: `what` could not be downloaded because Overpass cannot be reached (`why`)."""
    import osmnx as ox

    return _(
        "could not download {what}: Overpass ({url}) cannot be reached from this machine "
        "({why}). Without internet access, use an OSM file instead: `planner run SCENARIO "
        "--osm FILE` (OSM XML or a regional .osm.pbf), or [network] source and path in "
        "scenario.toml"
    ).format(what=what, url=ox.settings.overpass_url, why=why)

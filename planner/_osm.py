"""Temporary osmnx settings (put back even when the call inside fails), and Overpass probing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
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


def _status_usable(text: str) -> bool:
    """Whether an answer of Overpass's status endpoint is one osmnx can read its pause from.

    osmnx reads the fifth line: a number of free slots, or ``Slot available after: ...``;
    anything else (an error page, a gateway's answer) makes it pause 60 s before each query.
    """
    lines = text.split("\n")
    first = lines[4].split(" ")[0] if len(lines) > 4 else ""
    return first.isdigit() or first == "Slot"


def probe_overpass(timeout_s: float = PROBE_TIMEOUT_S) -> tuple[str | None, bool]:
    """Probe Overpass's status endpoint once: why it cannot be reached, and its status.

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
    why, usable
        None or the error in one line (its type and message); and whether the endpoint
        answered a status osmnx can read its pause from (`_status_usable`).
    """
    import osmnx as ox
    import requests

    url = ox.settings.overpass_url.rstrip("/") + "/status"
    try:
        response = requests.get(url, **{**ox.settings.requests_kwargs, "timeout": timeout_s})
    except requests.ConnectionError as exc:  # ConnectTimeout and SSLError included
        return f"{type(exc).__name__}: {exc}", False
    except requests.RequestException:
        return None, False
    return None, response.ok and _status_usable(response.text)


def overpass_unreachable(timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Why Overpass cannot be reached from this machine, or None when it answers.

    See `probe_overpass`.
    """
    return probe_overpass(timeout_s)[0]


#: 429 (too many requests) or 504 (gateway timeout) answers in a row before a download
#: stops (osmnx itself waits 55 s and asks again, without end).
MAX_BUSY_ANSWERS = 3


def _first_line(text: str, limit: int = 160) -> str:
    """The first line of a text with words, tags stripped, cut to `limit` characters."""
    import re

    plain = re.sub(r"<[^>]*>", " ", text)
    for line in plain.splitlines():
        line = " ".join(line.split())
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


class OverpassAnswerError(NetworkUnavailableError):
    """Overpass answered, but not with complete data (busy, an error, a partial answer)."""


class _AnswerCheck:
    """A requests response hook that refuses Overpass answers osmnx would take or loop on.

    - HTTP 429/504: osmnx waits 55 s and asks again with no end; each one is said on the
      progress line, and after `MAX_BUSY_ANSWERS` in a row the download stops.
    - Any other HTTP error, or an answer that is not JSON: one line naming the status and
      the answer's first line (osmnx would report it as an empty answer).
    - A JSON answer with a ``remark`` (Overpass ran out of time or memory and sent what it
      had): a partial answer, refused, so no partial network or merchant list is kept.
    """

    def __init__(self, what: str, progress: Callable[[str], None]) -> None:
        self.what = what
        self.progress = progress
        self.busy = 0

    def __call__(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        if str(response.url).rstrip("/").endswith("/status"):
            return response  # osmnx's status requests (it reads them itself)
        if response.is_redirect or 300 <= response.status_code < 400:
            return response  # requests follows it; the answer at its end is checked
        hint = _("try again later, or use an OSM file: `planner run SCENARIO --osm FILE`")
        code = response.status_code
        if code in (429, 504):
            self.busy += 1
            if self.busy >= MAX_BUSY_ANSWERS:
                raise OverpassAnswerError(
                    _(
                        "could not download {what}: Overpass is busy (HTTP {code}, {count} "
                        "answers in a row); {hint}"
                    ).format(what=self.what, code=code, count=self.busy, hint=hint)
                )
            self.progress(
                _(
                    "Overpass is busy (HTTP {code}): asking again in 55 s (attempt {next} of "
                    "{most})"
                ).format(code=code, next=self.busy + 1, most=MAX_BUSY_ANSWERS)
            )
            return response
        self.busy = 0
        if not response.ok:
            raise OverpassAnswerError(
                _(
                    "could not download {what}: Overpass answered HTTP {code} ({text}); {hint}"
                ).format(
                    what=self.what,
                    code=code,
                    text=_first_line(response.text) or response.reason,
                    hint=hint,
                )
            )
        try:
            answer = response.json()
        except ValueError:
            raise OverpassAnswerError(
                _(
                    "could not download {what}: Overpass's answer is not JSON ({text}); {hint}"
                ).format(what=self.what, text=_first_line(response.text), hint=hint)
            ) from None
        if isinstance(answer, dict) and answer.get("remark"):
            raise OverpassAnswerError(
                _(
                    "could not download {what}: Overpass did not finish the query and sent "
                    "part of the data ({remark}); nothing was kept; {hint}"
                ).format(what=self.what, remark=_first_line(str(answer["remark"])), hint=hint)
            )
        return response


def drop_bad_answers(cache_folder: str | Path) -> list[Path]:
    """Delete answers in osmnx's HTTP cache that must not be reused.

    osmnx keeps any answer that is not an error, and reads a cached answer back without
    asking Overpass again: an empty answer (a lagging server) would fail every later
    download the same way, and a file cut short (osmnx writes them in place; a killed
    process or a full disk) would fail to read. Those are deleted, so the next download
    asks Overpass again.

    Parameters
    ----------
    cache_folder
        The folder the planner gives osmnx as its HTTP cache.

    Returns
    -------
    deleted
        The files deleted.
    """
    import json
    import re

    deleted: list[Path] = []
    folder = Path(cache_folder)
    if not folder.is_dir():
        return deleted
    for path in folder.iterdir():
        if not re.fullmatch(r"[0-9a-f]{40}\.json", path.name):
            continue  # only osmnx's answers (<sha1 of the URL>.json)
        try:
            answer = json.loads(path.read_text(encoding="utf-8"))
            good = isinstance(answer, dict) and bool(answer.get("elements"))
        except (OSError, ValueError):
            good = False
        if not good:
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted


#: Environment variable naming the Overpass API to use (a mirror, or one on an intranet).
OVERPASS_URL_ENV = "PLANNER_OVERPASS_URL"


def overpass_url(url: str | None = None) -> str:
    """The Overpass API a download uses: `url`, else ``$PLANNER_OVERPASS_URL``, else osmnx's.

    Parameters
    ----------
    url
        An address given for this download (``planner fetch --overpass-url``), e.g.
        ``https://overpass.kumi.systems/api``.
    """
    import os

    import osmnx as ox

    chosen = (url or os.environ.get(OVERPASS_URL_ENV, "")).strip()
    return chosen.rstrip("/") if chosen else str(ox.settings.overpass_url)


@contextlib.contextmanager
def overpass_session(
    cache_folder: str,
    what: str,
    progress: Callable[[str], None] = lambda _text: None,
    url: str | None = None,
) -> Iterator[None]:
    """Set osmnx up for one download of `what` from Overpass, cached in `cache_folder`.

    osmnx asks Overpass's status endpoint how long to pause before each query and, when
    that endpoint cannot be reached, sleeps 60 s and then sends the query anyway: on a
    machine without internet access, a minute or more of silence before an error. So the
    endpoint is probed first (`probe_overpass`), and when it cannot be reached the
    download stops at once with one line saying so and what to use instead; when it
    answers with something osmnx cannot read a pause from, osmnx's pause is turned off
    instead of lasting 60 s. Answers are checked as they come (`_AnswerCheck`: busy,
    errors, partial answers), and cached answers that must not be reused are deleted
    first (`drop_bad_answers`).

    Parameters
    ----------
    cache_folder
        Folder of osmnx's HTTP response cache.
    what
        What is downloaded, for the error message (e.g. "the street network").
    progress
        Receives a line each time Overpass answers that it is busy.
    url
        The Overpass API to use (`overpass_url`: this, ``$PLANNER_OVERPASS_URL`` or osmnx's).

    Raises
    ------
    NetworkUnavailableError
        Overpass cannot be reached from this machine.
    """
    with osmnx_settings(overpass_url=overpass_url(url)):
        why, usable = probe_overpass()
        if why is not None:
            raise NetworkUnavailableError(unreachable_message(what, why))
        with _session(cache_folder, what, progress, usable):
            yield


@contextlib.contextmanager
def _session(
    cache_folder: str, what: str, progress: Callable[[str], None], usable: bool
) -> Iterator[None]:
    """Osmnx's cache and answer checks for one download (see `overpass_session`)."""
    import osmnx as ox

    drop_bad_answers(cache_folder)
    kwargs = dict(ox.settings.requests_kwargs)
    hooks = dict(kwargs.get("hooks") or {})
    theirs = hooks.get("response", [])
    theirs = list(theirs) if isinstance(theirs, (list, tuple)) else [theirs]
    hooks["response"] = [*theirs, _AnswerCheck(what, progress)]
    kwargs["hooks"] = hooks
    settings: dict[str, Any] = {
        "use_cache": True,
        "cache_folder": cache_folder,
        "requests_kwargs": kwargs,
    }
    if not usable:
        settings["overpass_rate_limit"] = False
    with osmnx_settings(**settings):
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

"""Per-network memo: derived arrays built on first use and kept while the network lives."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_MEMO: dict[tuple[int, str], tuple[weakref.ref[Any], Any]] = {}


def memo(network: Any, name: str, build: Callable[[], T]) -> T:
    """Return ``build()`` for this network object, computed once and dropped with it.

    Parameters
    ----------
    network
        Any weak-referenceable object (a `planner.StreetNetwork`).
    name
        What is kept (one value per network and name).
    build
        Computes the value.

    Returns
    -------
    value
        The kept value.
    """
    key = (id(network), name)
    hit = _MEMO.get(key)
    if hit is not None and hit[0]() is network:
        value: T = hit[1]
        return value
    value = build()
    _MEMO[key] = (weakref.ref(network, lambda _: _MEMO.pop(key, None)), value)
    return value

"""Modules a dependency imports at start-up but a run rarely uses, imported on first use."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any


class _Deferred(ModuleType):
    """Stands in ``sys.modules`` for a module until one of its attributes is read."""

    def __getattr__(self, attr: str) -> Any:
        real = self.__dict__.get("_deferred_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            self.__dict__["_deferred_real"] = real
        return getattr(real, attr)


def defer(name: str) -> ModuleType | None:
    """Put a stand-in for module `name` in ``sys.modules``, unless it is imported already.

    An ``import name`` that follows (for example folium's ``import requests``, used only to
    fetch a GeoJSON given as a URL) gets the stand-in at once; the real module is imported
    when an attribute of the stand-in is first read, and every later read goes to it. A
    module that cannot be found is left alone, so the import that follows fails as it would
    have. (`importlib.util.LazyLoader` does not help here: on Python 3.11 the ``import``
    statement itself reads ``__spec__`` and so runs the module at once.)

    Parameters
    ----------
    name
        Absolute name of a top-level module.

    Returns
    -------
    module
        The stand-in now in ``sys.modules``, or None when `name` was imported already or
        was not found.
    """
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return None
    module = _Deferred(name)
    sys.modules[name] = module
    return module

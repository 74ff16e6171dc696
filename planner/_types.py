"""Small types shared by the steps: the progress callback."""

from __future__ import annotations

from collections.abc import Callable

#: A callback receiving one line per step (the CLI prints them to stderr).
Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """A `Progress` that says nothing."""
    return None

"""Exceptions raised for problems a user can fix."""

from __future__ import annotations


class PlannerError(Exception):
    """A problem with the user's input or environment, reported as one line, no traceback."""


class ScenarioError(PlannerError):
    """The scenario file is missing, unreadable or inconsistent."""


class NetworkUnavailableError(PlannerError):
    """The street network is neither cached nor downloadable."""

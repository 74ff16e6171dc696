"""Colours, line weights and the band rule shared by the HTML map and the PNG."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import overload

import numpy as np
import numpy.typing as npt

__all__ = [
    "BAND_COLOURS",
    "BAND_TOLERANCE",
    "BEYOND_COLOUR",
    "DEFAULT_ROAD_WEIGHT",
    "FACILITY_COLOUR",
    "FACILITY_EDGE_COLOUR",
    "NOT_ROUTED_COLOUR",
    "PIECE_COLOUR",
    "POI_EDGE_COLOUR",
    "PROPOSAL_COLOUR",
    "ROAD_WEIGHTS",
    "STREET_COLOUR",
    "band_colour",
    "band_index",
    "palette",
    "poi_colour",
    "road_weight",
    "within_band",
]

#: Fill colours of the bands, innermost first (bands past the fifth reuse the last).
BAND_COLOURS = ("#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#fee08b")
#: POIs beyond the largest band.
BEYOND_COLOUR = "#d73027"
#: POIs not routed or unreachable.
NOT_ROUTED_COLOUR = "#7f7f7f"
#: Facility entrances (fill) and the ring around them.
FACILITY_COLOUR = "#2c3e91"
FACILITY_EDGE_COLOUR = "#ffffff"
#: Outline of a POI dot.
POI_EDGE_COLOUR = "#333333"
#: Streets of the walk network.
STREET_COLOUR = "#8a8f98"
#: Streets of dropped (disconnected) pieces and the access legs that skipped them.
PIECE_COLOUR = "#c51b7d"
#: What a proposal changes on its comparison map: new links, closed, moved and added facilities.
PROPOSAL_COLOUR = "#e66101"

#: Line weight (map pixels) of the main road classes; every other street gets the default.
ROAD_WEIGHTS: dict[str, float] = {
    "primary": 3.0,
    "secondary": 2.6,
    "tertiary": 2.2,
    "trunk": 3.0,
    "motorway": 3.0,
}
DEFAULT_ROAD_WEIGHT = 1.2

#: Relative tolerance of the band rule: a time within ``BAND_TOLERANCE * max(band, 1)`` of a
#: band's limit counts as inside it (so 15.000000001 min is in the 15-minute band).
BAND_TOLERANCE = 1e-9


def road_weight(highway: object) -> float:
    """Line weight of a street by its OSM ``highway`` value.

    The first of several values (``"primary/secondary"``) decides, and a ``*_link`` counts
    as its road (``"primary_link"`` is drawn like ``"primary"``).

    Parameters
    ----------
    highway
        The edge's ``highway`` tag (any value; lists are joined with ``/`` by the loader).

    Returns
    -------
    weight
        A weight from `ROAD_WEIGHTS`, else `DEFAULT_ROAD_WEIGHT`.
    """
    main = str(highway).split("/")[0].replace("_link", "")
    return ROAD_WEIGHTS.get(main, DEFAULT_ROAD_WEIGHT)


@overload
def within_band(minutes: float, band_min: float) -> bool: ...
@overload
def within_band(minutes: npt.ArrayLike, band_min: float) -> npt.NDArray[np.bool_]: ...
def within_band(minutes: npt.ArrayLike, band_min: float) -> bool | npt.NDArray[np.bool_]:
    """Whether walking times fall inside a band: THE band rule of the planner.

    A time is inside band ``b`` when ``minutes <= b + BAND_TOLERANCE * max(b, 1)``, so that
    rounding in the distance sums never pushes a point on a band's edge out of it.

    Parameters
    ----------
    minutes
        One time or an array of times (NaN, None and infinity are never inside).
    band_min
        The band's limit in minutes.

    Returns
    -------
    inside
        A bool for a scalar, else a boolean array of the same shape.
    """
    b = float(band_min)
    m = np.asarray(minutes, dtype=float)
    with np.errstate(invalid="ignore"):
        out = np.isfinite(m) & (m <= b + BAND_TOLERANCE * max(b, 1.0))
    return bool(out) if out.ndim == 0 else out


@overload
def band_index(minutes: float | None, bands_min: Iterable[float]) -> int: ...
@overload
def band_index(minutes: npt.ArrayLike, bands_min: Iterable[float]) -> npt.NDArray[np.intp]: ...
def band_index(
    minutes: npt.ArrayLike | None, bands_min: Iterable[float]
) -> int | npt.NDArray[np.intp]:
    """Which band walking times fall in, by the rule of `within_band`.

    Parameters
    ----------
    minutes
        One time or an array of times.
    bands_min
        Band limits in minutes, in any order.

    Returns
    -------
    index
        Index into the ascending bands of the smallest band containing each time;
        ``len(bands)`` when beyond every band; ``len(bands) + 1`` when not finite (not
        routed, unreachable, None). These are the positions in `palette`. An int for a
        scalar, else an integer array of the same shape.
    """
    bands = np.sort(np.asarray(list(bands_min), dtype=float))
    limits = bands + BAND_TOLERANCE * np.maximum(bands, 1.0)
    m = np.asarray(minutes, dtype=float)
    finite = np.isfinite(m)
    # first limit >= minutes, i.e. the smallest band with minutes <= its limit
    idx = np.searchsorted(limits, np.where(finite, m, 0.0), side="left")
    out = np.where(finite, idx, len(bands) + 1)
    return int(out) if out.ndim == 0 else out


def palette(bands_min: Sequence[float]) -> list[str]:
    """Colours indexed by `band_index`: one per band, then beyond, then not routed.

    Parameters
    ----------
    bands_min
        Band limits (only their number matters).

    Returns
    -------
    colours
        ``len(bands_min) + 2`` hex colours.
    """
    n = len(bands_min)
    return [BAND_COLOURS[min(i, len(BAND_COLOURS) - 1)] for i in range(n)] + [
        BEYOND_COLOUR,
        NOT_ROUTED_COLOUR,
    ]


def poi_colour(minutes: float | None, bands_min: Sequence[float]) -> str:
    """Colour of a POI by its walking minutes to the nearest facility.

    Parameters
    ----------
    minutes
        Walking minutes (NaN or None when not routed or unreachable).
    bands_min
        Band limits, in any order.

    Returns
    -------
    colour
        The band's colour, `BEYOND_COLOUR` or `NOT_ROUTED_COLOUR`.
    """
    return palette(bands_min)[band_index(minutes, bands_min)]


def band_colour(band_min: float, bands_min: Sequence[float]) -> str:
    """Fill colour of a band polygon.

    Parameters
    ----------
    band_min
        The band's limit in minutes.
    bands_min
        All band limits, in any order.

    Returns
    -------
    colour
        Hex colour (innermost band darkest green); a limit not in `bands_min` gets the first.
    """
    bands = sorted(bands_min)
    i = bands.index(band_min) if band_min in bands else 0
    return BAND_COLOURS[min(i, len(BAND_COLOURS) - 1)]

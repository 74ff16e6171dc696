"""Shared by the band polygon tests: the area closeness check and hand-made network G."""

from __future__ import annotations

import shapely


def within(a: shapely.Geometry, b: shapely.Geometry, bound: float) -> bool:
    """Whether every point of `a` lies within `bound` of `b` (b's buffer drawn outside)."""
    # 64 segments per quarter circle: the drawn buffer lies inside the true one by < 1 mm
    grown = shapely.buffer(b, bound, quad_segs=64)
    return shapely.area(shapely.difference(a, grown)) < 1e-6


def close(a: shapely.Geometry, b: shapely.Geometry, bound: float) -> bool:
    """Hausdorff distance of the two areas at most `bound`."""
    return within(a, b, bound) and within(b, a, bound)


# Network G: a 3 x 3 block grid of 120 m blocks with a diagonal, a dead end and a bend.
G_NODES = {
    (i, j): (120.0 * i + (7.0 if (i, j) == (1, 1) else 0.0), 120.0 * j)
    for i in range(4)
    for j in range(4)
}
G_NODES[(9, 9)] = (430.0, 200.0)  # dead-end spur off (3, 2)
G_IDS = {key: n for n, key in enumerate(G_NODES)}
G_EDGES = [
    (G_IDS[(i, j)], G_IDS[(i + 1, j)]) for i in range(3) for j in range(4) if (i, j) != (1, 2)
] + [(G_IDS[(i, j)], G_IDS[(i, j + 1)]) for i in range(4) for j in range(3)]
G_EDGES += [(G_IDS[(0, 0)], G_IDS[(1, 1)]), (G_IDS[(3, 2)], G_IDS[(9, 9)])]
FAC_G = [("F", 65, 8), ("F", 250, 130), ("K", 370, 370)]
POIS_G = [("P1", 100, 60), ("P2", 300, 10), ("P3", 10, 350), ("P4", 425, 205)]

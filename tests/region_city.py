"""A generated region for the region tests and benchmark: the seeded synthetic city as an OSM
file, a grid of study areas (polygons and points with a radius), facilities and merchants.

A test-support module (not a test module). Everything here is generated and says so: the
city is `tests.synthetic.synthetic_network`, not a real place.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import osmium
from pyproj import Transformer

from tests.synthetic import random_points, synthetic_network

__all__ = ["write_city_osm", "write_region"]


def write_city_osm(network, path: Path) -> Path:
    """Write a StreetNetwork as an OSM file (PBF or XML by its name): one way per edge.

    Node ids are the network's; a bent edge's middle vertex becomes a node of its own.
    """
    to_wgs = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(network.node_x, network.node_y)
    next_id = int(network.node_ids.max()) + 1
    nodes = [
        (int(i), float(x), float(y)) for i, x, y in zip(network.node_ids, lon, lat, strict=True)
    ]
    ways = []
    for k, geom in enumerate(network.edge_geometry):
        refs = [int(network.node_ids[network.edge_u[k]])]
        coords = np.asarray(geom.coords)
        for cx, cy in coords[1:-1]:
            mlon, mlat = to_wgs.transform(cx, cy)
            nodes.append((next_id, float(mlon), float(mlat)))
            refs.append(next_id)
            next_id += 1
        refs.append(int(network.node_ids[network.edge_v[k]]))
        tags = {"highway": str(network.edge_highway[k])}
        if network.edge_name[k]:
            tags["name"] = str(network.edge_name[k])
        ways.append((k + 1, refs, tags))
    nodes.sort()
    path.unlink(missing_ok=True)
    with osmium.SimpleWriter(str(path)) as writer:
        for nid, x, y in nodes:
            writer.add_node(osmium.osm.mutable.Node(id=nid, location=(x, y), version=1))
        for wid, refs, tags in ways:
            writer.add_way(osmium.osm.mutable.Way(id=wid, nodes=refs, tags=tags, version=1))
    return path


def write_region(
    folder: Path,
    *,
    side: int = 10,
    area_m: float = 250.0,
    n_nodes: int = 2500,
    n_facilities: int = 40,
    n_pois: int = 1500,
    bands: str = "[2, 4]",
    snap_limit_m: float = 100.0,
    seed: int = 7,
    source: str = "pbf",
) -> Path:
    """Write a generated region: city OSM file, side × side areas, facilities, merchants.

    The areas tile the middle of the city (so some facilities stand outside every area and
    reach in); every seventh area is a point with a radius instead of a square.

    Returns
    -------
    path
        The region.toml.
    """
    folder.mkdir(parents=True, exist_ok=True)
    network = synthetic_network(n_nodes, seed=seed)
    osm_name = "city.osm.pbf" if source == "pbf" else "city.osm"
    write_city_osm(network, folder / osm_name)
    to_wgs = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True)
    cx = (network.node_x.min() + network.node_x.max()) / 2
    cy = (network.node_y.min() + network.node_y.max()) / 2
    x0, y0 = cx - side * area_m / 2, cy - side * area_m / 2
    features = []
    for i in range(side):
        for j in range(side):
            k = i * side + j
            a, b = x0 + j * area_m, y0 + i * area_m
            if k % 7 == 3:
                lon, lat = to_wgs.transform(a + area_m / 2, b + area_m / 2)
                geometry = {"type": "Point", "coordinates": [lon, lat]}
                props = {"id": f"A{k:03d}", "name": f"area {k}", "radius_m": area_m * 0.6}
            else:
                ring = [(a, b), (a + area_m, b), (a + area_m, b + area_m), (a, b + area_m), (a, b)]
                coords = [list(to_wgs.transform(px, py)) for px, py in ring]
                geometry = {"type": "Polygon", "coordinates": [coords]}
                props = {"id": f"A{k:03d}", "name": f"area {k}", "radius_m": None}
            features.append({"type": "Feature", "properties": props, "geometry": geometry})
    (folder / "areas.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8"
    )
    columns = ["id", "name", "kind", "lon", "lat"]
    fac = random_points(network, n_facilities, seed=seed + 1, prefix="F", entrances=2)
    fac[columns].to_csv(folder / "facilities.csv", index=False, float_format="%.8f")
    kinds = ("shop:convenience", "shop:supermarket", "amenity:pharmacy", "amenity:restaurant")
    poi = random_points(network, n_pois, seed=seed + 2, prefix="P", kinds=kinds)
    poi[columns].to_csv(folder / "pois.csv", index=False, float_format="%.8f")
    path = folder / "region.toml"
    path.write_text(
        f"""# GENERATED test region (seeded synthetic city; not a real place)
[region]
name = "synthetic"

[areas]
path = "areas.geojson"

[network]
source = "{source}"
path = "{osm_name}"

[facilities]
path = "facilities.csv"

[pois]
path = "pois.csv"
from_osm = false

[analysis]
bands_min = {bands}
snap_limit_m = {snap_limit_m}
""",
        encoding="utf-8",
    )
    return path

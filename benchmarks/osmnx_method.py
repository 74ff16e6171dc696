"""The OSMnx isochrone-notebook method as a user would write it, as one standalone process.

Usage: ``python benchmarks/osmnx_method.py SCENARIO_DIR OUT_DIR [--timings FILE]``

For the scenario's OSM XML file and facilities table: ``graph_from_xml`` (highway ways only,
as the shared data's loading notes advise), ``project_graph``, ``nearest_nodes`` for each
facility (its first entrance), ``ego_graph(radius, distance="length")`` per facility and band,
the reached nodes and edges buffered 25 m and unioned, and point-in-polygon for the OSM POIs
(``features_from_xml`` with the planner's POI tags, inside the study box); writes its table
(``coverage.csv``: facility, band, POIs within) and a folium map (``map.html``). Stage times
come from the script's own timers; ``imports`` is measured from the script's first line.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import folium  # noqa: E402
import geopandas as gpd  # noqa: E402
import networkx as nx  # noqa: E402
import osmnx as ox  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402
import tomllib  # noqa: E402

#: The planner's POI tags (planner.pois.POI_TAGS), copied so this script stays standalone.
POI_TAGS = {
    "shop": True,
    "amenity": True,
    "office": True,
    "craft": True,
    "healthcare": True,
    "tourism": ["hotel", "hostel", "guest_house", "museum", "gallery", "information"],
    "building": ["commercial", "retail", "office"],
}
BUFFER_M = 25.0


def main(argv: list[str]) -> None:
    """Run the method on a scenario folder; print the stage times as JSON."""
    stages: dict[str, float] = {"imports": time.perf_counter() - T_START}
    folder, out = Path(argv[0]), Path(argv[1])
    timings_file = Path(argv[argv.index("--timings") + 1]) if "--timings" in argv else None
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        stages[name] = stages.get(name, 0.0) + now - t
        t = now

    conf = tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8"))
    osm = folder / conf["network"]["path"]
    speed_kmh = conf.get("analysis", {}).get("speed_kmh", 4.5)
    bands = conf.get("analysis", {}).get("bands_min", [5, 10, 15])
    west, south, east, north = conf["scenario"]["study_bbox"]

    G = ox.graph_from_xml(osm, simplify=False, retain_all=False)
    drop = [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True) if "highway" not in d]
    G.remove_edges_from(drop)
    G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    G = ox.project_graph(ox.simplify_graph(G))
    lap("load")

    fac = pd.read_csv(folder / conf["facilities"]["path"]).drop_duplicates("facility_id")
    fac = gpd.GeoDataFrame(
        fac, geometry=gpd.points_from_xy(fac["lon"], fac["lat"]), crs=4326
    ).to_crs(G.graph["crs"])
    feats = ox.features_from_xml(osm, tags=POI_TAGS)
    pts = feats.geometry.representative_point()
    inside = (pts.x >= west) & (pts.x <= east) & (pts.y >= south) & (pts.y <= north)
    pois = gpd.GeoDataFrame(feats[inside][["name"]], geometry=pts[inside], crs=4326)
    pois_m = pois.to_crs(G.graph["crs"])
    lap("inputs")

    centres = ox.distance.nearest_nodes(G, fac.geometry.x, fac.geometry.y)
    lap("snap")

    rows = []
    for fid, centre in zip(fac["facility_id"], centres, strict=True):
        for band in bands:
            radius = band * speed_kmh * 1000 / 60
            sub = nx.ego_graph(G, centre, radius=radius, distance="length")
            lap("reach")
            nodes = shapely.points(
                [d["x"] for _, d in sub.nodes(data=True)], [d["y"] for _, d in sub.nodes(data=True)]
            )
            edges = [
                d.get("geometry")
                or shapely.LineString(
                    [(sub.nodes[u]["x"], sub.nodes[u]["y"]), (sub.nodes[v]["x"], sub.nodes[v]["y"])]
                )
                for u, v, d in sub.edges(data=True)
            ]
            parts = [*shapely.buffer(nodes, BUFFER_M), *shapely.buffer(edges, BUFFER_M)]
            rows.append(
                {"facility_id": fid, "band_min": band, "geometry": shapely.union_all(parts)}
            )
            lap("polygons")
    polys = gpd.GeoDataFrame(rows, geometry="geometry", crs=G.graph["crs"])
    hits = gpd.sjoin(pois_m, polys, predicate="within", how="inner")
    counts = hits.groupby(["facility_id", "band_min"]).size().rename("pois_within")
    table = polys[["facility_id", "band_min"]].join(counts, on=["facility_id", "band_min"])
    table["pois_within"] = table["pois_within"].fillna(0).astype(int)
    lap("coverage")

    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "coverage.csv", index=False)
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=15)
    folium.GeoJson(polys.to_crs(4326)).add_to(m)
    for p in pois.geometry:
        folium.CircleMarker([p.y, p.x], radius=2).add_to(m)
    m.save(out / "map.html")
    lap("write")
    stages["total_in_process"] = time.perf_counter() - T_START
    text = json.dumps({"stages": stages, "pairs": int(table["pois_within"].sum())})
    if timings_file is not None:
        timings_file.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])

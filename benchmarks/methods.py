"""The methods compared by the benchmark; each returns per-stage wall times in seconds."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from planner import _cache, io, outputs, pipeline, reach
from planner import network as net
from planner.scenario import load_scenario

#: These benchmarks time the drawing of the band polygons: none come from the user's
#: polygon cache (planner/_polycache.py), here or in processes started from here.
os.environ["PLANNER_POLYGON_CACHE"] = "0"


@dataclass
class Workload:
    """Inputs shared by every method: a network and two reader-layout point tables."""

    name: str
    network: net.StreetNetwork
    facilities: pd.DataFrame
    pois: pd.DataFrame
    bands_min: tuple[float, ...] = (5.0, 10.0, 15.0)
    speed_kmh: float = 4.5

    @property
    def bands_m(self) -> list[float]:
        """Band distances in metres."""
        return [b * self.speed_kmh * 1000 / 60 for b in self.bands_min]


class Stages(dict):
    """Stage name -> seconds, filled with the `stage` context manager."""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a block and add it to `name`."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - t


def xy(network: net.StreetNetwork, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Point coordinates in the network CRS (projected from lon/lat as the pipeline does)."""
    return pipeline.to_network_xy(network, table["lon"].to_numpy(), table["lat"].to_numpy())


def first_entrances(table: pd.DataFrame) -> pd.DataFrame:
    """One row per facility id (its first entrance): the OSMnx example's single centre."""
    return table.drop_duplicates("id").reset_index(drop=True)


# ------------------------------------------------------------------ planner
def run_planner(
    w: Workload, out_dir: Path, isochrone_method: str = "grid"
) -> tuple[Stages, dict[str, Any]]:
    """The planner: `pipeline.analyse`, every output `planner.run` writes, and the HTML map.

    ``write`` is `planner.write_outputs` (coverage.csv, pois.csv, facilities.csv,
    isochrones.geojson, gaps.geojson, summary.json, the workbook and the GeoPackage);
    ``map`` is the folium HTML map (`planner.maps.render_map`, written once the set is
    published), drawn as `planner.run` draws it: while a forked process writes the workbook
    and the GeoPackage (``write`` is the rest of that call: this process's own files, then
    waiting for the forked writer). The PNG and PDF pages are left out: `planner run` draws
    them for the sample's few facilities, not for a city.
    """
    from planner import maps
    from planner.offline import write_page

    st = Stages()
    with st.stage("analyse"):
        a = pipeline.analyse(
            w.network,
            w.facilities,
            w.pois,
            bands_min=w.bands_min,
            speed_kmh=w.speed_kmh,
            isochrone_method=isochrone_method,
        )
    for k, v in a.timings.items():
        st[k] = v
    del st["analyse"]
    drawn: dict[str, Any] = {}

    def draw_map() -> None:  # as `planner.run`: while the forked writer finishes
        t = time.perf_counter()
        drawn["html"] = maps.render_map(a)
        drawn["map"] = time.perf_counter() - t

    with timed_writers() as per_file:
        t = time.perf_counter()
        files = outputs.write_outputs(a, out_dir / f"run-{isochrone_method}", meanwhile=draw_map)
        t2 = time.perf_counter()
        st["write"] = t2 - t - drawn["map"]
    write_page(drawn.pop("html"), out_dir / f"map-{isochrone_method}.html")
    st["map"] = drawn["map"] + time.perf_counter() - t2
    # the node search on its own, for the comparison with scipy's bounded Dijkstra
    fac_snap = pipeline._snap_table(w.network, w.facilities, 300.0)
    ids = pd.unique(w.facilities["id"])
    sources = reach.Anchors.from_snapped(fac_snap, pd.Index(ids).get_indexer(w.facilities["id"]))
    with st.stage("node_reach_only"):
        reach.node_reach(w.network, sources, len(ids), max(w.bands_m))
    info = {
        "isochrone_method": isochrone_method,
        "pairs": len(a.coverage),
        "polygons": len(a.isochrones),
        "polygon_vertices": int(
            shapely.get_num_coordinates(a.isochrones.geometry.to_numpy()).sum()
        ),
        "pois_with_nearest": int(a.pois["nearest_facility_id"].notna().sum()),
        "write_s": {k: round(v, 3) for k, v in per_file.items()},
        "output_mb": {k: round(p.stat().st_size / 1e6, 2) for k, p in files.items()},
    }
    return st, info


@contextmanager
def timed_writers() -> Iterator[dict[str, float]]:
    """Time each file `planner.write_outputs` writes (by file name), without changing it."""
    from planner import export

    per_file: dict[str, float] = {}
    patched = [
        (io, "write_csv"),
        (io, "write_geojson"),
        (io, "write_json"),
        (export, "write_workbook"),
        (export, "write_geopackage"),
    ]
    originals = [getattr(module, name) for module, name in patched]

    def timed(fn: Any) -> Any:
        def call(obj: Any, path: Any, *args: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(obj, path, *args, **kw)
            finally:
                per_file[Path(path).name] = time.perf_counter() - t

        return call

    for (module, name), fn in zip(patched, originals, strict=True):
        setattr(module, name, timed(fn))
    try:
        yield per_file
    finally:
        for (module, name), fn in zip(patched, originals, strict=True):
            setattr(module, name, fn)


def planner_load_sample() -> tuple[Stages, net.StreetNetwork]:
    """Sample network: cold parse (no cache) and warm load (array cache)."""
    st = Stages()
    path = load_scenario("sample").network_path
    with tempfile.TemporaryDirectory() as tmp:
        with st.stage("load_cold"):
            network = _cache.load_network_cached(path, Path(tmp))
        with st.stage("load_warm"):
            network = _cache.load_network_cached(path, Path(tmp))
    return st, network


# ------------------------------------------------------------------ scipy floor
def run_scipy_floor(w: Workload, repeats: int = 5) -> tuple[Stages, dict[str, Any]]:
    """scipy's bounded Dijkstra alone, from every facility, on the planner's own graph.

    Measured warm, as a floor should be: the graph is built once, every call has run
    once before timing (first touch of its output buffers), the facilities go in chunks
    (16 and 64 per call; the faster counts), and the stage is the median of `repeats`
    runs. The earlier measurement (one dense facilities x nodes call in a fresh process,
    mostly first touch of the whole matrix) is kept in ``info`` for comparison.
    """
    import statistics

    from scipy.sparse.csgraph import dijkstra

    from planner import snap

    st = Stages()
    fx, fy = xy(w.network, w.facilities)
    fs = snap.snap_points(w.network, fx, fy, 300.0)
    ids = pd.unique(w.facilities["id"])
    sources = reach.Anchors.from_snapped(fs, pd.Index(ids).get_indexer(w.facilities["id"]))
    with st.stage("graph"):
        csr, first = reach.source_graph(w.network, sources, len(ids))
    limit = max(w.bands_m)
    t = time.perf_counter()
    d = dijkstra(csr, directed=True, indices=first + np.arange(len(ids)), limit=limit)
    one_dense = time.perf_counter() - t
    shape, gb = list(d.shape), d.nbytes / 1e9
    del d

    def chunked(chunk: int) -> float:
        t = time.perf_counter()
        for s in range(0, len(ids), chunk):
            idx = first + np.arange(s, min(s + chunk, len(ids)))
            dijkstra(csr, directed=True, indices=idx, limit=limit)
        return time.perf_counter() - t

    medians = {}
    for chunk in (16, 64):
        chunked(chunk)  # warm
        medians[chunk] = statistics.median(chunked(chunk) for _ in range(repeats))
    best = min(medians, key=medians.__getitem__)
    st["dijkstra"] = medians[best]
    return st, {
        "chunk": best,
        "chunk_medians_s": {str(k): round(v, 4) for k, v in medians.items()},
        "repeats": repeats,
        "one_dense_call_s": round(one_dense, 4),
        "one_dense_matrix_shape": shape,
        "one_dense_matrix_gb": gb,
    }


# ------------------------------------------------------------------ OSMnx example
def osmnx_graph(network: net.StreetNetwork) -> nx.MultiDiGraph:
    """The network as an osmnx-style projected MultiDiGraph."""
    from tests.synthetic import to_multidigraph

    return to_multidigraph(network)


def run_osmnx_example(
    w: Workload, graph: nx.MultiDiGraph, n_sample: int | None
) -> tuple[Stages, dict[str, Any]]:
    """The OSMnx isochrone-notebook method, written plainly, per facility and band.

    ``nearest_nodes`` for the facility's centre node, ``ego_graph(radius, distance="length")``
    per band, nodes buffered 50 m and edges 25 m, unioned; POIs counted with a geopandas
    spatial join. With `n_sample`, only that many facilities run and the per-facility stages
    are scaled up linearly to all facilities.
    """
    import osmnx as ox

    st = Stages()
    fac = first_entrances(w.facilities)
    n_all = len(fac)
    fx, fy = xy(w.network, fac)
    px, py = xy(w.network, w.pois)
    with st.stage("snap"):  # one vectorised call for all facilities: not extrapolated
        centres = ox.distance.nearest_nodes(graph, fx, fy)
    if n_sample is not None and n_sample < n_all:
        pick = np.random.default_rng(0).choice(n_all, n_sample, replace=False)
        centres = np.asarray(centres)[np.sort(pick)]
    scale = n_all / len(centres)
    with st.stage("pois_gdf"):
        poi_gdf = gpd.GeoDataFrame(
            {"poi": np.arange(len(px))}, geometry=shapely.points(px, py), crs=w.network.crs
        )
    rows = []
    for i, centre in enumerate(centres):
        for band, radius in zip(w.bands_min, w.bands_m, strict=True):
            with st.stage("reach"):
                sub = nx.ego_graph(graph, centre, radius=radius, distance="length")
            with st.stage("polygons"):
                nodes = shapely.points(
                    [d["x"] for _, d in sub.nodes(data=True)],
                    [d["y"] for _, d in sub.nodes(data=True)],
                )
                edges = [
                    d.get("geometry")
                    or shapely.LineString(
                        [
                            (sub.nodes[u]["x"], sub.nodes[u]["y"]),
                            (sub.nodes[v]["x"], sub.nodes[v]["y"]),
                        ]
                    )
                    for u, v, d in sub.edges(data=True)
                ]
                parts = list(shapely.buffer(nodes, 50)) + list(shapely.buffer(edges, 25))
                poly = gpd.GeoSeries(parts).union_all()
            rows.append({"facility": i, "band_min": band, "geometry": poly})
    polys = gpd.GeoDataFrame(rows, geometry="geometry", crs=w.network.crs)
    with st.stage("coverage"):
        hits = gpd.sjoin(poi_gdf, polys, predicate="within", how="inner")
        counts = hits.groupby(["facility", "band_min"]).size()
    for name in ("reach", "polygons", "coverage"):
        st[name] *= scale
    info = {
        "facilities_run": len(centres),
        "facilities_total": n_all,
        "extrapolation": scale,
        "pairs_in_sample": int(counts.sum()),
    }
    return st, info


# ------------------------------------------------------------------ pandana
def run_pandana(w: Workload) -> tuple[Stages, dict[str, Any]]:
    """pandana: contraction hierarchies, nearest facility per POI and counts within bands."""
    import pandana

    st = Stages()
    n = w.network
    fx, fy = xy(n, w.facilities)
    px, py = xy(n, w.pois)
    nodes = pd.DataFrame({"x": n.node_x, "y": n.node_y}, index=n.node_ids)
    edges = pd.DataFrame({"length": n.edge_length})
    with st.stage("ch_build"):
        pnet = pandana.Network(
            nodes["x"],
            nodes["y"],
            pd.Series(n.node_ids[n.edge_u]),
            pd.Series(n.node_ids[n.edge_v]),
            edges[["length"]],
            twoway=True,
        )
    limit = max(w.bands_m)
    with st.stage("precompute"):
        pnet.precompute(limit + 1)
    with st.stage("snap"):
        fac_nodes = pnet.get_node_ids(pd.Series(fx), pd.Series(fy))
        poi_nodes = pnet.get_node_ids(pd.Series(px), pd.Series(py))
    with st.stage("nearest"):
        pnet.set_pois("fac", limit, 1, pd.Series(fx), pd.Series(fy))
        near = pnet.nearest_pois(limit, "fac", num_pois=1, include_poi_ids=True)
        poi_near = near.loc[poi_nodes.to_numpy()]
    with st.stage("counts"):
        pnet.set(poi_nodes, variable=pd.Series(np.ones(len(poi_nodes)), index=poi_nodes.index))
        counts = {
            b: pnet.aggregate(d, type="sum", decay="flat").loc[fac_nodes.to_numpy()].to_numpy()
            for b, d in zip(w.bands_min, w.bands_m, strict=True)
        }
    info = {
        "pois_with_nearest_within_limit": int((poi_near[1] < limit).sum()),
        "pairs_largest_band": float(counts[max(w.bands_min)].sum()),
    }
    return st, info

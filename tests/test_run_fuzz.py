"""Hostile merchant tables through the whole run: never a traceback, counts in = counts out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from planner import pipeline
from planner.readers import InputError, read_points
from planner.schema import Status
from tests.hostile import count_data_rows, hostile_tables, write

LIUSHA_BBOX = (116.158, 23.270, 116.218, 23.324)


@pytest.fixture(scope="module")
def liusha_grid():
    """A 7 x 7 street grid laid over the Liusha study box (UTM 50N), ~1 km blocks."""
    import networkx as nx
    import shapely

    from planner.network import street_network

    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
    lons = np.linspace(LIUSHA_BBOX[0], LIUSHA_BBOX[2], 7)
    lats = np.linspace(LIUSHA_BBOX[1], LIUSHA_BBOX[3], 7)
    G = nx.MultiDiGraph(crs="EPSG:32650")
    for i, lon in enumerate(lons):
        for j, lat in enumerate(lats):
            x, y = to_utm.transform(lon, lat)
            G.add_node(i * 7 + j, x=x, y=y)
    osmid = 0
    for i in range(7):
        for j in range(7):
            for di, dj in ((1, 0), (0, 1)):
                if i + di < 7 and j + dj < 7 and (i, j) != (3, 3):  # a missing link
                    u, v = i * 7 + j, (i + di) * 7 + j + dj
                    a = (G.nodes[u]["x"], G.nodes[u]["y"])
                    b = (G.nodes[v]["x"], G.nodes[v]["y"])
                    geom = shapely.LineString([a, b])
                    attrs = {"osmid": osmid, "length": geom.length, "highway": "residential"}
                    G.add_edge(u, v, geometry=geom, **attrs)
                    G.add_edge(v, u, geometry=shapely.LineString([b, a]), **attrs)
                    osmid += 1
    network = street_network(G)
    facilities = pd.DataFrame(
        {
            "row": [2, 3],
            "id": ["MALL", "CLINIC"],
            "name": ["mall", "clinic"],
            "kind": ["service_centre", "clinic"],
            "lon": [116.188201, 116.170784],
            "lat": [23.296846, 23.298545],
            "status": "ok",
            "usable": True,
            "reason": "",
        }
    )
    return network, facilities


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    table=hostile_tables(),
    crs=st.sampled_from(["WGS84", "GCJ02", "BD09"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk"]),
)
def test_hostile_merchants_through_the_run(liusha_grid, tmp_path_factory, table, crs, encoding):
    network, facilities = liusha_grid
    header, rows = table
    path = tmp_path_factory.getbasetemp() / "run_fuzz_merchants.csv"
    text = write(path, header, rows, ",", encoding, "\n")
    try:
        pois = read_points(path, crs=crs, study_bbox=LIUSHA_BBOX, id_prefix="poi")
    except InputError:
        return  # a whole-file problem is reported as one clear error
    assert len(pois) == count_data_rows(text, ",")
    a = pipeline.analyse(network, facilities, pois, bands_min=(5, 10, 15), speed_kmh=4.5)
    assert len(a.pois) == len(pois)  # counts in = counts out
    assert list(a.pois["row"]) == list(pois["row"])
    allowed = {
        "ok",
        "unreachable",
        "too_far_from_network",
        "swapped_lat_lon",
        *pois["status"].unique(),
    }
    assert set(a.pois["status"]) <= allowed
    # every status is a Status, and the routed ones are exactly the snapped rows
    routed = [Status(s).routed for s in a.pois["status"]]
    assert routed == np.isfinite(a.pois["access_m"].to_numpy(dtype=float)).tolist()
    m = a.pois["minutes_to_nearest"].to_numpy(dtype=float)
    assert np.all(np.isnan(m) | (m >= 0))
    assert not np.isinf(m).any()
    # rows that were not usable never get minutes
    assert np.isnan(m[~pois["usable"].to_numpy(dtype=bool)]).all()
    assert (a.coverage["minutes"] <= 15 + 1e-9).all()
    # a repeated id is one place: listed with its status, not counted again
    assert a.summary["overall"]["pois_total"] == int((pois["status"] != "duplicate_id").sum())

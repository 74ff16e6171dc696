"""Folium maps of facilities, their walking bands and the POIs they reach."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element

from planner.network import StreetNetwork
from planner.scenario import Scenario

if TYPE_CHECKING:
    from planner.pipeline import Analysis

#: Fill colours of the bands, innermost first.
BAND_COLOURS = ("#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#fee08b")
#: POI colour beyond the largest band / not routed.
BEYOND_COLOUR = "#d73027"
NOT_ROUTED_COLOUR = "#7f7f7f"
FACILITY_COLOUR = "#2c3e91"
_ROAD_WEIGHT = {"primary": 3.0, "secondary": 2.6, "tertiary": 2.2, "trunk": 3.0}


_JS_TEMPLATE_CHARS = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;"})


def esc(text: object) -> str:
    """Escape text that comes from data for folium tooltips and popups.

    folium places tooltip/popup HTML inside JavaScript template strings, so besides HTML
    escaping, backtick, ``$`` and backslash become character references (a name containing
    ``${alert(1)}`` would otherwise run as code).
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    return html.escape(str(text)).translate(_JS_TEMPLATE_CHARS)


def poi_colour(minutes: float, bands_min: tuple[float, ...]) -> str:
    """Colour for a POI by its minutes to the nearest facility.

    Parameters
    ----------
    minutes
        Walking minutes (NaN when not routed or unreachable).
    bands_min
        Bands, ascending.

    Returns
    -------
    colour
        Hex colour.
    """
    if minutes is None or not np.isfinite(minutes):
        return NOT_ROUTED_COLOUR
    for i, b in enumerate(sorted(bands_min)):
        if minutes <= b + 1e-9 * max(b, 1.0):
            return BAND_COLOURS[min(i, len(BAND_COLOURS) - 1)]
    return BEYOND_COLOUR


def _street_layer(network: StreetNetwork, tolerance_m: float = 1.0) -> folium.GeoJson:
    edges = network.edges_gdf()
    edges["geometry"] = shapely.simplify(edges.geometry.to_numpy(), tolerance_m)
    edges = edges.to_crs(4326)
    main = edges["highway"].str.split("/").str[0]
    edges = edges.assign(w=main.map(_ROAD_WEIGHT).fillna(1.2), label=edges["name"].map(esc))
    data = json.loads(edges[["w", "label", "geometry"]].to_json(drop_id=True))
    for f in data["features"]:
        f["geometry"]["coordinates"] = np.round(np.asarray(f["geometry"]["coordinates"]), 6).tolist()
    return folium.GeoJson(
        data,
        name="街道 Streets (walk network)",
        style_function=lambda f: {"color": "#8a8f98", "weight": f["properties"]["w"], "opacity": 0.8},
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
        control=True,
    )


def _legend(scenario: Scenario, analysis: Analysis) -> str:
    bands = sorted(scenario.bands_min)
    rows = []
    lo = 0.0
    for i, b in enumerate(bands):
        c = BAND_COLOURS[min(i, len(BAND_COLOURS) - 1)]
        rows.append(f'<div><span class="sw" style="background:{c}"></span>{lo:g}–{b:g} 分钟 min</div>')
        lo = b
    rows.append(f'<div><span class="sw" style="background:{BEYOND_COLOUR}"></span>&gt;{bands[-1]:g} 分钟 min</div>')
    rows.append(f'<div><span class="sw" style="background:{NOT_ROUTED_COLOUR}"></span>未能计算 not routed</div>')
    overall = analysis.summary["overall"]
    share = overall["bands"][f"{bands[-1]:g}"]["share_of_all_pois"]
    share_txt = "–" if share is None else f"{100 * share:.1f}%"
    return f"""
<div id="planner-legend" style="position:fixed;bottom:24px;left:12px;z-index:9999;background:#fff;
 padding:8px 10px;border:1px solid #999;border-radius:4px;font:12px/1.4 sans-serif;max-width:320px">
<style>#planner-legend .sw{{display:inline-block;width:12px;height:12px;margin-right:6px;
 border:1px solid #555;vertical-align:middle}}</style>
<b>{esc(scenario.title)}</b><br>
步行时间（至最近服务点） Walking time to the nearest facility
{"".join(rows)}
<div>步行速度 Speed: {scenario.speed_kmh:g} km/h · 圈层 Bands: {", ".join(f"{b:g}" for b in bands)} 分钟 min</div>
<div>方法 Method: 沿街道网络步行（非直线距离） network walking, not straight line; access leg to the nearest street included</div>
<div>{bands[-1]:g} 分钟内覆盖 Within {bands[-1]:g} min: {overall["bands"][f"{bands[-1]:g}"]["pois_within"]} / {overall["pois_total"]} ({share_txt})</div>
<div>数据 Data: {esc(scenario.attribution)}{", " + esc(scenario.network_date) if scenario.network_date else ""}; 坐标 CRS WGS-84</div>
</div>"""


def build_map(scenario: Scenario, network: StreetNetwork, analysis: Analysis) -> folium.Map:
    """Build the folium map: streets, per-facility band layers, POIs, legend.

    Parameters
    ----------
    scenario
        The scenario (title, bands, speed, attribution).
    network
        The street network (drawn as the basemap, so no tiles are needed).
    analysis
        The run's tables and polygons.

    Returns
    -------
    m
        The map (tiles off by default; an OpenStreetMap tile layer is offered).
    """
    bands = tuple(sorted(scenario.bands_min))
    pois = analysis.pois
    fac = analysis.facility_table
    xy = analysis.isochrones.total_bounds if len(analysis.isochrones) else None
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=False)
    folium.TileLayer(
        "OpenStreetMap", name="OpenStreetMap 瓦片 tiles (needs internet)", show=False, overlay=False
    ).add_to(m)
    _street_layer(network).add_to(m)
    for _, f in fac.iterrows():
        group = folium.FeatureGroup(name=f"{esc(f['facility_id'])} {esc(f['name'])} 服务圈 bands", show=True)
        polys = analysis.isochrones[analysis.isochrones["facility_id"] == f["facility_id"]]
        for _, p in polys.sort_values("band_min", ascending=False).iterrows():
            if p.geometry is None or p.geometry.is_empty:
                continue
            i = bands.index(p["band_min"]) if p["band_min"] in bands else 0
            colour = BAND_COLOURS[min(i, len(BAND_COLOURS) - 1)]
            folium.GeoJson(
                shapely.geometry.mapping(shapely.simplify(p.geometry, 0.00002)),
                style_function=lambda _, c=colour: {"color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.25},
                tooltip=f"{esc(f['facility_id'])} {esc(f['name'])}: ≤{p['band_min']:g} 分钟 min",
            ).add_to(group)
        group.add_to(m)
    fac_group = folium.FeatureGroup(name="服务点 Facilities", show=True)
    counts = {
        f["facility_id"]: " · ".join(f"≤{k} 分钟 min: {v['pois']}" for k, v in f["bands"].items())
        for f in analysis.summary["facilities"]
    }
    for _, r in analysis.facilities.iterrows():
        if not (np.isfinite(r["lon"]) and np.isfinite(r["lat"])):
            continue
        tip = f"<b>{esc(r['id'])}</b> {esc(r['name'])}<br>{esc(r['kind'])}"
        tip += f"<br>可达商户/服务点 POIs reached: {esc(counts.get(str(r['id']), ''))}"
        folium.CircleMarker(
            (float(r["lat"]), float(r["lon"])),
            radius=7,
            color="#ffffff",
            weight=2,
            fill=True,
            fill_color=FACILITY_COLOUR,
            fill_opacity=1.0,
            tooltip=tip,
        ).add_to(fac_group)
    fac_group.add_to(m)
    poi_group = folium.FeatureGroup(name="商户与服务点 Merchants & service points", show=True)
    for _, r in pois.iterrows():
        if not (np.isfinite(r["lon"]) and np.isfinite(r["lat"])):
            continue
        minutes = r["minutes_to_nearest"]
        mtxt = "–" if not np.isfinite(minutes) else f"{minutes:.1f}"
        tip = (
            f"{esc(r['name']) or '(无名称 unnamed)'}<br>{esc(r['kind'])}<br>"
            f"最近服务点 nearest: {esc(r['nearest_facility_id'])} · {mtxt} 分钟 min<br>"
            f"状态 status: {esc(r['status'])}"
        )
        folium.CircleMarker(
            (float(r["lat"]), float(r["lon"])),
            radius=4,
            color="#333333",
            weight=0.5,
            fill=True,
            fill_color=poi_colour(minutes, bands),
            fill_opacity=0.9,
            tooltip=tip,
        ).add_to(poi_group)
    poi_group.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.get_root().html.add_child(Element(_legend(scenario, analysis)))
    m.get_root().script.add_child(
        Element(f"{m.get_name()}.attributionControl.addAttribution('© OpenStreetMap contributors');")
    )
    if xy is not None and np.all(np.isfinite(xy)):
        m.fit_bounds([[xy[1], xy[0]], [xy[3], xy[2]]])
    return m


def save_map(scenario: Scenario, network: StreetNetwork, analysis: Analysis, path: str | Path) -> Path:
    """Build the map and write it as one self-contained offline HTML file.

    Parameters
    ----------
    scenario, network, analysis
        See `build_map`.
    path
        Destination ``.html``.

    Returns
    -------
    path
        The written file.
    """
    from planner.offline import save_offline

    return save_offline(build_map(scenario, network, analysis), Path(path))


def reached_summary(analysis: Analysis, facility_id: str) -> pd.DataFrame:
    """POIs a facility reaches per band (for popups and notebooks)."""
    rows = analysis.coverage[analysis.coverage["facility_id"] == facility_id]
    return rows.groupby("band_min")["poi_id"].count().rename("pois").reset_index()

"""What a proposal changes: add, move or close facilities, open new walkable links; compare."""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from planner._i18n import _

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.ops import substring

from planner._errors import PlannerError
from planner._paths import is_file_name
from planner.network import StreetNetwork
from planner.readers import ATTR_ROW_SOURCES, ATTR_SOURCE
from planner.result import Result
from planner.schema import Status
from planner.style import within_band

__all__ = [
    "MAX_LINK_GAP_M",
    "Proposal",
    "add_links",
    "apply_proposal",
    "compare",
    "compare_map",
    "compare_policy",
    "load_proposal",
]

#: A proposed link must end within this distance of a walkable street (metres).
MAX_LINK_GAP_M = 30.0
#: Ends closer than this to a street node join that node instead of splitting the edge.
_NODE_SNAP_M = 0.01


@dataclass(frozen=True)
class Proposal:
    r"""A planning proposal: facilities added, moved or closed, and new walkable links.

    Parameters
    ----------
    name
        Short id of the proposal, used in file names: not empty, not ``.`` or ``..``, and
        without ``/ \ : * ? " < > |`` (else `planner.PlannerError`).
    add
        New facility rows (`planner.read_points` layout), or None.
    move
        Facility id -> new (lon, lat) in WGS-84; every entrance of the facility moves there.
    close
        Ids of facilities that close.
    links
        New walkable links (a mall gate, a crossing): name -> LineString in WGS-84 whose
        two ends lie within `MAX_LINK_GAP_M` of a walkable street.
    """

    name: str
    add: pd.DataFrame | None = None
    move: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    close: Sequence[str] = ()
    links: Mapping[str, shapely.LineString] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not is_file_name(self.name):
            raise PlannerError(
                _(
                    "proposal name {name!r}: expected a name usable as a file name (it names "
                    '<name>_*.csv and maps/<scenario>-<name>.html; no / \\ : * ? " < > |)'
                ).format(name=self.name)
            )
        from planner.interactive import check_position

        for facility_id, position in self.move.items():
            lon, lat = position
            check_position(
                _("proposal {name!r}: move").format(name=self.name), facility_id, lon, lat
            )
        if isinstance(self.close, str):  # one id, not its characters
            object.__setattr__(self, "close", (self.close,))
        if self.add is not None:
            from planner.pipeline import _check_table

            _check_table(self.add, _("proposal {name!r}: add").format(name=self.name))


def _split_at(net: dict[str, list], edge: int, offset: float, node_index: int) -> None:
    """Split edge `edge` at `offset` metres from its start; the new node is `node_index`."""
    geom = net["edge_geometry"][edge]
    first, second = substring(geom, 0, offset), substring(geom, offset, geom.length)
    v = net["edge_v"][edge]
    net["edge_v"][edge] = node_index
    net["edge_geometry"][edge] = first
    net["edge_length"][edge] = first.length
    for key, value in (
        ("edge_u", node_index),
        ("edge_v", v),
        ("edge_geometry", second),
        ("edge_length", second.length),
        ("edge_name", net["edge_name"][edge]),
        ("edge_highway", net["edge_highway"][edge]),
    ):
        net[key].append(value)


def add_links(
    network: StreetNetwork,
    links: Mapping[str, shapely.LineString],
    max_gap_m: float = MAX_LINK_GAP_M,
) -> StreetNetwork:
    """Return a copy of `network` with new walkable links joined to it.

    Each end of a link joins the nearest point of the nearest street (splitting that street
    there, or at a node when it is within 1 cm of one); the link's geometry runs from that
    point through the link's inner vertices to the other end's point.

    Parameters
    ----------
    network
        The routed street network (projected).
    links
        Name -> LineString in WGS-84 (lon, lat).
    max_gap_m
        How far an end may lie from a street.

    Returns
    -------
    network
        A new network; `network` is unchanged. New nodes get negative ids.

    Raises
    ------
    PlannerError
        A link is not a line of two or more points, or an end is too far from any street.
    """
    if not links:
        return network
    to_net = Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
    net: dict[str, list] = {
        key: list(getattr(network, key))
        for key in (
            "node_ids",
            "node_x",
            "node_y",
            "edge_u",
            "edge_v",
            "edge_length",
            "edge_geometry",
            "edge_name",
            "edge_highway",
        )
    }
    next_id = min(-1, int(np.min(network.node_ids)) - 1) if network.n_nodes else -1
    for name, line in links.items():
        if not isinstance(line, shapely.LineString) or len(line.coords) < 2:
            raise PlannerError(
                _("proposal link {name!r}: expected a line of two or more points").format(name=name)
            )
        xs, ys = to_net.transform(*np.asarray(line.coords, dtype=float)[:, :2].T)
        coords = list(zip(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), strict=True))
        ends = []
        for which, (x, y) in (("start", coords[0]), ("end", coords[-1])):
            point = shapely.Point(x, y)
            tree = shapely.STRtree(np.asarray(net["edge_geometry"], dtype=object))
            hits = np.atleast_1d(tree.query_nearest(point, max_distance=max_gap_m))
            if not len(hits):
                raise PlannerError(
                    _(
                        "proposal link {name!r}: its {which} is more than {max_gap_m:g} m from "
                        "any walkable street of the network"
                    ).format(name=name, which=which, max_gap_m=max_gap_m)
                )
            edge = int(np.min(hits))
            geom = net["edge_geometry"][edge]
            offset = float(shapely.line_locate_point(geom, point))
            if offset <= _NODE_SNAP_M:
                node = net["edge_u"][edge]
            elif offset >= geom.length - _NODE_SNAP_M:
                node = net["edge_v"][edge]
            else:
                node = len(net["node_ids"])
                on_edge = shapely.line_interpolate_point(geom, offset)
                net["node_ids"].append(next_id)
                net["node_x"].append(on_edge.x)
                net["node_y"].append(on_edge.y)
                next_id -= 1
                _split_at(net, edge, offset, node)
            ends.append(node)
        a, b = ends
        path = [
            (net["node_x"][a], net["node_y"][a]),
            *coords[1:-1],
            (net["node_x"][b], net["node_y"][b]),
        ]
        geom = shapely.LineString(path)
        for key, value in (
            ("edge_u", a),
            ("edge_v", b),
            ("edge_geometry", geom),
            ("edge_length", geom.length),
            ("edge_name", str(name)),
            ("edge_highway", "proposed"),
        ):
            net[key].append(value)
    return replace(
        network,
        node_ids=np.asarray(net["node_ids"], dtype=np.int64),
        node_x=np.asarray(net["node_x"], dtype=float),
        node_y=np.asarray(net["node_y"], dtype=float),
        edge_u=np.asarray(net["edge_u"], dtype=np.int64),
        edge_v=np.asarray(net["edge_v"], dtype=np.int64),
        edge_length=np.asarray(net["edge_length"], dtype=float),
        edge_geometry=np.asarray(net["edge_geometry"], dtype=object),
        edge_name=np.asarray(net["edge_name"], dtype=object),
        edge_highway=np.asarray(net["edge_highway"], dtype=object),
        _csr=None,
        _tree=None,
    )


def _facility_rows(result: Result, proposal: Proposal) -> pd.DataFrame:
    rows = result.facility_rows.copy()
    ids = set(rows["id"].astype(str))
    unknown = [f for f in [*proposal.close, *proposal.move] if str(f) not in ids]
    if unknown:
        raise PlannerError(
            _("proposal {proposal_name!r}: no facility with id {ids}").format(
                proposal_name=proposal.name, ids=", ".join(map(repr, unknown))
            )
        )
    for fid, (lon, lat) in proposal.move.items():
        at = rows["id"].astype(str) == str(fid)
        rows.loc[at, ["lon", "lat"]] = [float(lon), float(lat)]
        # the move gives the place (checked WGS-84): a row without a usable point has one now
        fixed = at & ~rows["usable"].astype(bool)
        rows.loc[fixed, "usable"] = True
        rows.loc[fixed, "status"] = Status.OK.value
        rows.loc[fixed, "reason"] = ""
    rows = rows[~rows["id"].astype(str).isin([str(f) for f in proposal.close])]
    if proposal.add is not None and len(proposal.add):
        clash = sorted(set(proposal.add["id"].astype(str)) & set(rows["id"].astype(str)))
        if clash:
            raise PlannerError(
                _("proposal {proposal_name!r}: added facility id {clash!r} already exists").format(
                    proposal_name=proposal.name, clash=clash[0]
                )
            )
        rows = pd.concat([rows, proposal.add], ignore_index=True)
    rows.attrs = dict(result.facility_rows.attrs)
    if proposal.add is not None and len(proposal.add):  # messages name the file of each row
        added_from = str(proposal.add.attrs.get(ATTR_SOURCE) or _("added facilities"))
        rows.attrs[ATTR_ROW_SOURCES] = {str(i): added_from for i in proposal.add["id"]}
    return rows.reset_index(drop=True)


def apply_proposal(result: Result, proposal: Proposal) -> Result:
    """Analyse a proposal on top of a result.

    The same merchants and settings; the facilities and the network as the proposal says.

    Parameters
    ----------
    result
        The baseline.
    proposal
        What changes.

    Returns
    -------
    result
        The proposal's result (its provenance names the proposal).
    """
    from planner.pipeline import analyse  # the pipeline imports this module's users lazily

    s = result.settings
    about = replace(result.provenance, name=f"{result.provenance.name}-{proposal.name}")
    after = analyse(
        add_links(result.network, proposal.links),
        _facility_rows(result, proposal),
        result.poi_rows,
        speed_kmh=s.speed_kmh,
        bands_min=s.bands_min,
        snap_limit_m=s.snap_limit_m,
        buffer_m=s.buffer_m,
        isochrone_method=s.isochrone_method,
        about=about,
    )
    from planner import policy

    return policy.carry_policy(result, after)  # its policy analysis, made again the same way


def compare(base: Result, other: Result) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merchants gained and lost, per facility and band and per merchant.

    Parameters
    ----------
    base, other
        Two results of the same merchants with the same bands (e.g. a baseline and
        `apply_proposal`'s result).

    Returns
    -------
    by_facility
        ``facility_id, band_min, base, proposal, gained, lost, base_status,
        proposal_status``: merchants within the band of that facility in each result (a
        facility absent from one counts 0 there and its status is empty; one that was not
        walked, e.g. an added row with bad coordinates, counts 0 and its status says why).
    by_poi
        ``poi_id, name, kind, base_minutes, base_status, proposal_minutes,
        proposal_status, base_band, proposal_band, change``, one row per merchant row of
        `base` (a row repeating an id pairs with the same repeat in `other`). ``change``:
        ``gained`` (within the largest band of some facility only in the proposal),
        ``lost`` (only in the baseline), else ``faster``/``slower`` (a walking time that
        appears counts as faster, one that goes as slower) or ``same`` (also for a row
        walked in neither, e.g. ``duplicate_id``; its statuses say why).
    """
    if base.settings.bands_min != other.settings.bands_min:
        raise PlannerError(_("compare: the two results have different bands"))
    mine, theirs = set(base.pois["poi_id"]), set(other.pois["poi_id"])
    if mine != theirs:  # merchants only in one would count as gained or lost
        raise PlannerError(
            _(
                "compare: the two results have different merchants ({only_base} only in the "
                "first, {only_other} only in the second); compare results of the same "
                "merchants"
            ).format(only_base=len(mine - theirs), only_other=len(theirs - mine))
        )
    bands = base.settings.bands_min
    rows = []
    fac_ids = list(
        dict.fromkeys([*base.facilities["facility_id"], *other.facilities["facility_id"]])
    )
    status_a = dict(zip(base.facilities["facility_id"], base.facilities["status"], strict=True))
    status_b = dict(zip(other.facilities["facility_id"], other.facilities["status"], strict=True))
    for fid in fac_ids:
        a = base.coverage[base.coverage["facility_id"] == fid]
        b = other.coverage[other.coverage["facility_id"] == fid]
        for band in bands:
            sa = set(a.loc[within_band(a["minutes"].to_numpy(float), band), "poi_id"])
            sb = set(b.loc[within_band(b["minutes"].to_numpy(float), band), "poi_id"])
            rows.append(
                {
                    "facility_id": fid,
                    "band_min": band,
                    "base": len(sa),
                    "proposal": len(sb),
                    "gained": len(sb - sa),
                    "lost": len(sa - sb),
                    # closed / not yet there: ""; no_usable_entrance: counted 0, not walked
                    "base_status": str(status_a.get(fid, "")),
                    "proposal_status": str(status_b.get(fid, "")),
                }
            )
    by_facility = pd.DataFrame(rows)
    cols = ["poi_id", "name", "kind", "minutes_to_nearest", "status"]
    left = base.pois[cols].rename(
        columns={"minutes_to_nearest": "base_minutes", "status": "base_status"}
    )
    right = other.pois[["poi_id", "minutes_to_nearest", "status"]].rename(
        columns={"minutes_to_nearest": "proposal_minutes", "status": "proposal_status"}
    )
    # the k-th row of an id pairs with the k-th row of that id in the other result: a row
    # repeating an earlier row's id (duplicate_id, never walked) pairs with its own repeat
    left = left.assign(_nth=left.groupby("poi_id", sort=False).cumcount().to_numpy())
    right = right.assign(_nth=right.groupby("poi_id", sort=False).cumcount().to_numpy())
    by_poi = pd.DataFrame(left.merge(right, on=["poi_id", "_nth"], how="left"))
    by_poi = by_poi.drop(columns="_nth")
    largest = bands[-1]
    for side in ("base", "proposal"):
        minutes = by_poi[f"{side}_minutes"].to_numpy(float)
        smallest = np.full(len(minutes), np.nan)
        for limit in reversed(bands):
            smallest[within_band(minutes, limit)] = limit
        by_poi[f"{side}_band"] = smallest
    before = by_poi["base_minutes"].to_numpy(float)
    after = by_poi["proposal_minutes"].to_numpy(float)
    inside_a = within_band(before, largest)
    inside_b = within_band(after, largest)
    delta = after - before
    change = np.where(delta < -1e-9, "faster", np.where(delta > 1e-9, "slower", "same"))
    # reached by no facility on one side only: a walking time appears (faster) or goes
    change = np.where(~np.isfinite(before) & np.isfinite(after), "faster", change)
    change = np.where(np.isfinite(before) & ~np.isfinite(after), "slower", change)
    change = np.where(
        inside_b & ~inside_a, "gained", np.where(inside_a & ~inside_b, "lost", change)
    )
    by_poi["change"] = change
    return by_facility, by_poi


def _walked_origins(result: Result) -> set[str]:
    """Ids of the ``[origins]`` points a result walked (routed status), from its summary."""
    from planner.schema import ROUTED_STATUSES

    rows = (result.summary.get("policy") or {}).get("origins") or []
    routed = {str(s) for s in ROUTED_STATUSES}
    return {str(r["origin_id"]) for r in rows if str(r.get("status")) in routed}


def compare_policy(base: Result, other: Result) -> pd.DataFrame:
    """How the required services per circle change (the two results' policy tables).

    Parameters
    ----------
    base, other
        Results with a policy table (``result.policy``, see `planner.policy.add_policy`).

    Returns
    -------
    changes
        One row per origin × band × type whose count or missing flag differs:
        ``origin_id, origin_kind, band_min, type_code, type_zh, class, required, count_base,
        count_proposal, missing_base, missing_proposal`` (a closed facility's circle counts
        0 in the proposal; a new one's 0 in the baseline). An origin point not walked on a
        side (its id is a facility's there) is left out: it was not measured there.
    """
    if base.policy is None or other.policy is None:
        raise PlannerError(_("compare_policy: both results need a policy table (add_policy)"))
    keys = ["origin_id", "origin_kind", "band_min", "type_code"]
    info = ["type_zh", "class", "required"]
    a = base.policy[keys + info + ["count", "missing"]]
    b = other.policy[keys + info + ["count", "missing"]]
    merged = a.merge(b, on=keys, how="outer", suffixes=("_base", "_proposal"))
    # an origin point not walked on a side (e.g. `duplicate_id` there: a facility added or
    # closed took or freed its id) was not measured there: nothing to compare. A facility's
    # circle that opens or closes is compared (0 on the side without it).
    walked = _walked_origins(base) & _walked_origins(other)
    unmeasured = (merged["origin_kind"] == "origin") & ~merged["origin_id"].astype(str).isin(walked)
    merged = merged[~unmeasured].copy()
    for col in info:
        merged[col] = merged[f"{col}_base"].combine_first(merged[f"{col}_proposal"])
    for side in ("base", "proposal"):
        merged[f"count_{side}"] = merged[f"count_{side}"].fillna(0).astype(int)
        required = merged["required"].astype(bool)
        missing = merged[f"missing_{side}"].astype("boolean").fillna(required)
        merged[f"missing_{side}"] = missing.astype(bool)
    changed = (merged["count_base"] != merged["count_proposal"]) | (
        merged["missing_base"] != merged["missing_proposal"]
    )
    columns = [*keys[:3], "type_code", *info, "count_base", "count_proposal"]
    columns += ["missing_base", "missing_proposal"]
    out = merged.loc[changed, columns]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


#: Colours of merchants a proposal gains or loses (within the largest band).
GAINED_COLOUR = "#1a9850"
LOST_COLOUR = "#d73027"


def compare_map(base: Result, other: Result, proposal: Proposal | None = None) -> Any:
    """The proposal's map with the merchants it gains (green) and loses (red) marked.

    Parameters
    ----------
    base, other
        The baseline and the proposal's result (see `compare`).
    proposal
        The proposal that made `other`: when given, an overlay "方案 Proposal" draws what
        it changes (its new links, the facilities it closes, moves and adds).

    Returns
    -------
    folium.Map
        `planner.build_map` of `other` plus an overlay "变化 Changes" of gained and lost
        merchants (with their walking minutes before and after); the changed bands are the
        proposal's own band layers. Save it with `planner.offline.save_offline`.
    """
    import folium

    from planner.maps import build_map, esc

    by_poi = compare(base, other)[1]
    changed = by_poi[by_poi["change"].isin(["gained", "lost"])]
    points = base.pois.drop_duplicates("poi_id").set_index("poi_id")[["lon", "lat"]]
    largest = f"{other.settings.largest_band_min:g}"
    legend = [
        (GAINED_COLOUR, f"方案后进入 {largest} 分钟圈 now within {largest} min (gained)"),
        (LOST_COLOUR, f"方案后不在 {largest} 分钟圈内 no longer within {largest} min (lost)"),
    ]
    if proposal is not None:
        from planner.style import PROPOSAL_COLOUR

        legend.append(
            (
                PROPOSAL_COLOUR,
                "方案：圈为新增或迁移后的服务点（细虚线连到原位置），虚线圈为关闭的服务点，"
                "粗虚线为新通道 proposal: ring, an added or moved facility (a thin dashed line "
                "from where it was); dashed ring, a closed one; thick dashed line, a new link",
            )
        )
    # the page says it shows a proposal, not today
    mark = f"方案 Proposal {proposal.name}" if proposal is not None else "方案对比 compared"
    title = f"{other.provenance.title} · {mark}" if other.provenance.title else mark
    shown = copy.copy(other)
    shown.provenance = replace(other.provenance, title=title)
    m = build_map(shown, legend=legend)
    if proposal is not None:
        _proposal_layer(base, other, proposal).add_to(m)
    n_gained = int((changed["change"] == "gained").sum())
    n_lost = int((changed["change"] == "lost").sum())
    group = folium.FeatureGroup(
        name=f"变化 Changes: 新覆盖 gained {n_gained} / 失去 lost {n_lost}", show=True
    )
    for row in changed.itertuples(index=False):
        lon, lat = points.loc[row.poi_id, ["lon", "lat"]]
        if not (np.isfinite(lon) and np.isfinite(lat)):
            continue
        gained = row.change == "gained"
        before = "–" if np.isnan(row.base_minutes) else f"{row.base_minutes:.1f}"
        after = "–" if np.isnan(row.proposal_minutes) else f"{row.proposal_minutes:.1f}"
        label = "新覆盖 gained" if gained else "失去 lost"
        folium.CircleMarker(
            location=(float(lat), float(lon)),
            radius=7,
            color=GAINED_COLOUR if gained else LOST_COLOUR,
            weight=3,
            fill=False,
            tooltip=esc(f"{label}: {row.name} ({row.poi_id}) · 分钟 min {before} → {after}"),
        ).add_to(group)
    group.add_to(m)
    return m


def _proposal_layer(base: Result, other: Result, proposal: Proposal) -> Any:
    """The overlay of what `proposal` changes: links, closed, moved and added facilities.

    New links are thick dashed lines; a closed facility is a dashed ring at each of its
    entrances as they were; a moved facility is a dashed line from where it was (the mean
    of its snapped entrances) to where it is now, ringed there; an added facility is ringed.
    """
    import folium

    from planner.maps import esc
    from planner.style import PROPOSAL_COLOUR

    names = {
        str(f): "" if pd.isna(n) else str(n)
        for table in (base.facilities, other.facilities)
        for f, n in zip(table["facility_id"], table["name"], strict=True)
    }
    where = {
        side: {
            str(f): (float(lat), float(lon))
            for f, lon, lat in zip(t["facility_id"], t["lon"], t["lat"], strict=True)
            if np.isfinite(lon) and np.isfinite(lat)
        }
        for side, t in (("base", base.facilities), ("other", other.facilities))
    }
    added = [] if proposal.add is None else list(dict.fromkeys(map(str, proposal.add["id"])))
    parts = [
        f"新通道 links {len(proposal.links)}",
        f"关闭 closed {len(proposal.close)}",
        f"迁移 moved {len(proposal.move)}",
        f"新增 added {len(added)}",
    ]
    group = folium.FeatureGroup(name=f"方案 Proposal {esc(proposal.name)}: " + " · ".join(parts))

    def ring(at: tuple[float, float], tooltip: str, dashed: bool = False) -> None:
        folium.CircleMarker(
            location=at,
            radius=11,
            color=PROPOSAL_COLOUR,
            weight=3,
            fill=False,
            dash_array="4 4" if dashed else None,
            tooltip=esc(tooltip),
        ).add_to(group)

    for name, link in proposal.links.items():
        folium.PolyLine(
            [(lat, lon) for lon, lat in shapely.get_coordinates(link)],
            color=PROPOSAL_COLOUR,
            weight=6,
            dash_array="10 6",
            tooltip=esc(f"新通道 new link: {name}"),
        ).add_to(group)
    entrances = base.entrances
    for fid in map(str, proposal.close):
        rows = entrances[entrances["id"].astype(str) == fid]
        for lon, lat in zip(rows["lon"], rows["lat"], strict=True):
            if np.isfinite(lon) and np.isfinite(lat):
                ring((float(lat), float(lon)), f"关闭 closed: {fid} {names.get(fid, '')}", True)
    for fid in map(str, proposal.move):
        was, now = where["base"].get(fid), where["other"].get(fid)
        label = f"迁移 moved: {fid} {names.get(fid, '')}"
        if was is not None and now is not None:
            folium.PolyLine(
                [was, now], color=PROPOSAL_COLOUR, weight=3, dash_array="4 4", tooltip=esc(label)
            ).add_to(group)
        if now is not None:
            ring(now, label)
    for fid in added:
        if fid in where["other"]:
            ring(where["other"][fid], f"新增 added: {fid} {names.get(fid, '')}")
    return group


# --------------------------------------------------------------------------- proposal files
_PROPOSAL_KEYS = {"name", "title", "close", "move", "crs", "add", "links"}
_ADD_KEYS = {"path", "crs", "columns", "sheet", "layer"}
_LINK_KEYS = {"name", "coords", "crs"}


def _points_to_wgs84(coords: Any, crs: str, where: str) -> np.ndarray:
    from planner.crs import to_wgs84

    try:
        xy = np.asarray(coords, dtype=float)
    except (TypeError, ValueError) as exc:
        raise PlannerError(
            _("{where}: expected [lon, lat] pairs of numbers").format(where=where)
        ) from exc
    if xy.ndim != 2 or xy.shape[1] != 2 or not np.isfinite(xy).all():
        raise PlannerError(
            _("{where}: expected [lon, lat] pairs of finite numbers").format(where=where)
        )
    try:
        lon, lat = to_wgs84(xy[:, 0], xy[:, 1], crs)
    except ValueError as exc:
        raise PlannerError(f"{where}: {exc}") from exc
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise PlannerError(
            _("{where}: coordinates outside the range of {crs}").format(where=where, crs=crs)
        )
    return np.column_stack([lon, lat])


def load_proposal(path: str | Path) -> Proposal:
    """Read a proposal file (TOML).

    The file has a ``[proposal]`` table (``name``, ``title``, ``close = ["F05"]``,
    ``move = { F02 = [lon, lat] }``, ``crs`` of the moved positions, default WGS84), an
    optional ``[add]`` table naming a facilities file like a scenario's ``[facilities]``
    (``path``, ``crs``, ``columns``, ``sheet``, ``layer``), and ``[[links]]`` tables
    (``name``, ``coords = [[lon, lat], ...]``, ``crs``). Coordinates in GCJ-02 or BD-09
    are converted to WGS-84 like every input.

    Parameters
    ----------
    path
        The proposal file.

    Returns
    -------
    proposal
        The proposal, with WGS-84 coordinates.

    Raises
    ------
    PlannerError
        One line naming the file and the key for anything missing, unknown or malformed.
    """
    from planner.readers import read_points

    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # Notepad may add a BOM
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PlannerError(
            _("{path}: cannot read the proposal ({exc})").format(path=path, exc=exc)
        ) from exc
    unknown = sorted(set(doc) - {"proposal", "add", "links"})
    if unknown:
        raise PlannerError(
            _("{path}: unknown table [{unknown}] (tables: proposal, add, links)").format(
                path=path, unknown=unknown[0]
            )
        )
    meta = doc.get("proposal")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise PlannerError(
            _('{path}: [proposal] name is missing (a short text, e.g. "east-gate")').format(
                path=path
            )
        )
    if not is_file_name(meta["name"]):
        raise PlannerError(
            _(
                "{path}: [proposal] name = {name!r}: expected a name usable as a file name (it "
                'names <name>_*.csv and maps/<scenario>-<name>.html; no / \\ : * ? " < > |)'
            ).format(path=path, name=meta["name"])
        )
    bad = sorted(set(meta) - _PROPOSAL_KEYS)
    if bad:
        raise PlannerError(_("{path}: [proposal] {bad}: unknown key").format(path=path, bad=bad[0]))
    close = meta.get("close", [])
    if not isinstance(close, list) or not all(isinstance(c, str) for c in close):
        raise PlannerError(
            _('{path}: [proposal] close: expected a list of facility ids, ["F05"]').format(
                path=path
            )
        )
    move_crs = str(meta.get("crs", "WGS84"))
    move: dict[str, tuple[float, float]] = {}
    moves = meta.get("move", {})
    if not isinstance(moves, dict):
        raise PlannerError(
            _("{path}: [proposal] move: expected a table of id = [lon, lat]").format(path=path)
        )
    for fid, xy in moves.items():
        ((lon, lat),) = _points_to_wgs84([xy], move_crs, f"{path}: [proposal] move.{fid}")
        move[str(fid)] = (float(lon), float(lat))
    add = None
    if "add" in doc:
        table = doc["add"]
        if not isinstance(table, dict) or not isinstance(table.get("path"), str):
            raise PlannerError(
                _("{path}: [add] path: expected the facilities file to add").format(path=path)
            )
        extra = sorted(set(table) - _ADD_KEYS)
        if extra:
            raise PlannerError(
                _("{path}: [add] {extra}: unknown key").format(path=path, extra=extra[0])
            )
        add = read_points(
            (path.parent / table["path"]).resolve(),
            crs=str(table.get("crs", "WGS84")),
            columns=table.get("columns") or None,
            study_bbox=None,
            id_prefix="proposed",
            sheet=table.get("sheet"),
            layer=table.get("layer"),
            allow_repeated_ids=True,
        )
    links: dict[str, shapely.LineString] = {}
    raw_links = doc.get("links", [])
    if not isinstance(raw_links, list):
        raise PlannerError(_("{path}: links: expected [[links]] tables").format(path=path))
    for i, link in enumerate(raw_links, start=1):
        where = f"{path}: [[links]] #{i}"
        if not isinstance(link, dict) or not isinstance(link.get("name"), str):
            raise PlannerError(_("{where}: name is missing").format(where=where))
        extra = sorted(set(link) - _LINK_KEYS)
        if extra:
            raise PlannerError(
                _("{where}: {extra}: unknown key").format(where=where, extra=extra[0])
            )
        coords = _points_to_wgs84(link.get("coords"), str(link.get("crs", "WGS84")), where)
        if len(coords) < 2:
            raise PlannerError(
                _("{where}: coords: a link needs two or more points").format(where=where)
            )
        links[link["name"]] = shapely.LineString(coords)
    return Proposal(name=meta["name"], add=add, move=move, close=close, links=links)

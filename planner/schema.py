"""Row statuses and the column layout of every table the planner reads, builds and writes."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType

__all__ = [
    "COVERAGE_COLUMNS",
    "COVERAGE_LAYOUT",
    "ENTRANCE_COLUMNS",
    "ENTRANCE_LAYOUT",
    "FACILITY_COLUMNS",
    "FACILITY_LAYOUT",
    "ISOCHRONE_COLUMNS",
    "ISOCHRONE_LAYOUT",
    "LAYOUTS",
    "POI_COLUMNS",
    "POI_INPUT_COLUMNS",
    "POI_LAYOUT",
    "READ_COLUMNS",
    "READ_LAYOUT",
    "READ_STATUSES",
    "ROUTED_STATUSES",
    "SKIPPED_COLUMNS",
    "SKIPPED_LAYOUT",
    "SNAP_COLUMNS",
    "SNAP_LAYOUT",
    "SNAP_STATUSES",
    "USABLE_STATUSES",
    "Status",
]


class Status(str, Enum):
    """What became of a row: the ``status`` of every input row, entrance, POI and facility.

    A member is its plain string value (``Status.OK == "ok"``, same hash, ``str()`` and
    f-strings give ``"ok"``), so it compares with the strings in tables and files; tables
    hold the plain values. Each member has a `meaning` (as in the README's row-check
    table) and says whether such a row is `routed` (snapped to the network and walked).
    """

    meaning: str
    routed: bool

    def __new__(cls, value: str, routed: bool = False, meaning: str = "") -> Status:
        """Create a member whose value is the plain string `value`.

        Only the members below are made with it; ``Status("ok")`` looks a member up.
        """
        member = str.__new__(cls, value)
        member._value_ = value
        member.routed = routed
        member.meaning = meaning
        return member

    def __str__(self) -> str:
        """Return the plain value (``"ok"``), not ``"Status.OK"``."""
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        """Format the plain value, as f-strings do on every Python version."""
        return str.__format__(str.__str__(self), format_spec)

    # read from the file (`planner.readers.read_points`)
    OK = "ok", True, "usable; routed"
    SWAPPED_LAT_LON = "swapped_lat_lon", True, "longitude and latitude were swapped; fixed"
    MALFORMED_ROW = (
        "malformed_row",
        False,
        "more fields than the header (an unquoted comma), even when the extra field is empty "
        "(unless every row has the same trailing delimiters)",
    )
    INVALID_CRS = "invalid_crs", False, "the row's crs value is not recognised"
    MISSING_COORDINATES = "missing_coordinates", False, "empty coordinate"
    INVALID_COORDINATES = (
        "invalid_coordinates",
        False,
        "not a number, infinite or out of range",
    )
    OUTSIDE_STUDY_AREA = "outside_study_area", False, "outside the scenario's study_bbox"
    DUPLICATE_ID = (
        "duplicate_id",
        False,
        "the id was used by an earlier row, of this file or an earlier source; facilities "
        "may repeat ids (entrances)",
    )
    # snapped to the street network (`planner.snap.snap_points`)
    TOO_FAR_FROM_NETWORK = (
        "too_far_from_network",
        False,
        "farther than snap_limit_m from every walkable street",
    )
    NO_COORDINATES = (
        "no_coordinates",
        False,
        "not snapped: no usable coordinates (snap_status of a row whose status says why)",
    )
    # walked (`planner.coverage.nearest_table`) and summed up per facility
    UNREACHABLE = "unreachable", True, "routed, but no facility reaches it on the network"
    NO_USABLE_ENTRANCE = (
        "no_usable_entrance",
        False,
        "a facility none of whose entrances (rows) snapped to the network",
    )


#: Statuses `planner.readers.read_points` gives: the usable ones, then the others in the
#: order they are checked.
READ_STATUSES: tuple[Status, ...] = (
    Status.OK,
    Status.SWAPPED_LAT_LON,
    Status.MALFORMED_ROW,
    Status.INVALID_CRS,
    Status.MISSING_COORDINATES,
    Status.INVALID_COORDINATES,
    Status.OUTSIDE_STUDY_AREA,
    Status.DUPLICATE_ID,
)
#: Final statuses of rows that were snapped and walked (``ok``, ``swapped_lat_lon`` fixed and
#: routed, ``unreachable``): the merchants a coverage share or a siting demand counts.
ROUTED_STATUSES: frozenset[Status] = frozenset(s for s in Status if s.routed)
#: Read statuses of rows with a usable point (``usable`` is True).
USABLE_STATUSES: frozenset[Status] = frozenset({Status.OK, Status.SWAPPED_LAT_LON})
#: Statuses of `planner.snap.snap_points` (the ``snap_status`` column of facilities.csv).
SNAP_STATUSES: tuple[Status, ...] = (
    Status.OK,
    Status.TOO_FAR_FROM_NETWORK,
    Status.NO_COORDINATES,
)

#: The reader layout (`planner.read_points`, `planner.readers.valid_points`); a read file's
#: other columns follow, unchanged.
READ_LAYOUT: Mapping[str, str] = MappingProxyType(
    {
        "row": "row in the file: spreadsheet row (header = row 1) or feature number",
        "id": "id as given, or generated (<prefix>-<row>); entrances of a facility share one",
        "name": "name as given",
        "kind": "kind / category as given",
        "lon": "WGS-84 longitude; empty unless the point is valid",
        "lat": "WGS-84 latitude; empty unless the point is valid",
        "x_orig": "first coordinate as read, in crs_orig (empty if not a number)",
        "y_orig": "second coordinate as read, in crs_orig (empty if not a number)",
        "crs_orig": "canonical CRS the row was read in (WGS84, GCJ02, BD09, EPSG:NNNN)",
        "status": "row check (Status); ok and swapped_lat_lon are usable",
        "usable": "True if the point can be snapped (status ok or swapped_lat_lon)",
        "reason": "what is wrong: file, row, field and value; empty when ok",
    }
)
#: Columns naming a disconnected street piece that was nearer than the routed network.
SKIPPED_LAYOUT: Mapping[str, str] = MappingProxyType(
    {
        "skipped_piece": "dropped piece whose street was nearest, not routed (empty if none)",
        "skipped_piece_node": "an OSM node of that piece",
        "skipped_piece_name": "street names of that piece (empty if none)",
        "skipped_extra_m": "extra access metres because the piece was skipped (empty if none)",
    }
)
#: facilities.csv (``Result.entrances``): the reader layout, the file's other columns, then
#: these.
ENTRANCE_LAYOUT: Mapping[str, str] = MappingProxyType(
    {
        "snap_status": "snapping: ok, too_far_from_network or no_coordinates",
        "access_m": "straight line from the point to its nearest walkable street, metres",
        **SKIPPED_LAYOUT,
    }
)
#: pois.csv (``Result.pois``): these, then those of `POI_INPUT_COLUMNS` the input has, then
#: the input table's own further columns (电话, 地址, ``status_src`` for its own status),
#: then ``access_m`` and the `SKIPPED_LAYOUT` columns.
POI_LAYOUT: Mapping[str, str] = MappingProxyType(
    {
        "poi_id": "POI id (the reader's id)",
        "name": "name as given",
        "kind": "kind / category (OpenStreetMap key:value for OSM POIs)",
        "lon": "WGS-84 longitude; empty unless the point is valid",
        "lat": "WGS-84 latitude; empty unless the point is valid",
        "nearest_facility_id": "facility nearest on foot (empty if none reaches it)",
        "minutes_to_nearest": "walking minutes to it, access legs included",
        "status": "Status: a read status, too_far_from_network or unreachable",
        "reason": "what is wrong; empty when ok",
    }
)
#: Input columns carried to pois.csv when present (``source``: OpenStreetMap feature).
POI_INPUT_COLUMNS = ("row", "x_orig", "y_orig", "crs_orig", "source")
#: coverage.csv (``Result.coverage``): facility-POI pairs within the largest band.
COVERAGE_LAYOUT: Mapping[str, str] = MappingProxyType(
    {
        "facility_id": "facility id",
        "poi_id": "POI id",
        "poi_kind": "POI kind",
        "distance_m": "walking distance, access legs included, metres",
        "minutes": "walking minutes at the scenario's speed",
        "band_min": "smallest band (minutes) that holds it",
    }
)
#: ``Result.facilities`` and summary.json's facilities: one row per facility id.
FACILITY_LAYOUT: Mapping[str, str] = MappingProxyType(
    {
        "facility_id": "facility id",
        "name": "name (of its first row)",
        "kind": "kind (of its first row)",
        "entrances": "rows (entrances) with this id",
        "entrances_snapped": "entrances snapped to the network",
        "lon": "WGS-84 longitude: mean of the snapped entrances",
        "lat": "WGS-84 latitude: mean of the snapped entrances",
        "status": "ok or no_usable_entrance",
    }
)
#: isochrones.geojson (``Result.isochrones``), besides the geometry.
ISOCHRONE_LAYOUT: Mapping[str, str] = MappingProxyType(
    {
        "facility_id": "facility id",
        "band_min": "band, minutes",
        "distance_m": "band, metres of walking",
    }
)
#: `planner.snap.snap_points` output, one row per point.
SNAP_LAYOUT: Mapping[str, str] = MappingProxyType(
    {
        "edge": "nearest edge of the routed network (-1 when not snapped)",
        "offset": "metres along that edge from its u end",
        "access_m": "access leg, metres",
        "snap_x": "on-edge point, network CRS",
        "snap_y": "on-edge point, network CRS",
        "status": "ok, too_far_from_network or no_coordinates",
        "skipped_piece": "dropped piece nearer than the routed network (-1 when none)",
        "skipped_extra_m": "access leg minus the distance to that piece",
    }
)

READ_COLUMNS = tuple(READ_LAYOUT)
SKIPPED_COLUMNS = tuple(SKIPPED_LAYOUT)
ENTRANCE_COLUMNS = tuple(ENTRANCE_LAYOUT)
POI_COLUMNS = tuple(POI_LAYOUT)
COVERAGE_COLUMNS = tuple(COVERAGE_LAYOUT)
FACILITY_COLUMNS = tuple(FACILITY_LAYOUT)
ISOCHRONE_COLUMNS = tuple(ISOCHRONE_LAYOUT)
SNAP_COLUMNS = tuple(SNAP_LAYOUT)

#: Every layout by name.
LAYOUTS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "read": READ_LAYOUT,
        "entrances": ENTRANCE_LAYOUT,
        "skipped": SKIPPED_LAYOUT,
        "pois": POI_LAYOUT,
        "coverage": COVERAGE_LAYOUT,
        "facilities": FACILITY_LAYOUT,
        "isochrones": ISOCHRONE_LAYOUT,
        "snap": SNAP_LAYOUT,
    }
)

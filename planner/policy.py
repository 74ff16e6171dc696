"""Business types required by policy (一刻钟便民生活圈 业态) and which ones each circle holds."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner import readers
from planner._errors import PlannerError
from planner._i18n import _
from planner.schema import ROUTED_STATUSES, Status
from planner.style import BAND_TOLERANCE, within_band

if TYPE_CHECKING:
    from planner.result import Result
    from planner.scenario import Scenario

__all__ = [
    "CLASSES",
    "DEFAULT_TYPES_FILE",
    "POLICY_COLUMNS",
    "TYPE_COLUMNS",
    "PolicyTypes",
    "add_policy",
    "analyse_origins",
    "carry_policy",
    "classify",
    "load_origins",
    "load_types",
    "missing_by_origin",
    "not_checked_types",
    "policy_summary",
    "policy_table",
    "unmapped_kinds",
]

#: The shipped table: MOFCOM's 城市一刻钟便民生活圈建设指南 (2021) types, basic and quality.
DEFAULT_TYPES_FILE = Path(__file__).with_name("policy_types.csv")
#: Columns every types table must have (others, such as ``note``, are kept but not read).
TYPE_COLUMNS = (
    "type_code",
    "class",
    "type_zh",
    "type_en",
    "osm_tags",
    "words_zh",
    "required_band_min",
    "source",
)
#: Accepted values of ``class``.
CLASSES = ("basic", "quality")
#: Columns of policy.csv (`policy_table`).
POLICY_COLUMNS = (
    "origin_id",
    "origin_kind",
    "band_min",
    "type_code",
    "type_zh",
    "type_en",
    "class",
    "required_min",
    "required",
    "count",
    "nearest_minutes",
    "missing",
)

_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TAG = re.compile(r"^[a-z][a-z0-9_:]*=[^\s=;]+$")


@dataclass(frozen=True)
class PolicyTypes:
    """A checked table of policy business types and the indexes `classify` uses.

    Attributes
    ----------
    table
        One row per type, in file order (`TYPE_COLUMNS` first; ``required_band_min`` float).
    path
        The file it was read from.
    tags
        ``key=value`` -> type_code.
    words
        ``(word, type_code)`` pairs, longest word first, ties in table order.
    """

    table: pd.DataFrame
    path: Path
    tags: dict[str, str] = field(default_factory=dict)
    words: tuple[tuple[str, str], ...] = ()

    def __len__(self) -> int:
        """The number of types."""
        return len(self.table)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("；", ";").split(";") if part.strip()]


def load_types(path: str | Path | None = None) -> PolicyTypes:
    """Read and check a table of policy business types.

    Parameters
    ----------
    path
        A UTF-8 CSV with `TYPE_COLUMNS` (default: the shipped `DEFAULT_TYPES_FILE`).

    Returns
    -------
    types
        The checked table with its tag and word indexes.

    Raises
    ------
    planner.PlannerError
        One line naming the file, and the row (header = row 1) and field of each problem
        (up to four): a missing column, an empty or repeated ``type_code``, a ``class`` other
        than basic/quality, an empty ``type_zh``, an OSM tag not written ``key=value`` or
        given to two types, a ``required_band_min`` that is not a positive number.
    """
    path = Path(path) if path is not None else DEFAULT_TYPES_FILE
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PlannerError(
            _("{path}: cannot read the policy types table ({exc})").format(path=path, exc=exc)
        ) from exc
    if not rows:
        raise PlannerError(
            _("{path}: empty file; expected columns {type_columns}").format(
                path=path, type_columns=", ".join(TYPE_COLUMNS)
            )
        )
    header = [h.strip() for h in rows[0]]
    absent = [c for c in TYPE_COLUMNS if c not in header]
    if absent:
        raise PlannerError(
            _("{path}: missing column(s) {absent} (row 1, the header)").format(
                path=path, absent=", ".join(absent)
            )
        )
    problems: list[str] = []
    records: list[dict[str, Any]] = []
    tags: dict[str, str] = {}
    words: list[tuple[str, str, int]] = []
    codes: set[str] = set()
    for n, raw in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) != len(header):
            problems.append(
                _("row {n}: {count} fields, the header has {count2}").format(
                    n=n, count=len(raw), count2=len(header)
                )
            )
            continue
        rec: dict[str, Any] = {h: cell.strip() for h, cell in zip(header, raw, strict=True)}

        def bad(column: str, expected: str, row: int = n, rec: dict[str, Any] = rec) -> None:
            problems.append(
                _("row {row}, {column} = {rec!r}: expected {expected}").format(
                    row=row, column=column, rec=rec[column], expected=expected
                )
            )

        code = rec["type_code"]
        if not _CODE.match(code):
            bad(
                "type_code",
                _("an English id of letters, digits and _ (e.g. B01_convenience_store)"),
            )
        elif code in codes:
            bad("type_code", _("a code not used by an earlier row"))
        codes.add(code)
        if rec["class"] not in CLASSES:
            bad("class", _(" or ").join(CLASSES))
        if not rec["type_zh"]:
            bad("type_zh", _("the type's Chinese name"))
        for tag in _split(rec["osm_tags"]):
            if not _TAG.match(tag):
                bad(
                    "osm_tags",
                    _("OSM tags key=value separated by ';' (not {tag!r})").format(tag=tag),
                )
            elif tag in tags and tags[tag] != code:
                bad(
                    "osm_tags",
                    _("tags of one type only ({tag} is already {code})").format(
                        tag=tag, code=tags[tag]
                    ),
                )
            else:
                tags[tag] = code
        words += [(w, code, len(records)) for w in _split(rec["words_zh"])]
        try:
            band = float(rec["required_band_min"])
        except ValueError:
            band = math.nan
        if not (math.isfinite(band) and band > 0):
            bad("required_band_min", _("a positive number of minutes (e.g. 10)"))
        rec["required_band_min"] = band
        records.append(rec)
    if problems:
        more = _("; and {count} more").format(count=len(problems) - 4) if len(problems) > 4 else ""
        shown = _("; ").join(problems[:4]) + more
        raise PlannerError(
            _("{path}: policy types table: {problems}")
            .format(path=path, problems=shown)
            .replace("\n", " ")
        )
    if not records:
        raise PlannerError(
            _("{path}: policy types table has a header but no types").format(path=path)
        )
    seen: dict[str, str] = {}
    ordered = []
    for word, code, order in sorted(words, key=lambda t: (-len(t[0]), t[2])):
        if word not in seen:  # a word given to two types belongs to the first of them
            seen[word] = code
            ordered.append((word, code))
        del order
    table = pd.DataFrame(records, columns=header)
    return PolicyTypes(table=table, path=path, tags=tags, words=tuple(ordered))


def _types(types: PolicyTypes | str | Path | None) -> PolicyTypes:
    return types if isinstance(types, PolicyTypes) else load_types(types)


def classify(kind: object, types: PolicyTypes | str | Path | None = None) -> str | None:
    """The policy type of a POI kind, or None: by exact OSM tag, else by Chinese word.

    Rules, in order:

    1. OSM tag: a kind written ``key:value`` (as `planner.pois` writes OSM POIs, e.g.
       ``shop:convenience``) or ``key=value`` is matched exactly, key lower-cased, against
       the ``osm_tags`` of the table; ``shop:convenience`` is ``shop=convenience``.
    2. Chinese word: otherwise, the type one of whose ``words_zh`` the kind text contains
       (e.g. 业态 ``24小时便利店`` contains 便利店); when several words are contained, the
       longest wins (``生鲜超市`` is 生鲜超市/菜店, not 综合超市); between equally long words,
       the type first in the table wins.

    Nothing else is guessed: a kind matching no tag and containing no word is None.

    Parameters
    ----------
    kind
        A POI's kind (None / NaN give None).
    types
        The types table (default: the shipped one).

    Returns
    -------
    type_code
        The ``type_code`` or None.
    """
    t = _types(types)
    if not isinstance(kind, str) or not kind.strip():
        return None
    text = kind.strip()
    for sep in ("=", ":"):
        if sep in text:
            key, value = text.split(sep, 1)
            code = t.tags.get(f"{key.strip().lower()}={value.strip()}")
            if code is not None:
                return code
            break
    for word, code in t.words:
        if word in text:
            return code
    return None


def _classify_all(kinds: pd.Series, types: PolicyTypes) -> pd.Series:
    unique = pd.unique(kinds)
    lookup = {k: classify(k, types) for k in unique if isinstance(k, str)}
    return kinds.map(lambda k: lookup.get(k) if isinstance(k, str) else None)


def unmapped_kinds(result: Result, types: PolicyTypes | str | Path | None = None) -> pd.DataFrame:
    """The POI kinds that map to no policy type, with how many POIs have each.

    Parameters
    ----------
    result
        The analysis (its ``pois``: every input POI row; a row repeating an earlier row's
        id, ``duplicate_id``, is the same place and not counted again).
    types
        The types table (default: the shipped one).

    Returns
    -------
    unmapped
        Columns ``kind, count``, most frequent first (ties by kind); an empty kind is ``""``.
    """
    t = _types(types)
    pois = result.pois[result.pois["status"] != Status.DUPLICATE_ID]
    kinds = pois["kind"].astype(object).where(pois["kind"].notna(), "")
    codes = _classify_all(kinds.astype(str), t)
    left = kinds[codes.isna()].astype(str)
    out = left.value_counts().rename_axis("kind").reset_index(name="count")
    out["count"] = out["count"].astype(int)
    return out.sort_values(["count", "kind"], ascending=[False, True], ignore_index=True)


def analyse_origins(
    result: Result, origins: pd.DataFrame, *, facility_ids_ok: bool = False
) -> Result:
    """Walk from origin points (e.g. 社区居委会) to the result's POIs with the same engine.

    Parameters
    ----------
    result
        The analysis whose network, POIs and settings are used.
    origins
        Origin rows in the `planner.read_points` layout (each row one origin).
    facility_ids_ok
        Walk an origin whose id a facility has too (its rows are kept apart by the caller,
        as `planner region` does by area); by default such a row is ``duplicate_id``, as
        summary.json and the map key circles by id.

    Returns
    -------
    origins_result
        `planner.analyse` of the origins as facilities: its ``coverage`` is exact network
        walking, its ``entrances`` keep every origin row with its status.
    """
    from planner.pipeline import analyse

    origins = origins.copy()
    origins.attrs[readers.ATTR_POINT_KIND] = "origin"  # its reasons name origin points
    clash = (
        (not facility_ids_ok)
        & origins["usable"].to_numpy(dtype=bool)
        & origins["id"]
        .astype(str)
        .isin({str(f) for f in result.facilities["facility_id"]})
        .to_numpy()
    )
    if clash.any():  # the tables and the summary key circles by id: one id, one circle
        origins.loc[clash, "usable"] = False
        origins.loc[clash, "status"] = Status.DUPLICATE_ID.value
        origins.loc[clash, "reason"] = [
            _("row {row}, origin {id}: a facility has this id; give the origin its own").format(
                row=row, id=json.dumps(str(oid), ensure_ascii=False)
            )
            for row, oid in zip(origins.loc[clash, "row"], origins.loc[clash, "id"], strict=True)
        ]
    s = result.settings
    return analyse(
        result.network,
        origins,
        result.poi_rows,
        speed_kmh=s.speed_kmh,
        bands_min=s.bands_min,
        snap_limit_m=s.snap_limit_m,
        buffer_m=s.buffer_m,
        about=result.provenance,
        polygons=False,  # only its tables are used
    )


def _rows(
    ids: list[Any],
    origin_kind: str,
    coverage: pd.DataFrame,
    bands: tuple[float, ...],
    t: PolicyTypes,
) -> pd.DataFrame:
    """Rows of `policy_table` for one kind of origin: ids x bands x types, in that order.

    Counted for all origins, bands and types at once (one pass over the coverage rows);
    ``count`` and ``nearest_minutes`` are those of `_rows_by_loop`, the per-origin form
    the tests compare it with.
    """
    if not ids:
        return pd.DataFrame()
    cov = coverage.assign(type_code=_classify_all(coverage["poi_kind"], t))
    cov = cov[cov["type_code"].notna()]
    table = t.table
    codes = table["type_code"].to_numpy(dtype=object)
    origins = pd.Index(pd.unique(np.asarray(ids, dtype=object)))
    types = pd.Index(pd.unique(codes))
    row = origins.get_indexer(cov["facility_id"].to_numpy(dtype=object))
    col = types.get_indexer(cov["type_code"].to_numpy(dtype=object))
    keep = (row >= 0) & (col >= 0)
    row, col = row[keep], col[keep]
    minutes = cov["minutes"].to_numpy(dtype=float)[keep]
    nb, no, nt = len(bands), len(origins), len(types)
    count = np.zeros((no, nb, nt), dtype=int)
    for j, band in enumerate(bands):
        inside = within_band(minutes, band)
        np.add.at(count[:, j, :], (row[inside], col[inside]), 1)
    near = np.full((no, nt), np.nan)
    np.fmin.at(near, (row, col), minutes)  # fmin skips NaN, as groupby(...).min() does
    required = np.array(
        [[within_band(float(r), band) for r in table["required_band_min"]] for band in bands],
        dtype=bool,
    )  # bands x types (table order)
    at = origins.get_indexer(np.asarray(ids, dtype=object))  # each id, repeats kept
    tcol = types.get_indexer(codes)
    n = len(ids) * nb * len(codes)
    counts = count[at][:, :, tcol].reshape(n)
    req = np.broadcast_to(required, (len(ids), nb, len(codes))).reshape(n)
    return pd.DataFrame(
        {
            "origin_id": np.repeat(np.asarray(ids, dtype=object), nb * len(codes)),
            "origin_kind": origin_kind,
            "band_min": np.tile(np.repeat(np.asarray(bands, dtype=float), len(codes)), len(ids)),
            "type_code": np.tile(codes, len(ids) * nb),
            "type_zh": np.tile(table["type_zh"].to_numpy(dtype=object), len(ids) * nb),
            "type_en": np.tile(table["type_en"].to_numpy(dtype=object), len(ids) * nb),
            "class": np.tile(table["class"].to_numpy(dtype=object), len(ids) * nb),
            "required_min": np.tile(table["required_band_min"].to_numpy(float), len(ids) * nb),
            "required": req,
            "count": counts,
            "nearest_minutes": np.repeat(near[at][:, tcol], nb, axis=0).reshape(n),
            "missing": req & (counts == 0),
        }
    )


def _rows_by_loop(
    ids: list[Any],
    origin_kind: str,
    coverage: pd.DataFrame,
    bands: tuple[float, ...],
    t: PolicyTypes,
) -> pd.DataFrame:
    """`_rows` one origin and one band at a time (the reference the tests compare with)."""
    cov = coverage.assign(type_code=_classify_all(coverage["poi_kind"], t))
    cov = cov[cov["type_code"].notna()]
    nearest = cov.groupby(["facility_id", "type_code"])["minutes"].min()
    table = t.table
    codes = table["type_code"].to_numpy(dtype=object)
    frames = []
    for oid in ids:
        mine = cov[cov["facility_id"] == oid]
        for band in bands:
            inside = mine[within_band(mine["minutes"].to_numpy(dtype=float), band)]
            counts = inside["type_code"].value_counts()
            required = np.array(
                [within_band(float(r), band) for r in table["required_band_min"]], dtype=bool
            )
            count = np.array([int(counts.get(c, 0)) for c in codes], dtype=int)
            near = np.array([float(nearest.get((oid, c), np.nan)) for c in codes], dtype=float)
            frames.append(
                pd.DataFrame(
                    {
                        "origin_id": oid,
                        "origin_kind": origin_kind,
                        "band_min": float(band),
                        "type_code": codes,
                        "type_zh": table["type_zh"].to_numpy(dtype=object),
                        "type_en": table["type_en"].to_numpy(dtype=object),
                        "class": table["class"].to_numpy(dtype=object),
                        "required_min": table["required_band_min"].to_numpy(float),
                        "required": required,
                        "count": count,
                        "nearest_minutes": near,
                        "missing": required & (count == 0),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def policy_table(
    result: Result,
    types: PolicyTypes | str | Path | None = None,
    origins: pd.DataFrame | Result | None = None,
) -> pd.DataFrame:
    """One row per origin × band × policy type: is the type within the band, and how near.

    Rows: the result's facilities (``origin_kind`` ``"facility"``, from ``result.coverage``),
    then the origins (``"origin"``, from their own exact walk, `analyse_origins`); for each,
    the bands ascending; for each band the types in table order. A type is ``required`` in a
    band when its ``required_band_min`` is within that band (`planner.style.within_band`):
    basic types (10 min) in the 10- and 15-minute bands, not the 5-minute one. ``count`` is
    the POIs of the type within the band (the band rule); ``nearest_minutes`` the walking
    minutes to the nearest one (NaN if none within the largest band, the same in every band);
    ``missing`` = required and count 0. A facility or origin that is not routed reaches
    nothing: its counts are 0 and its required types missing (its status says why).

    Parameters
    ----------
    result
        The analysis.
    types
        The types table (default: the shipped one).
    origins
        Origin rows (`planner.read_points` layout), or the `analyse_origins` result of them.

    Returns
    -------
    policy
        The `POLICY_COLUMNS` table.
    """
    t = _types(types)
    bands = result.settings.bands_min
    parts = [_rows(list(result.facilities["facility_id"]), "facility", result.coverage, bands, t)]
    if origins is not None:
        walked = analyse_origins(result, origins) if isinstance(origins, pd.DataFrame) else origins
        parts.append(
            _rows(list(walked.facilities["facility_id"]), "origin", walked.coverage, bands, t)
        )
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(POLICY_COLUMNS))
    out = pd.concat(parts, ignore_index=True)[list(POLICY_COLUMNS)]
    return out.astype({"required": bool, "missing": bool, "count": int})


def missing_by_origin(
    policy: pd.DataFrame, not_routed: Iterable[tuple[str, object]] = ()
) -> dict[str, list[str]]:
    """The required types each facility / origin lacks: none within its required time.

    A type is missing when no POI of it lies within the type's ``required_min`` (basic
    10 minutes, quality 15 in the shipped table), whatever the bands: a supermarket 12
    minutes away is missing, although it is within the 15-minute band. Only types whose
    required time is within the largest band can be checked (the walk ends there); the
    others are in `not_checked_types`.

    Parameters
    ----------
    policy
        A `policy_table`.
    not_routed
        ``(origin_kind, origin_id)`` of facilities / origins that were not walked (no
        usable point, `not_routed`): nothing was measured for them, so they are left out.

    Returns
    -------
    missing
        origin_id -> type_codes (table order), for every walked origin in the table (empty
        list when nothing is missing).
    """
    if policy.empty:
        return {}
    skip = {(str(kind), str(oid)) for kind, oid in not_routed}
    largest = float(policy["band_min"].max())
    first = policy[policy["band_min"] == policy["band_min"].min()]  # one row per type
    need = first["required_min"].to_numpy(float)
    near = first["nearest_minutes"].to_numpy(float)
    checked = within_band(need, largest)
    with np.errstate(invalid="ignore"):  # NaN: none within the largest band
        near_enough = near <= need + BAND_TOLERANCE * np.maximum(need, 1.0)  # the band rule
    lacking = checked & ~near_enough
    first = first.assign(_lacking=lacking)
    return {
        str(oid): list(g.loc[g["_lacking"], "type_code"])
        for (oid, kind), g in first.groupby(["origin_id", "origin_kind"], sort=False)
        if (str(kind), str(oid)) not in skip
    }


def not_checked_types(policy: pd.DataFrame) -> list[str]:
    """Types whose required time is beyond the largest band, so the walk cannot check them.

    Parameters
    ----------
    policy
        A `policy_table`.

    Returns
    -------
    codes
        type_codes (table order); empty with the default bands (5, 10, 15).
    """
    if policy.empty:
        return []
    largest = float(policy["band_min"].max())
    types = policy.drop_duplicates("type_code")
    return list(
        types.loc[~within_band(types["required_min"].to_numpy(float), largest), "type_code"]
    )


def policy_summary(
    result: Result,
    types: PolicyTypes,
    policy: pd.DataFrame,
    origins: Result | None = None,
) -> dict[str, Any]:
    """The ``policy`` section of summary.json.

    Parameters
    ----------
    result
        The analysis.
    types
        The types table used.
    policy
        Its `policy_table`.
    origins
        The `analyse_origins` result, if there were origins.

    Returns
    -------
    summary
        ``types_file``, ``types``, ``rule`` (how kinds map), ``missing`` (per walked
        facility / origin, `missing_by_origin`), ``not_checked_types`` (required beyond the
        largest band), ``unmapped_kinds`` (kind, count) and ``origins`` (every origin row
        with its status and reason).
    """
    rows: list[dict[str, Any]] = []
    if origins is not None:
        e = origins.entrances
        rows = [
            {"origin_id": i, "name": n, "status": s, "reason": r if isinstance(r, str) else ""}
            for i, n, s, r in zip(e["id"], e["name"], e["status"], e["reason"], strict=True)
        ]
    return {
        "types_file": types.path.name,
        "types": len(types),
        "rule": "exact OSM key=value tag of the POI kind, else the longest Chinese word "
        "contained in the kind (ties: first in the table); required in a band when the "
        "type's required_band_min is within it (basic 10 min, quality 15 min); missing "
        "when no POI of the type is within its required_band_min, whatever the bands",
        "missing": missing_by_origin(policy, not_routed(result, origins)),
        "not_checked_types": not_checked_types(policy),
        "unmapped_kinds": unmapped_kinds(result, types).to_dict("records"),
        "origins": rows,
    }


def not_routed(result: Result, origins: Result | None = None) -> list[tuple[str, str]]:
    """Ids of the facilities (and walked origins) that no street reached: nothing measured.

    Parameters
    ----------
    result
        The analysis.
    origins
        The `analyse_origins` result, if there were origins.

    Returns
    -------
    ids
        ``(origin_kind, id)`` (``"facility"`` / ``"origin"``) of those whose status is not
        a routed one.
    """
    routed = [str(s) for s in ROUTED_STATUSES]
    ids = []
    for kind, r in (("facility", result), ("origin", origins)):
        if r is not None:
            f = r.facilities
            ids += [(kind, str(i)) for i in f.loc[~f["status"].isin(routed), "facility_id"]]
    return ids


def load_origins(scenario: Scenario) -> pd.DataFrame | None:
    """Read a scenario's ``[origins]`` table (`planner.read_points`), or None without one.

    Parameters
    ----------
    scenario
        The scenario.

    Returns
    -------
    origins
        Every row with its status (rows outside the study area are ``outside_study_area``).
    """
    from planner.inputs import read_source

    if scenario.origins is None:
        return None
    return read_source(scenario.origins, id_prefix="origin", study_bbox=scenario.study_bbox)


def add_policy(
    result: Result,
    types: PolicyTypes | str | Path | None = None,
    origins: pd.DataFrame | None = None,
) -> Result:
    """Fill ``result.policy`` and the ``policy`` section of ``result.summary``.

    Parameters
    ----------
    result
        The analysis (changed in place).
    types
        The types table or its file (default: the shipped one).
    origins
        Origin rows (`planner.read_points` layout), or None.

    Returns
    -------
    result
        The same result.
    """
    t = _types(types)
    walked = analyse_origins(result, origins) if origins is not None else None
    result.policy = policy_table(result, t, walked)
    result.summary["policy"] = policy_summary(result, t, result.policy, walked)
    result.policy_inputs = (t, None if origins is None else origins.copy())
    return result


def carry_policy(source: Result, result: Result) -> Result:
    """Give `result` the policy analysis `source` has, made the same way (or nothing).

    Parameters
    ----------
    source
        A result whose policy was filled by `add_policy` (its ``policy_inputs``), or not.
    result
        A result computed again from `source` (changed in place).

    Returns
    -------
    result
        The same result.
    """
    if source.policy_inputs is not None:
        types, origins = source.policy_inputs
        add_policy(result, types, origins)
    return result

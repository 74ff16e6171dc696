"""A printable page: one A4 landscape PDF with the map, legend, summary table and sources."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
from matplotlib.figure import Figure

from planner import plot
from planner._publish import SIGNATURE, check_replaceable
from planner.crs import crs_name
from planner.io import write_atomic
from planner.result import Result
from planner.schema import ROUTED_STATUSES

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: A4 landscape, in inches (297 × 210 mm).
A4_LANDSCAPE_IN = (297 / 25.4, 210 / 25.4)
#: Facilities listed in the summary table; more are counted in one line below it.
MAX_TABLE_ROWS = 14
_GREY = "#444444"


def _band_label(b: float, cjk: bool) -> str:
    return plot.label(f"≤{b:g} 分钟", "min", cjk) if cjk else f"≤{b:g} min"


#: A name's English in brackets after its Chinese: "高新园地铁站 (Hi-Tech Park metro station)".
_BRACKETED = re.compile(r"\s*[(（][^()（）]*[)）]\s*$")


def _short_name(name: str, cjk: bool, width: int = 16) -> str:
    """A facility's name for the table: its Chinese alone when it has both, else cut at a word."""
    if cjk:
        chinese = _BRACKETED.sub("", name)
        if chinese and plot.english_only(chinese) != chinese:  # it has Chinese to show
            name = chinese
    else:
        name = plot.english_only(name) if name else ""
    if len(name) <= width:
        return name
    cut = name[: width - 1]
    if " " in cut:  # between words, where there are spaces
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" (（") + "…"


def _table_rows(analysis: Result, limit: int) -> tuple[list[str], list[list[str]], str]:
    bands = analysis.settings.bands_min
    keys = [f"{b:g}" for b in bands]
    cjk = plot.cjk_font() is not None
    header = [plot.label("服务点", "Facility", cjk)] + [_band_label(b, cjk) for b in bands]
    rows = []
    facilities = analysis.summary["facilities"]
    unrouted = plot.label("未计算", "not routed", cjk)
    for f in facilities[:limit]:
        name = _short_name(" ".join(str(f.get("name") or "").split()), cjk)  # no line breaks
        fid = str(f["facility_id"])
        fid = fid if len(fid) <= 12 else fid[:11] + "…"  # a long id must not hide the name
        first = f"{fid} {name}".strip()
        if f.get("status") not in ROUTED_STATUSES:  # nothing walked: not "reaches 0"
            rows.append([first, *[unrouted for _ in keys]])
            continue
        rows.append([first, *[str(f["bands"].get(k, {}).get("pois", 0)) for k in keys]])
    overall = analysis.summary["overall"]
    total = overall["pois_total"]
    cells = []
    for k in keys:
        band = overall["bands"][k]
        share = band["share_of_all_pois"]
        cells.append(f"{band['pois_within']} ({'–' if share is None else f'{100 * share:.1f}%'})")
    rows.append([plot.label(f"合计 {total} 个", f"All {total} POIs", cjk), *cells])
    more = len(facilities) - limit
    note = (
        plot.label(
            f"另有 {more} 个服务点见 summary.json 或工作簿汇总表",
            f"{more} more in summary.json or the workbook's 汇总 sheet",
            cjk,
        )
        if more > 0
        else ""
    )
    return header, rows, note


def _summary_table(ax: Axes, analysis: Result, limit: int = MAX_TABLE_ROWS) -> None:
    ax.set_axis_off()
    cjk = plot.cjk_font() is not None
    header, rows, note = _table_rows(analysis, limit)
    ax.set_title(
        plot.label(
            "步行可达商户与服务点数（累计）",
            "POIs reached (cumulative)",
            cjk,
        ),
        fontsize=9,
        loc="left",
    )
    table = ax.table(
        cellText=rows,
        colLabels=header,
        loc="upper left",
        cellLoc="right",
        colLoc="right",
        colWidths=[0.46] + [0.54 / (len(header) - 1)] * (len(header) - 1),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    for (r, c), cell in table.get_celld().items():
        cell.set_linewidth(0.3)
        cell.set_edgecolor("#bbbbbb")
        if c == 0:
            cell.set_text_props(ha="left")
            cell.PAD = 0.03
        if r == 0 or r == len(rows):
            cell.set_facecolor("#eeeeee")
    if note:
        ax.text(0, -0.02, note, fontsize=7, color=_GREY, transform=ax.transAxes, va="top")


def _crs_text(analysis: Result) -> str:
    name = crs_name(analysis.network.crs)
    return f"{name} (" + plot.label("米", "metres", plot.cjk_font() is not None) + ")"


def _converted_crs(analysis: Result) -> list[str]:
    """The input coordinate systems other than WGS-84 that usable rows were converted from."""
    found: set[str] = set()
    for table in (analysis.entrances, analysis.pois):
        if "crs_orig" in table:
            found |= {str(c) for c in table["crs_orig"].dropna().unique() if str(c)}
    return sorted(found - {"WGS84", "EPSG:4326", "nan"})


def _notes(analysis: Result) -> str:
    about, settings = analysis.provenance, analysis.settings
    cjk = plot.cjk_font() is not None
    date = about.network_date or plot.label("日期未注明", "date not given", cjk)
    lines = [
        plot.label("数据来源", "Data:", cjk) + f" {about.attribution}, {date}",
        plot.label("坐标系", "CRS:", cjk) + " WGS-84 (EPSG:4326)",
        plot.label("制图投影", "Drawn in:", cjk) + f" {_crs_text(analysis)}",
        plot.label("方法：沿街道网络步行，非直线距离", "Method: walking along streets,", cjk),
        plot.label("", "not straight line,", False) + f" {settings.speed_kmh:g} km/h",
    ]
    converted = _converted_crs(analysis)
    if converted:  # only what was converted, e.g. GCJ-02 (Amap) points
        lines.insert(
            2, plot.label("输入已转换", "Converted to WGS-84:", cjk) + f" {', '.join(converted)}"
        )
    if about.facilities_file:
        lines.append(plot.label("服务点", "Facilities:", cjk) + f" {about.facilities_file}")
    came_from = [about.pois_file] if about.pois_file else []
    pois = analysis.pois
    if "source" in pois and pois["source"].astype(str).str.startswith("OpenStreetMap").any():
        came_from.append("OpenStreetMap")
    if came_from:
        lines.append(plot.label("商户", "POIs:", cjk) + f" {' + '.join(came_from)}")
    text = "\n".join(lines)
    return text if cjk else "\n".join(plot.english_only(x) for x in lines)


def draw_page(
    analysis: Result, *, review_number: str | None = None, issuing_unit: str | None = None
) -> Figure:
    """Lay out the printable page: title, map, legend, summary table, sources, review line.

    A wide study area gets the map across the page with legend, table and sources below
    it; a tall one gets them in a column to the right of the map.

    Parameters
    ----------
    analysis
        The result, see `planner.plot.draw`.
    review_number, issuing_unit
        The footer (`planner.plot.review_line`); None: the result's own, from the
        scenario's ``[report]`` (``analysis.provenance``).

    Returns
    -------
    fig
        An A4 landscape matplotlib figure (not attached to pyplot).
    """
    about = analysis.provenance
    review_number = about.review_number if review_number is None else review_number
    issuing_unit = about.issuing_unit if issuing_unit is None else issuing_unit
    with mpl.rc_context(plot._font_rc()):
        fig = Figure(figsize=A4_LANDSCAPE_IN)
        title, sub = plot.headline(analysis)
        # long titles smaller, then on two lines (lower, to keep clear of the page's edge)
        width = fig.get_figwidth() * 72 * 0.94  # the page less its 3% margins
        text, size, whole = plot.fit_text(title, width, 14, min_size=10)
        baseline = 0.955
        if not whole:
            text, size, whole = plot.fit_text(title, width, 10, min_size=8, max_lines=2)
            baseline = 0.947
        fig.text(0.03, baseline, text, fontsize=size, va="baseline")  # no bold: one font subset
        fig.text(0.03, 0.925, sub, fontsize=9.5, color=_GREY, va="baseline")
        x0, y0, x1, y1 = plot._extent(analysis.network, analysis)
        wide = (x1 - x0) / (y1 - y0) > 1.6
        if wide:  # map across the page, the rest in a row below it
            map_box = (0.03, 0.35, 0.94, 0.555)
            legend_box = (0.03, 0.07, 0.22, 0.25)
            table_box, rows = (0.27, 0.07, 0.38, 0.225), 9
            notes_xy = (0.68, 0.295)
        else:  # map on the left, the rest in a column to its right
            map_box = (0.03, 0.075, 0.60, 0.83)
            legend_box = (0.655, 0.64, 0.32, 0.265)
            table_box, rows = (0.655, 0.27, 0.32, 0.33), MAX_TABLE_ROWS
            notes_xy = (0.655, 0.20)
        ax = fig.add_axes(map_box)
        ax.set_anchor("N" if wide else "NW")
        plot.draw_map(ax, analysis, legend=False)
        legend_ax = fig.add_axes(legend_box)
        legend_ax.set_axis_off()
        plot.legend(legend_ax, analysis, loc="upper left", borderaxespad=0, frameon=False)
        _summary_table(fig.add_axes(table_box), analysis, rows)
        fig.text(
            *notes_xy,
            _notes(analysis),
            fontsize=7,
            color=_GREY,
            va="top",
            linespacing=1.5,
            wrap=True,
        )
        fig.text(
            0.03, 0.03, plot.review_line(review_number, issuing_unit), fontsize=8.5, va="baseline"
        )
    return fig


def save_pdf(
    analysis: Result,
    path: str | Path,
    *,
    review_number: str | None = None,
    issuing_unit: str | None = None,
) -> Path:
    """Draw the printable page and write it as a one-page PDF, atomically.

    Text is kept as text (TrueType fonts embedded, ``pdf.fonttype = 42``) so it can be
    searched and copied; the PDF's Creator names the planner (`SIGNATURE`).

    Parameters
    ----------
    analysis
        The result, see `draw_page`.
    path
        Destination, conventionally ``maps/<scenario>.pdf``.
    review_number, issuing_unit
        The footer; None: the result's own (see `draw_page`).

    Returns
    -------
    path
        The written file.
    """
    check_replaceable(path)  # a file of that name the planner did not write is left alone
    fig = draw_page(analysis, review_number=review_number, issuing_unit=issuing_unit)
    meta: dict[str, Any] = {"Creator": SIGNATURE, "Title": analysis.provenance.title}
    with mpl.rc_context({**plot._font_rc(), "pdf.fonttype": 42}):
        return write_atomic(path, lambda p: fig.savefig(p, format="pdf", metadata=meta))

"""Static PNG companion of the map: streets, bands, POIs and facilities drawn with matplotlib."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import shapely
from matplotlib import font_manager
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
from pyproj import Transformer

from planner import style
from planner._publish import SIGNATURE, check_replaceable
from planner.crs import crs_name
from planner.io import write_atomic
from planner.network import StreetNetwork
from planner.result import Result
from planner.result import review_line as result_review_line

if TYPE_CHECKING:
    from matplotlib.axes import Axes


#: Font families able to draw Chinese, in order of preference.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)
_CJK_FILE = re.compile(
    r"cjk|wqy|wenquanyi|notosanssc|sourcehansans|droidsansfallback|simhei|msyh", re.I
)
_CJK_TEXT = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]+")
#: Street widths in points per unit of `planner.style.road_weight` (the map's pixels).
LINE_SCALE = 0.45


@cache
def cjk_font() -> str | None:
    """Name of an installed font family that can draw Chinese, or None.

    Looks in matplotlib's font list first, then registers system font files whose names
    suggest CJK coverage (e.g. Debian's ``fonts-wqy-microhei``, ``fonts-noto-cjk``), since
    matplotlib's font cache may predate their installation.

    Returns
    -------
    family
        A family name usable as ``font.sans-serif``, or None (labels fall back to English).
    """
    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in names:
            return family
    for path in font_manager.findSystemFonts():
        if _CJK_FILE.search(Path(path).name):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in CJK_FAMILIES if f in names), None)


def label(zh: str, en: str, cjk: bool) -> str:
    """``"中文 English"`` when Chinese can be drawn, else ``"English"``."""
    return f"{zh} {en}" if cjk else en


def english_only(text: str) -> str:
    """Drop Chinese characters (and full-width punctuation) from `text`."""
    return re.sub(r"\s{2,}", " ", _CJK_TEXT.sub(" ", text)).strip() or "?"


def _projected_xy(
    network: StreetNetwork, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    t = Transformer.from_crs("EPSG:4326", network.crs, always_xy=True)
    x, y = t.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def _draw_streets(ax: Axes, network: StreetNetwork) -> None:
    widths = np.array([style.road_weight(h) for h in network.edge_highway]) * LINE_SCALE
    segs = [np.asarray(g.coords)[:, :2] for g in network.edge_geometry]
    ax.add_collection(
        LineCollection(segs, colors=style.STREET_COLOUR, linewidths=widths, alpha=0.9, zorder=1)
    )


def _draw_bands(ax: Axes, analysis: Result) -> None:
    network, bands = analysis.network, analysis.settings.bands_min
    iso = analysis.isochrones
    if not len(iso):
        return
    geoms = iso.geometry.to_numpy()
    # shapely's tests, not GeoSeries.notna(): that one warns when empty geometries exist
    iso = iso[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)].to_crs(network.crs)
    for b in sorted(bands, reverse=True):
        geoms = iso.loc[iso["band_min"] == b, "geometry"].to_numpy()
        if not len(geoms):
            continue
        merged = shapely.union_all(geoms)
        colour = style.band_colour(b, bands)
        polys = merged.geoms if hasattr(merged, "geoms") else [merged]
        for p in polys:
            if p.geom_type != "Polygon" or p.is_empty:
                continue
            ax.fill(*p.exterior.xy, color=colour, alpha=0.45, lw=0, zorder=2)
            for hole in p.interiors:
                ax.fill(*hole.xy, color="white", alpha=0.45, lw=0, zorder=2)
            ax.plot(*p.exterior.xy, color=colour, lw=0.6, zorder=2)


def _draw_points(ax: Axes, analysis: Result) -> None:
    network, bands = analysis.network, analysis.settings.bands_min
    p = analysis.pois
    ok = np.isfinite(p["lon"].to_numpy(float)) & np.isfinite(p["lat"].to_numpy(float))
    x, y = _projected_xy(network, p.loc[ok, "lon"], p.loc[ok, "lat"])
    index = style.band_index(p.loc[ok, "minutes_to_nearest"].to_numpy(float), bands)
    colours = np.asarray(style.palette(bands))[index]
    ax.scatter(x, y, s=14, c=colours, edgecolors=style.POI_EDGE_COLOUR, linewidths=0.4, zorder=4)
    f = analysis.entrances
    ok = np.isfinite(f["lon"].to_numpy(float)) & np.isfinite(f["lat"].to_numpy(float))
    fx, fy = _projected_xy(network, f.loc[ok, "lon"], f.loc[ok, "lat"])
    ax.scatter(
        fx,
        fy,
        s=60,
        c=style.FACILITY_COLOUR,
        edgecolors=style.FACILITY_EDGE_COLOUR,
        linewidths=1.2,
        zorder=5,
    )
    seen: set[str] = set()
    for fid, xi, yi in zip(f.loc[ok, "id"], fx, fy, strict=True):
        if fid in seen:
            continue
        seen.add(fid)
        ax.annotate(
            str(fid),
            (xi, yi),
            xytext=(5, 5),
            textcoords="offset points",
            fontsize=8,
            color=style.FACILITY_COLOUR,
            zorder=6,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        )


def _legend(ax: Axes, bands: tuple[float, ...], cjk: bool, **where: Any) -> None:
    handles: list = []
    lo = 0.0
    for b in bands:
        handles.append(
            Patch(
                color=style.band_colour(b, bands),
                label=f"{lo:g}–{b:g} {label('分钟', 'min', cjk)}",
            )
        )
        lo = b
    for colour, text in (
        (style.BEYOND_COLOUR, label(f"超过 {bands[-1]:g} 分钟", f"beyond {bands[-1]:g} min", cjk)),
        (style.NOT_ROUTED_COLOUR, label("不可达/未计算", "unreachable / not routed", cjk)),
    ):
        handles.append(
            Line2D([], [], ls="", marker="o", mfc=colour, mec=style.POI_EDGE_COLOUR, label=text)
        )
    handles.append(
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            ms=9,
            mfc=style.FACILITY_COLOUR,
            mec=style.FACILITY_EDGE_COLOUR,
            label=label("服务点", "facility", cjk),
        )
    )
    handles.append(
        Line2D(
            [], [], color=style.STREET_COLOUR, lw=1.5, label=label("步行路网", "walk network", cjk)
        )
    )
    title = label("步行至最近服务点", "Walk to nearest facility", cjk)
    ax.legend(
        handles=handles,
        **{
            "loc": "upper left",
            "fontsize": 8,
            "title": title,
            "title_fontsize": 8,
            "framealpha": 0.92,
            **where,
        },
    )


def _scale_and_north(ax: Axes, width_m: float) -> None:
    nice = [50, 100, 200, 250, 500, 1000, 2000, 5000]
    length = max([n for n in nice if n <= width_m / 5] or [nice[0]])
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length} m"
    ax.add_artist(
        AnchoredSizeBar(
            ax.transData,
            length,
            text,
            "lower right",
            pad=0.6,
            sep=4,
            frameon=True,
            size_vertical=width_m / 400,
            fontproperties={"size": 8},
        )
    )
    ax.annotate(
        "N",
        xy=(0.96, 0.97),
        xytext=(0.96, 0.88),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=10,
        arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5},
    )


def _crs_name(network: StreetNetwork) -> str:
    return f"CRS {crs_name(network.crs)} (from WGS-84)"


def _extent(network: StreetNetwork, analysis: Result) -> tuple[float, float, float, float]:
    iso = analysis.isochrones
    if len(iso) and np.all(np.isfinite(iso.total_bounds)):
        x0, y0, x1, y1 = iso.to_crs(network.crs).total_bounds
    else:
        x0, x1 = float(np.min(network.node_x)), float(np.max(network.node_x))
        y0, y1 = float(np.min(network.node_y)), float(np.max(network.node_y))
    pad = 0.06 * max(x1 - x0, y1 - y0, 200.0)
    return x0 - pad, y0 - pad, x1 + pad, y1 + pad


def _font_rc() -> dict[Any, Any]:
    family = cjk_font()
    fonts = [family, "DejaVu Sans"] if family else ["DejaVu Sans"]
    return {"font.family": "sans-serif", "font.sans-serif": fonts}


def draw_map(ax: Axes, analysis: Result, *, legend: bool = True) -> tuple[float, ...]:
    """Draw the map itself on `ax`: streets, bands, POIs, facilities, scale bar, north arrow.

    Parameters
    ----------
    ax
        The axes to draw on (its limits, aspect and ticks are set here).
    analysis
        The result, see `draw`.
    legend
        Draw the legend in the map's upper left corner (see `legend` to place it elsewhere).

    Returns
    -------
    extent
        ``(x0, y0, x1, y1)`` shown, in the network's metric CRS.
    """
    network, bands = analysis.network, analysis.settings.bands_min
    x0, y0, x1, y1 = _extent(network, analysis)
    _draw_streets(ax, network)
    _draw_bands(ax, analysis)
    _draw_points(ax, analysis)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if legend:
        _legend(ax, bands, cjk_font() is not None)
    _scale_and_north(ax, x1 - x0)
    return x0, y0, x1, y1


def legend(ax: Axes, analysis: Result, **where: Any) -> None:
    """Draw the map's legend on `ax`; `where` overrides `Axes.legend` options (e.g. ``loc``)."""
    _legend(ax, analysis.settings.bands_min, cjk_font() is not None, **where)


#: Where a title may break: between two CJK characters, at a space, not inside a word.
_TOKENS = re.compile(
    r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]"  # one CJK character or mark
    r"|[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]+"  # a word
    r"|\s+"
)
#: Measured widths are raised by this share: what is drawn is a little wider (hinting).
_WIDTH_MARGIN = 1.02


def fit_text(
    text: str, width_pt: float, size: float, *, min_size: float, max_lines: int = 1
) -> tuple[str, float, bool]:
    """Fit a title into `width_pt`: broken into lines, smaller if need be, cut as a last resort.

    Lines break between CJK characters and at spaces. The largest font size from `size`
    down to `min_size` (in steps of 0.5 pt) at which the text needs at most `max_lines`
    lines is used; at `min_size` the last line that fits ends with "…". Call it in the
    font settings the text is drawn with (`_font_rc`): widths are measured in that font.

    Parameters
    ----------
    text
        The title.
    width_pt
        Width it may take, in points.
    size, min_size
        Largest and smallest font size, in points.
    max_lines
        Lines it may take.

    Returns
    -------
    text, size, whole
        The title with its line breaks, the font size to draw it at, and whether all of it
        is there (False: cut).
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    def fits(line: str, pt: float) -> bool:
        wide = text_to_path.get_text_width_height_descent(line, FontProperties(size=pt), False)
        return wide[0] * _WIDTH_MARGIN <= width_pt

    tokens = _TOKENS.findall(text.strip())
    pt = size
    while True:
        lines: list[str] = []
        line = ""
        for token in tokens:
            if not line or fits((line + token).rstrip(), pt):
                line += token
            else:
                lines.append(line.rstrip())
                line = token.lstrip()
        lines.append(line.rstrip())
        if len(lines) <= max_lines:
            return "\n".join(lines), pt, True
        if pt - 0.5 < min_size:
            break
        pt -= 0.5
    lines = lines[:max_lines]
    last = lines[-1]
    while last and not fits(last.rstrip() + "…", pt):
        last = last[:-1]
    lines[-1] = last.rstrip() + "…"
    return "\n".join(lines), pt, False


def headline(analysis: Result) -> tuple[str, str]:
    """The map's title and its one-line result (share of POIs within the largest band)."""
    about, bands = analysis.provenance, analysis.settings.bands_min
    cjk = cjk_font() is not None
    title = about.title if cjk else english_only(about.title)
    overall = analysis.summary["overall"]
    key = f"{bands[-1]:g}"
    share = overall["bands"][key]["share_of_all_pois"]
    share_txt = "–" if share is None else f"{100 * share:.1f}%"
    within, total = overall["bands"][key]["pois_within"], overall["pois_total"]
    sub = label(
        f"{bands[-1]:g} 分钟步行可达商户与服务点 {within}/{total}（{share_txt}）",
        f"within {bands[-1]:g} min walk: {within}/{total} POIs ({share_txt})",
        cjk,
    )
    return title, sub


def source_line(analysis: Result) -> str:
    """The map's footer: data source and date, method, speed and CRS."""
    about, speed = analysis.provenance, analysis.settings.speed_kmh
    cjk = cjk_font() is not None
    date = f", {about.network_date}" if about.network_date else ""
    osm = "" if "OpenStreetMap" in about.attribution else " · © OpenStreetMap contributors"
    method = label("沿街道网络步行，非直线距离", "network walking, not straight line", cjk)
    return (
        f"{about.attribution}{date}{osm} · {method} · {speed:g} km/h · "
        f"{_crs_name(analysis.network)}"
    )


def review_line(review_number: str = "", issuing_unit: str = "") -> str:
    """The footer's map review line (`planner.result.review_line`), as this machine draws it."""
    cjk = cjk_font() is not None
    text = result_review_line(review_number, issuing_unit, cjk=cjk)
    return text if cjk else english_only(text)


#: Inches the static map's figure gives its legend, right of the 10-inch map.
_LEGEND_IN = 2.6


def draw(analysis: Result) -> Figure:
    """Draw the static map (no tiles): streets, band areas, POIs by minutes, facilities.

    Parameters
    ----------
    analysis
        The result: tables and polygons, the settings that made them (bands, speed) and
        their provenance (title, sources); drawn in its network's metric CRS.

    Returns
    -------
    fig
        A matplotlib figure (not attached to pyplot).
    """
    with mpl.rc_context(_font_rc()):
        x0, y0, x1, y1 = _extent(analysis.network, analysis)
        height = float(np.clip(10 * (y1 - y0) / (x1 - x0) + 1.4, 5.0, 14.0))
        # the legend beside the map, not over it (it hid merchants and bands in a corner):
        # the figure is as much wider as the legend needs
        fig = Figure(figsize=(10 + _LEGEND_IN, height), dpi=130, layout="constrained")
        ax = fig.add_subplot()
        draw_map(ax, analysis, legend=False)
        legend(ax, analysis, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        title, sub = headline(analysis)
        # the titles are centred over the map: its width (the figure's less the legend's)
        # less constrained layout's margins; long titles take two lines
        width = (fig.get_figwidth() - _LEGEND_IN) * 72 * 0.95
        title, size, _whole = fit_text(title, width, 11, min_size=8, max_lines=2)
        ax.set_title(title, fontsize=size, pad=20)
        ax.text(0.5, 1.0, sub, transform=ax.transAxes, fontsize=11, ha="center", va="bottom")
        about = analysis.provenance  # the map's review status travels with every copy
        footer = source_line(analysis) + "\n" + review_line(about.review_number, about.issuing_unit)
        fig.text(0.01, 0.005, footer, fontsize=7, color="#444444", va="bottom", linespacing=1.4)
        engine = fig.get_layout_engine()
        if isinstance(engine, ConstrainedLayoutEngine):  # room below the map for two lines
            engine.set(h_pad=0.25)
    return fig


def save_png(analysis: Result, path: str | Path) -> Path:
    """Draw the static map and write it as a PNG, atomically.

    Parameters
    ----------
    analysis
        The result, see `draw`.
    path
        Destination, conventionally ``maps/<scenario>.png``.

    Returns
    -------
    path
        The written file.
    """
    check_replaceable(path)  # a file of that name the planner did not write is left alone
    fig = draw(analysis)
    with mpl.rc_context(_font_rc()):
        return write_atomic(
            path, lambda p: fig.savefig(p, format="png", metadata={"Software": SIGNATURE})
        )

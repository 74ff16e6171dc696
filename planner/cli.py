"""Command-line interface: ``planner run``, ``fetch``, ``site``, ``compare`` and ``region``."""

from __future__ import annotations

import contextlib
import gc
import importlib.abc
import importlib.machinery
import json
import logging
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from planner._errors import PlannerError
from planner._i18n import LANGUAGES, N_, _, chosen_language, set_language

try:  # typer >= 0.2x bundles its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer on top of click
    from click import exceptions as click_exceptions  # type: ignore[no-redef]


class OneLineErrors(TyperGroup):
    """The ``planner`` command group: a usage error is one ``error:`` line and exit 1.

    Click would print a usage box and exit 2 for an unknown option, a missing argument or
    a bad option value; here they are reported like every other user error.
    """

    def main(  # type: ignore[override]  # click's own signature, minus windows_expand_args
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line in the language of ``--lang`` or the locale.

        See `click.Command.main`. The language is the process's only while the command
        runs (the caller's choice, if any, is restored after it).
        """
        previous = chosen_language()
        set_language(_lang_option(sys.argv[1:] if args is None else list(args)))
        try:
            _translate_help(self)
            return self._main(args, prog_name, complete_var, standalone_mode, **extra)
        finally:
            set_language(previous)

    def _main(
        self,
        args: Sequence[str] | None,
        prog_name: str | None,
        complete_var: str | None,
        standalone_mode: bool,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        try:
            code = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except click_exceptions.NoArgsIsHelpError as exc:
            help_text = exc.format_message()  # empty when rich has printed the help already
            if help_text.strip():
                typer.echo(help_text)
            sys.exit(0)
        except click_exceptions.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            where = (
                _(" (see `{command} --help`)").format(command=ctx.command_path)
                if ctx is not None
                else ""
            )
            message = _click_message(_flat(exc.format_message()))
            typer.echo(f"error: {message}{where}", err=True)
            sys.exit(1)
        except typer.Abort:
            typer.echo(f"error: {_('aborted')}", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _flat(text: str) -> str:
    return " ".join(text.split())


#: The command-line parser's own messages (English in it), and pydantic's checks of option
#: values, matched whole and said in the chosen language (`_click_message`).
_CLICK_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"No such option: (?P<name>\S+) \(Possible options: (?P<options>.+)\)"),
        N_("no such option: {name} (possible options: {options})"),
    ),
    (
        re.compile(r"No such option: (?P<name>\S+) Did you mean (?P<options>\S+)\?"),
        N_("no such option: {name} (did you mean {options}?)"),
    ),
    (re.compile(r"No such option: (?P<name>\S+)"), N_("no such option: {name}")),
    (
        re.compile(r"No such command '(?P<name>.+)'\. Did you mean '(?P<options>.+)'\?"),
        N_("no such command: {name!r} (did you mean {options!r}?)"),
    ),
    (re.compile(r"No such command '(?P<name>.+)'\."), N_("no such command: {name!r}")),
    (
        re.compile(r"Option '(?P<name>.+)' requires an argument\."),
        N_("option {name} needs a value"),
    ),
    (
        re.compile(r"Got unexpected extra argument(?:s|\(s\))? \((?P<args>.*)\)"),
        N_("unexpected extra argument(s): {args}"),
    ),
    (re.compile(r"Missing argument '(?P<name>.+)'\."), N_("missing argument {name}")),
    (
        re.compile(r"Option '(?P<name>.+)' does not take a value\."),
        N_("option {name} takes no value"),
    ),
    (
        re.compile(r"Missing option '(?P<name>.+)'\.(?P<rest>.*)"),
        N_("missing option {name}{rest}"),
    ),
    (
        re.compile(r"Invalid value for '(?P<name>.+)': (?P<why>.+)"),
        N_("invalid value for {name}: {why}"),
    ),
)
_PYDANTIC_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"Input should be greater than or equal to (?P<n>\S+)"),
        N_("it should be {n} or more"),
    ),
    (re.compile(r"Input should be greater than (?P<n>\S+)"), N_("it should be more than {n}")),
    (
        re.compile(r"Input should be less than or equal to (?P<n>\S+)"),
        N_("it should be {n} or less"),
    ),
    (re.compile(r"Input should be less than (?P<n>\S+)"), N_("it should be less than {n}")),
    (
        re.compile(r"Input should be a valid integer.*"),
        N_("it should be a whole number"),
    ),
    (re.compile(r"Input should be a valid number.*"), N_("it should be a number")),
)


def _click_message(
    text: str, table: tuple[tuple[re.Pattern[str], str], ...] = _CLICK_MESSAGES
) -> str:
    """A parser error in the chosen language (the parser and pydantic say them in English).

    The first pattern of `table` matching the whole text gives the message; a ``why`` part
    (an option value's check) is said from `_PYDANTIC_MESSAGES` the same way.
    """
    for pattern, message in table:
        found = pattern.fullmatch(text)
        if found is not None:
            parts = found.groupdict()
            if "why" in parts:
                parts["why"] = _click_message(parts["why"], _PYDANTIC_MESSAGES)
            return _(message).format(**parts)
    return text


def _lang_option(args: list[str]) -> str | None:
    """The value of ``--lang`` among the options before the command name, if it is valid.

    The language must be known before click formats any help or error, so it is read here
    ahead of click's own parsing (which then checks the value and reports a bad one).
    """
    for i, arg in enumerate(args):
        if arg == "--lang":
            value = args[i + 1] if i + 1 < len(args) else None
        elif arg.startswith("--lang="):
            value = arg.partition("=")[2]
        elif arg.startswith("-"):
            continue
        else:
            return None  # the command name: options after it belong to the command
        return value if value in LANGUAGES else None
    return None


#: Typer's own panel titles and marks (module constants of `typer.rich_utils`), in English.
_TYPER_TEXTS = {
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "REQUIRED_LONG_STRING": N_("[required]"),
    "DEFAULT_STRING": N_("[default: {}]"),
}


def _translate_help(group: Any) -> None:
    """Translate the help texts of `group`, its commands and their parameters in place.

    Typer builds the click commands from the English texts (marked with `N_` for
    extraction) before `OneLineErrors.main` runs; the English original is kept on each
    object so a second run in another language translates from it again.
    """
    commands, todo = [], [group]
    while todo:  # the group, its commands, and those of any sub-group
        command = todo.pop()
        commands.append(command)
        todo += getattr(command, "commands", {}).values()
    for obj in [*commands, *(p for c in commands for p in c.params)]:
        original = obj.__dict__.setdefault("_planner_help", getattr(obj, "help", None))
        if original:
            obj.help = _as_written(_(original))
    for command in commands:  # click's --help option: made once per command, then cached
        option = command.get_help_option(command.context_class(command))
        if option is not None:
            option.help = _("Show this message and exit.")
    _translate_typer_texts()


#: What Rich reads as a style tag in a help text, and the backslashes before it (the pattern
#: of ``rich.markup.escape``, which typer's help pages are drawn with).
_MARKUP_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def _as_written(text: str) -> str:
    """`text` escaped as ``rich.markup.escape`` does, so Rich shows it as written.

    Typer draws help pages with Rich markup, which takes ``[proposals]`` (the scenario
    file's table) for a style tag and drops it. ``rich.markup`` itself is not imported:
    every command translates its help texts, and Rich loads only when a page is drawn.
    """
    text = _MARKUP_TAG.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)
    return text + "\\" if text.endswith("\\") and not text.endswith("\\\\") else text


def _set_typer_texts(rich_utils: Any) -> None:
    """Set typer's panel titles and marks in `rich_utils` to the chosen language.

    Help texts are also made to fold: Rich wraps at spaces and cuts a longer "word" with
    "…", and a Chinese sentence has no spaces, so its end was lost in an 80-column terminal.
    """
    for name, english in _TYPER_TEXTS.items():
        setattr(rich_utils, name, _(english))
    make = rich_utils._make_rich_text
    if not getattr(make, "_planner_folds", False):

        def folding(*args: Any, **kwargs: Any) -> Any:
            text = make(*args, **kwargs)
            if hasattr(text, "overflow"):  # a rich Text (Markdown wraps by itself)
                text.overflow = "fold"
            return text

        folding._planner_folds = True  # type: ignore[attr-defined]
        rich_utils._make_rich_text = folding


class _TyperTextsHook(importlib.abc.MetaPathFinder):
    """Translate typer's help texts when `typer.rich_utils` is imported, not before.

    `typer.rich_utils` (and `rich` with it) is imported only when typer draws a help page or
    an error panel; importing it for every run only to set five strings cost about 0.05 s of
    each ``planner run``.
    """

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "typer.rich_utils":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader, run = spec.loader, spec.loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            _set_typer_texts(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _translate_typer_texts() -> None:
    """Put typer's own help texts in the chosen language, now or when typer imports them."""
    module = sys.modules.get("typer.rich_utils")
    if module is not None:
        _set_typer_texts(module)
    elif not any(isinstance(f, _TyperTextsHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TyperTextsHook())


app = typer.Typer(
    cls=OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    help=N_(
        "15分钟便民服务圈 planner: walking reach of service facilities on real street networks."
    ),
)


@app.callback()
def _root(
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            metavar="zh|en",
            help=N_("Language of help and messages: zh or en (default: from LANG)."),
        ),
    ] = None,
) -> None:
    if lang is not None and lang not in LANGUAGES:
        raise typer.BadParameter(
            _("{value!r} is not one of zh, en").format(value=lang), param_hint="'--lang'"
        )


def _say(message: str) -> None:
    _imports_done()  # a command that reports progress is computing: its imports are done
    typer.echo(f"· {message}", err=True)


#: Set by `main` while the cyclic garbage collector is paused for the command's imports.
_GC_PAUSED: list[bool] = []


def _imports_done() -> None:
    """Freeze what the imports made and resume the garbage collector paused by `main`.

    Importing pandas, scipy, geopandas, pydantic and folium creates a few hundred thousand
    objects, and with the collector running each full collection walks all of them again:
    about 0.13 s of a warm ``planner run sample`` (benchmarks/README.md). Those objects live
    as long as the process, so once the command's imports are done they are moved out of
    the collector's sight (`gc.freeze`) and the collector runs as usual for the computation.
    Does nothing unless `main` paused the collector (the ``planner`` process itself, not a
    caller of `app`).
    """
    if _GC_PAUSED:
        _GC_PAUSED.clear()
        gc.freeze()
        gc.enable()


def _echo_problems(head: str, problems: list[str], indent: str, shown: int = 10) -> None:
    """Print `head`, then the first `shown` problems as a list indented by `indent`."""
    typer.echo(indent + head)
    lead = indent or "  "
    for p in problems[:shown]:
        typer.echo(f"{lead}- {p}")
    if len(problems) > shown:
        typer.echo(lead + _("… and {count} more").format(count=len(problems) - shown))


def _fail(exc: Exception) -> None:
    if isinstance(exc, OSError) and not isinstance(exc, PlannerError):
        # the disk or the system refused (full, read-only, no permission): one line too
        where = exc.filename if exc.filename is not None else _("a file")
        reason = exc.strerror or type(exc).__name__
        exc = PlannerError(
            _("cannot write or read {path}: {reason}").format(path=where, reason=reason)
        )
    # one line, whatever the message holds (an answer's text quoted in it, a path)
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    typer.echo(f"error: {text}", err=True)
    raise typer.Exit(code=1)


def _number(option: str, text: str | None) -> float | None:
    """Parse a numeric option given as text, with a one-line error naming the option."""
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        raise PlannerError(
            _("{option}: {text!r} is not a number").format(option=option, text=text)
        ) from None
    if not math.isfinite(value):
        raise PlannerError(
            _("{option}: {text!r} is not a finite number").format(option=option, text=text)
        )
    return value


@app.command(help=N_("Compute coverage for a scenario and write tables, polygons and the map."))
def run(
    scenario: Annotated[
        str,
        typer.Argument(
            help=N_("Scenario name (sample, liusha) or path to a scenario.toml / folder.")
        ),
    ] = "sample",
    minutes: Annotated[
        str | None, typer.Option("--minutes", help=N_("Bands in minutes, e.g. 5,10,15."))
    ] = None,
    speed_kmh: Annotated[
        str | None,
        typer.Option("--speed-kmh", metavar="KMH", help=N_("Walking speed in km/h (0.5-10).")),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help=N_("Output folder (default out/<scenario>)."))
    ] = None,
    maps_dir: Annotated[
        Path, typer.Option("--maps-dir", help=N_("Folder for the HTML map."))
    ] = Path("maps"),
    osm: Annotated[
        Path | None,
        typer.Option(
            "--osm",
            help=N_(
                "Use this OSM XML, .graphml, or regional OSM PBF (.osm.pbf, cut to the study "
                "area) file as the network."
            ),
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help=N_("Fail on any input row with a problem instead of reporting it.")
        ),
    ] = False,
    formats: Annotated[
        str | None,
        typer.Option(
            "--formats",
            metavar="LIST",
            help=N_(
                "Also write these, comma-separated: png (static map), pdf (printable "
                "page), xlsx (workbook), gpkg (GeoPackage); or all. Without it, the "
                "ones written before are kept when nothing changed."
            ),
        ),
    ] = None,
    timings: Annotated[
        Path | None,
        typer.Option(
            "--timings", hidden=True, help=N_("Write the stage times as JSON (benchmarks).")
        ),
    ] = None,
) -> None:
    """Compute coverage for a scenario and write tables, polygons and the map."""
    from planner._carry import parse_formats
    from planner.scenario import load_scenario, parse_bands

    try:
        try:
            chosen = parse_formats(formats)
        except ValueError as exc:
            raise PlannerError(_("--formats: {exc}").format(exc=exc)) from None
        speed = _number("--speed-kmh", speed_kmh)
        sc = load_scenario(scenario)
        sc = sc.with_overrides(
            bands_min=parse_bands(minutes) if minutes is not None else None,
            speed_kmh=speed,
            network_path=osm,
        )
        t_import = time.perf_counter()
        from planner import maps, pipeline  # heavy (pandas, folium): once the settings are good

        _imports_done()
        t_import = time.perf_counter() - t_import
        del maps  # imported here with the rest: the run draws the map
        result = pipeline.run(
            sc, out_dir=out, maps_dir=maps_dir, strict=strict, formats=chosen, progress=_say
        )
        if timings is not None:
            stages = {"import_pipeline": t_import, **result.timings}
            timings.write_text(json.dumps(stages), encoding="utf-8")
    except (PlannerError, OSError) as exc:
        _fail(exc)
        return
    s = result.summary["overall"]
    largest = f"{result.settings.largest_band_min:g}"
    within = s["bands"][largest]
    share = within["share_of_all_pois"]
    typer.echo(
        _(
            "{scenario}: {facilities} facilities, {pois} POIs; "
            "within {minutes} min of a facility: {within} ({share})"
        ).format(
            scenario=sc.name,
            facilities=len(result.facilities),
            pois=s["pois_total"],
            minutes=largest,
            within=within["pois_within"],
            share="-" if share is None else f"{100 * share:.1f}%",
        )
    )
    problems = result.problems()
    if problems:
        head = _(
            "{count} input row(s) with problems (each listed with its status "
            "in pois.csv / facilities.csv; origins in summary.json):"
        )
        _echo_problems(head.format(count=len(problems)), problems, "")
    for key, path in result.files.items():
        typer.echo(f"  {key}: {path}")
    _QUICK_EXIT.append(True)


@app.command(
    help=N_("Download and cache a scenario's walk network and POIs from OpenStreetMap (Overpass).")
)
def fetch(
    scenario: Annotated[
        str, typer.Argument(help=N_("Scenario name or path whose network source is overpass."))
    ],
    overpass_url: Annotated[
        str | None,
        typer.Option(
            "--overpass-url",
            metavar="URL",
            help=N_(
                "Overpass API to ask, e.g. a mirror or one on your intranet (default: "
                "$PLANNER_OVERPASS_URL, else https://overpass-api.de/api)."
            ),
        ),
    ] = None,
) -> None:
    """Download and cache a scenario's walk network and POIs from OpenStreetMap (Overpass)."""
    from planner.scenario import load_scenario

    try:
        sc = load_scenario(scenario)
        from planner.download import fetch as fetch_scenario  # heavy: once the settings are good

        _imports_done()

        files = fetch_scenario(sc, progress=_say, overpass_url=overpass_url)
    except (PlannerError, OSError) as exc:
        _fail(exc)
        return
    for key, path in files.items():
        typer.echo(f"  {key}: {path}")


@app.command(
    help=N_(
        "Choose where new service points go: writes sites.csv and a map, and prints coverage "
        "before/after."
    )
)
def site(
    scenario: Annotated[str, typer.Argument(help=N_("Scenario name or path to a scenario.toml."))],
    add: Annotated[
        str | None,
        typer.Option("--add", metavar="N", help=N_("Choose N new sites (maximal covering).")),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target", metavar="SHARE", help=N_("Fewest new sites to cover this share, in (0, 1].")
        ),
    ] = None,
    minutes: Annotated[
        str | None,
        typer.Option("--minutes", help=N_("Walking band in minutes (default: the largest band).")),
    ] = None,
    candidates: Annotated[
        Path | None,
        typer.Option(
            "--candidates", help=N_("Table of candidate sites (default: street points every 50 m).")
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help=N_("Output folder (default out/<scenario>-sites)."))
    ] = None,
    maps_dir: Annotated[
        Path, typer.Option("--maps-dir", help=N_("Folder for the map of the new sites."))
    ] = Path("maps"),
    time_limit: Annotated[
        str, typer.Option("--time-limit", metavar="S", help=N_("Seconds for the exact solver."))
    ] = "10",
) -> None:
    """Choose where new service points go: writes sites.csv and a map, prints coverage."""
    from planner.scenario import load_scenario

    try:
        if (add is None) == (target is None):
            raise PlannerError(_("give either --add N or --target SHARE"))
        n = _number("--add", add)
        if n is not None and (n != int(n) or n < 1):
            raise PlannerError(
                _("--add: expected a whole number of sites >= 1, got {value!r}").format(value=add)
            )
        share = _number("--target", target)
        if share is not None and not 0 < share <= 1:
            raise PlannerError(_("--target: {value!r} is outside (0, 1]").format(value=target))
        band = _number("--minutes", minutes)
        if band is not None and band <= 0:
            raise PlannerError(
                _("--minutes: expected a positive number of minutes, got {value!r}").format(
                    value=minutes
                )
            )
        limit = _number("--time-limit", time_limit)
        if limit is None or limit <= 0:
            raise PlannerError(
                _("--time-limit: expected positive seconds, got {value!r}").format(value=time_limit)
            )
        sc = load_scenario(scenario)
        out_dir = out if out is not None else Path("out") / f"{sc.name}-sites"
        from planner._publish import (
            check_folder,
            check_output_dir,
            check_replaceable,
            claim_written,
        )

        check_output_dir(out_dir)  # before any work
        check_folder(maps_dir, "--maps-dir")
        map_path = maps_dir / f"{sc.name}-sites.html"
        check_replaceable(map_path)
        from planner import pipeline, readers, siting  # heavy: once the options are good

        _imports_done()

        table = None
        if candidates is not None:
            table = readers.read_points(candidates, study_bbox=sc.study_bbox)
            if not len(table):
                raise PlannerError(
                    _("{file}: no candidate sites (the table has no rows)").format(file=candidates)
                )
        result = pipeline.analyse_scenario(sc, progress=_say)
        _say(_("walking reach of the candidate sites"))
        problem = siting.Siting.from_result(result, table, band_min=band)
        for problem_row in problem.excluded["reason"].head(10):
            _say(_("warning: candidate left out: {reason}").format(reason=problem_row))
        if len(problem.excluded) > 10:
            _say(
                _("warning: … and {count} more candidates left out").format(
                    count=len(problem.excluded) - 10
                )
            )
        if not len(problem.candidates):
            raise PlannerError(_("no usable candidate site (every row has a problem)"))
        try:
            if n is not None:
                problem.solve_mclp(int(n), time_limit=limit)
            else:
                assert share is not None
                problem.solve_lscp(share, time_limit=limit)
        except siting.SitingError as exc:
            option = {"n": "--add", "target_share": "--target"}.get(exc.argument or "")
            if option is None:
                raise
            raise siting.SitingError(exc.detail, argument=option) from None
        from planner._publish import output_set
        from planner.io import write_csv

        notes: list[str] = []
        with output_set(out_dir, notes=notes) as folder:
            problem.to_csv(folder / "sites.csv")
            if table is not None:  # every candidate row, with its status (and rank if chosen)
                write_csv(problem.candidate_rows(table), folder / "candidates.csv")
        for note in notes:
            _say(note)
        from planner.offline import save_offline

        claim_written(save_offline(problem.map(result), map_path))
    except (PlannerError, OSError) as exc:
        _fail(exc)
        return
    assert problem.before is not None and problem.after is not None
    assert problem.solution is not None
    for label, c in ((_("before"), problem.before), (_("after "), problem.after)):
        typer.echo(
            _(
                "{label}: {covered} of {total} routed merchants within {minutes} min ({share})"
            ).format(
                label=label,
                covered=c.covered,
                total=c.total,
                minutes=f"{problem.band_min:g}",
                share=f"{100 * c.share:.1f}%",
            )
        )
    sol = problem.solution
    note = f"; {sol.note}" if sol.note else ""
    typer.echo(
        _("{count} new site(s) by {method}, gap {gap}").format(
            count=len(sol.sites), method=sol.method, gap=f"{100 * sol.gap:.2f}%"
        )
        + note
    )
    for key, path in (("sites", out_dir / "sites.csv"), ("map", map_path)):
        typer.echo(f"  {key}: {path}")  # file keys, as `run` prints them


@app.command(
    help=N_("Compare proposals with today: merchants gained and lost per facility and band, a map.")
)
def compare(
    scenario: Annotated[str, typer.Argument(help=N_("Scenario name or path to a scenario.toml."))],
    proposals: Annotated[
        list[Path] | None,
        typer.Argument(
            help=N_(
                "Proposal files (TOML): add, move, close, new links (default: the "
                "scenario's [proposals] files)."
            )
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help=N_("Output folder (default out/<scenario>-compare).")),
    ] = None,
    maps_dir: Annotated[
        Path, typer.Option("--maps-dir", help=N_("Folder for the comparison maps."))
    ] = Path("maps"),
) -> None:
    """Compare proposals with today: merchants gained and lost per facility and band, a map."""
    from planner.scenario import load_scenario

    try:
        sc = load_scenario(scenario)
        out_dir = out if out is not None else Path("out") / f"{sc.name}-compare"
        from planner._publish import (
            check_folder,
            check_output_dir,
            check_replaceable,
            claim_written,
            output_set,
        )

        check_output_dir(out_dir)  # before any work
        from planner import io, pipeline  # heavy: once the options are good

        _imports_done()
        from planner import proposals as prop

        files = list(proposals or sc.proposals)
        if not files:
            raise PlannerError(
                _(
                    "no proposal to compare: name proposal files after the scenario, or list "
                    'them in {file} as [proposals] files = ["east-gate.toml"]'
                ).format(file=sc.file or sc.folder)
            )
        loaded = [prop.load_proposal(p) for p in files]
        first: dict[str, Path] = {}
        for path, proposal in zip(files, loaded, strict=True):
            if proposal.name in first:  # its tables and map would replace the other's
                raise PlannerError(
                    _(
                        "{path}: [proposal] name = {name!r} is also the name in {other}; "
                        "each proposal needs its own name (it names its tables and map)"
                    ).format(path=path, name=proposal.name, other=first[proposal.name])
                )
            first[proposal.name] = Path(path)
        map_paths = [maps_dir / f"{sc.name}-{p.name}.html" for p in loaded]
        check_folder(maps_dir, "--maps-dir")
        for path in map_paths:
            check_replaceable(path)
        base = pipeline.analyse_scenario(sc, progress=_say)
        results = []
        for proposal in loaded:
            _say(_("proposal {name}").format(name=proposal.name))
            results.append(prop.apply_proposal(base, proposal))  # its policy as base's
        notes: list[str] = []
        with output_set(out_dir, notes=notes) as folder:
            for proposal, after in zip(loaded, results, strict=True):
                by_facility, by_poi = prop.compare(base, after)
                io.write_csv(by_facility, folder / f"{proposal.name}_facilities.csv")
                io.write_csv(by_poi, folder / f"{proposal.name}_pois.csv")
                if base.policy is not None:
                    changes = prop.compare_policy(base, after)
                    io.write_csv(changes, folder / f"{proposal.name}_policy.csv")
        for note in notes:
            _say(note)
        from planner.offline import save_offline

        for path, proposal, after in zip(map_paths, loaded, results, strict=True):
            claim_written(save_offline(prop.compare_map(base, after, proposal), path))
    except (PlannerError, OSError) as exc:
        _fail(exc)
        return
    largest = f"{base.settings.largest_band_min:g}"
    before = base.summary["overall"]["bands"][largest]["pois_within"]
    typer.echo(
        _("{scenario}: today {count} POIs within {minutes} min of a facility").format(
            scenario=sc.name, count=before, minutes=largest
        )
    )
    for proposal, after, path in zip(loaded, results, map_paths, strict=True):
        by_poi = prop.compare(base, after)[1]
        counts = by_poi["change"].value_counts()
        now = after.summary["overall"]["bands"][largest]["pois_within"]
        typer.echo(
            "  "
            + _(
                "{proposal}: {count} within {minutes} min "
                "(gained {gained}, lost {lost}, faster {faster}, slower {slower}); map: {path}"
            ).format(
                proposal=proposal.name,
                count=now,
                minutes=largest,
                gained=int(counts.get("gained", 0)),
                lost=int(counts.get("lost", 0)),
                faster=int(counts.get("faster", 0)),
                slower=int(counts.get("slower", 0)),
                path=path,
            )
        )
        known = set(base.problems())
        problems = [p for p in after.problems() if p not in known]  # the proposal's own rows
        if problems:
            head = _("{count} problem(s) in the proposal's rows (not routed):")
            _echo_problems(head.format(count=len(problems)), problems, "    ")
    typer.echo(f"  tables: {out_dir}")


@app.command(
    help=N_("Compute every study area of a region as one task each (Dask) and merge the circles.")
)
def region(
    region_file: Annotated[
        Path, typer.Argument(metavar="REGION", help=N_("Region file (region.toml) or its folder."))
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help=N_("Output folder (default out/<region>)."))
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help=N_(
                "Dask scheduler tcp://HOST:PORT (default: a local cluster, one process "
                "per core); 'serial' computes in this process without Dask."
            ),
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help=N_("Processes of the local cluster (default: cores).")
        ),
    ] = None,
    work: Annotated[
        Path | None,
        typer.Option(
            "--work",
            help=N_(
                "Folder for per-area results (default: the user cache); on a cluster, "
                "a folder every worker can read and write."
            ),
        ),
    ] = None,
) -> None:
    """Compute every study area of a region as one task each (Dask) and merge the circles."""
    from planner.region import load_region

    if scheduler is not None and scheduler != "serial" and "://" not in scheduler:
        _fail(
            PlannerError(
                _("--scheduler {scheduler!r}: expected tcp://HOST:PORT or serial").format(
                    scheduler=scheduler
                )
            )
        )
        return
    if scheduler is not None and workers is not None:
        _fail(PlannerError(_("--workers sets the local cluster's size; not used with --scheduler")))
        return
    try:
        reg = load_region(region_file)
        from planner.region import run_region  # heavy: once the file is good

        _imports_done()

        out_dir = out if out is not None else Path("out") / reg.name
        result = run_region(
            reg,
            out_dir=out_dir,
            work_dir=work,
            scheduler=scheduler,
            workers=workers,
            progress=_say,
        )
    except (PlannerError, OSError) as exc:
        _fail(exc)
        return
    c = result.circles
    ok = int((c["status"] == "ok").sum())
    failed = int((c["status"] == "failed").sum())
    largest = f"{result.region.settings.largest_band_min:g}"
    covered_col = f"covered_{largest}min"
    covered = int(c[covered_col].fillna(0).sum()) if covered_col in c.columns else 0
    merchants = int(c["pois"].fillna(0).sum()) if "pois" in c.columns else 0
    typer.echo(
        _(
            "{reg_name}: {ok} of {count} areas computed, {failed} failed, {count2} "
            "with input problems; merchants within {largest} min: {covered} of "
            "{merchants}"
        ).format(
            reg_name=reg.name,
            ok=ok,
            count=len(c),
            failed=failed,
            count2=len(c) - ok - failed,
            largest=largest,
            covered=covered,
            merchants=merchants,
        )
    )
    problems = result.problems()
    if problems:  # as planner run lists them: the first ten, the rest in the tables
        _echo_problems(
            _("{count} input row(s) with problems (see facilities.csv, pois.csv):").format(
                count=len(problems)
            ),
            problems,
            "  ",
        )
    for key, path in result.files.items():
        typer.echo(f"  {key}: {path}")
    if failed:
        raise typer.Exit(code=1)


#: Set by a `run` that finished: `main` then ends the process without tearing it down.
_QUICK_EXIT: list[bool] = []

#: Environment of the ``planner`` process, set by `main` where the user has not set it:
#: single-threaded BLAS. numpy and scipy each load an OpenBLAS whose pool of threads spins
#: on the CPUs when it starts (at import) and after each BLAS call, taking CPU time from
#: the run; the planner's only BLAS calls are tiny (a least-squares fit of the map's gap
#: lattice). A warm sample run: 1.15 -> 0.87 s of CPU and 0.90 -> 0.87 s wall; a city run
#: about 0.3 s of CPU less (benchmarks/notes/eighth_round.md). It must be set before numpy
#: is imported: importing this module does not import numpy.
PROCESS_ENV = {"OPENBLAS_NUM_THREADS": "1"}


def set_process_env() -> None:
    """Set `PROCESS_ENV` in ``os.environ``, keeping any value the user has set."""
    for name, value in PROCESS_ENV.items():
        os.environ.setdefault(name, value)


def _warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """A Python warning as the ``planner`` command shows it: one line, no code location."""
    return f"warning: {message}\n"


def start_process() -> None:
    """What `main` does first: set `PROCESS_ENV` and pause the garbage collector.

    The collector stays paused until the command's libraries are imported (`_imports_done`).
    ``benchmarks/warm.py`` starts its imports-only process with this call too, so that the
    floor it measures is what the ``planner`` process pays for its imports.
    """
    set_process_env()
    if gc.isenabled():
        gc.disable()
        _GC_PAUSED.append(True)


def main() -> None:
    """Entry point of the ``planner`` command and of ``python -m planner``.

    After a successful ``planner run`` every output is written, closed and published, so the
    process ends with ``os._exit`` once stdout, stderr and logging are flushed: the
    interpreter's teardown (freeing the network, tables and geometries one object at a
    time) cost about 0.3-0.5 s of CPU of a warm sample run (benchmarks/README.md). The
    garbage collector is paused until the command's libraries are imported (see
    `_imports_done`), and `PROCESS_ENV` is set before they are.
    """
    start_process()
    warnings.formatwarning = _warning_line
    try:
        app(prog_name="planner")
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    if _QUICK_EXIT and code in (0, None):
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe, a closed stream
                stream.flush()
        os._exit(0)
    sys.exit(code)


if __name__ == "__main__":
    main()

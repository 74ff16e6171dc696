"""Command-line interface: ``planner run``, ``fetch``, ``site``, ``compare`` and ``region``."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from planner._errors import PlannerError

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
        """Run the command line; see `click.Command.main`."""
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
            where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            typer.echo(f"error: {_flat(exc.format_message())}{where}", err=True)
            sys.exit(1)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _flat(text: str) -> str:
    return " ".join(text.split())


app = typer.Typer(
    cls=OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    help="15分钟便民服务圈 planner: walking reach of service facilities on real street networks.",
)


def _say(message: str) -> None:
    typer.echo(f"· {message}", err=True)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)


def _number(option: str, text: str | None) -> float | None:
    """Parse a numeric option given as text, with a one-line error naming the option."""
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        raise PlannerError(f"{option}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise PlannerError(f"{option}: {text!r} is not a finite number")
    return value


@app.command()
def run(
    scenario: Annotated[
        str,
        typer.Argument(help="Scenario name (sample, liusha) or path to a scenario.toml / folder."),
    ] = "sample",
    minutes: Annotated[
        str | None, typer.Option("--minutes", help="Bands in minutes, e.g. 5,10,15.")
    ] = None,
    speed_kmh: Annotated[
        str | None,
        typer.Option("--speed-kmh", metavar="KMH", help="Walking speed in km/h (0.5-10)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default out/<scenario>).")
    ] = None,
    maps_dir: Annotated[Path, typer.Option("--maps-dir", help="Folder for the HTML map.")] = Path(
        "maps"
    ),
    osm: Annotated[
        Path | None,
        typer.Option(
            "--osm",
            help="Use this OSM XML, .graphml, or regional OSM PBF (.osm.pbf, cut to the study "
            "area) file as the network.",
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Fail on any input row with a problem instead of reporting it."
        ),
    ] = False,
) -> None:
    """Compute coverage for a scenario and write tables, polygons and the map."""
    from planner.scenario import load_scenario, parse_bands

    try:
        speed = _number("--speed-kmh", speed_kmh)
        sc = load_scenario(scenario)
        sc = sc.with_overrides(
            bands_min=parse_bands(minutes) if minutes else None,
            speed_kmh=speed,
            network_path=osm,
        )
        from planner import pipeline  # heavy (osmnx, geopandas): once the settings are good

        result = pipeline.run(sc, out_dir=out, maps_dir=maps_dir, strict=strict, progress=_say)
    except PlannerError as exc:
        _fail(exc)
        return
    s = result.summary["overall"]
    largest = f"{result.settings.largest_band_min:g}"
    within = s["bands"][largest]
    share = within["share_of_all_pois"]
    typer.echo(
        f"{sc.name}: {len(result.facilities)} facilities, {s['pois_total']} POIs; "
        f"within {largest} min of a facility: {within['pois_within']} "
        f"({'-' if share is None else f'{100 * share:.1f}%'})"
    )
    problems = result.problems()
    if problems:
        typer.echo(
            f"{len(problems)} input row(s) with problems (each listed with its status "
            "in pois.csv / facilities.csv):"
        )
        for p in problems[:10]:
            typer.echo(f"  - {p}")
        if len(problems) > 10:
            typer.echo(f"  … and {len(problems) - 10} more")
    for key, path in result.files.items():
        typer.echo(f"  {key}: {path}")


@app.command()
def fetch(
    scenario: Annotated[
        str, typer.Argument(help="Scenario name or path whose network source is overpass.")
    ],
) -> None:
    """Download and cache a scenario's walk network and POIs from OpenStreetMap (Overpass)."""
    from planner.scenario import load_scenario

    try:
        sc = load_scenario(scenario)
        from planner.download import fetch as fetch_scenario  # heavy: once the settings are good

        files = fetch_scenario(sc, progress=_say)
    except PlannerError as exc:
        _fail(exc)
        return
    for key, path in files.items():
        typer.echo(f"  {key}: {path}")


@app.command()
def site(
    scenario: Annotated[str, typer.Argument(help="Scenario name or path to a scenario.toml.")],
    add: Annotated[
        str | None,
        typer.Option("--add", metavar="N", help="Choose N new sites (maximal covering)."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target", metavar="SHARE", help="Fewest new sites to cover this share, in (0, 1]."
        ),
    ] = None,
    minutes: Annotated[
        str | None,
        typer.Option("--minutes", help="Walking band in minutes (default: the largest band)."),
    ] = None,
    candidates: Annotated[
        Path | None,
        typer.Option(
            "--candidates", help="Table of candidate sites (default: street points every 50 m)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default out/<scenario>-sites).")
    ] = None,
    time_limit: Annotated[
        str, typer.Option("--time-limit", metavar="S", help="Seconds for the exact solver.")
    ] = "10",
) -> None:
    """Choose where new service points go: writes sites.csv and prints coverage before/after."""
    from planner.scenario import load_scenario

    try:
        if (add is None) == (target is None):
            raise PlannerError("give either --add N or --target SHARE")
        n = _number("--add", add)
        if n is not None and (n != int(n) or n < 1):
            raise PlannerError(f"--add: expected a whole number of sites >= 1, got {add!r}")
        share = _number("--target", target)
        if share is not None and not 0 < share <= 1:
            raise PlannerError(f"--target: {target!r} is outside (0, 1]")
        band = _number("--minutes", minutes)
        if band is not None and band <= 0:
            raise PlannerError(f"--minutes: expected a positive number of minutes, got {minutes!r}")
        limit = _number("--time-limit", time_limit)
        if limit is None or limit <= 0:
            raise PlannerError(f"--time-limit: expected positive seconds, got {time_limit!r}")
        sc = load_scenario(scenario)
        out_dir = out if out is not None else Path("out") / f"{sc.name}-sites"
        from planner._publish import check_output_dir

        check_output_dir(out_dir)  # before any work
        from planner import pipeline, readers, siting  # heavy: once the options are good

        table = None
        if candidates is not None:
            table = readers.read_points(candidates, study_bbox=sc.study_bbox)
        result = pipeline.analyse_scenario(sc, progress=_say)
        _say("walking reach of the candidate sites")
        problem = siting.Siting.from_result(result, table, band_min=band)
        for problem_row in problem.excluded["reason"].head(10):
            _say(f"warning: candidate left out: {problem_row}")
        if len(problem.excluded) > 10:
            _say(f"warning: … and {len(problem.excluded) - 10} more candidates left out")
        if not len(problem.candidates):
            raise PlannerError("no usable candidate site (every row has a problem)")
        if n is not None:
            problem.solve_mclp(int(n), time_limit=limit)
        else:
            assert share is not None
            problem.solve_lscp(share, time_limit=limit)
        from planner._publish import output_set

        with output_set(out_dir) as folder:
            problem.to_csv(folder / "sites.csv")
    except PlannerError as exc:
        _fail(exc)
        return
    assert problem.before is not None and problem.after is not None
    assert problem.solution is not None
    within = f"within {problem.band_min:g} min"
    for label, c in (("before", problem.before), ("after ", problem.after)):
        typer.echo(
            f"{label}: {c.covered} of {c.total} routed merchants {within} ({100 * c.share:.1f}%)"
        )
    sol = problem.solution
    note = f"; {sol.note}" if sol.note else ""
    typer.echo(f"{len(sol.sites)} new site(s) by {sol.method}, gap {100 * sol.gap:.2f}%{note}")
    typer.echo(f"  sites: {out_dir / 'sites.csv'}")


@app.command()
def compare(
    scenario: Annotated[str, typer.Argument(help="Scenario name or path to a scenario.toml.")],
    proposals: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Proposal files (TOML): add, move, close, new links (default: the "
            "scenario's [proposals] files)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default out/<scenario>-compare)."),
    ] = None,
    maps_dir: Annotated[
        Path, typer.Option("--maps-dir", help="Folder for the comparison maps.")
    ] = Path("maps"),
) -> None:
    """Compare proposals with today: merchants gained and lost per facility and band, a map."""
    from planner.scenario import load_scenario

    try:
        sc = load_scenario(scenario)
        out_dir = out if out is not None else Path("out") / f"{sc.name}-compare"
        from planner._publish import check_output_dir, check_replaceable, output_set

        check_output_dir(out_dir)  # before any work
        from planner import io, pipeline  # heavy: once the options are good
        from planner import proposals as prop

        files = list(proposals or sc.proposals)
        if not files:
            raise PlannerError(
                f"no proposal to compare: name proposal files after the scenario, or list them "
                f'in {sc.file or sc.folder} as [proposals] files = ["east-gate.toml"]'
            )
        loaded = [prop.load_proposal(p) for p in files]
        map_paths = [maps_dir / f"{sc.name}-{p.name}.html" for p in loaded]
        for path in map_paths:
            check_replaceable(path)
        base = pipeline.analyse_scenario(sc, progress=_say)
        results = []
        for proposal in loaded:
            _say(f"proposal {proposal.name}")
            after = prop.apply_proposal(base, proposal)
            if base.policy is not None:
                from planner import policy

                policy.add_policy(after, sc.policy, policy.load_origins(sc))
            results.append(after)
        with output_set(out_dir) as folder:
            for proposal, after in zip(loaded, results, strict=True):
                by_facility, by_poi = prop.compare(base, after)
                io.write_csv(by_facility, folder / f"{proposal.name}_facilities.csv")
                io.write_csv(by_poi, folder / f"{proposal.name}_pois.csv")
                if base.policy is not None:
                    changes = prop.compare_policy(base, after)
                    io.write_csv(changes, folder / f"{proposal.name}_policy.csv")
        from planner.offline import save_offline

        for path, after in zip(map_paths, results, strict=True):
            save_offline(prop.compare_map(base, after), path)
    except PlannerError as exc:
        _fail(exc)
        return
    largest = f"{base.settings.largest_band_min:g}"
    before = base.summary["overall"]["bands"][largest]["pois_within"]
    typer.echo(f"{sc.name}: today {before} POIs within {largest} min of a facility")
    for proposal, after, path in zip(loaded, results, map_paths, strict=True):
        _, by_poi = prop.compare(base, after)
        counts = by_poi["change"].value_counts()
        now = after.summary["overall"]["bands"][largest]["pois_within"]
        typer.echo(
            f"  {proposal.name}: {now} within {largest} min "
            f"(gained {int(counts.get('gained', 0))}, lost {int(counts.get('lost', 0))}, "
            f"faster {int(counts.get('faster', 0))}); map: {path}"
        )
    typer.echo(f"  tables: {out_dir}")


@app.command()
def region(
    region_file: Annotated[
        Path, typer.Argument(metavar="REGION", help="Region file (region.toml) or its folder.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default out/<region>).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="Dask scheduler tcp://HOST:PORT (default: a local cluster, one process per "
            "core); 'serial' computes in this process without Dask.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Processes of the local cluster (default: cores)."),
    ] = None,
    work: Annotated[
        Path | None,
        typer.Option(
            "--work",
            help="Folder for per-area results (default: the user cache); on a cluster, a "
            "folder every worker can read and write.",
        ),
    ] = None,
) -> None:
    """Compute every study area of a region as one task each (Dask) and merge the circles."""
    from planner.region import load_region

    if scheduler is not None and scheduler != "serial" and "://" not in scheduler:
        _fail(PlannerError(f"--scheduler {scheduler!r}: expected tcp://HOST:PORT or serial"))
        return
    if scheduler is not None and workers is not None:
        _fail(PlannerError("--workers sets the local cluster's size; not used with --scheduler"))
        return
    try:
        reg = load_region(region_file)
        from planner.region import run_region  # heavy: once the file is good

        out_dir = out if out is not None else Path("out") / reg.name
        result = run_region(
            reg,
            out_dir=out_dir,
            work_dir=work,
            scheduler=scheduler,
            workers=workers,
            progress=_say,
        )
    except PlannerError as exc:
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
        f"{reg.name}: {ok} of {len(c)} areas computed, {failed} failed, "
        f"{len(c) - ok - failed} with input problems; merchants within {largest} min: "
        f"{covered} of {merchants}"
    )
    for key, path in result.files.items():
        typer.echo(f"  {key}: {path}")
    if failed:
        raise typer.Exit(code=1)


def main() -> None:
    """Entry point for ``python -m planner``."""
    app(prog_name="planner")


if __name__ == "__main__":
    main()

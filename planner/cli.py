"""Command-line interface: ``planner run`` and ``planner fetch``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from planner._errors import PlannerError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="15分钟便民服务圈 planner: walking reach of service facilities on real street networks.",
)


def _say(message: str) -> None:
    typer.echo(f"· {message}", err=True)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=1)


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
        float | None, typer.Option("--speed-kmh", help="Walking speed in km/h.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default out/<scenario>).")
    ] = None,
    maps_dir: Annotated[Path, typer.Option("--maps-dir", help="Folder for the HTML map.")] = Path(
        "maps"
    ),
    osm: Annotated[
        Path | None,
        typer.Option("--osm", help="Use this OSM XML (or .graphml) file as the network."),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Fail on any input row with a problem instead of reporting it."
        ),
    ] = False,
) -> None:
    """Compute coverage for a scenario and write tables, polygons and the map."""
    from planner import pipeline
    from planner.scenario import load_scenario, parse_bands

    try:
        sc = load_scenario(scenario)
        sc = sc.with_overrides(
            bands_min=parse_bands(minutes) if minutes else None,
            speed_kmh=speed_kmh,
            network_path=osm,
        )
        result = pipeline.run(sc, out_dir=out, maps_dir=maps_dir, strict=strict, progress=_say)
    except PlannerError as exc:
        _fail(exc)
        return
    s = result.analysis.summary["overall"]
    largest = f"{max(sc.bands_min):g}"
    within = s["bands"][largest]
    share = within["share_of_all_pois"]
    typer.echo(
        f"{sc.name}: {len(result.analysis.facility_table)} facilities, {s['pois_total']} POIs; "
        f"within {largest} min of a facility: {within['pois_within']} "
        f"({'-' if share is None else f'{100 * share:.1f}%'})"
    )
    problems = pipeline.input_problems(result.analysis.facilities, result.analysis.pois)
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
    from planner import pipeline
    from planner.scenario import load_scenario

    try:
        sc = load_scenario(scenario)
        files = pipeline.fetch(sc, progress=_say)
    except PlannerError as exc:
        _fail(exc)
        return
    for key, path in files.items():
        typer.echo(f"  {key}: {path}")


def main() -> None:
    """Entry point for ``python -m planner``."""
    app(prog_name="planner")


if __name__ == "__main__":
    sys.exit(main())

"""Plan 15-minute walking service circles (15分钟便民服务圈) on real OpenStreetMap streets.

The public API: load a scenario, analyse it into one `Result`, write or draw the result::

    import planner

    scenario = planner.load_scenario("sample")
    result = planner.analyse_scenario(scenario)
    planner.build_map(result)  # a folium map, shown inline in a notebook

Names are imported on first use, so ``import planner`` (and the command line's checks of
its options) stay fast; osmnx, folium and matplotlib load only when a step needs them.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner._errors import NetworkUnavailableError, PlannerError, ScenarioError
    from planner.download import fetch
    from planner.export import write_geopackage, write_workbook
    from planner.inputs import load_facilities, load_network, load_pois
    from planner.interactive import Coverage, LiveCoverage
    from planner.maps import build_map, save_map
    from planner.network import StreetNetwork
    from planner.outputs import write_outputs
    from planner.pipeline import analyse, analyse_scenario, reanalyse, run
    from planner.plot import draw, save_png
    from planner.proposals import Proposal, apply_proposal, compare
    from planner.readers import InputError, read_points
    from planner.region import Region, RegionResult, load_region, run_region
    from planner.result import Provenance, Result, Settings, SettingsError
    from planner.scenario import Scenario, load_scenario
    from planner.schema import Status
    from planner.siting import Siting

try:
    __version__ = version("liusha-planner")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

#: Public name -> the module that defines it.
_EXPORTS = {
    "Coverage": "interactive",
    "InputError": "readers",
    "LiveCoverage": "interactive",
    "NetworkUnavailableError": "_errors",
    "PlannerError": "_errors",
    "Proposal": "proposals",
    "Region": "region",
    "RegionResult": "region",
    "Provenance": "result",
    "Result": "result",
    "Scenario": "scenario",
    "ScenarioError": "_errors",
    "Settings": "result",
    "Siting": "siting",
    "SettingsError": "result",
    "Status": "schema",
    "StreetNetwork": "network",
    "analyse": "pipeline",
    "analyse_scenario": "pipeline",
    "apply_proposal": "proposals",
    "build_map": "maps",
    "compare": "proposals",
    "draw": "plot",
    "fetch": "download",
    "load_facilities": "inputs",
    "load_network": "inputs",
    "load_pois": "inputs",
    "load_region": "region",
    "load_scenario": "scenario",
    "read_points": "readers",
    "reanalyse": "pipeline",
    "run": "pipeline",
    "run_region": "region",
    "save_map": "maps",
    "save_png": "plot",
    "write_geopackage": "export",
    "write_outputs": "outputs",
    "write_workbook": "export",
}

__all__ = [
    "Coverage",
    "InputError",
    "LiveCoverage",
    "NetworkUnavailableError",
    "PlannerError",
    "Proposal",
    "Provenance",
    "Region",
    "RegionResult",
    "Result",
    "Scenario",
    "ScenarioError",
    "Settings",
    "SettingsError",
    "Siting",
    "Status",
    "StreetNetwork",
    "__version__",
    "analyse",
    "analyse_scenario",
    "apply_proposal",
    "build_map",
    "compare",
    "draw",
    "fetch",
    "load_facilities",
    "load_network",
    "load_pois",
    "load_region",
    "load_scenario",
    "read_points",
    "reanalyse",
    "run",
    "run_region",
    "save_map",
    "save_png",
    "write_geopackage",
    "write_outputs",
    "write_workbook",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'planner' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"planner.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

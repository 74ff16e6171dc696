"""Plan 15-minute walking service circles (15分钟便民服务圈) on real OpenStreetMap streets."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("liusha-planner")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

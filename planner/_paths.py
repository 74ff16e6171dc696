"""Where the bundled scenarios live and where caches go (never into an installed package)."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import site
import sysconfig
from pathlib import Path

#: The ``planner`` package folder.
PACKAGE_DIR = Path(__file__).resolve().parent
#: Bundled scenarios inside an installed package (copied there by ``setup.py`` at build time).
BUNDLED_DATA_DIR = PACKAGE_DIR / "_data"
#: Bundled scenarios in a source checkout (also what an editable install uses).
SOURCE_DATA_DIR = PACKAGE_DIR.parent / "data"
#: Environment variable that overrides the user cache folder.
CACHE_ENV = "PLANNER_CACHE_DIR"
#: Application name used for the platform's user cache folder.
APP_NAME = "liusha-planner"
#: Suffixes of the package files whose bytes make `code_digest` (code, tables, map scripts
#: and styles, compiled translations).
CODE_SUFFIXES = frozenset({".py", ".csv", ".js", ".css", ".json", ".toml", ".mo"})


#: Characters a name may not hold when it names files and folders (on any system).
_NAME_FORBIDDEN = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f]')


def is_file_name(name: str) -> bool:
    r"""Whether `name` can name a file or folder as it is, and so stays in its folder.

    Not empty, not ``.`` or ``..``, and without ``/ \ : * ? " < > |`` or control characters.
    """
    stripped = name.strip()
    return bool(stripped) and stripped not in {".", ".."} and not _NAME_FORBIDDEN.search(name)


def data_dir() -> Path:
    """Return the folder holding the bundled scenarios (``<name>/scenario.toml``).

    Returns
    -------
    path
        ``planner/_data`` in an installed package (wheel or sdist install), else the
        repository's top-level ``data/`` (source checkout or editable install).
    """
    if BUNDLED_DATA_DIR.is_dir():
        return BUNDLED_DATA_DIR
    return SOURCE_DATA_DIR


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 over the planner package's own files (code, tables, map scripts, translations).

    Fingerprints and cache keys carry it beside the version number, so an edited checkout
    (same version) never reuses a file or a cache an older code made. Computed once a
    process: the code that runs is the code imported at its start.
    """
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        rel = path.relative_to(PACKAGE_DIR)
        if rel.parts[0] in ("_data", "__pycache__") or path.suffix not in CODE_SUFFIXES:
            continue
        if path.is_file():
            h.update(f"{rel.as_posix()}|".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def user_cache_dir() -> Path:
    r"""Return the planner's user cache folder (not created).

    Returns
    -------
    path
        ``$PLANNER_CACHE_DIR`` when set and not empty, else the platform's user cache folder
        for ``liusha-planner`` (``~/.cache/liusha-planner`` on Linux, honouring
        ``$XDG_CACHE_HOME``; ``~/Library/Caches/liusha-planner`` on macOS;
        ``%LOCALAPPDATA%\\liusha-planner\\Cache`` on Windows).
    """
    override = os.environ.get(CACHE_ENV, "").strip()
    if override:
        return Path(override).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def network_cache_dir() -> Path:
    """Return the folder for street-network array caches (``<user cache>/networks``)."""
    return user_cache_dir() / "networks"


def path_digest(path: Path, length: int = 12) -> str:
    """Return a short hex digest of a resolved path, to tell same-named files apart."""
    text = str(Path(path).resolve())
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:length]


def installed_roots() -> list[Path]:
    """Folders whose content belongs to installed packages (site-packages and this package).

    Returns
    -------
    roots
        The planner package folder (also in a source checkout: nothing is cached into
        ``planner/``) and every site-packages folder of this interpreter.
    """
    roots: list[Path] = [PACKAGE_DIR]
    candidates = [sysconfig.get_paths().get(k) for k in ("purelib", "platlib")]
    candidates += [*site.getsitepackages(), site.getusersitepackages()]
    for c in candidates:
        if c:
            p = Path(c).resolve()
            if p not in roots:
                roots.append(p)
    return roots


def is_installed_path(path: Path) -> bool:
    """Tell whether `path` lies inside an installed package (see `installed_roots`)."""
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(root) for root in installed_roots())


def _writable_dir(path: Path) -> bool:
    """Tell whether `path` (or, when it does not exist yet, its parent) is a writable folder."""
    target = path if path.exists() else path.parent
    return target.is_dir() and os.access(target, os.W_OK | os.X_OK)


def scenario_cache_dir(folder: Path, name: str) -> Path:
    """Return where downloads for a scenario are cached.

    Parameters
    ----------
    folder
        The scenario's folder.
    name
        The scenario's name.

    Returns
    -------
    path
        ``<folder>/cache`` when that can be written and `folder` is not inside an installed
        package; else ``<user cache>/scenarios/<name>`` for a bundled scenario and
        ``<user cache>/scenarios/<name>-<digest of folder>`` for any other, so two read-only
        scenarios with the same name never share downloads.
    """
    folder = Path(folder)
    local = folder / "cache"
    if not is_installed_path(folder) and _writable_dir(local):
        return local
    resolved = folder.resolve()
    if resolved.parent == BUNDLED_DATA_DIR.resolve():
        sub = name
    else:
        sub = f"{name}-{path_digest(resolved, 8)}"
    return user_cache_dir() / "scenarios" / sub

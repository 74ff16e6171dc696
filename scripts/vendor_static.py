"""Rebuild ``planner/_static`` from the npm registry to mirror folium's CDN assets.

Usage: ``python scripts/vendor_static.py [--check]``. Needs ``npm`` and access to
the npm registry. For every CDN URL folium (and the plugins planner uses) links,
the matching file is taken from the npm tarball of the same library and version,
and recorded in ``_static/manifest.json`` together with the tarball integrity
hash; ``_static/LICENSES.md`` gets each library's licence text. The planner's own
``planner.js`` and ``planner.css`` (``planner.offline.OWN_FILES``) are kept and listed
as such. ``--check`` works offline: it verifies that folium's URLs are all either
vendored or deliberately omitted, and that ``_static`` holds exactly the files of the
manifest (vendored ones unchanged, own ones present and safe to inline).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.offline import OMITTED, OWN_FILES, STATIC_DIR  # noqa: E402


@dataclass(frozen=True)
class Library:
    """One npm package to vendor.

    Parameters
    ----------
    name : str
        npm package name.
    version : str
        Exact version (must match the version in folium's CDN URLs).
    license : str
        SPDX licence identifier.
    homepage : str
        Project home page.
    license_file : str
        Licence file inside the tarball (relative to ``package/``).
    assets : dict
        CDN URL -> file inside the tarball that replaces it.
    extra : tuple of str
        Glob patterns (relative to ``package/``) of files the CSS needs (images).
    strip : str
        Prefix removed from tarball paths when copying into ``_static/<name>/``.
    notes : tuple of str
        Remarks copied into ``LICENSES.md``.
    """

    name: str
    version: str
    license: str
    homepage: str
    license_file: str
    assets: dict[str, str]
    extra: tuple[str, ...] = ()
    strip: str = ""
    notes: tuple[str, ...] = ()


LIBRARIES = (
    Library(
        "leaflet",
        "1.9.3",
        "BSD-2-Clause",
        "https://leafletjs.com/",
        "LICENSE",
        {
            "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "dist/leaflet.js",
            "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "dist/leaflet.css",
        },
        extra=("dist/images/*.png",),
        strip="dist/",
    ),
    Library(
        "leaflet.fullscreen",
        "3.0.0",
        "MIT",
        "https://github.com/brunob/leaflet.fullscreen",
        "LICENSE",
        {
            "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js": (
                "Control.FullScreen.js"
            ),
            "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css": (
                "Control.FullScreen.css"
            ),
        },
        extra=("icon-fullscreen.svg",),
        notes=(
            "The `.min.js` URL is jsDelivr's on-the-fly minification; the package ships "
            "only the unminified `Control.FullScreen.js`, which is vendored instead.",
        ),
    ),
    Library(
        "leaflet-measure",
        "2.1.7",
        "MIT",
        "https://github.com/ljagis/leaflet-measure",
        "LICENSE",
        {
            "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/"
            "leaflet-measure.min.js": "dist/leaflet-measure.min.js",
            "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/"
            "leaflet-measure.min.css": "dist/leaflet-measure.css",
        },
        extra=("dist/images/*.png",),
        strip="dist/",
        notes=(
            "There is no `leaflet-measure.min.css` in the release; the unminified "
            "`leaflet-measure.css` of the same release is vendored for that URL.",
        ),
    ),
)


def folium_urls() -> list[str]:
    """Collect the CDN URLs folium and the planner's plugins link by default.

    MarkerCluster is included although planner maps do not use it: its URLs must be
    accounted for (they are deliberately omitted, with a guard).

    Returns
    -------
    list of str
        Script and stylesheet URLs.
    """
    import folium
    from folium.plugins import Fullscreen, MarkerCluster, MeasureControl

    urls: list[str] = []
    for obj in (folium.Map, MarkerCluster, Fullscreen, MeasureControl):
        urls += [u for _, u in obj.default_js] + [u for _, u in obj.default_css]
    return urls


def check_coverage() -> list[str]:
    """Return folium URLs that are neither vendored nor deliberately omitted.

    Returns
    -------
    list of str
        Uncovered URLs (empty when everything is accounted for).
    """
    vendored = {u for lib in LIBRARIES for u in lib.assets}
    return [u for u in folium_urls() if u not in vendored and u not in OMITTED]


def npm_pack(spec: str, dest: Path) -> dict:
    """Download one package tarball with ``npm pack`` (which checks its integrity).

    Parameters
    ----------
    spec : str
        ``name@version``.
    dest : pathlib.Path
        Directory for the tarball.

    Returns
    -------
    dict
        npm's JSON description (filename, integrity, shasum, ...).
    """
    out = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(dest)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)[0]


def _extract(tarball: Path, dest: Path) -> Path:
    with tarfile.open(tarball) as tf:
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, filter="data")
        else:  # pragma: no cover - Python < 3.11.4
            tf.extractall(dest)
    return dest / "package"


def _inline_problems(path: Path, rel: str) -> list[str]:
    """Why a JS/CSS file could not be inlined into a page (empty when it can)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".js" and re.search(r"</script|<!--", text, re.I):
        return [f"{rel}: contains </script or <!--, cannot be inlined"]
    problems = []
    if path.suffix == ".css":
        if re.search(r"</style", text, re.I):
            problems.append(f"{rel}: contains </style, cannot be inlined")
        for m in re.finditer(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", text):
            url = m.group(2)
            if url.startswith(("data:", "#")):
                continue
            if re.match(r"^(?:[a-z]+:)?//", url, re.I) or not (path.parent / url).is_file():
                problems.append(f"{rel}: url({url}) is not available locally")
    return problems


def _check_file(path: Path, rel: str) -> None:
    problems = _inline_problems(path, rel)
    if problems:
        raise SystemExit(problems[0])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_static(static: Path = STATIC_DIR) -> list[str]:
    """Compare ``static`` with its manifest, offline.

    Parameters
    ----------
    static : pathlib.Path
        The static directory (``planner/_static``).

    Returns
    -------
    list of str
        Problems: a vendored file missing or changed (SHA-256), an asset URL without its
        file, an own file (``OWN_FILES``) missing, unlisted or unsafe to inline, a file on
        disk that the manifest does not list. Empty when all is well.
    """
    path = static / "manifest.json"
    if not path.is_file():
        return [f"{path} is missing"]
    manifest = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    listed = {"manifest.json", "LICENSES.md"}
    for lib in manifest["libraries"]:
        for f in lib["files"]:
            listed.add(f["path"])
            target = static / f["path"]
            if not target.is_file():
                problems.append(f"{f['path']}: missing ({lib['name']} {lib['version']})")
            elif _sha256(target) != f["sha256"]:
                problems.append(f"{f['path']}: changed since it was vendored (SHA-256)")
    for url, asset in manifest["assets"].items():
        if asset["path"] not in listed:
            problems.append(f"{url}: its file {asset['path']} is not in the manifest")
    own = [f["path"] for f in manifest.get("own", [])]
    if sorted(own) != sorted(OWN_FILES):
        problems.append(f"manifest lists own files {own}, planner.offline has {list(OWN_FILES)}")
    for rel in OWN_FILES:
        listed.add(rel)
        if not (static / rel).is_file():
            problems.append(f"{rel}: missing (the planner's own page code)")
        else:
            problems += _inline_problems(static / rel, rel)
    on_disk = {p.relative_to(static).as_posix() for p in static.rglob("*") if p.is_file()}
    problems += [f"{rel}: not in the manifest" for rel in sorted(on_disk - listed)]
    return problems


def _clear(static: Path) -> None:
    """Empty ``static`` except the planner's own files (created when missing)."""
    static.mkdir(parents=True, exist_ok=True)
    for p in static.iterdir():
        if p.name in OWN_FILES and p.is_file():
            continue
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    if static.resolve() != STATIC_DIR.resolve():
        for rel in OWN_FILES:
            shutil.copyfile(STATIC_DIR / rel, static / rel)


def build(static: Path) -> None:
    """Download, copy and record all libraries into ``static``.

    Parameters
    ----------
    static : pathlib.Path
        Target directory; everything in it but the planner's own files is replaced (own
        files are copied from ``planner/_static`` when building elsewhere).
    """
    import folium

    _clear(static)
    manifest: dict = {
        "generated_by": "scripts/vendor_static.py",
        "folium_version": folium.__version__,
        "libraries": [],
        "assets": {},
        "own": [{"path": rel, "kind": "js" if rel.endswith(".js") else "css"} for rel in OWN_FILES],
    }
    licenses = [
        "# Third-party libraries vendored in `planner/_static`",
        "",
        "Generated by `scripts/vendor_static.py` from the npm registry; do not edit by hand.",
        "Each file below is byte-identical to the file in the npm tarball (SHA-256 in",
        "`manifest.json`). They are inlined into every offline map HTML that uses them.",
        "",
        "| Library | Version | Licence | npm tarball | Files |",
        "|---|---|---|---|---|",
    ]
    texts: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for lib in LIBRARIES:
            spec = f"{lib.name}@{lib.version}"
            info = npm_pack(spec, Path(tmp))
            pkg = _extract(Path(tmp) / info["filename"], Path(tmp) / lib.name)
            meta = json.loads((pkg / "package.json").read_text(encoding="utf-8"))
            if meta["version"] != lib.version:
                raise SystemExit(f"{spec}: npm returned version {meta['version']}")
            wanted = sorted(set(lib.assets.values()))
            for pattern in lib.extra:
                wanted += sorted(str(p.relative_to(pkg)) for p in pkg.glob(pattern))
            files = []
            for rel in wanted:
                dst_rel = Path(lib.name) / rel.removeprefix(lib.strip)
                dst = static / dst_rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(pkg / rel, dst)
                files.append(
                    {
                        "path": dst_rel.as_posix(),
                        "source": f"package/{rel}",
                        "bytes": dst.stat().st_size,
                        "sha256": _sha256(dst),
                    }
                )
            for url, rel in lib.assets.items():
                dst_rel = Path(lib.name) / rel.removeprefix(lib.strip)
                _check_file(static / dst_rel, dst_rel.as_posix())
                manifest["assets"][url] = {
                    "library": lib.name,
                    "version": lib.version,
                    "license": lib.license,
                    "path": dst_rel.as_posix(),
                    "kind": "js" if rel.endswith(".js") else "css",
                }
            tarball = f"https://registry.npmjs.org/{lib.name}/-/{info['filename']}"
            manifest["libraries"].append(
                {
                    "name": lib.name,
                    "version": lib.version,
                    "license": lib.license,
                    "homepage": lib.homepage,
                    "tarball": tarball,
                    "integrity": info["integrity"],
                    "files": files,
                }
            )
            names = ", ".join(f"`{f['path']}`" for f in files)
            licenses.append(
                f"| [{lib.name}]({lib.homepage}) | {lib.version} | {lib.license} "
                f"| {tarball} | {names} |"
            )
            text = (pkg / lib.license_file).read_text(encoding="utf-8").strip()
            notes = "".join(f"\nNote: {n}\n" for n in lib.notes)
            texts.append(
                f"## {lib.name} {lib.version} ({lib.license})\n\n"
                f"Source: {tarball} (`{info['integrity']}`)\n"
                f"Replaces: {', '.join(sorted(lib.assets))}\n{notes}\n"
                f"```text\n{text}\n```\n"
            )
    omitted = "\n".join(f"- {o.library}: {o.reason} ({u})" for u, o in OMITTED.items())
    own = ", ".join(f"`{rel}`" for rel in OWN_FILES)
    licenses += [
        "",
        f"Also here, not vendored: {own}, the planner's own page code (the package's",
        "licence; inlined by `planner.offline.inline_own`, checked by `--check`).",
        "",
        "Not vendored (folium links them by default; `planner.offline` drops them and",
        "raises if a map actually uses them):",
        "",
        omitted,
        "",
        *texts,
    ]
    (static / "LICENSES.md").write_text("\n".join(licenses), encoding="utf-8")
    (static / "manifest.json").write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def main() -> None:
    """Parse arguments, check folium coverage and rebuild the static directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only check folium coverage and the files (offline)"
    )
    parser.add_argument("--dest", type=Path, default=STATIC_DIR, help="output directory")
    args = parser.parse_args()
    missing = check_coverage()
    if missing:
        raise SystemExit("folium links URLs with no offline plan:\n  " + "\n  ".join(missing))
    if args.check:
        problems = check_static(args.dest)
        if problems:
            raise SystemExit(
                f"{args.dest} does not match its manifest:\n  " + "\n  ".join(problems)
            )
        print("all folium CDN URLs are vendored or deliberately omitted; files match the manifest")
        return
    build(args.dest)
    total = sum(p.stat().st_size for p in args.dest.rglob("*") if p.is_file())
    print(f"wrote {args.dest} ({total / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()

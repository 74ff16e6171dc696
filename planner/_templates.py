"""Jinja templates compiled once per installation, not at every import of folium."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import marshal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2

from planner import _paths

#: Bump when the layout of the cache file changes.
FORMAT = 2  # 2: a sha256 of the code before it
#: Hits and misses of the last `cached_compile` block (what the tests and profiles read).
LAST: dict[str, int] = {}


def cache_file() -> Path:
    """Return where compiled templates are kept (``<user cache>/templates/jinja-<tag>.marshal``).

    The name carries the Jinja and Python versions (the code objects are only valid for the
    interpreter that made them), so an upgrade starts a new file instead of reading a stale one.
    """
    tag = hashlib.sha256(
        f"{FORMAT}|{jinja2.__version__}|{sys.version}|{importlib.util.MAGIC_NUMBER!r}".encode()
    ).hexdigest()[:16]
    return _paths.user_cache_dir() / "templates" / f"jinja-{tag}.marshal"


def _settings(env: jinja2.Environment) -> str:
    """Everything of `env` that the generated code depends on, as text."""
    return repr(
        (
            type(env).__module__,
            type(env).__qualname__,
            env.block_start_string,
            env.block_end_string,
            env.variable_start_string,
            env.variable_end_string,
            env.comment_start_string,
            env.comment_end_string,
            env.line_statement_prefix,
            env.line_comment_prefix,
            env.trim_blocks,
            env.lstrip_blocks,
            env.newline_sequence,
            env.keep_trailing_newline,
            env.optimized,
            env.is_async,
            repr(env.autoescape) if not callable(env.autoescape) else None,
            sorted(env.extensions),
            sorted(env.filters),
            sorted(env.tests),
        )
    )


def _key(env: jinja2.Environment, source: str, name: Any, filename: Any, defer: bool) -> str:
    text = f"{_settings(env)}\0{name!r}\0{filename!r}\0{defer!r}\0{source}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


#: A cache file starts with the sha256 of the marshalled code after it.
_DIGEST_LEN = 32


def _read(path: Path) -> dict[str, CodeType]:
    """The compiled templates in `path`, or {} when it is missing, damaged or unreadable."""
    try:
        raw = path.read_bytes()
        digest, payload = raw[:_DIGEST_LEN], raw[_DIGEST_LEN:]
        if len(digest) != _DIGEST_LEN or hashlib.sha256(payload).digest() != digest:
            return {}  # a damaged byte would change the page the map library renders
        data = marshal.loads(payload)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, CodeType)}


def _write(path: Path, codes: dict[str, CodeType]) -> None:
    from planner.io import write_atomic

    payload = marshal.dumps(codes)

    def write(tmp: Path) -> None:
        tmp.write_bytes(hashlib.sha256(payload).digest() + payload)

    with contextlib.suppress(OSError):
        write_atomic(path, write)


@contextlib.contextmanager
def cached_compile(path: Path | None = None) -> Iterator[dict[str, int]]:
    """Reuse Jinja's compiled template code while the block runs (e.g. ``import folium``).

    folium and branca build about 140 `jinja2.Template` objects when they are imported, and
    Jinja parses and compiles each one to Python code every time (about 0.2 s of a warm
    ``planner run``). Inside this block `jinja2.Environment.compile` looks the code object up
    by a digest of the template source, its name and the environment's settings (delimiters,
    filters, tests, extensions, ...); a template not found is compiled as usual and the new
    code is added to the file when the block ends. The templates are the same objects Jinja
    would have built: only the compile step is skipped. Outside the block Jinja is untouched.

    Parameters
    ----------
    path
        The cache file; default `cache_file`. A file that cannot be read is ignored, one that
        cannot be written is not written.

    Yields
    ------
    counts
        ``{"hits": ..., "misses": ...}``, filled in while the block runs.
    """
    path = cache_file() if path is None else Path(path)
    codes = _read(path)
    counts = {"hits": 0, "misses": 0}
    LAST.clear()
    original: Any = jinja2.Environment.compile

    def cached(
        self: jinja2.Environment,
        source: Any,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        if raw or not isinstance(source, str):
            return original(self, source, name, filename, raw, defer_init)
        key = _key(self, source, name, filename, defer_init)
        code = codes.get(key)
        if code is not None:
            counts["hits"] += 1
            return code
        code = original(self, source, name, filename, raw, defer_init)
        if isinstance(code, CodeType):
            codes[key] = code
            counts["misses"] += 1
        return code

    jinja2.Environment.compile = cached  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        jinja2.Environment.compile = original  # type: ignore[method-assign]
        LAST.update(counts)
        if counts["misses"]:
            _write(path, codes)

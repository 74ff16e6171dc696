"""Wrap the user-visible texts that tests/test_i18n.py finds unwrapped in ``_()``.

    python scripts/i18n_wrap.py planner/readers.py [more files]   # then: ruff format

A plain literal becomes ``_("...")``; an f-string becomes ``_("... {name} ...").format(
name=...)`` (stable msgids; the conversion and format spec stay inside the braces). Adds
``from planner._i18n import _`` when missing. Review the result: placeholder names are
derived from the expressions and may want a better name.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.i18n_lint import PLANNER, error_classes, unwrapped

CONVERSIONS = {-1: "", 115: "!s", 114: "!r", 97: "!a"}


def _field_name(expr: ast.expr) -> str:
    if isinstance(expr, ast.Name):
        return expr.id.strip("_") or "value"
    if isinstance(expr, ast.Attribute):
        if expr.attr == "__name__":
            return "kind"
        base = _field_name(expr.value)
        return expr.attr if expr.attr not in ("name", "file", "folder") else f"{base}_{expr.attr}"
    if isinstance(expr, ast.Subscript):
        return _field_name(expr.value)
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Name) and func.id == "len":
            return "count"
        if isinstance(func, ast.Attribute) and func.attr == "join":
            return _field_name(expr.args[0]) if expr.args else "items"
        if expr.args:
            return _field_name(expr.args[0])
    if isinstance(expr, ast.BinOp):
        return "path" if isinstance(expr.op, ast.Div) else "count"
    if isinstance(expr, ast.BoolOp):
        return _field_name(expr.values[0])
    return "value"


def _template(node: ast.JoinedStr, text: str) -> tuple[str, list[tuple[str, str]]]:
    parts: list[str] = []
    fields: list[tuple[str, str]] = []  # (name, source)
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value).replace("{", "{{").replace("}", "}}"))
            continue
        assert isinstance(value, ast.FormattedValue)
        src = ast.get_source_segment(text, value.value) or ""
        known = [n for n, s in fields if s == src]
        if known:
            name = known[0]
        else:
            base = re.sub(r"\W", "_", _field_name(value.value)).lower() or "value"
            name, k = base, 2
            while name in {n for n, _ in fields}:
                name, k = f"{base}{k}", k + 1
            fields.append((name, src))
        spec = ""
        if value.format_spec is not None:
            assert isinstance(value.format_spec, ast.JoinedStr)
            spec = ":" + "".join(str(v.value) for v in value.format_spec.values)  # type: ignore[attr-defined]
        parts.append("{" + name + CONVERSIONS[value.conversion] + spec + "}")
    return "".join(parts), fields


def _literal(template: str) -> str:
    """The template as one or more implicitly concatenated string literals."""
    if len(template) <= 70:
        return _quote(template)
    chunks, line = [], ""
    for word in re.split(r"(?<= )", template):
        if line and len(line) + len(word) > 70:
            chunks.append(line)
            line = ""
        line += word
    chunks.append(line)
    return "\n".join(_quote(c) for c in chunks)


def _quote(s: str) -> str:
    body = repr(s)
    if body.startswith("'") and '"' not in s:
        body = '"' + body[1:-1].replace("\\'", "'") + '"'
    return body


def replacement(node: ast.expr, text: str) -> str:
    """Source for the wrapped form of `node`."""
    if isinstance(node, ast.Constant):
        return f"_({_literal(str(node.value))})"
    assert isinstance(node, ast.JoinedStr)
    template, fields = _template(node, text)
    if not fields:
        return f"_({_literal(template.replace('{{', '{').replace('}}', '}'))})"
    args = ", ".join(f"{n}={s}" for n, s in fields)
    return f"_({_literal(template)}).format({args})"


def wrap(path: Path, errors: set[str]) -> int:
    """Rewrite `path` in place; return how many texts were wrapped."""
    text = path.read_text(encoding="utf-8")
    nodes = [n for _, n in unwrapped(ast.parse(text), errors)]
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode("utf-8")))
    raw = text.encode("utf-8")
    spans = {}
    for node in nodes:
        start = offsets[node.lineno - 1] + node.col_offset
        end = offsets[node.end_lineno - 1] + node.end_col_offset  # type: ignore[operator]
        spans[(start, end)] = replacement(node, text).encode("utf-8")
    for (start, end), new in sorted(spans.items(), reverse=True):
        raw = raw[:start] + new + raw[end:]
    out = raw.decode("utf-8")
    if spans and not re.search(r"^from planner\._i18n import .*\b_\b", out, re.M):
        out = re.sub(
            r"^(from __future__ import annotations\n)",
            r"\1\nfrom planner._i18n import _\n",
            out,
            count=1,
            flags=re.M,
        )
    path.write_text(out, encoding="utf-8")
    return len(spans)


def main(argv: list[str]) -> int:
    """Wrap the texts of the files named in `argv`."""
    errors = error_classes(sorted(PLANNER.rglob("*.py")))
    for name in argv:
        print(f"{name}: {wrap(Path(name), errors)} text(s) wrapped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

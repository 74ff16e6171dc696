"""Find user-visible English text in planner/ that is not wrapped in ``_()`` (for test_i18n)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

PLANNER = Path(__file__).resolve().parent.parent / "planner"

#: Calls that mark a string for translation.
MARKERS = {"_", "N_", "ngettext"}
#: Calls whose text arguments reach the user: echo lines, progress lines, warnings.
SHOWN_CALLS = {"echo", "secho", "_say", "progress", "warn", "BadParameter"}
#: Keywords whose text reaches the user (row reasons, help texts).
SHOWN_KEYWORDS = {"reason", "help"}
#: Variables (plain or indexed, ``reason[far] = ...``) that hold a message or a row reason.
SHOWN_VARIABLES = {"msg", "message", "reason", "reasons", "note", "hint", "detail"}
#: Lists of messages that end up in an `error:` line (``issues.append(f"...")``).
SHOWN_LISTS = {"issues", "problems", "reasons", "notes", "warnings"}
#: Row-state constructors whose positional text is the row's reason.
SHOWN_CALLS_ALL_ARGS = {"_RowState"}
#: Literal words that stay English in every language: the ``error:`` prefix scripts look
#: for, and the file labels printed next to paths.
STABLE_WORDS = {"error", "sites", "tables"}
#: (file, where) pairs that are not user messages: the data dictionary's column descriptions
#: (English documentation, like the column names), and the offline map's vendoring checks
#: (raised for a developer who changed the map's libraries, never for user input).
EXEMPT = {("planner/schema.py", '"reason":'), ("planner/offline.py", "msg =")}
#: Built-in exceptions whose messages reach the user (pydantic validators of the scenario
#: file turn a ValueError into the scenario's `error:` line).
SHOWN_BUILTINS = {"ValueError"}


@dataclass(frozen=True)
class Finding:
    """One unwrapped user-visible text."""

    path: str
    line: int
    where: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.where}: {self.text}"


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def is_marked(node: ast.expr) -> bool:
    """``_("...")``, ``N_("...")``, ``ngettext(...)`` or ``_("...").format(...)``."""
    if not isinstance(node, ast.Call):
        return False
    if isinstance(node.func, ast.Name) and node.func.id in MARKERS:
        return True
    return (
        isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and is_marked(node.func.value)
    )


def _words(text: str) -> bool:
    return any(w.lower() not in STABLE_WORDS for w in re.findall(r"[A-Za-z]{2,}", text))


def text_nodes(node: ast.expr | None) -> list[ast.expr]:
    """The English literals (str constants, f-strings) in `node` that no `_()` wraps."""
    if node is None or is_marked(node):
        return []
    if isinstance(node, ast.Constant):
        return [node] if isinstance(node.value, str) and _words(node.value) else []
    if isinstance(node, ast.JoinedStr):
        shown = any(isinstance(v, ast.Constant) and _words(str(v.value)) for v in node.values)
        return [node] if shown else []
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
        return text_nodes(node.elt)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [t for e in node.elts for t in text_nodes(e)]
    if isinstance(node, ast.BinOp):
        return text_nodes(node.left) + text_nodes(node.right)
    if isinstance(node, ast.IfExp):
        return text_nodes(node.body) + text_nodes(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return text_nodes(node.func.value)  # "...".format(), .join(), .replace(), ...
    return []


def has_text(node: ast.expr | None) -> bool:
    """Whether `node` builds text from an English literal that no `_()` wraps."""
    return bool(text_nodes(node))


def error_classes(files: list[Path]) -> set[str]:
    """Names of `PlannerError` and every class in `files` that derives from it."""
    bases: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = {_name(b) for b in node.bases}
    found = {"PlannerError"}
    while True:
        more = {name for name, parents in bases.items() if parents & found} - found
        if not more:
            return found | SHOWN_BUILTINS
        found |= more


def _source(node: ast.AST, text: str) -> str:
    return (ast.get_source_segment(text, node) or "").splitlines()[0][:90]


def unwrapped(tree: ast.AST, errors: set[str]) -> list[tuple[str, ast.expr]]:
    """``(where, node)`` for every user-visible text node of `tree` not wrapped in ``_()``."""
    found: list[tuple[str, ast.expr]] = []
    for node in ast.walk(tree):
        checks: list[tuple[str, ast.expr]] = []
        if isinstance(node, ast.Call):
            if (
                _name(node.func) in errors
            ):  # raised here or handed on (``_fail(PlannerError(...))``)
                checks += [(f"{_name(node.func)}()", a) for a in node.args]
            if _name(node.func) in SHOWN_CALLS | SHOWN_CALLS_ALL_ARGS:
                checks += [(f"{_name(node.func)}()", a) for a in node.args]
            if (
                isinstance(node.func, ast.Attribute)
                and node.func.attr == "append"
                and _name(node.func.value) in SHOWN_LISTS
            ):
                checks += [(f"{_name(node.func.value)}.append()", a) for a in node.args]
            checks += [(f"{k.arg}=", k.value) for k in node.keywords if k.arg in SHOWN_KEYWORDS]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                base = target.value if isinstance(target, ast.Subscript) else target
                if isinstance(base, ast.Name) and base.id in SHOWN_VARIABLES:
                    checks.append((f"{base.id} =", node.value))
        elif isinstance(node, ast.Dict):
            checks += [
                ('"reason":', v)
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and k.value == "reason"
            ]
        found += [(where, t) for where, arg in checks for t in text_nodes(arg)]
    return found


def scan(root: Path = PLANNER) -> list[Finding]:
    """Every user-visible text literal under `root` not wrapped in ``_()``."""
    files = sorted(root.rglob("*.py"))
    errors = error_classes(files)
    found: list[Finding] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        rel = str(path.relative_to(root.parent))
        found += [
            Finding(rel, node.lineno, where, _source(node, text))
            for where, node in unwrapped(ast.parse(text), errors)
            if (rel, where) not in EXEMPT
        ]
    return sorted(set(found), key=lambda f: (f.path, f.line))


def commands_without_help(path: Path = PLANNER / "cli.py") -> list[str]:
    """CLI commands (``@app.command``) whose help is not given as ``help=N_(...)``."""
    missing = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if isinstance(dec, ast.Call) and _name(dec.func) == "command":
                helps = [k.value for k in dec.keywords if k.arg == "help"]
                if not helps or not is_marked(helps[0]):
                    missing.append(f"{path.name}:{node.lineno}: {node.name}")
            elif isinstance(dec, ast.Attribute) and dec.attr == "command":
                missing.append(f"{path.name}:{node.lineno}: {node.name}")
    return missing


def underscore_rebound(root: Path = PLANNER) -> list[str]:
    """Modules that use ``_()`` for translation and also assign to ``_`` somewhere.

    An assignment such as ``_, x = f()`` inside a function makes ``_`` local there, so a
    ``_("...")`` in the same function fails with UnboundLocalError.
    """
    bad = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports = any(
            isinstance(n, ast.ImportFrom)
            and n.module == "planner._i18n"
            and any(a.name == "_" and a.asname is None for a in n.names)
            for n in ast.walk(tree)
        )
        if not imports:
            continue
        for n in ast.walk(tree):
            if isinstance(n, ast.Name) and n.id == "_" and isinstance(n.ctx, ast.Store):
                bad.append(f"{path.relative_to(root.parent)}:{n.lineno}")
    return bad

"""Chinese and English: catalogues complete and current, every user text wrapped, CLI in both."""

from __future__ import annotations

import io
import os
import re
import string
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from planner import _i18n
from planner._i18n import _, language_from_env, set_language
from planner.schema import Status
from tests import i18n_lint

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "planner" / "locale"
POT = LOCALE / "planner.pot"
PO = LOCALE / "zh_CN" / "LC_MESSAGES" / "planner.po"
MO = PO.with_suffix(".mo")
UPDATE = "see README.md, 'Translations', for the three pybabel commands"


@pytest.fixture(autouse=True)
def _environment_language(monkeypatch: pytest.MonkeyPatch):
    """Each test starts from the environment's choice, in English, and leaves it so."""
    for var in _i18n.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    set_language(None)
    yield
    set_language(None)


def _fields(text: str) -> Counter[tuple[str, str, str]]:
    """``{name!conv:spec}`` fields of a str.format template, as a multiset."""
    return Counter(
        (name, conv or "", spec or "")
        for _lit, name, spec, conv in string.Formatter().parse(text)
        if name is not None
    )


def _extracted() -> set[str]:
    """The msgids Babel finds in planner/ now (what `pybabel extract` would write)."""
    found = extract_from_dir(
        ROOT / "planner", method_map=[("**.py", "python")], keywords=DEFAULT_KEYWORDS
    )
    ids = set()
    for _file, _line, message, _comments, _context in found:
        ids.update([message] if isinstance(message, str) else [m for m in message if m])
    return ids


def _catalogue(path: Path):
    with path.open("rb") as f:
        return read_po(f, locale="zh_CN")


# --------------------------------------------------------------------------- catalogues
def test_template_lists_every_message_of_the_code():
    """The committed .pot is current: a new `_("...")` without re-extraction fails here."""
    committed = {m.id for m in _catalogue(POT) if m.id}
    now = _extracted()
    assert now - committed == set(), f"messages missing from {POT.name}; {UPDATE}"
    assert committed - now == set(), f"stale messages in {POT.name}; {UPDATE}"
    assert len(now) > 250


def test_every_message_has_a_chinese_translation_with_the_same_placeholders():
    catalogue = _catalogue(PO)
    problems = []
    for msgid in sorted(_extracted()):
        message = catalogue.get(msgid)
        if message is None or not message.string:
            problems.append(f"untranslated: {msgid!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        elif _fields(message.string) != _fields(msgid):
            problems.append(f"placeholders differ: {msgid!r} -> {message.string!r}")
        elif re.search(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]", message.string) is None:
            problems.append(f"not Chinese: {msgid!r} -> {message.string!r}")
    assert problems == [], "\n".join(problems)


def test_the_completeness_check_fails_on_a_missing_or_broken_translation():
    """The check above can fail: an empty msgstr and a renamed placeholder are both caught."""
    msgid = "{option}: {text!r} is not a number"
    assert msgid in _extracted()
    good = _catalogue(PO)[msgid].string
    assert _fields(good) == _fields(msgid)
    assert _fields(good.replace("{text!r}", "{text}")) != _fields(msgid)
    assert _fields(good.replace("{option}", "{opt}")) != _fields(msgid)


def test_committed_mo_is_the_compiled_po():
    """The shipped .mo is exactly what `pybabel compile` makes of the committed .po.

    The .mo is committed (not compiled at build time) so that a checkout and an editable
    install speak Chinese without a build step and a wheel build needs no Babel.
    """
    out = io.BytesIO()
    write_mo(out, _catalogue(PO), use_fuzzy=False)
    assert MO.read_bytes() == out.getvalue(), f"{MO} is stale; {UPDATE}"


# --------------------------------------------------------------------------- wrapped texts
def test_no_user_visible_text_left_unwrapped():
    """Error, echo, progress, warning, reason and help texts in planner/ all go through _().

    Text added by later changes fails here until it is wrapped (scripts/i18n_wrap.py).
    """
    found = i18n_lint.scan()
    assert found == [], "wrap these in _() (scripts/i18n_wrap.py FILE):\n" + "\n".join(
        map(str, found)
    )


def test_every_cli_command_has_translatable_help():
    assert i18n_lint.commands_without_help() == []


def test_no_module_rebinds_the_translation_function():
    assert i18n_lint.underscore_rebound() == []


LINT_SAMPLE = """\
import warnings
import typer
from planner._errors import PlannerError
from planner._i18n import N_, _

class MyError(PlannerError):
    pass

def f(x, progress, issues):
    raise PlannerError(f"bad value {x}")                         # 10 flagged
    raise MyError("no such file")                                # 11 flagged
    raise ValueError("a sheet index counts from 0")              # 12 flagged
    raise PlannerError(_("bad value {x}").format(x=x))           # 13 wrapped
    typer.echo(f"{x} facilities")                                # 14 flagged
    typer.echo(f"  {x}: {x}")                                    # 15 no words
    typer.echo(f"error: {x}")                                    # 16 stable prefix
    progress("drawing the map")                                  # 17 flagged
    warnings.warn("undecodable bytes were replaced")             # 18 flagged
    g(reason="too far")                                          # 19 flagged
    msg = f"{x}: the file is empty"                              # 20 flagged
    issues.append("[network] path is missing")                   # 21 flagged
    reason = "" if x else "no street within the limit"           # 22 flagged
    typer.Option("--out", help="Output folder.")                 # 23 flagged
    typer.Option("--out", help=N_("Output folder."))             # 24 marked
    raise KeyError("some key")                                   # 25 internal
    _, y = x                                                     # 26 rebinds _
"""


def test_lint_finds_each_kind_of_unwrapped_text(tmp_path):
    """Fault injection: a module with one unwrapped text of each kind is caught line by line."""
    pkg = tmp_path / "planner"
    pkg.mkdir()
    (pkg / "sample.py").write_text(LINT_SAMPLE, encoding="utf-8")
    lines = sorted(f.line for f in i18n_lint.scan(pkg))
    assert lines == [10, 11, 12, 14, 17, 18, 19, 20, 21, 22, 23]
    assert i18n_lint.underscore_rebound(pkg) == ["planner/sample.py:26"]
    cli = pkg / "cli.py"
    cli.write_text(
        "@app.command()\ndef a(): ...\n@app.command(help='x')\ndef b(): ...\n"
        "@app.command(help=N_('x'))\ndef c(): ...\n",
        encoding="utf-8",
    )
    assert i18n_lint.commands_without_help(cli) == ["cli.py:2: a", "cli.py:4: b"]


# --------------------------------------------------------------------------- choosing
@pytest.mark.parametrize(
    ("env", "language"),
    [
        ({}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, "en"),
        ({"LANG": "zh_CN.UTF-8", "LC_ALL": "en_US.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.GB18030"}, "zh"),
        ({"LANGUAGE": "fr:zh_CN:en", "LANG": "en_US.UTF-8"}, "zh"),
        ({"LANGUAGE": "", "LC_ALL": "", "LANG": "zh_TW.UTF-8"}, "zh"),
    ],
)
def test_language_from_the_environment(env, language):
    assert language_from_env(env) == language


def test_set_language_overrides_the_environment_and_rejects_others(monkeypatch):
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert _("drawing the map") == "正在绘制地图"
    set_language("en")
    assert _("drawing the map") == "drawing the map"
    with pytest.raises(ValueError, match="'fr'"):
        set_language("fr")


def test_row_reasons_are_chinese_and_statuses_stay_english(tmp_path, monkeypatch):
    """A bad row: its reason follows the language, its status and the columns do not."""
    from planner.readers import read_points

    table = tmp_path / "pois.csv"
    table.write_text("id,name,lon,lat\nP1,A,116.1,23.3\nP2,B,abc,23.3\nP3,C,,\n", encoding="utf-8")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    zh = read_points(table)
    set_language("en")
    en = read_points(table)
    assert list(zh.columns) == list(en.columns)
    assert zh["status"].tolist() == en["status"].tolist()
    assert zh["status"].tolist() == [
        Status.OK.value,
        Status.INVALID_COORDINATES.value,
        Status.MISSING_COORDINATES.value,
    ]
    assert en["reason"][1] == 'pois.csv row 3, field "lon": value "abc" is not a number'
    assert zh["reason"][1] == 'pois.csv 第 3 行，字段 "lon"：值 "abc" 不是数值'
    assert en["reason"][2] == 'pois.csv row 4, fields "lon" and "lat": both empty'
    assert zh["reason"][2] == 'pois.csv 第 4 行，字段 "lon" 和 "lat"：都是空值'


# --------------------------------------------------------------------------- command line
CASES = [
    (
        ["site", "sample", "--add", "x"],
        "error: --add: 'x' is not a number",
        "error: --add：'x' 不是数值",
    ),
    (
        ["site", "sample"],
        "error: give either --add N or --target SHARE",
        "error: 请给出 --add N 或 --target SHARE 中的一个",
    ),
    (
        ["run", "nowhere"],
        "error: scenario 'nowhere' not found (bundled scenarios:",
        "error: 找不到情景 'nowhere'（自带情景：",
    ),
    (
        ["run", "sample", "--speed-kmh", "inf"],
        "error: --speed-kmh: 'inf' is not a finite number",
        "error: --speed-kmh：'inf' 不是有限数值",
    ),
]


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "english", "chinese"), CASES)
def test_cli_errors_in_both_languages(cli, monkeypatch, args, english, chinese):
    assert _one_error_line(cli("--lang", "zh", *args)).startswith(chinese)
    assert _one_error_line(cli("--lang", "en", *args)).startswith(english)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert _one_error_line(cli(*args)).startswith(chinese)
    assert _one_error_line(cli("--lang=en", *args)).startswith(english)  # flag beats locale
    assert _i18n.chosen_language() is None  # the CLI leaves no language behind


def test_bad_scenario_key_in_both_languages(cli, tmp_path):
    sc = tmp_path / "bad" / "scenario.toml"
    sc.parent.mkdir()
    sc.write_text('[scenario]\nname = "bad"\n[analysis]\nspeed_kmhh = 4.5\n', encoding="utf-8")
    en = _one_error_line(cli("--lang", "en", "run", sc))
    zh = _one_error_line(cli("--lang", "zh", "run", sc))
    assert "[analysis] speed_kmhh = 4.5: unknown key (did you mean speed_kmh?)" in en
    assert "[analysis] speed_kmhh = 4.5：未知的键（是否想写 speed_kmh？）" in zh


def test_a_bad_lang_value_is_one_error_line(cli):
    line = _one_error_line(cli("--lang", "fr", "run"))
    assert line.startswith("error: ") and "'fr' is not one of zh, en" in line


def _help(env_lang: str, *args: str, columns: int = 200) -> str:
    env = {k: v for k, v in os.environ.items() if k not in _i18n.ENV_VARS}
    env.update(LANG=env_lang, COLUMNS=str(columns))
    p = subprocess.run(
        [sys.executable, "-m", "planner", *args, "--help"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return p.stdout


def test_help_is_chinese_under_a_chinese_locale():
    """``planner --help`` in a real process with LANG=zh_CN.UTF-8: Chinese texts, no English."""
    zh, en = _help("zh_CN.UTF-8"), _help("C.UTF-8")
    assert "15分钟便民生活圈规划工具" in zh
    assert "计算一个情景的覆盖情况" in zh and "显示此帮助信息并退出" in zh
    assert "Compute coverage for a scenario" not in zh
    assert "Compute coverage for a scenario" in en and "计算一个情景" not in en
    assert "─ 选项 " in zh and "─ 命令 " in zh and "─ Options " not in zh  # typer's panels
    assert "─ Options " in en and "─ Commands " in en
    site = _help("zh_CN.UTF-8", "site")
    assert "选出 N 个新点位" in site and "--add" in site and "--target" in site


@pytest.mark.parametrize("command", ["", "run", "fetch", "site", "compare", "region"])
def test_chinese_help_in_an_80_column_terminal_is_folded_not_cut(command):
    """Rich wraps at spaces and cut a Chinese sentence (no spaces) with "…"."""
    zh = _help("zh_CN.UTF-8", *([command] if command else []), columns=80)
    assert "…" not in zh
    if command == "run":
        assert "而不是仅在结" in zh and "果中标注" in zh  # --strict's text, whole


def test_square_brackets_in_help_texts_are_shown_not_read_as_markup():
    """Typer draws help with Rich, which takes ``[proposals]`` for a style tag and drops it."""
    en = _flat(_help("C.UTF-8", "compare"))
    zh = _flat(_help("zh_CN.UTF-8", "compare"))
    assert "the scenario's [proposals] files" in en
    assert "情景文件 [proposals] 中列出的文件" in zh
    assert "[required]" in en and "[default: maps]" in en  # typer's own marks stay as they were
    # every help text of every command keeps its brackets (none is dropped as a style tag)
    import typer.main

    from planner.cli import app

    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        page = _flat(_help("C.UTF-8", name))
        for param in command.params:
            for tag in re.findall(r"\[[^\]]*\]", getattr(param, "help", None) or ""):
                assert tag in page, (name, param.name, tag)


@pytest.mark.parametrize(
    "text",
    [
        *("the [proposals] files", "[default: 1]", "a [b] and [c]", "x \\[kept] y"),
        *("ends \\", "ends \\\\", "[Upper] is no tag", "no tags", "[/close]", "[#fff]", "[@click]"),
    ],
)
def test_help_texts_are_escaped_as_rich_escapes_them(text):
    from rich.markup import escape, render

    from planner.cli import _as_written

    assert _as_written(text) == escape(text)
    if not text.endswith("\\"):  # (Rich shows an escaped trailing backslash twice)
        assert render(_as_written(text)).plain == text  # shown exactly as written


def _flat(text: str) -> str:
    """Help text with the panels' borders and line breaks removed."""
    return " ".join(text.replace("│", " ").split())


# --------------------------------------------------------------------------- READMEs
def _code_names() -> tuple[set[str], set[str], set[str]]:
    """Commands, options and statuses as the code defines them."""
    import typer.main

    from planner.cli import app

    group = typer.main.get_command(app)
    commands = set(group.commands)  # type: ignore[attr-defined]
    options = {
        opt
        for command in [group, *group.commands.values()]  # type: ignore[attr-defined]
        for param in command.params
        for opt in getattr(param, "opts", [])
        if opt.startswith("--") and not getattr(param, "hidden", False)
    }
    return commands, options, {s.value for s in Status}


def _readme_missing(text: str) -> list[str]:
    commands, options, statuses = _code_names()
    missing = [f"planner {c}" for c in sorted(commands) if f"planner {c}" not in text]
    missing += [o for o in sorted(options) if not re.search(rf"{re.escape(o)}(?![\w-])", text)]
    missing += [f"`{s}`" for s in sorted(statuses) if f"`{s}`" not in text]
    return missing


@pytest.mark.parametrize("readme", ["README.md", "README.zh-CN.md"])
def test_readmes_name_every_command_option_and_status(readme):
    """Both READMEs name each command (``planner NAME``), option and status of the code."""
    missing = _readme_missing((ROOT / readme).read_text(encoding="utf-8"))
    assert missing == [], f"{readme} does not mention: {', '.join(missing)}"


def test_readme_check_sees_a_missing_option_command_and_status():
    """The READMEs check can fail: cut one option, command and status and each is named."""
    text = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    cut = re.sub(r"--time-limit(?![\w-])", "--time", text)
    cut = cut.replace("planner compare", "planner").replace("`duplicate_id`", "")
    assert _readme_missing(cut) == ["planner compare", "--time-limit", "`duplicate_id`"]


def test_chinese_readme_starts_with_the_same_two_commands():
    def commands(readme: str) -> list[str]:
        text = (ROOT / readme).read_text(encoding="utf-8")
        block = re.search(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
        assert block is not None
        return [ln.split("#")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]

    assert commands("README.zh-CN.md") == commands("README.md")
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:5]
    assert any("README.zh-CN.md" in line for line in head)


def test_notebook_markdown_is_in_both_languages():
    """Every explanatory markdown cell of the notebooks holds Chinese and English."""
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "markdown":
                continue
            src = cell.source
            assert re.search(r"[\u4e00-\u9fff]", src), f"{path.name} cell {i}: no Chinese"
            assert re.search(r"[A-Za-z]{4,} [A-Za-z]{2,}", src), f"{path.name} cell {i}: no English"


def test_the_missing_column_message_is_chinese_throughout(tmp_path):
    """The column's name in the message is translated too ("没有经度列", not "没有longitude列")."""
    from planner.readers import InputError, read_points

    path = tmp_path / "f.csv"
    path.write_text("id,name,foo,bar\nA,b,1,2\n", encoding="utf-8")
    set_language("zh")
    try:
        with pytest.raises(InputError) as err:
            read_points(path)
    finally:
        set_language(None)
    assert str(err.value).startswith("f.csv：没有经度列；")

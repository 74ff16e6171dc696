"""Translations of user-visible text: gettext catalogues in ``planner/locale`` (Babel)."""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from pathlib import Path

#: gettext domain: ``planner/locale/<locale>/LC_MESSAGES/planner.mo``.
DOMAIN = "planner"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: Languages of ``--lang``; English is the source language (the msgids), so it needs no catalogue.
LANGUAGES = ("en", "zh")
_CATALOGUES = {"zh": "zh_CN"}
#: Environment variables consulted in gettext's order; the first non-empty one decides.
ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_chosen: str | None = None
_loaded: dict[str, gettext.NullTranslations] = {}


def language_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The language the environment asks for: ``"zh"`` for any ``zh*`` locale, else ``"en"``.

    Parameters
    ----------
    environ
        Variables to read (default `os.environ`): ``LANGUAGE`` (a colon-separated list),
        ``LC_ALL``, ``LC_MESSAGES``, ``LANG``, in that order, as gettext reads them.

    Returns
    -------
    language
        One of `LANGUAGES`.
    """
    env = os.environ if environ is None else environ
    for var in ENV_VARS:
        value = env.get(var, "")
        for part in value.split(":"):
            code = part.split(".")[0].split("@")[0].strip().lower()
            if code.startswith("zh"):
                return "zh"
            if code.startswith("en") or code in ("c", "posix"):
                return "en"
    return "en"


def set_language(language: str | None) -> None:
    """Use `language` (``"zh"`` or ``"en"``) from now on; None goes back to the environment.

    Parameters
    ----------
    language
        One of `LANGUAGES`, or None.
    """
    if language is not None and language not in LANGUAGES:
        raise ValueError(
            _("language must be one of {languages}, got {language!r}").format(
                languages=LANGUAGES, language=language
            )
        )
    global _chosen
    _chosen = language


def chosen_language() -> str | None:
    """The language set by `set_language`, or None when the environment decides."""
    return _chosen


def current_language() -> str:
    """The language messages are in now: the one set by `set_language`, else the environment's."""
    return _chosen if _chosen is not None else language_from_env()


def translations(language: str | None = None) -> gettext.NullTranslations:
    """The catalogue of `language` (default: `current_language`), loaded once."""
    lang = language or current_language()
    if lang not in _loaded:
        if lang in _CATALOGUES:
            _loaded[lang] = gettext.translation(
                DOMAIN, localedir=LOCALE_DIR, languages=[_CATALOGUES[lang]], fallback=True
            )
        else:
            _loaded[lang] = gettext.NullTranslations()
    return _loaded[lang]


def _(message: str) -> str:
    """Translate `message` (an English msgid) into the current language."""
    return translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message with a singular and a plural form, chosen by `n`."""
    return translations().ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802  # the gettext name xgettext and Babel know
    """Mark `message` for extraction without translating it (translated where it is shown)."""
    return message

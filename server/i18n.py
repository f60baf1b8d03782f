"""Languages: which one a person gets, and the gettext catalogs that speak it.

Canopy speaks English (`en`, the source language: message ids are the English text) and
Simplified Chinese (`zh-Hans`). Catalogs are plain `.po` files under `server/locales/<locale>/
LC_MESSAGES/`, one per part of the product (mail, notifications, web, ...) so that parts can be
translated apart; they are compiled in memory at first use, so no build step makes `.mo` files.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Literal, get_args

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

Language = Literal["en", "zh-Hans"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "en"

LOCALES_DIR = Path(__file__).parent / "locales"
_LOCALE_OF: dict[Language, str] = {"en": "en", "zh-Hans": "zh_Hans"}
"""The Babel locale of each language (dates and numbers are formatted in it)."""

_MAX_ACCEPT_LANGUAGE = 512
"""A longer header is read only this far: anyone can send one, and only the first tags matter."""


def babel_locale(language: Language) -> str:
    return _LOCALE_OF[language]


def _language_of_tag(tag: str) -> Language | None:
    """`zh`, `zh-CN`, `zh-Hans-CN`, `zh-SG` are Simplified Chinese; `zh-TW`/`zh-Hant` are not
    offered (no Traditional catalog), so they fall through to the next choice."""
    parts = tag.strip().lower().replace("_", "-").split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] == "zh" and not ({"hant", "tw", "hk", "mo"} & set(parts[1:])):
        return "zh-Hans"
    return None


def negotiate(accept_language: str | None, default: Language = DEFAULT_LANGUAGE) -> Language:
    """The best of our languages for an `Accept-Language` header (RFC 9110 12.5.4), else `default`.

    A malformed entry is skipped rather than refused: the header only ever expresses a wish.
    """
    if not accept_language:
        return default
    wishes: list[tuple[float, int, Language]] = []
    for position, entry in enumerate(accept_language[:_MAX_ACCEPT_LANGUAGE].split(",")):
        tag, _, params = entry.partition(";")
        language = _language_of_tag(tag)
        if language is None:
            continue
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
            if not 0.0 < quality <= 1.0:
                continue
        wishes.append((-quality, position, language))
    return min(wishes)[2] if wishes else default


def language_or_default(value: str | None) -> Language:
    """A stored or submitted language code, or `en` when it is not one of ours."""
    return value if value in LANGUAGES else DEFAULT_LANGUAGE  # type: ignore[return-value]


@cache
def translations(language: Language) -> NullTranslations:
    """Every catalog of `language` merged into one gettext object (English needs none)."""
    merged: NullTranslations = NullTranslations()
    directory = LOCALES_DIR / _LOCALE_OF[language] / "LC_MESSAGES"
    for po_file in sorted(directory.glob("*.po")) if language != DEFAULT_LANGUAGE else ():
        with po_file.open("rb") as source:
            catalog = read_po(source, locale=_LOCALE_OF[language])
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        part = Translations(fp=compiled, domain=po_file.stem)
        if isinstance(merged, Translations):
            merged.merge(part)
        else:
            merged = part
    return merged


def gettext(language: Language, message: str) -> str:
    return translations(language).gettext(message)


def ngettext(language: Language, singular: str, plural: str, count: int) -> str:
    return translations(language).ngettext(singular, plural, count)

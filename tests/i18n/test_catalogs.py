"""The gettext catalogs and the choice of language."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po

from server.i18n import LOCALES_DIR, gettext, negotiate


def test_every_catalog_parses_and_every_chinese_entry_is_translated() -> None:
    files = sorted(LOCALES_DIR.glob("*/LC_MESSAGES/*.po"))
    assert files
    for po_file in files:
        with po_file.open("rb") as source:
            catalog = read_po(source)
        for message in catalog:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings), f"{po_file.name}: {message.id!r} has no translation"
            assert not message.fuzzy, f"{po_file.name}: {message.id!r} is fuzzy"


def test_a_message_comes_back_in_the_language_asked() -> None:
    assert gettext("en", "Simplified Chinese") == "Simplified Chinese"
    assert gettext("zh-Hans", "Simplified Chinese") == "简体中文"
    assert gettext("zh-Hans", "a message no catalog has") == "a message no catalog has"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
        ("zh-Hans-CN", "zh-Hans"),
        ("en-GB,zh;q=0.5", "en"),
        ("fr-FR, zh;q=0.4, en;q=0.3", "zh-Hans"),
        ("zh-TW,en;q=0.5", "en"),
        ("en;q=0.2, zh;q=0.9", "zh-Hans"),
        ("zh;q=abc, en;q=0", "en"),
        ("de", "en"),
        ("*", "en"),
        (";;;,,,=", "en"),
        ("zh" + ",x" * 10_000, "zh-Hans"),
    ],
)
def test_accept_language_picks_the_best_of_ours(header: str | None, language: str) -> None:
    assert negotiate(header) == language

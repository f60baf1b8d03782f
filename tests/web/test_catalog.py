"""Every message of the templates has its Chinese translation."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server.i18n import LOCALES_DIR
from server.web.pages import TEMPLATES_DIR


def test_every_message_of_the_templates_is_in_a_chinese_catalog() -> None:
    extracted = {
        message
        for _, _, message, _, _ in extract_from_dir(
            TEMPLATES_DIR,
            method_map=[("**.html", "jinja2")],
            options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
        )
    }
    assert "Page not found" in extracted
    translated: set[str] = set()
    for po_file in (LOCALES_DIR / "zh_Hans" / "LC_MESSAGES").glob("*.po"):
        with po_file.open("rb") as source:
            translated |= {message.id for message in read_po(source) if message.id and message.string}
    assert sorted(extracted - translated) == []

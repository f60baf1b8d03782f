"""Every message of the mail templates, and every subject, has its Chinese translation."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server.i18n import LOCALES_DIR
from server.mail.rendering import SUBJECTS, TEMPLATES_DIR


def test_every_mail_message_is_in_the_chinese_catalog() -> None:
    extracted = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            TEMPLATES_DIR,
            method_map=[("**.html", "jinja2"), ("**.txt", "jinja2")],
            options_map={"**.html": {"extensions": "jinja2.ext.i18n"}, "**.txt": {"extensions": "jinja2.ext.i18n"}},
        )
    } | set(SUBJECTS.values())
    assert "Or open this link:" in extracted
    translated: set[str] = set()
    for po_file in (LOCALES_DIR / "zh_Hans" / "LC_MESSAGES").glob("*.po"):
        with po_file.open("rb") as source:
            for message in read_po(source):
                if message.id and message.string:
                    translated.add(message.id if isinstance(message.id, str) else message.id[0])
    assert sorted(extracted - translated) == []

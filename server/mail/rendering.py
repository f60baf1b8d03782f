"""Mail bodies from Jinja2 templates, a text and an HTML part, in the recipient's language.

The templates' words go through gettext (`{% trans %}`), so the `mail` catalog translates them;
one environment per language, built once, holds that language's translations.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from server.i18n import Language, gettext, translations

TEMPLATES_DIR = Path(__file__).parent / "templates"

# The subject of each kind of mail (a message id of the `mail` catalog).
SUBJECTS: dict[str, str] = {
    "verify-email": "Confirm your email address for Canopy",
    "password-reset": "Reset your Canopy password",
    "member-invitation": "You are invited to Canopy",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@cache
def _environment(language: Language) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return environment


def render(kind: str, language: Language, context: dict[str, Any]) -> Rendered:
    environment = _environment(language)
    # A notification mail's subject is its title, already in the recipient's language.
    subject = gettext(language, SUBJECTS[kind]) if kind in SUBJECTS else str(context["title"])
    values = {**context, "subject": subject, "language": language}
    return Rendered(
        subject=subject,
        text=environment.get_template(f"{kind}.txt").render(values),
        html=environment.get_template(f"{kind}.html").render(values),
    )

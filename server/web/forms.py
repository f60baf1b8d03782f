"""Reading a page's form: `application/x-www-form-urlencoded`, strictly.

The app's request class reads multipart forms only (server/forms.py); a page form is small and
URL-encoded, so it is read here: UTF-8 text, a bounded number of fields, each once, no NULs.
Anything else is a 400 (or 415), shown as an error page like any other.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from litestar import Request

from server.errors import BadRequest, DomainError

URL_ENCODED = "application/x-www-form-urlencoded"
MAX_FIELDS = 20
PASSWORD_MIN, PASSWORD_MAX = 10, 128
"""A new password's length, as the API's `Password` (server/users/schemas.py) takes it."""


async def read_form(request: Request[Any, Any, Any], fields: tuple[str, ...]) -> dict[str, str]:
    """The named fields of the form ("" when left out); other fields are ignored."""
    content_type, _ = request.content_type
    if content_type != URL_ENCODED:
        raise DomainError(f"Send the form as {URL_ENCODED}.", problem="unsupported-media-type", status=415)
    try:
        pairs = parse_qsl(
            (await request.body()).decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("The form is not valid.", problem="malformed-form") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form or "\x00" in value:
            raise BadRequest("The form is not valid.", problem="malformed-form")
        form[name] = value
    return {name: form.get(name, "") for name in fields}


def password_errors(password: str, confirmation: str) -> dict[str, str]:
    """A new password's problem (the reset and the invitation forms), under the field it belongs
    to: `password` or `password_confirmation` (words translated by the template)."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return {"password": "length"}
    if "\x00" in password:
        return {"password": "characters"}
    if confirmation != password:
        return {"password_confirmation": "mismatch"}
    return {}

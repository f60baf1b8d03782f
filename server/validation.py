"""Strict input types shared by every domain.

Litestar validates pydantic bodies with `strict=False`, which turns `true` into 1 and "10" into
10. The types here refuse anything but a real JSON integer, bound every integer (2**63 crashes
the drivers), and refuse NUL characters (PostgreSQL cannot store them). Every JSON body goes
through `StrictJSONRequest`, which refuses other media types (415) and strings that are no
Unicode text (lone surrogates) before any field is looked at; its forms are parsed strictly
too (server/forms.py).
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated, Any, ClassVar

from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.params import PathParameter
from litestar.types import Empty
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.fields import FieldInfo
from sqlmodel import SQLModel

from server.errors import BadRequest, DomainError
from server.forms import parse_form

MAX_SAFE_INT = 2**53 - 1
MAX_JSON_DEPTH = 64
JSON_MEDIA_TYPE = "application/json"
# A `\ud800` escape decodes to a lone UTF-16 surrogate: a str that argon2, the drivers and
# SQLite cannot encode. I-JSON (RFC 7493) forbids them; paired escapes decode to one character.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _require_int(value: Any) -> Any:
    if type(value) is not int:
        raise ValueError("must be an integer (not a boolean, string or float)")
    return value


def require_str(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _require_number(value: Any) -> Any:
    if type(value) not in (int, float):
        raise ValueError("must be a number (not a boolean or string)")
    if type(value) is int and abs(value) > MAX_SAFE_INT:
        raise ValueError("is out of range")
    return float(value)


def _require_bool(value: Any) -> Any:
    if type(value) is not bool:
        raise ValueError("must be a boolean")
    return value


def _printable(value: str) -> str:
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise ValueError("must contain printable characters only")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


IntOnly = BeforeValidator(_require_int)
"""Use as `Annotated[int, IntOnly, Field(ge=.., le=..)]`: a JSON integer, bounded."""

Grams = Annotated[int, IntOnly, Field(ge=0, le=10**12)]
StrictBool = Annotated[bool, BeforeValidator(_require_bool)]
Number = BeforeValidator(_require_number)
"""Use as `Annotated[float, Number, Field(ge=.., le=..)]`: a JSON number (NaN/Infinity never decode)."""


def matching(pattern: str) -> FieldInfo:
    """`Field(pattern=...)` that also shows in the JSON schema. Pydantic checks a pattern given after a
    BeforeValidator (as on `Text`) in a step of its own, which its schema generator leaves out."""
    field: FieldInfo = Field(pattern=pattern, json_schema_extra={"pattern": pattern})
    return field


Text = Annotated[str, BeforeValidator(require_str), matching(r"^[^\x00]*$")]
"""Use as `Annotated[Text, Field(min_length=.., max_length=..), matching(...)]`."""
PRINTABLE = "printable"
"""The OpenAPI `format` of PrintableText (no control, format, surrogate, private-use or unassigned characters)."""
PrintableText = Annotated[
    str,
    BeforeValidator(require_str),
    AfterValidator(_printable),
    Field(json_schema_extra={"format": PRINTABLE}, description="Printable characters, not only spaces"),
]


ResourceId = Annotated[str, PathParameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
"""A path identifier: our ids are UUIDs or slugs, so anything else is refused before a query."""


class RequestModel(SQLModel):
    """Base of every request body: unknown fields are refused, strings are never coerced."""

    # SQLModel types model_config as a TypedDict of its own, a superset of pydantic's.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)  # type: ignore[assignment]


class PatchModel(RequestModel):
    """A partial update: fields may be left out, but an explicit null is refused except in `nullable`
    (where null means "none", e.g. no cap)."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(key for key, value in data.items() if value is None and key not in cls.nullable)
            if nulls:
                raise ValueError(f"{', '.join(nulls)} may be left out but not set to null")
        return data


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BadRequest(f"Duplicate JSON key {key!r}.", problem="malformed-json")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise BadRequest(f"{name} is not valid JSON.", problem="malformed-json")


def _not_text(value: str) -> bool:
    return not value.isascii() and _LONE_SURROGATE.search(value) is not None


def _check_decoded(value: Any, limit: int) -> None:
    """One walk over the decoded value: its nesting, and every key and string in it."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise BadRequest("The request body is nested too deeply.", problem="malformed-json")
        if isinstance(item, str):
            if _not_text(item):
                raise _lone_surrogate()
        elif isinstance(item, dict):
            for key, child in item.items():
                if _not_text(key):
                    raise _lone_surrogate()
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _lone_surrogate() -> BadRequest:
    return BadRequest(
        "The request body has a string with a lone UTF-16 surrogate (such as \\ud800), which is no Unicode character.",
        problem="malformed-json",
    )


def decode_strict_json(body: bytes) -> Any:
    """Decode JSON refusing duplicate keys, NaN/Infinity, lone surrogates and absurd nesting, as a 400."""
    try:
        value = json.loads(body, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise BadRequest("The request body is nested too deeply.", problem="malformed-json") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, BadRequest):
            raise
        raise BadRequest(f"The request body is not valid JSON: {exc}", problem="malformed-json") from exc
    _check_decoded(value, MAX_JSON_DEPTH)
    return value


def require_json_media_type(content_type: str, options: dict[str, str]) -> None:
    """415 for a body sent as anything but `application/json` (SPEC 10).

    `application/*+json` types are refused too: they name other semantics (a merge patch, a
    problem document) that no endpoint implements. JSON is UTF-8 (RFC 8259), so `charset=utf-8`
    is the only charset taken.
    """
    charset = options.get("charset", "utf-8").strip().lower()
    if content_type != JSON_MEDIA_TYPE or charset not in ("utf-8", "utf8"):
        sent = (content_type or "no Content-Type") + (f"; charset={charset}" if "charset" in options else "")
        raise DomainError(
            f"Send the body as {JSON_MEDIA_TYPE} (UTF-8), not as {sent}.",
            problem="unsupported-media-type",
            status=415,
        )


class StrictJSONRequest(Request):
    """The app's request class: every JSON body is checked for its media type (a request without
    a body needs none), then goes through `decode_strict_json`. Handlers that verify a signature
    over the raw body read it first and call this after (SPEC 7.2: the signature comes first)."""

    async def json(self) -> Any:
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                body = await self.body()
                if body:
                    require_json_media_type(*self.content_type)
                self._json = self._connection_state.json = decode_strict_json(body or b"null")
        return self._json

    async def form(self) -> FormMultiDict:
        """The multipart form through `parse_form` (Litestar's own parser lets decoding errors
        escape as 500s); cached where Litestar's multipart extractor looks for it."""
        if self._form is Empty:
            if (cached := self._connection_state.form) is Empty:
                cached = self._connection_state.form = await parse_form(self)
            self._form = FormMultiDict.from_form_data(cached)
        return self._form

"""Request and response shapes for accounts (SPEC 1, 2)."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BeforeValidator, Field
from sqlmodel import SQLModel

from server.i18n import Language
from server.openapi import examples
from server.validation import PatchModel, PrintableText, RequestModel, StrictBool, Text, matching, require_str

# Checked before lowercasing: "\u212a".lower() is "k", so the Kelvin sign would pass a check after it.
HANDLE_PATTERN = r"^[A-Za-z0-9_]{3,30}$"


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


def _handle(value: str) -> str:
    if not re.fullmatch(HANDLE_PATTERN, value):
        raise ValueError("handle must be 3-30 characters of a-z, 0-9 and _")
    return value.lower()


# A practical subset of RFC 5321/5322: an ASCII local part of at most 64 characters that neither
# starts nor ends with a dot, and a DNS host name with a dot (no quoted local parts, no IP
# literals, no internationalised addresses); 254 characters in all. All of it in the pattern, so
# the OpenAPI document says exactly what is accepted. Nothing in it can break a mail header.
_ATOM = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
EMAIL_PATTERN = (
    rf"^[{_ATOM}](?:[.{_ATOM}]{{0,62}}[{_ATOM}])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)


def _timezone(value: str) -> str:
    if value not in time_zones():
        raise ValueError("timezone must be an IANA time zone name such as Europe/Paris")
    return value


Handle = Annotated[
    Text,
    matching(HANDLE_PATTERN),
    Field(description="Case-insensitive: stored in lowercase"),
    AfterValidator(_handle),
]
Password = Annotated[Text, Field(min_length=10, max_length=128)]
EmailAddress = Annotated[
    Text,
    Field(min_length=3, max_length=254, description="An email address (ASCII, user@example.org)"),
    matching(EMAIL_PATTERN),
]
DisplayName = Annotated[PrintableText, Field(min_length=1, max_length=60)]
IANA_TIME_ZONE = "iana-time-zone"
"""The OpenAPI `format` of a time zone name (an enum of every zone would make every generator walk it)."""
# Only the format in the document: a generator that knows the format draws names, one that meets a
# length or pattern beside it draws strings of that length or pattern, which are no names.
TimeZone = Annotated[
    str,
    BeforeValidator(require_str),
    AfterValidator(_timezone),
    Field(json_schema_extra={"format": IANA_TIME_ZONE}, description="An IANA time zone name"),
]


# OpenAPI examples: realistic values, valid against the schemas (tests/ops/test_openapi_docs.py).
USER_EXAMPLE = {
    "id": "0193e2b4-6f1a-7c3e-9a41-5d2f8b7c1e90",
    "handle": "mei_lin",
    "display_name": "Mei Lin",
    "timezone": "Asia/Shanghai",
    "allow_steal": True,
    "public_profile": False,
    "language": "zh-Hans",
    "email": "mei@example.org",
    "email_verified": False,
    "created_at": "2026-03-14T07:00:00Z",
    "pending_timezone": None,
    "pending_timezone_at": None,
}
TOKENS_EXAMPLE = {
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwMTkzZTJiNCJ9.c2lnbmF0dXJl",
    "refresh_token": "rt_Qm9x9m6mJ1tq0vXzN3yH8cP2aR5sL7wE4dK6fB1gU0o",
    "token_type": "Bearer",
    "expires_in": 3600,
}
SUSPENSION_REASON = "Reported steps from a shaking machine (support ticket 4417)."


class RegisterRequest(RequestModel):
    model_config = examples(
        {
            "handle": "mei_lin",
            "password": "correct-horse-battery",
            "display_name": "Mei Lin",
            "timezone": "Asia/Shanghai",
            "language": "zh-Hans",
            "email": "mei@example.org",
        }
    )

    handle: Handle
    password: Password
    display_name: DisplayName
    timezone: TimeZone = "UTC"
    language: Language | None = Field(default=None, description="Else the best of Accept-Language, else en")
    email: EmailAddress | None = Field(default=None, description="Kept unverified; a verification link is mailed")


class LoginRequest(RequestModel):
    model_config = examples({"handle": "mei_lin", "password": "correct-horse-battery"})

    handle: Annotated[Text, Field(min_length=1, max_length=64)]
    password: Annotated[Text, Field(min_length=1, max_length=128)]


class RefreshRequest(RequestModel):
    model_config = examples({"refresh_token": TOKENS_EXAMPLE["refresh_token"]})

    refresh_token: Annotated[Text, Field(min_length=1, max_length=200)]


class UpdateMeRequest(PatchModel):
    model_config = examples({"display_name": "Mei", "allow_steal": False, "public_profile": True})

    display_name: DisplayName | None = None
    timezone: TimeZone | None = None
    allow_steal: StrictBool | None = None
    language: Language | None = None
    public_profile: StrictBool | None = Field(default=None, description="Show the public page /u/{handle}")


class UserPublic(SQLModel):
    model_config = examples(USER_EXAMPLE)

    id: str
    handle: str
    display_name: str
    timezone: str
    allow_steal: bool
    public_profile: bool = False
    language: str
    email: str | None = None
    email_verified: bool = False
    created_at: datetime
    pending_timezone: str | None = None
    pending_timezone_at: datetime | None = None


class Tokens(SQLModel):
    model_config = examples(TOKENS_EXAMPLE)

    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class Registered(Tokens):
    model_config = examples({**TOKENS_EXAMPLE, "user": USER_EXAMPLE})

    user: UserPublic


class SuspendRequest(RequestModel):
    model_config = examples({"reason": SUSPENSION_REASON})

    reason: Annotated[PrintableText, Field(min_length=1, max_length=500)]


class AdminUserPublic(SQLModel):
    """A user as an operator sees them (SPEC 12.4)."""

    model_config = examples(
        {
            "id": USER_EXAMPLE["id"],
            "handle": "mei_lin",
            "display_name": "Mei Lin",
            "created_at": "2026-03-14T07:00:00Z",
            "suspended": True,
            "suspended_at": "2026-03-14T09:12:00Z",
            "suspension_reason": SUSPENSION_REASON,
        }
    )

    id: str
    handle: str
    display_name: str
    created_at: datetime
    suspended: bool
    suspended_at: datetime | None = None
    suspension_reason: str | None = None

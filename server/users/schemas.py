"""Request and response shapes for accounts (SPEC 1, 2)."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field
from sqlmodel import SQLModel

from server.validation import PatchModel, PrintableText, RequestModel, StrictBool, Text

# Checked before lowercasing: "\u212a".lower() is "k", so the Kelvin sign would pass a check after it.
HANDLE_PATTERN = r"^[A-Za-z0-9_]{3,30}$"


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


def _handle(value: str) -> str:
    if not re.fullmatch(HANDLE_PATTERN, value):
        raise ValueError("handle must be 3-30 characters of a-z, 0-9 and _")
    return value.lower()


def _timezone(value: str) -> str:
    if value not in _zones():
        raise ValueError("timezone must be an IANA time zone name such as Europe/Paris")
    return value


Handle = Annotated[
    Text, Field(pattern=HANDLE_PATTERN, description="Case-insensitive: stored in lowercase"), AfterValidator(_handle)
]
Password = Annotated[Text, Field(min_length=10, max_length=128)]
DisplayName = Annotated[PrintableText, Field(min_length=1, max_length=60)]
TimeZone = Annotated[
    Text, Field(max_length=64, json_schema_extra={"enum": sorted(_zones())}), AfterValidator(_timezone)
]


class RegisterRequest(RequestModel):
    handle: Handle
    password: Password
    display_name: DisplayName
    timezone: TimeZone = "UTC"


class LoginRequest(RequestModel):
    handle: Annotated[Text, Field(min_length=1, max_length=64)]
    password: Annotated[Text, Field(min_length=1, max_length=128)]


class RefreshRequest(RequestModel):
    refresh_token: Annotated[Text, Field(min_length=1, max_length=200)]


class UpdateMeRequest(PatchModel):
    display_name: DisplayName | None = None
    timezone: TimeZone | None = None
    allow_steal: StrictBool | None = None


class UserPublic(SQLModel):
    id: str
    handle: str
    display_name: str
    timezone: str
    allow_steal: bool
    created_at: datetime
    pending_timezone: str | None = None
    pending_timezone_at: datetime | None = None


class Tokens(SQLModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class Registered(Tokens):
    user: UserPublic

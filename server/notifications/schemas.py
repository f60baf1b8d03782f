"""Shapes of `/me/notification-settings` and `/me/devices` (SPEC 11.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field
from sqlmodel import SQLModel

from server.openapi import examples
from server.validation import RequestModel, StrictBool, Text, matching

HourMinute = Annotated[Text, matching(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
"""A local wall-clock time, "HH:MM" on the 24-hour clock."""

Platform = Literal["ios", "android", "web"]


# OpenAPI examples: realistic values, valid against the schemas (tests/ops/test_openapi_docs.py).
SETTINGS_EXAMPLE = {
    "push": True,
    "email": False,
    "events": {"ball.stolen": True, "friend.watered": True, "ball.expired": False},
    "quiet_hours": {"start": "22:00", "end": "07:30"},
}


class QuietHours(RequestModel):
    """Local times; `end` before `start` wraps midnight. Equal times are refused (422) by the service."""

    start: HourMinute
    end: HourMinute


class NotificationSettingsBody(RequestModel):
    """The whole settings object; event types left out of `events` stay on."""

    model_config = examples(SETTINGS_EXAMPLE)

    push: StrictBool
    email: StrictBool
    # Keys are event types (`ball.ripe`, ...); an unknown one is refused (422) by the service.
    events: dict[Annotated[str, Field(max_length=40)], StrictBool] = Field(default_factory=dict, max_length=20)
    quiet_hours: QuietHours | None = None


class NotificationSettingsPublic(SQLModel):
    model_config = examples(SETTINGS_EXAMPLE)

    push: bool
    email: bool
    events: dict[str, bool]
    quiet_hours: QuietHours | None


class DeviceCreate(RequestModel):
    model_config = examples(
        {
            "platform": "ios",
            "token": "f2b1c4d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1",
            "app_version": "2.4.1",
        }
    )

    platform: Platform
    token: Annotated[Text, Field(min_length=1, max_length=4096)]
    app_version: Annotated[Text, Field(min_length=1, max_length=40)] | None = None


class DevicePublic(SQLModel):
    """A device as the API shows it: without its push token, which the app already holds and which
    lets whoever has it reach the phone through the relay."""

    model_config = examples(
        {
            "id": "0193e6c1-4d5e-7f6a-9b7c-8d9e0f1a2b3c",
            "platform": "ios",
            "app_version": "2.4.1",
            "created_at": "2026-03-14T07:00:00Z",
            "last_seen_at": "2026-03-14T21:40:00Z",
        }
    )

    id: str
    platform: str
    app_version: str | None
    created_at: datetime
    last_seen_at: datetime

"""Shapes of `/me/notification-settings` and `/me/devices` (SPEC 11.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field
from sqlmodel import SQLModel

from server.validation import RequestModel, StrictBool, Text, matching

HourMinute = Annotated[Text, matching(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
"""A local wall-clock time, "HH:MM" on the 24-hour clock."""

Platform = Literal["ios", "android", "web"]


class QuietHours(RequestModel):
    """Local times; `end` before `start` wraps midnight. Equal times are refused (422) by the service."""

    start: HourMinute
    end: HourMinute


class NotificationSettingsBody(RequestModel):
    """The whole settings object; event types left out of `events` stay on."""

    push: StrictBool
    email: StrictBool
    # Keys are event types (`ball.ripe`, ...); an unknown one is refused (422) by the service.
    events: dict[Annotated[str, Field(max_length=40)], StrictBool] = Field(default_factory=dict, max_length=20)
    quiet_hours: QuietHours | None = None


class NotificationSettingsPublic(SQLModel):
    push: bool
    email: bool
    events: dict[str, bool]
    quiet_hours: QuietHours | None


class DeviceCreate(RequestModel):
    platform: Platform
    token: Annotated[Text, Field(min_length=1, max_length=4096)]
    app_version: Annotated[Text, Field(min_length=1, max_length=40)] | None = None


class DevicePublic(SQLModel):
    """A device as the API shows it: without its push token, which the app already holds and which
    lets whoever has it reach the phone through the relay."""

    id: str
    platform: str
    app_version: str | None
    created_at: datetime
    last_seen_at: datetime

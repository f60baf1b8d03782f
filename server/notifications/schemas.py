"""Shapes of `/me/notification-settings` and `/me/devices` (SPEC 11.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator
from sqlmodel import SQLModel

from server.notifications.models import EventType
from server.validation import RequestModel, StrictBool, Text

HourMinute = Annotated[Text, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["22:00"])]
"""A local wall-clock time, "HH:MM" on the 24-hour clock."""

Platform = Literal["ios", "android", "web"]


class QuietHours(RequestModel):
    start: HourMinute
    end: HourMinute

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours must start and end at different times")
        return self


class NotificationSettingsBody(RequestModel):
    """The whole settings object; event types left out of `events` stay on."""

    push: StrictBool
    email: StrictBool
    events: dict[EventType, StrictBool] = Field(default_factory=dict)
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

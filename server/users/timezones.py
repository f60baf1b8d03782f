"""A user's time zone and local calendar day: caps, steps, streaks and play limits count in it.

A change of time zone takes effect at the user's next local midnight, so the zone in force
depends on `now`. Every domain reads these; only the users service schedules a change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from server.users.models import User


def effective_timezone(user: User, now: datetime) -> str:
    """A pending timezone change applies from the local midnight it was scheduled for."""
    if user.pending_timezone and user.pending_timezone_at and now >= user.pending_timezone_at:
        return user.pending_timezone
    return user.timezone


def user_zone(user: User, now: datetime) -> ZoneInfo:
    return ZoneInfo(effective_timezone(user, now))


def local_day(user: User, now: datetime) -> date:
    return now.astimezone(user_zone(user, now)).date()


def local_time_on(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time on a given day."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)

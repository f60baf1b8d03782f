"""The retry schedule of SPEC 8.4, shared by every outbox that retries (webhooks, mail)."""

from __future__ import annotations

from datetime import datetime, timedelta

from server.settings import Settings


def next_attempt_at(settings: Settings, first_attempt_at: datetime, attempts: int, now: datetime) -> datetime | None:
    """When to try again after `attempts` failed attempts (1 min, 5 min, ... 15 h after the first),
    or None when the schedule is spent and the row is marked failed. Never before `now` + 1 s, so
    one run makes at most one attempt per row."""
    retry_after = settings.webhook_retry_after_s
    if attempts > len(retry_after):
        return None
    retry_at = first_attempt_at + timedelta(seconds=retry_after[attempts - 1])
    return max(retry_at, now + timedelta(seconds=1))

"""The retry schedule of SPEC 8.4, shared by every outbox that retries (webhooks, mail)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

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


def attempt_outcome(
    settings: Settings,
    first_attempt_at: datetime | None,
    attempts_before: int,
    error: str | None,
    now: datetime,
    *,
    done: str,
) -> tuple[str, dict[str, Any]]:
    """What one attempt writes to its outbox row, and its outcome: `done` (the status of a
    success, stamped in `<done>_at`), "retrying" or "failed"."""
    first = first_attempt_at or now
    attempts = attempts_before + 1
    values: dict[str, Any] = {"attempts": attempts, "first_attempt_at": first, "last_error": error}
    if error is None:
        values.update({"status": done, f"{done}_at": now})
        return done, values
    retry_at = next_attempt_at(settings, first, attempts, now)
    if retry_at is None:
        values["status"] = "failed"
        return "failed", values
    values["next_attempt_at"] = retry_at
    return "retrying", values

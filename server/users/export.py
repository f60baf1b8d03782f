"""The users domain's part of GET /me/export: the profile and play state. The password hash and
the session epoch are credentials, not the user's data: they stay out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.users.models import User
from server.users.service import to_public


def export_profile(user: User, now: datetime) -> dict[str, Any]:
    play = user.model_dump(mode="json", include={"streak_days", "last_collect_day", "shields", "shield_until"})
    return {**to_public(user, now).model_dump(mode="json"), **play}

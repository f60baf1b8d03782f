"""What the `send-notifications` job composes itself: the morning digests of ripe balls, the
warnings of balls about to expire and the hourly theft summaries (SPEC 11.2).

Each is one `INSERT ... SELECT ... ON CONFLICT DO NOTHING` into the outbox: the rows never pass
through Python, and the unique (user, type, key) makes a rerun, or a second replica, add nothing.
The morning of a user is their local date: the few distinct time zones are read first and turned
into a CASE that gives each user's digest key, so one statement serves every zone.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import CompoundSelect, String, and_, bindparam, case, cast, delete, func, literal, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.db import dialect_insert, dialect_name, new_ids_sql, rowcount, table_of
from server.ledger.models import Ball
from server.notifications.models import EventType, Notification, TheftNote
from server.notifications.service import theft_hour
from server.settings import Settings
from server.users.models import User

MORNING = timedelta(hours=5)
"""A digest is composed from the ripening hour until this much later (a job stopped all morning
sends none that day rather than a "good morning" at night)."""

_COLUMNS = ["id", "user_id", "type", "key", "count", "amount_g", "friend_id", "status", "due_at", "created_at"]


def _now(now: datetime) -> Any:
    return bindparam(None, now, type_=table_of(Notification).c.due_at.type)


def _effective_timezone(now: datetime) -> Any:
    """SQL for `server.users.timezones.effective_timezone`."""
    return case(
        (
            and_(col(User.pending_timezone).is_not(None), col(User.pending_timezone_at) <= _now(now)),
            col(User.pending_timezone),
        ),
        else_=col(User.timezone),
    )


def _ripe_balls(now: datetime) -> Any:
    return and_(
        col(Ball.ripens_at) <= _now(now),
        col(Ball.expires_at) > _now(now),
        col(Ball.collected_at).is_(None),
        col(Ball.remaining_g) > 0,
    )


async def _insert_from(session: AsyncSession, rows: Any) -> int:
    insert = dialect_insert(session)
    result = await session.execute(
        insert(Notification)
        .from_select(_COLUMNS, rows)
        .on_conflict_do_nothing(index_elements=["user_id", "type", "key"])
    )
    return max(rowcount(result), 0)


async def _morning_keys(session: AsyncSession, settings: Settings, now: datetime) -> dict[str, str]:
    """Time zone -> today's local date, for the zones where it is morning now."""
    zones: CompoundSelect[str] = union(
        select(col(User.timezone).label("zone")),
        select(col(User.pending_timezone)).where(col(User.pending_timezone).is_not(None)),
    )
    keys: dict[str, str] = {}
    for zone in (await session.execute(select(zones.subquery().c.zone))).scalars():
        try:
            local = now.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            continue
        start = datetime.combine(local.date(), time(settings.ball_ripens_hour), tzinfo=local.tzinfo)
        if start <= local < start + MORNING:
            keys[zone] = local.date().isoformat()
    return keys


async def compose_ripe_digests(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """One `ball.ripe` per user whose local morning it is and who has ripe balls waiting."""
    keys = await _morning_keys(session, settings, now)
    if not keys:
        return 0
    zone = _effective_timezone(now)
    rows = (
        select(
            new_ids_sql(dialect_name(session)),
            col(User.id),
            literal(EventType.BALL_RIPE.value),
            case(*((zone == name, literal(key)) for name, key in keys.items())),
            func.count(col(Ball.id)),
            func.sum(col(Ball.remaining_g)),
            literal(None, String),
            literal("pending"),
            _now(now),
            _now(now),
        )
        .select_from(Ball)
        .join(User, col(User.id) == col(Ball.user_id))
        .where(_ripe_balls(now), col(User.deleted_at).is_(None), zone.in_(list(keys)))
        .group_by(col(User.id))
    )
    return await _insert_from(session, rows)


async def compose_expiring(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """One `ball.expiring` per user and day's balls (they expire together) within the window."""
    rows = (
        select(
            new_ids_sql(dialect_name(session)),
            col(Ball.user_id),
            literal(EventType.BALL_EXPIRING.value),
            cast(col(Ball.local_day), String),
            func.count(col(Ball.id)),
            func.sum(col(Ball.remaining_g)),
            literal(None, String),
            literal("pending"),
            _now(now),
            _now(now),
        )
        .where(
            _ripe_balls(now), col(Ball.expires_at) <= _now(now + timedelta(seconds=settings.notify_expiring_within_s))
        )
        .group_by(col(Ball.user_id), col(Ball.local_day))
    )
    return await _insert_from(session, rows)


async def compose_theft_summaries(session: AsyncSession, now: datetime) -> int:
    """One `ball.stolen` per user and past hour with thefts; the thefts summarised are deleted."""
    hour = theft_hour(now)
    rows = (
        select(
            new_ids_sql(dialect_name(session)),
            col(TheftNote.user_id),
            literal(EventType.BALL_STOLEN.value),
            col(TheftNote.hour),
            func.count(func.distinct(col(TheftNote.thief_id))),
            func.sum(col(TheftNote.amount_g)),
            func.min(col(TheftNote.thief_id)),
            literal("pending"),
            _now(now),
            _now(now),
        )
        .where(col(TheftNote.hour) < hour)
        .group_by(col(TheftNote.user_id), col(TheftNote.hour))
    )
    composed = await _insert_from(session, rows)
    await session.execute(delete(TheftNote).where(col(TheftNote.hour) < hour))
    return composed

"""Recording notifications, and each user's settings and devices (SPEC 11.2).

Domains call `notify` in the transaction of the event it reports; the `send-notifications` job
(jobs.py) does everything else after the commit, so no request waits for a push.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.db import dialect_insert, dialect_name, new_id, rowcount
from server.errors import NotFound, Unprocessable
from server.notifications.models import Device, EventType, Notification, NotificationSettings, TheftNote
from server.notifications.schemas import (
    DeviceCreate,
    DevicePublic,
    NotificationSettingsBody,
    NotificationSettingsPublic,
    QuietHours,
)
from server.users.models import User

MAX_DEVICES = 10
EMAIL_EVENTS = frozenset({EventType.TREE_PLANTED})
"""The events mailed (when `email` is on); every other event is push only."""


def theft_hour(now: datetime) -> str:
    """The UTC hour a steal is summarised with: thefts of one hour make one notification."""
    return now.strftime("%Y-%m-%dT%H")


async def notify(
    session: AsyncSession, user_id: str, type: EventType | str, key: str, data: dict[str, Any], *, now: datetime
) -> None:
    """Record that `user_id` should be told of an event; a second event with the same (type, key)
    is dropped. `data` may hold `friend_id` and `amount_g` (used in the text) and anything else
    the app gets in the push's `data`. Steals wait for their hour's summary instead."""
    event = EventType(type)
    values = dict(data)
    if event is EventType.BALL_STOLEN:
        session.add(
            TheftNote(
                user_id=user_id,
                thief_id=values["friend_id"],
                amount_g=values["amount_g"],
                hour=theft_hour(now),
                created_at=now,
            )
        )
        return
    friend_id = values.pop("friend_id", None)
    amount_g = values.pop("amount_g", None)
    insert = dialect_insert(session)
    await session.execute(
        insert(Notification)
        .values(
            id=new_id(),
            user_id=user_id,
            type=event.value,
            key=key[:80],
            friend_id=friend_id,
            amount_g=amount_g,
            data=json.dumps(values, separators=(",", ":")) if values else None,
            status="pending",
            due_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["user_id", "type", "key"])
    )


def settings_public(row: NotificationSettings | None) -> NotificationSettingsPublic:
    disabled = set(row.disabled_events.split()) if row else set()
    quiet = QuietHours(start=row.quiet_start, end=row.quiet_end) if row and row.quiet_start and row.quiet_end else None
    return NotificationSettingsPublic(
        push=row.push if row else True,
        email=row.email if row else True,
        events={event.value: event.value not in disabled for event in EventType},
        quiet_hours=quiet,
    )


async def get_settings(session: AsyncSession, user_id: str) -> NotificationSettingsPublic:
    return settings_public(await session.get(NotificationSettings, user_id))


async def put_settings(
    session: AsyncSession, user_id: str, body: NotificationSettingsBody, now: datetime
) -> NotificationSettingsPublic:
    if body.quiet_hours and body.quiet_hours.start == body.quiet_hours.end:
        raise Unprocessable("Quiet hours must start and end at different times.", problem="empty-quiet-hours")
    unknown = sorted(set(body.events) - {event.value for event in EventType})
    if unknown:
        raise Unprocessable(f"Unknown event types: {', '.join(unknown)}.", problem="unknown-event-type")
    values = {
        "push": body.push,
        "email": body.email,
        "disabled_events": " ".join(sorted(event for event, on in body.events.items() if not on)),
        "quiet_start": body.quiet_hours.start if body.quiet_hours else None,
        "quiet_end": body.quiet_hours.end if body.quiet_hours else None,
        "updated_at": now,
    }
    insert = dialect_insert(session)
    statement = insert(NotificationSettings).values(user_id=user_id, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=values))
    return await get_settings(session, user_id)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _lock_user(session: AsyncSession, user_id: str) -> None:
    """Serialise one user's device registrations (SQLite's write lock already does)."""
    if dialect_name(session) == "postgresql":
        await session.execute(select(col(User.id)).where(col(User.id) == user_id).with_for_update())


async def register_device(
    session: AsyncSession, user_id: str, body: DeviceCreate, now: datetime
) -> tuple[DevicePublic, bool]:
    """(device, created). The same token again is the same device, seen now; a token another
    user registered moves to this user. Beyond 10 devices the least recently seen goes."""
    await _lock_user(session, user_id)
    digest = token_hash(body.token)
    seen = await session.execute(
        update(Device)
        .where(col(Device.token_hash) == digest, col(Device.user_id) == user_id)
        .values(last_seen_at=now, platform=body.platform, app_version=body.app_version)
        .returning(col(Device.id))
        .execution_options(synchronize_session=False)
    )
    existing = seen.scalar()
    if existing is not None:
        return DevicePublic.model_validate(await session.get(Device, existing, populate_existing=True)), False
    await session.execute(delete(Device).where(col(Device.token_hash) == digest))
    held = (await session.execute(select(func.count()).where(col(Device.user_id) == user_id))).scalar_one()
    if held >= MAX_DEVICES:
        oldest = (
            select(col(Device.id))
            .where(col(Device.user_id) == user_id)
            .order_by(col(Device.last_seen_at), col(Device.id))
            .limit(held - MAX_DEVICES + 1)
        )
        await session.execute(delete(Device).where(col(Device.id).in_(oldest.scalar_subquery())))
    device = Device(
        user_id=user_id,
        platform=body.platform,
        token=body.token,
        token_hash=digest,
        app_version=body.app_version,
        created_at=now,
        last_seen_at=now,
    )
    session.add(device)
    await session.flush()
    return DevicePublic.model_validate(device), True


async def list_devices(session: AsyncSession, user_id: str) -> list[DevicePublic]:
    rows = await session.execute(
        select(Device).where(col(Device.user_id) == user_id).order_by(col(Device.last_seen_at).desc(), col(Device.id))
    )
    return [DevicePublic.model_validate(device) for device in rows.scalars()]


async def remove_device(session: AsyncSession, user_id: str, device_id: str) -> None:
    removed = await session.execute(delete(Device).where(col(Device.id) == device_id, col(Device.user_id) == user_id))
    if rowcount(removed) != 1:
        raise NotFound("No such device.", problem="device-not-found")


async def forget_user(session: AsyncSession, user_id: str) -> None:
    """A deleted account keeps no way to reach its phones: its devices and choices go."""
    await session.execute(delete(Device).where(col(Device.user_id) == user_id))
    await session.execute(delete(NotificationSettings).where(col(NotificationSettings.user_id) == user_id))

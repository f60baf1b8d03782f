"""The `send-notifications` job (SPEC 11.2): compose what is due, release it, push it.

A run (1) composes the morning digests, expiry warnings and past hours' theft summaries
(digests.py, set-based); (2) releases due notifications: a notification in its user's quiet
hours is moved to their end, one the user switched off is skipped, the others get their text in
the user's language and one push row per device; (3) POSTs due pushes to the relay, signed like
webhooks, retried on the webhook schedule; a 410 removes the device. Steps 2 and 3 handle at most
`notification_batch_size` rows a run, in chunks. Releasing claims its rows inside one
transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's write lock); sending claims by
pushing `next_attempt_at` past a lease, as `deliver-webhooks` does, so no HTTP call holds a
transaction and two replicas never send the same attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from datetime import datetime, time, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.clock import Clock
from server.db import Database, new_id, table_of
from server.errors import Unprocessable
from server.i18n import language_or_default
from server.mail import service as mail
from server.notifications import digests
from server.notifications.messages import compose
from server.notifications.models import Device, Notification, NotificationSettings, PushDelivery
from server.settings import Settings
from server.users.models import User
from server.users.timezones import local_time_on, user_zone
from server.webhooks.outbound import outbound_client
from server.webhooks.schedule import attempt_outcome
from server.webhooks.urls import check_webhook_url

logger = logging.getLogger("canopy.notifications")

EMAILED_EVENTS = frozenset({"tree.planted"})
"""The events that may also be mailed (SPEC 11.2: email is only for a tree planted for real)."""

LEASE = timedelta(minutes=5)
CHUNK = 200
PARALLEL_SENDS = 16


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`, as webhooks are signed."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def _quiet_until(row: NotificationSettings | None, user: User, now: datetime) -> datetime | None:
    """The end of the quiet hours the user is in now, else None."""
    if row is None or not row.quiet_start or not row.quiet_end:
        return None
    zone = user_zone(user, now)
    local = now.astimezone(zone)
    start, end, clock = time.fromisoformat(row.quiet_start), time.fromisoformat(row.quiet_end), local.time()
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return local_time_on(day, end, zone)


def _values(row: Notification, people: dict[str, User], settings: Settings) -> dict[str, Any]:
    """What the text and the push's `data` are made of."""
    values: dict[str, Any] = json.loads(row.data) if row.data else {}
    values.update(count=row.count, amount_g=row.amount_g, key=row.key)
    friend = people.get(row.friend_id or "")
    if friend is not None:
        values["friend"] = {"handle": friend.handle, "display_name": friend.display_name}
        values["friend_name"] = friend.display_name
    if "certificate_number" in values:
        values["url"] = f"{settings.public_base_url.rstrip('/')}/c/{values['certificate_number']}"
    if row.type == "ball.expiring":
        values["hours"] = -(-settings.notify_expiring_within_s // 3600)
    return {key: value for key, value in values.items() if value is not None}


async def _release_chunk(
    session: AsyncSession, settings: Settings, now: datetime, limit: int, counts: dict[str, Any]
) -> int:
    rows = list(
        (
            await session.execute(
                select(Notification)
                .where(col(Notification.status) == "pending", col(Notification.due_at) <= now)
                .order_by(col(Notification.due_at))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not rows:
        return 0
    user_ids = {row.user_id for row in rows}
    people = {row.user_id for row in rows} | {row.friend_id for row in rows if row.friend_id}
    users = {u.id: u for u in (await session.execute(select(User).where(col(User.id).in_(people)))).scalars()}
    choices = {
        s.user_id: s
        for s in (
            await session.execute(select(NotificationSettings).where(col(NotificationSettings.user_id).in_(user_ids)))
        ).scalars()
    }
    devices: dict[str, list[str]] = {}
    for device_id, user_id in await session.execute(
        select(col(Device.id), col(Device.user_id)).where(col(Device.user_id).in_(user_ids))
    ):
        devices.setdefault(user_id, []).append(device_id)
    pushes: list[dict[str, Any]] = []
    for row in rows:
        user, choice = users[row.user_id], choices.get(row.user_id)
        disabled = set(choice.disabled_events.split()) if choice else set()
        wants_push = choice is None or choice.push
        wants_email = row.type in EMAILED_EVENTS and (choice is None or choice.email) and bool(user.verified_email)
        if user.deleted_at is not None or row.type in disabled or not (wants_push or wants_email):
            row.status, row.released_at = "skipped", now
            counts["skipped"] += 1
            continue
        held_until = _quiet_until(choice, user, now)
        if held_until is not None:
            row.due_at = held_until
            counts["held"] += 1
            continue
        values = _values(row, users, settings)
        title, body = compose(language_or_default(user.language), row.type, values)
        payload = json.dumps(
            {
                "id": row.id,
                "type": row.type,
                "title": title,
                "body": body,
                "data": {k: v for k, v in values.items() if k not in ("friend_name", "hours")},
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        row.status, row.released_at = "sent", now
        counts["released"] += 1
        if wants_email and user.verified_email:
            await mail.enqueue(
                session,
                settings,
                to=user.verified_email,
                kind="notification",
                language=user.language,
                context={"display_name": user.display_name, "title": title, "body": body, "link": values.get("url")},
                now=now,
            )
            counts["mailed"] += 1
        if not wants_push:
            continue
        if not settings.push_relay_url:
            logger.info("push (no relay configured) to %s: %s", row.user_id, payload)
        for device_id in devices.get(row.user_id, []) if settings.push_relay_url else []:
            pushes.append(
                {
                    "id": new_id(),
                    "notification_id": row.id,
                    "device_id": device_id,
                    "payload": payload,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    if pushes:
        await session.execute(insert(table_of(PushDelivery)), pushes)
    await session.flush()
    return len(rows)


async def _claim_pushes(database: Database, clock: Clock, limit: int, started: datetime) -> tuple[datetime, list[Any]]:
    """Lease up to `limit` pushes due before the run started, with their devices."""
    async with database.transaction() as session:
        now = await clock.now(session)
        due = (
            select(col(PushDelivery.id))
            .where(col(PushDelivery.status) == "pending", col(PushDelivery.next_attempt_at) <= started)
            .order_by(col(PushDelivery.next_attempt_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = (
            await session.execute(
                update(PushDelivery)
                .where(col(PushDelivery.id).in_(due.scalar_subquery()), col(PushDelivery.next_attempt_at) <= started)
                .values(next_attempt_at=now + LEASE)
                .returning(
                    col(PushDelivery.id),
                    col(PushDelivery.device_id),
                    col(PushDelivery.payload),
                    col(PushDelivery.attempts),
                    col(PushDelivery.first_attempt_at),
                )
                .execution_options(synchronize_session=False)
            )
        ).all()
        ids = {row.device_id for row in claimed}
        found = await session.execute(
            select(col(Device.id), col(Device.platform), col(Device.token)).where(col(Device.id).in_(ids))
        )
        devices = {device_id: (platform, token) for device_id, platform, token in found}
    return now, [(row, devices.get(row.device_id)) for row in claimed]


async def _send(
    client: httpx.AsyncClient, settings: Settings, device: tuple[str, str], payload: str, now: datetime
) -> str | int | None:
    """POST one push: None on 2xx, 410 when the relay says the device is gone, else the error."""
    platform, token = device
    body = (
        '{"device":'
        + json.dumps({"platform": platform, "token": token}, separators=(",", ":"))
        + ',"notification":'
        + payload
        + "}"
    ).encode()
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "Canopy-Event-Id": json.loads(payload)["id"],
        "Canopy-Timestamp": str(timestamp),
        "Canopy-Signature": signature(settings.push_relay_secret, timestamp, body),
    }
    try:
        response = await client.post(settings.push_relay_url or "", content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if response.status_code == 410:
        return 410
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


async def _record(
    database: Database,
    settings: Settings,
    outcomes: list[tuple[Any, str | int | None]],
    now: datetime,
    counts: dict[str, Any],
) -> None:
    async with database.transaction() as session:
        for row, error in outcomes:
            if error == 410:
                await session.execute(delete(Device).where(col(Device.id) == row.device_id))  # its pushes go with it
                counts["devices_removed"] += 1
                continue
            outcome, values = attempt_outcome(
                settings,
                row.first_attempt_at,
                row.attempts,
                None if error is None else str(error),
                now,
                done="delivered",
            )
            counts[outcome] += 1
            await session.execute(
                update(PushDelivery)
                .where(col(PushDelivery.id) == row.id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )


async def _push(
    database: Database, clock: Clock, settings: Settings, started: datetime, counts: dict[str, Any]
) -> None:
    try:
        check_webhook_url(settings.push_relay_url or "", allow_private=settings.webhook_allow_private)
    except Unprocessable as exc:
        logger.error("CANOPY_PUSH_RELAY_URL refused, pushes wait: %s", exc.detail)
        counts["relay_refused"] = 1
        return
    budget = settings.notification_batch_size
    gate = asyncio.Semaphore(PARALLEL_SENDS)
    client = outbound_client(timeout=settings.push_relay_timeout_s, allow_private=settings.webhook_allow_private)
    async with client:

        async def attempt(row: Any, device: tuple[str, str] | None, now: datetime) -> tuple[Any, str | int | None]:
            if device is None:  # removed since it was queued
                return row, 410
            async with gate:
                return row, await _send(client, settings, device, row.payload, now)

        while budget > 0:
            now, claimed = await _claim_pushes(database, clock, min(CHUNK, budget), started)
            if not claimed:
                return
            budget -= len(claimed)
            outcomes = await asyncio.gather(*(attempt(row, device, now) for row, device in claimed))
            await _record(database, settings, outcomes, now, counts)


async def send_notifications(database: Database, clock: Clock, settings: Settings) -> dict[str, Any]:
    counts: dict[str, Any] = {
        "job": "send-notifications",
        "digests": 0,
        "mailed": 0,
        "expiring": 0,
        "theft_summaries": 0,
        "released": 0,
        "held": 0,
        "skipped": 0,
        "delivered": 0,
        "retrying": 0,
        "failed": 0,
        "devices_removed": 0,
    }
    async with database.transaction() as session:
        started = await clock.now(session)
        counts["digests"] = await digests.compose_ripe_digests(session, settings, started)
        counts["expiring"] = await digests.compose_expiring(session, settings, started)
        counts["theft_summaries"] = await digests.compose_theft_summaries(session, started)
    budget = settings.notification_batch_size
    while budget > 0:
        async with database.transaction() as session:
            released = await _release_chunk(session, settings, started, min(CHUNK, budget), counts)
        if released == 0:
            break
        budget -= released
    if settings.push_relay_url:
        await _push(database, clock, settings, started, counts)
    return counts

"""The `deliver-webhooks` job (SPEC 8.4): send due outbox events, retry with backoff, give up.

A run claims due rows by pushing their `next_attempt_at` past a lease in one guarded UPDATE
(`FOR UPDATE SKIP LOCKED` on PostgreSQL), so replicas never send the same attempt twice; a
worker killed mid-send leaves rows that become due again when the lease runs out. Receivers
dedupe by event id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.clock import Clock
from server.crypto import SecretBox
from server.db import Database
from server.partners.models import Partner
from server.planting.models import Ngo
from server.settings import Settings
from server.webhooks.models import WebhookDelivery
from server.webhooks.outbound import outbound_client
from server.webhooks.schedule import attempt_outcome

LEASE = timedelta(minutes=5)
CHUNK = 200
PARALLEL_SENDS = 16
# The tables of the receivers an event can be addressed to (`target_kind`).
RECEIVER_MODELS: dict[str, Any] = {"ngo": Ngo, "partner": Partner}


Claimed = Row[str, str, str, str, int, datetime | None]
"""A leased event: id, target_kind, target_id, payload, attempts, first_attempt_at."""
Receivers = dict[tuple[str, str], tuple[str, str] | None]
"""(kind, id) -> (url, encrypted secret), or None when the receiver has no webhook now."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


async def _receivers(
    session: AsyncSession, claimed: Sequence[Claimed]
) -> dict[tuple[str, str], tuple[str, str] | None]:
    """(kind, id) -> (url, encrypted secret), or None when the receiver has no webhook now."""
    found: dict[tuple[str, str], tuple[str, str] | None] = {}
    for kind, model in RECEIVER_MODELS.items():
        ids = {row.target_id for row in claimed if row.target_kind == kind}
        if ids:
            rows = await session.execute(
                select(model.id, model.webhook_url, model.webhook_secret).where(model.id.in_(ids))
            )
            for target_id, url, secret in rows:
                found[(kind, target_id)] = (url, secret) if url and secret else None
    return found


async def _send(
    client: httpx.AsyncClient, url: str, secret: str, event_id: str, body: bytes, now: datetime
) -> str | None:
    """POST one event; None on a 2xx answer, else what went wrong."""
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "Canopy-Event-Id": event_id,
        "Canopy-Timestamp": str(timestamp),
        "Canopy-Signature": signature(secret, timestamp, body),
    }
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


async def _claim(
    database: Database, clock: Clock, run_started: datetime | None
) -> tuple[datetime, Sequence[Claimed], Receivers]:
    """Lease up to CHUNK due events (due before the run started) and look up their receivers."""
    async with database.transaction() as session:
        now = await clock.now(session)
        started = run_started or now
        due = (
            select(col(WebhookDelivery.id))
            .where(col(WebhookDelivery.status) == "pending", col(WebhookDelivery.next_attempt_at) <= started)
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(CHUNK)
            .with_for_update(skip_locked=True)
        )
        claimed = (
            await session.execute(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id).in_(due.scalar_subquery()), col(WebhookDelivery.next_attempt_at) <= started
                )
                .values(next_attempt_at=now + LEASE)
                .returning(
                    col(WebhookDelivery.id),
                    col(WebhookDelivery.target_kind),
                    col(WebhookDelivery.target_id),
                    col(WebhookDelivery.payload),
                    col(WebhookDelivery.attempts),
                    col(WebhookDelivery.first_attempt_at),
                )
                .execution_options(synchronize_session=False)
            )
        ).all()
        receivers = await _receivers(session, claimed) if claimed else {}
    return now, claimed, receivers


async def _attempt_all(
    client: httpx.AsyncClient, box: SecretBox, claimed: Sequence[Claimed], receivers: Receivers, now: datetime
) -> list[tuple[Claimed, str | None]]:
    gate = asyncio.Semaphore(PARALLEL_SENDS)

    async def attempt(row: Claimed) -> tuple[Claimed, str | None]:
        receiver = receivers.get((row.target_kind, row.target_id))
        if receiver is None:
            return row, "the receiver has no webhook URL"
        url, secret = receiver
        async with gate:
            return row, await _send(client, url, box.decrypt(secret), row.id, row.payload.encode(), now)

    return await asyncio.gather(*(attempt(row) for row in claimed))


async def _record(
    database: Database,
    settings: Settings,
    outcomes: list[tuple[Claimed, str | None]],
    now: datetime,
    counts: dict[str, int],
) -> None:
    """Delivered, retried at first attempt + 1 min, 5 min, ... 15 h, or failed after the last."""
    async with database.transaction() as session:
        for row, error in outcomes:
            outcome, values = attempt_outcome(
                settings, row.first_attempt_at, row.attempts, error, now, done="delivered"
            )
            counts[outcome] += 1
            await session.execute(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id) == row.id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )


async def deliver_webhooks(database: Database, clock: Clock, settings: Settings) -> dict[str, int]:
    box = SecretBox(settings)
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    run_started: datetime | None = None
    client = outbound_client(timeout=settings.webhook_timeout_s, allow_private=settings.webhook_allow_private)
    async with client:
        while True:
            now, claimed, receivers = await _claim(database, clock, run_started)
            run_started = run_started or now
            if not claimed:
                return counts
            outcomes = await _attempt_all(client, box, claimed, receivers, now)
            await _record(database, settings, outcomes, now, counts)

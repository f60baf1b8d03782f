"""The `send-email` job (SPEC 11.1): send due mail from the outbox, retry on the webhook schedule.

A run claims due rows by pushing their `next_attempt_at` past a lease in one guarded UPDATE
(`FOR UPDATE SKIP LOCKED` on PostgreSQL), exactly as `deliver-webhooks` does, so replicas never
send the same attempt twice; a run killed mid-send leaves rows that are due again when the lease
runs out (a message may then go twice: mail has no exactly-once). Without CANOPY_SMTP_URL
(development) a message is written to the log instead, its link included, and counts as sent.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import aiosmtplib
from sqlalchemy import select, update
from sqlmodel import col

from server.clock import Clock
from server.crypto import SecretBox
from server.db import Database
from server.mail.models import Email
from server.mail.smtp import SmtpServer, build_message, send
from server.settings import Settings
from server.webhooks.schedule import attempt_outcome

logger = logging.getLogger("canopy.mail")

LEASE = timedelta(minutes=5)
CHUNK = 100
PARALLEL_SENDS = 4


async def _claim(database: Database, clock: Clock, run_started: datetime | None) -> tuple[datetime, list[Any]]:
    """Lease up to CHUNK due messages (due before the run started)."""
    async with database.transaction() as session:
        now = await clock.now(session)
        started = run_started or now
        due = (
            select(col(Email.id))
            .where(col(Email.status) == "pending", col(Email.next_attempt_at) <= started)
            .order_by(col(Email.next_attempt_at))
            .limit(CHUNK)
            .with_for_update(skip_locked=True)
        )
        claimed = (
            await session.execute(
                update(Email)
                .where(col(Email.id).in_(due.scalar_subquery()), col(Email.next_attempt_at) <= started)
                .values(next_attempt_at=now + LEASE)
                .returning(
                    col(Email.id),
                    col(Email.to_address),
                    col(Email.language),
                    col(Email.subject),
                    col(Email.text_body),
                    col(Email.html_body),
                    col(Email.attempts),
                    col(Email.first_attempt_at),
                )
                .execution_options(synchronize_session=False)
            )
        ).all()
    return now, list(claimed)


async def _attempt_all(settings: Settings, claimed: list[Any]) -> list[tuple[Any, str | None]]:
    """Send each message; (row, None) when it went, else (row, what went wrong)."""
    box = SecretBox(settings)
    server = SmtpServer.from_url(settings.smtp_url) if settings.smtp_url else None
    gate = asyncio.Semaphore(PARALLEL_SENDS)

    async def attempt(row: Any) -> tuple[Any, str | None]:
        text = box.decrypt(row.text_body)
        if server is None:
            # Development only (production refuses to start without an SMTP URL): the link is
            # in the log on purpose, so that a developer can follow it.
            logger.info("mail %s to %s (development, not sent): %s\n%s", row.id, row.to_address, row.subject, text)
            return row, None
        message = build_message(settings, row.to_address, row.subject, text, box.decrypt(row.html_body), row.language)
        async with gate:
            try:
                await send(settings, server, message)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                logger.warning("mail %s not sent: %s", row.id, type(exc).__name__)
                return row, f"{type(exc).__name__}: {exc}"[:500]
        return row, None

    return await asyncio.gather(*(attempt(row) for row in claimed))


async def _record(
    database: Database,
    settings: Settings,
    outcomes: list[tuple[Any, str | None]],
    now: datetime,
    counts: dict[str, Any],
) -> None:
    async with database.transaction() as session:
        for row, error in outcomes:
            outcome, values = attempt_outcome(settings, row.first_attempt_at, row.attempts, error, now, done="sent")
            counts[outcome] += 1
            await session.execute(
                update(Email)
                .where(col(Email.id) == row.id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )


async def send_email(database: Database, clock: Clock, settings: Settings) -> dict[str, Any]:
    counts: dict[str, Any] = {"job": "send-email", "sent": 0, "retrying": 0, "failed": 0}
    run_started: datetime | None = None
    while True:
        now, claimed = await _claim(database, clock, run_started)
        run_started = run_started or now
        if not claimed:
            return counts
        outcomes = await _attempt_all(settings, claimed)
        await _record(database, settings, outcomes, now, counts)

"""The daily `prune` job (SPEC 14): delete what has served its time.

Each step deletes one kind of row, `prune_chunk` rows per transaction, so a run never holds
SQLite's write lock or PostgreSQL's row locks for long; on PostgreSQL a chunk skips rows another
replica's run has locked, so replicas running at once share the work. The job answers how many
rows each step deleted.

To prune something else, add a step to PRUNE_STEPS under the name of its count: a
`RowsPastTheirTime` for rows of a table (give its primary key and the condition; index the
column the condition compares), or any `async def step(run: PruneRun) -> int` (rows deleted)
for what does not live in a table of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select, tuple_
from sqlmodel import col

from server.accounts.models import AccountToken
from server.clock import Clock, wall_clock
from server.counters import ThrottleCounter
from server.db import Database, rowcount
from server.idempotency import IdempotencyRecord
from server.mail.models import Email
from server.members.models import WebSession
from server.members.sessions import ended_by as web_sessions_ended_by
from server.notifications.models import Notification, PushDelivery
from server.partners.models import GreenCode
from server.settings import Settings
from server.social.models import PlayCounter
from server.users.models import RefreshToken
from server.webhooks.models import WebhookDelivery


@dataclass(frozen=True)
class PruneRun:
    """One run's view: `now` is the product clock (the test clock in tests); credentials expire
    by the wall clock (SPEC 9), so their steps read `wall_now`."""

    database: Database
    settings: Settings
    now: datetime
    wall_now: datetime

    @property
    def today(self) -> date:
        return self.now.date()

    @property
    def ended_sessions_before(self) -> datetime:
        """Sessions that ended before this are deleted (credentials run on the wall clock)."""
        return self.wall_now - timedelta(days=self.settings.ended_session_retention_days)


PruneStep = Callable[[PruneRun], Awaitable[int]]


@dataclass(frozen=True)
class RowsPastTheirTime:
    """Delete the rows of one table that `condition(run)` selects, a chunk per transaction."""

    key: Sequence[Any]  # the table's primary key columns
    condition: Callable[[PruneRun], ColumnElement[bool]]

    async def __call__(self, run: PruneRun) -> int:
        table = self.key[0].table
        key = self.key[0] if len(self.key) == 1 else tuple_(*self.key)
        chunk_size = run.settings.prune_chunk
        deleted = 0
        while True:
            chunk = select(*self.key).where(self.condition(run)).limit(chunk_size).with_for_update(skip_locked=True)
            async with run.database.transaction() as session:
                result = await session.execute(
                    delete(table)
                    .where(key.in_(chunk), self.condition(run))
                    .execution_options(synchronize_session=False)
                )
            deleted += rowcount(result)
            if rowcount(result) < chunk_size:
                return deleted


PRUNE_STEPS: dict[str, PruneStep] = {
    # Replays are kept idempotency_ttl_s (24 h) of the product clock; past it a key starts afresh.
    "idempotency_records_deleted": RowsPastTheirTime(
        key=[col(IdempotencyRecord.scope_hash)],
        condition=lambda run: (
            col(IdempotencyRecord.created_at) <= run.now - timedelta(seconds=run.settings.idempotency_ttl_s)
        ),
    ),
    "green_codes_deleted": RowsPastTheirTime(
        key=[col(GreenCode.id)],
        condition=lambda run: (
            col(GreenCode.expires_at) < run.now - timedelta(seconds=run.settings.green_code_retention_s)
        ),
    ),
    # A user's session goes once it has ended, by expiry or revocation (wall clock), and stayed
    # ended for the retention (0 days: at the next run).
    "refresh_tokens_deleted": RowsPastTheirTime(
        key=[col(RefreshToken.id)],
        condition=lambda run: (
            (col(RefreshToken.expires_at) < run.ended_sessions_before)
            | (col(RefreshToken.revoked_at) < run.ended_sessions_before)
        ),
    ),
    # A portal session likewise: signed out, idle or past its maximum age (Redis forgets its own).
    "web_sessions_deleted": RowsPastTheirTime(
        key=[col(WebSession.token_hash)],
        condition=lambda run: web_sessions_ended_by(run.ended_sessions_before, run.settings),
    ),
    # Mailed links' tokens, used or expired (wall clock, like every credential), after a retention.
    "account_tokens_deleted": RowsPastTheirTime(
        key=[col(AccountToken.id)],
        condition=lambda run: (
            (col(AccountToken.expires_at) < run.wall_now - timedelta(days=run.settings.account_token_retention_days))
            | (col(AccountToken.used_at) < run.wall_now - timedelta(days=run.settings.account_token_retention_days))
        ),
    ),
    "emails_deleted": RowsPastTheirTime(
        key=[col(Email.id)],
        condition=lambda run: (
            (col(Email.status) == "sent")
            & (col(Email.sent_at) < run.now - timedelta(days=run.settings.email_sent_retention_days))
        ),
    ),
    "play_counters_deleted": RowsPastTheirTime(
        key=[col(PlayCounter.user_id), col(PlayCounter.kind), col(PlayCounter.subject_id), col(PlayCounter.local_day)],
        condition=lambda run: (
            col(PlayCounter.local_day) < run.today - timedelta(days=run.settings.play_counter_retention_days)
        ),
    ),
    # Throttling windows run on the wall clock; an ended one counts nothing any more.
    "throttle_counters_deleted": RowsPastTheirTime(
        key=[col(ThrottleCounter.key)],
        condition=lambda run: col(ThrottleCounter.window_ends_at) <= run.wall_now,
    ),
    "webhook_deliveries_deleted": RowsPastTheirTime(
        key=[col(WebhookDelivery.id)],
        condition=lambda run: (
            (col(WebhookDelivery.status) == "delivered")
            & (
                col(WebhookDelivery.delivered_at)
                < run.now - timedelta(days=run.settings.webhook_delivered_retention_days)
            )
        ),
    ),
    # Sent (or skipped) notifications and finished pushes; their dedup keys are past any repeat.
    "notifications_deleted": RowsPastTheirTime(
        key=[col(Notification.id)],
        condition=lambda run: (
            col(Notification.released_at) < run.now - timedelta(days=run.settings.notification_retention_days)
        ),
    ),
    "push_deliveries_deleted": RowsPastTheirTime(
        key=[col(PushDelivery.id)],
        condition=lambda run: (
            (col(PushDelivery.status) != "pending")
            & (col(PushDelivery.created_at) < run.now - timedelta(days=run.settings.notification_retention_days))
        ),
    ),
}


async def prune(database: Database, clock: Clock, settings: Settings) -> dict[str, int]:
    run = PruneRun(database=database, settings=settings, now=await clock.now(), wall_now=wall_clock())
    return {name: await step(run) for name, step in PRUNE_STEPS.items()}

"""The `expire-balls` job: move the grams of balls that expired uncollected to `expired`.

Reads already show such balls as expired; this job only writes their ledger entries. It works
in chunks, each a guarded set-based UPDATE (`settled_at IS NULL`; on PostgreSQL the chunk is
picked with `FOR UPDATE SKIP LOCKED`), so replicas running it at once never settle a ball twice.
"""

from __future__ import annotations

from sqlalchemy import select, update

from server.clock import Clock
from server.db import Database
from server.energy.models import Ball
from server.feed.models import FeedType
from server.feed.service import add_feed_items
from server.ledger import service as ledger
from server.ledger.models import Account, TransactionKind
from server.ledger.service import Leg
from server.settings import Settings


async def expire_balls(database: Database, clock: Clock, settings: Settings) -> dict[str, int]:
    balls = grams = 0
    while True:
        async with database.transaction() as session:
            now = await clock.now(session)
            chunk = (
                select(Ball.id)
                .where(Ball.collected_at.is_(None), Ball.settled_at.is_(None), Ball.expires_at <= now)
                .limit(settings.expire_balls_chunk)
                .with_for_update(skip_locked=True)
            )
            settled = (
                await session.execute(
                    update(Ball)
                    .where(Ball.id.in_(chunk.scalar_subquery()), Ball.collected_at.is_(None), Ball.settled_at.is_(None))
                    .values(expired_g=Ball.remaining_g, remaining_g=0, settled_at=now)
                    .returning(Ball.id, Ball.user_id, Ball.expired_g)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            if not settled:
                break
            await ledger.post_many(
                session,
                TransactionKind.EXPIRE,
                [
                    (
                        row.user_id,
                        row.id,
                        [
                            Leg(Account.BALL, -row.expired_g, row.user_id, ball_id=row.id),
                            Leg(Account.EXPIRED, row.expired_g),
                        ],
                    )
                    for row in settled
                ],
                now,
            )
            await add_feed_items(
                session,
                [
                    {"user_id": row.user_id, "type": FeedType.BALL_EXPIRED, "amount_g": row.expired_g}
                    for row in settled
                    if row.expired_g > 0
                ],
                now=now,
            )
            balls += len(settled)
            grams += sum(row.expired_g for row in settled)
    return {"balls_expired": balls, "expired_g": grams}

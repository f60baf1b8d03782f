"""The `expire-balls` job: move the grams of balls that expired uncollected to `expired`.

Reads already show such balls as expired; this job only settles them (`ledger_balls.settle_expired`)
and tells their owners. It works in chunks, one transaction each, each a guarded set-based UPDATE,
so replicas running it at once never settle a ball twice.
"""

from __future__ import annotations

from typing import Any

from server.feed.models import FeedType
from server.feed.service import add_feed_items
from server.ledger import balls as ledger_balls


async def expire_balls(database: Any, clock: Any, settings: Any) -> dict[str, Any]:
    balls = grams = 0
    while True:
        async with database.transaction() as session:
            now = await clock.now(session)
            settled = await ledger_balls.settle_expired(session, now, settings.expire_balls_chunk)
            if not settled:
                break
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
    return {"job": "expire-balls", "balls_expired": balls, "expired_g": grams}

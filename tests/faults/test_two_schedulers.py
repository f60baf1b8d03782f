"""Two replicas, each running the scheduler, over one database holding work for every job
(SPEC 8.2: jobs are "safe when several replicas run them at once").

Two real `canopy serve` processes tick every job every second. The work is made due for both at
the same instant, by one move of the shared test clock: balls expire, a season opens on queued
trees, orders pass their acknowledgement deadline, and all of it produces webhook events for a
local receiver. Afterwards each piece of work must have been done exactly once. (SPEC 8.4 only
promises at-least-once delivery, deduped by event id, but a retry needs a failed or timed-out
attempt, and here every attempt succeeds at once: a second delivery would be a double claim.)
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from server.db import Database
from server.feed.models import FeedItem
from server.ledger.models import Account, Ball, LedgerEntry, TransactionKind
from server.planting.models import PlantingOrder
from server.settings import Settings
from server.trees.models import Tree, TreeStatus
from server.webhooks.models import WebhookDelivery
from tests.api import Api
from tests.faults.helpers import assert_orders_whole, database, queue_many
from tests.planting.helpers import create_ngo, create_project
from tests.processes import running_servers
from tests.webhooks.test_delivery import Receiver

USERS = 12  # each with two balls left to expire (6 chunks of 4)
OLD_TREES = 100  # ordered before the replicas start: 10 orders that become overdue
NEW_TREES = 300  # queued in a project whose season has not opened: 30 orders to issue
ORDER_SIZE = 10
DAY = 86_400
ANSWER_DELAY_S = 1.2
EVERY_SECOND = {
    f"{job}_interval_s": 1 for job in ("expire_balls", "batch_planting_orders", "order_reminders", "deliver_webhooks")
}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """The webhook receiver, slowed down: each answer takes longer than a scheduler tick, so the
    other replica always ticks while a delivery run is still sending (a claim that did not
    hold would send the same events again). Its listen backlog fits the 2 x 16 parallel sends of
    two replicas (with the default of 5 some connections are reset and wait a minute for a retry).
    """
    monkeypatch.setattr(ThreadingHTTPServer, "request_queue_size", 64)
    receiver = Receiver()
    answer = receiver.server.RequestHandlerClass

    class SlowAnswer(answer):  # type: ignore[misc, valid-type]
        def do_POST(self) -> None:
            time.sleep(ANSWER_DELAY_S)
            super().do_POST()

    receiver.server.RequestHandlerClass = SlowAnswer
    yield receiver
    receiver.close()


async def remaining_work(db: Database, due: datetime) -> dict[str, int]:
    """What is left for the jobs to do, by job (orders issued before `due` are due a reminder)."""
    async with db.read_sessions() as session:

        async def count(model: type, *where: object) -> int:
            return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()

        return {
            "expire-balls": await count(Ball, Ball.collected_at.is_(None), Ball.settled_at.is_(None)),
            "batch-planting-orders": await count(Tree, Tree.status == TreeStatus.QUEUED),
            "order-reminders": await count(
                PlantingOrder, PlantingOrder.overdue.is_(False), PlantingOrder.issued_at <= due
            ),
            "deliver-webhooks": await count(WebhookDelivery, WebhookDelivery.status != "delivered"),
        }


@pytest.mark.settings(
    order_max_trees=ORDER_SIZE, order_min_trees=ORDER_SIZE, order_batch_orders=1, expire_balls_chunk=4
)
async def test_two_schedulers_do_every_piece_of_work_once(
    api: Api, settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    ngo = await create_ngo(api, webhook_url=receiver.url)
    users = [await api.register() for _ in range(USERS)]
    for _ in range(2):
        for user in users:
            await user.walk(14_800)
        await api.advance_to_next_morning()
    today = await api.today()
    in_season = await create_project(api, ngo, name="Open grove", capacity=10 * OLD_TREES)
    opens, closes = today + timedelta(days=3), today + timedelta(days=60)
    later = await create_project(
        api, ngo, name="Later grove", seasons=[{"start": opens.strftime("%m-%d"), "end": closes.strftime("%m-%d")}]
    )
    await queue_many(settings, users[0], in_season, OLD_TREES, queued_at=await api.now() - timedelta(days=8))
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == OLD_TREES // ORDER_SIZE
    await queue_many(settings, users[1], later, NEW_TREES, queued_at=await api.now())

    async with database(settings) as db:
        with running_servers(settings, tmp_path, count=2, scheduler_enabled=True, **EVERY_SECOND):
            due = await api.now()
            deadline = time.monotonic() + 30
            while (left := await remaining_work(db, due)) != {
                "expire-balls": 2 * USERS,
                "batch-planting-orders": NEW_TREES,
                "order-reminders": OLD_TREES // ORDER_SIZE,
                "deliver-webhooks": 0,  # the first orders' events, sent and recorded: none in flight
            }:
                assert time.monotonic() < deadline, left
                await asyncio.sleep(0.2)
            await api.advance(8 * DAY)  # everything falls due at once, for both
            deadline = time.monotonic() + 90
            while any((left := await remaining_work(db, due)).values()):
                assert time.monotonic() < deadline, left
                await asyncio.sleep(0.2)
            await asyncio.sleep(2.5)  # more ticks of both, which must find nothing left to do

        async with db.read_sessions() as session:
            expiries = Counter(
                (
                    await session.execute(
                        select(LedgerEntry.ball_id).where(
                            LedgerEntry.kind == TransactionKind.EXPIRE, LedgerEntry.account == Account.BALL
                        )
                    )
                ).scalars()
            )
            balls = (await session.execute(select(func.count()).select_from(Ball))).scalar_one()
            expired_items = (
                await session.execute(select(func.count()).select_from(FeedItem).where(FeedItem.type == "ball.expired"))
            ).scalar_one()
            events = Counter(
                (await session.execute(select(WebhookDelivery.event_type, WebhookDelivery.attempts))).all()
            )
            overdue = (
                await session.execute(select(func.count()).select_from(PlantingOrder).where(PlantingOrder.overdue))
            ).scalar_one()
        sizes, statuses = await assert_orders_whole(db)

    assert balls == 2 * USERS and len(expiries) == balls and set(expiries.values()) == {1}, expiries
    assert expired_items == balls
    assert (await api.audit())["expired_g"] == balls * 296
    assert statuses == {TreeStatus.ORDERED: OLD_TREES + NEW_TREES}, statuses
    assert len(sizes) == (OLD_TREES + NEW_TREES) // ORDER_SIZE and set(sizes.values()) == {ORDER_SIZE}
    assert overdue == OLD_TREES // ORDER_SIZE  # the new orders are not due for a reminder
    old, new = OLD_TREES // ORDER_SIZE, NEW_TREES // ORDER_SIZE
    assert events == {("order.issued", 1): old + new, ("order.overdue", 1): old}, events  # one attempt each
    received = Counter(request["headers"]["Canopy-Event-Id"] for request in receiver.received)
    assert len(received) == old + new + old and set(received.values()) == {1}, received.most_common(3)

"""The planting jobs (SPEC 8.2): `batch-planting-orders` and `order-reminders`.

Batching works a few orders per transaction (`order_batch_orders`, 10 by default): lock the
project row (so runners on several replicas take turns per project and never overrun its season
capacity), count how many of the oldest queued trees make due orders (a short last order whose
oldest tree has not waited long enough stays queued), then claim them set-based, in the database:
one UPDATE ... FROM picks them (in a MATERIALIZED CTE on PostgreSQL so the limit is applied once;
SQLite writers are serialized by `BEGIN IMMEDIATE`), numbers them oldest first into orders of
`order_max_trees` and stamps each with its order's id, guarded by `status = 'queued' AND order_id
IS NULL`, and writes one `tree.ordered` feed item per tree. A GROUP BY over the claimed trees gives
each order's size; then the order rows and one `order.issued` event per order, and commit. No tree
ever travels through Python, so memory does not grow with the queue. Killing a run loses nothing:
every committed transaction holds complete orders, and a rerun carries on from the trees still
queued.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, case, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.catalog.models import Project
from server.catalog.seasons import current_window
from server.catalog.service import ordered_in_window
from server.clock import Clock
from server.db import Database, new_id
from server.feed.service import add_feed_items_from
from server.planting.models import Ngo, OrderStatus, PlantingOrder
from server.planting.orders import notify
from server.settings import Settings
from server.trees.models import Tree, TreeStatus

# Test hook: called with the ids of the orders just committed after each transaction (a test
# makes it raise to kill a run part-way).
after_order_committed: Callable[[list[str]], None] | None = None

REMINDER_CHUNK = 500


class _NoOrder(Exception):
    """Roll the transaction back: another transaction took some of the trees counted, and an
    order would go out below the minimum; the next run sees the queue as it is."""


def _queued(project_id: str) -> Any:
    """Queued trees of a project: exactly the partial index `ix_trees_queued` (project_id, queued_at)."""
    return (col(Tree.project_id) == project_id, col(Tree.status) == TreeStatus.QUEUED)


async def _claim(
    session: AsyncSession,
    queued: tuple[Any, ...],
    project_id: str,
    order_ids: list[str],
    size: int,
    limit: int,
    now: datetime,
) -> None:
    """Stamp the oldest `limit` queued trees with their order, `size` per order, oldest first,
    and give each tree's owner its `tree.ordered` feed item.

    One UPDATE ... FROM: the picked ids are a CTE (MATERIALIZED on PostgreSQL, so its LIMIT is
    applied exactly once), numbered oldest first with `row_number()`; the order id of each bucket
    is a CASE over the ids made in Python (a handful per transaction). The guard `status =
    'queued' AND order_id IS NULL` skips a tree another transaction changed meanwhile. On
    PostgreSQL the UPDATE is a data-modifying CTE whose RETURNING rows feed the INSERT of the feed
    items, so the claimed trees are not read a second time.
    """
    picked = (
        select(col(Tree.id), col(Tree.queued_at))
        .where(*queued)
        .order_by(col(Tree.queued_at))
        .limit(limit)
        .cte("picked")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    # `op("/")`: integer division in both databases (SQLAlchemy's `//` needs FLOOR, a math
    # function SQLite builds may lack).
    bucket = (func.row_number().over(order_by=(picked.c.queued_at, picked.c.id)) - 1).self_group().op("/")(size)
    numbered = select(picked.c.id, bucket.label("bucket")).subquery("numbered")
    order_of = case({i: literal(order_id) for i, order_id in enumerate(order_ids)}, value=numbered.c.bucket)
    claim = (
        update(Tree)
        .where(col(Tree.id) == numbered.c.id, *_queued(project_id), col(Tree.order_id).is_(None))
        .values(status=TreeStatus.ORDERED, order_id=order_of, ordered_at=now)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # PostgreSQL otherwise hashes the whole table to join a few thousand picked ids (it prices
        # 5,000 primary-key probes above one sequential scan), so every chunk read every tree and
        # a run grew quadratic in the queue; the probes are what this join is.
        await session.execute(
            select(func.set_config("enable_hashjoin", "off", True), func.set_config("enable_mergejoin", "off", True))
        )
        claimed = claim.returning(col(Tree.user_id), col(Tree.id)).cte("claimed")
        await add_feed_items_from(
            session, select(claimed.c.user_id, claimed.c.id.label("tree_id")), "tree.ordered", now=now
        )
        return
    await session.execute(claim.execution_options(synchronize_session=False))
    await add_feed_items_from(
        session,
        select(col(Tree.user_id), col(Tree.id).label("tree_id")).where(col(Tree.order_id).in_(order_ids)),
        "tree.ordered",
        now=now,
    )


async def _orders_due(
    session: AsyncSession, queued: tuple[Any, ...], limit: int, size: int, cutoff: datetime, settings: Settings
) -> int:
    """How many trees to claim (at most `limit`) so that every order they make is due.

    An order is due with `order_min_trees` trees, or when its oldest tree has waited past
    `cutoff`; only the last, partly filled order can fall short, and then it stays queued.
    """
    available = (
        await session.execute(
            select(func.count()).select_from(select(col(Tree.id)).where(*queued).limit(limit).subquery())
        )
    ).scalar_one()
    full, rest = divmod(available, size)
    if 0 < rest < settings.order_min_trees:
        first_of_last = (
            await session.execute(
                select(col(Tree.queued_at)).where(*queued).order_by(col(Tree.queued_at)).offset(full * size).limit(1)
            )
        ).scalar_one()
        if first_of_last is not None and first_of_last > cutoff:
            return full * size
    return available


async def _issue_some(
    session: AsyncSession, project_id: str, clock: Clock, settings: Settings, after: datetime | None
) -> tuple[list[str], int, datetime] | None:
    """Issue the project's next orders (up to `order_batch_orders`) in this transaction, or None
    when none is due: (order ids, trees ordered, newest `queued_at` ordered).

    `after` is the newest `queued_at` this run has already ordered for the project: the trees
    before it are ordered, so the index scan starts there instead of walking past the entries of
    every tree ordered so far (on PostgreSQL they stay in the index until vacuumed, which made each
    order cost O(trees ordered) and the run quadratic). A tree re-queued by a rejection during the
    run has an older `queued_at`; the next run orders it.
    """
    now = await clock.now(session)
    found = (
        await session.execute(
            select(Project, col(Ngo.webhook_url))
            .join(Ngo, col(Ngo.id) == col(Project.ngo_id))
            .where(col(Project.id) == project_id, col(Project.status) == "active")
            .with_for_update(of=Project, key_share=True)
        )
    ).one_or_none()
    if found is None:
        return None
    project, webhook_url = found
    window = current_window(project.seasons, now.date())
    if window is None:
        return None
    remaining = project.capacity_per_season - await ordered_in_window(session, project.id, *window)
    if remaining <= 0:
        return None
    size = settings.order_max_trees
    queued = _queued(project.id) + ((col(Tree.queued_at) >= after,) if after is not None else ())
    # Up to `order_batch_orders` orders; the remaining capacity may cut the last one short.
    cutoff = now - timedelta(days=settings.order_max_wait_days)
    limit = await _orders_due(
        session, queued, min(remaining, settings.order_batch_orders * size), size, cutoff, settings
    )
    if limit == 0:
        return None
    order_ids = [new_id() for _ in range(math.ceil(limit / size))]
    await _claim(session, queued, project.id, order_ids, size, limit, now)

    issued = (
        await session.execute(
            select(
                col(Tree.order_id),
                func.count().label("trees"),
                func.min(col(Tree.queued_at)).label("oldest"),
                func.max(col(Tree.queued_at)).label("newest"),
            )
            .where(col(Tree.order_id).in_(order_ids))
            .group_by(col(Tree.order_id))
        )
    ).all()
    if len(issued) < len(order_ids) or any(
        row.trees < settings.order_min_trees and row.oldest > cutoff for row in issued
    ):
        raise _NoOrder
    await session.execute(
        insert(PlantingOrder),
        [
            {
                "id": row.order_id,
                "project_id": project.id,
                "ngo_id": project.ngo_id,
                "status": OrderStatus.ISSUED,
                "overdue": False,
                "issued_at": now,
                "tree_count": row.trees,
            }
            for row in issued
        ],
    )
    if webhook_url:  # known here: no lookup per order
        for row in issued:
            event = {"order_id": row.order_id, "project_id": project.id, "tree_count": row.trees}
            event["issued_at"] = now.isoformat()
            await notify(session, project.ngo_id, "order.issued", event, now, webhook_url=webhook_url)
    return order_ids, sum(row.trees for row in issued), max(row.newest for row in issued)


async def batch_planting_orders(database: Database, clock: Clock, settings: Settings) -> dict[str, int]:
    async with database.read_sessions() as session:
        project_ids = list(
            (
                await session.execute(
                    select(col(Project.id)).where(col(Project.status) == "active").order_by(col(Project.id))
                )
            ).scalars()
        )
    orders = trees = 0
    for project_id in project_ids:
        after = None
        while True:
            try:
                async with database.transaction() as session:
                    issued = await _issue_some(session, project_id, clock, settings, after)
            except _NoOrder:
                issued = None
            if issued is None:
                break
            orders += len(issued[0])
            trees += issued[1]
            after = issued[2]
            if after_order_committed is not None:
                after_order_committed(issued[0])
    return {"orders_created": orders, "trees_ordered": trees}


async def order_reminders(database: Database, clock: Clock, settings: Settings) -> dict[str, int]:
    """Orders still not acknowledged `order_ack_days` after issue get `overdue` and one event."""
    flagged = 0
    while True:
        async with database.transaction() as session:
            now = await clock.now(session)
            due = list(
                (
                    await session.execute(
                        select(col(PlantingOrder.id))
                        .where(
                            col(PlantingOrder.status) == OrderStatus.ISSUED,
                            col(PlantingOrder.overdue).is_(False),
                            col(PlantingOrder.issued_at) <= now - timedelta(days=settings.order_ack_days),
                        )
                        .order_by(col(PlantingOrder.id))
                        .limit(REMINDER_CHUNK)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            rows: Sequence[Row[str, str, str, datetime]] = []
            if due:
                rows = (
                    await session.execute(
                        update(PlantingOrder)
                        .where(
                            col(PlantingOrder.id).in_(due),
                            col(PlantingOrder.status) == OrderStatus.ISSUED,
                            col(PlantingOrder.overdue).is_(False),
                        )
                        .values(overdue=True)
                        .returning(
                            col(PlantingOrder.id),
                            col(PlantingOrder.ngo_id),
                            col(PlantingOrder.project_id),
                            col(PlantingOrder.issued_at),
                        )
                        .execution_options(synchronize_session=False)
                    )
                ).all()
            for row in rows:
                await notify(
                    session,
                    row.ngo_id,
                    "order.overdue",
                    {"order_id": row.id, "project_id": row.project_id, "issued_at": row.issued_at.isoformat()},
                    now,
                )
        if not rows:
            break
        flagged += len(rows)
    return {"orders_overdue": flagged}

"""The planting jobs (SPEC 8.2): `batch-planting-orders` and `order-reminders`.

Batching works one order per transaction: lock the project row (so runners on several replicas
take turns per project and never overrun its season capacity), pick the oldest queued trees with
a bounded query (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite writers are serialized by
`BEGIN IMMEDIATE`), claim them with one guarded UPDATE (`status = 'queued' AND order_id IS NULL`),
write the order and its `order.issued` event, commit. No more than one order's trees (<= 500) is
ever held in memory. Killing a run loses nothing: every committed order is complete, and a rerun
carries on from the trees still queued.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog.models import Project
from server.catalog.seasons import current_window
from server.db import new_id
from server.feed.service import add_feed_items
from server.planting.models import OrderStatus, PlantingOrder
from server.planting.service import notify
from server.trees.models import Tree, TreeStatus

# Test hook: called with the order id after each order is committed (a test makes it raise to
# kill a run part-way).
after_order_committed: Callable[[str], None] | None = None

REMINDER_CHUNK = 500


class _NoOrder(Exception):
    """Roll the transaction back: the trees claimed do not make an order after all."""


async def _used_capacity(session: AsyncSession, project_id: str, start: date, end: date) -> int:
    """The trees ordered in this season window, as `catalog.service.ordered_in_window` counts them.

    Summed over the window's orders instead of counted over its trees: every tree ordered in a
    window belongs to an order issued in it (`ordered_at` = `issued_at`), and `tree_count` follows
    the order's trees in the same transaction as every planting or rejection, so the two agree,
    while this reads one row per order (N/500) instead of one per tree (N) before every order.
    """
    window_start = datetime.combine(start, time(0), tzinfo=UTC)
    window_end = datetime.combine(end + timedelta(days=1), time(0), tzinfo=UTC)
    used = await session.execute(
        select(func.coalesce(func.sum(PlantingOrder.tree_count), 0)).where(
            PlantingOrder.project_id == project_id,
            PlantingOrder.issued_at >= window_start,
            PlantingOrder.issued_at < window_end,
        )
    )
    return int(used.scalar_one())


def _queued(project_id: str) -> Any:
    """Queued trees of a project: exactly the prefix of the index (project_id, status, queued_at)."""
    return (Tree.project_id == project_id, Tree.status == TreeStatus.QUEUED)


async def _issue_one(
    session: AsyncSession, project_id: str, clock: Any, settings: Any, after: datetime | None
) -> tuple[str, int, datetime] | None:
    """Issue the project's next order in this transaction, or None when none is due.

    `after` is the newest `queued_at` this run has already ordered for the project: the trees
    before it are ordered, so the index scan starts there instead of walking past the entries of
    every tree ordered so far (on PostgreSQL they stay in the index until vacuumed, which made each
    order cost O(trees ordered) and the run quadratic). A tree re-queued by a rejection during the
    run, or skipped as locked, has an older `queued_at`; the next run orders it.
    """
    now = await clock.now(session)
    project = (
        await session.execute(
            select(Project).where(Project.id == project_id, Project.status == "active").with_for_update(key_share=True)
        )
    ).scalar_one_or_none()
    if project is None:
        return None
    window = current_window(project.seasons, now.date())
    if window is None:
        return None
    remaining = project.capacity_per_season - await _used_capacity(session, project.id, *window)
    take = min(remaining, settings.order_max_trees)
    if take <= 0:
        return None
    queued = _queued(project.id) + ((Tree.queued_at >= after,) if after is not None else ())
    oldest = (await session.execute(select(func.min(Tree.queued_at)).where(*queued))).scalar()
    if oldest is None:
        return None
    cutoff = now - timedelta(days=settings.order_max_wait_days)
    if oldest > cutoff:  # nobody has waited long enough: only a full-sized order goes out
        if take < settings.order_min_trees:
            return None
        first = select(Tree.id).where(*queued).limit(settings.order_min_trees).subquery()
        if (await session.execute(select(func.count()).select_from(first))).scalar_one() < settings.order_min_trees:
            return None

    order_id = new_id()
    session.add(
        PlantingOrder(
            id=order_id,
            project_id=project.id,
            ngo_id=project.ngo_id,
            status=OrderStatus.ISSUED,
            issued_at=now,
            tree_count=0,
        )
    )
    await session.flush()
    # The ids first (at most one order's worth), then the guarded claim: an `IN (subquery LIMIT n)`
    # with a row lock may be evaluated more than once by PostgreSQL and overrun the limit.
    picked = list(
        (
            await session.execute(
                select(Tree.id).where(*queued).order_by(Tree.queued_at).limit(take).with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not picked:
        raise _NoOrder
    claimed = (
        await session.execute(
            update(Tree)
            .where(Tree.id.in_(picked), *_queued(project.id), Tree.order_id.is_(None))
            .values(status=TreeStatus.ORDERED, order_id=order_id, ordered_at=now)
            .returning(Tree.id, Tree.user_id, Tree.queued_at)
            .execution_options(synchronize_session=False)
        )
    ).all()
    if not claimed:
        raise _NoOrder
    if len(claimed) < settings.order_min_trees and min(row.queued_at for row in claimed) > cutoff:
        raise _NoOrder  # another runner took trees between the count and the claim
    await session.execute(
        update(PlantingOrder)
        .where(PlantingOrder.id == order_id)
        .values(tree_count=len(claimed))
        .execution_options(synchronize_session=False)
    )
    await add_feed_items(
        session, [{"user_id": row.user_id, "type": "tree.ordered", "tree_id": row.id} for row in claimed], now=now
    )
    await notify(
        session,
        project.ngo_id,
        "order.issued",
        {"order_id": order_id, "project_id": project.id, "tree_count": len(claimed), "issued_at": now.isoformat()},
        now,
    )
    return order_id, len(claimed), max(row.queued_at for row in claimed)


async def batch_planting_orders(database: Any, clock: Any, settings: Any) -> dict[str, Any]:
    async with database.read_sessions() as session:
        project_ids = list(
            (await session.execute(select(Project.id).where(Project.status == "active").order_by(Project.id))).scalars()
        )
    orders = trees = 0
    for project_id in project_ids:
        after = None
        while True:
            try:
                async with database.transaction() as session:
                    issued = await _issue_one(session, project_id, clock, settings, after)
            except _NoOrder:
                issued = None
            if issued is None:
                break
            orders += 1
            trees += issued[1]
            after = issued[2]
            if after_order_committed is not None:
                after_order_committed(issued[0])
    return {"job": "batch-planting-orders", "orders_created": orders, "trees_ordered": trees}


async def order_reminders(database: Any, clock: Any, settings: Any) -> dict[str, Any]:
    """Orders still not acknowledged `order_ack_days` after issue get `overdue` and one event."""
    flagged = 0
    while True:
        async with database.transaction() as session:
            now = await clock.now(session)
            due = list(
                (
                    await session.execute(
                        select(PlantingOrder.id)
                        .where(
                            PlantingOrder.status == OrderStatus.ISSUED,
                            PlantingOrder.overdue.is_(False),
                            PlantingOrder.issued_at <= now - timedelta(days=settings.order_ack_days),
                        )
                        .order_by(PlantingOrder.id)
                        .limit(REMINDER_CHUNK)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            rows = []
            if due:
                rows = (
                    await session.execute(
                        update(PlantingOrder)
                        .where(
                            PlantingOrder.id.in_(due),
                            PlantingOrder.status == OrderStatus.ISSUED,
                            PlantingOrder.overdue.is_(False),
                        )
                        .values(overdue=True)
                        .returning(
                            PlantingOrder.id, PlantingOrder.ngo_id, PlantingOrder.project_id, PlantingOrder.issued_at
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
    return {"job": "order-reminders", "orders_overdue": flagged}

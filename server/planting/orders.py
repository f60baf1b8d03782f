"""Planting orders as an NGO and the operator see them, and the NGO's webhook events (SPEC 8.3, 9).

Authorization lives in the queries: an NGO's order reads are filtered by the NGO's id, so another
NGO's order is simply not found (404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.catalog.models import Project, Species
from server.errors import BadRequest, Conflict, NotFound
from server.i18n import Language
from server.pagination import decode_cursor, newest_first, page_of
from server.planting.models import OPEN_ORDER_STATUSES, Ngo, OrderStatus, PlantingOrder
from server.planting.schemas import OrderProject, OrderPublic, OrderSummary, OrderTree, OrderTreeDetail
from server.trees import service as trees
from server.trees.models import Tree, TreeStatus
from server.webhooks import service as webhooks


async def order_summary(session: AsyncSession, order: PlantingOrder) -> OrderSummary:
    project = await session.get(Project, order.project_id)
    assert project is not None
    return OrderSummary(
        id=order.id,
        project=OrderProject(id=project.id, name=project.name),
        ngo_id=order.ngo_id,
        status=order.status,
        overdue=order.overdue,
        issued_at=order.issued_at,
        acknowledged_at=order.acknowledged_at,
        completed_at=order.completed_at,
        cancelled_at=order.cancelled_at,
        cancel_reason=order.cancel_reason,
        tree_count=order.tree_count,
    )


async def order_public(session: AsyncSession, order: PlantingOrder) -> OrderPublic:
    """The single view: the order with its trees (at most one order's worth)."""
    rows = await session.execute(
        select(col(Tree.id), col(Species.common_name), col(Tree.status))
        .join(Species, col(Species.id) == col(Tree.species_id))
        .where(col(Tree.order_id) == order.id)
        .order_by(col(Tree.queued_at), col(Tree.id))
    )
    trees = [OrderTree(id=row.id, species=row.common_name, status=row.status) for row in rows]
    return OrderPublic(**(await order_summary(session, order)).model_dump(), trees=trees)


async def list_orders(
    session: AsyncSession, *, ngo_id: str | None, status: str | None, cursor: str | None, limit: int
) -> tuple[list[OrderSummary], str | None]:
    query: Select[Any] = select(PlantingOrder)
    if ngo_id is not None:
        query = query.where(col(PlantingOrder.ngo_id) == ngo_id)
    if status is not None:
        query = query.where(col(PlantingOrder.status) == status)
    rows = list((await session.execute(newest_first(query, col(PlantingOrder.id), cursor, limit))).scalars())
    orders, next_cursor = page_of(rows, limit)
    return [await order_summary(session, order) for order in orders], next_cursor


async def get_order(session: AsyncSession, ngo_id: str, order_id: str, *, for_update: bool = False) -> PlantingOrder:
    query = select(PlantingOrder).where(col(PlantingOrder.id) == order_id, col(PlantingOrder.ngo_id) == ngo_id)
    if for_update:
        query = query.with_for_update(key_share=True)
    order = (await session.execute(query)).scalar_one_or_none()
    if order is None:
        raise NotFound("No such order.", problem="order-not-found")
    return order


async def acknowledge(session: AsyncSession, order: PlantingOrder, now: datetime) -> PlantingOrder:
    """issued -> acknowledged; any later state is left as it is (repeating changes nothing)."""
    if order.status == OrderStatus.ISSUED:
        order.status = OrderStatus.ACKNOWLEDGED
        order.acknowledged_at = now
        session.add(order)
        await session.flush()
    return order


async def notify(
    session: AsyncSession,
    ngo_id: str,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
    *,
    webhook_url: str | None = None,
) -> None:
    """Write an event to the NGO's webhook outbox, when it has a webhook (looked up unless given)."""
    url = webhook_url or (await session.execute(select(col(Ngo.webhook_url)).where(col(Ngo.id) == ngo_id))).scalar()
    if url:
        await webhooks.enqueue(session, target_kind="ngo", target_id=ngo_id, event_type=event_type, data=data, now=now)


async def get_any_order(session: AsyncSession, order_id: str, *, for_update: bool = False) -> PlantingOrder:
    """The operator's view: any NGO's order."""
    query = select(PlantingOrder).where(col(PlantingOrder.id) == order_id)
    if for_update:
        query = query.with_for_update(key_share=True)
    order = (await session.execute(query)).scalar_one_or_none()
    if order is None:
        raise NotFound("No such order.", problem="order-not-found")
    return order


async def cancel_order(session: AsyncSession, order_id: str, reason: str, now: datetime) -> PlantingOrder:
    """An operator withdraws an open order (SPEC 12.4): its `ordered` trees go back to the queue
    with their `queued_at` (in a closed project they are refunded, as a rejection there would be),
    planted trees stay planted, and the NGO gets `order.cancelled` with the reason.

    The order row is locked first, as plantings and rejections lock it, so a planting and a
    cancellation of the same order take turns: a tree is either planted in it or back in the queue.
    Cancelling a cancelled order again changes nothing (the first reason stays); a completed one
    -> 409.
    """
    order = await get_any_order(session, order_id, for_update=True)
    if order.status == OrderStatus.CANCELLED:
        return order
    if order.status not in OPEN_ORDER_STATUSES:
        raise Conflict(
            f"Only an issued or acknowledged order can be cancelled; this one is {order.status}.",
            problem="order-not-cancellable",
        )
    returned = list(
        (
            await session.execute(
                update(Tree)
                .where(col(Tree.order_id) == order.id, col(Tree.status) == TreeStatus.ORDERED)
                .values(status=TreeStatus.QUEUED, order_id=None, ordered_at=None)
                .returning(col(Tree.id))
                .execution_options(synchronize_session=False)
            )
        ).scalars()
    )
    project_status = (
        await session.execute(select(col(Project.status)).where(col(Project.id) == order.project_id))
    ).scalar_one()
    if project_status == "closed":
        for tree_id in returned:
            await trees.refund(session, tree_id, now)
    planted = (
        await session.execute(select(func.count()).select_from(Tree).where(col(Tree.order_id) == order.id))
    ).scalar_one()
    order.status = OrderStatus.CANCELLED
    order.cancelled_at, order.cancel_reason = now, reason
    order.overdue = False  # nothing is awaited from the NGO any more
    order.tree_count = int(planted)  # frees the season capacity the returned trees held
    session.add(order)
    await session.flush()
    event = {
        "order_id": order.id,
        "project_id": order.project_id,
        "reason": reason,
        "cancelled_at": now.isoformat(),
        "trees_withdrawn": len(returned),
        "trees_planted": int(planted),
    }
    await notify(session, order.ngo_id, "order.cancelled", event, now)
    return order


async def order_counts(session: AsyncSession) -> dict[str, int]:
    """How many orders are in each status, and how many open ones are overdue (the console)."""
    rows = await session.execute(select(col(PlantingOrder.status), func.count()).group_by(col(PlantingOrder.status)))
    counts = {status.value: 0 for status in OrderStatus} | {status: int(count) for status, count in rows.all()}
    overdue = await session.execute(
        select(func.count()).where(
            col(PlantingOrder.overdue).is_(True), col(PlantingOrder.status).in_(OPEN_ORDER_STATUSES)
        )
    )
    return counts | {"overdue": int(overdue.scalar_one())}


async def overdue_orders(session: AsyncSession, limit: int) -> list[OrderSummary]:
    """Open orders flagged overdue, oldest first: what an operator looks at first."""
    rows = await session.execute(
        select(PlantingOrder)
        .where(col(PlantingOrder.overdue).is_(True), col(PlantingOrder.status).in_(OPEN_ORDER_STATUSES))
        .order_by(col(PlantingOrder.issued_at), col(PlantingOrder.id))
        .limit(limit)
    )
    return [await order_summary(session, order) for order in rows.scalars()]


def _needs_attention() -> Any:
    """1 for an open order past its acknowledgement deadline: listed first in the portal."""
    return case((col(PlantingOrder.overdue) & col(PlantingOrder.status).in_(OPEN_ORDER_STATUSES), 1), else_=0)


async def ngo_orders_overdue_first(
    session: AsyncSession, ngo_id: str, *, status: str | None, cursor: str | None, limit: int
) -> tuple[list[OrderSummary], str | None]:
    """The NGO's orders for its portal: overdue ones first, then newest first; a cursor of its own
    (`<1 or 0>.<last id>`), opaque like the API's."""
    attention = _needs_attention()
    query: Select[Any] = select(PlantingOrder, attention).where(col(PlantingOrder.ngo_id) == ngo_id)
    if status is not None:
        query = query.where(col(PlantingOrder.status) == status)
    if cursor:
        flag, _, last_id = decode_cursor(cursor).partition(".")
        if flag not in ("0", "1") or not last_id:
            raise BadRequest("The cursor is not valid.", problem="bad-cursor")
        query = query.where((attention < int(flag)) | ((attention == int(flag)) & (col(PlantingOrder.id) < last_id)))
    rows = (
        await session.execute(query.order_by(attention.desc(), col(PlantingOrder.id).desc()).limit(limit + 1))
    ).all()
    page, next_cursor = page_of(rows, limit, id_of=lambda row: f"{row[1]}.{row[0].id}")
    return [await order_summary(session, order) for order, _ in page], next_cursor


async def ngo_order_counts(session: AsyncSession, ngo_id: str) -> dict[str, int]:
    """The NGO's orders by status, and `overdue`: those past their deadline and not completed."""
    rows = await session.execute(
        select(col(PlantingOrder.status), func.count(), func.sum(_needs_attention()))
        .where(col(PlantingOrder.ngo_id) == ngo_id)
        .group_by(col(PlantingOrder.status))
    )
    counts = {"overdue": 0}
    for status, count, overdue in rows:
        counts[status] = int(count)
        counts["overdue"] += int(overdue or 0)
    return counts


async def order_trees(session: AsyncSession, order: PlantingOrder, language: Language) -> list[OrderTreeDetail]:
    """An order's trees for its page: species in `language`, status, and the certificate once planted."""
    rows = await session.execute(
        select(Tree, Species)
        .join(Species, col(Species.id) == col(Tree.species_id))
        .where(col(Tree.order_id) == order.id)
        .order_by(col(Tree.queued_at), col(Tree.id))
    )
    return [
        OrderTreeDetail(
            id=tree.id,
            species=species.common_name_in(language),
            status=tree.status,
            planted_at=tree.planted_at,
            certificate_number=tree.certificate_number,
        )
        for tree, species in rows
    ]


async def open_tree_ids(session: AsyncSession, order: PlantingOrder) -> list[str]:
    """The order's trees still to plant or reject (`ordered`), in the order's own order."""
    rows = await session.execute(
        select(col(Tree.id))
        .where(col(Tree.order_id) == order.id, col(Tree.status) == TreeStatus.ORDERED)
        .order_by(col(Tree.queued_at), col(Tree.id))
    )
    return list(rows.scalars())

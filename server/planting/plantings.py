"""An NGO's plantings and rejections of an order's trees, and the order's completion (SPEC 8.3, 6).

Each planting or rejection in a request is judged in a SAVEPOINT of its own, so one refused tree
never undoes another's acceptance; the order is completed once none of its trees is still ordered.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.catalog.models import Project
from server.certificates import service as certificates
from server.db import rowcount
from server.errors import Conflict, DomainError, Unprocessable, problem_body
from server.feed.service import add_feed_item
from server.notifications import service as notifications
from server.planting.models import OrderStatus, Photo, PhotoHashBand, Planting, PlantingOrder, Rejection
from server.planting.orders import acknowledge, get_order, notify
from server.planting.photo_store import near_duplicate_used
from server.planting.photos import bands
from server.planting.schemas import ItemResult, PlantingIn, RejectionIn
from server.settings import Settings
from server.trees import service as trees
from server.trees.models import Tree, TreeStatus

EARTH_RADIUS_KM = 6371.0088


async def _finish_if_done(session: AsyncSession, order: PlantingOrder, now: datetime) -> None:
    """An order is completed when none of its trees is still ordered (SPEC 8.3)."""
    count = (
        await session.execute(select(func.count()).select_from(Tree).where(col(Tree.order_id) == order.id))
    ).scalar_one()
    still = (
        await session.execute(
            select(col(Tree.id)).where(col(Tree.order_id) == order.id, col(Tree.status) == TreeStatus.ORDERED).limit(1)
        )
    ).first()
    order.tree_count = int(count)
    # A cancelled order keeps its status: its planted trees do not complete it.
    if still is None and order.status not in (OrderStatus.COMPLETED, OrderStatus.CANCELLED):
        order.status = OrderStatus.COMPLETED
        order.completed_at = now
        order.acknowledged_at = order.acknowledged_at or now
        await notify(
            session,
            order.ngo_id,
            "order.completed",
            {"order_id": order.id, "project_id": order.project_id, "trees_planted": int(count)},
            now,
        )
    session.add(order)
    await session.flush()


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _refused(tree_id: str, exc: DomainError) -> ItemResult:
    return ItemResult(tree_id=tree_id, status="refused", error=problem_body(exc.status, exc.problem, exc.detail))


def _same_instant(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 1e-3


async def _plant_one(
    session: AsyncSession,
    order: PlantingOrder,
    project: Project,
    item: PlantingIn,
    settings: Settings,
    now: datetime,
) -> ItemResult:
    tree = (
        await session.execute(
            select(Tree).where(col(Tree.id) == item.tree_id).execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if tree is not None and tree.status == TreeStatus.PLANTED and tree.order_id == order.id:
        done = await session.get(Planting, tree.id)
        if (
            done is not None
            and done.photo_id == item.photo_id
            and _same_instant(done.planted_at, item.planted_at)
            and math.isclose(done.lat, item.lat, abs_tol=1e-9)
            and math.isclose(done.lon, item.lon, abs_tol=1e-9)
        ):
            return ItemResult(tree_id=tree.id, status="unchanged", certificate_number=tree.certificate_number)
        raise Conflict("This tree was already confirmed with other details.", problem="planting-differs")
    if tree is None or tree.order_id != order.id or tree.status != TreeStatus.ORDERED:
        raise Conflict("This tree is not ordered in this order.", problem="tree-not-in-order")
    if item.planted_at > now:
        raise Unprocessable("planted_at is in the future.", problem="planted-in-future")
    if item.planted_at < order.issued_at:
        raise Unprocessable("planted_at is before the order was issued.", problem="planted-before-order")
    distance = distance_km(project.lat, project.lon, item.lat, item.lon)
    if distance > project.radius_km:
        raise Unprocessable(
            f"The location is {distance:.1f} km from the project, outside its {project.radius_km:g} km radius.",
            problem="outside-project-area",
        )
    photo = (
        await session.execute(
            select(Photo)
            .where(col(Photo.id) == item.photo_id, col(Photo.ngo_id) == order.ngo_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if photo is None:
        raise Unprocessable("Unknown photo: upload it with POST /v1/ngo/photos first.", problem="unknown-photo")
    if photo.tree_id is not None and photo.tree_id != tree.id:
        raise Conflict("This photo was already used for another tree.", problem="photo-reused")
    if await near_duplicate_used(session, photo.phash, settings.photo_hash_max_distance, except_tree=tree.id):
        raise Conflict("This photo is (nearly) the same as one used for another tree.", problem="photo-reused")

    claimed = await session.execute(
        update(Photo)
        .where(col(Photo.id) == photo.id, col(Photo.tree_id).is_(None))
        .values(tree_id=tree.id)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        raise Conflict("This photo was already used for another tree.", problem="photo-reused")
    planted = await session.execute(
        update(Tree)
        .where(col(Tree.id) == tree.id, col(Tree.order_id) == order.id, col(Tree.status) == TreeStatus.ORDERED)
        .values(status=TreeStatus.PLANTED, planted_at=item.planted_at)
        .execution_options(synchronize_session=False)
    )
    if rowcount(planted) != 1:
        raise Conflict("This tree is not ordered in this order.", problem="tree-not-in-order")
    await add_feed_item(session, tree.user_id, "tree.planted", tree_id=tree.id, now=now)
    session.add(
        Planting(
            tree_id=tree.id,
            order_id=order.id,
            planted_at=item.planted_at,
            lat=item.lat,
            lon=item.lon,
            photo_id=photo.id,
            created_at=now,
        )
    )
    for band, value in bands(photo.phash):
        session.add(PhotoHashBand(band=band, value=value, photo_id=photo.id))
    await session.flush()
    number = await certificates.issue(
        session,
        tree_id=tree.id,
        planted_at=item.planted_at,
        lat=item.lat,
        lon=item.lon,
        photo_id=photo.id,
        now=now,
    )
    await session.execute(
        update(Tree)
        .where(col(Tree.id) == tree.id)
        .values(certificate_number=number)
        .execution_options(synchronize_session=False)
    )
    await notifications.notify(
        session, tree.user_id, "tree.planted", tree.id, {"tree_id": tree.id, "certificate_number": number}, now=now
    )
    await notify(
        session,
        order.ngo_id,
        "tree.planted",
        {
            "order_id": order.id,
            "tree_id": tree.id,
            "planted_at": item.planted_at.isoformat(),
            "certificate_number": number,
        },
        now,
    )
    return ItemResult(tree_id=tree.id, status="planted", certificate_number=number)


async def _judge_each(
    session: AsyncSession,
    order: PlantingOrder,
    items: list[Any],
    judge: Callable[[Any], Awaitable[ItemResult]],
    now: datetime,
) -> list[ItemResult]:
    """Acknowledge the order, judge every tree in its own SAVEPOINT, then complete the order if done."""
    await acknowledge(session, order, now)
    results = []
    for item in items:
        try:
            async with session.begin_nested():
                results.append(await judge(item))
        except DomainError as exc:
            results.append(_refused(item.tree_id, exc))
        except IntegrityError:
            results.append(
                _refused(item.tree_id, Conflict("A concurrent request changed this tree; retry.", problem="conflict"))
            )
    await _finish_if_done(session, order, now)
    return results


async def record_plantings(
    session: AsyncSession,
    ngo_id: str,
    order_id: str,
    items: list[PlantingIn],
    settings: Settings,
    now: datetime,
) -> list[ItemResult]:
    order = await get_order(session, ngo_id, order_id, for_update=True)
    project = await session.get(Project, order.project_id)
    assert project is not None
    return await _judge_each(
        session, order, items, lambda item: _plant_one(session, order, project, item, settings, now), now
    )


async def _reject_one(
    session: AsyncSession,
    order: PlantingOrder,
    project_status: str,
    item: RejectionIn,
    settings: Settings,
    now: datetime,
) -> ItemResult:
    row = (
        await session.execute(
            update(Tree)
            .where(col(Tree.id) == item.tree_id, col(Tree.order_id) == order.id, col(Tree.status) == TreeStatus.ORDERED)
            .values(status=TreeStatus.QUEUED, order_id=None, ordered_at=None, rejections=col(Tree.rejections) + 1)
            .returning(col(Tree.id), col(Tree.user_id), col(Tree.rejections))
            .execution_options(synchronize_session=False)
        )
    ).first()
    if row is None:
        raise Conflict("This tree is not ordered in this order.", problem="tree-not-in-order")
    await add_feed_item(session, row.user_id, "tree.rejected", tree_id=row.id, now=now)
    await notifications.notify(
        session, row.user_id, "tree.rejected", f"{row.id}:{row.rejections}", {"tree_id": row.id}, now=now
    )
    refunded = False
    if row.rejections >= settings.max_rejections or project_status == "closed":
        refunded = await trees.refund(session, row.id, now)
    session.add(Rejection(tree_id=row.id, order_id=order.id, reason=item.reason, refunded=refunded, created_at=now))
    await session.flush()
    return ItemResult(tree_id=row.id, status="rejected", refunded=refunded)


async def record_rejections(
    session: AsyncSession,
    ngo_id: str,
    order_id: str,
    items: list[RejectionIn],
    settings: Settings,
    now: datetime,
) -> list[ItemResult]:
    order = await get_order(session, ngo_id, order_id, for_update=True)
    project_status = (
        await session.execute(select(col(Project.status)).where(col(Project.id) == order.project_id))
    ).scalar_one()
    return await _judge_each(
        session, order, items, lambda item: _reject_one(session, order, project_status, item, settings, now), now
    )

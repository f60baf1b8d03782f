"""NGOs and their keys, planting orders, photos, plantings and rejections (SPEC 8.3, 9, 6).

Authorization lives in the queries: every NGO read and write is filtered by the NGO's id, so
another NGO's order or photo is simply not found (404). Each planting or rejection in a request
is judged in a SAVEPOINT of its own, so one refused tree never undoes another's acceptance.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog.models import Project, Species
from server.certificates import service as certificates
from server.crypto import SecretBox, hash_api_key, new_secret
from server.errors import Conflict, DomainError, NotFound, Unprocessable, problem_body
from server.feed.service import add_feed_item
from server.pagination import newest_first, page_of
from server.planting.models import (
    Ngo,
    NgoKey,
    OrderStatus,
    Photo,
    PhotoHashBand,
    Planting,
    PlantingOrder,
    Rejection,
)
from server.planting.photos import ProcessedPhoto, bands, hamming
from server.planting.schemas import (
    ItemResult,
    NgoCreate,
    NgoKeyCreated,
    NgoKeyPublic,
    NgoPublic,
    NgoUpdate,
    OrderProject,
    OrderPublic,
    OrderSummary,
    OrderTree,
    PhotoPublic,
    PlantingIn,
    RejectionIn,
)
from server.settings import Settings
from server.trees import service as trees
from server.trees.models import Tree, TreeStatus
from server.webhooks import service as webhooks
from server.webhooks.urls import check_webhook_url

EARTH_RADIUS_KM = 6371.0088


# --- NGOs and keys (operator) ----------------------------------------------------------------


def _new_key_id() -> str:
    return f"nk_{secrets.token_hex(8)}"


async def _add_key(session: AsyncSession, ngo_id: str, now: datetime) -> NgoKeyCreated:
    api_key = new_secret("ngo")
    key = NgoKey(key_id=_new_key_id(), ngo_id=ngo_id, key_hash=hash_api_key(api_key), created_at=now)
    session.add(key)
    await session.flush()
    return NgoKeyCreated(key_id=key.key_id, api_key=api_key)


def _set_webhook(ngo: Ngo, url: str, settings: Settings) -> str:
    """Check and set a webhook URL with a new signing secret; returns the secret (shown once)."""
    ngo.webhook_url = check_webhook_url(url, allow_private=settings.webhook_allow_private)
    secret = new_secret("whsec")
    ngo.webhook_secret = SecretBox(settings).encrypt(secret)
    return secret


async def _name_free(session: AsyncSession, name: str, ngo_id: str | None = None) -> None:
    query = select(Ngo.id).where(func.lower(Ngo.name) == name.lower())
    if ngo_id is not None:
        query = query.where(Ngo.id != ngo_id)
    if (await session.execute(query)).first():
        raise Conflict("An NGO with this name exists.", problem="ngo-name-taken")


async def create_ngo(
    session: AsyncSession, data: NgoCreate, settings: Settings, now: datetime
) -> tuple[Ngo, NgoKeyCreated, str | None]:
    await _name_free(session, data.name)
    ngo = Ngo(name=data.name, contact_email=data.contact_email, created_at=now)
    secret = _set_webhook(ngo, data.webhook_url, settings) if data.webhook_url is not None else None
    session.add(ngo)
    await session.flush()
    key = await _add_key(session, ngo.id, now)
    return ngo, key, secret


async def get_ngo(session: AsyncSession, ngo_id: str) -> Ngo:
    ngo = await session.get(Ngo, ngo_id)
    if ngo is None:
        raise NotFound("No such NGO.", problem="ngo-not-found")
    return ngo


def ngo_public(ngo: Ngo, webhook_secret: str | None = None) -> NgoPublic:
    return NgoPublic(
        id=ngo.id,
        name=ngo.name,
        contact_email=ngo.contact_email,
        webhook_url=ngo.webhook_url,
        created_at=ngo.created_at,
        webhook_secret=webhook_secret,
    )


async def update_ngo(session: AsyncSession, ngo_id: str, data: NgoUpdate, settings: Settings) -> NgoPublic:
    ngo = await get_ngo(session, ngo_id)
    if data.name is not None:
        await _name_free(session, data.name, ngo.id)
        ngo.name = data.name
    if data.contact_email is not None:
        ngo.contact_email = data.contact_email
    secret = _set_webhook(ngo, data.webhook_url, settings) if data.webhook_url is not None else None
    session.add(ngo)
    await session.flush()
    return ngo_public(ngo, secret)


async def list_keys(session: AsyncSession, ngo_id: str) -> list[NgoKeyPublic]:
    await get_ngo(session, ngo_id)
    rows = await session.execute(select(NgoKey).where(NgoKey.ngo_id == ngo_id).order_by(NgoKey.created_at))
    return [NgoKeyPublic(key_id=k.key_id, created_at=k.created_at, revoked_at=k.revoked_at) for k in rows.scalars()]


async def create_key(session: AsyncSession, ngo_id: str, now: datetime) -> NgoKeyCreated:
    await get_ngo(session, ngo_id)
    return await _add_key(session, ngo_id, now)


async def revoke_key(session: AsyncSession, ngo_id: str, key_id: str, now: datetime) -> None:
    """Revoke a key (repeating it changes nothing); an unknown key or another NGO's -> 404."""
    key = (
        await session.execute(select(NgoKey).where(NgoKey.key_id == key_id, NgoKey.ngo_id == ngo_id))
    ).scalar_one_or_none()
    if key is None:
        raise NotFound("No such key for this NGO.", problem="ngo-key-not-found")
    if key.revoked_at is None:
        key.revoked_at = now
        session.add(key)
        await session.flush()


async def authenticate(session: AsyncSession, api_key: str) -> Ngo | None:
    """The NGO owning an unrevoked key, or None."""
    if not api_key.startswith("ngo_") or len(api_key) > 200:
        return None
    return (
        await session.execute(
            select(Ngo)
            .join(NgoKey, NgoKey.ngo_id == Ngo.id)
            .where(NgoKey.key_hash == hash_api_key(api_key), NgoKey.revoked_at.is_(None))
        )
    ).scalar_one_or_none()


# --- orders ----------------------------------------------------------------------------------


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
        tree_count=order.tree_count,
    )


async def order_public(session: AsyncSession, order: PlantingOrder) -> OrderPublic:
    """The single view: the order with its trees (at most one order's worth)."""
    rows = await session.execute(
        select(Tree.id, Species.common_name, Tree.status)
        .join(Species, Species.id == Tree.species_id)
        .where(Tree.order_id == order.id)
        .order_by(Tree.queued_at, Tree.id)
    )
    trees = [OrderTree(id=row.id, species=row.common_name, status=row.status) for row in rows]
    return OrderPublic(**(await order_summary(session, order)).model_dump(), trees=trees)


async def list_orders(
    session: AsyncSession, *, ngo_id: str | None, status: str | None, cursor: str | None, limit: int
) -> tuple[list[OrderSummary], str | None]:
    query: Select[Any] = select(PlantingOrder)
    if ngo_id is not None:
        query = query.where(PlantingOrder.ngo_id == ngo_id)
    if status is not None:
        query = query.where(PlantingOrder.status == status)
    rows = list((await session.execute(newest_first(query, PlantingOrder.id, cursor, limit))).scalars())
    orders, next_cursor = page_of(rows, limit)
    return [await order_summary(session, order) for order in orders], next_cursor


async def get_order(session: AsyncSession, ngo_id: str, order_id: str, *, for_update: bool = False) -> PlantingOrder:
    query = select(PlantingOrder).where(PlantingOrder.id == order_id, PlantingOrder.ngo_id == ngo_id)
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
    url = webhook_url or (await session.execute(select(Ngo.webhook_url).where(Ngo.id == ngo_id))).scalar()
    if url:
        await webhooks.enqueue(session, target_kind="ngo", target_id=ngo_id, event_type=event_type, data=data, now=now)


async def _finish_if_done(session: AsyncSession, order: PlantingOrder, now: datetime) -> None:
    """An order is completed when none of its trees is still ordered (SPEC 8.3)."""
    count = (
        await session.execute(select(func.count()).select_from(Tree).where(Tree.order_id == order.id))
    ).scalar_one()
    still = (
        await session.execute(
            select(Tree.id).where(Tree.order_id == order.id, Tree.status == TreeStatus.ORDERED).limit(1)
        )
    ).first()
    order.tree_count = int(count)
    if still is None and order.status != OrderStatus.COMPLETED:
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


# --- photos ----------------------------------------------------------------------------------


async def _near_duplicate_used(
    session: AsyncSession, phash: str, max_distance: int, *, except_tree: str | None = None
) -> str | None:
    """The id of a photo used for another tree whose hash is within `max_distance`, if any."""
    band_match = None
    for band, value in bands(phash):
        clause = (PhotoHashBand.band == band) & (PhotoHashBand.value == value)
        band_match = clause if band_match is None else band_match | clause
    rows = await session.execute(
        select(Photo.id, Photo.phash, Photo.tree_id)
        .join(PhotoHashBand, PhotoHashBand.photo_id == Photo.id)
        .where(band_match, Photo.tree_id.is_not(None))
        .distinct()
    )
    for row in rows:
        if row.tree_id != except_tree and hamming(row.phash, phash) <= max_distance:
            return row.id
    return None


async def save_photo(
    session: AsyncSession, ngo_id: str, photo: ProcessedPhoto, settings: Settings, now: datetime
) -> PhotoPublic:
    if await _near_duplicate_used(session, photo.phash, settings.photo_hash_max_distance):
        raise Conflict("This photo is (nearly) the same as one already used for another tree.", problem="photo-reused")
    row = Photo(
        ngo_id=ngo_id,
        sha256=photo.sha256,
        width=photo.width,
        height=photo.height,
        phash=photo.phash,
        thumbnail=photo.thumbnail,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return PhotoPublic(photo_id=row.id, sha256=row.sha256, width=row.width, height=row.height)


async def thumbnail(session: AsyncSession, photo_id: str) -> bytes:
    data = (await session.execute(select(Photo.thumbnail).where(Photo.id == photo_id))).scalar()
    if data is None:
        raise NotFound("No such photo.", problem="photo-not-found")
    return data


# --- plantings and rejections ----------------------------------------------------------------


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
        await session.execute(select(Tree).where(Tree.id == item.tree_id).execution_options(populate_existing=True))
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
            .where(Photo.id == item.photo_id, Photo.ngo_id == order.ngo_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if photo is None:
        raise Unprocessable("Unknown photo: upload it with POST /v1/ngo/photos first.", problem="unknown-photo")
    if photo.tree_id is not None and photo.tree_id != tree.id:
        raise Conflict("This photo was already used for another tree.", problem="photo-reused")
    if await _near_duplicate_used(session, photo.phash, settings.photo_hash_max_distance, except_tree=tree.id):
        raise Conflict("This photo is (nearly) the same as one used for another tree.", problem="photo-reused")

    claimed = await session.execute(
        update(Photo)
        .where(Photo.id == photo.id, Photo.tree_id.is_(None))
        .values(tree_id=tree.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise Conflict("This photo was already used for another tree.", problem="photo-reused")
    planted = await session.execute(
        update(Tree)
        .where(Tree.id == tree.id, Tree.order_id == order.id, Tree.status == TreeStatus.ORDERED)
        .values(status=TreeStatus.PLANTED, planted_at=item.planted_at)
        .execution_options(synchronize_session=False)
    )
    if planted.rowcount != 1:
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
        .where(Tree.id == tree.id)
        .values(certificate_number=number)
        .execution_options(synchronize_session=False)
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
            .where(Tree.id == item.tree_id, Tree.order_id == order.id, Tree.status == TreeStatus.ORDERED)
            .values(status=TreeStatus.QUEUED, order_id=None, ordered_at=None, rejections=Tree.rejections + 1)
            .returning(Tree.id, Tree.user_id, Tree.rejections)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if row is None:
        raise Conflict("This tree is not ordered in this order.", problem="tree-not-in-order")
    await add_feed_item(session, row.user_id, "tree.rejected", tree_id=row.id, now=now)
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
    project_status = (await session.execute(select(Project.status).where(Project.id == order.project_id))).scalar_one()
    return await _judge_each(
        session, order, items, lambda item: _reject_one(session, order, project_status, item, settings, now), now
    )


async def get_any_order(session: AsyncSession, order_id: str) -> PlantingOrder:
    """The operator's view: any NGO's order."""
    order = await session.get(PlantingOrder, order_id)
    if order is None:
        raise NotFound("No such order.", problem="order-not-found")
    return order

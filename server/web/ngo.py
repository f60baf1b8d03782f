"""The NGO portal, `/ngo/` (SPEC 12.4): orders, photos, plantings, rejections, projects, webhook
deliveries and API keys, for the signed-in members of one NGO.

Every page calls the services the NGO API calls (server/planting, server/webhooks), scoped to the
member's NGO: another NGO's order, photo, delivery or key is not found (the 404 page). Forms that
change data carry the session's CSRF token (checked before anything else, uploads included) and
answer 303 to a page when they succeed; a form with bad input is shown again, 422, with the
problems next to their fields and the input kept, and nothing changed. The batch forms (photos,
plantings by rows or CSV) answer with a page of results, one per file or row: those results are
the point of the form, and sending it again is safe (a confirmed planting is then `unchanged`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.params import BodyKwarg, FromPath, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import TYPE_PREFIX, BadRequest
from server.forms import BODY_LIMIT
from server.memory import MemoryBudget
from server.pagination import Cursor
from server.planting import ngos, orders, photo_store, planting_rows, plantings
from server.planting.models import OrderStatus
from server.planting.planting_rows import MAX_CSV_BYTES
from server.planting.schemas import RejectionIn
from server.settings import Settings
from server.validation import ResourceId
from server.web.ngo_pages import (
    PHOTOS_PER_FORM,
    REASON_MAX,
    ROW_FORM_TREES,
    form_text,
    judge_photos,
    member_ngo_id,
    order_context,
    photos_context,
    planted_page,
    plantings_context,
    upload_files,
)
from server.web.session import (
    CSRF_FIELD,
    PortalMember,
    check_csrf,
    ngo_member,
    portal_page,
    read_portal_form,
    require_owner,
)
from server.webhooks import service as webhooks

PAGE_SIZE = 25
TREE_ID_MAX = 64
_FORM_TEXT = 64 * 1024


def photo_form_limit(settings: Settings) -> int:
    return PHOTOS_PER_FORM * (settings.photo_max_bytes + 16 * 1024) + _FORM_TEXT


CSV_FORM_LIMIT = MAX_CSV_BYTES + _FORM_TEXT

OrderStatusFilter = Annotated[str | None, QueryParameter(max_length=20)]
"""One of OrderStatus (checked in the handler, so a status added to the enum is a filter at once)."""
DeliveryStatusFilter = Annotated[
    Literal["pending", "delivered", "failed"] | None, QueryParameter(description="pending|delivered|failed")
]
Done = Annotated[str | None, QueryParameter(max_length=20)]
"""What the last form did (`?done=` after a 303): the page words it, only from a fixed list."""


def _multipart(parts: int) -> Any:
    return BodyKwarg(media_type=RequestEncodingType.MULTI_PART, multipart_form_part_limit=parts)


PhotoForm = Annotated[dict[str, Any], _multipart(PHOTOS_PER_FORM + 10)]
RowForm = Annotated[dict[str, Any], _multipart(4 * ROW_FORM_TREES + ROW_FORM_TREES + 10)]
CsvForm = Annotated[dict[str, Any], _multipart(10)]


def _order_path(order_id: str, tail: str = "") -> str:
    return f"/ngo/orders/{order_id}{tail}"


def _reason_error(reason: str) -> str | None:
    """The rejection reason's problem, as RejectionIn would find it (words in the template)."""
    if not reason.strip():
        return "required"
    if len(reason) > REASON_MAX:
        return "too-long"
    try:
        RejectionIn.model_validate({"tree_id": "x", "reason": reason})
    except ValueError:
        return "characters"
    return None


class NgoPortalController(Controller):
    path = "/ngo"
    include_in_schema = False
    dependencies = {"member": Provide(ngo_member)}

    # Orders

    @get("/")
    async def orders(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        status: OrderStatusFilter = None,
        cursor: Cursor = None,
    ) -> Template:
        ngo_id = member_ngo_id(member)
        statuses = [s.value for s in OrderStatus]
        if status is not None and status not in statuses:
            raise BadRequest("Unknown order status.", problem="validation")
        items, next_cursor = await orders.ngo_orders_overdue_first(
            db_session, ngo_id, status=status, cursor=cursor, limit=PAGE_SIZE
        )
        counts = await orders.ngo_order_counts(db_session, ngo_id)
        context = {
            "orders": items,
            "counts": counts,
            "total": sum(counts.get(name, 0) for name in statuses),
            "statuses": statuses,
            "status": status,
            "next_cursor": next_cursor,
        }
        return portal_page(request, member, "ngo/orders.html", context)

    @get("/orders/{order_id:str}")
    async def order(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        order_id: FromPath[ResourceId],
        done: Done = None,
    ) -> Template:
        context = await order_context(request, db_session, member, order_id)
        return portal_page(request, member, "ngo/order.html", {**context, "done": done})

    @post("/orders/{order_id:str}/acknowledge", status_code=303)
    async def acknowledge(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        now: NamedDependency[datetime],
        order_id: FromPath[ResourceId],
    ) -> Redirect:
        await read_portal_form(request, member, ())
        order = await orders.get_order(db_session, member_ngo_id(member), order_id, for_update=True)
        await orders.acknowledge(db_session, order, now)
        return Redirect(path=_order_path(order.id, "?done=acknowledged"), status_code=303)

    @post("/orders/{order_id:str}/rejections", status_code=303)
    async def reject(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        now: NamedDependency[datetime],
        order_id: FromPath[ResourceId],
    ) -> Response[Any]:
        form = await read_portal_form(request, member, ("tree_id", "reason"))
        ngo_id = member_ngo_id(member)
        await orders.get_order(db_session, ngo_id, order_id)
        errors: dict[str, str] = {}
        if not form["tree_id"]:
            errors["tree_id"] = "choose-tree"
        elif len(form["tree_id"]) > TREE_ID_MAX:  # no tree has such an id
            errors["tree_id"] = "tree-not-in-order"
        if reason_error := _reason_error(form["reason"]):
            errors["reason"] = reason_error
        status = 422
        if not errors:
            item = RejectionIn(tree_id=form["tree_id"], reason=form["reason"])
            (result,) = await plantings.record_rejections(db_session, ngo_id, order_id, [item], settings, now)
            if result.error is None:
                done = "refunded" if result.refunded else "rejected"
                return Redirect(path=_order_path(order_id, f"?done={done}"), status_code=303)
            await db_session.rollback()  # a refused rejection changes nothing, not even the status
            errors["tree_id"] = str(result.error["type"]).removeprefix(TYPE_PREFIX)
            status = result.error["status"]
        context = await order_context(request, db_session, member, order_id)
        context |= {"done": None, "rejection": form, "rejection_errors": errors}
        return portal_page(request, member, "ngo/order.html", context, status_code=status)

    # Photos

    @get("/orders/{order_id:str}/photos")
    async def photos(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        order_id: FromPath[ResourceId],
    ) -> Template:
        context = await photos_context(db_session, settings, member, order_id)
        return portal_page(request, member, "ngo/photos.html", context)

    @post("/orders/{order_id:str}/photos", status_code=200, opt={BODY_LIMIT: photo_form_limit})
    async def upload_photos(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        photo_memory: NamedDependency[MemoryBudget],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        now: NamedDependency[datetime],
        order_id: FromPath[ResourceId],
        data: PhotoForm,
    ) -> Template:
        """Every file judged as `POST /v1/ngo/photos` judges one, each on its own."""
        check_csrf(member, form_text(data, CSRF_FIELD))
        ngo_id = member_ngo_id(member)
        await orders.get_order(db_session, ngo_id, order_id)
        # Decode with no transaction open: on SQLite an open writing one holds the database's
        # write lock, and decoding a form of photos takes a while.
        await db_session.rollback()
        files = upload_files(data.get("files"))
        error = "choose-photos" if not files else "too-many-photos" if len(files) > PHOTOS_PER_FORM else None
        results: list[dict[str, Any]] = []
        if error is None:
            results = await judge_photos(db_session, settings, photo_memory, ngo_id, order_id, files, now)
        accepted = any(result["reason"] is None for result in results)
        context = await photos_context(db_session, settings, member, order_id)
        context |= {"results": results, "upload_error": error}
        return portal_page(request, member, "ngo/photos.html", context, status_code=200 if accepted else 422)

    @get("/photos/{photo_id:str}/thumbnail.jpg", media_type="image/jpeg")
    async def thumbnail(
        self,
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        photo_id: FromPath[ResourceId],
    ) -> Response[bytes]:
        """The NGO's own photos only (the public thumbnail URL is the API's)."""
        data = await photo_store.thumbnail(db_session, photo_id, ngo_id=member_ngo_id(member))
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    # Plantings

    @get("/orders/{order_id:str}/plantings")
    async def plantings_form(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        order_id: FromPath[ResourceId],
    ) -> Template:
        context = await plantings_context(request, db_session, member, order_id)
        return portal_page(request, member, "ngo/plantings.html", context)

    @post("/orders/{order_id:str}/plantings", status_code=200)
    async def plant_rows(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        now: NamedDependency[datetime],
        order_id: FromPath[ResourceId],
        data: RowForm,
    ) -> Template:
        """The page's form: one row per open tree; the rows left empty are not sent for judging."""
        return await planted_page(request, settings, db_session, member, now, order_id, data, "rows")

    @post("/orders/{order_id:str}/plantings/csv", status_code=200, request_max_body_size=CSV_FORM_LIMIT)
    async def plant_csv(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        now: NamedDependency[datetime],
        order_id: FromPath[ResourceId],
        data: CsvForm,
    ) -> Template:
        """A CSV of `tree_id, planted_at, lat, lon, photo`: every line judged, with a result each."""
        return await planted_page(request, settings, db_session, member, now, order_id, data, "csv")

    @get("/orders/{order_id:str}/template.csv", media_type="text/csv")
    async def template_csv(
        self,
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        order_id: FromPath[ResourceId],
    ) -> Response[str]:
        """The order's open trees, one row each, the other columns to fill in."""
        order = await orders.get_order(db_session, member_ngo_id(member), order_id)
        content = planting_rows.template_csv(await orders.open_tree_ids(db_session, order))
        return Response(
            content,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="order-{order.id}-plantings.csv"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    # Projects and webhooks

    @get("/projects")
    async def projects(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        now: NamedDependency[datetime],
    ) -> Template:
        projects = await ngos.ngo_projects(db_session, member_ngo_id(member), now)
        return portal_page(request, member, "ngo/projects.html", {"projects": projects, "today": now.date()})

    @get("/webhooks")
    async def deliveries(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        status: DeliveryStatusFilter = None,
        cursor: Cursor = None,
        done: Done = None,
    ) -> Template:
        items, next_cursor = await webhooks.deliveries_page(
            db_session, status, cursor, PAGE_SIZE, receiver=("ngo", member_ngo_id(member))
        )
        context = {"deliveries": items, "status": status, "next_cursor": next_cursor, "done": done}
        return portal_page(request, member, "ngo/webhooks.html", context)

    @post("/webhooks/{delivery_id:str}/send-again", status_code=303)
    async def send_again(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        now: NamedDependency[datetime],
        delivery_id: FromPath[ResourceId],
    ) -> Redirect:
        await read_portal_form(request, member, ())
        await webhooks.send_again(db_session, delivery_id, now, receiver=("ngo", member_ngo_id(member)))
        return Redirect(path="/ngo/webhooks?done=sent", status_code=303)

    # API keys: the owners'

    @get("/keys")
    async def keys(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        done: Done = None,
    ) -> Template:
        require_owner(member)
        keys = await ngos.list_keys(db_session, member_ngo_id(member))
        return portal_page(request, member, "ngo/keys.html", {"keys": keys, "created": None, "done": done})

    @post("/keys", status_code=201)
    async def create_key(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        now: NamedDependency[datetime],
    ) -> Template:
        """The new key is on this page only, once (only its hash is kept): no redirect here."""
        await read_portal_form(request, member, ())
        require_owner(member)
        ngo_id = member_ngo_id(member)
        created = await ngos.create_key(db_session, ngo_id, now)
        keys = await ngos.list_keys(db_session, ngo_id)
        context = {"keys": keys, "created": created, "done": None}
        return portal_page(request, member, "ngo/keys.html", context, status_code=201)

    @post("/keys/{key_id:str}/revoke", status_code=303)
    async def revoke_key(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        now: NamedDependency[datetime],
        key_id: FromPath[ResourceId],
    ) -> Redirect:
        await read_portal_form(request, member, ())
        require_owner(member)
        await ngos.revoke_key(db_session, member_ngo_id(member), key_id, now)
        return Redirect(path="/ngo/keys?done=revoked", status_code=303)

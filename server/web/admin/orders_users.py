"""`/admin/orders` (overdue first, cancel in two steps) and `/admin/users` (find by handle,
suspend and unsuspend)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import DomainError, NotFound
from server.pagination import Cursor
from server.planting import orders
from server.planting.models import OPEN_ORDER_STATUSES, OrderStatus
from server.planting.schemas import CancelRequest
from server.users import service as users
from server.users.schemas import HANDLE_PATTERN, SuspendRequest
from server.validation import ResourceId
from server.web.admin.common import (
    PAGE_SIZE,
    AnyRequest,
    ConsolePage,
    Errors,
    console_page,
    ngo_names,
    refused,
    see,
    validated,
)
from server.web.session import PortalMember, read_portal_form

OVERDUE_SHOWN = 50
IdQuery = Annotated[str | None, QueryParameter(max_length=64, pattern=r"^[A-Za-z0-9_-]*$")]
OrderStatusQuery = Annotated[Literal["issued", "acknowledged", "completed", "cancelled"] | None, QueryParameter()]
HandleQuery = Annotated[str | None, QueryParameter(max_length=64)]


class ConsoleOrders(ConsolePage):
    path = "/admin/orders"

    @get("/")
    async def list_orders(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        status: FromQuery[OrderStatusQuery] = None,
        ngo: FromQuery[IdQuery] = None,
        cursor: Cursor = None,
    ) -> Template:
        """Overdue orders first (oldest first), then the orders of a status, newest first, a page at a time."""
        listed, next_cursor = await orders.list_orders(
            db_session, ngo_id=ngo or None, status=status, cursor=cursor, limit=PAGE_SIZE
        )
        context = {
            "overdue": await orders.overdue_orders(db_session, OVERDUE_SHOWN),
            "orders": listed,
            "next_cursor": next_cursor,
            "counts": await orders.order_counts(db_session),
            "statuses": [s.value for s in OrderStatus],
            "status": status or "",
            "ngo": ngo or "",
            "ngo_names": await ngo_names(db_session),
        }
        return console_page(request, member, "orders.html", "orders", context)

    @get("/{order_id:str}")
    async def read(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        order_id: FromPath[ResourceId],
    ) -> Template:
        return await self._order_page(request, member, db_session, order_id)

    @post("/{order_id:str}/cancel", status_code=303)
    async def cancel(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        order_id: FromPath[ResourceId],
    ) -> Redirect | Template:
        """Two steps: the reason, then a confirmation that says what will happen; then the same
        service as `POST /v1/admin/orders/{id}/cancel`."""
        form = await read_portal_form(request, member, ("reason", "confirm"))
        form["reason"] = form["reason"].strip()
        data, errors = validated(CancelRequest, {"reason": form["reason"]}, form)
        if data is None:
            return await self._order_page(request, member, db_session, order_id, form, errors, 422)
        if form["confirm"] != "yes":
            order = await orders.order_public(db_session, await orders.get_any_order(db_session, order_id))
            if order.status not in OPEN_ORDER_STATUSES:
                errors = {"reason": "not-cancellable"}
                return await self._order_page(request, member, db_session, order_id, form, errors, 409)
            context = {"order": order, "form": form, "ngo_names": await ngo_names(db_session)}
            return console_page(request, member, "order_cancel.html", "orders", context)
        try:
            await orders.cancel_order(db_session, order_id, data.reason, now)
        except DomainError as refusal:
            errors = await refused(db_session, refusal)
            return await self._order_page(request, member, db_session, order_id, form, errors, refusal.status)
        return see(f"/admin/orders/{order_id}?done=cancelled")

    async def _order_page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        order_id: str,
        form: dict[str, str] | None = None,
        errors: Errors | None = None,
        status_code: int = 200,
    ) -> Template:
        order = await orders.order_public(session, await orders.get_any_order(session, order_id))
        context = {
            "order": order,
            "cancellable": order.status in OPEN_ORDER_STATUSES,
            "ngo_names": await ngo_names(session),
            "form": form or {},
            "errors": errors or {},
        }
        return console_page(request, member, "order.html", "orders", context, status_code=status_code)


class ConsoleUsers(ConsolePage):
    path = "/admin/users"

    @get("/")
    async def find(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        handle: FromQuery[HandleQuery] = None,
    ) -> Template:
        """Find a user by handle (a GET form), as `GET /v1/admin/users?handle=`."""
        return await self._page(request, member, db_session, (handle or "").strip())

    @post("/{user_id:str}/suspend", status_code=303)
    async def suspend(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        user_id: FromPath[ResourceId],
    ) -> Redirect | Template:
        """As `POST /v1/admin/users/{id}/suspend`: the reason is required."""
        form = await read_portal_form(request, member, ("reason", "handle"))
        form["reason"] = form["reason"].strip()
        data, errors = validated(SuspendRequest, {"reason": form["reason"]}, form)
        if data is None:
            return await self._page(request, member, db_session, form["handle"], form, errors, user_id)
        user = await users.set_suspension(db_session, user_id, data.reason, now)
        return see("/admin/users?" + urlencode({"handle": user.handle or "", "done": "suspended"}))

    @post("/{user_id:str}/unsuspend", status_code=303)
    async def unsuspend(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        user_id: FromPath[ResourceId],
    ) -> Redirect:
        await read_portal_form(request, member, ())
        user = await users.set_suspension(db_session, user_id, None, now)
        return see("/admin/users?" + urlencode({"handle": user.handle or "", "done": "unsuspended"}))

    async def _page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        handle: str,
        form: dict[str, str] | None = None,
        errors: Errors | None = None,
        user_id: str | None = None,
    ) -> Template:
        """The search form, and the user found (404 with the problem next to the field if none);
        `user_id` is the user a refused form was for, which the handle must still name."""
        user, status_code = None, 422 if errors else 200
        if handle:
            try:
                if not re.fullmatch(HANDLE_PATTERN, handle):
                    raise NotFound("No user has that handle.", problem="user-not-found")
                user = users.to_admin(await users.find_by_handle(session, handle))
            except NotFound:
                if user_id is not None:
                    raise
                errors, status_code = {"handle": "unknown"}, 404
        if user_id is not None and (user is None or user.id != user_id):
            raise NotFound("No such user.", problem="user-not-found")
        context = {"handle": handle, "user": user, "form": form or {}, "errors": errors or {}}
        return console_page(request, member, "users.html", "users", context, status_code=status_code)

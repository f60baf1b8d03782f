"""The operator console (SPEC 12.4): `/admin/` pages for the operators' members.

Every page is for a signed-in operator (`operator_member`: no session -> `/login`, another
portal's member -> the 403 page). Pages read and change data only through the services the JSON
API calls, so every rule, ledger entry, event and webhook is the API's. A form is read with
`read_portal_form` (its CSRF token checked before anything else), a change answers 303 to the
page that shows it (Post/Redirect/Get), and a form with bad input comes back with each problem
next to its field and the input kept (422, or the refusing rule's status).

Secrets a change makes (API keys, signing secrets, webhook secrets) are shown once without
leaving PRG: the redirect carries them in a cookie that lives 5 minutes, encrypted with a key
derived from CANOPY_SECRET_KEY and bound to the member and to the one page that shows them,
which deletes it (docs/decisions.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlencode

from cryptography.fernet import Fernet, InvalidToken
from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from server.catalog import service as catalog
from server.catalog.models import ActionType
from server.catalog.schemas import ProjectCreate, ProjectUpdate, SpeciesCreate
from server.clock import Clock
from server.db import Database
from server.errors import DomainError, NotFound
from server.ledger import service as ledger
from server.mail import service as mail
from server.ops import console, job_runs
from server.pagination import Cursor
from server.partners import onboarding
from server.partners.schemas import PartnerCreate, PartnerUpdate
from server.planting import ngos, orders
from server.planting.models import OPEN_ORDER_STATUSES, OrderStatus
from server.planting.schemas import CancelRequest, NgoCreate, NgoUpdate
from server.scheduler import job_intervals, run_job
from server.settings import Settings
from server.users import service as users
from server.users.schemas import HANDLE_PATTERN, SuspendRequest
from server.validation import ResourceId
from server.web.session import PortalMember, operator_member, portal_page, read_portal_form
from server.webhooks import service as webhooks

PAGE_SIZE = 50
OVERDUE_SHOWN = 50
SECRETS_COOKIE = "canopy_console_secrets"
SECRETS_TTL_S = 300

Errors = dict[str, str]
"""A form's problems: field name -> a problem code, worded (and translated) by the template."""

M = TypeVar("M", bound=SQLModel)
AnyRequest = Request[Any, Any, Any]
IdQuery = Annotated[str | None, QueryParameter(max_length=64, pattern=r"^[A-Za-z0-9_-]*$")]
CountQuery = Annotated[int | None, QueryParameter(ge=0, le=10**9)]
OrderStatusQuery = Annotated[Literal["issued", "acknowledged", "completed", "cancelled"] | None, QueryParameter()]
DeliveryStatusQuery = Annotated[Literal["pending", "delivered", "failed"], QueryParameter()]
HandleQuery = Annotated[str | None, QueryParameter(max_length=64)]

# A service's refusal that belongs to one field of the form: (field, problem code).
PROBLEM_FIELDS: dict[str, tuple[str, str]] = {
    "ngo-name-taken": ("name", "taken"),
    "partner-name-taken": ("name", "taken"),
    "project-name-taken": ("name", "taken"),
    "species-name-taken": ("common_name", "taken"),
    "webhook-url": ("webhook_url", "webhook-url"),
    "unknown-ngo": ("ngo_id", "invalid"),
    "unknown-species": ("species", "invalid"),
    "action-not-partner": ("allowed_actions", "invalid"),
    "order-not-cancellable": ("reason", "not-cancellable"),
}


# --- helpers ------------------------------------------------------------------------------------


def _page(
    request: AnyRequest,
    member: PortalMember,
    template: str,
    section: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Template:
    """A console page: its section lit in the navigation, no form problems unless given, and the
    `done` notice of the change that redirected here (the template words the known ones)."""
    base: dict[str, Any] = {"section": section, "errors": {}, "form": {}, "done": request.query_params.get("done", "")}
    return portal_page(request, member, f"admin/{template}", base | (context or {}), status_code=status_code)


def _see(path: str, cookies: list[Cookie] | None = None) -> Redirect:
    """The 303 of Post/Redirect/Get."""
    return Redirect(path=path, status_code=303, cookies=cookies or [])


def _number(text: str, *, integer: bool = False) -> Any:
    """A form's number, or the text as typed, which the request model then refuses under its field."""
    text = text.strip()
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def _seasons(text: str) -> Any:
    """Seasons typed one a line, `03-01 to 05-31` (any words or dashes between the two days)."""
    seasons = []
    for line in text.splitlines():
        if not line.strip():
            continue
        days = re.findall(r"\b\d{2}-\d{2}\b", line)
        if len(days) != 2:
            return text
        seasons.append({"start": days[0], "end": days[1]})
    return seasons


def _field_of(location: tuple[int | str, ...]) -> str:
    """The form field a request model's error location belongs to."""
    head = str(location[0]) if location else ""
    if head == "location" and len(location) > 1:
        return str(location[1])  # lat, lon
    if head == "common_names":
        return "common_name_zh"
    return head


def _validated(model: type[M], data: dict[str, Any], form: dict[str, str]) -> tuple[M | None, Errors]:
    """`data` checked by the JSON API's own request model; problems keyed by form field."""
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        errors: Errors = {}
        for error in exc.errors():
            field = _field_of(error["loc"])
            errors.setdefault(field, "required" if not form.get(field, "x").strip() else "invalid")
        return None, errors


async def _refused(session: AsyncSession, refusal: DomainError) -> Errors:
    """A service's refusal as a form problem (its changes rolled back); any other refusal is
    answered as an error page."""
    if refusal.problem not in PROBLEM_FIELDS:
        raise refusal
    await session.rollback()
    field, code = PROBLEM_FIELDS[refusal.problem]
    return {field: code}


def _fernet(settings: Settings) -> Fernet:
    digest = hashlib.sha256(b"canopy-console-secrets:" + settings.secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _show_once(settings: Settings, member: PortalMember, page: str, secrets: dict[str, str | None]) -> Redirect:
    """Redirect to `page`, which shows `secrets` once (see the module's docstring)."""
    payload = {"member": member.id, "page": page, "secrets": {k: v for k, v in secrets.items() if v}}
    cookie = Cookie(
        key=SECRETS_COOKIE,
        value=_fernet(settings).encrypt(json.dumps(payload).encode()).decode(),
        path="/admin",
        max_age=SECRETS_TTL_S,
        httponly=True,
        samesite="strict",
        secure=settings.env == "production",
    )
    return _see(page, [cookie])


def _take_secrets(request: AnyRequest, settings: Settings, member: PortalMember) -> dict[str, str]:
    """The secrets a redirect brought for this member and this page (none otherwise)."""
    token = request.cookies.get(SECRETS_COOKIE)
    if not token:
        return {}
    try:
        payload = json.loads(_fernet(settings).decrypt(token.encode(), ttl=SECRETS_TTL_S))
    except (InvalidToken, ValueError):
        return {}
    if payload.get("member") != member.id or payload.get("page") != request.url.path:
        return {}
    secrets: dict[str, str] = payload.get("secrets", {})
    return secrets


def _with_secrets(page: Template, request: AnyRequest) -> Template:
    """The page that shows secrets deletes their cookie: they are shown this once."""
    if request.cookies.get(SECRETS_COOKIE) is not None:
        page.delete_cookie(SECRETS_COOKIE, path="/admin")
    return page


class _ConsolePage(Controller):
    """Base of the console's controllers: operators only, left out of the OpenAPI document."""

    include_in_schema = False
    dependencies = {"member": Provide(operator_member)}


# --- health -------------------------------------------------------------------------------------


class ConsoleHealth(_ConsolePage):
    path = "/admin"

    @get("/")
    async def health(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Template:
        audit = await ledger.audit(db_session)  # first: it sets the snapshot its reads share
        context = {
            "audit": audit,
            "jobs": await job_runs.job_statuses(db_session, job_intervals(settings)),
            "queued": await console.queued_by_project(db_session),
            "order_counts": await orders.order_counts(db_session),
            "failures": await console.failure_counts(db_session),
        }
        return _page(request, member, "health.html", "health", context)

    @post("/jobs/{name:str}/run", status_code=303)
    async def run(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        database: NamedDependency[Database],
        clock: NamedDependency[Clock],
        settings: NamedDependency[Settings],
        name: FromPath[ResourceId],
    ) -> Redirect:
        """Run a job now, as `POST /v1/admin/jobs/{name}/run` does; its counts show in the table."""
        await read_portal_form(request, member, ())
        await run_job(name, database, clock, settings)
        return _see("/admin/?" + urlencode({"done": "ran"}) + "#jobs")


# --- orders -------------------------------------------------------------------------------------


async def _ngo_names(session: AsyncSession) -> dict[str, str]:
    return {ngo.id: ngo.name for ngo in await ngos.list_ngos(session)}


class ConsoleOrders(_ConsolePage):
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
            "ngo_names": await _ngo_names(db_session),
        }
        return _page(request, member, "orders.html", "orders", context)

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
        data, errors = _validated(CancelRequest, {"reason": form["reason"]}, form)
        if data is None:
            return await self._order_page(request, member, db_session, order_id, form, errors, 422)
        if form["confirm"] != "yes":
            order = await orders.order_public(db_session, await orders.get_any_order(db_session, order_id))
            if order.status not in OPEN_ORDER_STATUSES:
                errors = {"reason": "not-cancellable"}
                return await self._order_page(request, member, db_session, order_id, form, errors, 409)
            context = {"order": order, "form": form, "ngo_names": await _ngo_names(db_session)}
            return _page(request, member, "order_cancel.html", "orders", context)
        try:
            await orders.cancel_order(db_session, order_id, data.reason, now)
        except DomainError as refusal:
            errors = await _refused(db_session, refusal)
            return await self._order_page(request, member, db_session, order_id, form, errors, refusal.status)
        return _see(f"/admin/orders/{order_id}?done=cancelled")

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
            "ngo_names": await _ngo_names(session),
            "form": form or {},
            "errors": errors or {},
        }
        return _page(request, member, "order.html", "orders", context, status_code=status_code)


# --- NGOs ---------------------------------------------------------------------------------------


class ConsoleNgos(_ConsolePage):
    path = "/admin/ngos"
    FIELDS = ("name", "contact_email", "webhook_url")

    @get("/")
    async def list_ngos(
        self, request: AnyRequest, member: NamedDependency[PortalMember], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        return await self._list_page(request, member, db_session)

    @post("/", status_code=303)
    async def create(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        now: NamedDependency[datetime],
    ) -> Redirect | Template:
        """As `POST /v1/admin/ngos`: the NGO's first API key (and webhook secret) are shown once."""
        form = await read_portal_form(request, member, self.FIELDS)
        body = {"name": form["name"].strip(), "contact_email": form["contact_email"].strip()}
        if form["webhook_url"].strip():
            body["webhook_url"] = form["webhook_url"].strip()
        data, errors = _validated(NgoCreate, body, form)
        if data is not None:
            try:
                ngo, key, secret = await ngos.create_ngo(db_session, data, settings, now)
            except DomainError as refusal:
                errors = await _refused(db_session, refusal)
            else:
                secrets = {"key_id": key.key_id, "api_key": key.api_key, "webhook_secret": secret}
                return _show_once(settings, member, f"/admin/ngos/{ngo.id}", secrets)
        return await self._list_page(request, member, db_session, form, errors)

    @get("/{ngo_id:str}")
    async def read(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        ngo_id: FromPath[ResourceId],
    ) -> Template:
        secrets = _take_secrets(request, settings, member)
        page = await self._ngo_page(request, member, db_session, ngo_id, secrets=secrets)
        return _with_secrets(page, request)

    @post("/{ngo_id:str}", status_code=303)
    async def update(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        ngo_id: FromPath[ResourceId],
    ) -> Redirect | Template:
        """As `PATCH /v1/admin/ngos/{id}` with what changed; a new webhook URL shows its new secret once."""
        form = await read_portal_form(request, member, self.FIELDS)
        ngo = await ngos.get_ngo(db_session, ngo_id)
        changes = {
            name: form[name].strip()
            for name, current in (("name", ngo.name), ("contact_email", ngo.contact_email))
            if form[name].strip() != current
        }
        url = form["webhook_url"].strip()
        if url and url != ngo.webhook_url:
            changes["webhook_url"] = url
        data, errors = _validated(NgoUpdate, changes, form)
        if data is not None:
            try:
                updated = await ngos.update_ngo(db_session, ngo_id, data, settings)
            except DomainError as refusal:
                errors = await _refused(db_session, refusal)
            else:
                if updated.webhook_secret:
                    return _show_once(settings, member, request.url.path, {"webhook_secret": updated.webhook_secret})
                return _see(f"{request.url.path}?done=saved")
        return await self._ngo_page(request, member, db_session, ngo_id, form=form, errors=errors, status_code=422)

    @post("/{ngo_id:str}/keys", status_code=303)
    async def add_key(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        now: NamedDependency[datetime],
        ngo_id: FromPath[ResourceId],
    ) -> Redirect:
        await read_portal_form(request, member, ())
        key = await ngos.create_key(db_session, ngo_id, now)
        return _show_once(settings, member, f"/admin/ngos/{ngo_id}", {"key_id": key.key_id, "api_key": key.api_key})

    @post("/{ngo_id:str}/keys/{key_id:str}/revoke", status_code=303)
    async def revoke_key(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        ngo_id: FromPath[ResourceId],
        key_id: FromPath[ResourceId],
    ) -> Redirect:
        await read_portal_form(request, member, ())
        await ngos.revoke_key(db_session, ngo_id, key_id, now)
        return _see(f"/admin/ngos/{ngo_id}?done=revoked")

    async def _list_page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        form: dict[str, str] | None = None,
        errors: Errors | None = None,
    ) -> Template:
        context = {"ngos": await ngos.list_ngos(session), "form": form or {}, "errors": errors or {}}
        return _page(request, member, "ngos.html", "ngos", context, status_code=422 if errors else 200)

    async def _ngo_page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        ngo_id: str,
        *,
        form: dict[str, str] | None = None,
        errors: Errors | None = None,
        secrets: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        ngo = ngos.ngo_public(await ngos.get_ngo(session, ngo_id))
        context = {
            "ngo": ngo,
            "keys": await ngos.list_keys(session, ngo_id),
            "form": form
            or {"name": ngo.name, "contact_email": ngo.contact_email, "webhook_url": ngo.webhook_url or ""},
            "errors": errors or {},
            "secrets": secrets or {},
        }
        return _page(request, member, "ngo.html", "ngos", context, status_code=status_code)


# --- partners -----------------------------------------------------------------------------------


async def _partner_actions(session: AsyncSession) -> list[ActionType]:
    """The action types a partner may be allowed: partner-verified and not retired."""
    return [
        action
        for action in await catalog.list_all_actions(session)
        if action.verification == "partner" and action.retired_at is None
    ]


def _action_field(code: str) -> str:
    return f"action_{code}"


class ConsolePartners(_ConsolePage):
    path = "/admin/partners"
    FIELDS = ("name", "kind", "webhook_url")

    @get("/")
    async def list_partners(
        self, request: AnyRequest, member: NamedDependency[PortalMember], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        return await self._list_page(request, member, db_session)

    @post("/", status_code=303)
    async def create(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        now: NamedDependency[datetime],
    ) -> Redirect | Template:
        """As `POST /v1/admin/partners`: the first key's secret (and webhook secret) are shown once."""
        form, actions = await self._read(request, member, db_session)
        body: dict[str, Any] = {"name": form["name"].strip(), "kind": form["kind"], "allowed_actions": actions}
        if form["webhook_url"].strip():
            body["webhook_url"] = form["webhook_url"].strip()
        data, errors = _validated(PartnerCreate, body, form | {"allowed_actions": " ".join(actions)})
        if data is not None:
            try:
                partner, key_id, secret, webhook_secret = await onboarding.create_partner(
                    db_session, settings, data, now
                )
            except DomainError as refusal:
                errors = await _refused(db_session, refusal)
            else:
                secrets = {"key_id": key_id, "secret": secret, "webhook_secret": webhook_secret}
                return _show_once(settings, member, f"/admin/partners/{partner.id}", secrets)
        return await self._list_page(request, member, db_session, form, actions, errors)

    @get("/{partner_id:str}")
    async def read(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        partner_id: FromPath[ResourceId],
    ) -> Template:
        secrets = _take_secrets(request, settings, member)
        page = await self._partner_page(request, member, db_session, partner_id, secrets=secrets)
        return _with_secrets(page, request)

    @post("/{partner_id:str}", status_code=303)
    async def update(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        partner_id: FromPath[ResourceId],
    ) -> Redirect | Template:
        """As `PATCH /v1/admin/partners/{id}` with what changed; a new webhook URL shows its secret once."""
        partner = await onboarding.get_partner(db_session, partner_id)
        form, actions = await self._read(request, member, db_session)
        changes: dict[str, Any] = {}
        if form["name"].strip() != partner.name:
            changes["name"] = form["name"].strip()
        if form["kind"] != partner.kind:
            changes["kind"] = form["kind"]
        if set(actions) != set(partner.allowed_actions):
            changes["allowed_actions"] = actions
        url = form["webhook_url"].strip()
        if url and url != partner.webhook_url:
            changes["webhook_url"] = url
        data, errors = _validated(PartnerUpdate, changes, form | {"allowed_actions": " ".join(actions)})
        if data is not None:
            try:
                _, webhook_secret = await onboarding.update_partner(db_session, settings, partner_id, data)
            except DomainError as refusal:
                errors = await _refused(db_session, refusal)
            else:
                if webhook_secret:
                    return _show_once(settings, member, request.url.path, {"webhook_secret": webhook_secret})
                return _see(f"{request.url.path}?done=saved")
        return await self._partner_page(
            request, member, db_session, partner_id, form=form, actions=actions, errors=errors, status_code=422
        )

    @post("/{partner_id:str}/keys", status_code=303)
    async def add_key(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        now: NamedDependency[datetime],
        partner_id: FromPath[ResourceId],
    ) -> Redirect:
        await read_portal_form(request, member, ())
        await onboarding.get_partner(db_session, partner_id)
        key_id, secret = await onboarding.add_key(db_session, settings, partner_id, now)
        return _show_once(settings, member, f"/admin/partners/{partner_id}", {"key_id": key_id, "secret": secret})

    @post("/{partner_id:str}/keys/{key_id:str}/revoke", status_code=303)
    async def revoke_key(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        partner_id: FromPath[ResourceId],
        key_id: FromPath[ResourceId],
    ) -> Redirect:
        await read_portal_form(request, member, ())
        await onboarding.revoke_key(db_session, partner_id, key_id, now)
        return _see(f"/admin/partners/{partner_id}?done=revoked")

    async def _read(
        self, request: AnyRequest, member: PortalMember, session: AsyncSession
    ) -> tuple[dict[str, str], list[str]]:
        """The partner form: its fields, and the allowed actions ticked (one checkbox each)."""
        codes = [action.code for action in await _partner_actions(session)]
        form = await read_portal_form(request, member, self.FIELDS + tuple(_action_field(c) for c in codes))
        return form, [code for code in codes if form[_action_field(code)]]

    async def _list_page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        form: dict[str, str] | None = None,
        actions: list[str] | None = None,
        errors: Errors | None = None,
    ) -> Template:
        context = {
            "partners": await onboarding.list_partners(session),
            "actions": await _partner_actions(session),
            "checked": actions or [],
            "form": form or {"kind": "merchant"},
            "errors": errors or {},
        }
        return _page(request, member, "partners.html", "partners", context, status_code=422 if errors else 200)

    async def _partner_page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        partner_id: str,
        *,
        form: dict[str, str] | None = None,
        actions: list[str] | None = None,
        errors: Errors | None = None,
        secrets: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        partner = await onboarding.get_partner(session, partner_id)
        current = {"name": partner.name, "kind": partner.kind, "webhook_url": partner.webhook_url or ""}
        context = {
            "partner": partner,
            "keys": await onboarding.list_keys(session, partner_id),
            "actions": await _partner_actions(session),
            "checked": actions if actions is not None else list(partner.allowed_actions),
            "form": form or current,
            "errors": errors or {},
            "secrets": secrets or {},
        }
        return _page(request, member, "partner.html", "partners", context, status_code=status_code)


# --- projects and species -----------------------------------------------------------------------

PROJECT_FIELDS = ("name", "region", "lat", "lon", "radius_km", "capacity_per_season", "seasons")


def _project_body(form: dict[str, str]) -> dict[str, Any]:
    """The fields the create and edit forms share, as the JSON API takes them."""
    return {
        "name": form["name"].strip(),
        "region": form["region"].strip(),
        "location": {"lat": _number(form["lat"]), "lon": _number(form["lon"])},
        "radius_km": _number(form["radius_km"]),
        "capacity_per_season": _number(form["capacity_per_season"], integer=True),
        "seasons": _seasons(form["seasons"]),
    }


def _species_field(species_id: str) -> str:
    return f"cost_{species_id}"


class ConsoleProjects(_ConsolePage):
    path = "/admin/projects"

    @get("/")
    async def list_projects(
        self, request: AnyRequest, member: NamedDependency[PortalMember], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        return _page(request, member, "projects.html", "projects", {"projects": await console.all_projects(db_session)})

    @get("/new")
    async def new(
        self, request: AnyRequest, member: NamedDependency[PortalMember], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        return await self._new_page(request, member, db_session)

    @post("/", status_code=303)
    async def create(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
    ) -> Redirect | Template:
        """As `POST /v1/admin/projects`, with one species to start (more on the project's page)."""
        form = await read_portal_form(request, member, ("ngo_id", *PROJECT_FIELDS, "species_id", "cost_g"))
        species = [{"species_id": form["species_id"], "cost_g": _number(form["cost_g"], integer=True)}]
        body = {"ngo_id": form["ngo_id"], **_project_body(form), "species": species}
        data, errors = _validated(ProjectCreate, body, form)
        if "species" in errors:  # the one species row: say which of its two fields
            errors["species_id" if not form["species_id"] else "cost_g"] = errors.pop("species")
        if data is not None:
            try:
                project = await catalog.create_project(db_session, data, now)
            except DomainError as refusal:
                errors = await _refused(db_session, refusal)
                errors = {"species_id" if k == "species" else k: v for k, v in errors.items()}
            else:
                return _see(f"/admin/projects/{project.id}?done=created")
        return await self._new_page(request, member, db_session, form, errors)

    @get("/{project_id:str}")
    async def read(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        project_id: FromPath[ResourceId],
        cancelled: FromQuery[CountQuery] = None,
        refunded: FromQuery[CountQuery] = None,
    ) -> Template:
        closed = {"trees_cancelled": cancelled or 0, "trees_refunded": refunded or 0}
        return await self._project_page(request, member, db_session, project_id, closed=closed)

    @post("/{project_id:str}", status_code=303)
    async def update(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        project_id: FromPath[ResourceId],
    ) -> Redirect | Template:
        """As `PATCH /v1/admin/projects/{id}` with the details (species and status have forms of their own)."""
        form = await read_portal_form(request, member, PROJECT_FIELDS)
        return await self._patch(request, member, db_session, now, project_id, _project_body(form), form)

    @post("/{project_id:str}/species", status_code=303)
    async def species(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        project_id: FromPath[ResourceId],
    ) -> Redirect | Template:
        """The species offered and their costs: a cost left empty removes a species; one may be added."""
        offered = (await catalog.admin_project(db_session, await catalog.get_project(db_session, project_id))).species
        cost_fields = tuple(_species_field(item.species_id) for item in offered)
        form = await read_portal_form(request, member, (*cost_fields, "species_id", "cost_g"))
        rows = [
            {"species_id": item.species_id, "cost_g": _number(form[_species_field(item.species_id)], integer=True)}
            for item in offered
            if form[_species_field(item.species_id)].strip()
        ]
        if form["species_id"]:
            rows.append({"species_id": form["species_id"], "cost_g": _number(form["cost_g"], integer=True)})
        return await self._patch(request, member, db_session, now, project_id, {"species": rows}, form)

    @post("/{project_id:str}/status", status_code=303)
    async def status(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        project_id: FromPath[ResourceId],
    ) -> Redirect | Template:
        """Pause, resume or close; closing first asks for confirmation, then shows what it changed."""
        form = await read_portal_form(request, member, ("status", "confirm"))
        project = await catalog.get_project(db_session, project_id)
        if form["status"] == "closed" and form["confirm"] != "yes" and project.status != "closed":
            return _page(request, member, "project_close.html", "projects", {"project": project})
        return await self._patch(request, member, db_session, now, project_id, {"status": form["status"]}, form)

    async def _patch(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        now: datetime,
        project_id: str,
        body: dict[str, Any],
        form: dict[str, str],
    ) -> Redirect | Template:
        data, errors = _validated(ProjectUpdate, body, form)
        if data is not None:
            try:
                _, effects = await catalog.update_project(session, project_id, data, now)
            except DomainError as refusal:
                errors = await _refused(session, refusal)
            else:
                if data.status == "closed" and effects:
                    counts = {"cancelled": effects["trees_cancelled"], "refunded": effects["trees_refunded"]}
                    return _see(f"/admin/projects/{project_id}?" + urlencode({"done": "closed", **counts}))
                return _see(f"/admin/projects/{project_id}?done={data.status or 'saved'}")
        return await self._project_page(request, member, session, project_id, form=form, errors=errors, status_code=422)

    async def _new_page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        form: dict[str, str] | None = None,
        errors: Errors | None = None,
    ) -> Template:
        context = {
            "ngos": await ngos.list_ngos(session),
            "species": await catalog.list_all_species(session),
            "form": form or {"seasons": "01-01 to 12-31"},
            "errors": errors or {},
        }
        return _page(request, member, "project_new.html", "projects", context, status_code=422 if errors else 200)

    async def _project_page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        project_id: str,
        *,
        form: dict[str, str] | None = None,
        errors: Errors | None = None,
        closed: dict[str, int] | None = None,
        status_code: int = 200,
    ) -> Template:
        project = await catalog.admin_project(session, await catalog.get_project(session, project_id))
        current = {
            "name": project.name,
            "region": project.region,
            "lat": f"{project.location.lat:g}",
            "lon": f"{project.location.lon:g}",
            "radius_km": f"{project.radius_km:g}",
            "capacity_per_season": str(project.capacity_per_season),
            "seasons": "\n".join(f"{s.start} to {s.end}" for s in project.seasons),
        } | {_species_field(item.species_id): str(item.cost_g) for item in project.species}
        context = {
            "project": project,
            "ngo": ngos.ngo_public(await ngos.get_ngo(session, project.ngo_id)),
            "species": await catalog.list_all_species(session),
            "form": current | (form or {}),
            "errors": errors or {},
            "closed": closed or {},
        }
        return _page(request, member, "project.html", "projects", context, status_code=status_code)


class ConsoleSpecies(_ConsolePage):
    path = "/admin/species"
    FIELDS = ("common_name", "common_name_zh", "scientific_name", "co2_lifetime_kg")

    @get("/")
    async def list_species(
        self, request: AnyRequest, member: NamedDependency[PortalMember], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        return await self._page(request, member, db_session)

    @post("/", status_code=303)
    async def create(
        self, request: AnyRequest, member: NamedDependency[PortalMember], db_session: NamedDependency[AsyncSession]
    ) -> Redirect | Template:
        """As `POST /v1/admin/species`, with the Chinese common name if given."""
        form = await read_portal_form(request, member, self.FIELDS)
        chinese = form["common_name_zh"].strip()
        body = {
            "common_name": form["common_name"].strip(),
            "common_names": {"zh-Hans": chinese} if chinese else {},
            "scientific_name": form["scientific_name"].strip(),
            "co2_lifetime_kg": _number(form["co2_lifetime_kg"], integer=True),
        }
        data, errors = _validated(SpeciesCreate, body, form)
        if data is not None:
            try:
                await catalog.create_species(db_session, data)
            except DomainError as refusal:
                errors = await _refused(db_session, refusal)
            else:
                return _see("/admin/species?done=created")
        return await self._page(request, member, db_session, form, errors)

    async def _page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        form: dict[str, str] | None = None,
        errors: Errors | None = None,
    ) -> Template:
        context = {"species": await catalog.list_all_species(session), "form": form or {}, "errors": errors or {}}
        return _page(request, member, "species.html", "species", context, status_code=422 if errors else 200)


# --- users --------------------------------------------------------------------------------------


class ConsoleUsers(_ConsolePage):
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
        data, errors = _validated(SuspendRequest, {"reason": form["reason"]}, form)
        if data is None:
            return await self._page(request, member, db_session, form["handle"], form, errors, user_id)
        user = await users.set_suspension(db_session, user_id, data.reason, now)
        return _see("/admin/users?" + urlencode({"handle": user.handle or "", "done": "suspended"}))

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
        return _see("/admin/users?" + urlencode({"handle": user.handle or "", "done": "unsuspended"}))

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
        return _page(request, member, "users.html", "users", context, status_code=status_code)


# --- deliveries ---------------------------------------------------------------------------------


class ConsoleDeliveries(_ConsolePage):
    path = "/admin/deliveries"

    @get("/")
    async def webhooks(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        status: FromQuery[DeliveryStatusQuery] = "failed",
        cursor: Cursor = None,
    ) -> Template:
        """Webhook deliveries of a status (failed ones by default), newest first, with "send again"."""
        deliveries, next_cursor = await webhooks.deliveries_page(db_session, status, cursor, PAGE_SIZE)
        receivers = await _ngo_names(db_session) | {p.id: p.name for p in await onboarding.list_partners(db_session)}
        context = {"deliveries": deliveries, "next_cursor": next_cursor, "status": status, "receivers": receivers}
        return _page(request, member, "deliveries.html", "deliveries", context)

    @post("/{delivery_id:str}/retry", status_code=303)
    async def send_again(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        delivery_id: FromPath[ResourceId],
    ) -> Redirect:
        """As `POST /v1/admin/webhook-deliveries/{id}/retry`: the event again, with the whole schedule."""
        await read_portal_form(request, member, ())
        await webhooks.send_again(db_session, delivery_id, now)
        return _see("/admin/deliveries?done=sent")

    @get("/emails")
    async def emails(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        cursor: Cursor = None,
    ) -> Template:
        """Emails that gave up, as `GET /v1/admin/emails?status=failed` (never their bodies here)."""
        page = await mail.list_emails(db_session, settings, "failed", cursor, PAGE_SIZE)
        context = {"emails": page.items, "next_cursor": page.next_cursor}
        return _page(request, member, "emails.html", "deliveries", context)

    @get("/pushes")
    async def pushes(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        cursor: Cursor = None,
    ) -> Template:
        """Pushes the relay never accepted."""
        pushes, next_cursor = await console.failed_pushes_page(db_session, cursor, PAGE_SIZE)
        return _page(request, member, "pushes.html", "deliveries", {"pushes": pushes, "next_cursor": next_cursor})


CONSOLE_PAGES: list[type[Controller]] = [
    ConsoleHealth,
    ConsoleOrders,
    ConsoleNgos,
    ConsolePartners,
    ConsoleProjects,
    ConsoleSpecies,
    ConsoleUsers,
    ConsoleDeliveries,
]
"""Registered by server/app.py."""

"""The partner portal, `/partner/` (SPEC 12.4): a month's dashboard, the reports with filters and
a CSV export of any period, the refused signed requests, keys, the webhook URL and its
deliveries, for the signed-in members of one partner.

Every page reads through the partners' services (server/partners/portal.py, refusals.py,
onboarding.py) and the webhooks' (server/webhooks), scoped to the member's partner: another
partner's key or delivery is not found (the 404 page). As on the NGO portal, forms that change
data carry the session's CSRF token and answer 303 when they succeed, except where the answer
shows a secret once (a new key, a new webhook secret); bad input shows the form again, nothing
changed. Bad dates or months in a URL are the 400 page.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Stream, Template
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from server.db import Database
from server.errors import BadRequest, DomainError, Forbidden
from server.pagination import Cursor
from server.partners import onboarding, portal, refusals
from server.partners.schemas import PartnerUpdate
from server.settings import Settings
from server.validation import ResourceId
from server.web.partner_chart import day_chart
from server.web.session import PortalMember, partner_member, portal_page, read_portal_form, require_owner
from server.webhooks import service as webhooks

PAGE_SIZE = 25
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2999, 12, 31)
EXPORT_MAX_DAYS = 3660  # ten years: any real period, and no absurd scan
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_MONTH = re.compile(r"^[0-9]{4}-[0-9]{2}$")

DayParam = Annotated[str | None, QueryParameter(max_length=10)]
FromDay = Annotated[str | None, QueryParameter(name="from", max_length=10)]
Text = Annotated[str | None, QueryParameter(max_length=100)]
Month = Annotated[str | None, QueryParameter(max_length=7)]
StatusFilter = Annotated[Literal["awarded", "voided"] | None, QueryParameter(description="awarded|voided")]
DeliveryStatusFilter = Annotated[
    Literal["pending", "delivered", "failed"] | None, QueryParameter(description="pending|delivered|failed")
]
Done = Annotated[str | None, QueryParameter(max_length=20)]


def _partner_id(member: PortalMember) -> str:
    if member.org_id is None:  # a partner member always belongs to one partner; a guard, not a path
        raise Forbidden("This member belongs to no partner.", problem="wrong-portal")
    return member.org_id


def parse_day(value: str | None) -> date | None:
    """A UTC date `YYYY-MM-DD` between 2000 and 2999, or None when not given; else ValueError."""
    if not value:
        return None
    if not _DAY.fullmatch(value):
        raise ValueError(value)
    day = date.fromisoformat(value)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(value)
    return day


def _bad_dates() -> BadRequest:
    return BadRequest("Dates are YYYY-MM-DD (UTC), from before to.", problem="validation")


def _month(value: str | None, now: datetime) -> date:
    if not value:
        return now.date().replace(day=1)
    if not _MONTH.fullmatch(value):
        raise BadRequest("A month is YYYY-MM.", problem="validation")
    try:
        return parse_day(value + "-01") or now.date()
    except ValueError:
        raise BadRequest("A month is YYYY-MM.", problem="validation") from None


class PartnerPortalController(Controller):
    path = "/partner"
    include_in_schema = False
    dependencies = {"member": Provide(partner_member)}

    @get("/")
    async def dashboard(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        now: NamedDependency[datetime],
        month: Month = None,
    ) -> Template:
        first_day = _month(month, now)
        figures = await portal.month_dashboard(db_session, _partner_id(member), first_day)
        previous = (first_day - timedelta(days=1)).replace(day=1)
        following = (first_day + timedelta(days=32)).replace(day=1)
        context = {
            "dashboard": figures,
            "chart": day_chart(figures.by_day),
            "previous": previous if previous >= FIRST_DAY else None,
            "following": following if following <= now.date() else None,
            "last_day": following - timedelta(days=1),
        }
        return portal_page(request, member, "partner/dashboard.html", context)

    @get("/reports")
    async def reports(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        from_: FromDay = None,
        to: DayParam = None,
        action: Text = None,
        status: StatusFilter = None,
        q: Text = None,
        cursor: Cursor = None,
    ) -> Template:
        partner_id = _partner_id(member)
        partner = await onboarding.get_partner(db_session, partner_id)
        form = {"from": from_ or "", "to": to or "", "action": action or "", "status": status or "", "q": q or ""}
        errors: dict[str, str] = {}
        days: dict[str, date | None] = {}
        for name in ("from", "to"):
            try:
                days[name] = parse_day(form[name])
            except ValueError:
                errors[name] = "bad-date"
        if not errors and days["from"] and days["to"] and days["from"] > days["to"]:
            errors["to"] = "before-from"
        if action and action not in partner.allowed_actions:
            errors["action"] = "unknown-action"
        items: list[portal.ReportLine] = []
        next_cursor = None
        if not errors:
            filters = portal.ReportFilters(days["from"], days["to"], action or None, status, (q or "").strip() or None)
            items, next_cursor = await portal.reports_page(db_session, partner_id, filters, cursor, PAGE_SIZE)
        kept = {name: value for name, value in form.items() if value}
        context = {
            "reports": items,
            "next_query": urlencode({**kept, "cursor": next_cursor}) if next_cursor else None,
            "form": form,
            "errors": errors,
            "actions": sorted(partner.allowed_actions),
            "filtered": any(form.values()),
        }
        return portal_page(request, member, "partner/reports.html", context, status_code=400 if errors else 200)

    @get("/reports.csv", media_type="text/csv")
    async def export(
        self,
        database: NamedDependency[Database],
        member: NamedDependency[PortalMember],
        from_: FromDay = None,
        to: DayParam = None,
    ) -> Stream:
        """Every report of the period (UTC dates, inclusive), one line per action, streamed."""
        try:
            first, last = parse_day(from_), parse_day(to)
        except ValueError:
            raise _bad_dates() from None
        if first is None or last is None or first > last:
            raise _bad_dates()
        if (last - first).days >= EXPORT_MAX_DAYS:
            raise BadRequest("Export at most ten years at a time.", problem="validation")
        name = f"canopy-reports-{first.isoformat()}-{last.isoformat()}.csv"
        return Stream(
            portal.export_csv(database.reader, _partner_id(member), first, last),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @get("/refused")
    async def refused(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
    ) -> Template:
        items = await refusals.latest_refusals(db_session, _partner_id(member))
        return portal_page(request, member, "partner/refused.html", {"refusals": items, "keep": refusals.KEEP})

    # Webhook URL and deliveries

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
        context = await _webhooks_context(db_session, member, status, cursor)
        return portal_page(request, member, "partner/webhooks.html", {**context, "done": done})

    @post("/webhooks/url", status_code=200)
    async def set_webhook(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
    ) -> Template:
        """A new URL answers its new signing secret on this page, once (it is stored encrypted)."""
        form = await read_portal_form(request, member, ("webhook_url",))
        require_owner(member)
        url = form["webhook_url"].strip()
        error = "required" if not url else None
        secret = None
        if error is None:
            try:
                data = PartnerUpdate(webhook_url=url)
                _, secret = await onboarding.update_partner(db_session, settings, _partner_id(member), data)
            except ValidationError:
                error = "webhook-url"
            except DomainError as refusal:
                error = refusal.problem
        if error is not None:
            await db_session.rollback()
        context = await _webhooks_context(db_session, member, None, None)
        context |= {"done": None, "url_form": url, "url_error": error, "webhook_secret": secret}
        return portal_page(request, member, "partner/webhooks.html", context, status_code=200 if secret else 422)

    @post("/webhooks/url/clear", status_code=303)
    async def clear_webhook(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
    ) -> Redirect:
        await read_portal_form(request, member, ())
        require_owner(member)
        await onboarding.update_partner(db_session, settings, _partner_id(member), PartnerUpdate(webhook_url=""))
        return Redirect(path="/partner/webhooks?done=cleared", status_code=303)

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
        await webhooks.send_again(db_session, delivery_id, now, receiver=("partner", _partner_id(member)))
        return Redirect(path="/partner/webhooks?done=sent", status_code=303)

    # Signing keys: the owners'

    @get("/keys")
    async def keys(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        done: Done = None,
    ) -> Template:
        require_owner(member)
        keys = await onboarding.list_keys(db_session, _partner_id(member))
        return portal_page(request, member, "partner/keys.html", {"keys": keys, "created": None, "done": done})

    @post("/keys", status_code=201)
    async def create_key(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        member: NamedDependency[PortalMember],
        now: NamedDependency[datetime],
    ) -> Template:
        """The new secret is on this page only, once (it is stored encrypted): no redirect here."""
        await read_portal_form(request, member, ())
        require_owner(member)
        partner_id = _partner_id(member)
        key_id, secret = await onboarding.add_key(db_session, settings, partner_id, now)
        keys = await onboarding.list_keys(db_session, partner_id)
        context = {"keys": keys, "created": {"key_id": key_id, "secret": secret}, "done": None}
        return portal_page(request, member, "partner/keys.html", context, status_code=201)

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
        await onboarding.revoke_key(db_session, _partner_id(member), key_id, now)
        return Redirect(path="/partner/keys?done=revoked", status_code=303)


async def _webhooks_context(
    session: AsyncSession, member: PortalMember, status: str | None, cursor: str | None
) -> dict[str, Any]:
    partner_id = _partner_id(member)
    partner = await onboarding.get_partner(session, partner_id)
    items, next_cursor = await webhooks.deliveries_page(
        session, status, cursor, PAGE_SIZE, receiver=("partner", partner_id)
    )
    return {
        "webhook_url": partner.webhook_url,
        "url_form": partner.webhook_url or "",
        "url_error": None,
        "webhook_secret": None,
        "deliveries": items,
        "status": status,
        "next_cursor": next_cursor,
    }

"""`/admin/ngos` and `/admin/partners`: the organisations that take the API's keys.

Both kinds have the same pages: the list with the form that adds one, each one's page with its
keys (a new one shown once, revoke) and the form that changes it (a new webhook URL shows its new
secret once). `OrganisationPages` holds those handlers; a subclass says how its form reads and
which services it calls. Their members' pages are server/web/members.py's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Protocol

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from server.catalog import service as catalog
from server.catalog.models import ActionType
from server.errors import DomainError
from server.partners import onboarding
from server.partners.schemas import PartnerCreate, PartnerUpdate
from server.planting import ngos
from server.planting.schemas import NgoCreate, NgoUpdate
from server.settings import Settings
from server.validation import ResourceId
from server.web.admin.common import (
    AnyRequest,
    ConsolePage,
    Errors,
    console_page,
    refused,
    see,
    show_once,
    take_secrets,
    validated,
    with_secrets,
)
from server.web.session import PortalMember, read_portal_form

Form = dict[str, str]
Secrets = dict[str, str | None]


class Organisation(Protocol):
    """What the shared handlers read of an NGO or a partner."""

    @property
    def name(self) -> str: ...

    @property
    def webhook_url(self) -> str | None: ...


class OrganisationPages(ConsolePage):
    """The handlers of one kind of organisation's pages (see the module's docstring); `path` is
    `/admin/{section}`, and the templates are `organisations.html` and `organisation.html`."""

    section: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]
    create_model: ClassVar[type[SQLModel]]
    update_model: ClassVar[type[SQLModel]]

    @get("/")
    async def list_organisations(
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
        """As the JSON API's `POST /v1/admin/{section}`: the first key (and the webhook secret) are
        shown once, on the new organisation's page."""
        form = await self.read_form(request, member, db_session)
        body = {"name": form["name"].strip(), **self.created_fields(form)}
        if form["webhook_url"].strip():
            body["webhook_url"] = form["webhook_url"].strip()
        data, errors = validated(self.create_model, body, form)
        if data is not None:
            try:
                org_id, secrets = await self.create_organisation(db_session, settings, data, now)
            except DomainError as refusal:
                errors = await refused(db_session, refusal)
            else:
                return show_once(settings, member, f"{self.path}/{org_id}", secrets)
        return await self._list_page(request, member, db_session, form, errors)

    @get("/{org_id:str}")
    async def read(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        org_id: FromPath[ResourceId],
    ) -> Template:
        secrets = take_secrets(request, settings, member)
        page = await self._organisation_page(request, member, db_session, org_id, secrets=secrets)
        return with_secrets(page, request)

    @post("/{org_id:str}", status_code=303)
    async def update(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        org_id: FromPath[ResourceId],
    ) -> Redirect | Template:
        """As the JSON API's `PATCH /v1/admin/{section}/{id}` with what changed; a new webhook URL
        shows its new secret once."""
        form = await self.read_form(request, member, db_session)
        current = await self.get_organisation(db_session, org_id)
        changes = self.changed_fields(form, current)
        if form["name"].strip() != current.name:
            changes["name"] = form["name"].strip()
        url = form["webhook_url"].strip()
        if url and url != current.webhook_url:
            changes["webhook_url"] = url
        data, errors = validated(self.update_model, changes, form)
        if data is not None:
            try:
                webhook_secret = await self.update_organisation(db_session, settings, org_id, data)
            except DomainError as refusal:
                errors = await refused(db_session, refusal)
            else:
                if webhook_secret:
                    return show_once(settings, member, request.url.path, {"webhook_secret": webhook_secret})
                return see(f"{request.url.path}?done=saved")
        return await self._organisation_page(
            request, member, db_session, org_id, form=form, errors=errors, status_code=422
        )

    @post("/{org_id:str}/keys", status_code=303)
    async def add_key(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        now: NamedDependency[datetime],
        org_id: FromPath[ResourceId],
    ) -> Redirect:
        await read_portal_form(request, member, ())
        secrets = await self.create_key(db_session, settings, org_id, now)
        return show_once(settings, member, f"{self.path}/{org_id}", secrets)

    @post("/{org_id:str}/keys/{key_id:str}/revoke", status_code=303)
    async def revoke_key(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        org_id: FromPath[ResourceId],
        key_id: FromPath[ResourceId],
    ) -> Redirect:
        await read_portal_form(request, member, ())
        await self.revoke(db_session, org_id, key_id, now)
        return see(f"{self.path}/{org_id}?done=revoked")

    async def _list_page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        form: Form | None = None,
        errors: Errors | None = None,
    ) -> Template:
        context = await self.list_context(session, form) | {"errors": errors or {}}
        status_code = 422 if errors else 200
        return console_page(request, member, "organisations.html", self.section, context, status_code=status_code)

    async def _organisation_page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        org_id: str,
        *,
        form: Form | None = None,
        errors: Errors | None = None,
        secrets: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        context = await self.organisation_context(session, org_id, form)
        context |= {"errors": errors or {}, "secrets": secrets or {}}
        return console_page(request, member, "organisation.html", self.section, context, status_code=status_code)

    # What a kind of organisation says: its form, its services, its pages' contexts.

    async def read_form(self, request: AnyRequest, member: PortalMember, session: AsyncSession) -> Form:
        return await read_portal_form(request, member, self.fields)

    def created_fields(self, form: Form) -> dict[str, Any]:
        """The create form's fields besides the name and the webhook URL, as the API takes them."""
        raise NotImplementedError

    def changed_fields(self, form: Form, current: Any) -> dict[str, Any]:
        """The fields besides the name and the webhook URL that differ from `current`'s."""
        raise NotImplementedError

    async def create_organisation(
        self, session: AsyncSession, settings: Settings, data: Any, now: datetime
    ) -> tuple[str, Secrets]:
        raise NotImplementedError

    async def get_organisation(self, session: AsyncSession, org_id: str) -> Organisation:
        raise NotImplementedError

    async def update_organisation(
        self, session: AsyncSession, settings: Settings, org_id: str, data: Any
    ) -> str | None:
        """The change made; the new webhook secret if the URL changed."""
        raise NotImplementedError

    async def create_key(self, session: AsyncSession, settings: Settings, org_id: str, now: datetime) -> Secrets:
        raise NotImplementedError

    async def revoke(self, session: AsyncSession, org_id: str, key_id: str, now: datetime) -> None:
        raise NotImplementedError

    async def list_context(self, session: AsyncSession, form: Form | None) -> dict[str, Any]:
        """`organisations` and the add form's `form` (what was sent, or its defaults)."""
        raise NotImplementedError

    async def organisation_context(self, session: AsyncSession, org_id: str, form: Form | None) -> dict[str, Any]:
        """`organisation`, its `keys`, and the change form's `form` (what was sent, or the current values)."""
        raise NotImplementedError


class ConsoleNgos(OrganisationPages):
    path = "/admin/ngos"
    section = "ngos"
    fields = ("name", "contact_email", "webhook_url")
    create_model = NgoCreate
    update_model = NgoUpdate

    def created_fields(self, form: Form) -> dict[str, Any]:
        return {"contact_email": form["contact_email"].strip()}

    def changed_fields(self, form: Form, current: Any) -> dict[str, Any]:
        email = form["contact_email"].strip()
        return {"contact_email": email} if email != current.contact_email else {}

    async def create_organisation(
        self, session: AsyncSession, settings: Settings, data: Any, now: datetime
    ) -> tuple[str, Secrets]:
        ngo, key, webhook_secret = await ngos.create_ngo(session, data, settings, now)
        return ngo.id, {"key_id": key.key_id, "api_key": key.api_key, "webhook_secret": webhook_secret}

    async def get_organisation(self, session: AsyncSession, org_id: str) -> Organisation:
        return await ngos.get_ngo(session, org_id)

    async def update_organisation(
        self, session: AsyncSession, settings: Settings, org_id: str, data: Any
    ) -> str | None:
        return (await ngos.update_ngo(session, org_id, data, settings)).webhook_secret

    async def create_key(self, session: AsyncSession, settings: Settings, org_id: str, now: datetime) -> Secrets:
        key = await ngos.create_key(session, org_id, now)
        return {"key_id": key.key_id, "api_key": key.api_key}

    async def revoke(self, session: AsyncSession, org_id: str, key_id: str, now: datetime) -> None:
        await ngos.revoke_key(session, org_id, key_id, now)

    async def list_context(self, session: AsyncSession, form: Form | None) -> dict[str, Any]:
        return {"organisations": await ngos.list_ngos(session), "form": form or {}}

    async def organisation_context(self, session: AsyncSession, org_id: str, form: Form | None) -> dict[str, Any]:
        ngo = ngos.ngo_public(await ngos.get_ngo(session, org_id))
        current = {"name": ngo.name, "contact_email": ngo.contact_email, "webhook_url": ngo.webhook_url or ""}
        return {"organisation": ngo, "keys": await ngos.list_keys(session, org_id), "form": form or current}


async def _partner_actions(session: AsyncSession) -> list[ActionType]:
    """The action types a partner may be allowed: partner-verified and not retired."""
    return [
        action
        for action in await catalog.list_all_actions(session)
        if action.verification == "partner" and action.retired_at is None
    ]


def _action_field(code: str) -> str:
    return f"action_{code}"


def _ticked(form: Form) -> list[str]:
    """The allowed actions of a partner form (`read_form` keeps their codes space-separated)."""
    return form["allowed_actions"].split()


class ConsolePartners(OrganisationPages):
    path = "/admin/partners"
    section = "partners"
    fields = ("name", "kind", "webhook_url")
    create_model = PartnerCreate
    update_model = PartnerUpdate

    async def read_form(self, request: AnyRequest, member: PortalMember, session: AsyncSession) -> Form:
        """The partner form: its fields, and the allowed actions ticked (one checkbox each), their
        codes under `allowed_actions`."""
        codes = [action.code for action in await _partner_actions(session)]
        form = await read_portal_form(request, member, self.fields + tuple(_action_field(c) for c in codes))
        return form | {"allowed_actions": " ".join(code for code in codes if form[_action_field(code)])}

    def created_fields(self, form: Form) -> dict[str, Any]:
        return {"kind": form["kind"], "allowed_actions": _ticked(form)}

    def changed_fields(self, form: Form, current: Any) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if form["kind"] != current.kind:
            changes["kind"] = form["kind"]
        if set(_ticked(form)) != set(current.allowed_actions):
            changes["allowed_actions"] = _ticked(form)
        return changes

    async def create_organisation(
        self, session: AsyncSession, settings: Settings, data: Any, now: datetime
    ) -> tuple[str, Secrets]:
        partner, key_id, secret, webhook_secret = await onboarding.create_partner(session, settings, data, now)
        return partner.id, {"key_id": key_id, "secret": secret, "webhook_secret": webhook_secret}

    async def get_organisation(self, session: AsyncSession, org_id: str) -> Organisation:
        return await onboarding.get_partner(session, org_id)

    async def update_organisation(
        self, session: AsyncSession, settings: Settings, org_id: str, data: Any
    ) -> str | None:
        _, webhook_secret = await onboarding.update_partner(session, settings, org_id, data)
        return webhook_secret

    async def create_key(self, session: AsyncSession, settings: Settings, org_id: str, now: datetime) -> Secrets:
        await onboarding.get_partner(session, org_id)
        key_id, secret = await onboarding.add_key(session, settings, org_id, now)
        return {"key_id": key_id, "secret": secret}

    async def revoke(self, session: AsyncSession, org_id: str, key_id: str, now: datetime) -> None:
        await onboarding.revoke_key(session, org_id, key_id, now)

    async def list_context(self, session: AsyncSession, form: Form | None) -> dict[str, Any]:
        return {
            "organisations": await onboarding.list_partners(session),
            "actions": await _partner_actions(session),
            "checked": _ticked(form) if form else [],
            "form": form or {"kind": "merchant"},
        }

    async def organisation_context(self, session: AsyncSession, org_id: str, form: Form | None) -> dict[str, Any]:
        partner = await onboarding.get_partner(session, org_id)
        current = {"name": partner.name, "kind": partner.kind, "webhook_url": partner.webhook_url or ""}
        return {
            "organisation": partner,
            "keys": await onboarding.list_keys(session, org_id),
            "actions": await _partner_actions(session),
            "checked": _ticked(form) if form else list(partner.allowed_actions),
            "form": form or current,
        }

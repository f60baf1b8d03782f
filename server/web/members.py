"""Members pages (SPEC 12.3, 12.4): one module for every portal's members, and `/invite`.

- `/ngo/members`, `/partner/members`: the organisation's members. Owners invite owners and
  staff and remove members (after a confirmation); staff see the list only (a post is the 403
  page). Nobody removes themselves as the last owner.
- `/admin/ngos/{id}/members`, `/admin/partners/{id}/members`, `/admin/operators`: the same
  for the operators, over any NGO or partner (an unknown one is the 404 page), and over the
  operators themselves (invited as owners).
- `/invite?token=`: the invitee chooses a name and a password, and is signed in.

Every change goes through server/members/service.py, as the JSON API's. The invitation link is
shown once, on the page that answers the invitation (not after a redirect: it is not kept
anywhere to show again), and mailed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import wall_clock
from server.errors import DomainError, NotFound
from server.members import service as members
from server.members.models import MemberRole, OrgKind
from server.settings import Settings
from server.users.schemas import EMAIL_PATTERN
from server.users.security import Passwords
from server.validation import ResourceId
from server.web.accounts import TOKEN_MAX
from server.web.forms import PASSWORD_MAX, PASSWORD_MIN, password_errors, read_form
from server.web.pages import page, page_language
from server.web.session import (
    PortalMember,
    check_same_origin,
    ngo_member,
    operator_member,
    partner_member,
    portal_page,
    read_portal_form,
    require_owner,
)
from server.web.signin import signed_in_redirect

NAME_MAX = 120
EMAIL_MAX = 254
ORG_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class Organisation:
    """Whose members a page shows, where the page is, and what its viewer may do there."""

    kind: OrgKind
    id: str | None
    name: str
    base: str
    roles: tuple[MemberRole, ...]
    can_manage: bool
    # Whose removal is the viewer's own (the last-owner rule): None for operators on an NGO's page.
    acting_member_id: str | None


class _MembersPages(Controller):
    """The handlers of every members page; a subclass says whose members they are."""

    include_in_schema = False

    async def organisation(
        self, request: Request[Any, Any, Any], member: PortalMember, db_session: AsyncSession
    ) -> Organisation:
        raise NotImplementedError

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        organisation = await self.organisation(request, member, db_session)
        return await _members_page(request, member, db_session, organisation)

    @post("/", status_code=200)
    async def invite(
        self,
        request: Request[Any, Any, Any],
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Template:
        form = await read_portal_form(request, member, ("email", "role"))
        organisation = await self.organisation(request, member, db_session)
        if not organisation.can_manage:
            require_owner(member)
        email, role = form["email"].strip()[:EMAIL_MAX], form["role"]
        errors: dict[str, str] = {}
        if not re.fullmatch(EMAIL_PATTERN, email):
            errors["email"] = "invalid"
        if role not in organisation.roles:
            errors["role"] = "invalid"
        if not errors:
            try:
                invitation = await members.invite(
                    db_session,
                    settings,
                    org_kind=organisation.kind,
                    org_id=organisation.id,
                    email=email,
                    role=MemberRole(role),
                    language=page_language(request),
                    now=wall_clock(),
                )
            except DomainError as refusal:
                if refusal.problem != "member-exists":
                    raise
                await db_session.rollback()
                errors["email"] = "taken"
            else:
                shown = {"email": invitation.member.email, "url": invitation.url}
                return await _members_page(request, member, db_session, organisation, invited=shown)
        form_state = {"email": email, "role": role, "errors": errors}
        status = 409 if errors.get("email") == "taken" else 422
        return await _members_page(request, member, db_session, organisation, form=form_state, status=status)

    @get("/{member_id:str}/remove")
    async def confirm_removal(
        self,
        request: Request[Any, Any, Any],
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        member_id: FromPath[ResourceId],
    ) -> Template:
        organisation = await self.organisation(request, member, db_session)
        if not organisation.can_manage:
            require_owner(member)
        removed = await members.get_member(db_session, organisation.kind, organisation.id, member_id)
        return _removal_page(request, member, organisation, removed)

    @post("/{member_id:str}/remove", status_code=303)
    async def remove(
        self,
        request: Request[Any, Any, Any],
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        member_id: FromPath[ResourceId],
    ) -> Response[Any]:
        await read_portal_form(request, member, ())
        organisation = await self.organisation(request, member, db_session)
        if not organisation.can_manage:
            require_owner(member)
        try:
            removed = await members.remove_member(
                db_session,
                organisation.kind,
                organisation.id,
                member_id,
                wall_clock(),
                acting_member_id=organisation.acting_member_id,
            )
        except DomainError as refusal:
            if refusal.problem != "last-owner":
                raise
            target = await members.get_member(db_session, organisation.kind, organisation.id, member_id)
            return _removal_page(request, member, organisation, target, last_owner=True)
        # Removing oneself ends one's own session too.
        return Redirect(path="/login" if removed.id == member.id else organisation.base, status_code=303)


async def _members_page(
    request: Request[Any, Any, Any],
    member: PortalMember,
    db_session: AsyncSession,
    organisation: Organisation,
    *,
    invited: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Template:
    listed = await members.list_members(db_session, organisation.kind, organisation.id)
    context = {
        "organisation": organisation,
        "members": [members.to_public(m) for m in listed],
        "now": wall_clock(),
        "invited": invited,
        "form": form or {"email": "", "role": organisation.roles[0], "errors": {}},
    }
    return portal_page(request, member, "members/list.html", context, status_code=status)


def _removal_page(
    request: Request[Any, Any, Any],
    member: PortalMember,
    organisation: Organisation,
    removed: Any,
    *,
    last_owner: bool = False,
) -> Template:
    context = {"organisation": organisation, "removed": members.to_public(removed), "last_owner": last_owner}
    return portal_page(request, member, "members/remove.html", context, status_code=409 if last_owner else 200)


class _OwnMembersPages(_MembersPages):
    """An NGO's or a partner's members, as its own members see them."""

    kind: OrgKind

    async def organisation(
        self, request: Request[Any, Any, Any], member: PortalMember, db_session: AsyncSession
    ) -> Organisation:
        return Organisation(
            kind=self.kind,
            id=member.org_id,
            name=await members.organisation_name(db_session, self.kind, member.org_id),
            base=self.path,
            roles=(MemberRole.STAFF, MemberRole.OWNER),
            can_manage=member.is_owner,
            acting_member_id=member.id,
        )


class NgoMembersPages(_OwnMembersPages):
    path = "/ngo/members"
    kind = OrgKind.NGO
    dependencies = {"member": Provide(ngo_member)}


class PartnerMembersPages(_OwnMembersPages):
    path = "/partner/members"
    kind = OrgKind.PARTNER
    dependencies = {"member": Provide(partner_member)}


class _ConsoleMembersPages(_MembersPages):
    """An NGO's or a partner's members in the operator console."""

    kind: OrgKind
    section: str

    async def organisation(
        self, request: Request[Any, Any, Any], member: PortalMember, db_session: AsyncSession
    ) -> Organisation:
        org_id = str(request.path_params.get("org_id", ""))
        if not ORG_ID.fullmatch(org_id):
            raise NotFound("No such organisation.", problem="not-found")
        return Organisation(
            kind=self.kind,
            id=org_id,
            name=await members.organisation_name(db_session, self.kind, org_id),
            base=f"/admin/{self.section}/{org_id}/members",
            roles=(MemberRole.OWNER, MemberRole.STAFF),
            can_manage=True,
            acting_member_id=None,
        )


class AdminNgoMembersPages(_ConsoleMembersPages):
    path = "/admin/ngos/{org_id:str}/members"
    kind = OrgKind.NGO
    section = "ngos"
    dependencies = {"member": Provide(operator_member)}


class AdminPartnerMembersPages(_ConsoleMembersPages):
    path = "/admin/partners/{org_id:str}/members"
    kind = OrgKind.PARTNER
    section = "partners"
    dependencies = {"member": Provide(operator_member)}


class OperatorsPages(_MembersPages):
    """`/admin/operators`: the operators invite and remove operators (all of them owners)."""

    path = "/admin/operators"
    dependencies = {"member": Provide(operator_member)}

    async def organisation(
        self, request: Request[Any, Any, Any], member: PortalMember, db_session: AsyncSession
    ) -> Organisation:
        return Organisation(
            kind=OrgKind.OPERATOR,
            id=None,
            name=members.OPERATORS_NAME,
            base=self.path,
            roles=(MemberRole.OWNER,),
            can_manage=True,
            acting_member_id=member.id,
        )


def _name_errors(name: str) -> dict[str, str]:
    if not 1 <= len(name) <= NAME_MAX:
        return {"name": "length"}
    if not name.isprintable():
        return {"name": "characters"}
    return {}


class InviteController(Controller):
    """`/invite?token=`: accept an invitation. The URL carries the secret (no-referrer); the form
    carries it too, and `check_same_origin` refuses a post from another site."""

    path = "/invite"
    include_in_schema = False

    @get("/")
    async def form(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        token: FromQuery[str | None] = None,
    ) -> Template:
        token = (token or "")[:TOKEN_MAX]
        invited = await members.pending_invitation(db_session, token)
        if invited is None:
            return _invite_page(request, "invalid", status=400)
        organisation = await members.organisation_name(db_session, OrgKind(invited.org_kind), invited.org_id)
        return _invite_page(request, "form", token=token, email=invited.email, organisation=organisation)

    @post("/", status_code=303)
    async def accept(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        passwords: NamedDependency[Passwords],
    ) -> Response[Any]:
        check_same_origin(request)
        form = await read_form(request, ("token", "name", "password", "password_confirmation"))
        token, name = form["token"][:TOKEN_MAX], form["name"].strip()
        errors = _name_errors(name) | password_errors(form["password"], form["password_confirmation"])
        if errors:
            invited = await members.pending_invitation(db_session, token)
            if invited is None:
                return _invite_page(request, "invalid", status=400)
            organisation = await members.organisation_name(db_session, OrgKind(invited.org_kind), invited.org_id)
            return _invite_page(
                request,
                "form",
                token=token,
                email=invited.email,
                organisation=organisation,
                name=name[:NAME_MAX],
                errors=errors,
                status=422,
            )
        try:
            member = await members.accept_invitation(
                db_session, passwords, token, name=name, password=form["password"], now=wall_clock()
            )
        except DomainError:
            await db_session.rollback()
            return _invite_page(request, "invalid", status=400)
        await db_session.commit()  # joined before the session starts (its own transaction)
        return await signed_in_redirect(request, member, "")


def _invite_page(
    request: Request[Any, Any, Any],
    state: str,
    *,
    token: str = "",
    email: str = "",
    organisation: str = "",
    name: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Template:
    context = {
        "state": state,
        "token": token,
        "email": email,
        "organisation": organisation,
        "name": name,
        "errors": errors or {},
        "name_max": NAME_MAX,
        "password_min": PASSWORD_MIN,
        "password_max": PASSWORD_MAX,
    }
    return page(request, "invite.html", context, status_code=status, referrer_policy="no-referrer")

"""The operator's members API (SPEC 12.4): invite, list and remove an NGO's or a partner's members.

`POST` answers the invitation link this once (it is mailed too, and only its hash is kept), so
the route is marked `issues_credentials`: an `Idempotency-Key` repeat never replays the link.
Another organisation's member id, like an unknown one, is 404.
"""

from __future__ import annotations

from datetime import datetime

from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import OperatorController
from server.errors import problems
from server.i18n import Language
from server.members import service
from server.members.models import OrgKind
from server.members.schemas import MemberInvite, MemberInvited, MemberPublic
from server.pagination import Page
from server.settings import Settings
from server.validation import ResourceId


class _OrganisationMembers(OperatorController):
    """The handlers of both paths; a subclass names the kind of organisation."""

    org_kind: OrgKind

    @post(
        "/",
        status_code=201,
        responses={
            201: ResponseSpec(
                MemberInvited, description="Invited; the link is shown only here", generate_examples=False
            ),
            **problems("not-found", "member-exists"),
        },
        issues_credentials=True,
    )
    async def invite(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        answer_language: NamedDependency[Language],
        org_id: FromPath[ResourceId],
        data: JSONBody[MemberInvite],
    ) -> MemberInvited:
        """Operator: invite a member (owner or staff) of the organisation (SPEC 12.3); the link is mailed in the
        request's language and shown only here."""
        invitation = await service.invite(
            db_session,
            settings,
            org_kind=self.org_kind,
            org_id=org_id,
            email=data.email,
            role=data.role,
            language=answer_language,
            now=now,
        )
        public = service.to_public(invitation.member)
        return MemberInvited(**public.model_dump(), invitation_url=invitation.url)

    @get("/", responses=problems("not-found"))
    async def list_members(
        self, db_session: NamedDependency[AsyncSession], org_id: FromPath[ResourceId]
    ) -> Page[MemberPublic]:
        """Operator: every member and pending invitation (an organisation has few: one page, no cursor)."""
        await service.organisation_name(db_session, self.org_kind, org_id)
        members = await service.list_members(db_session, self.org_kind, org_id)
        return Page(items=[service.to_public(member) for member in members])

    @delete("/{member_id:str}", status_code=204, responses=problems("not-found"))
    async def remove(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        org_id: FromPath[ResourceId],
        member_id: FromPath[ResourceId],
    ) -> None:
        """Operator: remove a member, or withdraw an invitation: their portal sessions end at once."""
        await service.remove_member(db_session, self.org_kind, org_id, member_id, now)


class AdminNgoMemberController(_OrganisationMembers):
    path = "/admin/ngos/{org_id:str}/members"
    org_kind = OrgKind.NGO


class AdminPartnerMemberController(_OrganisationMembers):
    path = "/admin/partners/{org_id:str}/members"
    org_kind = OrgKind.PARTNER

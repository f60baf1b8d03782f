"""The demo's members (SPEC 12.4, `canopy seed-demo`, development only): a demo partner beside the
demo NGO of the catalogue, and an owner invitation for each, whose links the command prints.

Safe to repeat: the partner is made once; an owner who has not joined yet gets a fresh link (the
earlier one stops working), one who has joined gets none.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.catalog import defaults
from server.errors import Conflict
from server.i18n import DEFAULT_LANGUAGE
from server.members import service
from server.members.models import MemberRole, OrgKind
from server.partners.models import Partner
from server.partners.onboarding import create_partner
from server.partners.schemas import PartnerCreate
from server.planting.models import Ngo
from server.settings import Settings

DEMO_PARTNER = {"name": "Metro Line 1 (demo)", "kind": "transit", "allowed_actions": ["metro_ride", "bus_ride"]}
NGO_OWNER = "owner@alxa-green.example"
PARTNER_OWNER = "owner@metro-line.example"
JOINED = "joined already: no new link"


async def seed_demo_members(session: AsyncSession, settings: Settings, now: datetime) -> dict[str, str]:
    """The demo partner if missing, and the invitation link of each demo owner (or that they joined)."""
    ngo_id = (await session.execute(select(col(Ngo.id)).where(col(Ngo.name) == defaults.DEMO_NGO["name"]))).scalar_one()
    partner_id = (
        await session.execute(select(col(Partner.id)).where(col(Partner.name) == DEMO_PARTNER["name"]))
    ).scalar_one_or_none()
    if partner_id is None:
        partner, _, _, _ = await create_partner(session, settings, PartnerCreate.model_validate(DEMO_PARTNER), now)
        partner_id = partner.id
    links: dict[str, str] = {}
    for label, org_kind, org_id, email in (
        ("ngo_owner", OrgKind.NGO, ngo_id, NGO_OWNER),
        ("partner_owner", OrgKind.PARTNER, partner_id, PARTNER_OWNER),
    ):
        try:
            invitation = await service.invite(
                session,
                settings,
                org_kind=org_kind,
                org_id=org_id,
                email=email,
                role=MemberRole.OWNER,
                language=DEFAULT_LANGUAGE,
                now=now,
            )
        except Conflict:
            links[label] = JOINED
        else:
            links[label] = invitation.url
    return links

"""Partner onboarding by the operator (SPEC 9): partners, their allowed actions, signing keys and
webhook URLs; secrets are returned once and stored encrypted."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.catalog.models import ActionType
from server.crypto import SecretBox, new_secret
from server.errors import Conflict, NotFound, Unprocessable
from server.partners.models import Partner, PartnerKey
from server.partners.schemas import PartnerCreate, PartnerUpdate
from server.settings import Settings
from server.webhooks.urls import check_webhook_url


def new_key_id() -> str:
    return f"pk_{secrets.token_hex(12)}"


async def _check_actions(session: AsyncSession, codes: list[str]) -> list[str]:
    codes = list(dict.fromkeys(codes))
    found = {
        a.code: a for a in (await session.execute(select(ActionType).where(col(ActionType.code).in_(codes)))).scalars()
    }
    bad = [c for c in codes if c not in found or found[c].retired_at is not None or found[c].verification != "partner"]
    if bad:
        raise Unprocessable(
            f"Not partner-verified action types in the catalogue: {', '.join(bad)}.", problem="action-not-partner"
        )
    return codes


def _webhook(settings: Settings, url: str) -> tuple[str, str, str]:
    """(url, plaintext secret shown once, encrypted secret stored)."""
    check_webhook_url(url, allow_private=settings.webhook_allow_private)
    secret = new_secret("whsec")
    return url, secret, SecretBox(settings).encrypt(secret)


async def add_key(session: AsyncSession, settings: Settings, partner_id: str, now: datetime) -> tuple[str, str]:
    key_id, secret = new_key_id(), new_secret("psk")
    session.add(
        PartnerKey(key_id=key_id, partner_id=partner_id, secret=SecretBox(settings).encrypt(secret), created_at=now)
    )
    await session.flush()
    return key_id, secret


async def create_partner(
    session: AsyncSession, settings: Settings, data: PartnerCreate, now: datetime
) -> tuple[Partner, str, str, str | None]:
    """A partner and its first key: (partner, key_id, secret, webhook_secret); secrets shown once."""
    actions = await _check_actions(session, data.allowed_actions)
    taken = (await session.execute(select(col(Partner.id)).where(col(Partner.name) == data.name))).first()
    if taken:
        raise Conflict("A partner with that name exists.", problem="partner-name-taken")
    webhook_secret = None
    partner = Partner(name=data.name, kind=data.kind, allowed_actions=actions, created_at=now)
    if data.webhook_url:
        partner.webhook_url, webhook_secret, partner.webhook_secret = _webhook(settings, data.webhook_url)
    session.add(partner)
    await session.flush()
    key_id, secret = await add_key(session, settings, partner.id, now)
    return partner, key_id, secret, webhook_secret


async def get_partner(session: AsyncSession, partner_id: str) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("No such partner.", problem="partner-not-found")
    return partner


async def update_partner(
    session: AsyncSession, settings: Settings, partner_id: str, data: PartnerUpdate
) -> tuple[Partner, str | None]:
    partner = await get_partner(session, partner_id)
    webhook_secret = None
    if data.name is not None and data.name != partner.name:
        taken = (await session.execute(select(col(Partner.id)).where(col(Partner.name) == data.name))).first()
        if taken:
            raise Conflict("A partner with that name exists.", problem="partner-name-taken")
        partner.name = data.name
    if data.kind is not None:
        partner.kind = data.kind
    if data.allowed_actions is not None:
        partner.allowed_actions = await _check_actions(session, data.allowed_actions)
    if data.webhook_url is not None:
        if data.webhook_url == "":
            partner.webhook_url = partner.webhook_secret = None
        else:
            partner.webhook_url, webhook_secret, partner.webhook_secret = _webhook(settings, data.webhook_url)
    session.add(partner)
    await session.flush()
    return partner, webhook_secret


async def revoke_key(session: AsyncSession, partner_id: str, key_id: str, now: datetime) -> None:
    key = (
        await session.execute(
            select(PartnerKey).where(col(PartnerKey.key_id) == key_id, col(PartnerKey.partner_id) == partner_id)
        )
    ).scalar_one_or_none()
    if key is None:
        raise NotFound("No such key for this partner.", problem="key-not-found")
    if key.revoked_at is None:
        key.revoked_at = now
        session.add(key)
        await session.flush()


async def list_partners(session: AsyncSession) -> list[Partner]:
    return list((await session.execute(select(Partner).order_by(col(Partner.name)))).scalars())


async def list_keys(session: AsyncSession, partner_id: str) -> list[PartnerKey]:
    """The partner's signing keys, revoked ones included (404 for an unknown partner)."""
    await get_partner(session, partner_id)
    rows = await session.execute(
        select(PartnerKey).where(col(PartnerKey.partner_id) == partner_id).order_by(col(PartnerKey.created_at))
    )
    return list(rows.scalars())

"""NGO onboarding (operator): NGOs, their API keys and webhook settings, and key authentication (SPEC 9).

A key is stored only as its hash and a webhook secret only encrypted; both are shown once.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.catalog.models import Project
from server.catalog.seasons import current_window
from server.catalog.service import ordered_in_window
from server.crypto import SecretBox, hash_api_key, new_secret
from server.errors import Conflict, NotFound
from server.planting.models import Ngo, NgoKey, Planting, PlantingOrder
from server.planting.schemas import (
    NgoCreate,
    NgoKeyCreated,
    NgoKeyPublic,
    NgoProject,
    NgoPublic,
    NgoSummary,
    NgoUpdate,
)
from server.settings import Settings
from server.webhooks.urls import check_webhook_url


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
    query = select(col(Ngo.id)).where(func.lower(col(Ngo.name)) == name.lower())
    if ngo_id is not None:
        query = query.where(col(Ngo.id) != ngo_id)
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


async def list_ngos(session: AsyncSession) -> list[NgoSummary]:
    """Every NGO, by name (a short list: operators create them one by one)."""
    rows = await session.execute(select(Ngo).order_by(func.lower(col(Ngo.name)), col(Ngo.id)))
    return [NgoSummary.model_validate(ngo, from_attributes=True) for ngo in rows.scalars()]


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
    rows = await session.execute(select(NgoKey).where(col(NgoKey.ngo_id) == ngo_id).order_by(col(NgoKey.created_at)))
    return [NgoKeyPublic(key_id=k.key_id, created_at=k.created_at, revoked_at=k.revoked_at) for k in rows.scalars()]


async def create_key(session: AsyncSession, ngo_id: str, now: datetime) -> NgoKeyCreated:
    await get_ngo(session, ngo_id)
    return await _add_key(session, ngo_id, now)


async def revoke_key(session: AsyncSession, ngo_id: str, key_id: str, now: datetime) -> None:
    """Revoke a key (repeating it changes nothing); an unknown key or another NGO's -> 404."""
    key = (
        await session.execute(select(NgoKey).where(col(NgoKey.key_id) == key_id, col(NgoKey.ngo_id) == ngo_id))
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
            .join(NgoKey, col(NgoKey.ngo_id) == col(Ngo.id))
            .where(col(NgoKey.key_hash) == hash_api_key(api_key), col(NgoKey.revoked_at).is_(None))
        )
    ).scalar_one_or_none()


async def ngo_projects(session: AsyncSession, ngo_id: str, now: datetime) -> list[NgoProject]:
    """The NGO's projects for its portal: the season window of today, the capacity it has left
    (counted as the batching job counts it, SPEC 8.1) and the trees planted in all."""
    projects = list(
        (await session.execute(select(Project).where(col(Project.ngo_id) == ngo_id).order_by(col(Project.name))))
        .scalars()
        .all()
    )
    rows = await session.execute(
        select(col(PlantingOrder.project_id), func.count(col(Planting.tree_id)))
        .join(Planting, col(Planting.order_id) == col(PlantingOrder.id))
        .where(col(PlantingOrder.ngo_id) == ngo_id)
        .group_by(col(PlantingOrder.project_id))
    )
    planted = {project_id: int(count) for project_id, count in rows}
    result = []
    for project in projects:
        window = current_window(project.seasons, now.date())
        remaining = None
        if window is not None:
            remaining = max(0, project.capacity_per_season - await ordered_in_window(session, project.id, *window))
        result.append(
            NgoProject(
                id=project.id,
                name=project.name,
                region=project.region,
                status=project.status,
                capacity_per_season=project.capacity_per_season,
                season_start=window[0] if window else None,
                season_end=window[1] if window else None,
                remaining_capacity=remaining,
                trees_planted=planted.get(project.id, 0),
            )
        )
    return result

"""Users' side of partners (SPEC 7.1): green codes (issued, capped, expired) and partner links, which
a redeemed code creates and a user can end."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.db import dialect_insert, new_id
from server.errors import Conflict, NotFound
from server.partners.models import GreenCode, Partner, PartnerLink
from server.settings import Settings
from server.users.models import User


async def lock_user(session: AsyncSession, user_id: str) -> None:
    """Serialize a user's writes: a row lock on PostgreSQL (SQLite writers already hold the lock)."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


def _live(user_id: str, now: datetime) -> list[Any]:
    return [GreenCode.user_id == user_id, GreenCode.redeemed_at.is_(None), GreenCode.expires_at > now]


async def issue_green_code(session: AsyncSession, settings: Settings, user_id: str, now: datetime) -> GreenCode:
    """A new 18-digit code valid 5 minutes; at most 5 live codes per user, a sixth drops the oldest."""
    await lock_user(session, user_id)
    await session.execute(
        delete(GreenCode).where(
            GreenCode.user_id == user_id,
            GreenCode.expires_at < now - timedelta(seconds=settings.green_code_retention_s),
        )
    )
    live = list(
        (
            await session.execute(
                select(GreenCode.id).where(*_live(user_id, now)).order_by(GreenCode.created_at, GreenCode.id)
            )
        ).scalars()
    )
    excess = len(live) - (settings.green_code_max_live - 1)
    if excess > 0:
        await session.execute(delete(GreenCode).where(GreenCode.id.in_(live[:excess])))
    for _ in range(5):
        code = GreenCode(
            code=str(10**17 + secrets.randbelow(9 * 10**17)),
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.green_code_ttl_s),
        )
        try:
            async with session.begin_nested():
                session.add(code)
                await session.flush()
            return code
        except IntegrityError:  # the same 18 digits are in use: draw again
            continue
    raise Conflict("Could not issue a unique code; retry.", problem="conflict")


async def newest_live_code(session: AsyncSession, settings: Settings, user_id: str, now: datetime) -> GreenCode:
    code = (
        await session.execute(
            select(GreenCode)
            .where(*_live(user_id, now))
            .order_by(GreenCode.created_at.desc(), GreenCode.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return code or await issue_green_code(session, settings, user_id, now)


async def list_links(session: AsyncSession, user_id: str) -> list[tuple[PartnerLink, Partner]]:
    rows = await session.execute(
        select(PartnerLink, Partner)
        .join(Partner, Partner.id == PartnerLink.partner_id)
        .where(PartnerLink.user_id == user_id, PartnerLink.unlinked_at.is_(None))
        .order_by(PartnerLink.linked_at.desc(), PartnerLink.id.desc())
    )
    return [(link, partner) for link, partner in rows.all()]


async def unlink(session: AsyncSession, user_id: str, partner_id: str, now: datetime) -> None:
    result = await session.execute(
        update(PartnerLink)
        .where(PartnerLink.user_id == user_id, PartnerLink.partner_id == partner_id, PartnerLink.unlinked_at.is_(None))
        .values(unlinked_at=now)
    )
    if result.rowcount == 0:
        raise NotFound("You are not linked to that partner.", problem="link-not-found")


async def link_user(session: AsyncSession, partner_id: str, user_id: str, now: datetime) -> str:
    """Link (or relink) a user to a partner; the `user_ref` stays the same for the pair."""
    insert_ = dialect_insert(session)
    await session.execute(
        insert_(PartnerLink)
        .values(
            id=new_id(), partner_id=partner_id, user_id=user_id, user_ref=f"u_{secrets.token_hex(12)}", linked_at=now
        )
        .on_conflict_do_nothing(index_elements=[PartnerLink.partner_id, PartnerLink.user_id])
    )
    link = (
        await session.execute(
            select(PartnerLink.user_ref, PartnerLink.unlinked_at).where(
                PartnerLink.partner_id == partner_id, PartnerLink.user_id == user_id
            )
        )
    ).one()
    if link.unlinked_at is not None:
        await session.execute(
            update(PartnerLink)
            .where(PartnerLink.partner_id == partner_id, PartnerLink.user_id == user_id)
            .values(unlinked_at=None, linked_at=now)
        )
    return link.user_ref

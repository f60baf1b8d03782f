"""Users' side of partners (SPEC 7.1): green codes (issued, capped, expired) and partner links, which
a redeemed code creates and a user can end."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.db import dialect_insert, new_id, rowcount
from server.errors import Conflict, NotFound
from server.partners.models import GreenCode, Partner, PartnerLink
from server.settings import Settings
from server.users.models import User


async def lock_user(session: AsyncSession, user_id: str) -> None:
    """Serialize a user's writes: a row lock on PostgreSQL (SQLite writers already hold the lock)."""
    await session.execute(select(col(User.id)).where(col(User.id) == user_id).with_for_update())


def _live(user_id: str, now: datetime) -> list[Any]:
    return [col(GreenCode.user_id) == user_id, col(GreenCode.redeemed_at).is_(None), col(GreenCode.expires_at) > now]


async def issue_green_code(session: AsyncSession, settings: Settings, user_id: str, now: datetime) -> GreenCode:
    """A new 18-digit code valid 5 minutes; at most 5 live codes per user, a sixth drops the oldest."""
    await lock_user(session, user_id)
    await session.execute(
        delete(GreenCode).where(
            col(GreenCode.user_id) == user_id,
            col(GreenCode.expires_at) < now - timedelta(seconds=settings.green_code_retention_s),
        )
    )
    live = list(
        (
            await session.execute(
                select(col(GreenCode.id))
                .where(*_live(user_id, now))
                .order_by(col(GreenCode.created_at), col(GreenCode.id))
            )
        ).scalars()
    )
    excess = len(live) - (settings.green_code_max_live - 1)
    if excess > 0:
        await session.execute(delete(GreenCode).where(col(GreenCode.id).in_(live[:excess])))
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
            .order_by(col(GreenCode.created_at).desc(), col(GreenCode.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return code or await issue_green_code(session, settings, user_id, now)


async def list_links(session: AsyncSession, user_id: str) -> list[tuple[PartnerLink, Partner]]:
    rows = await session.execute(
        select(PartnerLink, Partner)
        .join(Partner, col(Partner.id) == col(PartnerLink.partner_id))
        .where(col(PartnerLink.user_id) == user_id, col(PartnerLink.unlinked_at).is_(None))
        .order_by(col(PartnerLink.linked_at).desc(), col(PartnerLink.id).desc())
    )
    return [(link, partner) for link, partner in rows.all()]


async def unlink(session: AsyncSession, user_id: str, partner_id: str, now: datetime) -> None:
    result = await session.execute(
        update(PartnerLink)
        .where(
            col(PartnerLink.user_id) == user_id,
            col(PartnerLink.partner_id) == partner_id,
            col(PartnerLink.unlinked_at).is_(None),
        )
        .values(unlinked_at=now)
    )
    if rowcount(result) == 0:
        raise NotFound("You are not linked to that partner.", problem="link-not-found")


async def link_user(session: AsyncSession, partner_id: str, user_id: str, now: datetime) -> str:
    """Link (or relink) a user to a partner; the `user_ref` stays the same for the pair."""
    insert_ = dialect_insert(session)
    await session.execute(
        insert_(PartnerLink)
        .values(
            id=new_id(), partner_id=partner_id, user_id=user_id, user_ref=f"u_{secrets.token_hex(12)}", linked_at=now
        )
        .on_conflict_do_nothing(index_elements=[col(PartnerLink.partner_id), col(PartnerLink.user_id)])
    )
    user_ref, unlinked_at = (
        await session.execute(
            select(col(PartnerLink.user_ref), col(PartnerLink.unlinked_at)).where(
                col(PartnerLink.partner_id) == partner_id, col(PartnerLink.user_id) == user_id
            )
        )
    ).one()
    if unlinked_at is not None:
        await session.execute(
            update(PartnerLink)
            .where(col(PartnerLink.partner_id) == partner_id, col(PartnerLink.user_id) == user_id)
            .values(unlinked_at=None, linked_at=now)
        )
    return user_ref

"""Members and their sessions: adding a member, joining, and the server-side web sessions.

Sessions run on the wall clock, like every credential (SPEC 2). A session ends when it has been
idle for `web_session_idle_s`, when it is `web_session_max_age_s` old, at sign-out, and when the
member's epoch moves on (removal, password change): the epoch is checked on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio.to_thread
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from server.db import Database, session_scope
from server.members.models import Member, MemberRole, OrgKind, WebSession
from server.settings import Settings
from server.throttle import Throttle
from server.users.security import Passwords

SESSION_TOUCH_S = 60
"""A session's last-seen time is written at most once a minute, not on every page."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def add_member(
    session: AsyncSession, *, email: str, org_kind: OrgKind, org_id: str | None, role: MemberRole, now: datetime
) -> Member:
    member = Member(email=email.lower(), org_kind=org_kind, org_id=org_id, role=role, invited_at=now)
    session.add(member)
    await session.flush()
    return member


async def join(session: AsyncSession, member: Member, *, name: str, password_hash: str, now: datetime) -> Member:
    """The invitee chose a name and a password: the member can sign in from now on."""
    member.name = name
    member.password_hash = password_hash
    member.joined_at = now
    session.add(member)
    await session.flush()
    return member


async def member_by_email(session: AsyncSession, email: str) -> Member | None:
    query = select(Member).where(col(Member.email) == email.lower(), col(Member.removed_at).is_(None))
    return (await session.execute(query)).scalar_one_or_none()


async def sign_in(
    session: AsyncSession,
    database: Database,
    passwords: Passwords,
    throttle: Throttle,
    *,
    email: str,
    password: str,
    address: str,
    now: datetime,
) -> tuple[Member, str] | None:
    """A new session for the member with this email and password, else None (429 over the limit).

    As the API's login (users.service.login): counted before the password is checked and given
    back when it is right; the member is read outside the request's transaction, which on SQLite
    holds the write lock the counters need; an unknown email costs a hash check too.
    """
    reservation = await throttle.reserve_login(f"member:{email.lower()}", address)
    async with session_scope(database.read_sessions) as reader:
        member = await member_by_email(reader, email)
    verified = await anyio.to_thread.run_sync(passwords.verify, member.password_hash if member else None, password)
    if member is None or not verified:
        return None
    await throttle.give_back(reservation)
    return member, await start_session(session, member, now)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session and its member, as a page sees them."""

    member: Member
    session: WebSession


async def start_session(session: AsyncSession, member: Member, now: datetime) -> str:
    """A new session for `member`; the returned token goes into the cookie and nowhere else."""
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=token_hash(token),
            member_id=member.id,
            member_epoch=member.session_epoch,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
        )
    )
    await session.flush()
    return token


async def live_session(session: AsyncSession, token: str, settings: Settings, now: datetime) -> SignedIn | None:
    """The session behind a cookie's token, if it is still live; its last-seen time is moved on."""
    query = (
        select(WebSession, Member)
        .join(Member, col(Member.id) == col(WebSession.member_id))
        .where(
            col(WebSession.token_hash) == token_hash(token),
            col(WebSession.ended_at).is_(None),
            col(WebSession.last_seen_at) > now - timedelta(seconds=settings.web_session_idle_s),
            col(WebSession.created_at) > now - timedelta(seconds=settings.web_session_max_age_s),
            col(WebSession.member_epoch) == col(Member.session_epoch),
            col(Member.removed_at).is_(None),
        )
    )
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return None
    web_session, member = row
    await session.execute(
        update(WebSession)
        .where(
            col(WebSession.token_hash) == web_session.token_hash,
            col(WebSession.last_seen_at) < now - timedelta(seconds=SESSION_TOUCH_S),
        )
        .values(last_seen_at=now)
    )
    return SignedIn(member=member, session=web_session)


async def end_session(session: AsyncSession, token: str, now: datetime) -> None:
    """Sign-out: the token stops working at once, and a copy of the cookie replayed later too."""
    await session.execute(
        update(WebSession)
        .where(col(WebSession.token_hash) == token_hash(token), col(WebSession.ended_at).is_(None))
        .values(ended_at=now)
    )

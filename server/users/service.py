"""Accounts: registration, login, token rotation, profile and deletion."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import anyio
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.db import Database, session_scope
from server.errors import Conflict, Unauthorized
from server.i18n import negotiate
from server.ledger import service as ledger
from server.settings import Settings
from server.throttle import Throttle
from server.users.models import RefreshToken, User
from server.users.schemas import RegisterRequest, Tokens, UpdateMeRequest, UserPublic
from server.users.security import (
    Passwords,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from server.users.timezones import effective_timezone, local_time_on

DELETED_DISPLAY_NAME = "Deleted user"
LOGIN_ACCOUNT = select(col(User.id), col(User.password_hash)).where(
    col(User.handle) == bindparam("login_handle"), col(User.deleted_at).is_(None)
)


def to_public(user: User, now: datetime) -> UserPublic:
    pending = user.pending_timezone if user.pending_timezone_at and now < user.pending_timezone_at else None
    return UserPublic(
        id=user.id,
        handle=user.handle or "",
        display_name=user.display_name,
        timezone=effective_timezone(user, now),
        allow_steal=user.allow_steal,
        language=user.language,
        created_at=user.created_at,
        pending_timezone=pending,
        pending_timezone_at=user.pending_timezone_at if pending else None,
    )


async def _issue_tokens(session: AsyncSession, settings: Settings, user_id: str) -> Tokens:
    wall_now = datetime.now(UTC)
    token, token_hash = new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user_id,
            token_hash=token_hash,
            expires_at=wall_now + timedelta(seconds=settings.refresh_token_ttl_s),
            created_at=wall_now,
        )
    )
    await session.flush()
    return Tokens(
        access_token=issue_access_token(settings, user_id),
        refresh_token=token,
        expires_in=settings.access_token_ttl_s,
    )


async def register(
    session: AsyncSession,
    settings: Settings,
    passwords: Passwords,
    data: RegisterRequest,
    now: datetime,
    accept_language: str | None = None,
) -> tuple[User, Tokens]:
    taken = (await session.execute(select(col(User.id)).where(col(User.handle) == data.handle))).first()
    if taken:
        raise Conflict("That handle is taken.", problem="handle-taken")
    password_hash = await anyio.to_thread.run_sync(passwords.hash, data.password)
    user = User(
        handle=data.handle,
        display_name=data.display_name,
        password_hash=password_hash,
        timezone=data.timezone,
        language=data.language or negotiate(accept_language),
        created_at=now,
    )
    session.add(user)
    await session.flush()
    await ledger.open_balance(session, user.id)
    return user, await _issue_tokens(session, settings, user.id)


async def login(
    session: AsyncSession,
    database: Database,
    settings: Settings,
    passwords: Passwords,
    throttle: Throttle,
    handle: str,
    password: str,
    address: str,
) -> Tokens:
    """SPEC 2: an unknown handle and a wrong password get the same answer after the same work.

    The attempt is counted before the password is checked and given back when it is right. The
    account is read outside the request's transaction: on SQLite that one takes the write lock,
    which hashing should not hold and the counters' own transactions need.
    """
    handle = handle.lower()
    reservation = await throttle.reserve_login(handle, address)
    async with session_scope(database.read_sessions) as reader:
        account = (await reader.execute(LOGIN_ACCOUNT, {"login_handle": handle})).first()
    # Verified even without an account (against a decoy hash), so both failures take as long.
    verified = await anyio.to_thread.run_sync(passwords.verify, account.password_hash if account else None, password)
    if account is None or not verified:
        raise Unauthorized("Unknown handle or wrong password.", problem="invalid-credentials")
    await throttle.give_back(reservation)
    return await _issue_tokens(session, settings, account.id)


async def refresh(session: AsyncSession, settings: Settings, token: str) -> Tokens:
    wall_now = datetime.now(UTC)
    user_id = (
        await session.execute(
            update(RefreshToken)
            .where(
                col(RefreshToken.token_hash) == hash_refresh_token(token),
                col(RefreshToken.revoked_at).is_(None),
                col(RefreshToken.expires_at) > wall_now,
            )
            .values(revoked_at=wall_now)
            .returning(col(RefreshToken.user_id))
        )
    ).scalar()
    if user_id is None:
        raise Unauthorized("The refresh token is not valid.", problem="invalid-refresh-token")
    alive = (
        await session.execute(select(col(User.id)).where(col(User.id) == user_id, col(User.deleted_at).is_(None)))
    ).first()
    if not alive:
        raise Unauthorized("The refresh token is not valid.", problem="invalid-refresh-token")
    return await _issue_tokens(session, settings, user_id)


async def logout(session: AsyncSession, token: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.token_hash) == hash_refresh_token(token), col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def update_me(
    session: AsyncSession, settings: Settings, user: User, data: UpdateMeRequest, now: datetime
) -> User:
    if data.display_name is not None:
        user.display_name = data.display_name
    if data.allow_steal is not None:
        user.allow_steal = data.allow_steal
    if data.language is not None:
        user.language = data.language
    if data.timezone is not None and data.timezone != effective_timezone(user, now):
        _schedule_timezone_change(settings, user, data.timezone, now)
    session.add(user)
    await session.flush()
    return user


def _schedule_timezone_change(settings: Settings, user: User, timezone: str, now: datetime) -> None:
    """SPEC 1: effective at the next local midnight, at most once per N days."""
    min_gap = timedelta(days=settings.timezone_change_min_days)
    if user.timezone_changed_at and now < user.timezone_changed_at + min_gap:
        allowed = user.timezone_changed_at + min_gap
        raise Conflict(
            f"The timezone can change once every {settings.timezone_change_min_days} days; "
            f"next change allowed from {allowed.isoformat()}.",
            problem="timezone-change-too-soon",
        )
    current = effective_timezone(user, now)
    zone = ZoneInfo(current)
    user.timezone = current
    user.pending_timezone = timezone
    user.pending_timezone_at = local_time_on(now.astimezone(zone).date() + timedelta(days=1), time(0), zone)
    user.timezone_changed_at = now


async def delete_me(session: AsyncSession, user: User, now: datetime) -> None:
    """Anonymise: the handle is freed and credentials revoked; ledger rows and certificates stay.
    The caller also has the social domain forget the user's friendships, in the same transaction."""
    user.handle = None
    user.display_name = DELETED_DISPLAY_NAME
    user.password_hash = None
    user.allow_steal = False
    user.deleted_at = now
    session.add(user)
    await session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.user_id) == user.id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    await session.flush()

"""Accounts: registration, login, token rotation, profile and deletion."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import anyio
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.db import Database, session_scope
from server.errors import Conflict, NotFound, Unauthorized
from server.i18n import negotiate
from server.ledger import service as ledger
from server.settings import Settings
from server.throttle import Throttle
from server.users.models import RefreshToken, User
from server.users.schemas import HANDLE_PATTERN, AdminUserPublic, RegisterRequest, Tokens, UpdateMeRequest, UserPublic
from server.users.security import (
    Passwords,
    account_suspended,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
)
from server.users.timezones import effective_timezone, local_time_on

DELETED_DISPLAY_NAME = "Deleted user"
USER_AGENT_MAX = 200
LOGIN_ACCOUNT = select(col(User.id), col(User.password_hash), col(User.session_epoch), col(User.suspended_at)).where(
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
        public_profile=user.public_profile,
        language=user.language,
        email=user.email,
        email_verified=user.email is not None and user.verified_email == user.email.lower(),
        created_at=user.created_at,
        pending_timezone=pending,
        pending_timezone_at=user.pending_timezone_at if pending else None,
    )


def user_agent_of(header: str | None) -> str | None:
    """The User-Agent as a session shows it: printable, and short."""
    if not header:
        return None
    printable = "".join(ch for ch in header if ch.isprintable())
    return printable[:USER_AGENT_MAX] or None


async def _issue_tokens(
    session: AsyncSession, settings: Settings, user_id: str, epoch: int, user_agent: str | None
) -> Tokens:
    """A new session (a refresh token) and an access token tied to it and to the user's epoch."""
    wall_now = datetime.now(UTC)
    token, token_hash = new_refresh_token()
    refresh_token = RefreshToken(
        user_id=user_id,
        token_hash=token_hash,
        expires_at=wall_now + timedelta(seconds=settings.refresh_token_ttl_s),
        created_at=wall_now,
        last_used_at=wall_now,
        user_agent=user_agent_of(user_agent),
    )
    session.add(refresh_token)
    await session.flush()
    return Tokens(
        access_token=issue_access_token(settings, user_id, epoch, refresh_token.id),
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
    user_agent: str | None = None,
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
        email=data.email,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    await ledger.open_balance(session, user.id)
    return user, await _issue_tokens(session, settings, user.id, user.session_epoch, user_agent)


async def login(
    session: AsyncSession,
    database: Database,
    settings: Settings,
    passwords: Passwords,
    throttle: Throttle,
    handle: str,
    password: str,
    address: str,
    user_agent: str | None = None,
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
    if account.suspended_at is not None:  # told only to whoever knows the password
        raise account_suspended()
    return await _issue_tokens(session, settings, account.id, account.session_epoch, user_agent)


async def refresh(session: AsyncSession, settings: Settings, token: str, user_agent: str | None = None) -> Tokens:
    """Rotate in place: the session keeps its id, its token is replaced (the old one stops working)."""
    wall_now = datetime.now(UTC)
    new_token, new_hash = new_refresh_token()
    values: dict[str, object] = {
        "token_hash": new_hash,
        "last_used_at": wall_now,
        "expires_at": wall_now + timedelta(seconds=settings.refresh_token_ttl_s),
    }
    if agent := user_agent_of(user_agent):
        values["user_agent"] = agent
    rotated = (
        await session.execute(
            update(RefreshToken)
            .where(
                col(RefreshToken.token_hash) == hash_refresh_token(token),
                col(RefreshToken.revoked_at).is_(None),
                col(RefreshToken.expires_at) > wall_now,
            )
            .values(**values)
            .returning(col(RefreshToken.id), col(RefreshToken.user_id))
        )
    ).first()
    if rotated is None:
        raise Unauthorized("The refresh token is not valid.", problem="invalid-refresh-token")
    epoch = (
        await session.execute(
            select(col(User.session_epoch)).where(col(User.id) == rotated.user_id, col(User.deleted_at).is_(None))
        )
    ).scalar()
    if epoch is None:
        raise Unauthorized("The refresh token is not valid.", problem="invalid-refresh-token")
    return Tokens(
        access_token=issue_access_token(settings, rotated.user_id, epoch, rotated.id),
        refresh_token=new_token,
        expires_in=settings.access_token_ttl_s,
    )


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
    if data.public_profile is not None:
        user.public_profile = data.public_profile
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


async def end_all_sessions(session: AsyncSession, user_id: str) -> None:
    """SPEC 11.1: every refresh token revoked, and the epoch moved on so that access tokens
    issued before stop working at once (server/auth.py compares it on the row it loads anyway)."""
    await session.execute(
        update(User)
        .where(col(User.id) == user_id)
        .values(session_epoch=col(User.session_epoch) + 1)
        .execution_options(synchronize_session="fetch")
    )
    await session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def delete_me(session: AsyncSession, user: User, now: datetime) -> None:
    """Anonymise: the handle and the email address are freed and every session ended; ledger rows
    and certificates stay. The caller also has the social domain forget the user's friendships,
    in the same transaction."""
    user.handle = None
    user.display_name = DELETED_DISPLAY_NAME
    user.password_hash = None
    user.allow_steal = False
    user.public_profile = False
    user.email = None
    user.verified_email = None
    user.deleted_at = now
    session.add(user)
    await session.flush()
    await end_all_sessions(session, user.id)


async def find_by_handle(session: AsyncSession, handle: str) -> User:
    """An operator's lookup (SPEC 12.4); deleted accounts have no handle."""
    user = (await session.execute(select(User).where(col(User.handle) == handle.lower()))).scalar_one_or_none()
    if user is None:
        raise NotFound("No user has that handle.", problem="user-not-found")
    return user


async def set_suspension(session: AsyncSession, user_id: str, reason: str | None, now: datetime) -> User:
    """Suspend (with a reason) or, with None, unsuspend. Suspending ends every session; doing
    either twice changes nothing more (a retry is safe)."""
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound("No such user.", problem="user-not-found")
    if reason is not None and user.suspended_at is None:
        user.suspended_at, user.suspension_reason = now, reason
        session.add(user)
        await session.flush()
        await end_all_sessions(session, user.id)
    elif reason is None and user.suspended_at is not None:
        user.suspended_at, user.suspension_reason = None, None
        session.add(user)
        await session.flush()
    await session.refresh(user)
    return user


async def public_profile_owner(session: AsyncSession, handle: str) -> User:
    """The user whose page `/u/{handle}` is (SPEC 12.2): only one who turned `public_profile` on and
    is neither suspended nor deleted. Every other case is the same 404 as an unknown handle, so the
    page tells nobody whether a handle exists."""
    user = None
    if re.fullmatch(HANDLE_PATTERN, handle):
        user = (
            await session.execute(
                select(User).where(
                    col(User.handle) == handle.lower(),
                    col(User.public_profile).is_(True),
                    col(User.suspended_at).is_(None),
                    col(User.deleted_at).is_(None),
                )
            )
        ).scalar_one_or_none()
    if user is None:
        raise NotFound("No public profile has that handle.", problem="user-not-found")
    return user


def to_admin(user: User) -> AdminUserPublic:
    return AdminUserPublic(
        id=user.id,
        handle=user.handle or "",
        display_name=user.display_name,
        created_at=user.created_at,
        suspended=user.suspended_at is not None,
        suspended_at=user.suspended_at,
        suspension_reason=user.suspension_reason,
    )

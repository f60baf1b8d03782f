"""Email verification, password reset and change, sessions (SPEC 11.1).

No answer tells whether an address has an account: `PUT /me/email` and a reset request answer
the same 202 whatever the address, and the reset does the same work either way but for the
writes. Links carry a random token whose SHA-256 is stored; a token is spent by a guarded UPDATE,
so it works once however many requests race with it. Tokens expire on the wall clock, like
every credential (SPEC 2).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

import anyio
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.accounts.models import AccountToken
from server.accounts.schemas import SessionPublic
from server.clock import wall_clock
from server.errors import BadRequest, Conflict, Forbidden, NotFound
from server.mail import service as mail
from server.pagination import Page, newest_first, page_of
from server.settings import Settings
from server.throttle import Throttle
from server.users.models import RefreshToken, User
from server.users.security import Passwords, hash_refresh_token, new_account_token
from server.users.service import end_all_sessions

VERIFY = "verify-email"
RESET = "password-reset"
# What secrets.token_urlsafe(32) makes; anything else was never issued.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
EMAIL_ACCEPTED = "A verification link is on its way to this address."
RESET_ACCEPTED = "If an account has this verified address, a link to reset its password is on its way."


def _invalid_token() -> BadRequest:
    return BadRequest("The link is not valid: it was used, it expired, or it never existed.", problem="invalid-token")


async def release_write_lock(session: AsyncSession) -> None:
    """End the request's transaction before a throttling count, which runs in a transaction of
    its own: on SQLite the request holds the process's one writing connection once it has read
    (the signed-in user), and the count would wait for it. Nothing is written yet; the objects
    read stay usable (sessions do not expire them on commit)."""
    await session.commit()


async def _issue_link(
    session: AsyncSession, settings: Settings, user: User, purpose: str, email: str, now: datetime
) -> None:
    """A token for `email`, and the mail that carries its link."""
    token, token_hash = new_account_token()
    wall_now = wall_clock()
    ttl_s = settings.email_verify_ttl_s if purpose == VERIFY else settings.password_reset_ttl_s
    session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=token_hash,
            email=email,
            expires_at=wall_now + timedelta(seconds=ttl_s),
            created_at=wall_now,
        )
    )
    page = "verify-email" if purpose == VERIFY else "reset-password"
    context: dict[str, object] = {
        "display_name": user.display_name,
        "link": f"{settings.public_base_url.rstrip('/')}/{page}?token={token}",
    }
    if purpose == VERIFY:
        context["hours"] = math.ceil(ttl_s / 3600)
    else:
        context["minutes"] = math.ceil(ttl_s / 60)
    await mail.enqueue(session, settings, to=email, kind=purpose, language=user.language, context=context, now=now)


async def _void_tokens(session: AsyncSession, user_id: str, purpose: str) -> None:
    await session.execute(
        update(AccountToken)
        .where(
            col(AccountToken.user_id) == user_id,
            col(AccountToken.purpose) == purpose,
            col(AccountToken.used_at).is_(None),
        )
        .values(used_at=wall_clock())
    )


async def set_email(
    session: AsyncSession, settings: Settings, user: User, email: str, may_mail: bool, now: datetime
) -> None:
    """Keep `email` unverified and mail it a link (`may_mail`: the recipient's cap allows it).

    An address verified by another account is treated like any other: the link is mailed and
    only verifying it answers `email-taken`, to the owner of the address. Giving the address
    this account has verified already needs no link. Earlier links stop working.
    """
    user.email = email
    session.add(user)
    await session.flush()
    if email.lower() == user.verified_email:
        return
    await _void_tokens(session, user.id, VERIFY)
    if may_mail:
        await _issue_link(session, settings, user, VERIFY, email, now)
    await session.flush()


async def reset_token_is_live(session: AsyncSession, token: str) -> bool:
    """Whether a reset link still works, without spending it (the page shows its form only then)."""
    if not TOKEN_PATTERN.fullmatch(token):
        return False
    found = (
        await session.execute(
            select(col(AccountToken.id))
            .join(User, col(User.id) == col(AccountToken.user_id))
            .where(
                col(AccountToken.token_hash) == hash_refresh_token(token),
                col(AccountToken.purpose) == RESET,
                col(AccountToken.used_at).is_(None),
                col(AccountToken.expires_at) > wall_clock(),
                col(User.deleted_at).is_(None),
            )
        )
    ).first()
    return found is not None


async def _spend(session: AsyncSession, purpose: str, token: str) -> tuple[User, str]:
    """Spend a token (once): the live user it belongs to and the address it was mailed to."""
    if not TOKEN_PATTERN.fullmatch(token):
        raise _invalid_token()
    wall_now = wall_clock()
    spent = (
        await session.execute(
            update(AccountToken)
            .where(
                col(AccountToken.token_hash) == hash_refresh_token(token),
                col(AccountToken.purpose) == purpose,
                col(AccountToken.used_at).is_(None),
                col(AccountToken.expires_at) > wall_now,
            )
            .values(used_at=wall_now)
            .returning(col(AccountToken.user_id), col(AccountToken.email))
        )
    ).first()
    if spent is None:
        raise _invalid_token()
    user = (
        await session.execute(select(User).where(col(User.id) == spent.user_id, col(User.deleted_at).is_(None)))
    ).scalar_one_or_none()
    if user is None:
        raise _invalid_token()
    return user, spent.email


async def verify_email(session: AsyncSession, token: str) -> None:
    user, email = await _spend(session, VERIFY, token)
    if user.email is None or user.email.lower() != email.lower():
        raise _invalid_token()  # the account has given another address since
    verified = email.lower()
    taken = (
        await session.execute(select(col(User.id)).where(col(User.verified_email) == verified, col(User.id) != user.id))
    ).first()
    if taken:
        raise Conflict("Another account has verified this address.", problem="email-taken")
    user.verified_email = verified
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # another account verified it a moment ago
        raise Conflict("Another account has verified this address.", problem="email-taken") from exc


async def request_password_reset(
    session: AsyncSession, settings: Settings, email: str, may_mail: bool, now: datetime
) -> None:
    """Mail a reset link if an account has verified `email`; otherwise do nothing, as quietly."""
    user = (
        await session.execute(
            select(User).where(col(User.verified_email) == email.lower(), col(User.deleted_at).is_(None))
        )
    ).scalar_one_or_none()
    if user is not None and may_mail:
        await _issue_link(session, settings, user, RESET, user.verified_email or email, now)
        await session.flush()


async def confirm_password_reset(session: AsyncSession, passwords: Passwords, token: str, password: str) -> None:
    """Set the new password and end every session. The password is hashed before the token is
    looked at, so the hashing holds no lock and every answer costs the same."""
    password_hash = await anyio.to_thread.run_sync(passwords.hash, password)
    user, _ = await _spend(session, RESET, token)
    await _void_tokens(session, user.id, RESET)
    await session.execute(update(User).where(col(User.id) == user.id).values(password_hash=password_hash))
    await end_all_sessions(session, user.id)


async def change_password(
    session: AsyncSession,
    passwords: Passwords,
    throttle: Throttle,
    user: User,
    current_password: str,
    new_password: str,
    address: str,
) -> None:
    """A wrong current password is a failed login (SPEC 11.1): counted, and throttled with them."""
    await release_write_lock(session)
    reservation = await throttle.reserve_login(user.handle or user.id, address)
    if not await anyio.to_thread.run_sync(passwords.verify, user.password_hash, current_password):
        raise Forbidden("The current password is wrong.", problem="wrong-password")
    await throttle.give_back(reservation)
    password_hash = await anyio.to_thread.run_sync(passwords.hash, new_password)
    await _void_tokens(session, user.id, RESET)
    await session.execute(update(User).where(col(User.id) == user.id).values(password_hash=password_hash))
    await end_all_sessions(session, user.id)


async def list_sessions(
    session: AsyncSession, user_id: str, current_session_id: str | None, cursor: str | None, limit: int
) -> Page[SessionPublic]:
    query = select(RefreshToken).where(
        col(RefreshToken.user_id) == user_id,
        col(RefreshToken.revoked_at).is_(None),
        col(RefreshToken.expires_at) > wall_clock(),
    )
    rows = list((await session.execute(newest_first(query, col(RefreshToken.id), cursor, limit))).scalars())
    tokens, next_cursor = page_of(rows, limit)
    return Page(
        items=[
            SessionPublic(
                id=token.id,
                created_at=token.created_at,
                last_used_at=token.last_used_at,
                user_agent=token.user_agent,
                current=token.id == current_session_id,
            )
            for token in tokens
        ],
        next_cursor=next_cursor,
    )


async def end_session(session: AsyncSession, user_id: str, session_id: str) -> None:
    """Revoke one session's refresh token (again: still 204); another user's or none -> 404."""
    found = (
        await session.execute(
            select(col(RefreshToken.revoked_at)).where(
                col(RefreshToken.id) == session_id, col(RefreshToken.user_id) == user_id
            )
        )
    ).first()
    if found is None:
        raise NotFound("No such session.", problem="not-found")
    if found.revoked_at is None:
        await session.execute(
            update(RefreshToken)
            .where(col(RefreshToken.id) == session_id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=wall_clock())
        )

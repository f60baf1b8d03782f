"""Credentials: argon2 password hashes, JWT access tokens, opaque refresh tokens.

All of it runs on the wall clock, never the test clock (SPEC 2, 9).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.errors import Forbidden
from server.settings import Settings

JWT_ALGORITHM = "HS256"
# Our user ids are UUIDs: a `sub` of anything else (a lone surrogate, a NUL, a megabyte) is no
# credential, and is refused before it reaches a query.
USER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Passwords:
    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)
        # Verifying against this when the handle is unknown makes both failures take as long.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(password_hash or self._decoy, password)  # raises unless it matches
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None


@dataclass(frozen=True)
class AccessClaims:
    """What a valid access token says: whose it is, the user's session epoch when it was issued
    (a reset, a password change, logout-all, deletion or suspension moves the epoch on, and older
    tokens stop working), and the session (refresh token) it was issued under."""

    user_id: str
    epoch: int
    session_id: str | None


def issue_access_token(settings: Settings, user_id: str, epoch: int = 0, session_id: str | None = None) -> str:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": user_id,
        "iat": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl_s),
        "typ": "access",
        "jti": secrets.token_hex(8),
        "ep": epoch,
    }
    if session_id is not None:
        claims["sid"] = session_id
    return jwt.encode(claims, settings.secret_key, algorithm=JWT_ALGORITHM)


def read_access_token(settings: Settings, token: str) -> AccessClaims | None:
    """The claims of a valid access token, else None."""
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    if claims.get("typ") != "access" or not isinstance(subject, str) or not USER_ID.fullmatch(subject):
        return None
    # Tokens from before epochs existed carry none: they belong to epoch 0.
    epoch = claims.get("ep", 0)
    session_id = claims.get("sid")
    if type(epoch) is not int or not (
        session_id is None or (isinstance(session_id, str) and USER_ID.fullmatch(session_id))
    ):
        return None
    return AccessClaims(subject, epoch, session_id)


def new_refresh_token() -> tuple[str, str]:
    """(the token shown to the client once, the hash that is stored)."""
    token = "rt_" + secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_account_token() -> tuple[str, str]:
    """A single-use token for a mailed link (email verification, password reset): (the token
    for the link, the hash that is stored). 32 random bytes, so SHA-256 is enough."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def account_suspended() -> Forbidden:
    """SPEC 12.4: a suspended user's credentials, sign-in included, get 403."""
    return Forbidden("This account is suspended.", problem="account-suspended")

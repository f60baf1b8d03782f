"""Credentials: argon2 password hashes, JWT access tokens, opaque refresh tokens.

All of it runs on the wall clock, never the test clock (SPEC 2, 9).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

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


def issue_access_token(settings: Settings, user_id: str) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "iat": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl_s),
        "typ": "access",
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, settings.secret_key, algorithm=JWT_ALGORITHM)


def read_access_token(settings: Settings, token: str) -> str | None:
    """The user id of a valid access token, else None."""
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    if claims.get("typ") != "access" or not isinstance(subject, str) or not USER_ID.fullmatch(subject):
        return None
    return subject


def new_refresh_token() -> tuple[str, str]:
    """(the token shown to the client once, the hash that is stored)."""
    token = "rt_" + secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

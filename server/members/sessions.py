"""Where portal sessions live: the database table `web_sessions`, or Redis when CANOPY_REDIS_URL
is set (SPEC 12.3, 14), behind one interface, `SessionStore` (server/dependencies.py: the app
holds one, built at startup by `session_store()`).

Either store keeps a session under the SHA-256 of the cookie's random token, never the token,
with the member's id and session epoch at sign-in, the CSRF token of its forms, and when it
started and was last seen. A store answers a token only while the session is live by time: seen
within `web_session_idle_s`, started within `web_session_max_age_s`, not ended. Whether the
member is still there, with the same epoch, is the caller's check (service.live_session), the
same for both stores. Sessions run on the wall clock, like every credential (SPEC 2); the last
seen time is written at most once a minute, not on every page.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlmodel import col

from server.db import Database, session_scope
from server.dependencies import SessionRecord, SessionStore
from server.members.models import WebSession
from server.redis_store import redis_answers, redis_client
from server.settings import Settings

SESSION_TOUCH_S = 60
"""A session's last-seen time is written at most once a minute, not on every page."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ended_by(moment: datetime, settings: Settings) -> ColumnElement[bool]:
    """The `web_sessions` rows no longer live at `moment`: signed out, idle past
    `web_session_idle_s`, or older than `web_session_max_age_s` (the `prune` job deletes them)."""
    return (
        (col(WebSession.ended_at) <= moment)
        | (col(WebSession.last_seen_at) <= moment - timedelta(seconds=settings.web_session_idle_s))
        | (col(WebSession.created_at) <= moment - timedelta(seconds=settings.web_session_max_age_s))
    )


def _new_record(member_id: str, member_epoch: int, now: datetime) -> tuple[str, SessionRecord]:
    token = secrets.token_urlsafe(32)
    record = SessionRecord(
        member_id=member_id,
        member_epoch=member_epoch,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
    )
    return token, record


class DatabaseSessions:
    """Sessions in `web_sessions`, each change in a transaction of its own (a sign-in stays
    signed in whatever the request does next); pages look a session up on the read engine."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings

    async def start(self, member_id: str, member_epoch: int, now: datetime) -> tuple[str, SessionRecord]:
        token, record = _new_record(member_id, member_epoch, now)
        async with self.database.transaction() as session:
            session.add(
                WebSession(
                    token_hash=token_hash(token),
                    member_id=record.member_id,
                    member_epoch=record.member_epoch,
                    csrf_token=record.csrf_token,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return token, record

    async def find(self, token: str, now: datetime) -> SessionRecord | None:
        hashed = token_hash(token)
        async with session_scope(self.database.read_sessions) as session:
            found = (
                await session.execute(
                    select(WebSession).where(
                        col(WebSession.token_hash) == hashed,
                        col(WebSession.ended_at).is_(None),
                        col(WebSession.last_seen_at) > now - timedelta(seconds=self.settings.web_session_idle_s),
                        col(WebSession.created_at) > now - timedelta(seconds=self.settings.web_session_max_age_s),
                    )
                )
            ).scalar_one_or_none()
        if found is None:
            return None
        if found.last_seen_at < now - timedelta(seconds=SESSION_TOUCH_S):
            async with self.database.transaction() as session:
                await session.execute(
                    update(WebSession)
                    .where(col(WebSession.token_hash) == hashed, col(WebSession.last_seen_at) < now)
                    .values(last_seen_at=now)
                )
        return SessionRecord(
            member_id=found.member_id,
            member_epoch=found.member_epoch,
            csrf_token=found.csrf_token,
            created_at=found.created_at,
            last_seen_at=now,
        )

    async def end(self, token: str, now: datetime) -> None:
        async with self.database.transaction() as session:
            await session.execute(
                update(WebSession)
                .where(col(WebSession.token_hash) == token_hash(token), col(WebSession.ended_at).is_(None))
                .values(ended_at=now)
            )

    async def close(self) -> None:
        """The database belongs to the app, which disposes of it."""


class RedisSessions:
    """Sessions in Redis under `<prefix>session:<sha256 of the token>`: a JSON value whose time to
    live is what is left of the session (idle time, capped by the maximum age), so Redis forgets
    ended sessions itself. Sign-out deletes the key; the last-seen time is rewritten only while
    the key exists (`SET ... XX`), so a touch racing a sign-out cannot bring the session back."""

    def __init__(self, url: str, prefix: str, settings: Settings, *, max_connections: int, wait_s: float) -> None:
        self.prefix = prefix + "session:"
        self.settings = settings
        self.client = redis_client(url, max_connections=max_connections, wait_s=wait_s)

    def _ttl_ms(self, record: SessionRecord, now: datetime) -> int:
        idle_ends = record.last_seen_at + timedelta(seconds=self.settings.web_session_idle_s)
        max_ends = record.created_at + timedelta(seconds=self.settings.web_session_max_age_s)
        return max(1, int((min(idle_ends, max_ends) - now).total_seconds() * 1000))

    @staticmethod
    def _encode(record: SessionRecord) -> str:
        return json.dumps(
            {
                "member_id": record.member_id,
                "member_epoch": record.member_epoch,
                "csrf_token": record.csrf_token,
                "created_at": record.created_at.timestamp(),
                "last_seen_at": record.last_seen_at.timestamp(),
            }
        )

    @staticmethod
    def _decode(raw: bytes | str) -> SessionRecord:
        data = json.loads(raw)
        return SessionRecord(
            member_id=data["member_id"],
            member_epoch=int(data["member_epoch"]),
            csrf_token=data["csrf_token"],
            created_at=datetime.fromtimestamp(data["created_at"], UTC),
            last_seen_at=datetime.fromtimestamp(data["last_seen_at"], UTC),
        )

    async def start(self, member_id: str, member_epoch: int, now: datetime) -> tuple[str, SessionRecord]:
        token, record = _new_record(member_id, member_epoch, now)
        async with _answers():
            await self.client.set(self.prefix + token_hash(token), self._encode(record), px=self._ttl_ms(record, now))
        return token, record

    async def find(self, token: str, now: datetime) -> SessionRecord | None:
        key = self.prefix + token_hash(token)
        async with _answers():
            raw = await self.client.get(key)
        if raw is None:
            return None
        record = self._decode(raw)
        idle_limit = now - timedelta(seconds=self.settings.web_session_idle_s)
        age_limit = now - timedelta(seconds=self.settings.web_session_max_age_s)
        if record.last_seen_at <= idle_limit or record.created_at <= age_limit:
            return None
        if record.last_seen_at < now - timedelta(seconds=SESSION_TOUCH_S):
            seen = SessionRecord(
                member_id=record.member_id,
                member_epoch=record.member_epoch,
                csrf_token=record.csrf_token,
                created_at=record.created_at,
                last_seen_at=now,
            )
            async with _answers():
                await self.client.set(key, self._encode(seen), px=self._ttl_ms(seen, now), xx=True)
            return seen
        return record

    async def end(self, token: str, now: datetime) -> None:
        async with _answers():
            await self.client.delete(self.prefix + token_hash(token))

    async def close(self) -> None:
        await self.client.aclose()


def _answers() -> AbstractAsyncContextManager[None]:
    return redis_answers("session store", problem="session-store-unavailable")


def session_store(settings: Settings, database: Database) -> SessionStore:
    """Redis when CANOPY_REDIS_URL is set, else the database: either way shared by every worker."""
    if settings.redis_url:
        return RedisSessions(
            settings.redis_url,
            settings.redis_key_prefix,
            settings,
            max_connections=settings.redis_max_connections,
            wait_s=settings.db_pool_timeout_s,
        )
    return DatabaseSessions(database, settings)

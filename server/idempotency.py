"""`Idempotency-Key` on any POST (SPEC 10).

Keys are scoped to the credential (for partners: key id and signature), method and path. The
first request claims the key in its own committed transaction, so a concurrent repeat sees it
and gets 409; when the first finishes, its response is stored and a repeat within the retention
window replays it. The same key with another body gets 422. Requests refused by validation (400,
413, 415, 422) or authentication (401), rate limiting (429) and server errors are forgotten, so
they can be retried with the key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import LargeBinary, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Column, Field, SQLModel

from server.errors import BadRequest, Conflict, Unprocessable

FORGOTTEN_STATUSES = frozenset({400, 401, 413, 415, 422, 429})
# A claim older than this whose request never finished (a crashed worker) may be taken over.
STALE_CLAIM = timedelta(minutes=5)


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_records"

    scope_hash: str = Field(primary_key=True, max_length=64)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    headers_json: str | None = None
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime


def _digest(*parts: bytes) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))
        sha.update(part)
    return sha.hexdigest()


class IdempotencyMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    exclude_opt_key = "skip_idempotency"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request[Any, Any, Any] = Request(scope, receive)
        key = request.headers.get("idempotency-key")
        if request.method != "POST" or key is None:
            await next_app(scope, receive, send)
            return
        if not 1 <= len(key) <= 255:
            raise BadRequest("Idempotency-Key must be 1-255 characters.", problem="idempotency-key")

        # A partner's key id is not secret: its scope includes the signature, so only the signer
        # (or a byte-exact retry of its request, inside the signature window) gets a replay.
        credential = "|".join(
            request.headers.get(name, "") for name in ("authorization", "canopy-key-id", "canopy-signature")
        )
        scope_hash = _digest(credential.encode(), b"POST", scope["path"].encode(), key.encode())
        request_hash = _digest(await request.body())
        app_state = scope["litestar_app"].state
        database, clock = app_state.database, app_state.clock

        now = await clock.now()
        replay = await self._claim(database, scope_hash, request_hash, now, app_state.settings.idempotency_ttl_s)
        if replay is not None:
            await replay(scope, receive, send)
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"content-length", b"date", b"server")
                ]
            elif message["type"] == "http.response.body":
                captured["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await next_app(scope, receive, capture)
        finally:
            await self._settle(database, scope_hash, captured)

    async def _claim(
        self, database: Any, scope_hash: str, request_hash: str, now: datetime, ttl_s: int
    ) -> ASGIApp | None:
        """Claim the key (None), or return the stored response; 409 while in flight, 422 on another body."""
        try:
            async with database.transaction() as session:
                session.add(IdempotencyRecord(scope_hash=scope_hash, request_hash=request_hash, created_at=now))
            return None
        except IntegrityError:
            pass
        async with database.transaction() as session:
            record = (
                await session.execute(select(IdempotencyRecord).where(IdempotencyRecord.scope_hash == scope_hash))
            ).scalar_one_or_none()
            if record is None:  # settled as forgotten in between: claim it again
                session.add(IdempotencyRecord(scope_hash=scope_hash, request_hash=request_hash, created_at=now))
                return None
            expired = record.created_at + timedelta(seconds=ttl_s) <= now
            stale_claim = record.status_code is None and record.created_at + STALE_CLAIM <= now
            if expired or stale_claim:
                await session.execute(
                    update(IdempotencyRecord)
                    .where(IdempotencyRecord.scope_hash == scope_hash)
                    .values(request_hash=request_hash, created_at=now, status_code=None, body=None)
                )
                return None
            if record.request_hash != request_hash:
                raise Unprocessable(
                    "This Idempotency-Key was used with a different request body.", problem="idempotency-key-reused"
                )
            if record.status_code is None:
                raise Conflict(
                    "A request with this Idempotency-Key is still in progress.", problem="idempotency-in-flight"
                )
            return _stored_response(record)

    async def _settle(self, database: Any, scope_hash: str, captured: dict[str, Any]) -> None:
        status = captured["status"]
        async with database.transaction() as session:
            if status in FORGOTTEN_STATUSES or status >= 500:
                await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.scope_hash == scope_hash))
            else:
                await session.execute(
                    update(IdempotencyRecord)
                    .where(IdempotencyRecord.scope_hash == scope_hash)
                    .values(
                        status_code=status,
                        headers_json=json.dumps(captured["headers"]),
                        body=bytes(captured["body"]),
                    )
                )


def _stored_response(record: IdempotencyRecord) -> ASGIApp:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in json.loads(record.headers_json or "[]")]
    headers.append((b"idempotent-replayed", b"true"))
    body = record.body or b""
    headers.append((b"content-length", str(len(body)).encode()))

    async def app(_scope: Scope, _receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": record.status_code or 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app

"""`Idempotency-Key` on any POST (SPEC 10).

Keys are scoped to the credential (for partners: key id and signature), method and path. The
first request claims the key in its own committed transaction, so a concurrent repeat sees it
and gets 409; when the first finishes, its response is stored and a repeat within the retention
window replays it. The same key with another request gets 422. Requests refused by validation
(400, 413, 415, 422) or authentication (401), rate limiting (429) and server errors are
forgotten, so they can be retried with the key. The `prune` job deletes records past retention.

What is stored holds no secret:
- the scope and request are HMAC digests keyed from the secret key, so neither a bearer token
  nor a login password can be recovered from them by guessing;
- a handler marked `issues_credentials=True` (register, login, refresh, new partner or NGO
  keys) answers secrets that are shown once: its successful response is not stored, only that
  it succeeded, and a repeat gets 409 `idempotency-not-replayable` instead of a copy, so a
  retried create never creates twice and a replay never hands back a token rotated since.

A multipart request is identified by its parsed fields and file bytes, not its raw body: every
client draws a new boundary for each attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from litestar import Request
from litestar.datastructures import State, UploadFile
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import LargeBinary, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Column, Field, SQLModel, col

from server.clock import Clock
from server.db import Database
from server.errors import BadRequest, Conflict, Unprocessable
from server.forms import expects_multipart

FORGOTTEN_STATUSES = frozenset({400, 401, 413, 415, 422, 429})
# A claim older than this whose request never finished (a crashed worker) may be taken over.
STALE_CLAIM = timedelta(minutes=5)
# Route `opt` flag: the handler's successful response carries credentials shown only once.
ISSUES_CREDENTIALS = "issues_credentials"
FILE_READ_CHUNK = 64 * 1024


class IdempotencyRecord(SQLModel, table=True):
    """A claimed key. Settled: `status_code` is set; `body` stays NULL for a withheld response
    (one that carried credentials), else it is the response replayed."""

    __tablename__ = "idempotency_records"

    scope_hash: str = Field(primary_key=True, max_length=64)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    headers_json: str | None = None
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = Field(index=True)  # `prune` deletes by it


class _Digest:
    """HMAC-SHA256 over length-prefixed parts, keyed from the server's secret key."""

    def __init__(self, key: bytes) -> None:
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def add(self, part: bytes) -> None:
        self._mac.update(len(part).to_bytes(8, "big"))
        self._mac.update(part)

    def hexdigest(self) -> str:
        return self._mac.hexdigest()


class Stores(Protocol):
    """What the middleware needs of the app's services (server.dependencies.AppServices)."""

    @property
    def database(self) -> Database: ...

    @property
    def clock(self) -> Clock: ...


class IdempotencyMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    exclude_opt_key = "skip_idempotency"

    def __init__(self, secret_key: str, ttl_s: int, stores: Callable[[State], Stores]) -> None:
        """`stores` reads the database and clock from the app's state once the lifespan has built them."""
        self._key = hashlib.sha256(b"canopy-idempotency:" + secret_key.encode()).digest()
        self._ttl_s = ttl_s
        self._stores = stores

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        # The route's request class, so that a form is parsed (and refused) as the handler's would be.
        handler = cast(HTTPRouteHandler, scope["route_handler"])  # `scopes` lets only HTTP in
        request: Request[Any, Any, Any] = handler.resolve_request_class()(scope, receive)
        key = request.headers.get("idempotency-key")
        if request.method != "POST" or key is None:
            await next_app(scope, receive, send)
            return
        if not 1 <= len(key) <= 255:
            raise BadRequest("Idempotency-Key must be 1-255 characters.", problem="idempotency-key")

        # A partner's key id is not secret: its scope includes the signature, so only the signer
        # (or a byte-exact retry of its request, inside the signature window) gets a replay.
        scope_digest = _Digest(self._key)
        for part in (
            *(request.headers.get(name, "") for name in ("authorization", "canopy-key-id", "canopy-signature")),
            "POST",
            scope["path"],
            key,
        ):
            scope_digest.add(part.encode())
        scope_hash = scope_digest.hexdigest()
        request_hash = await self._request_hash(request, scope)
        stores = self._stores(scope["litestar_app"].state)
        database = stores.database
        withhold_success = bool(scope["route_handler"].opt.get(ISSUES_CREDENTIALS))

        now = await stores.clock.now()
        replay = await self._claim(database, scope_hash, request_hash, now, self._ttl_s)
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
            elif message["type"] == "http.response.body" and not (withhold_success and captured["status"] < 300):
                captured["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await next_app(scope, receive, capture)
        finally:
            await self._settle(database, scope_hash, captured, withhold=withhold_success and captured["status"] < 300)

    async def _request_hash(self, request: Request[Any, Any, Any], scope: Scope) -> str:
        """What the request means: the raw body, or for a multipart route its fields and file bytes.

        The form was parsed (or refused) once by `ParseMultipartForms` (server/forms.py); the
        handler reads it from the same cache. Files are hashed in chunks and rewound.
        """
        digest = _Digest(self._key)
        if expects_multipart(scope):
            form = await request.form()
            for name in sorted(set(form.keys())):
                for value in form.getall(name):
                    digest.add(name.encode())
                    if isinstance(value, UploadFile):
                        file_digest = hashlib.sha256()
                        while chunk := await value.read(FILE_READ_CHUNK):
                            file_digest.update(chunk)
                        await value.seek(0)
                        digest.add(b"file:" + file_digest.digest())
                    else:
                        digest.add(b"text:" + str(value).encode())
        else:
            digest.add(await request.body())
        return digest.hexdigest()

    async def _claim(
        self, database: Database, scope_hash: str, request_hash: str, now: datetime, ttl_s: int
    ) -> ASGIApp | None:
        """Claim the key (None) or return the stored response; 409 in flight or withheld, 422 on another request."""
        try:
            async with database.transaction() as session:
                session.add(IdempotencyRecord(scope_hash=scope_hash, request_hash=request_hash, created_at=now))
            return None
        except IntegrityError:
            pass
        async with database.transaction() as session:
            record = (
                await session.execute(select(IdempotencyRecord).where(col(IdempotencyRecord.scope_hash) == scope_hash))
            ).scalar_one_or_none()
            if record is None:  # settled as forgotten in between: claim it again
                session.add(IdempotencyRecord(scope_hash=scope_hash, request_hash=request_hash, created_at=now))
                return None
            expired = record.created_at + timedelta(seconds=ttl_s) <= now
            stale_claim = record.status_code is None and record.created_at + STALE_CLAIM <= now
            if expired or stale_claim:
                await session.execute(
                    update(IdempotencyRecord)
                    .where(col(IdempotencyRecord.scope_hash) == scope_hash)
                    .values(request_hash=request_hash, created_at=now, status_code=None, headers_json=None, body=None)
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
            if record.body is None:
                raise Conflict(
                    f"The request with this Idempotency-Key succeeded ({record.status_code}); its response "
                    "carried credentials, which are shown once and never stored, so it cannot be replayed.",
                    problem="idempotency-not-replayable",
                )
            return _stored_response(record)

    async def _settle(self, database: Database, scope_hash: str, captured: dict[str, Any], *, withhold: bool) -> None:
        status = captured["status"]
        async with database.transaction() as session:
            if status in FORGOTTEN_STATUSES or status >= 500:
                await session.execute(delete(IdempotencyRecord).where(col(IdempotencyRecord.scope_hash) == scope_hash))
            else:
                await session.execute(
                    update(IdempotencyRecord)
                    .where(col(IdempotencyRecord.scope_hash) == scope_hash)
                    .values(
                        status_code=status,
                        headers_json=None if withhold else json.dumps(captured["headers"]),
                        body=None if withhold else bytes(captured["body"]),
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

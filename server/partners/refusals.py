"""Refused signed requests, kept for the partner's integrators (SPEC 12.4).

Every 4xx answer to a signed request whose key names a partner (a bad signature, a stale
timestamp, a revoked key, a bad body, a refused report...) is recorded with its reason; for a
bad signature, with the string Canopy signed, never the secret nor the signature it expected
(that would make Canopy an oracle that signs what anyone sends). A request whose key is unknown
names no partner and is not kept. The refusal is written in a transaction of its own, after the
request's own transaction rolled back; only the newest `KEEP` per partner stay.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.db import OPEN_SESSIONS
from server.dependencies import app_services
from server.errors import TYPE_PREFIX
from server.partners.models import PartnerRefusal

KEEP = 100
SIGNED_MAX = 16 * 1024  # characters of the signed string kept (a batch's body can be far longer)
TARGET_MAX = 2000
DETAIL_MAX = 2000
_BODY_READ_MAX = 64 * 1024  # of a refusal's problem+json answer
SIGNER = "canopy.partner_signer"
"""The key of the `Signer` in the ASGI scope, set by the signature check once the key is known."""

logger = logging.getLogger(__name__)


@dataclass
class Signer:
    """Who a signed request claims to be (the key's partner), and, after a bad signature, what
    Canopy signed."""

    partner_id: str
    key_id: str
    target: str  # the path and query as sent
    signed: str | None = None


def readable(raw: bytes, limit: int) -> str:
    """Bytes as text a page and both databases can hold: invalid UTF-8 and NUL replaced, cut."""
    text = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return text if len(text) <= limit else text[:limit] + "…"


def mark_signer(scope: Scope, signer: Signer) -> None:
    scope[SIGNER] = signer  # type: ignore[literal-required]


def _problem_of(body: bytes) -> tuple[str, str]:
    """(problem, detail) of a problem+json answer; the field errors are added to the detail."""
    try:
        problem = json.loads(body)
    except ValueError:
        return "refused", ""
    if not isinstance(problem, dict):
        return "refused", ""
    name = str(problem.get("type", "refused")).removeprefix(TYPE_PREFIX)[:100]
    detail = str(problem.get("detail", ""))
    errors = problem.get("errors") or []
    if isinstance(errors, list):
        fields = [f"{e.get('field') or '-'}: {e.get('message')}" for e in errors[:10] if isinstance(e, dict)]
        detail = " ".join([detail, *fields]) if fields else detail
    return name, detail


async def record_refusal(session: AsyncSession, refusal: PartnerRefusal) -> None:
    """Add the refusal and keep only the partner's newest `KEEP`."""
    session.add(refusal)
    await session.flush()
    newest = (
        select(col(PartnerRefusal.id))
        .where(col(PartnerRefusal.partner_id) == refusal.partner_id)
        .order_by(col(PartnerRefusal.id).desc())
        .limit(KEEP)
    )
    await session.execute(
        delete(PartnerRefusal).where(
            col(PartnerRefusal.partner_id) == refusal.partner_id, col(PartnerRefusal.id).not_in(newest)
        )
    )


async def latest_refusals(session: AsyncSession, partner_id: str) -> list[PartnerRefusal]:
    rows = await session.execute(
        select(PartnerRefusal)
        .where(col(PartnerRefusal.partner_id) == partner_id)
        .order_by(col(PartnerRefusal.id).desc())
        .limit(KEEP)
    )
    return list(rows.scalars())


class RecordRefusals:
    """Middleware of the signed partner routes: records each 4xx answer to a signed request whose
    partner is known, once the answer is complete (the request's own sessions are closed, and so
    rolled back, first: on SQLite they may hold the only writing connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 0
        body = bytearray()

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and 400 <= status < 500 and len(body) < _BODY_READ_MAX:
                body.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, watch)
        signer: Signer | None = scope.get(SIGNER)  # type: ignore[assignment]
        if signer is None or not 400 <= status < 500:
            return
        for session in scope.pop(OPEN_SESSIONS, ()):  # type: ignore[misc]
            await session.close()
        try:
            await self._record(scope, signer, status, bytes(body))
        except Exception:  # the answer is sent; a lost record must not turn it into an error
            logger.exception("could not record a refused partner request")

    @staticmethod
    async def _record(scope: Scope, signer: Signer, status: int, body: bytes) -> None:
        services = app_services(scope["app"].state)
        problem, detail = _problem_of(body)
        now: datetime = await services.clock.now()
        refusal = PartnerRefusal(
            partner_id=signer.partner_id,
            key_id=signer.key_id,
            method=str(scope.get("method", ""))[:10],
            target=signer.target,
            status=status,
            problem=problem,
            detail=readable(detail.encode(), DETAIL_MAX),
            signed=signer.signed,
            created_at=now,
        )
        async with services.database.transaction() as session:
            await record_refusal(session, refusal)

"""Signed partner requests (SPEC 7.2).

`Canopy-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<METHOD>.<path and query as sent>.<raw body>")>`
with the key named by `Canopy-Key-Id` and `Canopy-Timestamp` in unix seconds, within 300 s of the
server's clock (the test clock when it runs). Several `v1=` values may be sent, comma-separated,
while a partner rotates keys. The path is the one the client sent (ASGI `raw_path`), so a
signature never depends on how the server decodes or normalises it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.types import Scope
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.crypto import SecretBox
from server.dependencies import app_services, client_address, rate_limiter
from server.errors import Unauthorized
from server.logs import set_actor
from server.partners.models import Partner, PartnerKey
from server.partners.refusals import SIGNED_MAX, TARGET_MAX, Signer, mark_signer, readable
from server.rate_limits import Caller

TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
KEY_ID = re.compile(r"^[A-Za-z0-9_]{1,40}$")
SIGNATURE = re.compile(r"^v1=([0-9a-fA-F]{64})$")
MAX_SIGNATURES = 8


def signed_message(timestamp: str, method: str, path_and_query: str, body: bytes) -> bytes:
    return f"{timestamp}.{method.upper()}.{path_and_query}.".encode() + body


def sign(secret: str, timestamp: str, method: str, path_and_query: str, body: bytes) -> str:
    """The hex HMAC-SHA256 a partner sends as `v1=<hex>`."""
    message = signed_message(timestamp, method, path_and_query, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def path_as_sent(scope: Scope) -> str:
    """The request target as the client sent it: the raw path, then `?` and the query if any."""
    raw = scope.get("raw_path") or scope["path"].encode()
    raw_path, _, embedded_query = raw.partition(b"?")  # some clients put the query in raw_path
    query = scope.get("query_string") or embedded_query
    target = raw_path.decode("latin-1")
    if query:
        target += "?" + query.decode("latin-1")
    return target


def _refuse(detail: str, problem: str = "invalid-signature") -> Unauthorized:
    return Unauthorized(detail, problem=problem, headers={"WWW-Authenticate": "Canopy-Signature"})


# Route `opt` flag: the handler charges the partner's rate limit itself, per report (a batch).
CHARGES_PER_REPORT = "charges_per_report"


async def provide_partner(
    state: State,
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    now: NamedDependency[datetime],
) -> Partner:
    """The partner whose key signed this request, or 401. The request is charged to the key's rate
    limit (SPEC 14) once the signature holds, or to the client address's when it is refused."""
    limiter = rate_limiter(state)
    try:
        partner = await _signer(state, request, db_session, now)
    except Unauthorized:
        await limiter.charge(request.scope, limiter.policies.by_address(client_address(request)))
        raise
    if not request.route_handler.opt.get(CHARGES_PER_REPORT):
        await charge_reports(request, 1)
    return partner


async def charge_reports(request: Request[Any, Any, Any], reports: int) -> None:
    """Charge a signed request's reports to its key's rate limit (429 over it)."""
    limiter = rate_limiter(request.app.state)
    caller = Caller(limiter.policies.partner, request.headers["canopy-key-id"])
    await limiter.charge(request.scope, caller, max(1, reports))


async def _signer(state: State, request: Request[Any, Any, Any], db_session: AsyncSession, now: datetime) -> Partner:
    """Once the key is found, its partner is marked on the request, so that this refusal or a later
    one is kept for the partner's portal."""
    settings = app_services(state).settings
    key_id = request.headers.get("canopy-key-id", "")
    timestamp = request.headers.get("canopy-timestamp", "")
    header = request.headers.get("canopy-signature", "")
    row = None
    if KEY_ID.fullmatch(key_id):
        row = (
            await db_session.execute(
                select(col(PartnerKey.secret), col(PartnerKey.revoked_at), Partner)
                .join(Partner, col(Partner.id) == col(PartnerKey.partner_id))
                .where(col(PartnerKey.key_id) == key_id)
            )
        ).first()
    target = path_as_sent(request.scope)
    signer = None
    if row is not None:  # the key names its partner: every refusal from here on is recorded for it
        signer = Signer(partner_id=row.Partner.id, key_id=key_id, target=readable(target.encode("latin-1"), TARGET_MAX))
        mark_signer(request.scope, signer)
    if not key_id or not timestamp or not header:
        raise _refuse(
            "Canopy-Key-Id, Canopy-Timestamp and Canopy-Signature are required.", problem="signature-required"
        )
    if not TIMESTAMP.fullmatch(timestamp):
        raise _refuse("Canopy-Timestamp must be unix seconds.", problem="signature-timestamp")
    if abs(int(timestamp) - now.timestamp()) > settings.partner_signature_tolerance_s:
        raise _refuse(
            f"Canopy-Timestamp is more than {settings.partner_signature_tolerance_s} s from the server's clock.",
            problem="signature-timestamp",
        )
    candidates = [part.strip() for part in header.split(",")][:MAX_SIGNATURES]
    signatures = [match.group(1).lower() for part in candidates if (match := SIGNATURE.fullmatch(part))]
    if not signatures or not KEY_ID.fullmatch(key_id):
        raise _refuse("The request signature is not valid.")
    if row is None or row.revoked_at is not None:
        raise _refuse("The key is unknown or revoked.", problem="unknown-key")
    secret = SecretBox(settings).decrypt(row.secret)
    body = await request.body()
    expected = sign(secret, timestamp, request.method, target, body)
    matched = False
    for candidate in signatures:  # every candidate is compared, in constant time
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        assert signer is not None  # the key was found above
        signer.signed = readable(signed_message(timestamp, request.method, target, body), SIGNED_MAX)
        raise _refuse("The request signature is not valid.")
    partner: Partner = row.Partner
    set_actor("partner", partner.id)
    return partner

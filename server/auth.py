"""Who is calling: the user behind a bearer JWT, or the operator (SPEC 2); and, before either is
resolved, which rate-limit bucket a request is charged to (SPEC 14).

A missing or bad credential gets 401; a valid user credential on an operator route gets 403. Wrong
operator tokens are counted per client address, and over the limit every token gets 429. An access
token is verified once per request: the rate limit's check keeps the claims for the user's provider.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from litestar import Controller
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import Reference, SecurityScheme
from litestar.params import FromHeader
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.content_language import AcceptLanguage, answer_in
from server.db import session_scope
from server.dependencies import app_services, client_address
from server.errors import Forbidden, Unauthorized
from server.i18n import Language, language_or_default, negotiate
from server.logs import set_actor
from server.planting import ngos
from server.rate_limits import Caller, RateLimiter
from server.settings import Settings
from server.users.models import User
from server.users.security import AccessClaims, account_suspended, read_access_token

SECURITY_SCHEMES: dict[str, SecurityScheme | Reference] = {
    "user": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT", description="A user's access token"),
    "operator": SecurityScheme(type="http", scheme="bearer", description="CANOPY_OPERATOR_TOKEN"),
    "ngo": SecurityScheme(type="http", scheme="bearer", description="An NGO API key, ngo_<secret>"),
    "partner": SecurityScheme(
        type="apiKey",
        name="Canopy-Signature",
        security_scheme_in="header",
        description="A signed request (SPEC 7.2): Canopy-Key-Id, Canopy-Timestamp (unix seconds) and "
        'Canopy-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<METHOD>.<path and query>.<raw body>")>',
    ),
}


# Built once (every user request runs it): building it cost a tenth of a cheap request.
LIVE_USER = select(User).where(col(User.id) == bindparam("signed_in_id"), col(User.deleted_at).is_(None))


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# The verified claims of the request's access token (None: it did not verify), in the scope's state.
ACCESS_CLAIMS = "canopy.access_claims"


def access_claims(
    connection: ASGIConnection[Any, Any, Any, Any], settings: Settings, token: str
) -> AccessClaims | None:
    """The claims of the request's bearer token, verified once per request however often asked."""
    state = connection.scope["state"]
    if ACCESS_CLAIMS not in state:
        state[ACCESS_CLAIMS] = read_access_token(settings, token)
    claims: AccessClaims | None = state[ACCESS_CLAIMS]
    return claims


def is_operator_token(settings: Settings, token: str) -> bool:
    return hmac.compare_digest(token.encode(), settings.operator_token.encode())


def rate_limit_caller(connection: ASGIConnection[Any, Any, Any, Any], limiter: RateLimiter) -> Caller | None:
    """The bucket a `/v1` request is charged to (server/rate_limits.py), found without a database
    read; None when nothing is charged here:
    - on a partner route, nothing yet: checking the signature charges the key, or the address when
      it fails (server/partners/signatures.py);
    - the operator token: never limited;
    - an NGO key on an NGO route: that key's bucket, by its hash; a wrong key gets one too, and is
      a failed credential counted per client address (credential-throttled);
    - a user's access token that verifies: that user's bucket, however many tokens it holds;
    - anything else (no credential, a bad one, one of no use on this route): the client address.
    """
    schemes = {name for requirement in connection.route_handler.resolve_security() for name in requirement}
    if "partner" in schemes:
        return None
    policies = limiter.policies
    token = bearer_token(connection)
    if token is not None:
        settings = app_services(connection.app.state).settings
        if is_operator_token(settings, token):
            return None
        if token.startswith("ngo_"):
            if "ngo" in schemes:
                return Caller(policies.ngo, hashlib.sha256(token.encode()).hexdigest())
        elif (claims := access_claims(connection, settings, token)) is not None:
            return Caller(policies.user, claims.user_id)
    return policies.by_address(client_address(connection))


def _missing_credential() -> Unauthorized:
    return Unauthorized(
        "A valid bearer credential is required.",
        problem="unauthorized",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def is_ngo_key(state: State, token: str) -> bool:
    """Whether `token` is a live NGO key, read outside the request's transaction (on SQLite that
    one may hold the write lock the failure counter needs)."""
    if not token.startswith("ngo_"):
        return False
    async with session_scope(app_services(state).database.read_sessions) as reader:
        return await ngos.authenticate(reader, token) is not None


async def provide_current_user(
    state: State, request: ASGIConnection[Any, Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> User:
    settings = app_services(state).settings
    token = bearer_token(request)
    claims = access_claims(request, settings, token) if token else None
    if claims is None:
        # SPEC 2: a valid credential of another role is refused for its role (403), not as bad.
        if token and (is_operator_token(settings, token) or await is_ngo_key(state, token)):
            raise Forbidden("This route is for app users (a user's access token).", problem="user-only")
        raise _missing_credential()
    user = (await db_session.execute(LIVE_USER, {"signed_in_id": claims.user_id})).scalar_one_or_none()
    # Issued before the user's sessions were last ended (reset, password change, logout-all).
    if user is not None and user.suspended_at is not None:
        raise account_suspended()
    if user is None or claims.epoch != user.session_epoch:
        raise _missing_credential()
    set_actor("user", user.id)
    return user


def provide_user_language(
    request: ASGIConnection[Any, Any, Any, Any],
    current_user: NamedDependency[User],
    accept_language: FromHeader[AcceptLanguage] = None,
) -> Language:
    """`Accept-Language` when it names one of our languages, else the account's own (docs/decisions.md)."""
    return answer_in(request, negotiate(accept_language, default=language_or_default(current_user.language)))


async def operator_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The operator token; wrong tokens are throttled per client address (429)."""
    services = app_services(connection.app.state)
    settings, throttle = services.settings, services.throttle
    token = bearer_token(connection)
    if token is None:
        raise _missing_credential()
    address = client_address(connection)
    await throttle.check_credential(address)
    if is_operator_token(settings, token):
        set_actor("operator", None)  # the token names no one
        return
    if access_claims(connection, settings, token) is not None or await is_ngo_key(connection.app.state, token):
        raise Forbidden("This action is for operators only.", problem="operator-only")
    await throttle.credential_failed(address)
    raise _missing_credential()


class OperatorController(Controller):
    """Base of every `/admin` controller: the operator token is required."""

    tags = ["operator"]
    guards = [operator_guard]
    security = [{"operator": []}]


class UserController(Controller):
    """Base of the controllers acting for the signed-in user (`current_user`)."""

    dependencies = {
        "current_user": Provide(provide_current_user),
        "answer_language": Provide(provide_user_language, sync_to_thread=False),
    }
    security = [{"user": []}]

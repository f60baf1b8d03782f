"""Rate limits on `/v1` by credential (SPEC 14), counted by server/counters.py.

Each request of `/v1` is charged to one bucket of one policy: a user's (300 requests a minute), a
partner key's (3,000 reports a minute: a batch of N reports costs N), an NGO key's (300), or a
client address's when there is no credential to go by (120). The operator token is not limited.
Who is charged is decided cheaply, without a second verification of anything (server/auth.py,
`rate_limit_caller`). Over the limit the request is refused with 429 `rate-limited` and a
`Retry-After`; every response charged to a bucket carries `RateLimit-Policy` and `RateLimit`
(draft-ietf-httpapi-ratelimit-headers; docs/decisions.md). A refused request gives back what it
was charged, so exactly the quota passes in a window however many requests race for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv6Network
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.counters import CounterStore, Throttled
from server.proxies import parse_address
from server.settings import Settings

logger = logging.getLogger("canopy.rate_limits")

API_PREFIX = "/v1/"
# Where the request's charge is kept for the response's headers (the ASGI scope's state).
CHARGED = "canopy.rate_limit"
# An IPv6 client is one /64: a single host is given a whole /64 and may use any address in it.
IPV6_CLIENT_PREFIX = 64


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    quota: int
    window_s: int

    @property
    def header(self) -> bytes:
        return f'"{self.name}";q={self.quota};w={self.window_s}'.encode()


@dataclass(frozen=True, slots=True)
class Caller:
    """The bucket a request is charged to: a policy and the key of the caller under it."""

    policy: Policy
    key: str


class Policies:
    def __init__(self, settings: Settings) -> None:
        window = settings.rate_limit_window_s
        self.user = Policy("user", settings.rate_limit_user, window)
        self.partner = Policy("partner", settings.rate_limit_partner_reports, window)
        self.ngo = Policy("ngo", settings.rate_limit_ngo, window)
        self.address = Policy("address", settings.rate_limit_per_address, window)

    def by_address(self, address: str) -> Caller:
        """The bucket of a client address; an IPv6 client's is its /64."""
        parsed = parse_address(address)
        if parsed is not None and parsed.version == 6:
            address = str(IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False))
        return Caller(self.address, address)


class RateLimiter:
    def __init__(self, counters: CounterStore, settings: Settings) -> None:
        self.counters = counters
        self.policies = Policies(settings)

    async def charge(self, scope: Scope, caller: Caller, cost: int = 1) -> None:
        """Charge `cost` to the caller's bucket, or refuse the request (429) and give it back."""
        policy = caller.policy
        window = await self.counters.hit(f"rate:{policy.name}:{caller.key}", policy.window_s, cost)
        if window.count > policy.quota:
            await self.counters.give_back(window)
            logger.info("rate limit %s reached by %s", policy.name, caller.key)
            seconds_left = window.seconds_left()
            fields = {name.decode(): value.decode() for name, value in _fields(policy, 0, seconds_left)}
            raise Throttled(
                f"Over the limit of {policy.quota} per {policy.window_s} s; see Retry-After.",
                problem="rate-limited",
                headers={"Retry-After": str(seconds_left), **fields},
            )
        scope["state"][CHARGED] = (policy, window)


def _fields(policy: Policy, remaining: int, seconds_left: int) -> list[tuple[bytes, bytes]]:
    """The RateLimit-Policy and RateLimit fields of a response."""
    current = f'"{policy.name}";r={remaining};t={seconds_left}'.encode()
    return [(b"ratelimit-policy", policy.header), (b"ratelimit", current)]


class RateLimitMiddleware(ASGIMiddleware):
    """Charges each `/v1` request to the bucket `identify` names (None: nothing to charge now),
    and adds the RateLimit fields to the response of any request charged, here or later (partner
    requests are charged when their signature has been checked)."""

    scopes = (ScopeType.HTTP,)

    def __init__(
        self,
        identify: Callable[[ASGIConnection[Any, Any, Any, Any], RateLimiter], Caller | None],
        limiter: Callable[[State], RateLimiter],
    ) -> None:
        self._identify = identify
        self._limiter = limiter

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if not scope["path"].startswith(API_PREFIX):
            await next_app(scope, receive, send)
            return
        limiter = self._limiter(scope["litestar_app"].state)
        caller = self._identify(ASGIConnection(scope), limiter)
        if caller is not None:
            await limiter.charge(scope, caller)

        async def send_with_limits(message: Message) -> None:
            charged = scope["state"].get(CHARGED)
            if message["type"] == "http.response.start" and charged is not None:
                policy, window = charged
                fields = _fields(policy, max(0, policy.quota - window.count), window.seconds_left())
                message["headers"] = [*message.get("headers", ()), *fields]
            await send(message)

        await next_app(scope, receive, send_with_limits)

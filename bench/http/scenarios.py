"""The HTTP scenarios: which requests each sends, how many connections, and its target.

Every request of a scenario is written to a file before the load starts (tokens minted with the
server's own `issue_access_token`, partner batches signed with `server.partners.signatures.sign`),
so the load generator only replays bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.http.seed import ORDER_TREES, Seeded, ball_id, handle, order_id, photo_id, tree_id, user_id, user_ref
from server.partners.signatures import sign
from server.settings import Settings
from server.users.security import issue_access_token

Request = tuple[str, str, str, dict[str, str]]
REPORTS_PER_BATCH = 500
PLANTINGS_PER_REQUEST = 50


class Tokens:
    """Access tokens for seeded users, minted once (a JWT each, no logins) and kept."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._tokens: dict[int, str] = {}

    def bearer(self, i: int) -> dict[str, str]:
        token = self._tokens.get(i)
        if token is None:
            token = self._tokens[i] = issue_access_token(self.settings, user_id(i))
        return {"Authorization": f"Bearer {token}"}


@dataclass
class Context:
    seeded: Seeded
    tokens: Tokens
    settings: Settings
    conns: int
    bulk_conns: int
    partner_batches: int


@dataclass
class Scenario:
    name: str
    describe: str
    requests: Callable[[Context], Iterator[Request]]
    stop: bool  # each request once (ends early when all are answered); else the list cycles
    bulk: bool = False  # a batch endpoint: fewer connections (Context.bulk_conns)
    items_per_request: int | None = None  # reports or trees per 2xx response (items/s)
    ok: tuple[str, ...] = ("2",)  # status prefixes that are the expected outcome

    def conns(self, ctx: Context) -> int:
        return ctx.bulk_conns if self.bulk else ctx.conns


def _json(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


def collect(ctx: Context) -> Iterator[Request]:
    """Each user (1..N-1) collects their own ripe ball, once."""
    for i in range(1, ctx.seeded.users):
        yield "POST", f"/v1/me/balls/{ball_id(i)}/collect", "", ctx.tokens.bearer(i)


def steal(ctx: Context) -> Iterator[Request]:
    """User 0's friends all steal from the one hot ball: 3 succeed (10% each, 30% at most), the rest
    meet 409 (nothing left, or already stolen): contention on one row."""
    target = f"/v1/users/{handle(0)}/balls/{ball_id(0)}/steal"
    for i in range(1, ctx.seeded.thieves + 1):
        yield "POST", target, "", ctx.tokens.bearer(i)


def steps(ctx: Context) -> Iterator[Request]:
    """Each user reports today's steps once (a new ball, its award, the day's walk record)."""
    today = datetime.now(UTC).date().isoformat()
    body = _json({"steps": 8000})
    for i in range(1, ctx.seeded.users):
        yield "PUT", f"/v1/me/steps/{today}", body, {**ctx.tokens.bearer(i), "Content-Type": "application/json"}


PARTNER_BATCH = "/v1/partner/reports/batch"


def signed_batch(seeded: Seeded, b: int, prefix: str = "bench") -> tuple[str, dict[str, str]]:
    """Batch `b`: 500 metro rides, each report for a different linked user, and its signed headers."""
    timestamp = str(int(datetime.now(UTC).timestamp()))
    occurred = (datetime.now(UTC) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    reports = [
        {
            "report_id": f"{prefix}-{b}-{k}",
            "user_ref": user_ref((b * REPORTS_PER_BATCH + k) % seeded.users),
            "occurred_at": occurred,
            "items": [{"action": "metro_ride", "quantity": 1}],
        }
        for k in range(REPORTS_PER_BATCH)
    ]
    body = _json({"reports": reports})
    headers = {
        "Content-Type": "application/json",
        "Canopy-Key-Id": seeded.partner_key_id,
        "Canopy-Timestamp": timestamp,
        "Canopy-Signature": "v1=" + sign(seeded.partner_secret, timestamp, "POST", PARTNER_BATCH, body.encode()),
    }
    return body, headers


def partner_batches(ctx: Context) -> Iterator[Request]:
    """Signed batches of 500 metro rides, each report for a different linked user."""
    for b in range(ctx.partner_batches):
        yield "POST", PARTNER_BATCH, *signed_batch(ctx.seeded, b)


def plantings(ctx: Context) -> Iterator[Request]:
    """The NGO confirms its orders' trees, 50 a request, the requests interleaved across orders
    (an order is locked while a request plants in it)."""
    planted_at = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    headers = {"Authorization": f"Bearer {ctx.seeded.ngo_api_key}", "Content-Type": "application/json"}
    for chunk in range(ORDER_TREES // PLANTINGS_PER_REQUEST):
        for order in range(ctx.seeded.orders):
            first = 1 + order * ORDER_TREES + chunk * PLANTINGS_PER_REQUEST
            items = [
                {"tree_id": tree_id(t), "planted_at": planted_at, "lat": 0.01, "lon": 0.01, "photo_id": photo_id(t)}
                for t in range(first, first + PLANTINGS_PER_REQUEST)
            ]
            yield "POST", f"/v1/ngo/orders/{order_id(order)}/plantings", _json({"plantings": items}), headers


def tree_image(ctx: Context) -> Iterator[Request]:
    """The same tree PNG again and again (rendered once, then served from the in-process cache)."""
    yield "GET", f"/v1/me/trees/{ctx.seeded.image_tree_id}/image.png", "", ctx.tokens.bearer(1)


def ceiling(ctx: Context) -> Iterator[Request]:
    yield "GET", "/ping", "", {}


CEILING = Scenario("framework ceiling", "plain Litestar JSON GET (bench/ceiling.py)", ceiling, stop=False)

SCENARIOS = {
    s.name: s
    for s in (
        Scenario("collect", "POST /me/balls/{id}/collect, a different user's ripe ball each", collect, stop=True),
        Scenario("steal", "POST /users/{h}/balls/{id}/steal, one hot ball", steal, stop=False, ok=("2", "409")),
        Scenario("steps", "PUT /me/steps/{today}, a different user each", steps, stop=True),
        Scenario(
            "partner",
            "POST /partner/reports/batch, 500 signed reports a batch",
            partner_batches,
            stop=True,
            bulk=True,
            items_per_request=REPORTS_PER_BATCH,
        ),
        Scenario(
            "plantings",
            "POST /ngo/orders/{id}/plantings, 50 trees a request",
            plantings,
            stop=True,
            bulk=True,
            items_per_request=PLANTINGS_PER_REQUEST,
        ),
        Scenario("image", "GET /me/trees/{id}/image.png, the same tree", tree_image, stop=False),
    )
}

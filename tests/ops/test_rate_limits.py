"""Rate limits on /v1 by credential (SPEC 14), counted in this process's memory or in Redis, and
the client address behind trusted proxies.

The in-process app is reached through `Peers`, which sets each request's socket peer from a test
header (Litestar's test client always says `testclient`), so that setup, the callers under test
and the proxies each have an address of their own. Requests are sent all at once with
`asyncio.gather`: the limits must hold exactly under them.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from pydantic import ValidationError

from server.app import create_app
from server.counters import MemoryCounters
from server.proxies import ClientAddresses
from server.settings import Settings
from tests.api import Api
from tests.conftest import make_settings, redis_test_url
from tests.partners.helpers import make_partner, report_id
from tests.planting.helpers import create_ngo
from tests.processes import running_servers

PEER = "x-test-peer"
SETUP = {PEER: "203.0.113.1"}
LIMITS = {
    "rate_limit_user": 5,
    "rate_limit_partner_reports": 6,
    "rate_limit_ngo": 4,
    "rate_limit_per_address": 3,
}


class Peers:
    """The app as reached from the address in the request's `x-test-peer` header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            peer = dict(scope["headers"]).get(PEER.encode())
            if peer is not None:
                scope = {**scope, "client": (peer.decode(), 40000)}
        await self.app(scope, receive, send)


def limited_settings(settings: Settings, store: str, redis_prefix: str | None, **overrides: Any) -> Settings:
    fields = dict(LIMITS, **overrides)
    if store == "redis":
        fields |= {"redis_url": redis_test_url(), "redis_key_prefix": redis_prefix}
    return settings.model_copy(update=fields)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def prefix(store: str, request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("redis_prefix") if store == "redis" else None


async def client_of(settings: Settings) -> AsyncTestClient:
    return AsyncTestClient(Peers(create_app(settings)), base_url="http://canopy.test", timeout=60)  # type: ignore[arg-type]


@pytest.fixture
async def api(settings: Settings, store: str, prefix: str | None, request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    """The app with the small LIMITS (or the test's `settings` marker over them)."""
    marker = request.node.get_closest_marker("settings")
    limited = limited_settings(settings, store, prefix, **(marker.kwargs if marker else {}))
    async with await client_of(limited) as client:
        yield Api(client, limited)


def statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(response.status_code for response in responses)


def limit_fields(response: httpx.Response) -> tuple[str, int, int]:
    """(policy, remaining, reset) of the RateLimit field, checked against RateLimit-Policy."""
    match = re.fullmatch(r'"(\w+)";r=(\d+);t=(\d+)', response.headers["ratelimit"])
    assert match, response.headers["ratelimit"]
    name, remaining, reset = match.group(1), int(match.group(2)), int(match.group(3))
    assert re.fullmatch(rf'"{name}";q=\d+;w=60', response.headers["ratelimit-policy"])
    assert 1 <= reset <= 60
    return name, remaining, reset


def assert_rate_limited(response: httpx.Response, policy: str, quota: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == "urn:canopy:problem:rate-limited"
    assert (body["status"], body["title"]) == (429, "Too Many Requests")
    assert str(quota) in body["detail"]
    assert response.headers["ratelimit-policy"] == f'"{policy}";q={quota};w=60'
    name, remaining, reset = limit_fields(response)
    assert (name, remaining) == (policy, 0)
    assert response.headers["retry-after"] == str(reset)  # the same moment, as the draft asks


async def test_requests_without_credential_are_limited_per_address_exactly(api: Api) -> None:
    from_one = {PEER: "192.0.2.10"}
    responses = await asyncio.gather(*(api.client.get("/v1/projects", headers=from_one) for _ in range(20)))
    assert statuses(responses) == {200: 3, 429: 17}
    passed = [response for response in responses if response.status_code == 200]
    # Each request that passed saw its own count: 2, 1, 0 left, in some order.
    assert sorted(limit_fields(response)[1] for response in passed) == [0, 1, 2]
    assert {limit_fields(response)[0] for response in passed} == {"address"}
    for refused in (response for response in responses if response.status_code == 429):
        assert_rate_limited(refused, "address", 3)
    # Another address has its own bucket; a bad token is no credential: it counts as its address.
    assert (await api.client.get("/v1/projects", headers={PEER: "192.0.2.11"})).status_code == 200
    bad_token = {**from_one, "Authorization": "Bearer not-a-token"}
    assert_rate_limited(await api.client.get("/v1/projects", headers=bad_token), "address", 3)


async def test_ipv6_clients_are_limited_per_64(api: Api) -> None:
    hosts = [f"2001:db8:0:1::{n:x}" for n in range(1, 6)]
    responses = [await api.client.get("/v1/projects", headers={PEER: host}) for host in hosts]
    assert statuses(responses) == {200: 3, 429: 2}
    assert (await api.client.get("/v1/projects", headers={PEER: "2001:db8:0:2::1"})).status_code == 200


async def test_a_user_is_limited_across_its_tokens_and_apart_from_its_address(api: Api) -> None:
    user = await register(api, "maple")
    other = await register(api, "cedar")
    second = await login(api, "maple")
    tokens = [user, second] * 5
    peer = {PEER: "192.0.2.20"}
    responses = await asyncio.gather(
        *(api.client.get("/v1/me", headers={**peer, "Authorization": f"Bearer {token}"}) for token in tokens)
    )
    assert statuses(responses) == {200: 5, 429: 5}
    assert sorted(limit_fields(r)[1] for r in responses if r.status_code == 200) == [0, 1, 2, 3, 4]
    assert_rate_limited(next(r for r in responses if r.status_code == 429), "user", 5)
    # Another user from the same address, and the address without a credential, are not charged.
    assert (await api.client.get("/v1/me", headers={**peer, "Authorization": f"Bearer {other}"})).status_code == 200
    assert (await api.client.get("/v1/projects", headers=peer)).status_code == 200
    # A public route read with the token is the user's too.
    assert_rate_limited(
        await api.client.get("/v1/projects", headers={**peer, "Authorization": f"Bearer {user}"}), "user", 5
    )


async def register(api: Api, handle: str) -> str:
    body = {"handle": handle, "password": "correct horse battery", "display_name": handle}
    response = await api.client.post("/v1/auth/register", json=body, headers=SETUP)
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


async def login(api: Api, handle: str) -> str:
    body = {"handle": handle, "password": "correct horse battery"}
    response = await api.client.post("/v1/auth/login", json=body, headers=SETUP)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def test_the_operator_is_not_limited(api: Api) -> None:
    responses = await asyncio.gather(
        *(api.client.get("/v1/admin/ledger/audit", headers={**api.operator, PEER: "192.0.2.30"}) for _ in range(12))
    )
    assert statuses(responses) == {200: 12}
    assert all("ratelimit" not in response.headers for response in responses)


async def test_an_ngo_key_is_limited_per_key(api: Api) -> None:
    first, second = await create_ngo(api), await create_ngo(api, name="Roots")
    peer = {PEER: "192.0.2.40"}
    responses = await asyncio.gather(
        *(api.client.get("/v1/ngo/orders", headers={**peer, **first.headers}) for _ in range(9))
    )
    assert statuses(responses) == {200: 4, 429: 5}
    assert_rate_limited(next(r for r in responses if r.status_code == 429), "ngo", 4)
    assert (await api.client.get("/v1/ngo/orders", headers={**peer, **second.headers})).status_code == 200
    # An NGO key where no NGO key belongs is no credential: the address pays.
    responses = [await api.client.get("/v1/projects", headers={**peer, **first.headers}) for _ in range(4)]
    assert statuses(responses) == {200: 3, 429: 1}
    assert limit_fields(responses[-1])[0] == "address"


def bogus_report() -> dict[str, Any]:
    """A report refused with 422 (no such green code) once charged: what it costs is all that matters."""
    return {
        "report_id": report_id(),
        "green_code": "000000000000000000",
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "items": [{"action": "metro_ride", "quantity": 1}],
    }


async def test_a_partner_key_is_charged_per_report(api: Api) -> None:
    partner = await make_partner(api)
    peer = {PEER: "192.0.2.50"}
    batch = await partner.batch([bogus_report() for _ in range(4)], headers=peer)
    assert batch.status_code == 200, batch.text
    assert limit_fields(batch)[:2] == ("partner", 2)
    refused = await partner.batch([bogus_report() for _ in range(3)], headers=peer)
    assert_rate_limited(refused, "partner", 6)
    # The refused batch was given back: two single reports still fit, then none.
    singles = await asyncio.gather(*(partner.report(bogus_report(), headers=peer) for _ in range(5)))
    assert statuses(singles) == {422: 2, 429: 3}
    assert sorted(limit_fields(r)[1] for r in singles if r.status_code == 422) == [0, 1]


@pytest.mark.settings(rate_limit_partner_reports=1000)
async def test_a_refused_signature_is_charged_to_the_address(api: Api) -> None:
    partner = await make_partner(api)
    peer = {PEER: "192.0.2.60"}
    forged = [await partner.report(bogus_report(), secret="not-the-secret", headers=peer) for _ in range(4)]
    assert statuses(forged) == {401: 3, 429: 1}
    assert_rate_limited(forged[-1], "address", 3)
    # The key's own bucket is untouched, from any address.
    assert (await partner.report(bogus_report(), headers=peer)).status_code == 422


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(api: Api) -> None:
    responses = [
        await api.client.get("/v1/projects", headers={PEER: "10.1.2.3", "X-Forwarded-For": f"198.51.100.{n}"})
        for n in range(4)
    ]
    assert statuses(responses) == {200: 3, 429: 1}


@pytest.mark.settings(trusted_proxies="10.0.0.0/8, 2001:db8:ffff::/48")
async def test_forwarded_for_is_believed_from_a_trusted_proxy(api: Api) -> None:
    via_proxy = {PEER: "10.1.2.3"}
    # The right-most address that is not a trusted proxy is the client; what is left of it is not.
    chain = "6.6.6.6, 198.51.100.1, 10.9.9.9"
    responses = [
        await api.client.get("/v1/projects", headers={**via_proxy, "X-Forwarded-For": chain}) for _ in range(4)
    ]
    assert statuses(responses) == {200: 3, 429: 1}
    # The same client straight from its address shares the bucket; another client behind the proxy does not.
    assert (await api.client.get("/v1/projects", headers={PEER: "198.51.100.1"})).status_code == 429
    other = {**via_proxy, "X-Forwarded-For": "6.6.6.6, 198.51.100.2"}
    assert (await api.client.get("/v1/projects", headers=other)).status_code == 200


HOSTILE_FORWARDED = [
    b"garbage",
    b"",
    b",,,,",
    b"\xed\xa0\x80",  # a lone surrogate, UTF-8 encoded
    b"\xff\xfe\x00",
    b"1.2.3.4" + b", " * 5000,
    b"9" * 20_000,
    b", ".join(b"198.51.100.%d" % (n % 250) for n in range(3000)),
    b"[2001:db8::1]:443, 198.51.100.9:8080",
    b"[::1",
    b"::ffff:10.0.0.1",
    b"fe80::1%eth0",
]


@pytest.mark.settings(trusted_proxies="10.0.0.0/8", rate_limit_per_address=1000)
@pytest.mark.parametrize("forwarded", HOSTILE_FORWARDED)
async def test_hostile_forwarded_for_never_fails(api: Api, forwarded: bytes) -> None:
    response = await api.client.get("/v1/projects", headers=[(PEER, "10.1.2.3"), ("X-Forwarded-For", forwarded)])
    assert response.status_code == 200, response.text
    assert limit_fields(response)[0] == "address"
    # And a sign-in page, which counts failed logins by the same address.
    login = await api.client.post(
        "/v1/auth/login",
        json={"handle": "nobody", "password": "not the password"},
        headers=[(PEER, "10.1.2.3"), ("X-Forwarded-For", forwarded)],
    )
    assert login.status_code == 401, login.text


def scope(peer: str | None, *forwarded: bytes) -> dict[str, Any]:
    return {"client": (peer, 1) if peer else None, "headers": [(b"x-forwarded-for", value) for value in forwarded]}


def test_client_addresses() -> None:
    untrusted = ClientAddresses("")
    assert untrusted.of(scope("192.0.2.1", b"198.51.100.1")) == "192.0.2.1"
    assert untrusted.of(scope(None)) == "unknown"
    proxies = ClientAddresses("10.0.0.0/8,192.0.2.7")
    assert proxies.of(scope("10.0.0.1", b"198.51.100.1")) == "198.51.100.1"
    assert proxies.of(scope("192.0.2.8", b"198.51.100.1")) == "192.0.2.8"  # not a proxy
    assert proxies.of(scope("192.0.2.7", b"203.0.113.5, 10.2.2.2")) == "203.0.113.5"
    # Several header lines are one list, in order.
    assert proxies.of(scope("10.0.0.1", b"203.0.113.5", b"10.3.3.3")) == "203.0.113.5"
    # Garbage ends the walk at the last address believed; only proxies in the chain: the left-most.
    assert proxies.of(scope("10.0.0.1", b"garbage, 10.4.4.4")) == "10.4.4.4"
    assert proxies.of(scope("10.0.0.1", b"10.5.5.5, 10.4.4.4")) == "10.5.5.5"
    assert proxies.of(scope("10.0.0.1")) == "10.0.0.1"
    assert proxies.of(scope("::ffff:10.0.0.1", b"[2001:db8::5]:443")) == "2001:db8::5"
    assert proxies.of(scope("testclient", b"198.51.100.1")) == "testclient"


@pytest.mark.parametrize("setting", ["10.0.0.0/33", "10.0.0.1/8", "proxy.example", "10.0.0.0/8;192.0.2.0/24"])
def test_trusted_proxies_must_be_networks(setting: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CANOPY_TRUSTED_PROXIES"):
        make_settings("sqlite:///x.db", tmp_path, trusted_proxies=setting)


async def test_memory_windows_restart_and_are_swept() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def wall() -> datetime:
        return now

    counters = MemoryCounters(wall_now=wall)
    first = await counters.hit("rate:user:a", 60, 3)
    assert (first.count, first.ends_at) == (3, now + timedelta(seconds=60))
    await counters.give_back(first)
    assert (await counters.peek("rate:user:a")).count == 0  # type: ignore[union-attr]
    await counters.hit("rate:user:b", 120)
    now += timedelta(seconds=61)
    restarted = await counters.hit("rate:user:a", 60, 2)
    assert (restarted.count, restarted.ends_at) == (2, now + timedelta(seconds=60))
    await counters.give_back(first)  # a window that ended is not given back to
    assert (await counters.peek("rate:user:a")).count == 2  # type: ignore[union-attr]
    now += timedelta(seconds=60)
    await counters.hit("rate:user:c", 60)  # the sweep is due: a and b have ended
    assert set(counters._windows) == {"rate:user:c"}


@pytest.mark.redis
async def test_two_apps_over_one_redis_share_the_counts(settings: Settings, redis_prefix: str) -> None:
    shared = limited_settings(settings, "redis", redis_prefix)
    peer = {PEER: "192.0.2.70"}
    async with await client_of(shared) as first, await client_of(shared) as second:
        responses = await asyncio.gather(*(client.get("/v1/projects", headers=peer) for client in [first, second] * 4))
    assert statuses(responses) == {200: 3, 429: 5}


async def test_without_redis_each_process_counts_its_own(settings: Settings) -> None:
    apart = limited_settings(settings, "memory", None)
    peer = {PEER: "192.0.2.80"}
    async with await client_of(apart) as first, await client_of(apart) as second:
        responses = [await client.get("/v1/projects", headers=peer) for client in [first, second] * 3]
    assert statuses(responses) == {200: 6}


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_a_real_server_believes_forwarded_for_only_from_trusted_proxies(
    settings: Settings, tmp_path: Path, trusted: str
) -> None:
    """Through uvicorn (whose own proxy headers are off): the peer is 127.0.0.1."""
    overrides = {"rate_limit_per_address": 2, "trusted_proxies": trusted}
    with running_servers(settings, tmp_path, **overrides) as (base,), httpx.Client(base_url=base, timeout=60) as client:
        codes = [
            client.get("/v1/projects", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in (1, 1, 1, 2)
        ]
    assert codes == ([200, 200, 429, 200] if trusted else [200, 200, 429, 429])

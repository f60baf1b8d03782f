"""Throttling of failed credentials (SPEC 2, 10), in-process: logins, the operator token, NGO keys;
and the counter stores themselves (database and Redis), with the pruning of ended windows.

The parallel cases, across two worker processes, are in test_throttle_parallel.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from server.app import create_app
from server.counters import DatabaseCounters, RedisCounters, ThrottleCounter
from server.db import Database
from server.ops.prune import PRUNE_STEPS, PruneRun
from server.settings import Settings
from tests.api import Api
from tests.conftest import redis_test_url
from tests.planting.helpers import create_ngo

PASSWORD = "correct horse battery"
WRONG_OPERATOR = {"Authorization": "Bearer not-the-operator-token"}


@pytest.fixture
async def unaudited(settings: Settings) -> AsyncIterator[Api]:
    """The app without the closing ledger audit: it would be sent with the operator token from
    the very address these tests get refused."""
    async with AsyncTestClient(create_app(settings), base_url="http://canopy.test", timeout=60) as client:
        yield Api(client, settings)


def assert_throttled(response, problem: str, window_s: int = 900) -> None:
    assert response.status_code == 429, response.text
    assert 0 < int(response.headers["retry-after"]) <= window_s
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == f"urn:canopy:problem:{problem}"


async def login(api: Api, handle: str, password: str):
    return await api.client.post("/v1/auth/login", json={"handle": handle, "password": password})


async def test_a_right_password_before_the_limit_works_and_does_not_count(api: Api) -> None:
    await api.register("hazel")
    for _ in range(9):
        assert (await login(api, "hazel", "not the password")).status_code == 401
    assert (await login(api, "hazel", PASSWORD)).status_code == 200
    assert (await login(api, "hazel", "not the password")).status_code == 401  # the tenth failure
    assert_throttled(await login(api, "hazel", PASSWORD), "login-throttled")


@pytest.mark.settings(login_fail_limit_per_address=12)
async def test_refusals_for_a_locked_handle_do_not_count_against_the_address(api: Api) -> None:
    await api.register("aspen")
    for _ in range(10):
        assert (await login(api, "aspen", "not the password")).status_code == 401
    for _ in range(5):
        assert_throttled(await login(api, "aspen", "not the password"), "login-throttled")
    assert (await login(api, "nobody_1", "not the password")).status_code == 401
    assert (await login(api, "nobody_2", "not the password")).status_code == 401  # the address's twelfth failure
    refused = await login(api, "nobody_3", "not the password")
    assert_throttled(refused, "login-throttled")
    assert "address" in refused.json()["detail"]


@pytest.mark.settings(credential_fail_limit_per_address=3)
async def test_wrong_operator_tokens_are_throttled_per_address(unaudited: Api) -> None:
    api = unaudited
    user = await api.register()
    for _ in range(3):
        response = await api.client.get("/v1/admin/ledger/audit", headers=WRONG_OPERATOR)
        assert response.status_code == 401
    assert_throttled(await api.client.get("/v1/admin/ledger/audit", headers=WRONG_OPERATOR), "credential-throttled")
    # Over the limit even the right token is refused: a right guess must not stand out.
    assert_throttled(await api.client.get("/v1/admin/ledger/audit", headers=api.operator), "credential-throttled")
    assert_throttled(await user.get("/v1/admin/ledger/audit"), "credential-throttled")
    # Users are not affected, nor is a login.
    assert (await user.get("/v1/me")).status_code == 200
    assert (await login(api, user.handle, PASSWORD)).status_code == 200


@pytest.mark.settings(credential_fail_limit_per_address=3)
async def test_wrong_ngo_keys_are_throttled_per_address(unaudited: Api) -> None:
    api = unaudited
    ngo = await create_ngo(api)
    wrong = {"Authorization": "Bearer ngo_not-a-key"}
    assert (await api.client.get("/v1/ngo/orders", headers=wrong)).status_code == 401
    assert (await api.client.get("/v1/ngo/orders", headers={"Authorization": "Bearer nonsense"})).status_code == 401
    # A writing request whose key lookup holds SQLite's write lock when it is refused.
    refused = await api.client.post("/v1/ngo/photos", files={"photo": ("a.jpg", b"x")}, headers=wrong)
    assert refused.status_code == 401
    assert_throttled(await api.client.get("/v1/ngo/orders", headers=wrong), "credential-throttled")
    assert_throttled(await ngo.get("/v1/ngo/orders"), "credential-throttled")
    # The operator token's failures and the NGO keys' are one count per address.
    assert_throttled(await api.client.get("/v1/admin/ledger/audit", headers=api.operator), "credential-throttled")


async def test_right_credentials_are_not_counted(unaudited: Api) -> None:
    api = unaudited
    ngo = await create_ngo(api)
    for _ in range(150):
        assert (await api.client.get("/v1/admin/ledger/audit", headers=api.operator)).status_code == 200
        assert (await ngo.get("/v1/ngo/orders")).status_code == 200
    assert (await api.client.get("/v1/admin/ledger/audit", headers=WRONG_OPERATOR)).status_code == 401


class FakeWall:
    """The wall clock of a DatabaseCounters, moved by hand to the end of a window."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


async def test_database_windows_count_give_back_restart_and_are_pruned(database: Database, settings: Settings) -> None:
    wall = FakeWall()
    counters = DatabaseCounters(database, wall_now=wall)
    first = await counters.hit("login-handle:ash", 60)
    assert (first.count, first.ends_at) == (1, wall.now + timedelta(seconds=60))
    assert (await counters.hit("login-handle:ash", 60)).count == 2
    second = await counters.hit("login-handle:ash", 60)
    assert second.count == 3 and second.ends_at == first.ends_at
    await counters.give_back(second)
    assert (await counters.peek("login-handle:ash")).count == 2
    assert await counters.peek("login-handle:elm") is None
    await counters.hit("login-handle:elm", 120)

    wall.now += timedelta(seconds=60)  # ash's window has ended, elm's has not
    assert await counters.peek("login-handle:ash") is None
    await counters.give_back(second)  # a window that ended is not given back to
    run = PruneRun(database=database, settings=settings, now=wall.now, wall_now=wall.now)
    assert await PRUNE_STEPS["throttle_counters_deleted"](run) == 1
    async with database.transaction() as session:
        keys = (await session.execute(select(ThrottleCounter.key))).scalars().all()
    assert keys == ["login-handle:elm"]
    restarted = await counters.hit("login-handle:ash", 60)
    assert (restarted.count, restarted.ends_at) == (1, wall.now + timedelta(seconds=60))


async def test_database_window_restarts_in_place_before_pruning(database: Database) -> None:
    wall = FakeWall()
    counters = DatabaseCounters(database, wall_now=wall)
    for _ in range(5):
        await counters.hit("credential-address:10.0.0.1", 60)
    wall.now += timedelta(seconds=61)
    restarted = await counters.hit("credential-address:10.0.0.1", 60)
    assert (restarted.count, restarted.ends_at) == (1, wall.now + timedelta(seconds=60))


@pytest.mark.redis
async def test_redis_windows_count_give_back_and_expire(redis_prefix: str) -> None:
    counters = RedisCounters(redis_test_url(), redis_prefix, max_connections=4, wait_s=5)
    try:
        before = datetime.now(UTC)
        first = await counters.hit("login-handle:ash", 60)
        assert first.count == 1 and before + timedelta(seconds=59) < first.ends_at <= before + timedelta(seconds=61)
        second = await counters.hit("login-handle:ash", 60)
        assert second.count == 2
        await counters.give_back(second, second)
        assert (await counters.peek("login-handle:ash")).count == 0
        await counters.give_back(second)  # never below zero
        assert (await counters.peek("login-handle:ash")).count == 0
        assert await counters.peek("login-handle:elm") is None
        keys = await counters.client.keys(redis_prefix + "*")
        assert keys == [f"{redis_prefix}throttle:login-handle:ash".encode()]
        assert 0 < await counters.client.pttl(keys[0]) <= 60_000
    finally:
        await counters.close()


async def test_an_unreachable_redis_refuses_with_503_not_500(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    async with AsyncTestClient(app, base_url="http://canopy.test") as client:
        response = await client.post("/v1/auth/login", json={"handle": "nobody", "password": "not the password"})
    assert response.status_code == 503, response.text
    assert response.json()["type"].endswith(":throttle-unavailable")
    assert response.headers["retry-after"] == "1"

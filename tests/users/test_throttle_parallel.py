"""Throttling under truly parallel requests (SPEC 2, 10): a real server with two worker processes,
its counters in the database or in Redis, hit from many threads at once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from server.settings import Settings
from tests.conftest import redis_test_url
from tests.processes import running_servers

PASSWORD = "correct horse battery"
Send = Callable[[httpx.Client], httpx.Response]


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def server(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A two-worker server counting in the database, or in Redis under this test's own prefix."""
    store = {}
    if request.param == "redis":
        store = {"redis_url": redis_test_url(), "redis_key_prefix": request.getfixturevalue("redis_prefix")}
    with running_servers(settings, tmp_path, workers=2, db_pool_size=5, **store) as (base,):
        yield base


def all_at_once(base: str, sends: list[Send]) -> list[httpx.Response]:
    """Every request from its own thread and connection, released together."""
    barrier = threading.Barrier(len(sends))

    def run(send: Send) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=120) as client:
            barrier.wait()
            return send(client)

    with ThreadPoolExecutor(len(sends)) as pool:
        return list(pool.map(run, sends))


def login(handle: str, password: str, **headers: str) -> Send:
    return lambda client: client.post("/v1/auth/login", json={"handle": handle, "password": password}, headers=headers)


def register(base: str, handle: str) -> None:
    body = {"handle": handle, "password": PASSWORD, "display_name": handle}
    assert httpx.post(f"{base}/v1/auth/register", json=body, timeout=60).status_code == 201


def statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(response.status_code for response in responses)


def assert_throttled(response: httpx.Response, problem: str) -> None:
    assert response.status_code == 429, response.text
    assert 0 < int(response.headers["retry-after"]) <= 900
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == f"urn:canopy:problem:{problem}"


def test_parallel_wrong_passwords_for_one_handle_get_ten_tries(server: str) -> None:
    register(server, "birch")
    responses = all_at_once(server, [login("birch", "not the password")] * 100)
    assert statuses(responses) == {401: 10, 429: 90}
    assert_throttled(login("birch", PASSWORD)(httpx.Client(base_url=server)), "login-throttled")


def test_a_right_password_before_the_limit_works_and_does_not_count(server: str) -> None:
    register(server, "rowan")
    assert statuses(all_at_once(server, [login("rowan", "not the password")] * 9)) == {401: 9}
    with httpx.Client(base_url=server, timeout=60) as client:
        assert login("rowan", PASSWORD)(client).status_code == 200
        assert login("rowan", "not the password")(client).status_code == 401  # the tenth failure
        assert_throttled(login("rowan", PASSWORD)(client), "login-throttled")


@pytest.mark.settings(login_fail_limit_per_address=20)
def test_parallel_wrong_logins_from_one_address_ignore_forwarded_for(server: str) -> None:
    sends = [login(f"nobody_{n}", "not the password", **{"X-Forwarded-For": f"10.0.{n}.1"}) for n in range(60)]
    assert statuses(all_at_once(server, sends)) == {401: 20, 429: 40}


def test_parallel_wrong_operator_tokens_are_throttled(server: str, settings: Settings) -> None:
    def wrong_token(client: httpx.Client) -> httpx.Response:
        return client.get("/v1/admin/ledger/audit", headers={"Authorization": "Bearer not-the-operator-token"})

    assert statuses(all_at_once(server, [wrong_token] * 300)) == {401: 100, 429: 200}
    right = httpx.get(
        f"{server}/v1/admin/ledger/audit", headers={"Authorization": f"Bearer {settings.operator_token}"}, timeout=60
    )
    assert_throttled(right, "credential-throttled")

"""Steals and waterings truly in parallel: a real server with two worker processes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx

from server.settings import Settings
from tests import test_real_server

server = test_real_server.server  # the two-worker server fixture

THREADS = 24


def each_at_once(calls: list[Callable[[httpx.Client], httpx.Response]]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return call(client)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_parallel_steals_and_waterings_across_two_workers(server: str, settings: Settings) -> None:
    operator = {"Authorization": f"Bearer {settings.operator_token}"}
    http = httpx.Client(base_url=server, timeout=60)

    def register(handle: str) -> dict[str, str]:
        body = {"handle": handle, "password": "correct horse battery", "display_name": handle}
        token = http.post("/v1/auth/register", json=body).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    def befriend(a: dict[str, str], b: dict[str, str], b_handle: str) -> None:
        request = http.post("/v1/me/friends", json={"handle": b_handle}, headers=a).json()
        assert http.post(f"/v1/me/friend-requests/{request['id']}/accept", headers=b).status_code == 200

    def advance_to_next_morning() -> None:
        now = datetime.fromisoformat(http.get("/v1/admin/clock", headers=operator).json()["now"])
        target = now.replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)
        http.post("/v1/admin/clock", json={"advance_seconds": int((target - now).total_seconds())}, headers=operator)

    owner = register("owner")
    thieves = [register(f"thief{i}") for i in range(THREADS)]
    for i, thief in enumerate(thieves):
        befriend(thief, owner, "owner")
        assert http.get("/v1/users/owner/forest", headers=thief).status_code == 200, i
    today = http.get("/v1/admin/clock", headers=operator).json()["now"][:10]
    ball = http.put(f"/v1/me/steps/{today}", json={"steps": 14_800}, headers=owner).json()["ball"]
    advance_to_next_morning()

    steals = each_at_once(
        [
            (lambda c, t=thief: c.post(f"{server}/v1/users/owner/balls/{ball['id']}/steal", headers=t))
            for thief in thieves
        ]
    )
    assert {r.status_code for r in steals} <= {200, 409}, [r.text for r in steals]
    taken = sorted(r.json()["stolen_g"] for r in steals if r.status_code == 200)
    assert taken == [28, 30, 30]
    for thief, response in zip(thieves, steals, strict=True):
        expected = response.json()["stolen_g"] if response.status_code == 200 else 0
        assert http.get("/v1/me/forest", headers=thief).json()["balance_g"] == expected
    assert http.post("/v1/me/balls/collect", headers=owner).json()["collected_g"] == 296 - 88

    # the owner (208 g) waters 8 friends 3 times each, all at once: 66 g x 3 fit, never below zero
    calls = [
        (lambda c, i=i: c.post(f"{server}/v1/users/thief{i % 8}/water", json={"amount_g": 66}, headers=owner))
        for i in range(THREADS)
    ]
    waterings = each_at_once(calls)
    assert {r.status_code for r in waterings} <= {200, 409}, [r.text for r in waterings]
    assert [r.status_code for r in waterings].count(200) == 3
    assert http.get("/v1/me/forest", headers=owner).json()["balance_g"] == 208 - 198
    audit = http.get("/v1/admin/ledger/audit", headers=operator).json()
    assert audit["ok"], audit

"""Two Canopy replicas (separate `canopy serve` processes, each with its scheduler on and short job
intervals) over one PostgreSQL and one Redis, as SPEC 14 runs them behind a load balancer.

Every request of the tests' client goes to the replicas in turn. First the mixed load of
tests/test_real_server.py, checked response by response; then a second wave of keyed collects,
steals of one hot ball and partner batches with overlapping report ids, during which one replica is
killed with SIGKILL and started again, and every request that got no answer is sent again, as a
client would. Afterwards the ledger audit holds, each report is counted once, no ball is collected
twice, no tree is ordered twice, and the login throttle counts across both replicas.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from server.settings import Settings
from tests.api import Api, User
from tests.conftest import redis_test_url
from tests.partners.helpers import Partner, report_body
from tests.processes import Server, serving
from tests.test_real_server import CONNECTIONS, Call, assert_responses_add_up, load_mix, populate

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.redis,
    pytest.mark.settings(order_min_trees=1, login_fail_limit_per_handle=6),
]

JOB_INTERVALS = {
    "expire_balls_interval_s": 1,
    "batch_planting_orders_interval_s": 1,
    "deliver_webhooks_interval_s": 1,
    "send_notifications_interval_s": 1,
    "send_email_interval_s": 1,
    "prune_interval_s": 60,
}


class InTurn(httpx.AsyncBaseTransport):
    """Sends each request to the next replica's port, as a round-robin load balancer would."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.turn = itertools.count()
        self.inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=CONNECTIONS, keepalive_expiry=1))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(port=self.ports[next(self.turn) % len(self.ports)])
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def replica_overrides(settings: Settings, redis_prefix: str) -> dict[str, Any]:
    return {
        "scheduler_enabled": True,
        "redis_url": redis_test_url(),
        "redis_key_prefix": redis_prefix,
        "db_pool_size": 5,
        **JOB_INTERVALS,
    }


@pytest.fixture
def replicas(settings: Settings, tmp_path: Path, replica_overrides: dict[str, Any]) -> Iterator[list[Server]]:
    with serving(settings, tmp_path, count=2, **replica_overrides) as servers:
        yield servers


def port_of(server: Server) -> int:
    return int(server.base.rpartition(":")[2])


async def send_until_answered(calls: list[Call]) -> None:
    """A client's retry: every call that got no answer (its replica died) is sent again."""
    for _ in range(20):
        unanswered = [call for call in calls if call.response is None]
        if not unanswered:
            return
        for call in unanswered:
            call.error = None
        await asyncio.gather(*(call.fire() for call in unanswered))
        await asyncio.sleep(0.5)
    raise AssertionError([(c.kind, repr(c.error)) for c in calls if c.response is None])


def second_wave(users: list[User], forests: list[dict[str, Any]]) -> list[Call]:
    """Keyed collects (each sent twice), six friends stealing one hot ball twice each, and two
    partner batches that share half their report ids, each batch sent three times."""
    calls: list[Call] = []

    def add(kind: str, actor: int, send: Callable[[], Awaitable[httpx.Response]], **meta: Any) -> None:
        calls.append(Call(kind, actor, send, meta))

    hot = next(b for b in forests[0]["balls"] if b["state"] == "ripe")
    for thief in (1, 2, 3, 13, 14, 15):  # user 0's friends (tests/test_real_server.py)
        for _ in range(2):
            add("steal", thief, partial(users[thief].post, f"/v1/users/{users[0].handle}/balls/{hot['id']}/steal"))
    for i, user in enumerate(users):
        for _ in range(2):
            keyed = partial(user.post, "/v1/me/balls/collect", headers={"Idempotency-Key": f"wave-{i}"})
            add("collect_all", i, keyed, key=f"wave-{i}")
    return calls


async def batch_calls(api: Api, partner: Partner, refs: list[str]) -> list[Call]:
    occurred = (await api.now()).isoformat()
    bodies = [await report_body(user_ref=ref, items=[("bus_ride", 1)], occurred_at=occurred) for ref in refs]
    half = len(bodies) // 2
    later = [await report_body(user_ref=ref, items=[("bus_ride", 1)], occurred_at=occurred) for ref in refs[:half]]
    batches = [bodies, bodies[half:] + later]
    return [
        Call("batch", -1, partial(partner.batch, batch))
        for batch in batches
        for _ in range(3)  # the same batch three times: a retry, and a retry of the retry
    ]


async def tree_orders(database_url: str) -> tuple[int, int, int]:
    """(trees counted in orders, trees that name an order, trees still queued), read in the database."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        counted = await connection.fetchval("SELECT coalesce(sum(tree_count), 0) FROM planting_orders")
        named = await connection.fetchval("SELECT count(*) FROM trees WHERE order_id IS NOT NULL")
        queued = await connection.fetchval("SELECT count(*) FROM trees WHERE status = 'queued'")
    finally:
        await connection.close()
    return int(counted), int(named), int(queued)


async def test_two_replicas_share_the_work_and_survive_a_kill(
    replicas: list[Server], settings: Settings, tmp_path: Path, replica_overrides: dict[str, Any]
) -> None:
    first, second = replicas
    transport = InTurn([port_of(first), port_of(second)])
    async with httpx.AsyncClient(
        base_url=first.base, transport=transport, timeout=httpx.Timeout(120, pool=None)
    ) as client:
        api = Api(client, settings)

        # The mixed load of one server, now through both, checked response by response.
        population = await populate(api)
        users: list[User] = population["users"]
        partner: Partner = population["partner"]
        before = await asyncio.gather(*(u.forest() for u in users))
        audit_before = await api.audit()
        calls = await load_mix(api, population, before)
        started = time.monotonic()
        await asyncio.gather(*(call.fire() for call in calls))
        print(f"\n{len(calls)} requests through two replicas in {time.monotonic() - started:.1f} s")
        assert not [c for c in calls if c.error], [(c.kind, repr(c.error)) for c in calls if c.error]
        after = await asyncio.gather(*(u.forest() for u in users))
        audit = await api.audit()
        assert audit["ok"], audit
        assert_responses_add_up(calls, before, after, audit_before, audit)

        # The second wave, with the second replica killed mid-way and started again.
        await api.advance_to_next_morning()
        forests = await asyncio.gather(*(u.forest() for u in users))
        audit_before = await api.audit()
        wave = second_wave(users, forests)
        wave += await batch_calls(api, partner, [r["user_ref"] for r in population["first_reports"]])
        in_flight = asyncio.gather(*(call.fire() for call in wave))
        await asyncio.sleep(0.3)
        second.process.kill()
        second.process.wait()
        await in_flight
        restarted = Server(
            settings, workers=1, log=tmp_path / "server-1-restarted.log", port=port_of(second), **replica_overrides
        )
        try:
            deadline = time.monotonic() + 60
            while (await _ready(restarted.base)) is False:
                assert restarted.process.poll() is None and time.monotonic() < deadline, restarted.output()[-3000:]
                await asyncio.sleep(0.2)
            await send_until_answered(wave)
            audit = await api.audit()
            forest_of_0 = await users[0].forest()

            # Each report counted once, whichever replica judged it and however often it was sent.
            totals: dict[str, int] = {}
            for call in (c for c in wave if c.kind == "batch"):
                assert call.response is not None and call.response.status_code == 200, call.response
                for result in call.body["results"]:
                    assert result["status"] in ("created", "replayed"), result
                    assert totals.setdefault(result["report_id"], result["total_g"]) == result["total_g"], result
            assert len(totals) == len(users) + len(users) // 2  # 16 ids, then 8 of them again and 8 new
            assert audit["ok"], audit
            assert audit["issued_g"] - audit_before["issued_g"] == sum(totals.values()), (audit_before, audit)

            # No ball collected twice; the hot ball robbed within its allowance.
            collected: list[str] = []
            answers: dict[str, Any] = {}
            for call in (c for c in wave if c.kind == "collect_all"):
                assert call.response is not None and call.response.status_code in (200, 409), call.response.text
                if call.ok:
                    key = call.meta["key"]
                    if key in answers:
                        assert answers[key] == call.body  # a repeated key replays the first answer
                    else:
                        answers[key] = call.body
                        collected += call.body["balls"]
            assert len(collected) == len(set(collected)), sorted(collected)
            for ball in forest_of_0["balls"]:
                assert ball["stolen_g"] <= ball["amount_g"] * 3 // 10, ball

            # The schedulers of both replicas order every queued tree, none twice.
            deadline = time.monotonic() + 30
            while (orders := await tree_orders(settings.database_url))[2] and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            counted, named, queued = orders
            assert queued == 0 and counted == named > 0, orders

            # The login throttle counts failures at both replicas together.
            statuses = []
            for _ in range(8):
                response = await client.post(
                    "/v1/auth/login", json={"handle": users[5].handle, "password": "not the password"}
                )
                statuses.append(response.status_code)
            assert statuses == [401] * 6 + [429] * 2, statuses
        finally:
            restarted.stop()
        for log in sorted(tmp_path.glob("server-*.log")):
            assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-5000:]


async def _ready(base: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(f"{base}/ready")).status_code == 200
    except httpx.HTTPError:
        return False

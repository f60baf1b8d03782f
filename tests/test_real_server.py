"""Truly parallel requests: a real server with two worker processes, hit from many threads at once,
and a load of several hundred mixed requests from 64 connections, checked against the ledger."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.settings import Settings
from tests.api import Api, User
from tests.partners.helpers import Partner, make_partner, report_body
from tests.planting.helpers import create_ngo, create_project
from tests.processes import serving
from tests.social.helpers import befriend

THREADS = 24


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """One `canopy serve` with two workers. 5 + 20 overflow connections a worker: two workers stay
    well inside PostgreSQL's default max_connections (100) even beside another test run. Its
    tracebacks are printed at teardown, so a failing test shows them."""
    with serving(settings, tmp_path, workers=2, db_pool_size=5) as (server,):
        yield server.base
    if "Traceback" in (text := server.output()):
        print(f"server log:\n{text[-20_000:]}")


def all_at_once(call, count: int = THREADS) -> list[httpx.Response]:
    barrier = threading.Barrier(count)

    def run(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return call(client)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_parallel_collects_and_plants_across_two_workers(server: str, settings: Settings) -> None:
    operator = {"Authorization": f"Bearer {settings.operator_token}"}
    http = httpx.Client(base_url=server, timeout=60)

    def advance_to_next_morning() -> None:
        now = datetime.fromisoformat(http.get("/v1/admin/clock", headers=operator).json()["now"])
        target = now.replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)
        http.post("/v1/admin/clock", json={"advance_seconds": int((target - now).total_seconds())}, headers=operator)

    registered = http.post(
        "/v1/auth/register", json={"handle": "parallel", "password": "correct horse battery", "display_name": "P"}
    ).json()
    me = {"Authorization": f"Bearer {registered['access_token']}"}

    def walk_today() -> dict:
        today = http.get("/v1/admin/clock", headers=operator).json()["now"][:10]
        return http.put(f"/v1/me/steps/{today}", json={"steps": 14_800}, headers=me).json()

    ball = walk_today()["ball"]
    advance_to_next_morning()
    collects = all_at_once(lambda c: c.post(f"{server}/v1/me/balls/{ball['id']}/collect", headers=me))
    assert sorted(r.status_code for r in collects) == [200] + [409] * (THREADS - 1)
    assert http.get("/v1/me/forest", headers=me).json()["balance_g"] == 296

    nursery = next(p for p in http.get("/v1/projects").json()["items"] if p["name"] == "Alxa nursery")
    tree = http.post(
        "/v1/me/trees",
        json={"project_id": nursery["id"], "species_id": nursery["species"][0]["species_id"]},
        headers=me,
    ).json()
    balance = 296
    while balance < 17_900:
        walk_today()
        advance_to_next_morning()
        balance = http.post("/v1/me/balls/collect", headers=me).json()["balance_g"]
    plants = all_at_once(lambda c: c.post(f"{server}/v1/me/trees/{tree['id']}/plant", headers=me))
    assert sorted(r.status_code for r in plants) == [200] + [409] * (THREADS - 1)
    assert http.get("/v1/me/forest", headers=me).json()["balance_g"] == balance - 17_900
    audit = http.get("/v1/admin/ledger/audit", headers=operator).json()
    assert audit["ok"] and audit["spent_g"] == 17_900, audit


# --- a load of mixed requests ------------------------------------------------------------------

LOAD_USERS = 16
CONNECTIONS = 64
FRIEND_OFFSETS = (1, 2, 3)  # user i befriends i+1, i+2 and i+3 (mod LOAD_USERS): six friends each
# Statuses SPEC 4-7 and 10 allow for each kind of call in the mix.
ALLOWED = {
    "collect": {200, 409},
    "collect_all": {200, 409},  # sent twice with one Idempotency-Key: 409 while the first is in flight
    "help": {200, 409},
    "steal": {200, 409},
    "water": {200, 409},
    "water_keyed": {200, 409},
    "steps": {200},
    "steps_closed": {422},
    "plant": {200, 409},
    "report": {200, 201},
    "void": {200},
    "read": {200},
    "job": {200},
}


@dataclass
class Call:
    kind: str
    user: int
    send: Callable[[], Awaitable[httpx.Response]]
    meta: dict[str, Any] = field(default_factory=dict)
    response: httpx.Response | None = None
    error: httpx.TransportError | None = None

    async def fire(self) -> None:
        try:
            self.response = await self.send()
        except httpx.TransportError as exc:  # a dropped connection is a failure to report, with the rest
            self.error = exc

    @property
    def ok(self) -> bool:
        return self.response is not None and self.response.status_code in (200, 201)

    @property
    def body(self) -> Any:
        assert self.response is not None
        return self.response.json()


async def populate(api: Api) -> dict[str, Any]:
    """Users three days into play, at 20:00 UTC on day 3: each holds a walk ball from day 0 that
    expires at 07:00 tomorrow (help-collectable), a walk ball and a partner ball from day 2 (ripe),
    a growing 1 g tree, and the day-0 partner ball collected into the balance (400 g)."""
    users = await asyncio.gather(*(api.register(f"load{i}") for i in range(LOAD_USERS)))
    await asyncio.gather(
        *(befriend(users[i], users[(i + k) % LOAD_USERS]) for i in range(LOAD_USERS) for k in FRIEND_OFFSETS)
    )
    partner = await make_partner(api, ["bus_ride"])
    project = await create_project(api, await create_ngo(api), name="Load grove")

    async def day_zero(user: User) -> dict[str, Any]:
        await user.walk(14_800)
        body = await report_body(user, [("bus_ride", 5)])
        response = await partner.report(body)
        assert response.status_code == 201 and response.json()["total_g"] == 400, response.text
        return {"report_id": body["report_id"], "user_ref": response.json()["user_ref"]}

    async def bus_ball(user: User) -> str:
        return next(
            b["id"] for b in (await user.forest())["balls"] if b["action"] == "bus_ride" and b["state"] == "ripe"
        )

    async def collect_bus_ball(user: User) -> None:
        response = await user.post(f"/v1/me/balls/{await bus_ball(user)}/collect")
        assert response.status_code == 200 and response.json()["collected_g"] == 400, response.text

    async def day_two(user: User, ref: str) -> None:
        await user.walk(14_800)
        occurred = (await api.now()).isoformat()
        assert (
            await partner.report(await report_body(user_ref=ref, items=[("bus_ride", 5)], occurred_at=occurred))
        ).status_code == 201
        species = project["species"][0]["species_id"]
        adopted = await user.post("/v1/me/trees", json={"project_id": project["id"], "species_id": species})
        assert adopted.status_code == 201, adopted.text

    first = await asyncio.gather(*(day_zero(u) for u in users))
    await api.advance_to_next_morning()
    await asyncio.gather(*(collect_bus_ball(u) for u in users))
    await api.advance_to_next_morning(hour=12)
    await asyncio.gather(*(day_two(u, f["user_ref"]) for u, f in zip(users, first, strict=True)))
    await api.advance_to_next_morning(hour=20)
    return {"users": users, "partner": partner, "first_reports": first}


async def load_mix(api: Api, population: dict[str, Any], forests: list[dict[str, Any]]) -> list[Call]:
    """Every kind of call at once, in a fixed shuffled order: own collects racing friends' steals
    and help-collects on the same balls, waterings, steps, plants, partner reports sent three
    times with one report_id, voids sent twice, Idempotency-Key repeats, reads and jobs."""
    users: list[User] = population["users"]
    partner: Partner = population["partner"]
    now = await api.now()
    today, yesterday = now.date().isoformat(), (now - timedelta(days=1)).date().isoformat()
    occurred = now.isoformat()
    stamp = await partner.timestamp()
    calls: list[Call] = []

    def add(kind: str, actor: int, send: Callable[[], Awaitable[httpx.Response]], **meta: Any) -> None:
        calls.append(Call(kind, actor, send, meta))

    for i, user in enumerate(users):
        assert forests[i]["balance_g"] == 400 and [b["state"] for b in forests[i]["balls"]] == ["ripe"] * 3
        walks = sorted((b for b in forests[i]["balls"] if b["action"] == "walk"), key=lambda b: b["ripens_at"])
        old, fresh = walks[0]["id"], walks[1]["id"]
        bus = next(b["id"] for b in forests[i]["balls"] if b["action"] == "bus_ride")
        ahead = [(i + k) % LOAD_USERS for k in FRIEND_OFFSETS]
        behind = [(i - k) % LOAD_USERS for k in FRIEND_OFFSETS]
        for _ in range(2):
            add("collect", i, partial(user.post, f"/v1/me/balls/{old}/collect"), balls=[old])
            keyed = partial(user.post, "/v1/me/balls/collect", headers={"Idempotency-Key": f"all-{i}"})
            add("collect_all", i, keyed, key=f"all-{i}")
            add("plant", i, partial(user.post, f"/v1/me/trees/{forests[i]['tree']['id']}/plant"))
        for j in behind[:2]:
            path = f"/v1/users/{user.handle}/balls/{old}/help-collect"
            add("help", j, partial(users[j].post, path), owner=i, balls=[old])
        for thieves, ball in ((ahead + behind, fresh), (ahead, old), (behind, bus)):
            for j in thieves:
                add("steal", j, partial(users[j].post, f"/v1/users/{user.handle}/balls/{ball}/steal"), ball=ball)
        friend, other = users[ahead[0]], users[ahead[1]]
        for _ in range(4):  # the fourth watering of one friend in a day is refused
            add("water", i, partial(user.post, f"/v1/users/{friend.handle}/water", json={"amount_g": 66}), to=ahead[0])
        for _ in range(3):
            keyed = partial(
                user.post,
                f"/v1/users/{other.handle}/water",
                json={"amount_g": 18},
                headers={"Idempotency-Key": f"w-{i}"},
            )
            add("water_keyed", i, keyed, to=ahead[1], key=f"w-{i}")
        for steps in (3_000, 9_000, 14_800, 6_000):
            add("steps", i, partial(user.put, f"/v1/me/steps/{today}", json={"steps": steps}))
        add("steps_closed", i, partial(user.put, f"/v1/me/steps/{yesterday}", json={"steps": 20_000}))
        body = await report_body(
            user_ref=population["first_reports"][i]["user_ref"], items=[("bus_ride", 2)], occurred_at=occurred
        )
        for _ in range(3):
            add("report", i, partial(partner.report, body, timestamp=stamp), report_id=body["report_id"])
        if i % 3 == 0:
            for _ in range(2):
                add("void", i, partial(partner.void, population["first_reports"][i]["report_id"]))
        for path in ("/v1/me/forest", "/v1/me/feed", "/v1/me/leaderboard?period=week", "/v1/me/actions"):
            add("read", i, partial(user.get, path))
        add("read", i, partial(user.get, f"/v1/users/{friend.handle}/forest"))
    for job in ("expire-balls", "batch-planting-orders"):
        add("job", -1, partial(api.client.post, f"/v1/admin/jobs/{job}/run", headers=api.operator))
    random.Random(7).shuffle(calls)
    return calls


def keyed_once(calls: list[Call]) -> list[Call]:
    """The calls whose effect counts: all, except that each Idempotency-Key counts once."""
    counted, first = [], {}
    for call in calls:
        key = call.meta.get("key")
        if key is None:
            counted.append(call)
        elif call.ok and key in first:
            assert call.body == first[key], (key, call.body, first[key])  # a repeat replays the first response
        elif call.ok:
            first[key] = call.body
            counted.append(call)
    return counted


async def test_hundreds_of_mixed_requests_across_two_workers(server: str, settings: Settings) -> None:
    # Idle connections are dropped after 1 s, before uvicorn closes them (5 s): reusing one just as
    # the server closes it fails the request with a ReadError that says nothing about the server.
    limits = httpx.Limits(max_connections=CONNECTIONS, keepalive_expiry=1)
    async with httpx.AsyncClient(base_url=server, timeout=120, limits=limits) as client:
        api = Api(client, settings)
        population = await populate(api)
        users: list[User] = population["users"]
        before = await asyncio.gather(*(u.forest() for u in users))
        audit_before = await api.audit()
        calls = await load_mix(api, population, before)
        started = time.monotonic()
        await asyncio.gather(*(call.fire() for call in calls))
        elapsed = time.monotonic() - started
        after = await asyncio.gather(*(u.forest() for u in users))
        audit = await api.audit()

    statuses = Counter((c.kind, c.response.status_code) for c in calls if c.response is not None)
    print(f"\n{len(calls)} requests in {elapsed:.1f} s over {CONNECTIONS} connections: {sorted(statuses.items())}")
    assert not [c for c in calls if c.error], [(c.kind, repr(c.error)) for c in calls if c.error]
    for call in calls:
        assert call.response is not None and call.response.status_code in ALLOWED[call.kind], (
            call.kind,
            call.response.status_code if call.response else None,
            call.response.text if call.response else None,
        )
    assert audit["ok"], audit
    assert_responses_add_up(calls, before, after, audit_before, audit)


def assert_responses_add_up(
    calls: list[Call],
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    audit_before: dict[str, Any],
    audit: dict[str, Any],
) -> None:
    """Replay every response into what it reported: each user's balance - owed moves by exactly
    the grams they were told about, no ball is collected twice or robbed beyond its allowance,
    each report is awarded once, and the energy issued grows by exactly the awards less the voids."""
    net = [f["balance_g"] - f["owed_g"] for f in before]
    amounts = {b["id"]: b["amount_g"] for f in before for b in f["balls"]}
    final = {b["id"]: b for f in after for b in f["balls"]}
    claims: list[tuple[list[str], int]] = []  # (balls, grams) of every collect and help-collect
    stolen: Counter[str] = Counter()
    reports: dict[str, list[dict[str, Any]]] = defaultdict(list)
    voids: dict[int, list[dict[str, Any]]] = defaultdict(list)
    issued = 0
    for call in keyed_once(calls):
        if not call.ok:
            continue
        body, actor = call.body, call.user
        if call.kind in ("collect", "collect_all"):
            net[actor] += body["collected_g"]
            claims.append((call.meta.get("balls", body.get("balls")), body["collected_g"]))
        elif call.kind == "help":
            net[call.meta["owner"]] += body["collected_g"]
            claims.append((call.meta["balls"], body["collected_g"]))
        elif call.kind == "steal":
            net[actor] += body["stolen_g"]
            stolen[call.meta["ball"]] += body["stolen_g"]
        elif call.kind in ("water", "water_keyed"):
            net[actor] -= body["amount_g"]
            net[call.meta["to"]] += body["amount_g"]
        elif call.kind == "plant":
            net[actor] -= body["cost_g"]
        elif call.kind == "report":
            reports[call.meta["report_id"]].append({"status": call.response.status_code, **body})
        elif call.kind == "void":
            voids[actor].append(body)
    claimed = [ball for balls, _ in claims for ball in balls]
    assert len(claimed) == len(set(claimed)), ("a ball was collected twice", sorted(claimed))
    for balls, grams in claims:
        assert grams == sum(amounts[b] - final[b]["stolen_g"] for b in balls), (balls, grams)
    for ball, grams in stolen.items():
        assert final[ball]["stolen_g"] == grams <= amounts[ball] * 3 // 10, (ball, grams, final[ball])
    for ball in set(amounts) - set(claimed):
        assert final[ball]["remaining_g"] == amounts[ball] - final[ball]["stolen_g"], final[ball]
    for report_id, answers in reports.items():  # three sends, one award
        assert sorted(a.pop("status") for a in answers) == [200, 200, 201], (report_id, answers)
        assert answers[0] == answers[1] == answers[2] and answers[0]["total_g"] == 160, answers
        issued += 160
    for actor, answers in voids.items():  # two sends, one clawback of the collected 400 g
        assert answers[0] == answers[1] and answers[0]["voided_g"] == 400, answers
        assert answers[0]["from_balance_g"] + answers[0]["owed_g"] == 400, answers
        net[actor] -= 400
        issued -= 400
    for i, forest in enumerate(after):
        today = [b for b in forest["balls"] if b["action"] == "walk" and b["state"] == "growing"]
        assert [b["amount_g"] for b in today] == [296], today  # the highest of the day's totals counts
        issued += 296
        balance, owed = forest["balance_g"], forest["owed_g"]
        assert (balance - owed, balance >= 0, owed >= 0, min(balance, owed)) == (net[i], True, True, 0), (i, forest)
    assert audit["issued_g"] == audit_before["issued_g"] + issued, (audit, audit_before)
    assert audit["owed_g"] == sum(f["owed_g"] for f in after), audit

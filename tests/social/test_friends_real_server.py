"""Friend requests truly in parallel (SPEC 5): a real server with two worker processes.

Whatever order the database puts simultaneous requests in, the answers must be those of some
serial order: of a crossing pair, the request that ran first is a 201 pending request and the
other a 201 accepting it (so the first reads as accepted from then on); a request that finds a
pending or accepted one is refused with its precise problem, never the generic "conflict; retry".
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from server.settings import Settings
from tests.api import Api, User
from tests.processes import running_servers
from tests.social.helpers import feed, problem

PAIRS = 20
ROUNDS = 3
DUPLICATES = 10
HALF = DUPLICATES // 2

Call = Callable[[httpx.Client], httpx.Response]


def each_at_once(calls: list[Call]) -> list[httpx.Response]:
    """Every call from its own thread and connection, released together behind a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Call) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return call(client)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def ask(base: str, asker: User, other: User) -> Call:
    return lambda client: client.post(f"{base}/v1/me/friends", json={"handle": other.handle}, headers=asker.headers)


def accept(base: str, addressee: User, request_id: str) -> Call:
    return lambda client: client.post(f"{base}/v1/me/friend-requests/{request_id}/accept", headers=addressee.headers)


async def friend_handles(user: User) -> list[str]:
    response = await user.get("/v1/me/friends", params={"limit": 100})
    assert response.status_code == 200, response.text
    return [f["handle"] for f in response.json()["items"]]


async def pending_requests(user: User) -> list[dict]:
    found = []
    for direction in ("incoming", "outgoing"):
        response = await user.get("/v1/me/friend-requests", params={"direction": direction, "limit": 100})
        assert response.status_code == 200, response.text
        found += response.json()["items"]
    return found


async def requested_items(user: User) -> list[str]:
    """Who asked this user, by the feed's friend.requested items."""
    return [i["friend"]["handle"] for i in await feed(user) if i["type"] == "friend.requested"]


async def test_crossing_requests_sent_at_once_make_each_pair_friends_once(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    audit_before = await api.audit()
    with running_servers(settings, tmp_path, workers=2) as (base,):
        for round_number in range(ROUNDS):
            pairs = [(await api.register(), await api.register()) for _ in range(PAIRS)]
            calls = [ask(base, a, b) for a, b in pairs] + [ask(base, b, a) for a, b in pairs]
            responses = await asyncio.to_thread(each_at_once, calls)
            answers = list(zip(responses[:PAIRS], responses[PAIRS:], strict=True))
            refused = [(r.status_code, r.text) for pair in answers for r in pair if r.status_code != 201]
            assert not refused, (round_number, refused)

            for (a, b), (from_a, from_b) in zip(pairs, answers, strict=True):
                first, second = sorted((from_a.json(), from_b.json()), key=lambda body: body["status"] != "pending")
                assert (first["status"], second["status"]) == ("pending", "accepted"), (first, second)
                assert {first["from"]["handle"], second["from"]["handle"]} == {a.handle, b.handle}
                assert await friend_handles(a) == [b.handle] and await friend_handles(b) == [a.handle]
                assert await pending_requests(a) == [] and await pending_requests(b) == []
                # the request that ran first told its addressee once; the accepting one told no one
                first_asker, first_addressee = (a, b) if first["from"]["handle"] == a.handle else (b, a)
                assert await requested_items(first_addressee) == [first_asker.handle]
                assert await requested_items(first_asker) == []
    assert await api.audit() == audit_before


async def test_the_same_request_sent_at_once_is_made_once(api: Api, settings: Settings, tmp_path: Path) -> None:
    with running_servers(settings, tmp_path, workers=2) as (base,):
        for _ in range(ROUNDS):
            alice, bob = await api.register(), await api.register()
            responses = await asyncio.to_thread(each_at_once, [ask(base, alice, bob)] * DUPLICATES)
            assert sorted(r.status_code for r in responses) == [201] + [409] * (DUPLICATES - 1)
            assert {problem(r) for r in responses if r.status_code == 409} == {"request-pending"}
            made = next(r.json() for r in responses if r.status_code == 201)
            assert made["status"] == "pending"
            assert [r["id"] for r in await pending_requests(bob)] == [made["id"]]
            assert await requested_items(bob) == [alice.handle]
            assert await friend_handles(alice) == []

            # both ways several times: one pending request, one accepting it, the rest refused
            carol, dave = await api.register(), await api.register()
            calls = [ask(base, carol, dave)] * HALF + [ask(base, dave, carol)] * HALF
            responses = await asyncio.to_thread(each_at_once, calls)
            created = sorted(r.json()["status"] for r in responses if r.status_code == 201)
            assert created == ["accepted", "pending"], [r.text for r in responses]
            refusals = {problem(r) for r in responses if r.status_code != 201}
            assert refusals <= {"request-pending", "already-friends"}, [r.text for r in responses]
            assert await friend_handles(carol) == [dave.handle] and await friend_handles(dave) == [carol.handle]
            assert await pending_requests(carol) == [] and await pending_requests(dave) == []
            assert len(await requested_items(carol) + await requested_items(dave)) == 1


async def test_an_answer_and_crossing_requests_at_once_accept_once(
    api: Api, settings: Settings, tmp_path: Path
) -> None:
    """The addressee accepts a pending request while also sending requests back: whichever runs
    first accepts it, and the others find it answered or the two already friends."""
    with running_servers(settings, tmp_path, workers=2) as (base,):
        for _ in range(ROUNDS):
            erin, frank = await api.register(), await api.register()
            asked = (await erin.post("/v1/me/friends", json={"handle": frank.handle})).json()
            calls = [accept(base, frank, asked["id"]), ask(base, frank, erin)] * HALF
            responses = await asyncio.to_thread(each_at_once, calls)
            accepted = [r for r in responses if r.status_code in (200, 201)]
            assert [r.json()["status"] for r in accepted] == ["accepted"], [r.text for r in responses]
            refusals = {problem(r) for r in responses if r not in accepted}
            assert refusals <= {"request-not-pending", "already-friends"}, [r.text for r in responses]
            assert await friend_handles(erin) == [frank.handle] and await friend_handles(frank) == [erin.handle]
            assert await pending_requests(erin) == [] and await pending_requests(frank) == []

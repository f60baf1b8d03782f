"""Stealing (SPEC 5): the bounds, once per thief per ball, the daily limit, opt-out, and many
thieves at the same instant."""

from __future__ import annotations

import asyncio

from tests.api import Api
from tests.social.helpers import befriend, feed, problem, ripe_ball, steal


async def test_steal_bounds_exactly(api: Api) -> None:
    owner = await api.register()
    thieves = [await api.register() for _ in range(4)]
    for thief in thieves:
        await befriend(owner, thief)
    ball = await ripe_ball(owner)  # 296 g: 30 g a steal (ceil 10%), 88 g in all (floor 30%)
    assert ball["amount_g"] == 296

    view = (await thieves[0].get(f"/v1/users/{owner.handle}/forest")).json()
    assert view["handle"] == owner.handle and view["display_name"] == owner.handle.title()
    assert "balance_g" not in view and view["shielded"] is False
    assert [(b["id"], b["state"], b["can_steal"], b["can_help_collect"]) for b in view["balls"]] == [
        (ball["id"], "ripe", True, False)
    ]

    results = []
    for thief in thieves:
        results.append(await steal(thief, owner, ball["id"]))
    assert [r.status_code for r in results] == [200, 200, 200, 409]
    assert [r.json().get("stolen_g") for r in results[:3]] == [30, 30, 28]
    assert problem(results[3]) == "nothing-left-to-steal"
    for thief, grams in zip(thieves, [30, 30, 28, 0], strict=True):
        assert await thief.balance() == grams
    view = (await thieves[3].get(f"/v1/users/{owner.handle}/forest")).json()
    assert view["balls"][0]["stolen_g"] == 88 and view["balls"][0]["can_steal"] is False

    forest = await owner.forest()
    assert forest["balls"][0]["remaining_g"] == 208 and forest["balls"][0]["stolen_g"] == 88
    assert (await owner.collect_all())["collected_g"] == 208
    late = await steal(thieves[3], owner, ball["id"])
    assert late.status_code == 409 and problem(late) == "ball-collected"

    ledger = (await thieves[0].get("/v1/me/ledger")).json()["items"]
    assert [(e["kind"], e["account"], e["amount_g"]) for e in ledger] == [("steal", "balance", 30)]


async def test_once_per_thief_per_ball_and_not_before_ripe(api: Api) -> None:
    owner = await api.register()
    thief = await api.register()
    await befriend(owner, thief)
    growing = (await owner.walk(10_000))["ball"]
    early = await steal(thief, owner, growing["id"])
    assert early.status_code == 409 and problem(early) == "not-ripe"
    await api.advance_to_next_morning()
    assert (await steal(thief, owner, growing["id"])).json() == {"stolen_g": 20}
    again = await steal(thief, owner, growing["id"])
    assert again.status_code == 409 and problem(again) == "already-stolen"
    # a burst from the same thief still takes once
    responses = await asyncio.gather(*(steal(thief, owner, growing["id"]) for _ in range(10)))
    assert {r.status_code for r in responses} == {409}
    assert await thief.balance() == 20
    assert (await steal(thief, owner, "0" * 36)).status_code == 404


async def test_opted_out_owner(api: Api) -> None:
    owner = await api.register()
    thief = await api.register()
    await befriend(owner, thief)
    ball = await ripe_ball(owner)
    assert (await owner.patch("/v1/me", json={"allow_steal": False})).status_code == 200
    view = (await thief.get(f"/v1/users/{owner.handle}/forest")).json()
    assert view["balls"][0]["can_steal"] is False
    refused = await steal(thief, owner, ball["id"])
    assert refused.status_code == 409 and problem(refused) == "opted-out"
    await owner.patch("/v1/me", json={"allow_steal": True})
    assert (await steal(thief, owner, ball["id"])).status_code == 200


async def test_twenty_steals_a_day_then_the_next_local_day(api: Api) -> None:
    thief = await api.register()
    owners = [await api.register() for _ in range(7)]
    for owner in owners:
        await befriend(owner, thief)
    await api.advance_to_next_morning()
    days = []
    for _ in range(3):  # three days of walking: three ripe balls per friend at once
        for owner in owners:
            days.append(((await owner.walk(1_000))["ball"], owner))
        await api.advance(86_400)
    assert len(days) == 21
    # balls of the first day go first (they expire first); the last one is kept for tomorrow
    for ball, owner in days[:20]:
        response = await steal(thief, owner, ball["id"])
        assert response.status_code == 200, response.text
    last_ball, last_owner = days[20]
    view = (await thief.get(f"/v1/users/{last_owner.handle}/forest")).json()
    assert not any(b["can_steal"] for b in view["balls"])
    refused = await steal(thief, last_owner, last_ball["id"])
    assert refused.status_code == 409 and problem(refused) == "daily-limit"
    await api.advance(86_400)  # the next local day; the last day's balls are still ripe
    assert (await steal(thief, last_owner, last_ball["id"])).status_code == 200


async def test_many_thieves_at_the_same_instant(api: Api) -> None:
    owner = await api.register()
    thieves = [await api.register() for _ in range(24)]
    for thief in thieves:
        await befriend(owner, thief)
    ball = await ripe_ball(owner)
    amount = ball["amount_g"]

    responses = await asyncio.gather(*(steal(thief, owner, ball["id"]) for thief in thieves))
    assert all(r.status_code in (200, 409) for r in responses), [r.text for r in responses]
    refusals = {problem(r) for r in responses if r.status_code == 409}
    assert refusals <= {"nothing-left-to-steal", "conflict"}, refusals
    stolen = {t.handle: r.json()["stolen_g"] for t, r in zip(thieves, responses, strict=True) if r.status_code == 200}
    assert sum(stolen.values()) <= amount * 30 // 100
    assert sum(stolen.values()) == 88 and sorted(stolen.values()) == [28, 30, 30]

    for thief in thieves:
        entries = (await thief.get("/v1/me/ledger")).json()["items"]
        assert sum(e["amount_g"] for e in entries if e["account"] == "balance") == stolen.get(thief.handle, 0)
        assert await thief.balance() == stolen.get(thief.handle, 0)
    mine = (await owner.forest())["balls"][0]
    assert mine["remaining_g"] + mine["stolen_g"] == amount and mine["stolen_g"] == 88
    assert (await owner.collect_all())["collected_g"] == amount - 88
    thefts = [i for i in await feed(owner) if i["type"] == "ball.stolen"]
    assert sorted((i["friend"]["handle"], i["amount_g"]) for i in thefts) == sorted(stolen.items())
    assert (await api.audit())["ok"]


async def test_the_daily_limit_holds_for_parallel_steals(api: Api) -> None:
    thief = await api.register()
    owners = [await api.register() for _ in range(9)]
    for owner in owners:
        await befriend(owner, thief)
    await api.advance_to_next_morning()
    balls = []
    for _ in range(3):
        for owner in owners:
            balls.append(((await owner.walk(1_000))["ball"], owner))
        await api.advance(86_400)
    responses = await asyncio.gather(*(steal(thief, owner, ball["id"]) for ball, owner in balls))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 20, [r.text for r in responses if r.status_code != 200]
    assert {problem(r) for r in responses if r.status_code == 409} <= {"daily-limit", "conflict"}
    assert await thief.balance() == 20 * 2

"""Help-collect and watering (SPEC 5)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from tests.api import Api, earn
from tests.social.helpers import befriend, feed, problem, ripe_ball


async def test_help_collect_only_in_the_last_twelve_hours_into_the_owner_balance(api: Api) -> None:
    owner = await api.register()
    helper = await api.register()
    await befriend(owner, helper)
    ball = await ripe_ball(owner)  # ripe at 07:00, expires 72 h later
    path = f"/v1/users/{owner.handle}/balls/{ball['id']}/help-collect"

    early = await helper.post(path)
    assert early.status_code == 409 and problem(early) == "not-expiring-soon"
    expires_at = datetime.fromisoformat(ball["expires_at"])
    now = await api.now()
    await api.advance(int((expires_at - now).total_seconds()) - 12 * 3600 - 60)  # 12 h 1 min before expiry
    assert (await helper.post(path)).status_code == 409
    await api.advance(120)  # 11 h 59 min before expiry
    view = (await helper.get(f"/v1/users/{owner.handle}/forest")).json()
    assert view["balls"][0]["can_help_collect"] is True

    helped = await helper.post(path)
    assert helped.status_code == 200 and helped.json() == {"collected_g": 296}
    assert await owner.balance() == 296 and await helper.balance() == 0
    assert (await owner.forest())["balls"][0]["state"] == "collected"
    again = await helper.post(path)
    assert again.status_code == 409 and problem(again) == "ball-collected"
    items = [i for i in await feed(owner) if i["type"] == "ball.helped"]
    assert items == [
        {
            "id": items[0]["id"],
            "type": "ball.helped",
            "created_at": items[0]["created_at"],
            "friend": {"handle": helper.handle, "display_name": helper.handle.title()},
            "amount_g": 296,
            "tree_id": None,
        }
    ]
    ledger = (await owner.get("/v1/me/ledger")).json()["items"]
    assert {(e["kind"], e["account"], e["amount_g"]) for e in ledger if e["kind"] == "help_collect"} == {
        ("help_collect", "ball", -296),
        ("help_collect", "balance", 296),
    }


async def test_help_collect_refuses_growing_and_expired_balls(api: Api) -> None:
    owner = await api.register()
    helper = await api.register()
    await befriend(owner, helper)
    ball = (await owner.walk(5_000))["ball"]
    path = f"/v1/users/{owner.handle}/balls/{ball['id']}/help-collect"
    growing = await helper.post(path)
    assert growing.status_code == 409 and problem(growing) == "not-ripe"
    await api.advance(5 * 86_400)
    expired = await helper.post(path)
    assert expired.status_code == 409 and problem(expired) == "ball-expired"


async def test_water_amounts_are_exact_integers(api: Api) -> None:
    giver = await api.register()
    friend = await api.register()
    await befriend(giver, friend)
    await earn(giver, 200)
    path = f"/v1/users/{friend.handle}/water"
    for body in (
        {"amount_g": 11},
        {"amount_g": True},
        {"amount_g": "10"},
        {"amount_g": 10.0},
        {"amount_g": 0},
        {"amount_g": -10},
        {"amount_g": 2**63},
        {},
        {"amount_g": 10, "note": "hi"},
        [10],
    ):
        response = await giver.post(path, json=body)
        assert response.status_code in (400, 422), (body, response.text)
    assert await friend.balance() == 0
    before = await giver.balance()
    for amount in (10, 18, 33):
        response = await giver.post(path, json={"amount_g": amount})
        assert response.status_code == 200, response.text
        before -= amount
        assert response.json() == {"amount_g": amount, "balance_g": before}
    assert await friend.balance() == 61


async def test_three_waterings_per_friend_per_day(api: Api) -> None:
    giver = await api.register()
    friends = [await api.register() for _ in range(2)]
    for friend in friends:
        await befriend(giver, friend)
    await earn(giver, 200)
    for _ in range(3):
        assert (await giver.post(f"/v1/users/{friends[0].handle}/water", json={"amount_g": 10})).status_code == 200
    fourth = await giver.post(f"/v1/users/{friends[0].handle}/water", json={"amount_g": 10})
    assert fourth.status_code == 409 and problem(fourth) == "daily-limit"
    # another friend has an allowance of their own
    assert (await giver.post(f"/v1/users/{friends[1].handle}/water", json={"amount_g": 10})).status_code == 200
    await api.advance(86_400)
    assert (await giver.post(f"/v1/users/{friends[0].handle}/water", json={"amount_g": 10})).status_code == 200
    assert await friends[0].balance() == 40
    received = [i for i in await feed(friends[0]) if i["type"] == "friend.watered"]
    assert [(i["friend"]["handle"], i["amount_g"]) for i in received] == [(giver.handle, 10)] * 4


async def test_water_needs_the_balance(api: Api) -> None:
    giver = await api.register()
    friend = await api.register()
    await befriend(giver, friend)
    short = await giver.post(f"/v1/users/{friend.handle}/water", json={"amount_g": 10})
    assert short.status_code == 409 and problem(short) == "short-balance"
    # a refusal uses none of the day's allowance
    await earn(giver, 66)
    for _ in range(3):
        assert (await giver.post(f"/v1/users/{friend.handle}/water", json={"amount_g": 18})).status_code == 200


async def test_parallel_waterings_never_overdraw(api: Api) -> None:
    giver = await api.register()
    friends = [await api.register() for _ in range(10)]
    for friend in friends:
        await befriend(giver, friend)
    await giver.walk(14_800)
    await api.advance_to_next_morning()
    assert (await giver.collect_all())["balance_g"] == 296

    responses = await asyncio.gather(
        *(giver.post(f"/v1/users/{f.handle}/water", json={"amount_g": 66}) for f in friends for _ in range(2))
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, [r.text for r in responses]
    assert statuses.count(200) == 4  # 4 x 66 = 264 <= 296 < 5 x 66
    assert {problem(r) for r in responses if r.status_code == 409} <= {"short-balance", "conflict"}
    assert await giver.balance() == 296 - 264
    received = [await f.balance() for f in friends]
    assert sum(received) == 264 and set(received) <= {0, 66, 132}

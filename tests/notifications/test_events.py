"""Each event a user can be told of makes one push, composed and signed (SPEC 11.2)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.api import Api
from tests.notifications.conftest import Relay
from tests.notifications.helpers import send, with_device
from tests.planting.helpers import create_ngo, create_project, funded_user, iso, queue_trees
from tests.social.helpers import befriend, ripe_ball, steal


async def test_a_friend_request_is_pushed_signed_to_every_device(api: Api, relay: Relay) -> None:
    asker, other = await api.register(display_name="Mei"), await api.register()
    await with_device(other, "apns-1")
    await other.post("/v1/me/devices", json={"platform": "android", "token": "fcm-2"})
    assert (await asker.post("/v1/me/friends", json={"handle": other.handle})).status_code == 201

    counts = await send(api)
    assert counts["released"] == 1 and counts["delivered"] == 2, counts
    assert relay.refused == 0
    assert sorted(p["device"]["token"] for p in relay.pushes) == ["apns-1", "fcm-2"]
    note = relay.pushes[0]["notification"]
    assert note["type"] == "friend.requested" and note["title"] == "New friend request"
    assert note["body"] == "Mei wants to be your friend."
    headers, _ = relay.raw[0]
    assert headers["Canopy-Event-Id"] == note["id"]
    assert int(headers["Canopy-Timestamp"]) == pytest.approx((await api.now()).timestamp(), abs=60)
    assert (await send(api))["delivered"] == 0  # nothing is sent twice


async def test_watering_is_pushed(api: Api, relay: Relay) -> None:
    giver, friend = await funded_user(api), await api.register()
    await befriend(giver, friend)
    await with_device(friend)
    assert (await giver.post(f"/v1/users/{friend.handle}/water", json={"amount_g": 18})).status_code == 200
    await send(api)
    [note] = relay.of_type("friend.watered")
    assert note["body"] == f"{giver.handle.title()} gave you 18 g of energy."
    assert note["data"]["amount_g"] == 18 and note["data"]["friend"] == {
        "handle": giver.handle,
        "display_name": giver.handle.title(),
    }


async def test_thefts_within_the_hour_make_one_summary(api: Api, relay: Relay) -> None:
    owner = await api.register()
    thieves = [await api.register() for _ in range(3)]
    for thief in thieves:
        await befriend(owner, thief)
    await with_device(owner)
    ball = await ripe_ball(owner)  # 08:00 UTC: every steal falls in the same hour
    taken = 0
    for thief in thieves:
        response = await steal(thief, owner, ball["id"])
        assert response.status_code == 200, response.text
        taken += response.json()["stolen_g"]
    assert (await send(api))["theft_summaries"] == 0
    assert relay.of_type("ball.stolen") == []

    await api.advance(3600)
    assert (await send(api))["theft_summaries"] == 1
    [note] = relay.of_type("ball.stolen")
    assert note["body"] == f"3 friends took {taken} g" and note["data"]["count"] == 3
    await api.advance(3600)
    assert (await send(api))["theft_summaries"] == 0
    assert len(relay.of_type("ball.stolen")) == 1


async def test_one_thief_is_named(api: Api, relay: Relay) -> None:
    owner, thief = await api.register(), await api.register(display_name="Kai")
    await befriend(owner, thief)
    await with_device(owner)
    ball = await ripe_ball(owner)
    stolen = (await steal(thief, owner, ball["id"])).json()["stolen_g"]
    await api.advance(3600)
    await send(api)
    assert [n["body"] for n in relay.of_type("ball.stolen")] == [f"Kai took {stolen} g of your energy."]


async def test_a_seven_day_streak_pushes_a_shield(api: Api, relay: Relay) -> None:
    owner = await api.register()
    await with_device(owner)
    for _ in range(7):
        await owner.walk(1000)
        await api.advance_to_next_morning()
        await owner.collect_all()
        await send(api)
    [note] = relay.of_type("shield.earned")
    assert note["title"] == "Shield earned"


@pytest.mark.settings(order_min_trees=2)
async def test_planted_rejected_and_refunded_trees_are_pushed(api: Api, relay: Relay) -> None:
    ngo = await create_ngo(api)
    project = await create_project(api, ngo)
    user = await funded_user(api)
    await with_device(user)
    planted, rejected = await queue_trees(user, project, 2)
    for attempt in range(1, 4):
        assert (await api.run_job("batch-planting-orders"))["orders_created"] == 1
        order = next(o for o in await ngo.orders() if o["status"] != "completed")
        if attempt == 1:
            planting = {"tree_id": planted, "planted_at": iso(await api.now()), "lat": 10.0, "lon": 20.0}
            response = await ngo.post(
                f"/v1/ngo/orders/{order['id']}/plantings",
                json={"plantings": [planting | {"photo_id": await ngo.photo(3)}]},
            )
            assert response.json()["results"][0]["status"] == "planted", response.text
        response = await ngo.post(
            f"/v1/ngo/orders/{order['id']}/rejections", json={"rejections": [{"tree_id": rejected, "reason": "x"}]}
        )
        assert response.json()["results"][0]["status"] == "rejected", response.text
        await api.advance(8 * 24 * 3600)  # the lone requeued tree waits out order_max_wait
    await send(api)

    [note] = relay.of_type("tree.planted")
    number = (await user.get(f"/v1/me/trees/{planted}")).json()["certificate_number"]
    url = f"{api.settings.public_base_url}/c/{number}"
    assert note["data"]["certificate_number"] == number and note["data"]["url"] == url and url in note["body"]
    assert [n["data"]["tree_id"] for n in relay.of_type("tree.rejected")] == [rejected] * 3
    [refund] = relay.of_type("tree.refunded")
    assert refund["data"] == {"tree_id": rejected, "amount_g": 1, "key": rejected}


async def test_the_morning_digest_comes_at_local_seven_in_each_zone(api: Api, relay: Relay) -> None:
    tokyo = await api.register(timezone="Asia/Tokyo")
    sao_paulo = await api.register(timezone="America/Sao_Paulo")
    now = await api.now()
    ripens = {}
    for user, zone in ((tokyo, "Asia/Tokyo"), (sao_paulo, "America/Sao_Paulo")):
        await with_device(user)
        await user.walk(5000, now.astimezone(ZoneInfo(zone)).date())
        await user.walk(6000, now.astimezone(ZoneInfo(zone)).date())
        ripens[user.handle] = datetime.fromisoformat((await user.forest())["balls"][0]["ripens_at"])
    (first, early), (second, late) = sorted((at, handle) for handle, at in ripens.items())
    assert (second - first) % timedelta(days=1) == timedelta(hours=12)
    zones = {tokyo.handle: "Asia/Tokyo", sao_paulo.handle: "America/Sao_Paulo"}

    await api.advance(int((first - await api.now()).total_seconds()) - 60)
    assert (await send(api))["digests"] == 0
    await api.advance(120)
    assert (await send(api))["digests"] == 1
    [note] = relay.of_type("ball.ripe")
    assert relay.pushes[0]["device"]["token"] == f"apns-{early}"
    assert note["body"] == "1 ball with 120 g of energy is ready to collect."
    assert note["data"] == {
        "count": 1,
        "amount_g": 120,
        "key": first.astimezone(ZoneInfo(zones[early])).date().isoformat(),
    }
    assert (await send(api))["digests"] == 0  # one a morning

    await api.advance(int((second - await api.now()).total_seconds()) + 60)
    assert (await send(api))["digests"] == 1
    tokens = [p["device"]["token"] for p in relay.pushes if p["notification"]["type"] == "ball.ripe"]
    assert tokens == [f"apns-{early}", f"apns-{late}"]


async def test_a_ball_about_to_expire_is_pushed_once(api: Api, relay: Relay) -> None:
    user = await api.register()
    await with_device(user)
    ball = await ripe_ball(user)
    expires = datetime.fromisoformat(ball["expires_at"])
    await api.advance(int((expires - await api.now()).total_seconds()) - 13 * 3600)
    assert (await send(api))["expiring"] == 0
    await api.advance(2 * 3600)
    assert (await send(api))["expiring"] == 1
    assert (await send(api))["expiring"] == 0
    [note] = relay.of_type("ball.expiring")
    assert note["body"] == f"Collect {ball['amount_g']} g of energy: it expires within 12 hours."


async def test_chinese_speakers_get_chinese(api: Api, relay: Relay) -> None:
    asker = await api.register(display_name="Mei")
    other = await api.register(language="zh-Hans")
    await with_device(other)
    await asker.post("/v1/me/friends", json={"handle": other.handle})
    await send(api)
    [note] = relay.of_type("friend.requested")
    assert note["title"] == "新的好友请求" and note["body"] == "Mei 想和你成为好友。"
    body = relay.raw[0][1]
    assert "新的好友请求".encode() in body and json.loads(body)["notification"]["id"] == note["id"]

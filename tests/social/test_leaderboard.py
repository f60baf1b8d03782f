"""Leaderboards (SPEC 5): the user and friends by grams collected plus stolen, over periods that
start at the requesting user's own local midnight (weeks on Monday)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api import Api
from tests.social.helpers import befriend, steal


async def advance_to(api: Api, target: datetime) -> None:
    await api.advance(int((target - await api.now()).total_seconds()))


async def board(user: object, period: str) -> dict:
    response = await user.get("/v1/me/leaderboard", params={"period": period})  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    return response.json()


async def test_periods_follow_each_users_timezone(api: Api) -> None:
    kiri = await api.register("kiri", timezone="Pacific/Kiritimati")  # UTC+14
    hono = await api.register("hono", timezone="Pacific/Honolulu")  # UTC-10
    fred = await api.register("fred")  # UTC
    await befriend(fred, kiri)
    await befriend(fred, hono)
    await befriend(kiri, hono)

    now = await api.now()
    friday = (now + timedelta(days=1)).date()
    while friday.weekday() != 4:
        friday += timedelta(days=1)
    at = lambda days, hour: datetime(friday.year, friday.month, friday.day, hour, tzinfo=UTC) + timedelta(days=days)  # noqa: E731

    await advance_to(api, at(0, 12))  # Friday 12:00 UTC
    await fred.walk(10_000)  # 200 g, ripe Saturday 07:00 UTC
    await advance_to(api, at(1, 12))  # Saturday 12:00 UTC
    await fred.walk(5_000)  # 100 g, ripe Sunday 07:00 UTC
    await advance_to(api, at(1, 20))  # Saturday 20:00 UTC
    assert (await fred.collect_all())["collected_g"] == 200
    await advance_to(api, at(2, 12))  # Sunday 12:00 UTC
    saturday_ball = (await fred.forest())["balls"][-1]
    assert (await steal(hono, fred, saturday_ball["id"])).json() == {"stolen_g": 10}
    assert (await fred.collect_all())["collected_g"] == 90
    # Monday 05:00 UTC: Monday 19:00 in Kiritimati, Sunday 19:00 in Honolulu
    await advance_to(api, at(3, 5))

    sunday_10 = at(2, 10).isoformat().replace("+00:00", "Z")
    previous_monday_10 = at(-4, 10).isoformat().replace("+00:00", "Z")
    # Both local days start at 10:00 UTC on Sunday (the zones are exactly 24 h apart) ...
    for user in (kiri, hono):
        day = await board(user, "day")
        assert day["period"] == "day" and day["starts_at"].replace("+00:00", "Z") == sunday_10
        assert [(i["handle"], i["collected_g"]) for i in day["items"]] == [("fred", 90), ("hono", 10), ("kiri", 0)]
    # ... but Kiritimati's week began on its Monday, Honolulu's six days before that
    kiri_week = await board(kiri, "week")
    hono_week = await board(hono, "week")
    assert kiri_week["starts_at"].replace("+00:00", "Z") == sunday_10
    assert hono_week["starts_at"].replace("+00:00", "Z") == previous_monday_10
    assert kiri_week["items"] == [
        {"rank": 1, "handle": "fred", "display_name": "Fred", "collected_g": 90},
        {"rank": 2, "handle": "hono", "display_name": "Hono", "collected_g": 10},
        {"rank": 3, "handle": "kiri", "display_name": "Kiri", "collected_g": 0},
    ]
    assert [(i["handle"], i["collected_g"]) for i in hono_week["items"]] == [
        ("fred", 290),
        ("hono", 10),
        ("kiri", 0),
    ]
    everything = await board(hono, "all")
    assert everything["period"] == "all" and everything["starts_at"] is None
    assert [(i["rank"], i["handle"], i["collected_g"]) for i in everything["items"]] == [
        (1, "fred", 290),
        (2, "hono", 10),
        (3, "kiri", 0),
    ]


async def test_ties_share_a_rank_in_handle_order_and_only_friends_count(api: Api) -> None:
    me = await api.register("mid")
    a = await api.register("zed")
    b = await api.register("abe")
    stranger = await api.register("stranger")
    await befriend(me, a)
    await befriend(me, b)
    for user in (me, a, b, stranger):
        await user.walk(5_000)
    await api.advance_to_next_morning()
    for user in (me, a, b, stranger):
        await user.collect_all()
    result = await board(me, "day")
    assert [(i["rank"], i["handle"], i["collected_g"]) for i in result["items"]] == [
        (1, "abe", 100),
        (1, "mid", 100),
        (1, "zed", 100),
    ]
    # a friend's leaderboard is theirs: their own friends, not mine
    assert [i["handle"] for i in (await board(a, "week"))["items"]] == ["mid", "zed"]
    assert (await me.get("/v1/me/leaderboard", params={"period": "year"})).status_code == 400
    assert (await board(me, "day")) == (await me.get("/v1/me/leaderboard")).json()

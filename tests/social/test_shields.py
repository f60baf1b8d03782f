"""Shields (SPEC 5): earned on every 7th consecutive collecting day, used for 24 h."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.api import Api
from tests.social.helpers import befriend, feed, problem, steal


async def test_a_seven_day_streak_earns_a_shield_that_stops_thieves(api: Api) -> None:
    owner = await api.register()
    thief = await api.register()
    await befriend(owner, thief)
    none = await owner.post("/v1/me/shield")
    assert none.status_code == 409 and problem(none) == "no-shield"

    for day in range(1, 8):
        await owner.walk(5_000)
        await api.advance_to_next_morning()
        assert (await owner.collect_all())["collected_g"] == 100
        forest = await owner.forest()
        assert forest["streak_days"] == day
        assert forest["shields"] == (1 if day == 7 else 0)
    earned = [i for i in await feed(owner) if i["type"] == "shield.earned"]
    assert len(earned) == 1 and earned[0]["friend"] is None and earned[0]["amount_g"] is None

    ball = (await owner.walk(5_000))["ball"]
    await api.advance_to_next_morning()
    before = await api.now()
    used = await owner.post("/v1/me/shield")
    assert used.status_code == 200, used.text
    after = await api.now()
    until = datetime.fromisoformat(used.json()["shield_until"])
    assert used.json()["shields"] == 0
    assert before <= until - timedelta(hours=24) <= after
    forest = await owner.forest()
    assert forest["shields"] == 0 and datetime.fromisoformat(forest["shield_until"]) == until
    again = await owner.post("/v1/me/shield")
    assert again.status_code == 409 and problem(again) == "no-shield"

    view = (await thief.get(f"/v1/users/{owner.handle}/forest")).json()
    assert view["shielded"] is True and view["balls"][-1]["can_steal"] is False
    refused = await steal(thief, owner, ball["id"])
    assert refused.status_code == 409 and problem(refused) == "shielded"

    await api.advance(int((until - await api.now()).total_seconds()) + 1)
    assert (await owner.forest())["shield_until"] is None
    assert (await steal(thief, owner, ball["id"])).json() == {"stolen_g": 10}


async def test_a_broken_streak_starts_again(api: Api) -> None:
    user = await api.register()
    for _ in range(6):
        await user.walk(1_000)
        await api.advance_to_next_morning()
        await user.collect_all()
    await api.advance(86_400)  # a day without collecting
    await user.walk(1_000)
    await api.advance_to_next_morning()
    await user.collect_all()
    forest = await user.forest()
    assert forest["streak_days"] == 1 and forest["shields"] == 0


async def test_a_second_shield_extends_the_first(api: Api) -> None:
    user = await api.register()
    for _ in range(14):
        await user.walk(1_000)
        await api.advance_to_next_morning()
        await user.collect_all()
    forest = await user.forest()
    assert forest["streak_days"] == 14 and forest["shields"] == 2
    assert len([i for i in await feed(user) if i["type"] == "shield.earned"]) == 2
    first = (await user.post("/v1/me/shield")).json()
    second = (await user.post("/v1/me/shield")).json()
    assert second["shields"] == 0
    assert datetime.fromisoformat(second["shield_until"]) == datetime.fromisoformat(first["shield_until"]) + timedelta(
        hours=24
    )

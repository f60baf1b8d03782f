"""PUT /me/steps/{date} (SPEC 4.1)."""

from __future__ import annotations

from datetime import timedelta

from tests.api import Api


async def test_steps_grow_the_days_ball_and_cap_at_296(api: Api) -> None:
    user = await api.register()
    first = await user.walk(10_000)
    assert first["steps"] == 10_000 and first["energy_g"] == 200
    assert first["ball"]["amount_g"] == 200 and first["ball"]["state"] == "growing"

    second = await user.walk(14_999)
    assert second["energy_g"] == 296  # floor(14999 / 50) = 299, capped at 296
    assert second["ball"]["id"] == first["ball"]["id"]
    assert second["ball"]["amount_g"] == 296

    third = await user.walk(20_000)
    assert third["energy_g"] == 296 and third["ball"]["amount_g"] == 296

    actions = (await user.get("/v1/me/actions")).json()["items"]
    assert len(actions) == 1
    assert actions[0]["action"] == "walk" and actions[0]["quantity"] == 20_000
    assert actions[0]["energy_g"] == 296 and actions[0]["capped"] is True


async def test_a_lower_total_is_ignored(api: Api) -> None:
    user = await api.register()
    await user.walk(5_000)
    lower = await user.walk(1_000)
    assert lower["steps"] == 5_000 and lower["energy_g"] == 100 and lower["ball"]["amount_g"] == 100


async def test_ball_ripens_at_seven_local_and_expires_72h_later(api: Api) -> None:
    user = await api.register(timezone="Asia/Shanghai")
    now = await api.now()
    local_today = (now + timedelta(hours=8)).date()
    ball = (await user.walk(3_000, day=local_today))["ball"]
    # 07:00 in Shanghai is 23:00 UTC the day before
    assert ball["ripens_at"] == f"{local_today.isoformat()}T23:00:00Z"
    assert ball["expires_at"] == f"{(local_today + timedelta(days=3)).isoformat()}T23:00:00Z"


async def test_yesterday_can_be_raised_until_its_ball_ripens(api: Api) -> None:
    user = await api.register()
    now = await api.now()
    # Go to 05:00 tomorrow: yesterday (today now) is still open until 07:00.
    target = now.replace(hour=5, minute=0, second=0, microsecond=0) + timedelta(days=1)
    await api.advance(int((target - now).total_seconds()))
    yesterday = target.date() - timedelta(days=1)
    response = await user.put(f"/v1/me/steps/{yesterday.isoformat()}", json={"steps": 4_000})
    assert response.status_code == 200, response.text
    assert response.json()["energy_g"] == 80

    await api.advance(3 * 3600)  # 08:00: yesterday's ball has ripened
    response = await user.put(f"/v1/me/steps/{yesterday.isoformat()}", json={"steps": 9_000})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    forest = await user.forest()
    assert [b["amount_g"] for b in forest["balls"]] == [80]


async def test_other_dates_are_refused_and_change_nothing(api: Api) -> None:
    user = await api.register()
    today = await api.today()
    for day in (today + timedelta(days=1), today - timedelta(days=2), "2026-02-30", "tomorrow", "2026-1-1"):
        day_text = day if isinstance(day, str) else day.isoformat()
        response = await user.put(f"/v1/me/steps/{day_text}", json={"steps": 1_000})
        assert response.status_code == 422, (day_text, response.text)
        assert response.json()["status"] == 422
    assert (await user.forest())["balls"] == []
    assert (await user.get("/v1/me/actions")).json()["items"] == []


async def test_steps_must_be_a_bounded_integer(api: Api) -> None:
    user = await api.register()
    today = (await api.today()).isoformat()
    for steps in (True, "100", 10.0, -1, 100_001, 2**63, None):
        response = await user.put(f"/v1/me/steps/{today}", json={"steps": steps})
        assert response.status_code in (400, 422), (steps, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    response = await user.put(f"/v1/me/steps/{today}", json={"steps": 100, "bonus": 5})
    assert response.status_code == 400
    assert (await user.forest())["balls"] == []

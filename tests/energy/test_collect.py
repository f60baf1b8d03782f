"""Collecting balls (SPEC 4.2), including many collects of one ball at the same instant."""

from __future__ import annotations

import asyncio

from tests.api import Api


async def test_collect_after_seven_the_next_day(api: Api) -> None:
    user = await api.register()
    ball = (await user.walk(10_000))["ball"]

    early = await user.post(f"/v1/me/balls/{ball['id']}/collect")
    assert early.status_code == 409
    assert early.json()["type"].endswith(":not-ripe")

    await api.advance_to_next_morning()
    forest = await user.forest()
    assert forest["balls"][0]["state"] == "ripe"

    response = await user.post(f"/v1/me/balls/{ball['id']}/collect")
    assert response.status_code == 200, response.text
    assert response.json() == {"collected_g": 200, "balance_g": 200}

    again = await user.post(f"/v1/me/balls/{ball['id']}/collect")
    assert again.status_code == 409
    assert again.json()["type"].endswith(":ball-collected")

    forest = await user.forest()
    assert forest["balance_g"] == 200
    assert forest["balls"][0]["state"] == "collected" and forest["balls"][0]["remaining_g"] == 0
    assert forest["streak_days"] == 1


async def test_collect_all_takes_every_ripe_ball(api: Api) -> None:
    user = await api.register()
    await user.walk(5_000)
    await api.advance_to_next_morning()
    await user.walk(2_500)  # today's ball is still growing
    result = await user.collect_all()
    assert result["collected_g"] == 100 and result["balance_g"] == 100 and len(result["balls"]) == 1
    nothing = await user.collect_all()
    assert nothing == {"collected_g": 0, "balance_g": 100, "balls": []}


async def test_another_users_ball_is_not_found(api: Api) -> None:
    owner = await api.register()
    other = await api.register()
    ball = (await owner.walk(5_000))["ball"]
    await api.advance_to_next_morning()
    response = await other.post(f"/v1/me/balls/{ball['id']}/collect")
    assert response.status_code == 404
    assert (await owner.forest())["balls"][0]["remaining_g"] == 100


async def test_many_parallel_collects_of_one_ball_succeed_once(api: Api) -> None:
    user = await api.register()
    ball = (await user.walk(14_800))["ball"]
    await api.advance_to_next_morning()

    responses = await asyncio.gather(*(user.post(f"/v1/me/balls/{ball['id']}/collect") for _ in range(25)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert statuses.count(409) == 24, statuses
    assert await user.balance() == 296
    ledger = (await user.get("/v1/me/ledger", params={"limit": 200})).json()["items"]
    assert sum(e["amount_g"] for e in ledger if e["account"] == "balance") == 296


async def test_parallel_collect_all_and_single_collect_credit_once(api: Api) -> None:
    user = await api.register()
    ball = (await user.walk(6_000))["ball"]
    await api.advance_to_next_morning()
    calls = [user.post("/v1/me/balls/collect") for _ in range(10)]
    calls += [user.post(f"/v1/me/balls/{ball['id']}/collect") for _ in range(10)]
    responses = await asyncio.gather(*calls)
    assert all(r.status_code in (200, 409) for r in responses)
    assert sum(r.json().get("collected_g", 0) for r in responses if r.status_code == 200) == 120
    assert await user.balance() == 120


async def test_uncollected_ball_expires_72h_after_ripening(api: Api) -> None:
    user = await api.register()
    ball = (await user.walk(7_000))["ball"]
    await api.advance_to_next_morning()
    await api.advance(72 * 3600)  # past expires_at

    forest = await user.forest()
    assert forest["balls"][0]["state"] == "expired"
    refused = await user.post(f"/v1/me/balls/{ball['id']}/collect")
    assert refused.status_code == 409 and refused.json()["type"].endswith(":ball-expired")

    before = await api.audit()
    assert before["in_balls_g"] == 140 and before["expired_g"] == 0
    counts = await api.run_job("expire-balls")
    assert counts == {"job": "expire-balls", "balls_expired": 1, "expired_g": 140}
    assert (await api.run_job("expire-balls"))["balls_expired"] == 0

    after = await api.audit()
    assert after["in_balls_g"] == 0 and after["expired_g"] == 140 and after["issued_g"] == 140
    assert (await user.forest())["balls"][0]["state"] == "expired"
    await api.advance(25 * 3600)
    assert (await user.forest())["balls"] == []


async def test_parallel_expire_runs_settle_each_ball_once(api: Api) -> None:
    users = [await api.register() for _ in range(4)]
    for user in users:
        await user.walk(3_000)
    await api.advance_to_next_morning()
    await api.advance(73 * 3600)
    results = await asyncio.gather(*(api.run_job("expire-balls") for _ in range(5)))
    assert sum(r["balls_expired"] for r in results) == 4
    assert sum(r["expired_g"] for r in results) == 240
    assert (await api.audit())["expired_g"] == 240


async def test_the_scheduler_runs_expire_balls_in_the_app(settings) -> None:
    from litestar.testing import AsyncTestClient

    from server.app import create_app

    scheduled = settings.model_copy(update={"scheduler_enabled": True, "expire_balls_interval_s": 1})
    async with AsyncTestClient(create_app(scheduled), base_url="http://canopy.test") as client:
        api = Api(client, scheduled)
        user = await api.register()
        await user.walk(2_000)
        await api.advance_to_next_morning()
        await api.advance(73 * 3600)
        for _ in range(50):
            if (await api.audit())["expired_g"] == 40:
                break
            await asyncio.sleep(0.1)
        assert (await api.audit())["expired_g"] == 40


async def test_several_collections_in_a_day_count_the_streak_once(api: Api) -> None:
    user = await api.register()
    first = (await user.walk(5_000))["ball"]["id"]
    await api.advance_to_next_morning()
    second = (await user.walk(2_500))["ball"]["id"]
    await api.advance_to_next_morning()  # both balls are ripe
    await user.walk(1_000)
    for ball in (first, second):
        assert (await user.post(f"/v1/me/balls/{ball}/collect")).status_code == 200
        assert (await user.forest())["streak_days"] == 1
    await api.advance_to_next_morning()
    assert (await user.collect_all())["collected_g"] == 20
    assert (await user.forest())["streak_days"] == 2

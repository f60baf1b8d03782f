"""Signed reports (SPEC 7.2): the happy path, replays, the order of checks, caps."""

from __future__ import annotations

import asyncio

from tests.api import Api
from tests.partners.helpers import green_code, make_partner, report_body


async def test_a_report_awards_energy_into_todays_ball(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    body = await report_body(user, [("metro_ride", 2), ("bus_ride", 1)])
    response = await partner.report(body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["report_id"] == body["report_id"]
    assert created["user_ref"].startswith("u_")
    assert created["awarded"] == [
        {"action": "metro_ride", "quantity": 2, "energy_g": 104, "capped": False},
        {"action": "bus_ride", "quantity": 1, "energy_g": 80, "capped": False},
    ]
    assert created["total_g"] == 184
    forest = await user.forest()
    assert sorted((b["action"], b["amount_g"], b["state"]) for b in forest["balls"]) == [
        ("bus_ride", 80, "growing"),
        ("metro_ride", 104, "growing"),
    ]
    actions = (await user.get("/v1/me/actions")).json()["items"]
    assert {(a["action"], a["source"], a["energy_g"]) for a in actions} == {
        ("metro_ride", "partner", 104),
        ("bus_ride", "partner", 80),
    }


async def test_replay_conflict_and_concurrent_duplicates(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    body = await report_body(user, [("metro_ride", 1)])
    responses = await asyncio.gather(*(partner.report(body) for _ in range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [201], [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    # the same JSON value with other key order and spacing still replays, even after the code expired
    await api.advance(600)
    reordered = {k: body[k] for k in reversed(list(body))}
    again = await partner.report(reordered)
    assert again.status_code == 200 and again.json() == responses[0].json()
    other = await partner.report({**body, "items": [{"action": "metro_ride", "quantity": 2}]})
    assert other.status_code == 409 and other.json()["type"].endswith(":report-id-reused")
    assert sum(b["amount_g"] for b in (await user.forest())["balls"]) == 52


def problem_of(response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.json()["type"].removeprefix("urn:canopy:problem:")


async def test_checks_in_the_specified_order(api: Api) -> None:
    partner = await make_partner(api, ["metro_ride"])
    user = await api.register()
    code = await green_code(user)
    now = await api.now()

    # not allowed for this partner (and device-verified walking) -> 403, nothing recorded, code unused
    for action in ("bus_ride", "walk", "no_such_action"):
        body = await report_body(user, [("metro_ride", 1), (action, 1)], code=code)
        response = await partner.report(body)
        assert response.status_code == 403 and problem_of(response) == "action-not-allowed"
    # 403 comes before the code check and the occurred_at check
    body = await report_body(user, [("bus_ride", 1)], code="1" * 18, occurred_at="2000-01-01T00:00:00Z")
    assert (await partner.report(body)).status_code == 403
    # the code before occurred_at
    body = await report_body(user, code="1" * 18, occurred_at="2000-01-01T00:00:00Z")
    response = await partner.report(body)
    assert response.status_code == 422 and problem_of(response) == "green-code-unknown"

    def at(seconds: int) -> str:
        from datetime import timedelta

        return (now + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    future = await partner.report(await report_body(user, code=code, occurred_at=at(400)))
    assert future.status_code == 422 and problem_of(future) == "occurred-at-future"
    old = await partner.report(await report_body(user, code=code, occurred_at=at(-8 * 86400)))
    assert old.status_code == 422 and problem_of(old) == "occurred-at-too-old"
    assert (await user.forest())["balls"] == []
    assert (await user.get("/v1/me/actions")).json()["items"] == []

    # the code is still good after all those refusals; redeemed once, then 422
    accepted = await partner.report(await report_body(user, code=code, occurred_at=at(200)))
    assert accepted.status_code == 201, accepted.text
    reused = await partner.report(await report_body(user, code=code))
    assert reused.status_code == 422 and problem_of(reused) == "green-code-redeemed"
    six_days = await partner.report(await report_body(user, code=await green_code(user), occurred_at=at(-6 * 86400)))
    assert six_days.status_code == 201


async def test_green_code_expires_after_five_minutes(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    issued = await user.post("/v1/me/green-code")
    code = issued.json()["code"]
    assert len(code) == 18 and code.isdigit()
    await api.advance(301)
    response = await partner.report(await report_body(user, code=code))
    assert response.status_code == 422 and problem_of(response) == "green-code-expired"
    fresh = await green_code(user)
    await api.advance(290)
    assert (await partner.report(await report_body(user, code=fresh))).status_code == 201


async def test_user_ref_linking_and_unlinking(api: Api) -> None:
    metro = await make_partner(api)
    cafe = await make_partner(api, ["reusable_cup"], kind="merchant")
    user = await api.register()
    other_user = await api.register()
    assert (await user.get("/v1/me/partner-links")).json()["items"] == []

    first = (await metro.report(await report_body(user))).json()
    ref = first["user_ref"]
    by_ref = await metro.report(await report_body(user_ref=ref, occurred_at=(await api.now()).isoformat()))
    assert by_ref.status_code == 201, by_ref.text
    assert by_ref.json()["user_ref"] == ref

    cafe_ref = (await cafe.report(await report_body(user, [("reusable_cup", 1)]))).json()["user_ref"]
    assert cafe_ref != ref
    # a user_ref is only good with the partner it was given to
    wrong_partner = await cafe.report(
        await report_body(user_ref=ref, items=[("reusable_cup", 1)], occurred_at=(await api.now()).isoformat())
    )
    assert wrong_partner.status_code == 422 and problem_of(wrong_partner) == "user-ref-unknown"
    other_ref = (await metro.report(await report_body(other_user))).json()["user_ref"]
    assert other_ref not in (ref, cafe_ref)

    links = (await user.get("/v1/me/partner-links")).json()["items"]
    assert {(link["partner_id"], link["user_ref"]) for link in links} == {(metro.id, ref), (cafe.id, cafe_ref)}

    assert (await user.delete(f"/v1/me/partner-links/{metro.id}")).status_code == 204
    assert (await user.delete(f"/v1/me/partner-links/{metro.id}")).status_code == 404
    assert (await other_user.delete(f"/v1/me/partner-links/{cafe.id}")).status_code == 404
    unlinked = await metro.report(await report_body(user_ref=ref, occurred_at=(await api.now()).isoformat()))
    assert unlinked.status_code == 422 and problem_of(unlinked) == "user-ref-unlinked"
    assert [link["partner_id"] for link in (await user.get("/v1/me/partner-links")).json()["items"]] == [cafe.id]

    # showing a new code at the till links again, under the same user_ref
    relinked = (await metro.report(await report_body(user))).json()
    assert relinked["user_ref"] == ref
    again = await metro.report(await report_body(user_ref=ref, occurred_at=(await api.now()).isoformat()))
    assert again.status_code == 201


async def test_daily_count_cap_is_cut_and_recorded(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    ref = (await partner.report(await report_body(user, [("metro_ride", 3)]))).json()["user_ref"]
    now = (await api.now()).isoformat()
    second = (await partner.report(await report_body(user_ref=ref, items=[("metro_ride", 4)], occurred_at=now))).json()
    assert second["awarded"] == [{"action": "metro_ride", "quantity": 4, "energy_g": 104, "capped": True}]
    third = (await partner.report(await report_body(user_ref=ref, items=[("metro_ride", 1)], occurred_at=now))).json()
    assert third["awarded"] == [{"action": "metro_ride", "quantity": 1, "energy_g": 0, "capped": True}]
    assert third["total_g"] == 0
    # another action has its own cap; yesterday's rides count against yesterday
    from datetime import timedelta

    yesterday = ((await api.now()) - timedelta(days=1)).isoformat()
    bus = await partner.report(
        await report_body(user_ref=ref, items=[("bus_ride", 2), ("metro_ride", 2)], occurred_at=yesterday)
    )
    assert [a["energy_g"] for a in bus.json()["awarded"]] == [160, 104]
    metro_ball = next(b for b in (await user.forest())["balls"] if b["action"] == "metro_ride")
    assert metro_ball["amount_g"] == 5 * 52 + 2 * 52
    actions = (await user.get("/v1/me/actions")).json()["items"]
    assert sorted((a["action"], a["quantity"], a["energy_g"], a["capped"]) for a in actions) == [
        ("bus_ride", 2, 160, False),
        ("metro_ride", 1, 0, True),
        ("metro_ride", 2, 104, False),
        ("metro_ride", 3, 156, False),
        ("metro_ride", 4, 104, True),
    ]


async def test_monthly_count_cap(api: Api) -> None:
    partner = await make_partner(api, ["online_utility_bill"], kind="utility")
    user = await api.register()
    first = (await partner.report(await report_body(user, [("online_utility_bill", 7)]))).json()
    assert first["total_g"] == 7 * 262
    await api.advance(86400)  # another day, most likely the same month
    now = await api.now()
    from datetime import timedelta

    same_month = now if now.day > 1 else now - timedelta(days=1)
    second = await partner.report(
        await report_body(
            user_ref=first["user_ref"], items=[("online_utility_bill", 5)], occurred_at=same_month.isoformat()
        )
    )
    assert second.json()["awarded"] == [
        {"action": "online_utility_bill", "quantity": 5, "energy_g": 786, "capped": True}
    ]


async def test_concurrent_reports_do_not_exceed_the_cap(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    ref = (await partner.report(await report_body(user, [("bus_ride", 1)]))).json()["user_ref"]
    now = (await api.now()).isoformat()
    bodies = [await report_body(user_ref=ref, items=[("metro_ride", 2)], occurred_at=now) for _ in range(8)]
    responses = await asyncio.gather(*(partner.report(body) for body in bodies))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    assert sum(r.json()["total_g"] for r in responses) == 5 * 52
    metro_ball = next(b for b in (await user.forest())["balls"] if b["action"] == "metro_ride")
    assert metro_ball["amount_g"] == 5 * 52


async def test_partners_see_only_their_own_reports(api: Api) -> None:
    mine = await make_partner(api)
    theirs = await make_partner(api)
    user = await api.register()
    body = await report_body(user)
    assert (await mine.report(body)).status_code == 201
    # the same report_id is another report for another partner
    other = await theirs.report({**body, "green_code": await green_code(user)})
    assert other.status_code == 201
    listed = (await theirs.get("/v1/partner/reports")).json()["items"]
    assert [r["report_id"] for r in listed] == [body["report_id"]] and listed[0]["user_ref"] == other.json()["user_ref"]
    lonely = await make_partner(api)
    assert (await lonely.get("/v1/partner/reports")).json() == {"items": [], "next_cursor": None}
    assert (await lonely.void(body["report_id"])).status_code == 404


async def test_list_paginates(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    ids = []
    for _ in range(5):
        ids.append((await partner.report(await report_body(user, [("reusable_cup", 1)]))).json()["report_id"])
    seen, cursor = [], None
    while True:
        target = "/v1/partner/reports?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await partner.get(target)).json()
        seen += [item["report_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    assert (await partner.get("/v1/partner/reports?limit=0")).status_code == 400
    assert (await partner.get("/v1/partner/reports?cursor=!!")).status_code == 400


async def test_gram_cap_and_the_users_local_day(api: Api) -> None:
    created = await api.client.post(
        "/v1/admin/actions",
        headers=api.operator,
        json={
            "code": "refill_station",
            "name": "Water refill",
            "unit": "item",
            "grams_per_unit": 30,
            "daily_cap_g": 100,
            "verification": "partner",
            "factor_source": "test",
            "baseline": "bottled water",
        },
    )
    assert created.status_code == 201, created.text
    partner = await make_partner(api, ["refill_station"], kind="merchant")
    # 14 hours ahead of UTC: a local day is not the UTC day
    user = await api.register(timezone="Pacific/Kiritimati")
    first = (await partner.report(await report_body(user, [("refill_station", 2)]))).json()
    assert first["awarded"][0] == {"action": "refill_station", "quantity": 2, "energy_g": 60, "capped": False}
    now = await api.now()
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    local_now = now.astimezone(ZoneInfo("Pacific/Kiritimati"))
    local_midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    same_local_day = max(local_midnight, now - timedelta(days=6)).isoformat()
    second = await partner.report(
        await report_body(user_ref=first["user_ref"], items=[("refill_station", 2)], occurred_at=same_local_day)
    )
    assert second.json()["awarded"][0] == {"action": "refill_station", "quantity": 2, "energy_g": 40, "capped": True}
    before_local_midnight = (local_midnight - timedelta(seconds=1)).isoformat()
    previous_day = await partner.report(
        await report_body(user_ref=first["user_ref"], items=[("refill_station", 5)], occurred_at=before_local_midnight)
    )
    assert previous_day.json()["awarded"][0]["energy_g"] == 100
    actions = (await user.get("/v1/me/actions")).json()["items"]
    assert sorted(a["date"] for a in actions) == sorted(
        [local_now.date().isoformat()] * 2 + [(local_now.date() - timedelta(days=1)).isoformat()]
    )

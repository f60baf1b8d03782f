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

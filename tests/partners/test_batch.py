"""`POST /partner/reports/batch` (SPEC 7.2): each report judged on its own, in order."""

from __future__ import annotations

from datetime import datetime

from tests.api import Api
from tests.partners.helpers import green_code, make_partner, report_body


async def test_a_batch_of_mixed_reports(api: Api) -> None:
    partner = await make_partner(api, ["metro_ride", "bus_ride"])
    user = await api.register()
    earlier = await report_body(user, [("bus_ride", 1)])
    assert (await partner.report(earlier)).status_code == 201
    now = (await api.now()).isoformat()
    good = await report_body(user, [("metro_ride", 2)])
    duplicate_code = await report_body(user, code=good["green_code"], occurred_at=now)
    not_allowed = await report_body(user, [("reusable_cup", 1)])
    invalid = {**(await report_body(user)), "items": [{"action": "metro_ride", "quantity": True}]}
    reused_id = {**(await report_body(user)), "report_id": earlier["report_id"]}
    reports = [
        good,
        "not an object",
        earlier,  # replayed
        duplicate_code,  # the code was redeemed by `good`, earlier in this batch
        not_allowed,
        invalid,
        good,  # the same report twice in one batch: replayed
        reused_id,
        await report_body(user, [("bus_ride", 1)]),
    ]
    response = await partner.batch(reports)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["report_id"], r["status"]) for r in results] == [
        (good["report_id"], "created"),
        (None, "refused"),
        (earlier["report_id"], "replayed"),
        (duplicate_code["report_id"], "refused"),
        (not_allowed["report_id"], "refused"),
        (invalid["report_id"], "refused"),
        (good["report_id"], "replayed"),
        (earlier["report_id"], "refused"),
        (reports[-1]["report_id"], "created"),
    ]
    assert [r.get("total_g") for r in results] == [104, None, 80, None, None, None, 104, None, 80]
    errors = [r["error"] for r in results if r["status"] == "refused"]
    assert [(e["status"], e["type"].rsplit(":", 1)[1]) for e in errors] == [
        (400, "validation"),
        (422, "green-code-redeemed"),
        (403, "action-not-allowed"),
        (400, "validation"),
        (409, "report-id-reused"),
    ]
    assert all(e["title"] and e["detail"] for e in errors)
    balls = {b["action"]: b["amount_g"] for b in (await user.forest())["balls"]}
    assert balls == {"metro_ride": 104, "bus_ride": 160}
    # the refused ones left nothing behind: their ids are free and their codes still work
    retry = await partner.report({**not_allowed, "items": [{"action": "bus_ride", "quantity": 1}]})
    assert retry.status_code == 201, retry.text
    listed = (await partner.get("/v1/partner/reports?limit=200")).json()["items"]
    assert len(listed) == 4


async def test_more_than_500_reports_is_413_and_nothing_is_processed(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    code = await green_code(user)
    now = (await api.now()).isoformat()
    reports = [await report_body(user, code=code, occurred_at=now) for _ in range(501)]
    response = await partner.batch(reports)
    assert response.status_code == 413 and response.json()["type"].endswith(":batch-too-large")
    assert (await user.forest())["balls"] == []
    response = await partner.batch(reports[:1])
    assert response.json()["results"][0]["status"] == "created"


async def test_a_full_batch_by_user_ref(api: Api) -> None:
    partner = await make_partner(api, ["bus_ride", "metro_ride", "online_utility_bill"], kind="utility")
    users = [await api.register() for _ in range(5)]
    refs = [(await partner.report(await report_body(u, [("bus_ride", 1)]))).json()["user_ref"] for u in users]
    now = (await api.now()).isoformat()
    reports = [
        await report_body(user_ref=refs[i % 5], items=[("metro_ride", 1), ("online_utility_bill", 1)], occurred_at=now)
        for i in range(500)
    ]
    response = await partner.batch(reports)
    assert response.status_code == 200
    results = response.json()["results"]
    assert all(r["status"] == "created" for r in results)
    # per user: 5 rides a day and 10 bills a month are paid, the rest recorded at 0 g
    assert sum(r["total_g"] for r in results) == 5 * (5 * 52 + 10 * 262)
    replay = await partner.batch(reports[:3])
    assert [r["status"] for r in replay.json()["results"]] == ["replayed"] * 3


async def test_batch_body_shape(api: Api) -> None:
    partner = await make_partner(api)
    for body in ({"reports": "x"}, {"reports": [], "extra": 1}, [], {"items": []}):
        response = await partner.post("/v1/partner/reports/batch", body)
        assert response.status_code == 400, response.text
    assert (await partner.batch([])).json() == {"results": []}


async def test_concurrent_identical_batches_award_once(api: Api) -> None:
    import asyncio

    partner = await make_partner(api)
    users = [await api.register() for _ in range(3)]
    refs = [(await partner.report(await report_body(u, [("bus_ride", 1)]))).json()["user_ref"] for u in users]
    now = (await api.now()).isoformat()
    reports = [await report_body(user_ref=refs[i % 3], items=[("metro_ride", 1)], occurred_at=now) for i in range(30)]
    responses = await asyncio.gather(*(partner.batch(reports) for _ in range(4)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    statuses = [[r["status"] for r in response.json()["results"]] for response in responses]
    assert sorted(s[0] for s in statuses) == ["created", "replayed", "replayed", "replayed"]
    assert all(len(set(s)) == 1 for s in statuses)
    totals = [[r["total_g"] for r in response.json()["results"]] for response in responses]
    assert all(t == totals[0] for t in totals) and sum(totals[0]) == 3 * 5 * 52
    for user in users:
        balls = {b["action"]: b["amount_g"] for b in (await user.forest())["balls"]}
        assert balls == {"bus_ride": 80, "metro_ride": 5 * 52}


async def test_a_code_report_relinks_for_later_reports_in_the_same_batch(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    ref = (await partner.report(await report_body(user))).json()["user_ref"]
    assert (await user.delete(f"/v1/me/partner-links/{partner.id}")).status_code == 204
    now = (await api.now()).isoformat()
    by_ref = await report_body(user_ref=ref, occurred_at=now)
    by_code = await report_body(user, [("bus_ride", 1)])
    after = await report_body(user_ref=ref, occurred_at=now)
    results = (await partner.batch([by_ref, by_code, after])).json()["results"]
    assert [r["status"] for r in results] == ["refused", "created", "created"]
    assert results[0]["error"]["type"].endswith(":user-ref-unlinked")


async def test_a_ripe_ball_after_a_timezone_change_sends_the_award_to_the_next_days_ball(api: Api) -> None:
    partner = await make_partner(api)
    moved = await api.register(timezone="Pacific/Kiritimati")  # UTC+14
    other = await api.register()
    refs = [(await partner.report(await report_body(u, [("bus_ride", 1)]))).json()["user_ref"] for u in (moved, other)]
    first_ball = (await moved.forest())["balls"][0]
    assert (await moved.patch("/v1/me", json={"timezone": "Pacific/Pago_Pago"})).status_code == 200  # UTC-11
    # just after the ball ripens (07:00 in Kiritimati), it is still that day in Pago Pago: its ball is frozen
    ripens_at = datetime.fromisoformat(first_ball["ripens_at"])
    now = await api.advance(int((ripens_at - await api.now()).total_seconds()) + 60)
    reports = [await report_body(user_ref=ref, items=[("bus_ride", 1)], occurred_at=now.isoformat()) for ref in refs]
    results = (await partner.batch(reports)).json()["results"]
    assert [(r["status"], r["total_g"]) for r in results] == [("created", 80), ("created", 80)]
    balls = sorted((b["ripens_at"], b["amount_g"], b["state"]) for b in (await moved.forest())["balls"])
    assert [(amount, state) for _, amount, state in balls] == [(80, "ripe"), (80, "growing")]
    assert sum(b["amount_g"] for b in (await other.forest())["balls"]) == 160


async def test_replays_duplicates_and_new_reports_of_many_users_in_one_batch(api: Api) -> None:
    partner = await make_partner(api)
    users = [await api.register() for _ in range(4)]
    refs = [(await partner.report(await report_body(u, [("bus_ride", 1)]))).json()["user_ref"] for u in users]
    now = (await api.now()).isoformat()
    first = [await report_body(user_ref=ref, items=[("metro_ride", 2)], occurred_at=now) for ref in refs]
    assert [r["total_g"] for r in (await partner.batch(first)).json()["results"]] == [104] * 4
    # per user: 2 rides replayed, then 2 + 2 + 2 new ones of which the daily cap (5) pays 3
    new = [
        await report_body(user_ref=ref, items=[("metro_ride", 2)], occurred_at=now) for ref in refs for _ in range(3)
    ]
    reports = [*first, *new, *first[:2], new[0]]
    results = (await partner.batch(reports)).json()["results"]
    assert [r["status"] for r in results] == ["replayed"] * 4 + ["created"] * 12 + ["replayed"] * 3
    assert [r["total_g"] for r in results[4:7]] == [104, 52, 0]
    assert [r["total_g"] for r in results[-3:]] == [104, 104, 104]
    for user in users:
        balls = {b["action"]: b["amount_g"] for b in (await user.forest())["balls"]}
        assert balls == {"bus_ride": 80, "metro_ride": 5 * 52}
    reused = {**new[1], "items": [{"action": "metro_ride", "quantity": 1}]}
    assert (await partner.batch([reused])).json()["results"][0]["error"]["status"] == 409

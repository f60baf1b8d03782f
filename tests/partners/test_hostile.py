"""Hostile report bodies (STACK.md): every one is a 4xx problem, and nothing is recorded."""

from __future__ import annotations

import pytest

from tests.api import Api
from tests.partners.helpers import make_partner, report_body


@pytest.mark.parametrize(
    "quantity", [True, False, "1", 1.0, 1.5, 0, -1, 10_001, 2**63, 2**64, -(2**63) - 1, None, [1], {"n": 1}]
)
async def test_bad_quantities(api: Api, quantity: object) -> None:
    partner = await make_partner(api)
    user = await api.register()
    body = await report_body(user)
    body["items"][0]["quantity"] = quantity
    response = await partner.report(body)
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "urn:canopy:problem:validation"
    assert response.json()["errors"]
    fixed = {**body, "items": [{"action": "metro_ride", "quantity": 1}]}
    assert (await partner.report(fixed)).status_code == 201  # the id and the code were not used up


@pytest.mark.parametrize(
    "change",
    [
        {"unknown": 1},
        {"report_id": "bad id with spaces"},
        {"report_id": "nul\x00"},
        {"report_id": "x" * 101},
        {"report_id": 12},
        {"report_id": {"x": 1}},  # unhashable values once crashed the batched look-ups (500)
        {"green_code": ["123456789012345678"]},
        {"user_ref": {}},
        {"green_code": "12345"},
        {"green_code": 123456789012345678},
        {"green_code": "12345678901234567\x00"},
        {"user_ref": "u_x"},  # both a code and a user_ref
        {"green_code": None},
        {"occurred_at": 1_800_000_000},
        {"occurred_at": "2026-11-23"},
        {"occurred_at": "2026-11-23T10:00:00"},
        {"occurred_at": "yesterday"},
        {"items": []},
        {"items": [{"action": "metro_ride", "quantity": 1}] * 101},
        {"items": [{"action": "metro_ride"}]},
        {"items": [{"action": "metro_ride", "quantity": 1, "price": 3}]},
        {"items": [{"action": "METRO\x00", "quantity": 1}]},
        {"items": "metro_ride"},
    ],
)
async def test_bad_fields(api: Api, change: dict) -> None:
    partner = await make_partner(api)
    user = await api.register()
    body = {**(await report_body(user)), **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = await partner.report(body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await user.forest())["balls"] == []
    assert (await user.get("/v1/me/partner-links")).json()["items"] == []


@pytest.mark.parametrize(
    "raw",
    [b"", b"null", b"[]", b'"x"', b"{", b'{"report_id": NaN}', b"\xff\xfe", b"[" * 5000 + b"]" * 5000],
)
async def test_malformed_signed_bodies(api: Api, raw: bytes) -> None:
    partner = await make_partner(api)
    for target in ("/v1/partner/reports", "/v1/partner/reports/batch", "/v1/partner/reports/r-1/void"):
        response = await partner.post(target, raw=raw)
        assert 400 <= response.status_code < 500 and response.status_code != 401, (target, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_hostile_paths_and_huge_bodies(api: Api) -> None:
    partner = await make_partner(api)
    for target in ("/v1/partner/reports/%00/void", "/v1/partner/reports/" + "9" * 200 + "/void"):
        response = await partner.post(target, {"reason": "x"})
        assert 400 <= response.status_code < 500, (target, response.status_code, response.text)
    user = await api.register()
    body = await report_body(user)
    body["padding"] = "x" * (1024 * 1024)
    response = await partner.report(body)
    assert response.status_code == 413
    assert (await user.delete("/v1/me/partner-links/%00")).status_code in (400, 404)
    assert (await user.delete("/v1/me/partner-links/" + "a" * 500)).status_code in (400, 404)


# In UTC these are in year 0 and in year 10000: `astimezone` raised OverflowError (a 500).
OVERFLOWING_TIMES = {
    "0001-01-01T00:00:00+01:00": "occurred-at-too-old",
    "9999-12-31T23:59:59-01:00": "occurred-at-future",
}


@pytest.mark.parametrize("occurred_at", OVERFLOWING_TIMES)
async def test_occurred_at_outside_the_utc_years(api: Api, occurred_at: str) -> None:
    partner = await make_partner(api)
    user = await api.register()
    body = await report_body(user, occurred_at=occurred_at)
    response = await partner.report(body)
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "urn:canopy:problem:" + OVERFLOWING_TIMES[occurred_at]
    assert (await user.forest())["balls"] == []
    fixed = {**body, "occurred_at": (await api.now()).isoformat()}
    assert (await partner.report(fixed)).status_code == 201  # the id and the code were not used up


async def test_occurred_at_outside_the_utc_years_in_a_batch(api: Api) -> None:
    """Each report of a batch is judged on its own: the two are refused, the others created."""
    partner = await make_partner(api)
    user = await api.register()
    reports = [await report_body(user)]
    reports += [await report_body(user, occurred_at=when) for when in OVERFLOWING_TIMES]
    reports += [await report_body(user)]
    response = await partner.batch(reports)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "refused", "refused", "created"]
    assert [r["error"]["type"].rsplit(":", 1)[1] for r in results[1:3]] == list(OVERFLOWING_TIMES.values())
    assert [r["error"]["status"] for r in results[1:3]] == [422, 422]
    assert sum(ball["amount_g"] for ball in (await user.forest())["balls"]) == results[0]["total_g"] * 2


@pytest.mark.parametrize(
    "change",
    [
        {"report_id": "r-\ud800"},
        {"green_code": "\ud800" * 18},
        {"user_ref": "u_\udfff"},
        {"occurred_at": "2026-11-23T08:15:00\ud800Z"},
        {"items": [{"action": "metro_ride\ud800", "quantity": 1}]},
        {"\ud800": 1},
    ],
)
async def test_lone_surrogates_in_reports(api: Api, change: dict) -> None:
    """`\\ud800` decodes to a str that no driver can encode: refused where the body is decoded."""
    partner = await make_partner(api)
    user = await api.register()
    body = await report_body(user)
    hostile = {key: value for key, value in body.items() if "user_ref" not in change or key != "green_code"}
    hostile.update(change)
    response = await partner.report(hostile)
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "urn:canopy:problem:malformed-json"
    assert (await partner.batch([body, hostile])).status_code == 400
    void = await partner.post("/v1/partner/reports/r-1/void", {"reason": "refund\ud800"})
    assert void.status_code == 400, void.text
    assert (await user.forest())["balls"] == []
    assert (await partner.report(body)).status_code == 201  # nothing of it was recorded

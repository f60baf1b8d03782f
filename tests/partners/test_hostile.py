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

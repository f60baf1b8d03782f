"""The OpenAPI document says what the validators enforce, and OPTIONS agrees with it (issue 11, item 10)."""

from __future__ import annotations

import re
from typing import Any

from tests.api import Api
from tests.ops.test_openapi_contract import DOCUMENT

SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]


def test_request_bodies_refuse_unknown_fields() -> None:
    for name in ("RegisterRequest", "UpdateMeRequest", "ProjectCreate", "LocationIn", "ClockAdvance"):
        assert SCHEMAS[name]["additionalProperties"] is False, name


def test_patch_fields_are_not_nullable_unless_null_means_none() -> None:
    me = SCHEMAS["UpdateMeRequest"]["properties"]
    assert me["display_name"]["type"] == "string" and "anyOf" not in me["display_name"]
    action = SCHEMAS["ActionTypeUpdate"]["properties"]
    assert "anyOf" not in action["name"]
    cap = action["daily_cap_g"]["anyOf"]
    assert {"type": "null"} in cap
    assert [branch for branch in cap if branch.get("type") == "integer"] == [
        {"type": "integer", "minimum": 1, "maximum": 1_000_000_000}
    ]


async def test_options_lists_every_method_of_the_path(api: Api) -> None:
    user = await api.register()
    response = await api.client.options("/v1/me", headers=user.headers)
    assert response.status_code == 204
    assert response.headers["allow"] == "DELETE, GET, OPTIONS, PATCH"
    documented = {method.upper() for method in DOCUMENT["paths"]["/v1/me"]}
    assert documented | {"OPTIONS"} == set(response.headers["allow"].split(", "))


async def test_a_handle_is_checked_before_it_is_lowercased(api: Api) -> None:
    """The Kelvin sign lowercases to "k": it must not slip through as an ASCII handle."""
    response = await api.client.post(
        "/v1/auth/register",
        json={"handle": "\u212aelvin", "password": "correct horse battery", "display_name": "K"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "urn:canopy:problem:validation"


def _body(path: str, method: str = "post", media_type: str = "application/json") -> dict[str, Any]:
    return DOCUMENT["paths"][path][method]["requestBody"]["content"][media_type]["schema"]


def test_the_patterns_the_validators_check_are_in_the_document() -> None:
    """Pydantic leaves a pattern checked after a BeforeValidator out of its schema; `matching` puts it in."""
    register = SCHEMAS["RegisterRequest"]["properties"]
    assert register["handle"]["pattern"] == "^[A-Za-z0-9_]{3,30}$"
    assert register["password"]["pattern"] == "^[^\\x00]*$"
    assert SCHEMAS["NgoCreate"]["properties"]["contact_email"]["pattern"].startswith("^[^@\\s\\x00")
    assert SCHEMAS["ActionTypeCreate"]["properties"]["code"]["pattern"] == "^[a-z][a-z0-9_]*$"
    assert SCHEMAS["PartnerCreate"]["properties"]["allowed_actions"]["items"]["pattern"] == "^[a-z0-9_]+$"
    assert SCHEMAS["SeasonIn"]["properties"]["start"]["pattern"].startswith("^(?:(?:0[1-9]|1[0-2])-")
    report = _body("/v1/partner/reports")
    assert report["properties"]["report_id"]["pattern"] == "^[A-Za-z0-9_.:-]+$"
    occurred_at = report["properties"]["occurred_at"]
    assert occurred_at == {"format": "date-time", "maxLength": 40, "minLength": 20, "type": "string"}


def test_a_month_day_pattern_is_exactly_the_calendar() -> None:
    """The pattern is the whole rule: 02-29 and 12-31 are days, 02-30 and 04-31 are not."""
    pattern = re.compile(SCHEMAS["SeasonIn"]["properties"]["start"]["pattern"])
    days = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    calendar = {f"{month:02d}-{day:02d}" for month in range(1, 13) for day in range(1, days[month - 1] + 1)}
    candidates = {f"{month:02d}-{day:02d}" for month in range(100) for day in range(100)}
    assert {value for value in candidates if pattern.fullmatch(value)} == calendar


def test_a_time_zone_is_a_named_format_not_an_enum() -> None:
    for name in ("RegisterRequest", "UpdateMeRequest"):
        timezone = SCHEMAS[name]["properties"]["timezone"]
        assert timezone["format"] == "iana-time-zone" and "enum" not in timezone, name


def test_the_day_and_the_cursor_are_described() -> None:
    (day,) = DOCUMENT["paths"]["/v1/me/steps/{day}"]["put"]["parameters"]
    assert day["schema"]["format"] == "date" and day["schema"]["pattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
    cursor = next(p for p in DOCUMENT["paths"]["/v1/me/ledger"]["get"]["parameters"] if p["name"] == "cursor")
    assert cursor["schema"]["pattern"] == "^[A-Za-z0-9_-]*$" and cursor["schema"]["maxLength"] == 200


def test_the_photo_upload_is_described_as_its_file_part() -> None:
    form = _body("/v1/ngo/photos", media_type="multipart/form-data")
    assert form["required"] == ["file"]
    assert form["properties"]["file"]["format"] == "binary"


def test_a_batch_does_not_promise_that_each_report_is_valid() -> None:
    """Each report of a batch is judged on its own (200 with its error), so an invalid one is no invalid batch."""
    reports = _body("/v1/partner/reports/batch")["properties"]["reports"]
    assert reports["type"] == "array" and "properties" not in reports["items"] and "type" not in reports["items"]
    one_user = _body("/v1/partner/reports")["oneOf"]
    assert [branch["required"] for branch in one_user] == [["green_code"], ["user_ref"]]

"""The OpenAPI document says what the validators enforce, and OPTIONS agrees with it (issue 11, item 10)."""

from __future__ import annotations

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

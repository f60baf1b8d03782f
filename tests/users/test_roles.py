"""SPEC 2: a valid credential on another role's route is refused for its role (403), while a
missing or bad one is 401."""

from __future__ import annotations

import pytest

from tests.api import Api
from tests.planting.helpers import create_ngo


@pytest.fixture
async def credentials(api: Api) -> dict[str, dict[str, str]]:
    user = await api.register()
    ngo = await create_ngo(api)
    return {
        "user": user.headers,
        "operator": api.operator,
        "ngo": {"Authorization": f"Bearer {ngo.created['api_key']}"},
        "bad": {"Authorization": "Bearer ngo_not-a-key"},
    }


ROUTES = {"user": "/v1/me", "operator": "/v1/admin/orders", "ngo": "/v1/ngo/orders"}
PROBLEMS = {"user": "user-only", "operator": "operator-only", "ngo": "ngo-only"}


@pytest.mark.parametrize("route_role", ["user", "operator", "ngo"])
async def test_each_route_refuses_the_other_roles_with_403_and_a_bad_key_with_401(
    api: Api, credentials: dict[str, dict[str, str]], route_role: str
) -> None:
    path = ROUTES[route_role]
    own = await api.client.get(path, headers=credentials[route_role])
    assert own.status_code == 200, own.text
    for other in ("user", "operator", "ngo"):
        if other == route_role:
            continue
        answer = await api.client.get(path, headers=credentials[other])
        assert answer.status_code == 403, (other, answer.text)
        assert answer.json()["type"].endswith(PROBLEMS[route_role])
    assert (await api.client.get(path, headers=credentials["bad"])).status_code == 401
    assert (await api.client.get(path)).status_code == 401

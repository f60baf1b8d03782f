"""The hostile inputs of STACK.md: each must get a 4xx problem, never a 500, and change nothing."""

from __future__ import annotations

import pytest

from tests.api import Api


def assert_problem(response, statuses=(400, 422)) -> None:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:canopy:problem:") and body["title"] and body["detail"]


async def test_deeply_nested_json_is_refused(api: Api) -> None:
    user = await api.register()
    today = (await api.today()).isoformat()
    deep = "[" * 100_000 + "]" * 100_000
    response = await api.client.put(
        f"/v1/me/steps/{today}", content=deep, headers={**user.headers, "content-type": "application/json"}
    )
    assert_problem(response)
    medium = '{"steps": ' + "[" * 1000 + "]" * 1000 + "}"
    response = await api.client.put(
        f"/v1/me/steps/{today}", content=medium, headers={**user.headers, "content-type": "application/json"}
    )
    assert_problem(response)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"steps": 100, "steps": 200}',
        b'{"steps": NaN}',
        b'{"steps": Infinity}',
        b'{"steps": 1e400}',
        b'{"steps": 100',
        b"\xff\xfe",
        b"[]",
        b'"steps"',
        b"null",
    ],
)
async def test_malformed_bodies_are_refused(api: Api, raw: bytes) -> None:
    user = await api.register()
    today = (await api.today()).isoformat()
    response = await api.client.put(
        f"/v1/me/steps/{today}", content=raw, headers={**user.headers, "content-type": "application/json"}
    )
    assert_problem(response)
    assert (await user.forest())["balls"] == []


@pytest.mark.parametrize("steps", [True, False, "10", 10.0, 1.5, 2**63, 2**64, -(2**63) - 1, [1], {"n": 1}])
async def test_wrong_types_and_huge_integers(api: Api, steps: object) -> None:
    user = await api.register()
    today = (await api.today()).isoformat()
    assert_problem(await user.put(f"/v1/me/steps/{today}", json={"steps": steps}))


async def test_nul_characters_and_huge_ids_in_paths(api: Api) -> None:
    user = await api.register()
    for path in (
        "/v1/me/balls/%00/collect",
        f"/v1/me/balls/{2**64}/collect",
        "/v1/me/trees/" + "9" * 40,
        "/v1/me/trees/" + "a" * 5000,
        "/v1/me/steps/%00",
    ):
        method = user.post if path.endswith("collect") else user.get
        response = await method(path)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:200])
        assert response.headers["content-type"].startswith("application/problem+json")
    response = await api.client.post(
        "/v1/auth/register", json={"handle": "nulname", "password": "pass\x00word123", "display_name": "x"}
    )
    assert_problem(response)


async def test_oversized_bodies_get_413(api: Api) -> None:
    response = await api.client.post(
        "/v1/auth/register",
        content=b'{"handle": "' + b"a" * (1024 * 1024 + 10) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert_problem(response, statuses=(413,))


async def test_bad_pagination_parameters(api: Api) -> None:
    user = await api.register()
    for params in (
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"limit": 2**70},
        {"cursor": "!!!"},
        {"cursor": "djI6eA"},
        {"limit": "1.5"},
    ):
        assert_problem(await user.get("/v1/me/ledger", params=params), statuses=(400,))


async def test_pagination_walks_every_item_once(api: Api) -> None:
    user = await api.register()
    for days in range(5):
        await user.walk(1_000 + days)
        await api.advance_to_next_morning()
        await user.collect_all()
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await user.get("/v1/me/ledger", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = (await user.get("/v1/me/ledger", params={"limit": 200})).json()["items"]
    assert seen == [item["id"] for item in everything] and len(seen) == len(set(seen)) == 15


async def test_a_cursor_with_a_character_outside_base64url_is_refused(api: Api) -> None:
    """The base64 decoder skips such characters: without the check, "!" inside a real cursor was read
    as the cursor around it (the document says a cursor is base64url)."""
    user = await api.register()
    for _ in range(2):
        await user.walk(1_000)
        await api.advance_to_next_morning()
        await user.collect_all()
    cursor = (await user.get("/v1/me/ledger", params={"limit": 1})).json()["next_cursor"]
    assert (await user.get("/v1/me/ledger", params={"limit": 1, "cursor": cursor})).status_code == 200
    for spoiled in (cursor[:4] + "!" + cursor[4:], cursor + ".", cursor + "=="):
        response = await user.get("/v1/me/ledger", params={"limit": 1, "cursor": spoiled})
        assert_problem(response, statuses=(400,))
        assert response.json()["type"] == "urn:canopy:problem:bad-cursor", spoiled


async def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    assert_problem(await api.client.get("/v1/nothing-here"), statuses=(404,))
    assert_problem(await api.client.delete("/v1/catalog/actions"), statuses=(405,))


async def test_operator_routes_need_the_operator(api: Api) -> None:
    user = await api.register()
    assert_problem(await api.client.get("/v1/admin/ledger/audit"), statuses=(401,))
    assert_problem(await user.get("/v1/admin/ledger/audit"), statuses=(403,))
    assert_problem(
        await api.client.get("/v1/admin/ledger/audit", headers={"Authorization": "Bearer wrong"}), statuses=(401,)
    )
    assert_problem(await user.post("/v1/admin/jobs/expire-balls/run"), statuses=(403,))
    assert_problem(await api.client.post("/v1/admin/jobs/nope/run", headers=api.operator), statuses=(404,))

"""Lone UTF-16 surrogates (`"\\ud800"` in JSON) in any string: a 400 where the body is decoded,
nothing changed, nothing logged as an error (they used to reach argon2, SQLite or asyncpg: a 500,
or a 503 "retry it" on PostgreSQL). Paths and queries cannot carry them: the ASGI server
percent-decodes with `errors="replace"`, so their bytes arrive as U+FFFD and are refused as any
other bad id."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.api import Api
from tests.ops.test_hostile_input import assert_problem
from tests.planting.helpers import create_ngo

LONE = "\ud800"


def raw_json(body: Any) -> bytes:
    """`json.dumps` escapes the surrogate as `\\ud800` (httpx's `json=` cannot encode it at all)."""
    return json.dumps(body).encode()


# (who, method, path, body): every listed field of issue 11, one request each
REQUESTS = [
    ("anyone", "POST", "/v1/auth/register", {"handle": "eve", "password": "pass" + LONE * 8, "display_name": "E"}),
    ("anyone", "POST", "/v1/auth/register", {"handle": "eve" + LONE, "password": "correct horse", "display_name": "E"}),
    ("anyone", "POST", "/v1/auth/login", {"handle": "{handle}", "password": "correct horse battery" + LONE}),
    ("anyone", "POST", "/v1/auth/login", {"handle": LONE, "password": "correct horse battery"}),
    ("anyone", "POST", "/v1/auth/refresh", {"refresh_token": "rt_" + LONE}),
    ("user", "PATCH", "/v1/me", {"display_name": "Eve " + LONE}),
    ("user", "POST", "/v1/me/trees", {"project_id": LONE, "species_id": "{species_id}"}),
    ("user", "POST", "/v1/me/trees", {"project_id": "{project_id}", "species_id": LONE + "x"}),
    ("user", "POST", "/v1/me/friends", {"handle": LONE}),
    ("user", "POST", "/v1/users/{handle}/water", {"amount_g": 10, LONE: 1}),
    ("operator", "POST", "/v1/admin/projects", {"ngo_id": LONE, "name": "Grove"}),
    ("operator", "POST", "/v1/admin/ngos", {"name": "Hands " + LONE, "contact_email": "a@example.org"}),
    ("operator", "POST", "/v1/admin/partners", {"name": "P", "kind": "transit", "allowed_actions": [LONE]}),
    (
        "ngo",
        "POST",
        "/v1/ngo/orders/{order_id}/plantings",
        {"plantings": [{"tree_id": LONE, "planted_at": "2026-11-23T08:00:00Z", "lat": 10, "lon": 20, "photo_id": "p"}]},
    ),
    ("ngo", "POST", "/v1/ngo/orders/{order_id}/rejections", {"rejections": [{"tree_id": "t", "reason": LONE}]}),
]


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names) if "{" in value else value
    if isinstance(value, dict):
        return {_fill(k, names): _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(item, names) for item in value]
    return value


@pytest.mark.parametrize(("who", "method", "path", "body"), REQUESTS)
async def test_lone_surrogates_in_bodies(
    api: Api, caplog: pytest.LogCaptureFixture, who: str, method: str, path: str, body: dict[str, Any]
) -> None:
    user = await api.register()
    ngo = await create_ngo(api)
    project = await api.project()
    names = {
        "handle": user.handle,
        "project_id": project["id"],
        "species_id": project["species"][0]["species_id"],
        "order_id": "00000000-0000-7000-8000-000000000000",
    }
    headers = {"user": user.headers, "operator": api.operator, "ngo": ngo.headers, "anyone": {}}[who]
    before = (await user.get("/v1/me")).json(), await user.forest()
    with caplog.at_level(logging.WARNING):
        response = await api.client.request(
            method,
            _fill(path, names),
            content=raw_json(_fill(body, names)),
            headers={**headers, "content-type": "application/json"},
        )
    assert_problem(response, statuses=(400,))
    assert response.json()["type"] == "urn:canopy:problem:malformed-json"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert ((await user.get("/v1/me")).json(), await user.forest()) == before
    login = await api.client.post("/v1/auth/login", json={"handle": user.handle, "password": "correct horse battery"})
    assert login.status_code == 200  # the failed attempts were not counted against the handle


async def test_paired_surrogates_are_one_character(api: Api) -> None:
    """`\\ud83c\\udf33` is the escape of one emoji: text like any other."""
    user = await api.register()
    response = await api.client.patch(
        "/v1/me",
        content=raw_json({"display_name": "Eve \U0001f333"}),
        headers={**user.headers, "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == "Eve \U0001f333"


@pytest.mark.parametrize(
    "target",
    [
        "/v1/me/trees/%ED%A0%80",
        "/v1/users/%ED%A0%80/forest",
        "/v1/users/%ED%A0%80%ED%B0%80/forest",
        "/v1/me/ledger?cursor=%ED%A0%80",
        "/v1/me/ledger?limit=%ED%A0%80",
        "/v1/me/trees?cursor=%ED%B0%80%00",
    ],
)
async def test_surrogate_bytes_in_paths_and_queries(api: Api, caplog: pytest.LogCaptureFixture, target: str) -> None:
    user = await api.register()
    with caplog.at_level(logging.WARNING):
        response = await user.get(target)
    assert_problem(response, statuses=(400, 404))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    response = await user.delete("/v1/me/friends/%ED%A0%80")
    assert_problem(response, statuses=(400, 404))

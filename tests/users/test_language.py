"""A user's language (SPEC 11.1): from the body or Accept-Language at registration, then PATCH /me."""

from __future__ import annotations

import pytest

from tests.api import Api

PASSWORD = "correct horse battery"


async def _register(api: Api, handle: str, headers: dict[str, str] | None = None, **fields: str) -> dict:
    body = {"handle": handle, "password": PASSWORD, "display_name": handle, **fields}
    response = await api.client.post("/v1/auth/register", json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [(None, "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"), ("fr-FR,en;q=0.5", "en"), ("de, zh-SG;q=0.3", "zh-Hans")],
)
async def test_registration_takes_the_language_from_accept_language(
    api: Api, accept_language: str | None, language: str
) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    body = await _register(api, "lang_header", headers)
    assert body["user"]["language"] == language
    me = await api.client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["language"] == language


async def test_the_body_wins_over_the_header(api: Api) -> None:
    body = await _register(api, "lang_body", {"Accept-Language": "en"}, language="zh-Hans")
    assert body["user"]["language"] == "zh-Hans"


async def test_patch_me_changes_the_language_and_refuses_others(api: Api) -> None:
    user = await api.register("lang_patch")
    assert user.tokens["user"]["language"] == "en"
    response = await user.patch("/v1/me", json={"language": "zh-Hans"})
    assert response.status_code == 200, response.text
    assert response.json()["language"] == "zh-Hans"
    assert (await user.get("/v1/me")).json()["language"] == "zh-Hans"

    for bad in ("fr", "zh-hans", "", 1, None):
        refused = await user.patch("/v1/me", json={"language": bad})
        assert refused.status_code in (400, 422), (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await user.get("/v1/me")).json()["language"] == "zh-Hans"


async def test_registration_refuses_an_unknown_language(api: Api) -> None:
    response = await api.client.post(
        "/v1/auth/register",
        json={"handle": "lang_bad", "password": PASSWORD, "display_name": "x", "language": "klingon"},
    )
    assert response.status_code in (400, 422)
    login = await api.client.post("/v1/auth/login", json={"handle": "lang_bad", "password": PASSWORD})
    assert login.status_code == 401

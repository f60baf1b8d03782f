"""Password change, the list of sessions, and ending them (SPEC 11.1)."""

from __future__ import annotations

import pytest

from tests.accounts.helpers import PASSWORD, login, refreshes, works
from tests.api import Api

NEW_PASSWORD = "another long passphrase"


async def change(api: Api, access_token: str, current: str, new: str = NEW_PASSWORD) -> int:
    response = await api.client.post(
        "/v1/me/password",
        json={"current_password": current, "new_password": new},
        headers={"Authorization": f"Bearer {access_token}"},
    )
    if response.status_code == 403:
        assert response.json()["type"] == "urn:canopy:problem:wrong-password"
    return response.status_code


async def test_a_password_change_ends_every_session(api: Api) -> None:
    user = await api.register("poplar")
    phone = await login(api, "poplar", user_agent="phone")
    assert await change(api, user.tokens["access_token"], "not the password") == 403
    assert await works(api, user.tokens["access_token"])  # a refused change changes nothing

    assert await change(api, user.tokens["access_token"], PASSWORD) == 204
    for tokens in (user.tokens, phone):
        assert not await works(api, tokens["access_token"])
        assert not await refreshes(api, tokens["refresh_token"])
    assert (await api.client.post("/v1/auth/login", json={"handle": "poplar", "password": PASSWORD})).status_code == 401
    fresh = await login(api, "poplar", NEW_PASSWORD)
    assert await works(api, fresh["access_token"])


@pytest.mark.settings(login_fail_limit_per_handle=3)
async def test_a_wrong_current_password_counts_as_a_failed_login(api: Api) -> None:
    user = await api.register("willow")
    assert await change(api, user.tokens["access_token"], "wrong one") == 403
    assert await change(api, user.tokens["access_token"], "wrong two") == 403
    bad_login = await api.client.post("/v1/auth/login", json={"handle": "willow", "password": "wrong three"})
    assert bad_login.status_code == 401
    # Three failures for the handle: logins and changes alike are refused until the window ends.
    blocked = await api.client.post("/v1/auth/login", json={"handle": "willow", "password": PASSWORD})
    assert blocked.status_code == 429
    assert await change(api, user.tokens["access_token"], PASSWORD) == 429


async def test_new_password_is_validated(api: Api) -> None:
    user = await api.register("aspen")
    response = await user.post("/v1/me/password", json={"current_password": PASSWORD, "new_password": "short"})
    assert response.status_code == 400 and response.json()["type"] == "urn:canopy:problem:validation"
    unknown = await user.post("/v1/me/password", json={"current_password": PASSWORD, "password": NEW_PASSWORD})
    assert unknown.status_code == 400
    assert await works(api, user.tokens["access_token"])


async def test_sessions_are_listed_and_ended_one_by_one(api: Api) -> None:
    user = await api.register("maple")
    laptop = await login(api, "maple", user_agent="Laptop browser")
    phone = await login(api, "maple", user_agent="Phone app\x00\x1b[31m")

    listing = await api.client.get("/v1/me/sessions", headers={"Authorization": f"Bearer {laptop['access_token']}"})
    assert listing.status_code == 200, listing.text
    sessions = listing.json()["items"]
    assert len(sessions) == 3 and listing.json()["next_cursor"] is None
    assert [s["current"] for s in sessions] == [False, True, False]  # newest first: phone, laptop, register
    assert sessions[0]["user_agent"] == "Phone app[31m" and sessions[1]["user_agent"] == "Laptop browser"
    assert set(sessions[0]) == {"id", "created_at", "last_used_at", "user_agent", "current"}
    phone_id = sessions[0]["id"]

    # A refresh keeps the session (its id), with a new token and a new last use.
    rotated = await api.client.post("/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    assert rotated.status_code == 200
    after = (await user.get("/v1/me/sessions")).json()["items"]
    assert [s["id"] for s in after] == [s["id"] for s in sessions]
    assert after[0]["last_used_at"] >= sessions[0]["last_used_at"]
    assert [s["current"] for s in after] == [False, False, True]

    assert (await user.delete(f"/v1/me/sessions/{phone_id}")).status_code == 204
    assert (await user.delete(f"/v1/me/sessions/{phone_id}")).status_code == 204  # already ended: the same
    assert not await refreshes(api, rotated.json()["refresh_token"])
    assert await refreshes(api, laptop["refresh_token"])
    assert len((await user.get("/v1/me/sessions")).json()["items"]) == 2

    stranger = await api.register("stranger")
    theirs = (await stranger.get("/v1/me/sessions")).json()["items"][0]["id"]
    assert (await user.delete(f"/v1/me/sessions/{theirs}")).status_code == 404
    assert (await user.delete("/v1/me/sessions/no-such-session")).status_code == 404
    assert (await user.delete("/v1/me/sessions/" + "x" * 65)).status_code == 400
    assert (await stranger.get("/v1/me/sessions")).json()["items"][0]["id"] == theirs


async def test_sessions_page_with_a_cursor(api: Api) -> None:
    user = await api.register("linden")
    for _ in range(3):
        await login(api, "linden")
    first = (await user.get("/v1/me/sessions", params={"limit": 2})).json()
    second = (await user.get("/v1/me/sessions", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert len(first["items"]) == 2 and len(second["items"]) == 2 and second["next_cursor"] is None
    assert (await user.get("/v1/me/sessions", params={"limit": 0})).status_code == 400


async def test_logout_all_ends_every_session_at_once(api: Api) -> None:
    user = await api.register("spruce")
    other = await login(api, "spruce")
    bystander = await api.register("bystander")
    response = await api.client.post(
        "/v1/auth/logout-all", headers={"Authorization": f"Bearer {other['access_token']}"}
    )
    assert response.status_code == 204
    for tokens in (user.tokens, other):
        assert not await works(api, tokens["access_token"])
        assert not await refreshes(api, tokens["refresh_token"])
    assert await works(api, bystander.tokens["access_token"])
    again = await login(api, "spruce")
    assert await works(api, again["access_token"])
    assert (
        len(
            (
                await api.client.get("/v1/me/sessions", headers={"Authorization": f"Bearer {again['access_token']}"})
            ).json()["items"]
        )
        == 1
    )
    assert (await api.client.post("/v1/auth/logout-all")).status_code == 401


async def test_deleting_the_account_ends_every_session(api: Api) -> None:
    user = await api.register("yew")
    other = await login(api, "yew")
    assert (await user.delete("/v1/me")).status_code == 204
    for tokens in (user.tokens, other):
        assert not await works(api, tokens["access_token"])
        assert not await refreshes(api, tokens["refresh_token"])

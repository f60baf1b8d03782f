"""Register, login, refresh, logout, /me (SPEC 2)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from statistics import median

import pytest

from tests.api import Api

PASSWORD = "correct horse battery"


async def test_register_returns_user_and_tokens(api: Api) -> None:
    response = await api.client.post(
        "/v1/auth/register",
        json={"handle": "Green_Leaf", "password": PASSWORD, "display_name": "Leaf", "timezone": "Europe/Paris"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["access_token"] and body["refresh_token"]
    user = body["user"]
    assert user["handle"] == "green_leaf" and user["timezone"] == "Europe/Paris" and user["allow_steal"] is True
    assert set(user) >= {"id", "handle", "display_name", "timezone", "allow_steal", "created_at"}
    assert "password_hash" not in response.text and "password" not in user

    me = await api.client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == user["id"]


async def test_handles_are_unique_case_insensitively(api: Api) -> None:
    await api.register("River")
    response = await api.client.post(
        "/v1/auth/register", json={"handle": "RIVER", "password": PASSWORD, "display_name": "Other"}
    )
    assert response.status_code == 409
    assert response.json()["type"].endswith(":handle-taken")


async def test_registration_validation(api: Api) -> None:
    bad_bodies = [
        {"handle": "ab", "password": PASSWORD, "display_name": "x"},
        {"handle": "has space", "password": PASSWORD, "display_name": "x"},
        {"handle": "a" * 31, "password": PASSWORD, "display_name": "x"},
        {"handle": "okname", "password": "short", "display_name": "x"},
        {"handle": "okname", "password": "p" * 129, "display_name": "x"},
        {"handle": "okname", "password": PASSWORD, "display_name": ""},
        {"handle": "okname", "password": PASSWORD, "display_name": "x" * 61},
        {"handle": "okname", "password": PASSWORD, "display_name": "bell\x07"},
        {"handle": "okname", "password": PASSWORD, "display_name": "nul\x00"},
        {"handle": "okname", "password": PASSWORD, "display_name": "x", "timezone": "Mars/Olympus"},
        {"handle": "okname", "password": PASSWORD, "display_name": "x", "is_admin": True},
        {"handle": 12345, "password": PASSWORD, "display_name": "x"},
    ]
    for body in bad_bodies:
        response = await api.client.post("/v1/auth/register", json=body)
        assert response.status_code in (400, 422), (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    ok = await api.client.post(
        "/v1/auth/register", json={"handle": "okname", "password": PASSWORD, "display_name": "x"}
    )
    assert ok.status_code == 201


async def test_login_failures_look_the_same(api: Api) -> None:
    await api.register("maple")
    wrong = await api.client.post("/v1/auth/login", json={"handle": "maple", "password": "wrong password!"})
    unknown = await api.client.post("/v1/auth/login", json={"handle": "nobody_here", "password": "wrong password!"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    good = await api.client.post("/v1/auth/login", json={"handle": "MAPLE", "password": PASSWORD})
    assert good.status_code == 200 and good.json()["token_type"] == "Bearer"


@pytest.mark.settings(
    argon2_time_cost=2, argon2_memory_kib=16384, login_fail_limit_per_handle=100, login_fail_limit_per_address=100
)
async def test_an_unknown_handle_takes_as_long_as_a_wrong_password(api: Api) -> None:
    """With real hashing costs, the two failures must not tell an account's existence apart."""
    await api.register("larch")
    wrong: list[float] = []
    unknown: list[float] = []
    for attempt in range(9):
        for handle, times in (("larch", wrong), (f"nobody_{attempt}", unknown)):
            started = time.perf_counter()
            response = await api.client.post("/v1/auth/login", json={"handle": handle, "password": "wrong password!"})
            times.append(time.perf_counter() - started)
            assert response.status_code == 401
    ratio = median(unknown) / median(wrong)
    assert 0.5 < ratio < 2.0, f"unknown handle {median(unknown):.4f} s, wrong password {median(wrong):.4f} s"


async def test_login_is_throttled_per_handle_after_ten_failures(api: Api) -> None:
    await api.register("oak")
    for _ in range(10):
        response = await api.client.post("/v1/auth/login", json={"handle": "oak", "password": "not the password"})
        assert response.status_code == 401
    blocked = await api.client.post("/v1/auth/login", json={"handle": "oak", "password": PASSWORD})
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 900
    assert blocked.headers["content-type"].startswith("application/problem+json")
    # Another handle is not affected; successes do not count.
    await api.register("pine")
    for _ in range(12):
        assert (
            await api.client.post("/v1/auth/login", json={"handle": "pine", "password": PASSWORD})
        ).status_code == 200


async def test_refresh_rotates_and_logout_revokes(api: Api) -> None:
    user = await api.register()
    old = user.tokens["refresh_token"]
    first = await api.client.post("/v1/auth/refresh", json={"refresh_token": old})
    assert first.status_code == 200
    replay = await api.client.post("/v1/auth/refresh", json={"refresh_token": old})
    assert replay.status_code == 401

    new = first.json()["refresh_token"]
    assert (await api.client.post("/v1/auth/logout", json={"refresh_token": new})).status_code == 204
    assert (await api.client.post("/v1/auth/refresh", json={"refresh_token": new})).status_code == 401


async def test_parallel_refreshes_of_one_token_issue_one_pair(api: Api) -> None:
    user = await api.register()
    token = user.tokens["refresh_token"]
    responses = await asyncio.gather(
        *(api.client.post("/v1/auth/refresh", json={"refresh_token": token}) for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [200] + [401] * 9


async def test_bad_credentials_get_401(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = await api.client.get("/v1/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_patch_me(api: Api) -> None:
    user = await api.register()
    response = await user.patch("/v1/me", json={"display_name": "New Name", "allow_steal": False})
    assert response.status_code == 200
    assert response.json()["display_name"] == "New Name" and response.json()["allow_steal"] is False
    for body in ({"allow_steal": "no"}, {"allow_steal": 0}, {"display_name": None}, {"handle": "x"}):
        assert (await user.patch("/v1/me", json=body)).status_code == 400, body


async def test_timezone_change_waits_for_local_midnight_and_seven_days(api: Api) -> None:
    user = await api.register()
    response = await user.patch("/v1/me", json={"timezone": "Asia/Tokyo"})
    assert response.status_code == 200
    body = response.json()
    assert body["timezone"] == "UTC" and body["pending_timezone"] == "Asia/Tokyo"
    tomorrow = (await api.now()).date() + timedelta(days=1)  # the next midnight in the user's zone, UTC
    assert body["pending_timezone_at"] == f"{tomorrow.isoformat()}T00:00:00Z"

    too_soon = await user.patch("/v1/me", json={"timezone": "Europe/Paris"})
    assert too_soon.status_code == 409
    assert too_soon.json()["type"].endswith(":timezone-change-too-soon")

    await api.advance(86400)
    assert (await user.get("/v1/me")).json()["timezone"] == "Asia/Tokyo"
    await api.advance(7 * 86400)
    assert (await user.patch("/v1/me", json={"timezone": "Europe/Paris"})).status_code == 200


async def test_delete_me_anonymises_and_frees_the_handle(api: Api) -> None:
    user = await api.register("willow")
    await user.walk(5_000)
    await api.advance_to_next_morning()
    await user.collect_all()
    assert (await user.delete("/v1/me")).status_code == 204
    assert (await user.get("/v1/me")).status_code == 401
    assert (
        await api.client.post("/v1/auth/refresh", json={"refresh_token": user.tokens["refresh_token"]})
    ).status_code == 401
    login = await api.client.post("/v1/auth/login", json={"handle": "willow", "password": PASSWORD})
    assert login.status_code == 401
    again = await api.register("willow")
    assert again.id != user.id
    audit = await api.audit()
    assert audit["in_balances_g"] == 100  # the deleted account's ledger stays


async def test_login_is_throttled_per_address(settings, database_url) -> None:
    from litestar.testing import AsyncTestClient

    from server.app import create_app

    strict = settings.model_copy(update={"login_fail_limit_per_address": 3})
    async with AsyncTestClient(create_app(strict), base_url="http://canopy.test") as client:
        for handle in ("first_h", "second_h", "third_h"):
            response = await client.post("/v1/auth/login", json={"handle": handle, "password": "wrong password"})
            assert response.status_code == 401
        blocked = await client.post("/v1/auth/login", json={"handle": "fourth_h", "password": "wrong password"})
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0

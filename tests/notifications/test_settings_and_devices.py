"""`/me/notification-settings` and `/me/devices` (SPEC 11.2)."""

from __future__ import annotations

import pytest

from tests.api import Api
from tests.social.helpers import problem

EVENTS = [
    "ball.ripe",
    "ball.expiring",
    "ball.stolen",
    "friend.watered",
    "friend.requested",
    "tree.planted",
    "tree.rejected",
    "tree.refunded",
    "shield.earned",
]


async def test_defaults_then_a_full_replacement(api: Api) -> None:
    user = await api.register()
    defaults = (await user.get("/v1/me/notification-settings")).json()
    assert defaults == {"push": True, "email": True, "events": dict.fromkeys(EVENTS, True), "quiet_hours": None}

    body = {
        "push": True,
        "email": False,
        "events": {"ball.stolen": False, "friend.watered": True},
        "quiet_hours": {"start": "22:30", "end": "07:00"},
    }
    put = await user.put("/v1/me/notification-settings", json=body)
    assert put.status_code == 200, put.text
    stored = (await user.get("/v1/me/notification-settings")).json()
    assert stored == put.json()
    assert stored["email"] is False and stored["quiet_hours"] == {"start": "22:30", "end": "07:00"}
    assert stored["events"] == dict.fromkeys(EVENTS, True) | {"ball.stolen": False}

    again = await user.put("/v1/me/notification-settings", json={"push": False, "email": True})
    assert again.json() == {"push": False, "email": True, "events": dict.fromkeys(EVENTS, True), "quiet_hours": None}
    other = await api.register()
    assert (await other.get("/v1/me/notification-settings")).json() == defaults  # each sees only their own


@pytest.mark.parametrize(
    "body",
    [
        {"push": True, "email": True, "quiet_hours": {"start": "24:00", "end": "07:00"}},
        {"push": True, "email": True, "quiet_hours": {"start": "7:00", "end": "08:00"}},
        {"push": True, "email": True, "quiet_hours": {"start": "22:00"}},
        {"push": True, "email": True, "events": {"ball.ripe": "no"}},
        {"push": 1, "email": True},
        {"push": True},
        {"push": True, "email": True, "sms": True},
    ],
)
async def test_bad_settings_are_refused_and_change_nothing(api: Api, body: dict) -> None:
    user = await api.register()
    response = await user.put("/v1/me/notification-settings", json=body)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await user.get("/v1/me/notification-settings")).json()["quiet_hours"] is None


async def test_quiet_hours_must_not_be_empty(api: Api) -> None:
    user = await api.register()
    body = {"push": True, "email": True, "quiet_hours": {"start": "22:00", "end": "22:00"}}
    response = await user.put("/v1/me/notification-settings", json=body)
    assert response.status_code == 422 and problem(response) == "empty-quiet-hours"


async def test_unknown_event_types_are_refused(api: Api) -> None:
    user = await api.register()
    body = {"push": True, "email": True, "events": {"ball.ripe": False, "ball.rotten": False}}
    response = await user.put("/v1/me/notification-settings", json=body)
    assert response.status_code == 422 and problem(response) == "unknown-event-type"
    assert (await user.get("/v1/me/notification-settings")).json()["events"]["ball.ripe"] is True


async def test_devices_register_once_list_replace_and_delete(api: Api) -> None:
    user = await api.register()
    first = await user.post("/v1/me/devices", json={"platform": "ios", "token": "tok-0", "app_version": "1.2"})
    assert first.status_code == 201, first.text
    device = first.json()
    assert device["platform"] == "ios" and device["app_version"] == "1.2" and "token" not in device
    ids = {"tok-0": device["id"]}
    again = await user.post("/v1/me/devices", json={"platform": "ios", "token": "tok-0", "app_version": "1.3"})
    assert again.status_code == 200 and again.json()["id"] == device["id"] and again.json()["app_version"] == "1.3"

    for n in range(1, 10):
        await api.advance(1)
        created = await user.post("/v1/me/devices", json={"platform": "android", "token": f"tok-{n}"})
        assert created.status_code == 201
        ids[f"tok-{n}"] = created.json()["id"]
    await api.advance(1)
    assert (await user.post("/v1/me/devices", json={"platform": "ios", "token": "tok-0"})).status_code == 200
    listed = (await user.get("/v1/me/devices")).json()["items"]
    assert len(listed) == 10 and listed[0]["id"] == ids["tok-0"]  # seen most recently

    await api.advance(1)
    eleventh = await user.post("/v1/me/devices", json={"platform": "web", "token": "tok-10"})
    assert eleventh.status_code == 201
    listed_ids = {d["id"] for d in (await user.get("/v1/me/devices")).json()["items"]}
    assert len(listed_ids) == 10 and ids["tok-1"] not in listed_ids
    assert {ids["tok-0"], eleventh.json()["id"]} <= listed_ids

    stranger = await api.register()
    assert (await stranger.delete(f"/v1/me/devices/{device['id']}")).status_code == 404
    assert (await user.delete(f"/v1/me/devices/{device['id']}")).status_code == 204
    gone = await user.delete(f"/v1/me/devices/{device['id']}")
    assert gone.status_code == 404 and problem(gone) == "device-not-found"
    assert len((await user.get("/v1/me/devices")).json()["items"]) == 9


async def test_a_token_moves_to_the_user_who_registers_it_last(api: Api) -> None:
    first, second = await api.register(), await api.register()
    assert (await first.post("/v1/me/devices", json={"platform": "ios", "token": "shared"})).status_code == 201
    moved = await second.post("/v1/me/devices", json={"platform": "ios", "token": "shared"})
    assert moved.status_code == 201
    assert (await first.get("/v1/me/devices")).json()["items"] == []
    assert [d["id"] for d in (await second.get("/v1/me/devices")).json()["items"]] == [moved.json()["id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"platform": "symbian", "token": "t"},
        {"platform": "ios", "token": ""},
        {"platform": "ios", "token": "x" * 4097},
        {"platform": "ios", "token": "a\u0000b"},
        {"platform": "ios", "token": 5},
        {"platform": "ios"},
    ],
)
async def test_bad_devices_are_refused(api: Api, body: dict) -> None:
    user = await api.register()
    assert (await user.post("/v1/me/devices", json=body)).status_code in (400, 422)
    assert (await user.get("/v1/me/devices")).json()["items"] == []


async def test_deleting_the_account_forgets_its_devices(api: Api) -> None:
    user = await api.register()
    assert (await user.post("/v1/me/devices", json={"platform": "ios", "token": "apns-gone"})).status_code == 201
    assert (await user.delete("/v1/me")).status_code == 204
    again = await api.register()
    response = await again.post("/v1/me/devices", json={"platform": "ios", "token": "apns-gone"})
    assert response.status_code == 201, response.text  # a new device: the old row went with the account

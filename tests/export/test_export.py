"""GET /me/export (SPEC 14): everything Canopy holds about the user, and nothing of anyone else's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from server.db import Database
from server.ledger.models import Ball
from tests.api import Api, User
from tests.certificates.test_certificates import planted_through_the_ngo_api
from tests.notifications.helpers import with_device
from tests.partners.helpers import green_code
from tests.planting.helpers import create_ngo
from tests.social.helpers import befriend

LISTS = (
    "balls",
    "ledger_entries",
    "actions",
    "steps",
    "trees",
    "certificates",
    "friends",
    "friend_requests",
    "feed",
    "devices",
    "notifications",
    "sessions",
    "mailed_links",
    "partner_links",
)


async def export(user: User) -> tuple[dict[str, Any], str]:
    response = await user.get("/v1/me/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return json.loads(response.text), response.text


async def every(user: User, path: str, key: str = "id") -> list[str]:
    """Every item's `key` of one of the user's API lists, through its pages."""
    found, cursor = [], None
    while True:
        response = await user.get(path, params={"limit": 200, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        found += [item[key] for item in response.json()["items"]]
        if not (cursor := response.json()["next_cursor"]):
            return found


async def ball_ids(api: Api, user_id: str) -> set[str]:
    database = Database(api.settings.database_url)
    try:
        async with database.read_sessions() as session:
            return set((await session.execute(select(col(Ball.id)).where(col(Ball.user_id) == user_id))).scalars())
    finally:
        await database.dispose()


async def active_pair(api: Api) -> tuple[User, User]:
    """Ada has planted a tree (certificate), walked, collected, a friend, a device and a request out;
    Bob, her friend, has activity of his own."""
    _, ada, _ = await planted_through_the_ngo_api(api)
    bob, carol = await api.register(display_name="Bob"), await api.register(display_name="Carol")
    await befriend(ada, bob)
    assert (await ada.post("/v1/me/friends", json={"handle": carol.handle})).status_code == 201
    await ada.walk(5_000)
    await bob.walk(7_000)
    await api.advance_to_next_morning()
    await ada.collect_all()
    await bob.collect_all()
    await with_device(ada, "apns-ada-device-secret")
    await with_device(bob, "apns-bob-device-secret")
    return ada, bob


@pytest.mark.settings(order_min_trees=1)
async def test_an_active_user_exports_each_section_with_exactly_their_rows(api: Api) -> None:
    ada, bob = await active_pair(api)
    document, _ = await export(ada)
    me = (await ada.get("/v1/me")).json()

    assert document["profile"]["id"] == me["id"] and document["profile"]["handle"] == ada.handle
    assert document["email"] == {"address": None, "verified": False, "verified_address": None}
    assert document["balance"]["balance_g"] == await ada.balance()
    assert document["notification_settings"] == (await ada.get("/v1/me/notification-settings")).json()
    assert set(LISTS) <= set(document)

    def ids(section: str, key: str = "id") -> list[str]:
        return [row[key] for row in document[section]]

    assert ids("ledger_entries") == sorted(await every(ada, "/v1/me/ledger"))
    assert ids("actions") == sorted(await every(ada, "/v1/me/actions"))
    assert ids("feed") == sorted(await every(ada, "/v1/me/feed"))
    assert set(ids("trees")) == set(await every(ada, "/v1/me/trees")) and len(ids("trees")) == 1
    assert set(ids("balls")) == await ball_ids(api, me["id"]) and document["balls"]
    assert ids("certificates", "number") == [document["trees"][0]["certificate_number"]]
    assert ids("devices") == await every(ada, "/v1/me/devices")
    assert ids("friends", "handle") == [bob.handle]
    assert [(r["from"]["handle"], r["status"]) for r in document["friend_requests"]] == [
        (ada.handle, "accepted"),
        (ada.handle, "pending"),
    ]
    assert ids("sessions") == await every(ada, "/v1/me/sessions")
    assert {day["steps"] for day in document["steps"]} >= {5_000}


@pytest.mark.settings(order_min_trees=1)
async def test_another_users_rows_and_every_secret_stay_out(api: Api) -> None:
    ada, bob = await active_pair(api)
    code = await green_code(ada)
    _, body = await export(ada)
    bob_id = (await bob.get("/v1/me")).json()["id"]
    theirs = [bob_id, "apns-bob-device-secret", *await every(bob, "/v1/me/ledger"), *await every(bob, "/v1/me/actions")]
    theirs += await ball_ids(api, bob_id)
    assert not [value for value in theirs if value in body]
    secrets = [ada.tokens["access_token"], ada.tokens["refresh_token"], "apns-ada-device-secret", code]
    assert not [value for value in secrets if value in body]
    lowered = body.lower()
    assert "password" not in lowered and "hash" not in lowered and "token" not in lowered


@pytest.mark.settings(export_page_rows=2)
async def test_lists_longer_than_a_page_arrive_whole(api: Api) -> None:
    user, friends = await api.register(), [await api.register() for _ in range(5)]
    for friend in friends:
        await befriend(user, friend)
    for n in range(3):
        await with_device(user, f"device-{n}")
    document, _ = await export(user)
    assert [row["handle"] for row in document["friends"]] == [friend.handle for friend in friends]
    assert len(document["friend_requests"]) == 5 and len(document["devices"]) == 3
    assert [row["id"] for row in document["feed"]] == sorted(await every(user, "/v1/me/feed"))


async def test_only_a_users_own_access_token_exports(api: Api) -> None:
    assert (await api.client.get("/v1/me/export")).status_code == 401
    bad = await api.client.get("/v1/me/export", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and bad.headers["content-type"].startswith("application/problem+json")
    operator = await api.client.get("/v1/me/export", headers=api.operator)
    assert operator.status_code == 403 and operator.json()["type"].endswith("user-only")
    ngo = await create_ngo(api)
    as_ngo = await api.client.get("/v1/me/export", headers={"Authorization": f"Bearer {ngo.created['api_key']}"})
    assert as_ngo.status_code == 403

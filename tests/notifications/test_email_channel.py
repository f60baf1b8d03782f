"""A tree planted for real is also mailed to a verified address (SPEC 11.2: email only for
`tree.planted` by default), in the user's language, unless the user turned email off. Mail here is
the development outbox (no SMTP server), read back through `GET /v1/admin/emails`."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.api import Api, User
from tests.notifications.helpers import send
from tests.planting.helpers import create_ngo, create_project, funded_user, iso, queue_trees


async def _emails(api: Api, to: str) -> list[dict[str, Any]]:
    response = await api.client.get("/v1/admin/emails", headers=api.operator, params={"limit": 200})
    assert response.status_code == 200, response.text
    return [mail for mail in response.json()["items"] if mail["to"] == to]


async def _verify(api: Api, user: User, address: str) -> None:
    assert (await user.put("/v1/me/email", json={"email": address})).status_code == 202
    await api.run_job("send-email")
    [mail] = await _emails(api, address)
    token = re.search(r"verify-email\?token=([A-Za-z0-9_-]+)", mail["text"])
    assert token, mail["text"]
    assert (await api.client.post("/v1/auth/verify-email", json={"token": token.group(1)})).status_code == 204


async def _plant_one(api: Api, user: User) -> str:
    ngo = await create_ngo(api)
    project = await create_project(api, ngo)
    [tree_id] = await queue_trees(user, project, 1)
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == 1
    [order] = await ngo.orders()
    planting = {"tree_id": tree_id, "planted_at": iso(await api.now()), "lat": 10.0, "lon": 20.0}
    response = await ngo.post(
        f"/v1/ngo/orders/{order['id']}/plantings", json={"plantings": [planting | {"photo_id": await ngo.photo(3)}]}
    )
    assert response.json()["results"][0]["status"] == "planted", response.text
    return tree_id


@pytest.mark.settings(order_min_trees=1)
async def test_a_planted_tree_is_mailed_in_the_users_language(api: Api) -> None:
    user = await funded_user(api)
    assert (await user.patch("/v1/me", json={"language": "zh-Hans"})).status_code == 200
    await _verify(api, user, "planter@example.org")
    tree_id = await _plant_one(api, user)

    counts = await send(api)
    assert counts["mailed"] == 1, counts
    mails = [m for m in await _emails(api, "planter@example.org") if m["kind"] == "notification"]
    assert len(mails) == 1, mails
    number = (await user.get(f"/v1/me/trees/{tree_id}")).json()["certificate_number"]
    url = f"{api.settings.public_base_url.rstrip('/')}/c/{number}"
    assert url in mails[0]["text"] and url in mails[0]["html"]
    assert mails[0]["language"] == "zh-Hans" and "您好" in mails[0]["text"] and "打开此链接" in mails[0]["text"]
    assert (await send(api))["mailed"] == 0  # released once, mailed once


@pytest.mark.settings(order_min_trees=1)
async def test_no_mail_when_email_is_off_or_the_address_unverified(api: Api) -> None:
    off = await funded_user(api)
    await _verify(api, off, "quiet@example.org")
    settings = (await off.get("/v1/me/notification-settings")).json()
    assert (await off.put("/v1/me/notification-settings", json=settings | {"email": False})).status_code == 200
    await _plant_one(api, off)
    counts = await send(api)
    assert counts["mailed"] == 0, counts
    assert [m for m in await _emails(api, "quiet@example.org") if m["kind"] == "notification"] == []

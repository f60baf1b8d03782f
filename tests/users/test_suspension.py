"""An operator suspends a user with a reason, and unsuspends (SPEC 12.4): sessions end, every
credential gets 403 `account-suspended` (sign-in included), partner reports naming them get 422
`user-suspended`, and their balls can't be stolen."""

from __future__ import annotations

from typing import Any

from tests.api import Api, User
from tests.partners.helpers import green_code, make_partner, report_body
from tests.social.helpers import befriend, ripe_ball, steal

PASSWORD = "correct horse battery"


async def _suspend(api: Api, user: User, reason: str = "abuse") -> dict[str, Any]:
    response = await api.client.post(
        f"/v1/admin/users/{user.id}/suspend", json={"reason": reason}, headers=api.operator
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_find_suspend_and_unsuspend(api: Api) -> None:
    user = await api.register("Suspect")
    found = await api.client.get("/v1/admin/users", params={"handle": "SUSPECT"}, headers=api.operator)
    assert found.status_code == 200 and found.json()["id"] == user.id and found.json()["suspended"] is False

    body = await _suspend(api, user, "spam reports")
    assert body["suspended"] is True and body["suspension_reason"] == "spam reports"
    assert (await _suspend(api, user, "again"))["suspension_reason"] == "spam reports"  # a retry changes nothing

    me = await user.get("/v1/me")
    assert me.status_code == 403 and me.json()["type"].endswith(":account-suspended")
    login = await api.client.post("/v1/auth/login", json={"handle": "suspect", "password": PASSWORD})
    assert login.status_code == 403 and login.json()["type"].endswith(":account-suspended")
    wrong = await api.client.post("/v1/auth/login", json={"handle": "suspect", "password": "not the password"})
    assert wrong.status_code == 401  # the suspension is told only to whoever knows the password
    refresh = await api.client.post("/v1/auth/refresh", json={"refresh_token": user.tokens["refresh_token"]})
    assert refresh.status_code == 401  # its sessions ended

    back = await api.client.post(f"/v1/admin/users/{user.id}/unsuspend", headers=api.operator)
    assert back.status_code == 200 and back.json()["suspended"] is False and back.json()["suspension_reason"] is None
    assert (await user.get("/v1/me")).status_code == 401  # tokens from before the suspension stay dead
    login = await api.client.post("/v1/auth/login", json={"handle": "suspect", "password": PASSWORD})
    assert login.status_code == 200, login.text


async def test_unknown_users_and_bad_input(api: Api) -> None:
    unknown = await api.client.get("/v1/admin/users", params={"handle": "nobody"}, headers=api.operator)
    assert unknown.status_code == 404 and unknown.json()["type"].endswith(":user-not-found")
    missing = await api.client.post("/v1/admin/users/nope/suspend", json={"reason": "x"}, headers=api.operator)
    assert missing.status_code == 404
    user = await api.register()
    for bad in ({}, {"reason": ""}, {"reason": "x" * 501}, {"reason": 5}):
        response = await api.client.post(f"/v1/admin/users/{user.id}/suspend", json=bad, headers=api.operator)
        assert response.status_code in (400, 422), (bad, response.text)
    lone_surrogate = await api.client.post(
        f"/v1/admin/users/{user.id}/suspend",
        content=b'{"reason": "\\ud800"}',
        headers={**api.operator, "content-type": "application/json"},
    )
    assert lone_surrogate.status_code == 400, lone_surrogate.text
    assert (await user.get("/v1/me")).status_code == 200
    as_user = await user.post(f"/v1/admin/users/{user.id}/suspend", json={"reason": "me"})
    assert as_user.status_code in (401, 403)
    assert (await user.get("/v1/me")).status_code == 200


async def test_a_suspended_users_balls_cannot_be_stolen(api: Api) -> None:
    owner, thief = await api.register(), await api.register()
    await befriend(owner, thief)
    ball = await ripe_ball(owner)
    await _suspend(api, owner)
    response = await steal(thief, owner, ball["id"])
    assert response.status_code == 422 and response.json()["type"].endswith(":user-suspended"), response.text


async def test_partner_reports_naming_a_suspended_user_are_refused(api: Api) -> None:
    partner, user = await make_partner(api), await api.register()
    first = await partner.report(await report_body(user))
    assert first.status_code == 201, first.text
    code = await green_code(user)
    await _suspend(api, user)
    by_code = await partner.report(await report_body(code=code, occurred_at=(await api.now()).isoformat()))
    assert by_code.status_code == 422 and by_code.json()["type"].endswith(":user-suspended"), by_code.text
    response = await partner.report(
        await report_body(user_ref=first.json()["user_ref"], occurred_at=(await api.now()).isoformat())
    )
    assert response.status_code == 422 and response.json()["type"].endswith(":user-suspended"), response.text

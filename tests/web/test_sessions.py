"""Signing in to the portals and the sessions on the server (SPEC 12.3)."""

from __future__ import annotations

from server.members.models import OrgKind
from server.web.session import SESSION_COOKIE
from tests.api import Api
from tests.web.portal import PASSWORD, add_member, member_portal, sign_in


async def test_sign_in_goes_to_the_portal_with_an_httponly_lax_cookie(api: Api) -> None:
    await add_member(api, org_kind=OrgKind.OPERATOR, org_id=None, role="owner", email="ops@example.org")
    response = await api.client.post(
        "/login", data={"email": "OPS@example.org", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/"
    set_cookie = response.headers["set-cookie"].lower()
    assert f"{SESSION_COOKIE}=" in set_cookie and "httponly" in set_cookie and "samesite=lax" in set_cookie


async def test_a_wrong_password_shows_the_form_again_and_no_session(api: Api) -> None:
    await add_member(api, org_kind=OrgKind.OPERATOR, org_id=None, role="owner", email="ops@example.org")
    response = await api.client.post("/login", data={"email": "ops@example.org", "password": "not it at all"})
    assert response.status_code == 400
    assert "set-cookie" not in response.headers
    assert 'value="ops@example.org"' in response.text


async def test_pages_need_a_session_and_sign_out_ends_it_for_good(api: Api) -> None:
    anonymous = await api.client.get("/account", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/account"
    portal = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    assert (await portal.get("/account")).status_code == 200

    forged = await portal.post_form("/logout", csrf=False)
    assert forged.status_code == 403
    assert (await portal.get("/account")).status_code == 200  # a post without the token changed nothing

    assert (await portal.post_form("/logout")).status_code == 303
    replayed = await portal.get("/account")  # the old cookie, sent again
    assert replayed.status_code == 303


async def test_a_new_sign_in_never_keeps_the_session_the_browser_brought(api: Api) -> None:
    first = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    second = await sign_in(api, "ops@example.org")
    assert second.cookie != first.cookie and second.csrf_token != first.csrf_token

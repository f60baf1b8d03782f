"""Members (SPEC 12.3, 12.4): invitations by the operator's API and from the portals, `/invite`, the
members pages of every portal, removal, and what another organisation's member URLs answer."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from typing import Any

import pytest

from server.members.models import MemberRole, OrgKind
from server.web.session import SESSION_COOKIE
from tests.api import Api
from tests.processes import canopy_env
from tests.web.portal import PASSWORD, Portal, accept, invite, member_portal, portal_of, sign_in

SHOWN_LINK = re.compile(r'<textarea id="invitation-url" readonly rows="3">([^<]+)</textarea>')


async def create_ngo(api: Api, name: str = "Green Hands") -> str:
    body = {"name": name, "contact_email": "plant@example.org"}
    response = await api.client.post("/v1/admin/ngos", json=body, headers=api.operator)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def create_partner(api: Api, name: str = "Metro One") -> str:
    body = {"name": name, "kind": "transit", "allowed_actions": ["metro_ride"]}
    response = await api.client.post("/v1/admin/partners", json=body, headers=api.operator)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def members_of(api: Api, section: str, org_id: str) -> list[dict[str, Any]]:
    response = await api.client.get(f"/v1/admin/{section}/{org_id}/members", headers=api.operator)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def emails(api: Api, to: str | None = None) -> list[dict[str, Any]]:
    """The invitations mailed (to `to`)."""
    response = await api.client.get("/v1/admin/emails", headers=api.operator)
    assert response.status_code == 200, response.text
    mails = [mail for mail in response.json()["items"] if mail["kind"] == "member-invitation"]
    return [mail for mail in mails if to is None or mail["to"] == to]


# --- the JSON API ------------------------------------------------------------------------------


@pytest.mark.parametrize("section", ["ngos", "partners"])
async def test_the_operator_invites_lists_and_removes_members(api: Api, section: str) -> None:
    org_id = await (create_ngo(api) if section == "ngos" else create_partner(api))
    path = f"/v1/admin/{section}/{org_id}/members"
    response = await api.client.post(path, json={"email": "Owner@Org.example", "role": "owner"}, headers=api.operator)
    assert response.status_code == 201, response.text
    invited = response.json()
    assert invited["email"] == "owner@org.example" and invited["role"] == "owner" and invited["status"] == "invited"
    assert invited["invitation_url"].startswith(f"{api.settings.public_base_url}/invite?token=")
    listed = await members_of(api, section, org_id)
    assert [m["id"] for m in listed] == [invited["id"]] and "invitation_url" not in listed[0]

    # The link is mailed too, in the inviter's language.
    (mail,) = await emails(api)
    assert mail["to"] == "owner@org.example" and invited["invitation_url"] in mail["text"]

    portal = await portal_of(api, "owner@org.example", await accept(api, invited["invitation_url"], name="Ada"))
    (active,) = await members_of(api, section, org_id)
    assert active["status"] == "active" and active["name"] == "Ada" and active["joined_at"]

    removed = await api.client.delete(f"{path}/{invited['id']}", headers=api.operator)
    assert removed.status_code == 204
    assert await members_of(api, section, org_id) == []
    assert (await portal.get("/account")).status_code == 303  # their session ended
    refused = await api.client.post("/login", data={"email": "owner@org.example", "password": PASSWORD})
    assert refused.status_code == 400


async def test_unknown_organisations_and_other_organisations_members_are_404(api: Api) -> None:
    ngo, other = await create_ngo(api), await create_ngo(api, "Other Hands")
    partner = await create_partner(api)
    body = {"email": "a@ngo.example", "role": "staff"}
    for section, unknown in (("ngos", partner), ("partners", ngo), ("ngos", "no-such-ngo")):
        response = await api.client.post(f"/v1/admin/{section}/{unknown}/members", json=body, headers=api.operator)
        assert response.status_code == 404, response.text
        assert (await api.client.get(f"/v1/admin/{section}/{unknown}/members", headers=api.operator)).status_code == 404
    created = await api.client.post(f"/v1/admin/ngos/{ngo}/members", json=body, headers=api.operator)
    member_id = created.json()["id"]
    for path in (f"/v1/admin/ngos/{other}/members/{member_id}", f"/v1/admin/partners/{partner}/members/{member_id}"):
        assert (await api.client.delete(path, headers=api.operator)).status_code == 404
    assert len(await members_of(api, "ngos", ngo)) == 1


async def test_the_api_needs_the_operator_and_a_valid_body(api: Api) -> None:
    ngo = await create_ngo(api)
    path = f"/v1/admin/ngos/{ngo}/members"
    assert (await api.client.post(path, json={"email": "a@b.example", "role": "owner"})).status_code == 401
    user = await api.register()
    assert (await user.post(path, json={"email": "a@b.example", "role": "owner"})).status_code == 403
    for body in ({"email": "not an address", "role": "owner"}, {"email": "a@b.example", "role": "boss"}, {}):
        response = await api.client.post(path, json=body, headers=api.operator)
        assert response.status_code in (400, 422), response.text
    assert await members_of(api, "ngos", ngo) == []


async def test_inviting_again(api: Api) -> None:
    ngo, other = await create_ngo(api), await create_ngo(api, "Other Hands")
    first = await invite(api, org_kind=OrgKind.NGO, org_id=ngo, email="kim@ngo.example")
    # A pending invitation to the same organisation: a fresh link, the old one stops working.
    second = await invite(api, org_kind=OrgKind.NGO, org_id=ngo, role=MemberRole.STAFF, email="kim@ngo.example")
    assert second != first
    (pending,) = await members_of(api, "ngos", ngo)
    assert pending["role"] == "staff"
    assert (await api.client.get(f"/invite?token={first.partition('token=')[2]}")).status_code == 400
    # A live invitation elsewhere, or a member who joined: 409.
    elsewhere = await api.client.post(
        f"/v1/admin/ngos/{other}/members", json={"email": "kim@ngo.example", "role": "owner"}, headers=api.operator
    )
    assert elsewhere.status_code == 409 and elsewhere.json()["type"] == "urn:canopy:problem:member-exists"
    await accept(api, second, name="Kim")
    again = await api.client.post(
        f"/v1/admin/ngos/{ngo}/members", json={"email": "KIM@ngo.example", "role": "owner"}, headers=api.operator
    )
    assert again.status_code == 409
    # Once removed, the address may be invited again: a new member.
    await api.client.delete(f"/v1/admin/ngos/{ngo}/members/{pending['id']}", headers=api.operator)
    back = await api.client.post(
        f"/v1/admin/ngos/{other}/members", json={"email": "kim@ngo.example", "role": "owner"}, headers=api.operator
    )
    assert back.status_code == 201 and back.json()["id"] != pending["id"]


@pytest.mark.settings(member_invitation_ttl_s=60)
async def test_an_expired_invitation_does_not_work_and_the_address_may_be_invited_elsewhere(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    import server.members.service as service_module

    ngo, other = await create_ngo(api), await create_ngo(api, "Other Hands")
    url = await invite(api, org_kind=OrgKind.NGO, org_id=ngo, email="late@ngo.example")
    real = service_module.wall_clock
    monkeypatch.setattr(service_module, "wall_clock", lambda: real() + timedelta(seconds=61))
    token = url.partition("token=")[2]
    assert (await api.client.get(f"/invite?token={token}")).status_code == 400
    data = {"token": token, "name": "Late", "password": PASSWORD, "password_confirmation": PASSWORD}
    assert (await api.client.post("/invite", data=data)).status_code == 400
    moved = await api.client.post(
        f"/v1/admin/ngos/{other}/members", json={"email": "late@ngo.example", "role": "owner"}, headers=api.operator
    )
    assert moved.status_code == 201
    assert await members_of(api, "ngos", ngo) == []  # the expired invitation was withdrawn


async def test_the_invitation_mail_speaks_the_inviters_language(api: Api) -> None:
    ngo = await create_ngo(api)
    response = await api.client.post(
        f"/v1/admin/ngos/{ngo}/members",
        json={"email": "li@ngo.example", "role": "staff"},
        headers={**api.operator, "Accept-Language": "zh-CN"},
    )
    assert response.status_code == 201
    (mail,) = await emails(api)
    assert mail["language"] == "zh-Hans" and mail["subject"] == "邀请你加入 Canopy 绿荫"
    assert "Green Hands" in mail["html"] and response.json()["invitation_url"] in mail["html"]


# --- /invite -----------------------------------------------------------------------------------


async def test_the_invitation_page(api: Api) -> None:
    ngo = await create_ngo(api)
    url = await invite(api, org_kind=OrgKind.NGO, org_id=ngo, email="new@ngo.example")
    token = url.partition("token=")[2]
    opened = await api.client.get(f"/invite?token={token}")
    assert opened.status_code == 200 and opened.headers["referrer-policy"] == "no-referrer"
    assert "new@ngo.example" in opened.text and "Green Hands" in opened.text

    short = {"token": token, "name": "Mei", "password": "short", "password_confirmation": "short"}
    shown_again = await api.client.post("/invite", data=short)
    assert shown_again.status_code == 422 and 'value="Mei"' in shown_again.text
    assert 'aria-invalid="true"' in shown_again.text and "set-cookie" not in shown_again.headers
    nameless = {"token": token, "name": " ", "password": PASSWORD, "password_confirmation": PASSWORD}
    assert (await api.client.post("/invite", data=nameless)).status_code == 422

    joined = await accept(api, url, name="Mei")
    assert joined.status_code == 303 and joined.headers["location"] == "/ngo/"
    assert SESSION_COOKIE in joined.cookies
    used = await api.client.get(f"/invite?token={token}")
    assert used.status_code == 400 and used.headers["referrer-policy"] == "no-referrer"
    for unknown in ("", "nope", "x" * 43, "y" * 5000):
        page = await api.client.get("/invite", params={"token": unknown})
        assert page.status_code == 400, unknown
    again = {"token": token, "name": "Mei", "password": PASSWORD, "password_confirmation": PASSWORD}
    assert (await api.client.post("/invite", data=again)).status_code == 400


async def test_accepting_from_another_site_is_refused(api: Api) -> None:
    ngo = await create_ngo(api)
    url = await invite(api, org_kind=OrgKind.NGO, org_id=ngo, email="new@ngo.example")
    data = {"token": url.partition("token=")[2], "name": "Eve", "password": PASSWORD, "password_confirmation": PASSWORD}
    forged = await api.client.post("/invite", data=data, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    assert (await members_of(api, "ngos", ngo))[0]["status"] == "invited"


# --- the portals' members pages ----------------------------------------------------------------


async def ngo_owner(api: Api, ngo: str, email: str = "owner@ngo.example") -> Portal:
    return await member_portal(api, org_kind=OrgKind.NGO, org_id=ngo, role=MemberRole.OWNER, email=email)


async def test_an_owner_invites_staff_and_the_link_is_shown_once(api: Api) -> None:
    ngo = await create_ngo(api)
    owner = await ngo_owner(api, ngo)
    page = await owner.get("/ngo/members")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "owner@ngo.example" in page.text and "Invite a member" in page.text

    invited = await owner.post_form("/ngo/members", {"email": "staff@ngo.example", "role": "staff"})
    assert invited.status_code == 200, invited.text
    link = SHOWN_LINK.search(invited.text)
    assert link and link.group(1).startswith(f"{api.settings.public_base_url}/invite?token=")
    shown_later = await owner.get("/ngo/members")
    assert link.group(1) not in shown_later.text and "staff@ngo.example" in shown_later.text
    (mail,) = await emails(api, "staff@ngo.example")
    assert link.group(1) in mail["text"]

    staff = await portal_of(api, "staff@ngo.example", await accept(api, link.group(1), name="Sam"))
    seen = await staff.get("/ngo/members")
    assert seen.status_code == 200 and "Sam" in seen.text and "Invite a member" not in seen.text
    assert "/remove" not in seen.text
    refused = await staff.post_form("/ngo/members", {"email": "more@ngo.example", "role": "owner"})
    assert refused.status_code == 403
    assert (await staff.get(f"/ngo/members/{(await members_of(api, 'ngos', ngo))[0]['id']}/remove")).status_code == 403
    assert len(await members_of(api, "ngos", ngo)) == 2


async def test_the_invite_form_keeps_its_input_with_the_problems(api: Api) -> None:
    ngo = await create_ngo(api)
    owner = await ngo_owner(api, ngo)
    bad = await owner.post_form("/ngo/members", {"email": "not-an-address", "role": "owner"})
    assert bad.status_code == 422 and 'value="not-an-address"' in bad.text and 'aria-invalid="true"' in bad.text
    taken = await owner.post_form("/ngo/members", {"email": "owner@ngo.example", "role": "staff"})
    assert taken.status_code == 409 and "belongs to a member already" in taken.text
    assert (await owner.post_form("/ngo/members", {"email": "x@ngo.example", "role": "boss"})).status_code == 422
    assert len(await members_of(api, "ngos", ngo)) == 1


async def test_forms_without_the_csrf_token_change_nothing(api: Api) -> None:
    ngo = await create_ngo(api)
    owner = await ngo_owner(api, ngo)
    url = await invite(api, org_kind=OrgKind.NGO, org_id=ngo, role=MemberRole.STAFF, email="staff@ngo.example")
    staff_id = next(m["id"] for m in await members_of(api, "ngos", ngo) if m["email"] == "staff@ngo.example")
    for csrf, extra in ((False, {}), (False, {"csrf_token": "wrong"}), (False, {"csrf_token": ""})):
        posted = await owner.post_form("/ngo/members", {"email": "x@ngo.example", "role": "staff", **extra}, csrf=csrf)
        assert posted.status_code == 403 and "Not allowed" in posted.text
        removal = await owner.post_form(f"/ngo/members/{staff_id}/remove", extra, csrf=csrf)
        assert removal.status_code == 403
    assert {m["email"] for m in await members_of(api, "ngos", ngo)} == {"owner@ngo.example", "staff@ngo.example"}
    assert (await api.client.get(f"/invite?token={url.partition('token=')[2]}")).status_code == 200


async def test_another_organisations_member_urls_are_404(api: Api) -> None:
    ngo, other = await create_ngo(api), await create_ngo(api, "Other Hands")
    partner = await create_partner(api)
    owner = await ngo_owner(api, ngo)
    await invite(api, org_kind=OrgKind.NGO, org_id=other, email="theirs@other.example")
    await invite(api, org_kind=OrgKind.PARTNER, org_id=partner, email="theirs@partner.example")
    for section, org_id in (("ngos", other), ("partners", partner)):
        (theirs,) = await members_of(api, section, org_id)
        assert (await owner.get(f"/ngo/members/{theirs['id']}/remove")).status_code == 404
        assert (await owner.post_form(f"/ngo/members/{theirs['id']}/remove")).status_code == 404
        assert len(await members_of(api, section, org_id)) == 1
    assert (await owner.get("/ngo/members/no-such-member/remove")).status_code == 404
    assert (await owner.get("/partner/members")).status_code == 403  # another portal
    assert (await owner.get("/admin/operators")).status_code == 403
    assert (await owner.get(f"/admin/ngos/{ngo}/members")).status_code == 403


async def test_removing_a_member_ends_their_session_and_the_last_owner_stays(api: Api) -> None:
    ngo = await create_ngo(api)
    owner = await ngo_owner(api, ngo)
    second = await ngo_owner(api, ngo, "second@ngo.example")
    ids = {m["email"]: m["id"] for m in await members_of(api, "ngos", ngo)}

    confirm = await owner.get(f"/ngo/members/{ids['second@ngo.example']}/remove")
    assert confirm.status_code == 200 and "second@ngo.example" in confirm.text
    removed = await owner.post_form(f"/ngo/members/{ids['second@ngo.example']}/remove")
    assert removed.status_code == 303 and removed.headers["location"] == "/ngo/members"
    assert (await second.get("/ngo/members")).status_code == 303  # signed out at once

    last = await owner.post_form(f"/ngo/members/{ids['owner@ngo.example']}/remove")
    assert last.status_code == 409 and "last owner" in last.text
    assert (await owner.get("/ngo/members")).status_code == 200

    # With another owner who has joined, leaving works, and signs out.
    await ngo_owner(api, ngo, "third@ngo.example")
    left = await owner.post_form(f"/ngo/members/{ids['owner@ngo.example']}/remove")
    assert left.status_code == 303 and left.headers["location"] == "/login"
    assert (await owner.get("/ngo/members")).status_code == 303


async def test_a_partner_owner_manages_the_partners_members(api: Api) -> None:
    partner = await create_partner(api)
    owner = await member_portal(api, org_kind=OrgKind.PARTNER, org_id=partner, email="owner@partner.example")
    invited = await owner.post_form("/partner/members", {"email": "dev@partner.example", "role": "owner"})
    assert invited.status_code == 200 and SHOWN_LINK.search(invited.text)
    assert {m["role"] for m in await members_of(api, "partners", partner)} == {"owner"}
    assert (await owner.get("/ngo/members")).status_code == 403


async def test_the_console_manages_any_organisations_members_and_the_operators(api: Api) -> None:
    ngo, partner = await create_ngo(api), await create_partner(api)
    operator = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@canopy.example")
    for section, org_id, name in (("ngos", ngo, "Green Hands"), ("partners", partner, "Metro One")):
        page = await operator.get(f"/admin/{section}/{org_id}/members")
        assert page.status_code == 200 and name in page.text
        invited = await operator.post_form(
            f"/admin/{section}/{org_id}/members", {"email": f"boss@{section}.example", "role": "owner"}
        )
        assert invited.status_code == 200 and SHOWN_LINK.search(invited.text)
        (member,) = await members_of(api, section, org_id)
        assert member["email"] == f"boss@{section}.example"
        removed = await operator.post_form(f"/admin/{section}/{org_id}/members/{member['id']}/remove")
        assert removed.status_code == 303 and removed.headers["location"] == f"/admin/{section}/{org_id}/members"
        assert await members_of(api, section, org_id) == []
        assert (await operator.get(f"/admin/{section}/no-such-org/members")).status_code == 404
    assert (await operator.get(f"/admin/partners/{ngo}/members")).status_code == 404

    operators = await operator.get("/admin/operators")
    assert operators.status_code == 200 and "ops@canopy.example" in operators.text
    invited = await operator.post_form("/admin/operators", {"email": "ops2@canopy.example", "role": "owner"})
    link = SHOWN_LINK.search(invited.text)
    assert link
    colleague = await portal_of(api, "ops2@canopy.example", await accept(api, link.group(1), name="Bo"))
    assert (await colleague.get("/admin/operators")).status_code == 200
    assert (await colleague.get("/ngo/members")).status_code == 403


async def test_a_member_signs_in_with_the_password_they_chose(api: Api) -> None:
    ngo = await create_ngo(api)
    await ngo_owner(api, ngo)
    portal = await sign_in(api, "owner@ngo.example")
    assert (await portal.get("/ngo/members")).status_code == 200


# --- the `canopy` command ------------------------------------------------------------------------


def canopy(settings: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=canopy_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_canopy_operator_invite_prints_a_link_that_works_once(api: Api) -> None:
    done = await asyncio.to_thread(canopy, api.settings, "operator", "invite", "--email", "First@Ops.example")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["email"] == "first@ops.example" and "not shown again" in done.stderr
    joined = await accept(api, printed["invitation_url"], name="First")
    assert joined.headers["location"] == "/admin/"
    operator = await portal_of(api, "first@ops.example", joined)
    assert (await operator.get("/admin/operators")).status_code == 200
    again = await asyncio.to_thread(canopy, api.settings, "operator", "invite", "--email", "first@ops.example")
    assert again.returncode != 0 and "member already" in again.stderr
    bad = await asyncio.to_thread(canopy, api.settings, "operator", "invite", "--email", "nobody")
    assert bad.returncode != 0


async def test_seed_demo_invites_the_demo_owners(api: Api) -> None:
    first = await asyncio.to_thread(canopy, api.settings, "seed-demo")
    assert first.returncode == 0, first.stderr
    links = json.loads(first.stdout)["invitations"]
    second = json.loads((await asyncio.to_thread(canopy, api.settings, "seed-demo")).stdout)["invitations"]
    assert second["ngo_owner"] != links["ngo_owner"]  # a fresh link; the first one stops working
    assert (await api.client.get(f"/invite?token={links['ngo_owner'].partition('token=')[2]}")).status_code == 400
    ngo_owner = await accept(api, second["ngo_owner"], name="Demo NGO owner")
    assert ngo_owner.headers["location"] == "/ngo/"
    partner_owner = await accept(api, second["partner_owner"], name="Demo partner owner")
    assert partner_owner.headers["location"] == "/partner/"
    third = json.loads((await asyncio.to_thread(canopy, api.settings, "seed-demo")).stdout)["invitations"]
    assert third == {"ngo_owner": "joined already: no new link", "partner_owner": "joined already: no new link"}

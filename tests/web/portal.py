"""A portal member's browser for the tests: signed in with its own cookie.

`member_portal` goes the whole way a person goes: invited (by the operator's API for an NGO or a
partner, by the service, as `canopy operator invite` does, for an operator), the invitation
accepted on `/invite` with a name and a password, and signed in by it. Each `Portal` sends its
session cookie itself, so several members can act in one test over the one in-process client.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import httpx

from server.clock import wall_clock
from server.db import Database
from server.i18n import DEFAULT_LANGUAGE
from server.members import service as members
from server.members.models import MemberRole, OrgKind
from server.users.security import Passwords
from server.web.session import SESSION_COOKIE
from tests.api import Api

PASSWORD = "a long portal password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Portal:
    def __init__(self, api: Api, email: str, cookie: str, csrf_token: str) -> None:
        self.api = api
        self.email = email
        self.cookie = cookie
        self.csrf_token = csrf_token

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.cookie}"}

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.api.client.get(path, headers=self.headers, follow_redirects=False, **kwargs)

    async def post_form(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> httpx.Response:
        """A form post as the browser sends it, with this session's CSRF token unless `csrf=False`."""
        fields = {**({"csrf_token": self.csrf_token} if csrf else {}), **(data or {})}
        headers = {**self.headers, "Content-Type": "application/x-www-form-urlencoded"}
        return await self.api.client.post(path, content=urlencode(fields), headers=headers, follow_redirects=False)

    async def post_files(
        self, path: str, data: dict[str, str], files: list[tuple[str, tuple[str, bytes, str]]]
    ) -> httpx.Response:
        """A multipart form (uploads), with this session's CSRF token."""
        fields = {"csrf_token": self.csrf_token, **data}
        return await self.api.client.post(path, data=fields, files=files, headers=self.headers, follow_redirects=False)


async def add_member(
    api: Api, *, org_kind: OrgKind, org_id: str | None, role: MemberRole, email: str, password: str = PASSWORD
) -> None:
    """A member who has joined (chosen a name and a password)."""
    database = Database(api.settings.database_url)
    try:
        async with database.transaction() as session:
            member = await members.add_member(
                session, email=email, org_kind=org_kind, org_id=org_id, role=role, now=wall_clock()
            )
            password_hash = Passwords(api.settings).hash(password)
            await members.join(session, member, name=email.split("@")[0], password_hash=password_hash, now=wall_clock())
    finally:
        await database.dispose()


async def invite(
    api: Api, *, org_kind: OrgKind, org_id: str | None = None, role: MemberRole = MemberRole.OWNER, email: str
) -> str:
    """The invitation link, as the inviter sees it once: from `POST /v1/admin/{ngos,partners}/{id}/
    members` for an NGO's or a partner's member, from the service for an operator."""
    if org_kind != OrgKind.OPERATOR:
        section = "ngos" if org_kind == OrgKind.NGO else "partners"
        response = await api.client.post(
            f"/v1/admin/{section}/{org_id}/members", json={"email": email, "role": role}, headers=api.operator
        )
        assert response.status_code == 201, response.text
        return str(response.json()["invitation_url"])
    database = Database(api.settings.database_url)
    try:
        async with database.transaction() as session:
            invitation = await members.invite(
                session,
                api.settings,
                org_kind=org_kind,
                org_id=None,
                email=email,
                role=role,
                language=DEFAULT_LANGUAGE,
                now=wall_clock(),
            )
    finally:
        await database.dispose()
    return invitation.url


async def accept(api: Api, url: str, *, name: str, password: str = PASSWORD) -> httpx.Response:
    """Open the invitation link and join with this name and password (the answer signs in)."""
    token = url.partition("token=")[2]
    opened = await api.client.get(f"/invite?token={token}")
    assert opened.status_code == 200, opened.text
    data = {"token": token, "name": name, "password": password, "password_confirmation": password}
    response = await api.client.post("/invite", data=data, follow_redirects=False)
    api.client.cookies.clear()  # each Portal sends its own cookie
    return response


async def portal_of(api: Api, email: str, response: httpx.Response) -> Portal:
    """The Portal of a sign-in's answer: its session cookie, and the CSRF token of its pages."""
    assert response.status_code == 303, response.text
    cookie = response.cookies[SESSION_COOKIE]
    api.client.cookies.clear()
    account = await api.client.get("/account", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    assert account.status_code == 200, account.text
    found = CSRF.search(account.text)
    assert found, account.text
    return Portal(api, email, cookie, found.group(1))


async def sign_in(api: Api, email: str, password: str = PASSWORD) -> Portal:
    response = await api.client.post("/login", data={"email": email, "password": password}, follow_redirects=False)
    return await portal_of(api, email, response)


async def member_portal(
    api: Api, *, org_kind: OrgKind, org_id: str | None = None, role: MemberRole = MemberRole.OWNER, email: str
) -> Portal:
    """A member of `org_kind` (`org_id` the NGO's or partner's id, which must exist), invited,
    joined through `/invite`, and signed in."""
    url = await invite(api, org_kind=org_kind, org_id=org_id, role=role, email=email)
    return await portal_of(api, email, await accept(api, url, name=email.split("@")[0]))

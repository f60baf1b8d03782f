"""`/login` and `/logout`: one sign-in page for every portal (SPEC 12.3).

Sign-in is throttled like the API's (SPEC 2: failures per email and per client address, counted
before the password is checked). A success starts a new session (never one the browser brought
along, so a planted cookie cannot be fixed on a victim) and goes back to where the member was
sent from, or to their portal.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import wall_clock
from server.db import Database
from server.members import service as members
from server.members.models import OrgKind
from server.settings import Settings
from server.throttle import Throttle, client_address
from server.users.security import Passwords
from server.web.forms import read_form
from server.web.pages import local_path, page
from server.web.session import (
    SESSION_COOKIE,
    SignInRequired,
    portal_page,
    read_portal_form,
    session_cookie,
    sign_in_location,
    signed_in_member,
)

EMAIL_MAX, PASSWORD_MAX = 254, 128
PORTAL_HOME = {OrgKind.NGO: "/ngo/", OrgKind.PARTNER: "/partner/", OrgKind.OPERATOR: "/admin/"}


def sign_in_redirect(_: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    """The exception handler for SignInRequired: to `/login`, coming back here after."""
    return Redirect(path=sign_in_location(exc.next_path), status_code=303)


class SignInController(Controller):
    path = "/login"
    include_in_schema = False

    @get("/")
    async def form(self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Template:
        return page(request, "login.html", {"next": local_path(next), "email": "", "failed": False})

    @post("/", status_code=303)
    async def sign_in(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        database: NamedDependency[Database],
        passwords: NamedDependency[Passwords],
        throttle: NamedDependency[Throttle],
    ) -> Response[Any]:
        form = await read_form(request, ("email", "password", "next"))
        email = form["email"].strip()[:EMAIL_MAX]
        signed_in = await members.sign_in(
            db_session,
            database,
            passwords,
            throttle,
            email=email,
            password=form["password"][:PASSWORD_MAX],
            address=client_address(request),
            now=wall_clock(),
        )
        if signed_in is None:
            context = {"next": local_path(form["next"]), "email": email, "failed": True}
            return page(request, "login.html", context, status_code=400)
        member, token = signed_in
        target = local_path(form["next"]) if form["next"] else PORTAL_HOME[OrgKind(member.org_kind)]
        cookie = session_cookie(token, secure=settings.env == "production")
        return Redirect(path=target, status_code=303, cookies=[cookie])


class SignOutController(Controller):
    path = "/logout"
    include_in_schema = False

    @post("/", status_code=303)
    async def sign_out(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        member = await signed_in_member(request)
        if member is not None:
            await read_portal_form(request, member, ())
            await members.end_session(db_session, request.cookies[SESSION_COOKIE], wall_clock())
        expired = session_cookie("", secure=settings.env == "production", max_age=0)
        return Redirect(path="/login", status_code=303, cookies=[expired])


class AccountController(Controller):
    """`/account`: the signed-in member's own page, whatever their portal."""

    path = "/account"
    include_in_schema = False

    @get("/")
    async def account(self, request: Request[Any, Any, Any]) -> Template:
        member = await signed_in_member(request)
        if member is None:
            raise SignInRequired(request.url.path)
        return portal_page(request, member, "account.html", {"portal_home": PORTAL_HOME[member.org_kind]})

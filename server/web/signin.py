"""`/login`, its second factor, `/logout` and `/account` (with TOTP): one sign-in for every portal
(SPEC 12.3).

Sign-in is throttled like the API's (SPEC 2: failures per email and per client address, counted
before the password is checked). A success starts a new session (never one the browser brought
along, so a planted cookie cannot be fixed on a victim) and goes back to where the member was
sent from, or to their portal. The sign-in forms come before any session, so they carry no
session CSRF token: `check_same_origin` refuses them from another site.

A member with TOTP on signs in in two steps. The right password gives no session yet: only a
short-lived, signed cookie (`canopy_second_factor`, path `/login`, 5 minutes) naming the member
and their session epoch, which the code page reads; the session starts when a right, unused code
comes with it. Wrong codes count like failed logins.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime
from typing import Any, TypedDict
from urllib.parse import quote

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Response, Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import wall_clock
from server.crypto import SecretBox
from server.db import Database, session_scope
from server.dependencies import app_services, client_address
from server.members import service as members
from server.members import totp
from server.members.models import Member, OrgKind
from server.settings import Settings
from server.throttle import Throttle
from server.users.security import Passwords
from server.web.forms import read_form
from server.web.pages import local_path, page
from server.web.session import (
    SESSION_COOKIE,
    PortalMember,
    SignInRequired,
    check_same_origin,
    portal_page,
    read_portal_form,
    session_cookie,
    signed_in_member,
)

EMAIL_MAX, PASSWORD_MAX = 254, 128
CODE_MAX = 16
PORTAL_HOME = {OrgKind.NGO: "/ngo/", OrgKind.PARTNER: "/partner/", OrgKind.OPERATOR: "/admin/"}
SECOND_FACTOR_COOKIE = "canopy_second_factor"
SECOND_FACTOR_S = 300
"""How long the code page waits for the code after the right password."""


def sign_in_redirect(_: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    """The exception handler for SignInRequired: to `/login` coming back here after (or, for an
    operator who must turn on TOTP first, to `/account`)."""
    return Redirect(path=exc.location, status_code=303)


def _next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, or "" for the member's portal."""
    return local_path(target) if target else ""


def _mac(settings: Settings, payload: str) -> str:
    key = hashlib.sha256(b"canopy-second-factor:" + settings.secret_key.encode()).digest()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def _second_factor_cookie(settings: Settings, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=SECOND_FACTOR_COOKIE,
        value=value,
        path="/login",
        httponly=True,
        samesite="lax",
        secure=settings.env == "production",
        max_age=max_age,
    )


def _waiting_for_code(settings: Settings, member: Member) -> str:
    """The signed cookie value of a sign-in whose password was right: member, epoch, when."""
    payload = f"{member.id}.{member.session_epoch}.{int(time.time())}"
    return f"{payload}.{_mac(settings, payload)}"


def _read_waiting(settings: Settings, value: str | None) -> tuple[str, int] | None:
    """(member id, epoch) of a signed cookie younger than SECOND_FACTOR_S, else None."""
    if not value or len(value) > 200:
        return None
    payload, _, mac = value.rpartition(".")
    if not hmac.compare_digest(mac.encode(), _mac(settings, payload).encode()):
        return None
    member_id, epoch, issued = payload.split(".")
    if not 0 <= time.time() - int(issued) <= SECOND_FACTOR_S:
        return None
    return member_id, int(epoch)


class SignInController(Controller):
    path = "/login"
    include_in_schema = False

    @get("/")
    async def form(self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Template:
        return _step_page(request, "login.html", _next(next), email="")

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
        form, next_path = await _read_step(request, ("email", "password"))
        email = form["email"].strip()[:EMAIL_MAX]
        password = form["password"][:PASSWORD_MAX]
        member = await members.sign_in(
            db_session, database, passwords, throttle, email=email, password=password, **_attempt(request)
        )
        if member is None:
            return _step_page(request, "login.html", next_path, failed=True, email=email)
        if member.totp_secret is None:
            return await signed_in_redirect(request, member, next_path)
        waiting = _second_factor_cookie(settings, _waiting_for_code(settings, member), max_age=SECOND_FACTOR_S)
        location = "/login/code" + (f"?next={quote(next_path, safe='/')}" if next_path else "")
        return Redirect(path=location, status_code=303, cookies=[waiting])

    @get("/code")
    async def code_form(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings], next: FromQuery[str | None] = None
    ) -> Response[Any]:
        if _read_waiting(settings, request.cookies.get(SECOND_FACTOR_COOKIE)) is None:
            return Redirect(path="/login", status_code=303)
        return _step_page(request, "login_code.html", _next(next), code_max=CODE_MAX)

    @post("/code", status_code=303)
    async def code(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        database: NamedDependency[Database],
        throttle: NamedDependency[Throttle],
    ) -> Response[Any]:
        form, next_path = await _read_step(request, ("code",))
        waiting = _read_waiting(settings, request.cookies.get(SECOND_FACTOR_COOKIE))
        if waiting is None:  # too late, or never: the password again
            return Redirect(path="/login", status_code=303)
        async with session_scope(database.read_sessions) as reader:
            member = await members.live_member(reader, *waiting)
        if member is None or member.totp_secret is None:
            return Redirect(path="/login", status_code=303)
        right = await totp.use_code(
            db_session, settings, throttle, member, form["code"][:CODE_MAX], **_attempt(request)
        )
        if not right:
            return _step_page(request, "login_code.html", next_path, failed=True, code_max=CODE_MAX)
        await db_session.commit()  # the code is spent before the session exists
        return await signed_in_redirect(request, member, next_path)


class _Attempt(TypedDict):
    """Whom a throttled check (password or code) is counted against, and when: the keyword
    arguments of members.sign_in and of the totp checks."""

    address: str
    now: datetime


def _attempt(request: Request[Any, Any, Any]) -> _Attempt:
    return {"address": client_address(request), "now": wall_clock()}


async def _read_step(request: Request[Any, Any, Any], fields: tuple[str, ...]) -> tuple[dict[str, str], str]:
    """A sign-in step's form (password, or code) posted from this site, and where to go after."""
    check_same_origin(request)
    form = await read_form(request, (*fields, "next"))
    return form, _next(form["next"])


def _step_page(
    request: Request[Any, Any, Any], template: str, next_path: str, *, failed: bool = False, **context: Any
) -> Template:
    """A sign-in step's page (password, or code): 400 after a refused attempt."""
    context |= {"next": next_path, "failed": failed}
    return page(request, template, context, status_code=400 if failed else 200)


async def signed_in_redirect(request: Request[Any, Any, Any], member: Member, next_path: str) -> Redirect:
    """A new session for `member` and its cookie; to `next_path`, or the member's portal."""
    services = app_services(request.app.state)
    settings = services.settings
    token = await members.start_session(services.member_sessions, member, wall_clock())
    target = next_path or PORTAL_HOME[OrgKind(member.org_kind)]
    cookies = [
        session_cookie(token, secure=settings.env == "production"),
        _second_factor_cookie(settings, "", max_age=0),
    ]
    return Redirect(path=target, status_code=303, cookies=cookies)


class SignOutController(Controller):
    path = "/logout"
    include_in_schema = False

    @post("/", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]) -> Response[Any]:
        member = await signed_in_member(request)
        if member is not None:
            await read_portal_form(request, member, ())
            store = app_services(request.app.state).member_sessions
            await members.end_session(store, request.cookies[SESSION_COOKIE], wall_clock())
        expired = session_cookie("", secure=settings.env == "production", max_age=0)
        return Redirect(path="/login", status_code=303, cookies=[expired])


async def _account_member(request: Request[Any, Any, Any]) -> PortalMember:
    member = await signed_in_member(request)
    if member is None:
        raise SignInRequired(request.url.path)
    return member


def _account_page(
    request: Request[Any, Any, Any], member: PortalMember, *, done: str | None = None, failed: bool = False
) -> Template:
    settings = app_services(request.app.state).settings
    context = {
        "portal_home": PORTAL_HOME[member.org_kind],
        "done": done if done in ("totp-on", "totp-off") else None,
        "failed": failed,
        "totp_required": member.org_kind == OrgKind.OPERATOR and settings.operator_totp_required,
        "code_max": CODE_MAX,
    }
    return portal_page(request, member, "account.html", context, status_code=400 if failed else 200)


def _enrolment_page(
    request: Request[Any, Any, Any], member: PortalMember, secret: str, *, failed: bool = False
) -> Template:
    """The QR code and the secret of a second factor being turned on, with the form to confirm it.
    The secret travels in the form encrypted and bound to the member, so nothing is stored
    before a code proves the member's app has it."""
    settings = app_services(request.app.state).settings
    context = {
        "portal_home": PORTAL_HOME[member.org_kind],
        "qr_svg": totp.qr_svg(totp.provisioning_uri(secret, member.email)),
        "secret": secret,
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "sealed": SecretBox(settings).encrypt(f"{member.id}:{secret}"),
        "failed": failed,
        "code_max": CODE_MAX,
    }
    return portal_page(request, member, "totp_setup.html", context, status_code=400 if failed else 200)


class AccountController(Controller):
    """`/account`: the signed-in member's own page, whatever their portal, and their second factor."""

    path = "/account"
    include_in_schema = False

    @get("/")
    async def account(self, request: Request[Any, Any, Any], done: FromQuery[str | None] = None) -> Template:
        return _account_page(request, await _account_member(request), done=done)

    @get("/totp")
    async def totp_setup(self, request: Request[Any, Any, Any]) -> Response[Any]:
        member = await _account_member(request)
        if member.totp_on:
            return Redirect(path="/account", status_code=303)
        return _enrolment_page(request, member, totp.new_secret())

    @post("/totp", status_code=303)
    async def totp_on(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        database: NamedDependency[Database],
        throttle: NamedDependency[Throttle],
    ) -> Response[Any]:
        member = await _account_member(request)
        form = await read_portal_form(request, member, ("sealed", "code"))
        try:
            owner, _, secret = SecretBox(settings).decrypt(form["sealed"][:1000]).partition(":")
        except RuntimeError:
            owner, secret = "", ""
        if owner != member.id:
            return Redirect(path="/account/totp", status_code=303)  # a form from another session: start again
        stored = await _stored_member(database, member)
        code = form["code"][:CODE_MAX]
        right = await totp.turn_on(db_session, settings, throttle, stored, secret, code, **_attempt(request))
        if not right:
            return _enrolment_page(request, member, secret, failed=True)
        return Redirect(path="/account?done=totp-on", status_code=303)

    @post("/totp/off", status_code=303)
    async def totp_off(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        database: NamedDependency[Database],
        throttle: NamedDependency[Throttle],
    ) -> Response[Any]:
        member = await _account_member(request)
        form = await read_portal_form(request, member, ("code",))
        stored = await _stored_member(database, member)
        right = await totp.turn_off(
            db_session, settings, throttle, stored, form["code"][:CODE_MAX], **_attempt(request)
        )
        if not right:
            return _account_page(request, member, failed=True)
        return Redirect(path="/account?done=totp-off", status_code=303)


async def _stored_member(database: Database, member: PortalMember) -> Member:
    """The member's row (their encrypted secret), read outside the request's transaction: the
    code's throttling count comes next, and on SQLite it needs the write lock."""
    async with session_scope(database.read_sessions) as reader:
        found = await members.live_member_by_id(reader, member.id)
    if found is None:
        raise SignInRequired("/account")
    return found

"""Who is signed in to a portal, and the CSRF check of every form that changes data (SPEC 12.3).

A portal controller names its member with a dependency, e.g.
`dependencies = {"member": Provide(ngo_member)}`, and a handler takes
`member: NamedDependency[PortalMember]`. Without a live session the browser is sent to `/login`;
a member of another kind of organisation gets the 403 page. A form that changes data is read
with `read_portal_form()`, which refuses (403 page) a missing or wrong `csrf_token` before
anything else happens.

The forms posted before there is a session (sign-in, its second factor, accepting an
invitation) cannot carry a session's token; `check_same_origin()` refuses them when the browser
says they come from another site (`Origin`, else `Sec-Fetch-Site`), so no other site can sign a
visitor in to an account of its choosing (login CSRF).

With `CANOPY_OPERATOR_TOTP_REQUIRED`, an operator without the second factor is sent to
`/account` to turn it on, from every operator page.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request
from litestar.datastructures import Cookie, State
from litestar.exceptions import HTTPException
from litestar.response import Template

from server.clock import wall_clock
from server.db import session_scope
from server.dependencies import app_services
from server.errors import Forbidden
from server.logs import set_actor
from server.members import service as members
from server.members.models import MemberRole, OrgKind
from server.web.forms import read_form
from server.web.pages import page

SESSION_COOKIE = "canopy_session"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True, slots=True)
class PortalMember:
    """The signed-in member as a page needs them: who, which organisation, and the session's
    CSRF token (put into every form by `portal_page`)."""

    id: str
    email: str
    name: str
    org_kind: OrgKind
    org_id: str | None
    role: MemberRole
    csrf_token: str
    totp_on: bool = False

    @property
    def is_owner(self) -> bool:
        return self.role == MemberRole.OWNER


class SignInRequired(HTTPException):
    """Answered with a redirect to `/login` that comes back here (see `sign_in_redirect`)."""

    status_code = 303

    def __init__(self, next_path: str) -> None:
        super().__init__(detail="Sign in to see this page.")
        self.next_path = next_path

    @property
    def location(self) -> str:
        return sign_in_location(self.next_path)


class SecondFactorSetupRequired(SignInRequired):
    """Operators must turn on TOTP (CANOPY_OPERATOR_TOTP_REQUIRED): to `/account` until they have."""

    @property
    def location(self) -> str:
        return "/account"


def session_cookie(token: str, *, secure: bool, max_age: int | None = None) -> Cookie:
    """The session cookie: HttpOnly and SameSite=Lax always, Secure in production."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
        max_age=max_age,
    )


async def signed_in_member(request: Request[Any, Any, Any]) -> PortalMember | None:
    """The member behind the request's session cookie, if the session is live."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 128:
        return None
    services = app_services(request.app.state)
    async with session_scope(services.database.read_sessions) as session:
        signed_in = await members.live_session(session, services.member_sessions, token, wall_clock())
    if signed_in is None:
        return None
    member = signed_in.member
    set_actor("member", member.id)
    return PortalMember(
        id=member.id,
        email=member.email,
        name=member.name or member.email,
        org_kind=OrgKind(member.org_kind),
        org_id=member.org_id,
        role=MemberRole(member.role),
        csrf_token=signed_in.session.csrf_token,
        totp_on=member.totp_secret is not None,
    )


def _member_of(kind: OrgKind) -> Callable[[State, Request[Any, Any, Any]], Awaitable[PortalMember]]:
    async def provide(state: State, request: Request[Any, Any, Any]) -> PortalMember:
        member = await signed_in_member(request)
        if member is None:
            raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if member.org_kind != kind:
            raise Forbidden("This page belongs to another portal.", problem="wrong-portal")
        if kind == OrgKind.OPERATOR and not member.totp_on and app_services(state).settings.operator_totp_required:
            raise SecondFactorSetupRequired("/account")
        return member

    return provide


ngo_member = _member_of(OrgKind.NGO)
partner_member = _member_of(OrgKind.PARTNER)
operator_member = _member_of(OrgKind.OPERATOR)


def require_owner(member: PortalMember) -> None:
    """Keys and members are the owners' to manage (SPEC 12.3)."""
    if not member.is_owner:
        raise Forbidden("Only the organisation's owners can do this.", problem="owners-only")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def check_same_origin(request: Request[Any, Any, Any]) -> None:
    """Refuse (403 page) a form posted from another site, before there is a session to carry a
    CSRF token. `Origin` must name this site (the host the request was sent to, or
    CANOPY_PUBLIC_BASE_URL). A page served with `Referrer-Policy: no-referrer` (/invite) posts
    `Origin: null`; then, as without `Origin`, `Sec-Fetch-Site` decides: only `same-origin` (or
    `none`, typed by the person) passes, and `null` without it is refused. A client that sends
    neither header (not a browser of these years) has no victim's cookies to ride on, and passes."""
    refused = Forbidden("This form was sent from another site.", problem="csrf-invalid")
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if origin is not None and origin != "null":
        own = {request.headers.get("host", "").lower()}
        own.add(_origin(app_services(request.app.state).settings.public_base_url)[1])
        scheme, host = _origin(origin)
        if scheme not in ("http", "https") or host not in own:
            raise refused
    elif fetch_site is not None:
        if fetch_site not in ("same-origin", "none"):
            raise refused
    elif origin == "null":
        raise refused


def check_csrf(member: PortalMember, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(submitted.encode(), member.csrf_token.encode()):
        raise Forbidden("The form's security token is missing or wrong; reload the page.", problem="csrf-invalid")


async def read_portal_form(
    request: Request[Any, Any, Any], member: PortalMember, fields: tuple[str, ...]
) -> dict[str, str]:
    """A URL-encoded portal form, refused (403) unless it carries this session's CSRF token."""
    form = await read_form(request, (*fields, CSRF_FIELD))
    check_csrf(member, form.pop(CSRF_FIELD))
    return form


def portal_page(
    request: Request[Any, Any, Any],
    member: PortalMember,
    template_name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Template:
    """A portal page: `page()` with the member and the CSRF token in its context, never cached."""
    return page(
        request,
        template_name,
        {**(context or {}), "member": member, "csrf_token": member.csrf_token},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def sign_in_location(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="/")

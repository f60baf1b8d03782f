"""`/verify-email` and `/reset-password` (SPEC 12.2): the pages the mailed links open.

Both URLs carry a secret, so they are served with `Referrer-Policy: no-referrer`, and both call
the same services as `POST /v1/auth/verify-email` and `/v1/auth/password-reset/confirm`.

The reset form carries no CSRF token: it carries the reset token, a secret that only the mail's
reader has. A forged cross-site post would need it, and with it the attacker could reset the
password directly; the form signs nobody in and reads no cookie, so there is nothing for a
forged request to ride on.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts import service as accounts
from server.db import provide_write_session
from server.errors import DomainError
from server.users.security import Passwords
from server.web.forms import PASSWORD_MAX, PASSWORD_MIN, password_errors, read_form
from server.web.pages import page

TOKEN_MAX = 1024


class VerifyEmailPageController(Controller):
    path = "/verify-email"
    include_in_schema = False
    # Opening the link verifies the address: a GET that writes.
    dependencies = {"write_session": Provide(provide_write_session)}

    @get("/")
    async def verify(
        self,
        request: Request[Any, Any, Any],
        write_session: NamedDependency[AsyncSession],
        token: FromQuery[str | None] = None,
    ) -> Template:
        outcome, status = "verified", 200
        try:
            await accounts.verify_email(write_session, (token or "")[:TOKEN_MAX])
        except DomainError as refusal:
            await write_session.rollback()  # as the API does: a refused link stays as it was
            outcome, status = refusal.problem, refusal.status  # invalid-token | email-taken
        return page(
            request, "verify_email.html", {"outcome": outcome}, status_code=status, referrer_policy="no-referrer"
        )


class ResetPasswordPageController(Controller):
    path = "/reset-password"
    include_in_schema = False

    @get("/")
    async def form(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        token: FromQuery[str | None] = None,
    ) -> Template:
        token = (token or "")[:TOKEN_MAX]
        if not await accounts.reset_token_is_live(db_session, token):
            return _reset_page(request, "invalid", status=400)
        return _reset_page(request, "form", token=token)

    @post("/", status_code=200)
    async def reset(
        self,
        request: Request[Any, Any, Any],
        passwords: NamedDependency[Passwords],
        db_session: NamedDependency[AsyncSession],
    ) -> Template:
        form = await read_form(request, ("token", "password", "password_confirmation"))
        token = form["token"][:TOKEN_MAX]
        errors = password_errors(form["password"], form["password_confirmation"])
        if errors:
            # Passwords are never sent back into the page; the token is kept, so the form still works.
            return _reset_page(request, "form", token=token, errors=errors, status=422)
        try:
            await accounts.confirm_password_reset(db_session, passwords, token, form["password"])
        except DomainError:
            await db_session.rollback()
            return _reset_page(request, "invalid", status=400)
        return _reset_page(request, "done")


def _reset_page(
    request: Request[Any, Any, Any],
    state: str,
    *,
    token: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Template:
    context = {
        "state": state,
        "token": token,
        "errors": errors or {},
        "password_min": PASSWORD_MIN,
        "password_max": PASSWORD_MAX,
    }
    return page(request, "reset_password.html", context, status_code=status, referrer_policy="no-referrer")

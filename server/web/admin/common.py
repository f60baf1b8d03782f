"""What every page of the operator console shares: the page and redirect helpers, the reading of
form values and of the services' refusals, and the secrets shown once (see the package's
docstring).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from typing import Any, TypeVar

from cryptography.fernet import Fernet, InvalidToken
from litestar import Controller, Request
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.response import Redirect, Template
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from server.errors import DomainError
from server.planting import ngos
from server.settings import Settings
from server.web.session import PortalMember, operator_member, portal_page

PAGE_SIZE = 50
SECRETS_COOKIE = "canopy_console_secrets"
SECRETS_TTL_S = 300

Errors = dict[str, str]
"""A form's problems: field name -> a problem code, worded (and translated) by the template."""

M = TypeVar("M", bound=SQLModel)
AnyRequest = Request[Any, Any, Any]

# A service's refusal that belongs to one field of the form: (field, problem code).
PROBLEM_FIELDS: dict[str, tuple[str, str]] = {
    "ngo-name-taken": ("name", "taken"),
    "partner-name-taken": ("name", "taken"),
    "project-name-taken": ("name", "taken"),
    "species-name-taken": ("common_name", "taken"),
    "webhook-url": ("webhook_url", "webhook-url"),
    "unknown-ngo": ("ngo_id", "invalid"),
    "unknown-species": ("species", "invalid"),
    "action-not-partner": ("allowed_actions", "invalid"),
    "order-not-cancellable": ("reason", "not-cancellable"),
}


def console_page(
    request: AnyRequest,
    member: PortalMember,
    template: str,
    section: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Template:
    """A console page: its section lit in the navigation, no form problems unless given, and the
    `done` notice of the change that redirected here (the template words the known ones)."""
    base: dict[str, Any] = {"section": section, "errors": {}, "form": {}, "done": request.query_params.get("done", "")}
    return portal_page(request, member, f"admin/{template}", base | (context or {}), status_code=status_code)


def see(path: str, cookies: list[Cookie] | None = None) -> Redirect:
    """The 303 of Post/Redirect/Get."""
    return Redirect(path=path, status_code=303, cookies=cookies or [])


def form_number(text: str, *, integer: bool = False) -> Any:
    """A form's number, or the text as typed, which the request model then refuses under its field."""
    text = text.strip()
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def _field_of(location: tuple[int | str, ...]) -> str:
    """The form field a request model's error location belongs to."""
    head = str(location[0]) if location else ""
    if head == "location" and len(location) > 1:
        return str(location[1])  # lat, lon
    if head == "common_names":
        return "common_name_zh"
    return head


def validated(model: type[M], data: dict[str, Any], form: dict[str, str]) -> tuple[M | None, Errors]:
    """`data` checked by the JSON API's own request model; problems keyed by form field."""
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        errors: Errors = {}
        for error in exc.errors():
            field = _field_of(error["loc"])
            errors.setdefault(field, "required" if not form.get(field, "x").strip() else "invalid")
        return None, errors


async def refused(session: AsyncSession, refusal: DomainError) -> Errors:
    """A service's refusal as a form problem (its changes rolled back); any other refusal is
    answered as an error page."""
    if refusal.problem not in PROBLEM_FIELDS:
        raise refusal
    await session.rollback()
    field, code = PROBLEM_FIELDS[refusal.problem]
    return {field: code}


def _fernet(settings: Settings) -> Fernet:
    digest = hashlib.sha256(b"canopy-console-secrets:" + settings.secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def show_once(settings: Settings, member: PortalMember, page: str, secrets: dict[str, str | None]) -> Redirect:
    """Redirect to `page`, which shows `secrets` once (see the package's docstring)."""
    payload = {"member": member.id, "page": page, "secrets": {k: v for k, v in secrets.items() if v}}
    cookie = Cookie(
        key=SECRETS_COOKIE,
        value=_fernet(settings).encrypt(json.dumps(payload).encode()).decode(),
        path="/admin",
        max_age=SECRETS_TTL_S,
        httponly=True,
        samesite="strict",
        secure=settings.env == "production",
    )
    return see(page, [cookie])


def take_secrets(request: AnyRequest, settings: Settings, member: PortalMember) -> dict[str, str]:
    """The secrets a redirect brought for this member and this page (none otherwise)."""
    token = request.cookies.get(SECRETS_COOKIE)
    if not token:
        return {}
    try:
        payload = json.loads(_fernet(settings).decrypt(token.encode(), ttl=SECRETS_TTL_S))
    except (InvalidToken, ValueError):
        return {}
    if payload.get("member") != member.id or payload.get("page") != request.url.path:
        return {}
    secrets: dict[str, str] = payload.get("secrets", {})
    return secrets


def with_secrets(page: Template, request: AnyRequest) -> Template:
    """The page that shows secrets deletes their cookie: they are shown this once."""
    if request.cookies.get(SECRETS_COOKIE) is not None:
        page.delete_cookie(SECRETS_COOKIE, path="/admin")
    return page


class ConsolePage(Controller):
    """Base of the console's controllers: operators only, left out of the OpenAPI document."""

    include_in_schema = False
    dependencies = {"member": Provide(operator_member)}


async def ngo_names(session: AsyncSession) -> dict[str, str]:
    """NGO id -> name, to name the NGO of each order or delivery listed."""
    return {ngo.id: ngo.name for ngo in await ngos.list_ngos(session)}

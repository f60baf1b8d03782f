"""`/auth` and `/me` (SPEC 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromHeader, FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts import service as accounts
from server.auth import OperatorController, UserController
from server.db import Database
from server.dependencies import client_address
from server.errors import problems
from server.notifications import service as notifications
from server.settings import Settings
from server.social import friends as social
from server.throttle import Throttle
from server.users import service
from server.users.models import User
from server.users.schemas import (
    AdminUserPublic,
    LoginRequest,
    RefreshRequest,
    Registered,
    RegisterRequest,
    SuspendRequest,
    Tokens,
    UpdateMeRequest,
    UserPublic,
)
from server.users.security import Passwords
from server.validation import ResourceId

AcceptLanguage = Annotated[
    str | None, HeaderParameter(name="Accept-Language", description="A new account's language if the body names none")
]


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post(
        "/register",
        status_code=201,
        responses=problems("handle-taken", "mail-throttled", "throttle-unavailable"),
        issues_credentials=True,
    )
    async def register(
        self,
        request: Request,
        settings: NamedDependency[Settings],
        passwords: NamedDependency[Passwords],
        throttle: NamedDependency[Throttle],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        data: JSONBody[RegisterRequest],
        accept_language: FromHeader[AcceptLanguage] = None,
    ) -> Registered:
        """Create an account and sign it in (SPEC 2): handle 3-30 of `[a-z0-9_]`, unique case-insensitively; password
        10-128 characters. An `email` is kept unverified and mailed a verification link (SPEC 11.1). The tokens
        are shown once: a repeated `Idempotency-Key` answers 409 instead of a copy."""
        # Counted before the request's transaction starts (its own transaction needs the writer).
        may_mail = await throttle.mail_allowed(data.email, client_address(request)) if data.email else False
        user, tokens = await service.register(
            db_session, settings, passwords, data, now, accept_language, request.headers.get("user-agent")
        )
        if data.email:
            await accounts.set_email(db_session, settings, user, data.email, may_mail, now)
        return Registered(user=service.to_public(user, now), **tokens.model_dump())

    @post(
        "/login",
        status_code=200,
        responses=problems("invalid-credentials", "account-suspended", "login-throttled", "throttle-unavailable"),
        issues_credentials=True,
    )
    async def login(
        self,
        settings: NamedDependency[Settings],
        database: NamedDependency[Database],
        passwords: NamedDependency[Passwords],
        throttle: NamedDependency[Throttle],
        request: Request,
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[LoginRequest],
    ) -> Tokens:
        """Sign in with handle and password -> tokens (SPEC 2). An unknown handle and a wrong password get the same
        401; failed logins are throttled per handle and per client address (429 with `Retry-After`)."""
        return await service.login(
            db_session,
            database,
            settings,
            passwords,
            throttle,
            data.handle,
            data.password,
            client_address(request),
            request.headers.get("user-agent"),
        )

    @post("/refresh", status_code=200, responses=problems("invalid-refresh-token"), issues_credentials=True)
    async def refresh(
        self,
        request: Request,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[RefreshRequest],
    ) -> Tokens:
        """Trade a refresh token for new tokens (SPEC 2); the old refresh token stops working at once."""
        return await service.refresh(db_session, settings, data.refresh_token, request.headers.get("user-agent"))

    @post("/logout", status_code=204)
    async def logout(self, db_session: NamedDependency[AsyncSession], data: JSONBody[RefreshRequest]) -> None:
        """Revoke a refresh token (SPEC 2); an unknown or already revoked one answers 204 too, so it may be repeated."""
        await service.logout(db_session, data.refresh_token)


class MeController(UserController):
    path = "/me"
    tags = ["me"]

    @get("/")
    async def read(self, current_user: NamedDependency[User], now: NamedDependency[datetime]) -> UserPublic:
        """The signed-in user's own account (SPEC 1)."""
        return service.to_public(current_user, now)

    @patch("/", responses=problems("timezone-change-too-soon"))
    async def update(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        data: JSONBody[UpdateMeRequest],
    ) -> UserPublic:
        """Change display name, timezone, `allow_steal`, language or `public_profile`; fields left out stay as they
        are (SPEC 2). A timezone change takes effect at the next local midnight, at most once per 7 days."""
        user = await service.update_me(db_session, settings, current_user, data, now)
        return service.to_public(user, now)

    @delete("/", status_code=204)
    async def remove(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
    ) -> None:
        """Delete the account (SPEC 2): it is anonymised, its handle freed, its friends and credentials removed; its
        ledger entries and certificates stay."""
        await service.delete_me(db_session, current_user, now)
        await social.forget_user(db_session, current_user.id, now)
        await notifications.forget_user(db_session, current_user.id)


HandleQuery = Annotated[str, QueryParameter(min_length=1, max_length=64, description="A user's handle")]


class AdminUserController(OperatorController):
    """Find a user by handle; suspend with a reason and unsuspend (SPEC 12.4)."""

    path = "/admin/users"

    @get("/", responses=problems("user-not-found"))
    async def find(self, db_session: NamedDependency[AsyncSession], handle: FromQuery[HandleQuery]) -> AdminUserPublic:
        """Operator: a user by handle, with suspension state (SPEC 12.4)."""
        return service.to_admin(await service.find_by_handle(db_session, handle))

    @post("/{user_id:str}/suspend", status_code=200, responses=problems("user-not-found"))
    async def suspend(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        user_id: FromPath[ResourceId],
        data: JSONBody[SuspendRequest],
    ) -> AdminUserPublic:
        """Operator: suspend a user with a reason (SPEC 12.4): their tokens and sign-in are refused until
        unsuspended; repeating it changes only the reason."""
        return service.to_admin(await service.set_suspension(db_session, user_id, data.reason, now))

    @post("/{user_id:str}/unsuspend", status_code=200, responses=problems("user-not-found"))
    async def unsuspend(
        self, db_session: NamedDependency[AsyncSession], now: NamedDependency[datetime], user_id: FromPath[ResourceId]
    ) -> AdminUserPublic:
        """Operator: lift a suspension (SPEC 12.4); repeating it changes nothing."""
        return service.to_admin(await service.set_suspension(db_session, user_id, None, now))

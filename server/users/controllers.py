"""`/auth` and `/me` (SPEC 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromHeader, HeaderParameter, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts import service as accounts
from server.auth import UserController
from server.db import Database
from server.errors import problems
from server.notifications import service as notifications
from server.settings import Settings
from server.social import friends as social
from server.throttle import Throttle, client_address
from server.users import service
from server.users.models import User
from server.users.schemas import (
    LoginRequest,
    RefreshRequest,
    Registered,
    RegisterRequest,
    Tokens,
    UpdateMeRequest,
    UserPublic,
)
from server.users.security import Passwords

AcceptLanguage = Annotated[
    str | None, HeaderParameter(name="Accept-Language", description="A new account's language if the body names none")
]


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/register", status_code=201, responses=problems(409, 429), issues_credentials=True)
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
        """An `email` is kept unverified and mailed a verification link (SPEC 11.1)."""
        # Counted before the request's transaction starts (its own transaction needs the writer).
        may_mail = await throttle.mail_allowed(data.email, client_address(request)) if data.email else False
        user, tokens = await service.register(
            db_session, settings, passwords, data, now, accept_language, request.headers.get("user-agent")
        )
        if data.email:
            await accounts.set_email(db_session, settings, user, data.email, may_mail, now)
        return Registered(user=service.to_public(user, now), **tokens.model_dump())

    @post("/login", status_code=200, responses=problems(401, 429), issues_credentials=True)
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

    @post("/refresh", status_code=200, responses=problems(401), issues_credentials=True)
    async def refresh(
        self,
        request: Request,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[RefreshRequest],
    ) -> Tokens:
        return await service.refresh(db_session, settings, data.refresh_token, request.headers.get("user-agent"))

    @post("/logout", status_code=204)
    async def logout(self, db_session: NamedDependency[AsyncSession], data: JSONBody[RefreshRequest]) -> None:
        await service.logout(db_session, data.refresh_token)


class MeController(UserController):
    path = "/me"
    tags = ["me"]

    @get("/")
    async def read(self, current_user: NamedDependency[User], now: NamedDependency[datetime]) -> UserPublic:
        return service.to_public(current_user, now)

    @patch("/", responses=problems(409))
    async def update(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        data: JSONBody[UpdateMeRequest],
    ) -> UserPublic:
        user = await service.update_me(db_session, settings, current_user, data, now)
        return service.to_public(user, now)

    @delete("/", status_code=204)
    async def remove(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
    ) -> None:
        await service.delete_me(db_session, current_user, now)
        await social.forget_user(db_session, current_user.id, now)
        await notifications.forget_user(db_session, current_user.id)

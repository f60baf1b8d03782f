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


HandleQuery = Annotated[str, QueryParameter(min_length=1, max_length=64, description="A user's handle")]


class AdminUserController(OperatorController):
    """Find a user by handle; suspend with a reason and unsuspend (SPEC 12.4)."""

    path = "/admin/users"

    @get("/", responses=problems(404))
    async def find(self, db_session: NamedDependency[AsyncSession], handle: FromQuery[HandleQuery]) -> AdminUserPublic:
        return service.to_admin(await service.find_by_handle(db_session, handle))

    @post("/{user_id:str}/suspend", status_code=200, responses=problems(404))
    async def suspend(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        user_id: FromPath[ResourceId],
        data: JSONBody[SuspendRequest],
    ) -> AdminUserPublic:
        return service.to_admin(await service.set_suspension(db_session, user_id, data.reason, now))

    @post("/{user_id:str}/unsuspend", status_code=200, responses=problems(404))
    async def unsuspend(
        self, db_session: NamedDependency[AsyncSession], now: NamedDependency[datetime], user_id: FromPath[ResourceId]
    ) -> AdminUserPublic:
        return service.to_admin(await service.set_suspension(db_session, user_id, None, now))

"""`/auth/verify-email`, `/auth/password-reset`, `/auth/logout-all`, `/me/email`, `/me/password`,
`/me/sessions` (SPEC 11.1)."""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts import service
from server.accounts.schemas import (
    Accepted,
    EmailRequest,
    PasswordChange,
    PasswordResetConfirm,
    SessionPublic,
    TokenRequest,
)
from server.auth import UserController, bearer_token
from server.dependencies import client_address
from server.errors import problems
from server.pagination import Cursor, Limit, Page
from server.settings import Settings
from server.throttle import Throttle
from server.users.models import User
from server.users.security import Passwords, read_access_token
from server.users.service import end_all_sessions
from server.validation import ResourceId


class RecoveryController(Controller):
    """The links' endpoints: anyone holding a mailed token."""

    path = "/auth"
    tags = ["auth"]

    @post("/verify-email", status_code=204, responses=problems("invalid-token", "email-taken"))
    async def verify_email(self, db_session: NamedDependency[AsyncSession], data: JSONBody[TokenRequest]) -> None:
        """Verify an address with the token of a mailed link (SPEC 11.1); each token works once."""
        await service.verify_email(db_session, data.token)

    @post("/password-reset", status_code=202, responses=problems("mail-throttled", "throttle-unavailable"))
    async def password_reset(
        self,
        request: Request,
        settings: NamedDependency[Settings],
        throttle: NamedDependency[Throttle],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        data: JSONBody[EmailRequest],
    ) -> Response[Accepted]:
        """Mail a password-reset link to a verified address (SPEC 11.1). The answer is the same 202 whether or not an
        account has that address."""
        may_mail = await throttle.mail_allowed(data.email, client_address(request))
        await service.request_password_reset(db_session, settings, data.email, may_mail, now)
        return Response(Accepted(detail=service.RESET_ACCEPTED), status_code=202)

    @post("/password-reset/confirm", status_code=204, responses=problems("invalid-token"))
    async def confirm_password_reset(
        self,
        passwords: NamedDependency[Passwords],
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[PasswordResetConfirm],
    ) -> None:
        """Set a new password with the token of a reset link (SPEC 11.1); every session of the account ends."""
        await service.confirm_password_reset(db_session, passwords, data.token, data.password)


class LogoutAllController(UserController):
    path = "/auth"
    tags = ["auth"]

    @post("/logout-all", status_code=204)
    async def logout_all(self, db_session: NamedDependency[AsyncSession], current_user: NamedDependency[User]) -> None:
        """Sign out everywhere (SPEC 11.1): every session of the user ends, refresh tokens and access tokens alike."""
        await end_all_sessions(db_session, current_user.id)


class MyAccountController(UserController):
    path = "/me"
    tags = ["me"]

    @put("/email", status_code=202, responses=problems("mail-throttled", "throttle-unavailable"))
    async def set_email(
        self,
        request: Request,
        settings: NamedDependency[Settings],
        throttle: NamedDependency[Throttle],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        data: JSONBody[EmailRequest],
    ) -> Response[Accepted]:
        """Set the account's email (SPEC 11.1): kept unverified and a verification link mailed; the same 202 for an
        address another account has verified (verifying it then answers 409 `email-taken`)."""
        await service.release_write_lock(db_session)
        may_mail = await throttle.mail_allowed(data.email, client_address(request))
        await service.set_email(db_session, settings, current_user, data.email, may_mail, now)
        return Response(Accepted(detail=service.EMAIL_ACCEPTED), status_code=202)

    @post("/password", status_code=204, responses=problems("wrong-password", "login-throttled", "throttle-unavailable"))
    async def change_password(
        self,
        request: Request,
        passwords: NamedDependency[Passwords],
        throttle: NamedDependency[Throttle],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        data: JSONBody[PasswordChange],
    ) -> None:
        """Change the password (SPEC 11.1); a wrong `current_password` counts as a failed login. Every session ends,
        this one too: sign in again with the new password."""
        await service.change_password(
            db_session,
            passwords,
            throttle,
            current_user,
            data.current_password,
            data.new_password,
            client_address(request),
        )

    @get("/sessions")
    async def sessions(
        self,
        request: Request,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[SessionPublic]:
        """The user's live sessions (refresh tokens), newest first (SPEC 11.1); `current` marks the one of this
        access token."""
        claims = read_access_token(settings, bearer_token(request) or "")
        return await service.list_sessions(
            db_session, current_user.id, claims.session_id if claims else None, cursor, limit
        )

    @delete("/sessions/{session_id:str}", status_code=204, responses=problems("not-found"))
    async def end_session(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        session_id: FromPath[ResourceId],
    ) -> None:
        """End one session (SPEC 11.1): its refresh token stops working at once; an access token already issued to it
        runs out within `expires_in` (`POST /auth/logout-all` ends those too)."""
        await service.end_session(db_session, current_user.id, session_id)

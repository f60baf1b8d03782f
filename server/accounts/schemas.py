"""Request and response shapes of account recovery and sessions (SPEC 11.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field
from sqlmodel import SQLModel

from server.users.schemas import EmailAddress, Password
from server.validation import RequestModel, Text

# Any string: one that is not a token we could have issued is answered `invalid-token`, like an
# unknown one, rather than as a validation error.
LinkToken = Annotated[Text, Field(max_length=1024, description="The token of the mailed link")]


class EmailRequest(RequestModel):
    email: EmailAddress


class TokenRequest(RequestModel):
    token: LinkToken


class PasswordResetConfirm(RequestModel):
    token: LinkToken
    password: Password


class PasswordChange(RequestModel):
    current_password: Annotated[Text, Field(min_length=1, max_length=128)]
    new_password: Password


class Accepted(SQLModel):
    """A 202 that says the same whatever happened next (no account enumeration)."""

    detail: str


class SessionPublic(SQLModel):
    id: str
    created_at: datetime
    last_used_at: datetime | None = None
    user_agent: str | None = None
    current: bool

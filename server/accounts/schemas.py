"""Request and response shapes of account recovery and sessions (SPEC 11.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field
from sqlmodel import SQLModel

from server.openapi import examples
from server.users.schemas import EmailAddress, Password
from server.validation import RequestModel, Text

# Any string: one that is not a token we could have issued is answered `invalid-token`, like an
# unknown one, rather than as a validation error.
LinkToken = Annotated[Text, Field(max_length=1024, description="The token of the mailed link")]


class EmailRequest(RequestModel):
    model_config = examples({"email": "mei@example.org"})

    email: EmailAddress


class TokenRequest(RequestModel):
    model_config = examples({"token": "KrojqGIKn2bsGFgBAvzjd2p4DMTFjBmpcijzlraxjlQ"})

    token: LinkToken


class PasswordResetConfirm(RequestModel):
    model_config = examples({"token": "7kZDopTza9xfrSTCP8IMVtWlYViDAX0ppjAYRp8MgBg", "password": "new-long-passphrase"})

    token: LinkToken
    password: Password


class PasswordChange(RequestModel):
    model_config = examples({"current_password": "correct-horse-battery", "new_password": "new-long-passphrase"})

    current_password: Annotated[Text, Field(min_length=1, max_length=128)]
    new_password: Password


class Accepted(SQLModel):
    """A 202 that says the same whatever happened next (no account enumeration)."""

    model_config = examples({"detail": "If the address belongs to an account, a link is on its way."})

    detail: str


class SessionPublic(SQLModel):
    model_config = examples(
        {
            "id": "0193e2b4-7a0b-7c1d-8e2f-3a4b5c6d7e8f",
            "created_at": "2026-03-14T07:00:00Z",
            "last_used_at": "2026-03-14T21:40:00Z",
            "user_agent": "Canopy/2.4.1 (iPhone; iOS 18.3)",
            "current": True,
        }
    )

    id: str
    created_at: datetime
    last_used_at: datetime | None = None
    user_agent: str | None = None
    current: bool

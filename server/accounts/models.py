"""Single-use tokens of mailed links."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.db import new_id


class AccountToken(SQLModel, table=True):
    """A link's token, stored as its SHA-256 (the token itself is only in the mail). It expires
    by the wall clock, like every credential (SPEC 2), and is spent by setting `used_at`."""

    __tablename__ = "account_tokens"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    purpose: str = Field(max_length=20)  # verify-email | password-reset
    token_hash: str = Field(max_length=64, unique=True)
    # The address the link was mailed to (for verify-email: the address it verifies).
    email: str = Field(max_length=254)
    expires_at: datetime = Field(index=True)  # `prune` deletes by it and by used_at
    used_at: datetime | None = Field(default=None, index=True)
    created_at: datetime

"""Members, their invitations and their web sessions (SPEC 12.3)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from server.db import new_id


class OrgKind(StrEnum):
    """Which portal a member signs in to: `org_id` names the NGO or the partner (none for operators)."""

    NGO = "ngo"
    PARTNER = "partner"
    OPERATOR = "operator"


class MemberRole(StrEnum):
    """Owners manage keys and members; staff do the daily work."""

    OWNER = "owner"
    STAFF = "staff"


class Member(SQLModel, table=True):
    """A person in one organisation. `password_hash` is empty until the invitation is accepted;
    `session_epoch` moves on when all their sessions must end (removal, password change)."""

    __tablename__ = "members"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    email: str = Field(max_length=254, unique=True)
    name: str | None = Field(default=None, max_length=120)
    org_kind: str = Field(max_length=10)
    org_id: str | None = Field(default=None, max_length=36, index=True)
    role: str = Field(max_length=10)
    password_hash: str | None = Field(default=None, max_length=200)
    # Fernet token of the TOTP secret (server.crypto.SecretBox) once the second factor is on.
    totp_secret: str | None = Field(default=None, max_length=500)
    session_epoch: int = 0
    invited_at: datetime
    joined_at: datetime | None = None
    removed_at: datetime | None = None


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored."""

    __tablename__ = "web_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    member_id: str = Field(foreign_key="members.id", index=True, max_length=36)
    member_epoch: int
    csrf_token: str = Field(max_length=64)
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None = None

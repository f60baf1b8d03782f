"""Members, their invitations and their web sessions (SPEC 12.3)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, text
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


class MemberStatus(StrEnum):
    """`invited` until the invitation is accepted (a name and a password chosen), then `active`."""

    INVITED = "invited"
    ACTIVE = "active"


class Member(SQLModel, table=True):
    """A person in one organisation. `password_hash` is empty until the invitation is accepted;
    `session_epoch` moves on when all their sessions must end (removal, password change).

    An address belongs to one live member at a time; a removed member's row stays (with its
    address) and the address may be invited again."""

    __tablename__ = "members"
    __table_args__ = (
        Index(
            "uq_members_live_email",
            "email",
            unique=True,
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    email: str = Field(max_length=254)
    name: str | None = Field(default=None, max_length=120)
    org_kind: str = Field(max_length=10)
    org_id: str | None = Field(default=None, max_length=36, index=True)
    role: str = Field(max_length=10)
    password_hash: str | None = Field(default=None, max_length=200)
    # Fernet token of the TOTP secret (server.crypto.SecretBox) once the second factor is on.
    totp_secret: str | None = Field(default=None, max_length=500)
    # The RFC 6238 time step of the last code accepted: a code is good once, never replayed.
    totp_last_step: int | None = None
    # SHA-256 of the pending invitation's token (the link is shown and mailed once), until accepted.
    invitation_hash: str | None = Field(default=None, max_length=64, unique=True)
    invitation_expires_at: datetime | None = None
    session_epoch: int = 0
    invited_at: datetime
    joined_at: datetime | None = None
    removed_at: datetime | None = None

    @property
    def status(self) -> MemberStatus:
        return MemberStatus.ACTIVE if self.joined_at is not None else MemberStatus.INVITED


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

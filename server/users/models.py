"""Accounts and their credentials."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from server.db import new_id


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    # NULL once the account is deleted: the handle is freed for someone else.
    handle: str | None = Field(default=None, max_length=30, unique=True)
    display_name: str = Field(max_length=60)
    password_hash: str | None = Field(default=None, max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    # A timezone change waits for the user's next local midnight (SPEC 1).
    pending_timezone: str | None = Field(default=None, max_length=64)
    pending_timezone_at: datetime | None = None
    timezone_changed_at: datetime | None = None
    allow_steal: bool = True
    # Shows the page /u/{handle} to anyone (SPEC 12.2); off until the user turns it on.
    public_profile: bool = False
    # `en` or `zh-Hans` (server/i18n.py): mail, notifications and pages speak it.
    language: str = Field(default="en", max_length=8)
    # The address last given (shown as `email`), and the verified one, lowercased: password resets
    # go to it and it belongs to one account. They differ while a new address awaits verification.
    email: str | None = Field(default=None, max_length=254)
    verified_email: str | None = Field(default=None, max_length=254, unique=True)
    # Access tokens carry the epoch they were issued in; ending every session moves it on.
    session_epoch: int = 0
    # Play state: consecutive local days with an own collection, and the shields it earned.
    streak_days: int = 0
    last_collect_day: date | None = None
    shields: int = 0
    shield_until: datetime | None = None
    created_at: datetime
    deleted_at: datetime | None = None
    # Set by an operator (SPEC 12.4): sessions end, credentials get 403, balls can't be stolen.
    suspended_at: datetime | None = None
    suspension_reason: str | None = Field(default=None, max_length=500)


class RefreshToken(SQLModel, table=True):
    """A session: its refresh token is opaque and stored hashed; using one replaces it by a new
    one (rotation) in the same row, so the session keeps its id while its token changes."""

    __tablename__ = "refresh_tokens"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime = Field(index=True)  # `prune` deletes by it
    revoked_at: datetime | None = Field(default=None, index=True)  # `prune` deletes by it
    created_at: datetime
    last_used_at: datetime | None = None
    user_agent: str | None = Field(default=None, max_length=200)

"""Notification settings, devices and the notification outbox (SPEC 11.2)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.db import new_id


class EventType(StrEnum):
    BALL_RIPE = "ball.ripe"
    BALL_EXPIRING = "ball.expiring"
    BALL_STOLEN = "ball.stolen"
    FRIEND_WATERED = "friend.watered"
    FRIEND_REQUESTED = "friend.requested"
    TREE_PLANTED = "tree.planted"
    TREE_REJECTED = "tree.rejected"
    TREE_REFUNDED = "tree.refunded"
    SHIELD_EARNED = "shield.earned"


class NotificationSettings(SQLModel, table=True):
    """A user's choices; no row means the defaults (push on for every type, email for tree.planted)."""

    __tablename__ = "notification_settings"

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=36)
    push: bool = True
    email: bool = True
    # The event types switched off, space-separated (few, and read only with the row).
    disabled_events: str = Field(default="", max_length=300)
    quiet_start: str | None = Field(default=None, max_length=5)  # "HH:MM", local time
    quiet_end: str | None = Field(default=None, max_length=5)
    updated_at: datetime


class Device(SQLModel, table=True):
    """A phone or browser the push relay can reach; a token belongs to one user at a time."""

    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_user_id_last_seen_at", "user_id", "last_seen_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", max_length=36)
    platform: str = Field(max_length=10)  # ios | android | web
    token: str = Field(sa_column=Column(Text, nullable=False))
    # sha256 of the token: unique, and short enough for an index whatever the token's length.
    token_hash: str = Field(max_length=64, unique=True)
    app_version: str | None = Field(default=None, max_length=40)
    created_at: datetime
    last_seen_at: datetime


class Notification(SQLModel, table=True):
    """One thing to tell one user, unique by (user, type, key). `due_at` is when it may be
    released (quiet hours move it; a release in progress leases it); releasing composes the text in
    the user's language and queues one push per device."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "type", "key", name="uq_notifications_user_type_key"),
        Index("ix_notifications_due", "status", "due_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", max_length=36)
    type: str = Field(max_length=20)
    key: str = Field(max_length=80)
    # Aggregates (digests, theft summaries) in columns, so set-based jobs can write them in SQL.
    count: int | None = None
    amount_g: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    friend_id: str | None = Field(default=None, max_length=36)
    data: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON object
    status: str = Field(default="pending", max_length=10)  # pending | sent | skipped
    due_at: datetime
    released_at: datetime | None = Field(default=None, index=True)  # `prune` deletes by it
    created_at: datetime


class PushDelivery(SQLModel, table=True):
    """One notification for one device; `payload` is the `notification` object sent to the relay."""

    __tablename__ = "push_deliveries"
    __table_args__ = (Index("ix_push_deliveries_due", "status", "next_attempt_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    notification_id: str = Field(max_length=36, index=True)
    device_id: str = Field(
        sa_column=Column(String(36), ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=10)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime
    first_attempt_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = None
    created_at: datetime = Field(index=True)  # `prune` deletes by it


class TheftNote(SQLModel, table=True):
    """A steal waiting for its hour's summary ("3 friends took 68 g"); deleted once summarised."""

    __tablename__ = "notification_thefts"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", max_length=36)
    thief_id: str = Field(max_length=36)
    amount_g: int = Field(sa_column=Column(BigInteger, nullable=False))
    hour: str = Field(max_length=13, index=True)  # UTC "YYYY-MM-DDTHH"
    created_at: datetime

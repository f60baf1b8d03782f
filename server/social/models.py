"""Friends and play: friend requests, friendships, steals and the per-day play counters."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from server.db import new_id


class RequestStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class FriendRequest(SQLModel, table=True):
    """A request from one user to another. `pair_key` names the pair whichever way round, so
    the database refuses a second pending request between the same two users."""

    __tablename__ = "friend_requests"
    __table_args__ = (
        Index(
            "uq_friend_requests_one_pending_per_pair",
            "pair_key",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_friend_requests_to_status_id", "to_user_id", "status", "id"),
        Index("ix_friend_requests_from_status_id", "from_user_id", "status", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    from_user_id: str = Field(foreign_key="users.id", max_length=36)
    to_user_id: str = Field(foreign_key="users.id", max_length=36)
    pair_key: str = Field(max_length=73)
    status: str = Field(default=RequestStatus.PENDING, max_length=10)
    created_at: datetime
    responded_at: datetime | None = None


class Friendship(SQLModel, table=True):
    """Friendship is mutual and stored both ways round: (a, b) and (b, a)."""

    __tablename__ = "friendships"
    __table_args__ = (
        UniqueConstraint("user_id", "friend_id", name="uq_friendships_user_friend"),
        Index("ix_friendships_user_id_id", "user_id", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", max_length=36)
    friend_id: str = Field(foreign_key="users.id", max_length=36)
    created_at: datetime


class Steal(SQLModel, table=True):
    """One thief took `grams` from one ball; a thief steals from a ball at most once."""

    __tablename__ = "steals"
    __table_args__ = (
        UniqueConstraint("ball_id", "thief_id", name="uq_steals_ball_thief"),
        CheckConstraint("grams > 0", name="grams_positive"),
        Index("ix_steals_thief_id_id", "thief_id", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    ball_id: str = Field(foreign_key="balls.id", max_length=36)
    owner_id: str = Field(foreign_key="users.id", max_length=36)
    thief_id: str = Field(foreign_key="users.id", max_length=36)
    grams: int = Field(sa_column=Column(BigInteger, nullable=False))
    local_day: date
    created_at: datetime


class PlayCounter(SQLModel, table=True):
    """How many times a user did something limited per local day (steals; waterings of one
    friend). Raised by one guarded upsert, so concurrent requests cannot pass the limit."""

    __tablename__ = "play_counters"
    __table_args__ = (CheckConstraint("count >= 0", name="count_non_negative"),)

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=36)
    kind: str = Field(primary_key=True, max_length=10)
    # the friend watered, or "" for steals (a primary key column cannot be NULL)
    subject_id: str = Field(default="", primary_key=True, max_length=36)
    local_day: date = Field(primary_key=True, index=True)  # `prune` deletes by it
    count: int = 0

"""The feed: what happened to a user's energy, trees and friendships (SPEC 1, 5)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from server.db import new_id


class FeedType(StrEnum):
    BALL_STOLEN = "ball.stolen"
    BALL_HELPED = "ball.helped"
    FRIEND_WATERED = "friend.watered"
    BALL_EXPIRED = "ball.expired"
    REPORT_VOIDED = "report.voided"
    TREE_QUEUED = "tree.queued"
    TREE_ORDERED = "tree.ordered"
    TREE_PLANTED = "tree.planted"
    TREE_REJECTED = "tree.rejected"
    TREE_REFUNDED = "tree.refunded"
    FRIEND_REQUESTED = "friend.requested"
    SHIELD_EARNED = "shield.earned"


class FeedItem(SQLModel, table=True):
    """One line of a user's feed; append-only. `friend_id` is the other user involved, if any."""

    __tablename__ = "feed_items"
    __table_args__ = (Index("ix_feed_items_user_id_id", "user_id", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", max_length=36)
    type: str = Field(max_length=20)
    friend_id: str | None = Field(default=None, foreign_key="users.id", max_length=36)
    amount_g: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    tree_id: str | None = Field(default=None, max_length=36)
    created_at: datetime

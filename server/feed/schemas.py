"""Feed shapes (SPEC 1)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import SQLModel


class FeedFriend(SQLModel):
    # null once that user deleted their account (display_name is then "Deleted user")
    handle: str | None
    display_name: str


class FeedItemPublic(SQLModel):
    id: str
    type: str
    created_at: datetime
    friend: FeedFriend | None = None
    amount_g: int | None = None
    tree_id: str | None = None

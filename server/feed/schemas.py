"""Feed shapes (SPEC 1)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import SQLModel

from server.openapi import examples


class FeedFriend(SQLModel):
    # null once that user deleted their account (display_name is then "Deleted user")
    handle: str | None
    display_name: str


class FeedItemPublic(SQLModel):
    model_config = examples(
        {
            "id": "0193e7d2-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
            "type": "ball.stolen",
            "created_at": "2026-03-14T08:12:00Z",
            "friend": {"handle": "arjun_k", "display_name": "Arjun K."},
            "amount_g": 10,
            "tree_id": None,
        }
    )

    id: str
    type: str
    created_at: datetime
    friend: FeedFriend | None = None
    amount_g: int | None = None
    tree_id: str | None = None

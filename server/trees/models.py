"""Virtual trees: grown with energy, then queued for a real planting."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from server.db import new_id


class TreeStatus(StrEnum):
    GROWING = "growing"
    QUEUED = "queued"
    ORDERED = "ordered"
    PLANTED = "planted"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


class Tree(SQLModel, table=True):
    __tablename__ = "trees"
    __table_args__ = (
        # At most one growing tree per user, decided by the database under concurrency.
        Index(
            "uq_trees_one_growing_per_user",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'growing'"),
            postgresql_where=text("status = 'growing'"),
        ),
        Index("ix_trees_user_id_id", "user_id", "id"),
        # The batching queue. Partial, like the growing index: a tree leaves both when it changes
        # status, so the job's claim of N trees does not add N entries to them (every UPDATE of a
        # row adds an entry to each full index it is in; `trees` is the table the job writes most).
        Index(
            "ix_trees_queued",
            "project_id",
            "queued_at",
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
        Index("ix_trees_order_id", "order_id"),  # planting: the trees of an order
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", max_length=36)
    project_id: str = Field(foreign_key="projects.id", max_length=36)
    species_id: str = Field(foreign_key="species.id", max_length=36)
    cost_g: int
    status: str = Field(default=TreeStatus.GROWING, max_length=10)
    auto_plant: bool = False
    order_id: str | None = Field(default=None, max_length=36)
    rejections: int = 0
    queued_at: datetime | None = None
    ordered_at: datetime | None = None
    planted_at: datetime | None = None
    refunded_at: datetime | None = None
    certificate_number: str | None = Field(default=None, max_length=20)
    created_at: datetime

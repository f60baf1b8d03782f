"""NGO partners who plant the real trees: their keys, planting orders, photos and plantings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

from server.db import new_id


class Ngo(SQLModel, table=True):
    __tablename__ = "ngos"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=120, unique=True)
    contact_email: str = Field(max_length=254)
    webhook_url: str | None = Field(default=None, max_length=2000)
    # Fernet token of the webhook signing secret (server.crypto.SecretBox); the secret is shown once.
    webhook_secret: str | None = Field(default=None, max_length=500)
    created_at: datetime


class NgoKey(SQLModel, table=True):
    """A bearer API key `ngo_<secret>`: only its SHA-256 is stored; the key is shown once."""

    __tablename__ = "ngo_keys"

    key_id: str = Field(primary_key=True, max_length=40)
    ngo_id: str = Field(foreign_key="ngos.id", index=True, max_length=36)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime
    revoked_at: datetime | None = None


class OrderStatus(StrEnum):
    ISSUED = "issued"
    ACKNOWLEDGED = "acknowledged"
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # by an operator (SPEC 12.4); its ordered trees went back to the queue


OPEN_ORDER_STATUSES = (OrderStatus.ISSUED, OrderStatus.ACKNOWLEDGED)
"""Orders whose trees may still be planted: the ones an operator may cancel."""


class PlantingOrder(SQLModel, table=True):
    __tablename__ = "planting_orders"
    __table_args__ = (
        Index("ix_planting_orders_ngo_id_id", "ngo_id", "id"),
        Index("ix_planting_orders_status_issued_at", "status", "issued_at"),
        Index("ix_planting_orders_project_id_issued_at", "project_id", "issued_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    project_id: str = Field(foreign_key="projects.id", max_length=36)
    ngo_id: str = Field(foreign_key="ngos.id", max_length=36)
    status: str = Field(default=OrderStatus.ISSUED, max_length=12)
    overdue: bool = False
    # trees currently in the order (ordered or planted); a rejected tree leaves it
    tree_count: int = 0
    issued_at: datetime
    acknowledged_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = Field(default=None, max_length=500)


class Photo(SQLModel, table=True):
    """An uploaded planting photo: only its re-encoded thumbnail is kept (no metadata survives)."""

    __tablename__ = "photos"
    __table_args__ = (Index("ix_photos_ngo_id_id", "ngo_id", "id"), Index("ix_photos_order_id", "order_id"))

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    ngo_id: str = Field(foreign_key="ngos.id", max_length=36)
    sha256: str = Field(max_length=64)  # of the bytes uploaded
    width: int
    height: int
    phash: str = Field(max_length=16)  # 64-bit perceptual hash, 16 hex characters
    thumbnail: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    tree_id: str | None = Field(default=None, foreign_key="trees.id", unique=True, max_length=36)
    # Uploaded in the NGO portal for an order: a planting CSV may name the photo by its file name.
    # No foreign key: it only narrows that lookup (and SQLite drops such a column only by a rebuild).
    order_id: str | None = Field(default=None, max_length=36)
    file_name: str | None = Field(default=None, max_length=255)
    created_at: datetime


class PhotoHashBand(SQLModel, table=True):
    """One of 7 slices of a used photo's perceptual hash (multi-index hashing).

    Two 64-bit hashes within Hamming distance 6 agree exactly on at least one of 7 disjoint
    slices (pigeonhole), so near-duplicates are found by an indexed equality lookup.
    """

    __tablename__ = "photo_hash_bands"

    band: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    value: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    photo_id: str = Field(foreign_key="photos.id", primary_key=True, max_length=36)


class Planting(SQLModel, table=True):
    """An accepted planting confirmation (one per tree)."""

    __tablename__ = "plantings"

    tree_id: str = Field(foreign_key="trees.id", primary_key=True, max_length=36)
    order_id: str = Field(foreign_key="planting_orders.id", index=True, max_length=36)
    planted_at: datetime
    lat: float
    lon: float
    photo_id: str = Field(foreign_key="photos.id", max_length=36)
    created_at: datetime


class Rejection(SQLModel, table=True):
    """An NGO's refusal of a tree in an order (the tree went back to the queue or was refunded)."""

    __tablename__ = "tree_rejections"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    tree_id: str = Field(foreign_key="trees.id", index=True, max_length=36)
    order_id: str = Field(foreign_key="planting_orders.id", index=True, max_length=36)
    reason: str = Field(max_length=500)
    refunded: bool = False
    created_at: datetime

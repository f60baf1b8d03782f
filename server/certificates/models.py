"""Certificates: a frozen record of one real tree, numbered when its planting is accepted."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class CertificateCounter(SQLModel, table=True):
    """The last number issued in a UTC year; numbers restart at 1 each year and are never reused."""

    __tablename__ = "certificate_counters"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_number: int = 0


class Certificate(SQLModel, table=True):
    __tablename__ = "certificates"

    number: str = Field(primary_key=True, max_length=20)  # CNP-<year>-<8 digits>
    tree_id: str = Field(foreign_key="trees.id", unique=True, max_length=36)
    species: str = Field(max_length=80)
    scientific_name: str = Field(max_length=120)
    project: str = Field(max_length=120)
    ngo: str = Field(max_length=120)
    planted_at: datetime
    lat: float
    lon: float
    owner_display_name: str = Field(max_length=60)  # frozen at planting
    photo_id: str = Field(max_length=36)
    issued_at: datetime

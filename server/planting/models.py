"""NGO partners who plant the real trees."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.db import new_id


class Ngo(SQLModel, table=True):
    __tablename__ = "ngos"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=120, unique=True)
    contact_email: str = Field(max_length=254)
    created_at: datetime

"""Merchants, transit operators and utilities that report low-carbon actions (SPEC 7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.db import new_id


class Partner(SQLModel, table=True):
    __tablename__ = "partners"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    name: str = Field(max_length=120, unique=True)
    kind: str = Field(max_length=10)  # merchant | transit | utility
    allowed_actions: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    webhook_url: str | None = Field(default=None, max_length=2000)
    # Fernet token (server.crypto.SecretBox): the server signs webhooks with it, so it is not hashed.
    webhook_secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime


class PartnerKey(SQLModel, table=True):
    """A signing key: `key_id` is public, the secret is stored encrypted (it must be read back)."""

    __tablename__ = "partner_keys"

    key_id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(foreign_key="partners.id", index=True, max_length=36)
    secret: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime
    revoked_at: datetime | None = None


class GreenCode(SQLModel, table=True):
    """An 18-digit code a user shows at the till; redeemed by the first accepted report naming it."""

    __tablename__ = "green_codes"
    __table_args__ = (Index("ix_green_codes_user_id_expires_at", "user_id", "expires_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    code: str = Field(max_length=18, unique=True)
    user_id: str = Field(foreign_key="users.id", max_length=36)
    created_at: datetime
    expires_at: datetime = Field(index=True)  # `prune` deletes by it
    redeemed_at: datetime | None = None
    redeemed_by: str | None = Field(default=None, max_length=36)  # the partner


class PartnerLink(SQLModel, table=True):
    """A user known to a partner under `user_ref`, a pseudonymous id that differs per partner."""

    __tablename__ = "partner_links"
    __table_args__ = (UniqueConstraint("partner_id", "user_id", name="uq_partner_links_partner_user"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    partner_id: str = Field(foreign_key="partners.id", max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    user_ref: str = Field(max_length=40, unique=True)
    linked_at: datetime
    unlinked_at: datetime | None = None


class PartnerReport(SQLModel, table=True):
    """An accepted report; its first response is replayed for a repeat of the same JSON value."""

    __tablename__ = "partner_reports"
    __table_args__ = (
        UniqueConstraint("partner_id", "report_id", name="uq_partner_reports_partner_report"),
        Index("ix_partner_reports_partner_id_id", "partner_id", "id"),
        Index("ix_partner_reports_partner_id_occurred_at", "partner_id", "occurred_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    partner_id: str = Field(foreign_key="partners.id", max_length=36)
    report_id: str = Field(max_length=100)
    body_hash: str = Field(max_length=64)  # SHA-256 of the body's RFC 8785 canonical form
    user_id: str | None = Field(default=None, foreign_key="users.id", max_length=36)
    user_ref: str | None = Field(default=None, max_length=40)
    response: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # the first 201 body
    total_g: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    occurred_at: datetime | None = None
    created_at: datetime
    voided_at: datetime | None = None
    void_reason: str | None = Field(default=None, max_length=500)
    void_response: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ActionUsage(SQLModel, table=True):
    """Units and grams a user earned for one action in one local day (`YYYY-MM-DD`) or month
    (`YYYY-MM`) of `occurred_at`: what the caps count. Voids do not give room back (SPEC 4.1)."""

    __tablename__ = "action_usage"

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=36)
    action_code: str = Field(primary_key=True, max_length=40)
    period: str = Field(primary_key=True, max_length=10)
    units: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    grams: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class PartnerRefusal(SQLModel, table=True):
    """A signed request Canopy refused, kept so the partner's integrators can see why (SPEC 12.4):
    the newest 100 per partner. `signed` is the string Canopy signed, for a bad signature only."""

    __tablename__ = "partner_refusals"
    __table_args__ = (Index("ix_partner_refusals_partner_id_id", "partner_id", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    partner_id: str = Field(foreign_key="partners.id", max_length=36)
    key_id: str = Field(max_length=40)
    method: str = Field(max_length=10)
    target: str = Field(max_length=2000)  # path and query as sent
    status: int
    problem: str = Field(max_length=100)
    detail: str = Field(sa_column=Column(Text, nullable=False))
    signed: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime

"""Ledger shapes (SPEC 4.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import SQLModel


class LedgerEntryPublic(SQLModel):
    id: str
    transaction_id: str
    kind: str
    account: str
    amount_g: int
    ball_id: str | None
    tree_id: str | None
    created_at: datetime


class AuditReport(SQLModel):
    ok: bool
    issued_g: int
    in_balls_g: int
    in_balances_g: int
    spent_g: int
    expired_g: int
    owed_g: int
    mismatches: list[dict[str, Any]]

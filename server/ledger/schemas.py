"""Ledger shapes (SPEC 4.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import SQLModel

from server.openapi import examples


class LedgerEntryPublic(SQLModel):
    model_config = examples(
        {
            "id": "0193e8e3-6f7a-7b8c-9d0e-1f2a3b4c5d6e",
            "transaction_id": "0193e8e3-6f70-7b8c-9d0e-aa2a3b4c5d6e",
            "kind": "collect",
            "account": "balance",
            "amount_g": 94,
            "ball_id": "0193e4a3-77c1-7f20-a5b4-0c9d8e7f6a15",
            "tree_id": None,
            "created_at": "2026-03-14T07:30:00Z",
        }
    )

    id: str
    transaction_id: str
    kind: str
    account: str
    amount_g: int
    ball_id: str | None
    tree_id: str | None
    created_at: datetime


class AuditReport(SQLModel):
    model_config = examples(
        {
            "ok": True,
            "issued_g": 1825004,
            "in_balls_g": 40212,
            "in_balances_g": 912330,
            "spent_g": 859100,
            "expired_g": 13562,
            "owed_g": 200,
            "mismatches": [],
        }
    )

    ok: bool
    issued_g: int
    in_balls_g: int
    in_balances_g: int
    spent_g: int
    expired_g: int
    owed_g: int
    mismatches: list[dict[str, Any]]

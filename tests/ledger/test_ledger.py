"""The ledger (SPEC 4.3): zero-sum transactions, a user's own entries, and an audit that catches drift."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from server.db import Database
from tests.api import Api


async def test_my_ledger_lists_only_my_entries_and_each_transaction_sums_to_zero(api: Api) -> None:
    alice, bob = await api.register(), await api.register()
    await alice.walk(5_000)
    await bob.walk(6_000)
    await api.advance_to_next_morning()
    await alice.collect_all()

    entries = (await alice.get("/v1/me/ledger")).json()["items"]
    # newest first: the collect's two legs, then the award
    assert entries[2]["kind"] == "award" and (entries[2]["account"], entries[2]["amount_g"]) == ("ball", 100)
    assert sorted((e["kind"], e["account"], e["amount_g"]) for e in entries[:2]) == [
        ("collect", "balance", 100),
        ("collect", "ball", -100),
    ]
    assert all(e["id"] and e["transaction_id"] for e in entries)
    bob_entries = (await bob.get("/v1/me/ledger")).json()["items"]
    assert [(e["kind"], e["amount_g"]) for e in bob_entries] == [("award", 120)]

    audit = await api.audit()
    assert audit == {
        "ok": True,
        "issued_g": 220,
        "in_balls_g": 120,
        "in_balances_g": 100,
        "spent_g": 0,
        "expired_g": 0,
        "owed_g": 0,
        "mismatches": [],
    }


async def test_the_database_refuses_a_negative_balance(api: Api) -> None:
    user = await api.register()
    await user.walk(1_000)
    database = Database(api.settings.database_url)
    try:
        for statement in (
            "UPDATE balances SET balance_g = -1 WHERE user_id = :u",
            "UPDATE balances SET owed_g = -1 WHERE user_id = :u",
            "UPDATE balls SET remaining_g = -5 WHERE user_id = :u",
        ):
            with pytest.raises(IntegrityError):
                async with database.transaction() as session:
                    await session.execute(text(statement), {"u": user.id})
    finally:
        await database.dispose()
    assert await user.balance() == 0


async def test_the_audit_catches_a_tampered_balance(api: Api) -> None:
    user = await api.register()
    await user.walk(5_000)
    await api.advance_to_next_morning()
    await user.collect_all()
    database = Database(api.settings.database_url)
    try:
        async with database.transaction() as session:
            await session.execute(
                text("UPDATE balances SET balance_g = balance_g + 7 WHERE user_id = :u"), {"u": user.id}
            )
        audit = await api.audit()
        assert audit["ok"] is False
        assert {"kind": "balance", "id": user.id, "stored_g": 107, "ledger_g": 100} in audit["mismatches"]
        async with database.transaction() as session:
            await session.execute(
                text("UPDATE balances SET balance_g = balance_g - 7 WHERE user_id = :u"), {"u": user.id}
            )
        assert (await api.audit())["ok"] is True
    finally:
        await database.dispose()

"""Credits from play pay a user's debt first (SPEC 4.3).

Debt comes from voids, which the partners work adds; until then the test writes a void-like
transaction straight through the ledger service (issued <- owed), exactly as a void would leave it.
"""

from __future__ import annotations

from sqlalchemy import update

from server.db import Database
from server.ledger import service as ledger
from server.ledger.models import Account, Balance, TransactionKind
from server.ledger.service import Leg
from tests.api import Api, User, earn
from tests.social.helpers import befriend, ripe_ball, steal


async def owe(api: Api, user: User, grams: int) -> None:
    database = Database(api.settings.database_url)
    try:
        async with database.transaction() as session:
            now = await api.now()
            await ledger.post(
                session, TransactionKind.VOID, [Leg(Account.OWED, -grams, user.id), Leg(Account.ISSUED, grams)], now=now
            )
            await session.execute(
                update(Balance).where(Balance.user_id == user.id).values(owed_g=Balance.owed_g + grams)
            )
    finally:
        await database.dispose()


async def test_water_and_steals_repay_debt_first(api: Api) -> None:
    debtor = await api.register()
    giver = await api.register()
    victim = await api.register()
    await befriend(debtor, giver)
    await befriend(debtor, victim)
    await owe(api, debtor, 50)
    assert (await debtor.forest())["owed_g"] == 50
    await earn(giver, 66)

    watered = await giver.post(f"/v1/users/{debtor.handle}/water", json={"amount_g": 33})
    assert watered.status_code == 200, watered.text
    forest = await debtor.forest()
    assert (forest["balance_g"], forest["owed_g"]) == (0, 17)

    ball = await ripe_ball(victim)
    assert (await steal(debtor, victim, ball["id"])).json() == {"stolen_g": 30}
    forest = await debtor.forest()
    assert (forest["balance_g"], forest["owed_g"]) == (13, 0)
    entries = (await debtor.get("/v1/me/ledger")).json()["items"]
    assert sorted((e["kind"], e["account"], e["amount_g"]) for e in entries if e["kind"] in ("water", "steal")) == [
        ("steal", "balance", 13),
        ("steal", "owed", 17),
        ("water", "owed", 33),
    ]

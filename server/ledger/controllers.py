"""`/me/ledger` (a user's own entries) and the operator's `/admin/ledger/audit`."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import OperatorController, UserController
from server.ledger import service
from server.ledger.schemas import AuditReport, LedgerEntryPublic
from server.pagination import Cursor, Limit, Page
from server.users.models import User


class MyLedgerController(UserController):
    path = "/me/ledger"
    tags = ["energy"]

    @get("/")
    async def entries(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[LedgerEntryPublic]:
        """The user's own ledger entries on their balls, balance and debt, newest first (SPEC 4.3)."""
        entries, next_cursor = await service.entries_page(db_session, current_user.id, cursor, limit)
        return Page(items=[LedgerEntryPublic.model_validate(e) for e in entries], next_cursor=next_cursor)


class LedgerAuditController(OperatorController):
    path = "/admin/ledger/audit"

    @get("/")
    async def audit(self, db_session: NamedDependency[AsyncSession]) -> AuditReport:
        """Operator: check that energy adds up (SPEC 4.3): issued = balls + balances + spent + expired - owed, every
        transaction sums to zero, every balance equals its entries."""
        return AuditReport(**await service.audit(db_session))

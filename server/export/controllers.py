"""`/me/export` (SPEC 14)."""

from __future__ import annotations

from datetime import datetime

from litestar import get
from litestar.di import NamedDependency
from litestar.response import Stream

from server.auth import UserController
from server.db import Database
from server.export.service import export_document
from server.openapi import json_example
from server.settings import Settings
from server.users.models import User

EXPORT_EXAMPLE = {
    "profile": {"id": "01933b2e-8f4a-7c1d-9e2f-3a4b5c6d7e8f", "handle": "ada", "display_name": "Ada"},
    "email": {"status": "verified"},
    "balance": {"balance_g": 296, "owed_g": 0},
    "notification_settings": {"energy_ripe": True},
    "balls": [{"id": "01933b2f-0a1b-7c2d-8e3f-4a5b6c7d8e9f", "action": "walk", "amount_g": 296}],
    "ledger_entries": [{"kind": "collect", "amount_g": 296, "created_at": "2026-12-07T08:00:00Z"}],
    "friends": [],
}
"""A trimmed document: every section named in the description comes, most of them lists."""


class ExportController(UserController):
    path = "/me"
    tags = ["me"]

    @get(
        "/export",
        media_type="application/json",
        responses={200: json_example(EXPORT_EXAMPLE, "The export document: one JSON object, sent as an attachment")},
    )
    async def export(
        self,
        settings: NamedDependency[Settings],
        database: NamedDependency[Database],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
    ) -> Stream:
        """Everything Canopy holds about the user, as one JSON document to download: `profile`,
        `email` (the address's status), `balance` and `notification_settings`, then the lists
        `balls`, `ledger_entries`, `actions`, `steps`, `trees`, `certificates`, `friends`,
        `friend_requests`, `feed`, `devices`, `notifications`, `sessions`, `mailed_links` and
        `partner_links`, every row oldest first. No credential is in it: no password hash, no
        token or token hash, no device push token, no green code. The document is streamed a
        page at a time, so a heavy account's export starts at once and needs no more memory."""
        return Stream(
            export_document(database, current_user, now, settings.export_page_rows),
            media_type="application/json",
            headers={
                "Content-Disposition": f'attachment; filename="canopy-export-{now.date().isoformat()}.json"',
                "Cache-Control": "no-store",
            },
        )

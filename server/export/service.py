"""GET /me/export: everything Canopy holds about a user, one JSON document (SPEC 14).

Each domain answers its own sections (its `export.py`); this module only composes them. The
document is written a section at a time, and a list section a page at a time, each page read in
a short transaction of its own and sent before the next is read: memory stays bounded by a page
however much a user has done, and no database connection waits on a slow download. Pages follow
the time-ordered ids, so a row written during the export is in it or not, never twice.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.export import export_email, export_mailed_links, export_sessions
from server.certificates.export import export_certificates
from server.db import Database, session_scope
from server.energy.export import export_actions, export_steps
from server.feed.export import export_feed
from server.ledger.export import export_balance, export_balls, export_ledger_entries
from server.notifications.export import export_devices, export_notification_settings, export_notifications
from server.pagination import ExportPage
from server.partners.export import export_partner_links
from server.social.export import export_friend_requests, export_friends
from server.trees.export import export_trees
from server.users.export import export_profile
from server.users.models import User

EXPORT_FORMAT = "canopy-export/1"

ListSection = Callable[[AsyncSession, str, str | None, int], Awaitable[ExportPage]]

LIST_SECTIONS: dict[str, ListSection] = {
    "balls": export_balls,
    "ledger_entries": export_ledger_entries,
    "actions": export_actions,
    "steps": export_steps,
    "trees": export_trees,
    "certificates": export_certificates,
    "friends": export_friends,
    "friend_requests": export_friend_requests,
    "feed": export_feed,
    "devices": export_devices,
    "notifications": export_notifications,
    "sessions": export_sessions,
    "mailed_links": export_mailed_links,
    "partner_links": export_partner_links,
}
"""The lists of the document, in its order: each an array of rows, oldest first."""


def _json(value: Any) -> str:
    return json.dumps(to_jsonable_python(value), ensure_ascii=False, separators=(",", ":"))


async def export_document(database: Database, user: User, now: datetime, page_size: int) -> AsyncIterator[bytes]:
    """The document's bytes: first the one-object sections, then each list, a page per chunk."""
    async with session_scope(database.read_sessions) as session:
        head = {
            "format": EXPORT_FORMAT,
            "exported_at": now,
            "profile": export_profile(user, now),
            "email": export_email(user),
            "balance": await export_balance(session, user.id),
            "notification_settings": await export_notification_settings(session, user.id),
        }
    yield _json(head)[:-1].encode()  # the object stays open for the lists
    for name, section in LIST_SECTIONS.items():
        yield f",{_json(name)}:[".encode()
        cursor: str | None = None
        separator = ""
        while True:
            async with session_scope(database.read_sessions) as session:
                rows, cursor = await section(session, user.id, cursor, page_size)
            if rows:
                yield (separator + ",".join(_json(row) for row in rows)).encode()
                separator = ","
            if cursor is None:
                break
        yield b"]"
    yield b"}"

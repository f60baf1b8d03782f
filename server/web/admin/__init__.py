"""The operator console (SPEC 12.4): `/admin/` pages for the operators' members.

Every page is for a signed-in operator (`operator_member`: no session -> `/login`, another
portal's member -> the 403 page). Pages read and change data only through the services the JSON
API calls, so every rule, ledger entry, event and webhook is the API's. A form is read with
`read_portal_form` (its CSRF token checked before anything else), a change answers 303 to the
page that shows it (Post/Redirect/Get), and a form with bad input comes back with each problem
next to its field and the input kept (422, or the refusing rule's status).

Secrets a change makes (API keys, signing secrets, webhook secrets) are shown once without
leaving PRG: the redirect carries them in a cookie that lives 5 minutes, encrypted with a key
derived from CANOPY_SECRET_KEY and bound to the member and to the one page that shows them,
which deletes it (docs/decisions.md).

One module a group of pages; what they share is in `common`.
"""

from __future__ import annotations

from litestar import Controller

from server.web.admin.catalogue import ConsoleProjects, ConsoleSpecies
from server.web.admin.common import SECRETS_COOKIE
from server.web.admin.deliveries import ConsoleDeliveries
from server.web.admin.health import ConsoleHealth
from server.web.admin.orders_users import ConsoleOrders, ConsoleUsers
from server.web.admin.organisations import ConsoleNgos, ConsolePartners

__all__ = ["CONSOLE_PAGES", "SECRETS_COOKIE"]

CONSOLE_PAGES: list[type[Controller]] = [
    ConsoleHealth,
    ConsoleOrders,
    ConsoleNgos,
    ConsolePartners,
    ConsoleProjects,
    ConsoleSpecies,
    ConsoleUsers,
    ConsoleDeliveries,
]
"""Registered by server/app.py."""

"""The words of each notification, in the user's language (catalog: locales/.../notifications.po).

Texts are composed when a notification is released, not when the event happens, so they follow
the user's language at that time and aggregates (digests, theft summaries) read as a whole.
"""

from __future__ import annotations

from typing import Any

from server.i18n import Language, gettext, ngettext
from server.notifications.models import EventType


def _ripe(language: Language, v: dict[str, Any]) -> tuple[str, str]:
    body = ngettext(
        language,
        "%(count)d ball with %(grams)d g of energy is ready to collect.",
        "%(count)d balls with %(grams)d g of energy are ready to collect.",
        v["count"],
    )
    return gettext(language, "Your energy is ripe"), body % {"count": v["count"], "grams": v["amount_g"]}


def _expiring(language: Language, v: dict[str, Any]) -> tuple[str, str]:
    body = gettext(language, "Collect %(grams)d g of energy: it expires within %(hours)d hours.")
    return gettext(language, "Energy about to expire"), body % {"grams": v["amount_g"], "hours": v["hours"]}


def _stolen(language: Language, v: dict[str, Any]) -> tuple[str, str]:
    if v["count"] == 1:
        body = gettext(language, "%(name)s took %(grams)d g of your energy.") % {
            "name": v["friend_name"],
            "grams": v["amount_g"],
        }
    else:
        body = ngettext(
            language, "%(count)d friend took %(grams)d g", "%(count)d friends took %(grams)d g", v["count"]
        ) % {"count": v["count"], "grams": v["amount_g"]}
    return gettext(language, "Energy taken"), body


def _watered(language: Language, v: dict[str, Any]) -> tuple[str, str]:
    body = gettext(language, "%(name)s gave you %(grams)d g of energy.")
    return gettext(language, "A friend watered your tree"), body % {"name": v["friend_name"], "grams": v["amount_g"]}


def _requested(language: Language, v: dict[str, Any]) -> tuple[str, str]:
    body = gettext(language, "%(name)s wants to be your friend.") % {"name": v["friend_name"]}
    return gettext(language, "New friend request"), body


def _planted(language: Language, v: dict[str, Any]) -> tuple[str, str]:
    body = gettext(language, "Your tree is in the ground. Its certificate: %(url)s") % {"url": v.get("url", "")}
    return gettext(language, "Your tree was planted"), body


def _rejected(language: Language, v: dict[str, Any]) -> tuple[str, str]:
    body = gettext(language, "The planting partner could not plant your tree this time; it is back in the queue.")
    return gettext(language, "Planting postponed"), body


def _refunded(language: Language, v: dict[str, Any]) -> tuple[str, str]:
    body = gettext(language, "Your tree could not be planted; %(grams)d g of energy is back in your balance.")
    return gettext(language, "Energy refunded"), body % {"grams": v["amount_g"]}


def _shield(language: Language, v: dict[str, Any]) -> tuple[str, str]:
    body = gettext(language, "Seven days of collecting in a row earned you a shield.")
    return gettext(language, "Shield earned"), body


COMPOSERS = {
    EventType.BALL_RIPE: _ripe,
    EventType.BALL_EXPIRING: _expiring,
    EventType.BALL_STOLEN: _stolen,
    EventType.FRIEND_WATERED: _watered,
    EventType.FRIEND_REQUESTED: _requested,
    EventType.TREE_PLANTED: _planted,
    EventType.TREE_REJECTED: _rejected,
    EventType.TREE_REFUNDED: _refunded,
    EventType.SHIELD_EARNED: _shield,
}


def compose(language: Language, type: str, values: dict[str, Any]) -> tuple[str, str]:
    """(title, body) of a notification of `type` with `values` (count, amount_g, friend_name, ...)."""
    return COMPOSERS[EventType(type)](language, values)

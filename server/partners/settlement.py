"""Phase two of partner reports (SPEC 4.1, 7.2): `settle` gives every report phase one accepted its
energy and its response, set-based: usage rows are created and locked in one statement (sorted, so
concurrent requests lock in the same order), caps computed in memory in report order, one award per
user and action, and the action records and responses written in bulk.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog.models import ActionType
from server.db import dialect_name, for_each_dialect, new_id
from server.energy import balls as energy
from server.energy.models import ActionRecord
from server.errors import Conflict
from server.partners.models import ActionUsage, PartnerReport
from server.partners.reports import Accepted, ReportContext
from server.users.models import User
from server.users.timezones import local_day


def _periods(action: ActionType, day: date) -> list[str]:
    periods = []
    if action.daily_cap_count is not None or action.daily_cap_g is not None:
        periods.append(day.isoformat())
    if action.monthly_cap_count is not None:
        periods.append(day.isoformat()[:7])
    return periods


def capped_energy(action: ActionType, quantity: int, day: Any, month: Any) -> tuple[int, int, bool]:
    """SPEC 4.1: with k units left in the day (or month) of occurred_at, an item earns
    floor(min(q, k) x grams_per_unit / per_units), `capped` when q > k; gram caps cut the grams.
    `day` / `month` are the usage so far ([units, grams]); returns (units, grams, capped)."""
    units = quantity
    if action.daily_cap_count is not None:
        units = min(units, max(0, action.daily_cap_count - day[0]))
    if action.monthly_cap_count is not None:
        units = min(units, max(0, action.monthly_cap_count - month[0]))
    capped = units < quantity
    grams = units * action.grams_per_unit // action.per_units
    if action.daily_cap_g is not None:
        room = max(0, action.daily_cap_g - day[1])
        if grams > room:
            grams, capped = room, True
    return units, grams, capped


_USAGE_KEY = [ActionUsage.user_id, ActionUsage.action_code, ActionUsage.period]


def _lock_usage_rows(insert: Any) -> Any:
    """Create the missing usage rows and lock them all; a conflict changes nothing but takes the
    row lock and returns the row."""
    statement = insert(ActionUsage.__table__).on_conflict_do_update(
        index_elements=_USAGE_KEY, set_={"units": ActionUsage.units}
    )
    return statement.returning(*_USAGE_KEY, ActionUsage.units, ActionUsage.grams)


def _store_usage_rows(insert: Any) -> Any:
    """Write the locked usage rows back as an upsert of the new values: it goes as multi-row
    statements, where the executemany UPDATE by key it replaced was an order of magnitude slower on
    PostgreSQL (docs/benchmarks.md)."""
    statement = insert(ActionUsage.__table__)
    return statement.on_conflict_do_update(
        index_elements=_USAGE_KEY, set_={"units": statement.excluded.units, "grams": statement.excluded.grams}
    )


LOCK_USAGE = for_each_dialect(_lock_usage_rows)
STORE_USAGE = for_each_dialect(_store_usage_rows)


async def _lock_usage(session: AsyncSession, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], list[int]]:
    """Create and lock the usage rows (sorted, so concurrent requests lock in the same order)."""
    if not keys:
        return {}
    rows = [{"user_id": u, "action_code": a, "period": p, "units": 0, "grams": 0} for u, a, p in sorted(keys)]
    locked = await session.execute(LOCK_USAGE[dialect_name(session)], rows)
    return {(r.user_id, r.action_code, r.period): [r.units, r.grams] for r in locked}


async def settle(session: AsyncSession, ctx: ReportContext) -> None:
    """Phase two, set-based for every accepted report: caps, balls, action records, responses."""
    pending, now, settings = ctx.pending, ctx.now, ctx.settings
    if not pending:
        return
    keys = {
        (acc.user.id, item.action, period)
        for acc in pending
        for item in acc.data.items
        for period in _periods(ctx.actions[item.action], acc.occurred_day)
    }
    usage = await _lock_usage(session, list(keys))
    changed: set[tuple[str, str, str]] = set()
    grams_by_ball: dict[tuple[str, str], int] = {}
    users: dict[str, User] = {}
    results: list[tuple[Accepted, list[dict[str, Any]]]] = []
    for acc in pending:
        awarded = []
        for item in acc.data.items:
            action = ctx.actions[item.action]
            periods = _periods(action, acc.occurred_day)
            day_key = acc.occurred_day.isoformat()
            day = usage.get((acc.user.id, action.code, day_key), [0, 0])
            month = usage.get((acc.user.id, action.code, day_key[:7]), [0, 0])
            units, grams, capped = capped_energy(action, item.quantity, day, month)
            for period in periods:
                key = (acc.user.id, action.code, period)
                usage[key][0] += units
                usage[key][1] += grams
                changed.add(key)
            if grams:
                ball_key = (acc.user.id, action.code)
                grams_by_ball[ball_key] = grams_by_ball.get(ball_key, 0) + grams
                users[acc.user.id] = acc.user
            awarded.append({"action": action.code, "quantity": item.quantity, "energy_g": grams, "capped": capped})
        results.append((acc, awarded))

    if changed:
        rows = [
            {"user_id": u, "action_code": a, "period": p, "units": usage[(u, a, p)][0], "grams": usage[(u, a, p)][1]}
            for u, a, p in sorted(changed)
        ]
        await session.execute(STORE_USAGE[dialect_name(session)], rows)
    # One award per user and action: the report's energy gathers in the ball of the arrival day;
    # where a timezone change left that ball already ripe, the next day's takes it.
    awards = [
        energy.Award(users[user_id], code, local_day(users[user_id], now), grams)
        for (user_id, code), grams in grams_by_ball.items()
    ]
    ball_ids: dict[tuple[str, str], str] = {}
    frozen: list[energy.Award] = []
    for award, ball_id in zip(awards, await energy.award_many(session, settings, awards, now), strict=True):
        if ball_id is None:
            frozen.append(replace(award, day=award.day + timedelta(days=1)))
        else:
            ball_ids[(award.user.id, award.action_code)] = ball_id
    for award, ball_id in zip(frozen, await energy.award_many(session, settings, frozen, now), strict=True):
        if ball_id is None:  # ripe too (a jump of more than a day): the request fails, as before
            raise Conflict("That day's ball has already ripened.", problem="ball-frozen")
        ball_ids[(award.user.id, award.action_code)] = ball_id

    records: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    for acc, awarded in results:
        for item in awarded:
            records.append(
                {
                    "id": new_id(),
                    "user_id": acc.user.id,
                    "action_code": item["action"],
                    "quantity": item["quantity"],
                    "energy_g": item["energy_g"],
                    "capped": item["capped"],
                    "source": "partner",
                    "local_day": acc.occurred_day,
                    "ball_id": ball_ids[(acc.user.id, item["action"])] if item["energy_g"] else None,
                    "report_id": acc.pk,
                    "occurred_at": acc.data.occurred_at,
                    "created_at": now,
                }
            )
        total = sum(item["energy_g"] for item in awarded)
        body = {"report_id": acc.data.report_id, "user_ref": acc.user_ref, "awarded": awarded, "total_g": total}
        stored = json.dumps(body, separators=(",", ":"))
        reports.append(
            {
                "id": acc.pk,
                "user_id": acc.user.id,
                "user_ref": acc.user_ref,
                "response": stored,
                "total_g": total,
                "occurred_at": acc.data.occurred_at,
            }
        )
        acc.outcome.body, acc.outcome.total_g = body, total
        for replay in acc.replays:
            replay.raw, replay.total_g = stored, total
    if records:  # Core: the ORM's bulk insert would split rows at every change of NULL columns
        await session.execute(insert(ActionRecord.__table__), records)
    await session.execute(update(PartnerReport), reports)
    ctx.pending = []

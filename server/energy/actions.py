"""Verified actions: the day's steps (SPEC 4.1) and the list of a user's recorded actions.

A rising step count awards the difference into the day's walk ball (`balls.award`) and updates
the day's walk record, under the day's `daily_steps` row lock.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog.models import ActionType
from server.catalog.service import get_action
from server.db import dialect_name, for_each_dialect, new_id
from server.energy.balls import award, ripening_of, to_public
from server.energy.models import ActionRecord, DailySteps
from server.energy.schemas import ActionPublic, StepsPublic
from server.errors import Unprocessable
from server.ledger.models import Ball
from server.pagination import newest_first, page_of
from server.settings import Settings
from server.users.models import User
from server.users.timezones import local_day, user_zone


def walking_energy(walk: ActionType, steps: int) -> tuple[int, bool]:
    raw = steps * walk.grams_per_unit // walk.per_units
    if walk.daily_cap_g is not None and raw > walk.daily_cap_g:
        return walk.daily_cap_g, True
    return raw, False


def _walk_statements() -> tuple[dict[str, Any], Any, Any, Any]:
    """The steps report's statements, built once (named parameters, none named after a column)."""
    steps, records = DailySteps.__table__, ActionRecord.__table__
    walker_id, walk_day = (
        bindparam("walker_id", type_=steps.c.user_id.type),
        bindparam("walk_day", type_=steps.c.local_day.type),
    )

    def lock(insert_of: Any) -> Any:
        # no change on conflict: takes the day's row lock and returns the row
        statement = insert_of(steps).values(user_id=walker_id, local_day=walk_day, steps=0, energy_g=0)
        return statement.on_conflict_do_update(
            index_elements=[steps.c.user_id, steps.c.local_day], set_={"steps": steps.c.steps}
        ).returning(steps.c.steps, steps.c.energy_g)

    raise_steps = (
        update(steps)
        .where(steps.c.user_id == walker_id, steps.c.local_day == walk_day)
        .values(steps=bindparam("new_steps"), energy_g=bindparam("new_energy_g"))
    )
    update_record = (
        update(records)
        .where(records.c.user_id == walker_id, records.c.action_code == "walk", records.c.local_day == walk_day)
        .values(
            {
                **{
                    name: bindparam(f"walk_{name}", type_=records.c[name].type)
                    for name in ("quantity", "energy_g", "capped", "occurred_at")
                },
                "ball_id": func.coalesce(bindparam("walk_ball_id", type_=records.c.ball_id.type), records.c.ball_id),
            }
        )
    )
    walk_ball = select(Ball).where(Ball.user_id == walker_id, Ball.action_code == "walk", Ball.local_day == walk_day)
    return for_each_dialect(lock), raise_steps, update_record, walk_ball


LOCK_DAILY_STEPS, RAISE_DAILY_STEPS, UPDATE_WALK_RECORD, WALK_BALL = _walk_statements()


async def report_steps(
    session: AsyncSession, settings: Settings, user: User, day: date, steps: int, now: datetime
) -> StepsPublic:
    """SPEC 4.1: today's total may rise; yesterday's until its ball ripens; lower totals are ignored."""
    zone = user_zone(user, now)
    today = local_day(user, now)
    yesterday_open = day == today - timedelta(days=1) and now < ripening_of(settings, day, zone)[0]
    if day != today and not yesterday_open:
        raise Unprocessable(
            "Steps can be reported for today, and for yesterday until 07:00 today.", problem="steps-date"
        )
    if steps > settings.max_steps_per_day:
        raise Unprocessable(f"At most {settings.max_steps_per_day} steps a day.", problem="steps-range")
    walk = await get_action(session, "walk")

    the_day = {"walker_id": user.id, "walk_day": day}
    stored = (await session.execute(LOCK_DAILY_STEPS[dialect_name(session)], the_day)).one()
    stored_steps, stored_energy_g = stored.steps, stored.energy_g
    if steps > stored_steps:
        energy_g, capped = walking_energy(walk, steps)
        delta = energy_g - stored_energy_g
        await session.execute(RAISE_DAILY_STEPS, {**the_day, "new_steps": steps, "new_energy_g": energy_g})
        stored_steps, stored_energy_g = steps, energy_g
        ball_id = await award(session, settings, user, walk.code, day, delta, now) if delta > 0 else None
        await _record_walk(session, user, day, steps, energy_g, capped, ball_id, now)

    ball = (await session.execute(WALK_BALL, the_day)).scalar_one_or_none()
    return StepsPublic(
        date=day, steps=stored_steps, energy_g=stored_energy_g, ball=to_public(ball, now) if ball else None
    )


async def _record_walk(
    session: AsyncSession,
    user: User,
    day: date,
    steps: int,
    energy_g: int,
    capped: bool,
    ball_id: str | None,
    now: datetime,
) -> None:
    """The day's walk is one verified action, updated as the step count rises (the day's
    `daily_steps` row lock serializes this, so an UPDATE that finds no row may insert)."""
    values = {"quantity": steps, "energy_g": energy_g, "capped": capped, "occurred_at": now}
    updated = await session.execute(
        UPDATE_WALK_RECORD,
        {"walker_id": user.id, "walk_day": day, "walk_ball_id": ball_id, **{f"walk_{k}": v for k, v in values.items()}},
    )
    if updated.rowcount == 0:
        await session.execute(
            insert(ActionRecord.__table__).values(
                id=new_id(),
                user_id=user.id,
                action_code="walk",
                source="device",
                local_day=day,
                created_at=now,
                ball_id=ball_id,
                **values,
            )
        )


async def list_actions(
    session: AsyncSession, user_id: str, cursor: str | None, limit: int
) -> tuple[list[ActionPublic], str | None]:
    """The user's verified actions, newest first."""
    query = select(ActionRecord).where(ActionRecord.user_id == user_id)
    rows = list((await session.execute(newest_first(query, ActionRecord.id, cursor, limit))).scalars())
    records, next_cursor = page_of(rows, limit)
    return [
        ActionPublic(
            id=r.id,
            action=r.action_code,
            quantity=r.quantity,
            energy_g=r.energy_g,
            capped=r.capped,
            source=r.source,
            date=r.local_day,
            occurred_at=r.occurred_at,
            created_at=r.created_at,
        )
        for r in records
    ], next_cursor

"""Voiding a partner report (SPEC 7.2): its energy taken back from balls, expired grams and the
balance, within the void window; a repeat answers the first response."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.energy.models import ActionRecord
from server.errors import Conflict, NotFound
from server.feed.service import add_feed_item
from server.ledger import service as ledger
from server.ledger.models import Ball
from server.partners.models import Partner, PartnerReport
from server.settings import Settings
from server.webhooks import service as webhooks


async def void_report(
    session: AsyncSession, settings: Settings, partner: Partner, report_id: str, reason: str, now: datetime
) -> dict[str, Any]:
    """Take a report's energy back (SPEC 7.2); a repeat answers the first response."""
    report = (
        await session.execute(
            select(PartnerReport)
            .where(
                col(PartnerReport.partner_id) == partner.id,
                col(PartnerReport.report_id) == report_id,
                col(PartnerReport.response).is_not(None),
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if report is None or report.user_id is None:
        raise NotFound("No such report.", problem="report-not-found")
    if report.void_response is not None:
        stored: dict[str, Any] = json.loads(report.void_response)
        return stored
    if now > report.created_at + timedelta(days=settings.void_window_days):
        raise Conflict(f"A report can be voided within {settings.void_window_days} days.", problem="void-window-closed")
    records = (
        await session.execute(
            select(col(ActionRecord.id), col(ActionRecord.ball_id), col(ActionRecord.energy_g))
            .where(col(ActionRecord.report_id) == report.id)
            .order_by(col(ActionRecord.id))
        )
    ).all()
    per_ball: dict[str, int] = {}
    for record in records:
        if record.ball_id is not None and record.energy_g > 0:
            per_ball[record.ball_id] = per_ball.get(record.ball_id, 0) + record.energy_g
    balls = {
        b.id: b
        for b in (
            await session.execute(
                select(col(Ball.id), col(Ball.amount_g), col(Ball.stolen_g)).where(col(Ball.id).in_(list(per_ball)))
            )
        ).all()
    }
    wanted = []
    for ball_id, grams in sorted(per_ball.items()):
        ball = balls[ball_id]
        # stolen grams are charged to a ball's reports in proportion, rounded down
        share = ball.stolen_g * grams // ball.amount_g if ball.amount_g else 0
        wanted.append((ball_id, grams - share))
    await _record_voided_grams(session, records, per_ball, dict(wanted))
    taken = await ledger.clawback(session, report.user_id, wanted, now=now, reference=report.id)
    voided_g = sum(grams for _, grams in wanted)
    body = {
        "report_id": report.report_id,
        "voided_g": voided_g,
        "from_ball_g": taken.from_ball_g,
        "from_expired_g": taken.from_expired_g,
        "from_balance_g": taken.from_balance_g,
        "owed_g": taken.owed_g,
    }
    report.voided_at, report.void_reason = now, reason
    report.void_response = json.dumps(body, separators=(",", ":"))
    session.add(report)
    await session.flush()
    await add_feed_item(session, report.user_id, "report.voided", amount_g=voided_g, now=now)
    if partner.webhook_url:
        await webhooks.enqueue(
            session,
            target_kind="partner",
            target_id=partner.id,
            event_type="report.voided",
            data={**body, "user_ref": report.user_ref, "reason": reason, "voided_at": now.isoformat()},
            now=now,
        )
    return body


async def _record_voided_grams(
    session: AsyncSession, records: Sequence[Any], per_ball: dict[str, int], wanted: dict[str, int]
) -> None:
    """Each action record's part of what the void takes back (a ball holds one action), so the
    partner's dashboard sums energy net of voids by action and by day in SQL. Rounding down
    leaves a few grams of a ball: its first record takes them."""
    left = dict(wanted)
    first_of_ball: dict[str, str] = {}
    voided: dict[str, int] = {}
    for record in records:
        share = 0
        if record.ball_id in wanted and record.energy_g > 0:
            share = wanted[record.ball_id] * record.energy_g // per_ball[record.ball_id]
            left[record.ball_id] -= share
            first_of_ball.setdefault(record.ball_id, record.id)
        voided[record.id] = share
    for ball_id, record_id in first_of_ball.items():
        voided[record_id] += left[ball_id]
    if voided:
        await session.execute(update(ActionRecord), [{"id": k, "voided_g": v} for k, v in voided.items()])

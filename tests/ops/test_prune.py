"""The daily `prune` job (SPEC 14): what has served its time is deleted, and only that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from server.db import Database
from server.idempotency import IdempotencyRecord
from server.members.models import OrgKind, WebSession
from server.partners.models import GreenCode
from server.social.models import PlayCounter
from server.users.models import RefreshToken
from server.webhooks.models import WebhookDelivery
from tests.api import Api, earn
from tests.partners.helpers import green_code
from tests.social.helpers import befriend
from tests.web.portal import member_portal
from tests.webhooks.test_delivery import Receiver, order_issued_event, receiver  # noqa: F401 (fixture)

DAY = 24 * 3600


async def count(api: Api, column: Any) -> int:
    """Rows in a table, read directly: the API shows none of these tables."""
    database = Database(api.settings.database_url)
    try:
        async with database.read_sessions() as session:
            return (await session.execute(select(func.count()).select_from(column.table))).scalar_one()
    finally:
        await database.dispose()


async def test_idempotency_records_older_than_24_hours_are_deleted_and_the_key_is_free(api: Api) -> None:
    user = await api.register()
    old = {"Idempotency-Key": "yesterday"}
    assert (await user.post("/v1/me/balls/collect", headers=old)).status_code == 200
    await api.advance(DAY - 60)
    recent = {"Idempotency-Key": "today"}
    assert (await user.post("/v1/me/balls/collect", headers=recent)).status_code == 200
    await api.advance(120)

    counts = await api.run_job("prune")
    assert counts["job"] == "prune" and counts["idempotency_records_deleted"] == 1
    assert await count(api, IdempotencyRecord.scope_hash) == 1
    assert (await user.post("/v1/me/balls/collect", headers=recent)).headers.get("idempotent-replayed") == "true"
    reused = await user.post("/v1/me/balls/collect", headers=old)
    assert reused.status_code == 200 and "idempotent-replayed" not in reused.headers
    assert (await api.run_job("prune"))["idempotency_records_deleted"] == 0


async def test_green_codes_expired_over_a_day_ago_are_deleted(api: Api) -> None:
    """An expired code is kept a day (a late report names it expired, not unknown), then deleted."""
    old, recent = await api.register(), await api.register()
    await green_code(old)
    await api.advance(DAY + 301)
    await green_code(recent)
    await api.advance(600)  # expired too, but within the day
    assert await count(api, GreenCode.id) == 2
    assert (await api.run_job("prune"))["green_codes_deleted"] == 1
    assert await count(api, GreenCode.id) == 1


async def test_play_counters_older_than_60_days_are_deleted(api: Api) -> None:
    giver, friend = await api.register(), await api.register()
    await befriend(giver, friend)
    await earn(giver, 40)

    async def water() -> None:
        response = await giver.post(f"/v1/users/{friend.handle}/water", json={"amount_g": 10})
        assert response.status_code == 200, response.text

    await water()
    await api.advance(61 * DAY)
    await water()
    assert await count(api, PlayCounter.user_id) == 2
    assert (await api.run_job("prune"))["play_counters_deleted"] == 1
    assert await count(api, PlayCounter.user_id) == 1


async def test_live_and_revoked_unexpired_refresh_tokens_are_kept(api: Api) -> None:
    user = await api.register()
    rotated = await api.client.post("/v1/auth/refresh", json={"refresh_token": user.tokens["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    assert (await api.run_job("prune"))["refresh_tokens_deleted"] == 0
    assert await count(api, RefreshToken.id) == 1  # a session rotates its token in its own row


@pytest.mark.settings(refresh_token_ttl_s=0)
async def test_expired_refresh_tokens_are_deleted_revoked_or_not(api: Api) -> None:
    user = await api.register()
    logout = await api.client.post("/v1/auth/logout", json={"refresh_token": user.tokens["refresh_token"]})
    assert logout.status_code == 204
    await api.register()
    assert (await api.run_job("prune"))["refresh_tokens_deleted"] == 2
    assert await count(api, RefreshToken.id) == 0


async def test_revoked_sessions_are_deleted_and_live_ones_kept(api: Api) -> None:
    ended, live = await api.register(), await api.register()
    logout = await api.client.post("/v1/auth/logout", json={"refresh_token": ended.tokens["refresh_token"]})
    assert logout.status_code == 204
    assert (await api.run_job("prune"))["refresh_tokens_deleted"] == 1
    assert await count(api, RefreshToken.id) == 1
    assert (await live.get("/v1/me/sessions")).json()["items"]


@pytest.mark.settings(ended_session_retention_days=1)
async def test_ended_sessions_are_kept_through_the_retention(api: Api) -> None:
    user = await api.register()
    assert (await user.post("/v1/auth/logout-all")).status_code == 204
    portal = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@canopy.example")
    assert (await portal.post_form("/logout")).status_code == 303
    counts = await api.run_job("prune")
    assert counts["refresh_tokens_deleted"] == 0 and counts["web_sessions_deleted"] == 0
    assert await count(api, RefreshToken.id) == 1 and await count(api, WebSession.token_hash) == 1


async def age_portal_sessions(api: Api, **ago: timedelta) -> None:
    """Portal sessions run on the wall clock, which the test clock does not move: their times are
    set back in the table instead."""
    database = Database(api.settings.database_url)
    try:
        async with database.transaction() as session:
            now = datetime.now(UTC)
            await session.execute(update(WebSession).values({name: now - delta for name, delta in ago.items()}))
    finally:
        await database.dispose()


async def test_portal_sessions_signed_out_idle_or_too_old_are_deleted_and_live_ones_kept(api: Api) -> None:
    signed_out = await member_portal(api, org_kind=OrgKind.OPERATOR, email="out@canopy.example")
    assert (await signed_out.post_form("/logout")).status_code == 303
    live = await member_portal(api, org_kind=OrgKind.OPERATOR, email="live@canopy.example")
    counts = await api.run_job("prune")
    assert counts["web_sessions_deleted"] == 1 and await count(api, WebSession.token_hash) == 1
    assert (await live.get("/account")).status_code == 200

    idle = timedelta(seconds=api.settings.web_session_idle_s + 60)
    await age_portal_sessions(api, last_seen_at=idle)
    assert (await api.run_job("prune"))["web_sessions_deleted"] == 1
    await member_portal(api, org_kind=OrgKind.OPERATOR, email="old@canopy.example")
    await age_portal_sessions(api, created_at=timedelta(seconds=api.settings.web_session_max_age_s + 60))
    assert (await api.run_job("prune"))["web_sessions_deleted"] == 1
    assert await count(api, WebSession.token_hash) == 0


@pytest.mark.settings(order_min_trees=1)
async def test_delivered_webhooks_older_than_30_days_are_deleted(api: Api, receiver: Receiver) -> None:  # noqa: F811
    await order_issued_event(api, receiver)
    assert (await api.run_job("deliver-webhooks"))["delivered"] == 1
    await api.advance(30 * DAY + 60)
    pending = await count(api, WebhookDelivery.id)
    assert (await api.run_job("prune"))["webhook_deliveries_deleted"] == 1
    assert await count(api, WebhookDelivery.id) == pending - 1


@pytest.mark.settings(prune_chunk=2)
async def test_prune_deletes_in_chunks_until_nothing_is_left(api: Api) -> None:
    user = await api.register()
    for n in range(5):
        assert (await user.post("/v1/me/balls/collect", headers={"Idempotency-Key": f"k{n}"})).status_code == 200
    await api.advance(DAY + 1)
    assert (await api.run_job("prune"))["idempotency_records_deleted"] == 5
    assert await count(api, IdempotencyRecord.scope_hash) == 0

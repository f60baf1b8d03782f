"""Holding, deduplicating and delivering pushes: quiet hours, 410, retries, a hanging relay."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest

from server.clock import Clock
from server.notifications.jobs import send_notifications
from server.settings import Settings
from tests.api import Api, User
from tests.faults.helpers import database
from tests.notifications.conftest import Relay
from tests.notifications.helpers import send, with_device


async def ask(asker: User, other: User) -> None:
    assert (await asker.post("/v1/me/friends", json={"handle": other.handle})).status_code == 201


async def advance_to(api: Api, hour: int, minute: int = 0) -> datetime:
    """Move the test clock to the next hh:mm UTC."""
    now = await api.now()
    target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    seconds = int((target - now).total_seconds()) % 86400
    return await api.advance(seconds or 86400)


async def test_quiet_hours_hold_then_release(api: Api, relay: Relay) -> None:
    asker, other = await api.register(), await api.register(timezone="Asia/Shanghai")
    await with_device(other)
    quiet = {"push": True, "email": True, "quiet_hours": {"start": "22:00", "end": "07:30"}}
    assert (await other.put("/v1/me/notification-settings", json=quiet)).status_code == 200
    await advance_to(api, 15)  # 23:00 in Shanghai
    await ask(asker, other)
    counts = await send(api)
    assert counts["held"] == 1 and counts["released"] == 0 and relay.pushes == []
    assert (await send(api))["held"] == 0  # held until the end, not looked at every minute

    await advance_to(api, 23, 29)  # 07:29 in Shanghai
    assert (await send(api))["released"] == 0
    await api.advance(61)
    counts = await send(api)
    assert counts["released"] == 1 and counts["delivered"] == 1
    assert [p["notification"]["type"] for p in relay.pushes] == ["friend.requested"]


async def test_an_event_switched_off_or_push_off_is_not_sent(api: Api, relay: Relay) -> None:
    asker, other, third = await api.register(), await api.register(), await api.register()
    await with_device(other)
    await with_device(third)
    off = {"push": True, "email": True, "events": {"friend.requested": False}}
    assert (await other.put("/v1/me/notification-settings", json=off)).status_code == 200
    assert (await third.put("/v1/me/notification-settings", json={"push": False, "email": True})).status_code == 200
    await ask(asker, other)
    await ask(asker, third)
    assert (await send(api))["skipped"] == 2
    assert relay.pushes == []


async def test_events_are_deduplicated_by_user_type_and_key(api: Api, relay: Relay) -> None:
    user = await api.register()
    await with_device(user)
    await user.walk(3000)
    await api.advance_to_next_morning(hour=7)  # the walk's ball ripens at 07:00 the next day,
    await api.advance(60)  # whatever the hour the test starts at
    runs = [await send(api) for _ in range(3)]
    assert [r["digests"] for r in runs] == [1, 0, 0]
    await api.advance(3600)  # still the same local morning
    assert (await send(api))["digests"] == 0
    assert len(relay.of_type("ball.ripe")) == 1


async def test_two_replicas_at_once_push_each_notification_once(api: Api, relay: Relay, settings: Settings) -> None:
    asker = await api.register()
    users = [await api.register() for _ in range(5)]
    for user in users:
        await with_device(user)
        await ask(asker, user)
    async with database(settings) as one, database(settings) as two:
        results = await asyncio.gather(
            *(send_notifications(db, Clock(test_clock=True, engine=db.writer), settings) for db in (one, two, one, two))
        )
    assert sum(r["released"] for r in results) == 5 and sum(r["delivered"] for r in results) == 5
    assert len(relay.pushes) == 5


async def test_a_410_removes_the_device(api: Api, relay: Relay) -> None:
    asker, other = await api.register(), await api.register()
    devices = {(await with_device(other, token))["id"]: token for token in ("stale", "fresh")}
    await ask(asker, other)
    relay.statuses = [410]  # whichever device the relay sees first is gone
    counts = await send(api)
    assert counts["devices_removed"] == 1 and counts["delivered"] == 1
    [device] = (await other.get("/v1/me/devices")).json()["items"]
    [pushed] = relay.pushes
    assert devices[device["id"]] == pushed["device"]["token"]
    assert (await send(api))["delivered"] == 0


@pytest.mark.settings(notification_batch_size=3)
async def test_a_run_sends_at_most_the_batch_size(api: Api, relay: Relay) -> None:
    asker = await api.register()
    for _ in range(5):
        other = await api.register()
        await with_device(other)
        await ask(asker, other)
    first = await send(api)
    assert first["released"] == 3 and first["delivered"] == 3
    second = await send(api)
    assert second["released"] == 2 and second["delivered"] == 2
    assert len(relay.pushes) == 5


async def test_5xx_is_retried_on_the_webhook_schedule(api: Api, relay: Relay) -> None:
    asker, other = await api.register(), await api.register()
    await with_device(other)
    await ask(asker, other)
    relay.statuses = [500, 503, 502]
    assert (await send(api))["retrying"] == 1
    assert (await send(api))["retrying"] == 0  # not due before 1 min
    await api.advance(61)
    assert (await send(api))["retrying"] == 1
    await api.advance(240)  # 5 min after the first attempt
    assert (await send(api))["retrying"] == 1
    await api.advance(1500)  # 30 min
    assert (await send(api))["delivered"] == 1
    assert len(relay.raw) == 4 and len({h["Canopy-Event-Id"] for h, _ in relay.raw}) == 1


@pytest.mark.settings(notification_batch_size=1, webhook_retry_after_s=(60,))
async def test_a_push_is_failed_after_the_last_retry(api: Api, relay: Relay) -> None:
    asker, other = await api.register(), await api.register()
    await with_device(other)
    await ask(asker, other)
    relay.statuses = [500, 500]
    assert (await send(api))["retrying"] == 1
    await api.advance(61)
    assert (await send(api))["failed"] == 1
    await api.advance(3600)
    assert (await send(api))["delivered"] == 0


@pytest.mark.settings(push_relay_timeout_s=2)
async def test_a_hanging_relay_times_out_and_blocks_no_request(api: Api, relay: Relay, settings: Settings) -> None:
    asker, other, third = await api.register(), await api.register(), await api.register()
    await with_device(other)
    await with_device(third)
    await ask(asker, other)
    relay.hang.set()
    # The job runs here, beside the app (the in-process client serves one request at a time).
    async with database(settings) as db:
        started = time.monotonic()
        job = asyncio.create_task(send_notifications(db, Clock(test_clock=True, engine=db.writer), settings))
        while not relay.waiting:  # the job is inside its POST to the relay
            await asyncio.sleep(0.02)
        # Requests go on meanwhile, and one that records an event waits for no push.
        request_started = time.monotonic()
        await ask(asker, third)
        assert (await other.get("/v1/me")).status_code == 200
        assert time.monotonic() - request_started < 1 and not job.done()
        counts = await job
    assert counts["retrying"] == 1 and 2 <= time.monotonic() - started < 6
    relay.hang.clear()
    relay.release.set()
    counts = await send(api)  # the second request's event; the first push is due again in 1 min
    assert counts["released"] == 1 and counts["delivered"] == 1
    await api.advance(61)
    assert (await send(api))["delivered"] == 1
    assert sorted(p["device"]["token"] for p in relay.pushes) == sorted(
        [f"apns-{other.handle}", f"apns-{third.handle}"]
    )


@pytest.mark.settings(push_relay_url=None)
async def test_without_a_relay_notifications_are_logged_not_pushed(api: Api, relay: Relay) -> None:
    asker, other = await api.register(), await api.register()
    await with_device(other)
    await ask(asker, other)
    counts = await send(api)
    assert counts["released"] == 1 and counts["delivered"] == 0 and relay.pushes == []


async def test_prune_deletes_what_was_sent_30_days_ago(api: Api, relay: Relay) -> None:
    asker, other = await api.register(), await api.register()
    await with_device(other)
    await ask(asker, other)
    assert (await send(api))["delivered"] == 1
    await api.advance(29 * 86400)
    counts = await api.run_job("prune")
    assert counts["notifications_deleted"] == 0 and counts["push_deliveries_deleted"] == 0
    await api.advance(2 * 86400)
    counts = await api.run_job("prune")
    assert counts["notifications_deleted"] == 1 and counts["push_deliveries_deleted"] == 1

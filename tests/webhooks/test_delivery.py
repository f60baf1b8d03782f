"""Webhook delivery (SPEC 8.4): signed POSTs from the outbox, retries with backoff, then failed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from server.webhooks.outbound import AddressRefused, checked_address
from tests.api import Api
from tests.planting.helpers import create_ngo, create_project, funded_user, queue_trees


class Receiver:
    """A local HTTP endpoint that records what it gets and answers the statuses it is told to."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


async def order_issued_event(api: Api, receiver: Receiver) -> str:
    """An NGO with a webhook gets an order: returns the webhook secret shown at creation."""
    ngo = await create_ngo(api, webhook_url=receiver.url)
    secret = ngo.created["webhook_secret"]
    project = await create_project(api, ngo)
    user = await funded_user(api)
    await queue_trees(user, project, 1)
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == 1
    return secret


@pytest.mark.settings(order_min_trees=1)
async def test_an_event_is_delivered_signed(api: Api, receiver: Receiver) -> None:
    secret = await order_issued_event(api, receiver)
    counts = await api.run_job("deliver-webhooks")
    assert counts == {"job": "deliver-webhooks", "delivered": 1, "retrying": 0, "failed": 0}
    [request] = receiver.received
    event = json.loads(request["body"])
    assert event["type"] == "order.issued" and event["data"]["tree_count"] == 1
    assert request["headers"]["Canopy-Event-Id"] == event["id"]
    timestamp = request["headers"]["Canopy-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["Canopy-Signature"] == f"v1={expected}"
    assert (await api.run_job("deliver-webhooks"))["delivered"] == 0  # nothing is sent twice

    listed = await api.client.get("/v1/admin/webhook-deliveries", params={"status": "delivered"}, headers=api.operator)
    assert [d["id"] for d in listed.json()["items"]] == [event["id"]]


@pytest.mark.settings(order_min_trees=1)
async def test_retries_follow_the_schedule_then_fail(api: Api, receiver: Receiver) -> None:
    await order_issued_event(api, receiver)
    receiver.statuses = [500] * 10
    assert (await api.run_job("deliver-webhooks"))["retrying"] == 1
    assert (await api.run_job("deliver-webhooks"))["retrying"] == 0  # not due before 1 min
    schedule = [60, 300, 1800, 7200, 21600, 54000]
    elapsed = 0
    for index, offset in enumerate(schedule):
        await api.advance(offset - elapsed + 1)
        elapsed = offset + 1
        counts = await api.run_job("deliver-webhooks")
        expected = {"retrying": 1} if index < len(schedule) - 1 else {"failed": 1}
        assert {k: v for k, v in counts.items() if v and k != "job"} == expected, (offset, counts)
    assert len(receiver.received) == 7
    assert len({r["headers"]["Canopy-Event-Id"] for r in receiver.received}) == 1
    failed = await api.client.get("/v1/admin/webhook-deliveries", params={"status": "failed"}, headers=api.operator)
    [delivery] = failed.json()["items"]
    assert delivery["attempts"] == 7 and delivery["last_error"] == "HTTP 500"


@pytest.mark.settings(order_min_trees=1)
async def test_a_retry_that_succeeds_is_delivered(api: Api, receiver: Receiver) -> None:
    await order_issued_event(api, receiver)
    receiver.statuses = [503]
    await api.run_job("deliver-webhooks")
    await api.advance(61)
    assert (await api.run_job("deliver-webhooks"))["delivered"] == 1


@pytest.mark.settings(order_min_trees=1)
async def test_two_delivery_runs_at_once_send_each_event_once(api: Api, receiver: Receiver) -> None:
    import asyncio

    await order_issued_event(api, receiver)
    results = await asyncio.gather(*(api.run_job("deliver-webhooks") for _ in range(4)))
    assert sum(r["delivered"] for r in results) == 1
    assert len(receiver.received) == 1


@pytest.mark.settings(order_min_trees=1)
async def test_a_receiver_whose_host_now_resolves_inside_the_network_is_not_called(
    api: Api, receiver: Receiver
) -> None:
    """The URL passed its check when it was set; at delivery the address is checked again."""
    await order_issued_event(api, receiver)
    api.settings.webhook_allow_private = False  # from now on, as in production
    counts = await api.run_job("deliver-webhooks")
    assert counts["retrying"] == 1 and counts["delivered"] == 0
    assert receiver.received == []
    listed = await api.client.get("/v1/admin/webhook-deliveries", params={"status": "pending"}, headers=api.operator)
    [delivery] = listed.json()["items"]
    assert "inside the network" in delivery["last_error"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "::1"])
async def test_an_outbound_connection_refuses_addresses_inside_the_network(host: str) -> None:
    with pytest.raises(AddressRefused):
        await checked_address(host, 443)


async def test_an_outbound_connection_goes_to_the_address_it_checked() -> None:
    assert await checked_address("8.8.8.8", 443) == "8.8.8.8"


async def test_webhook_urls_must_be_public_https(settings) -> None:
    from server.errors import Unprocessable
    from server.webhooks.urls import check_webhook_url

    for url in (
        "http://example.com/h",
        "https://127.0.0.1/h",
        "https://10.1.2.3/h",
        "https://169.254.169.254/",
        "https://localhost/h",
        "https://[::1]/h",
        "ftp://example.com",
        "https:///nohost",
    ):
        with pytest.raises(Unprocessable):
            check_webhook_url(url, allow_private=False)
    assert check_webhook_url("http://127.0.0.1:9/h", allow_private=True)


@pytest.mark.settings(order_min_trees=1)
async def test_an_operator_sends_a_failed_delivery_again(api: Api, receiver: Receiver) -> None:
    """SPEC 12.4: the event goes back to the outbox with its id, and is delivered; asking again
    while it is pending changes nothing; an unknown id is 404."""
    await order_issued_event(api, receiver)
    receiver.statuses = [500] * 7
    await api.run_job("deliver-webhooks")
    for offset in [60, 300, 1800, 7200, 21600, 54000]:
        await api.advance(offset)
        await api.run_job("deliver-webhooks")
    failed = await api.client.get("/v1/admin/webhook-deliveries", params={"status": "failed"}, headers=api.operator)
    [delivery] = failed.json()["items"]

    retry = f"/v1/admin/webhook-deliveries/{delivery['id']}/retry"
    for _ in range(2):
        again = await api.client.post(retry, headers=api.operator)
        assert again.status_code == 202, again.text
        assert again.json()["status"] == "pending" and again.json()["attempts"] == 0
    assert (await api.run_job("deliver-webhooks"))["delivered"] == 1
    assert {r["headers"]["Canopy-Event-Id"] for r in receiver.received} == {delivery["id"]}

    unknown = await api.client.post("/v1/admin/webhook-deliveries/no-such-id/retry", headers=api.operator)
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"

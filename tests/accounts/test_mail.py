"""The outbox and the `send-email` job: development mode, SMTP faults, retries, pruning."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tests.accounts.conftest import Mailbox, free_port, link_token, send_mail
from tests.api import Api


async def emails(api: Api, **params: str) -> list[dict]:
    response = await api.client.get("/v1/admin/emails", headers=api.operator, params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.mark.settings(smtp_url=None)
async def test_in_development_mail_goes_to_the_log_and_the_operator_list(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    await api.register("dev", email="dev@example.org")
    [pending] = await emails(api)
    assert pending["status"] == "pending" and pending["to"] == "dev@example.org" and pending["kind"] == "verify-email"
    assert "/verify-email?token=" in pending["text"] and "/verify-email?token=" in pending["html"]

    with caplog.at_level(logging.INFO, logger="canopy.mail"):
        assert (await send_mail(api))["sent"] == 1
    token = pending["text"].split("/verify-email?token=")[1].split()[0]
    assert token in caplog.text  # by design, in development only
    [sent] = await emails(api, status="sent")
    assert sent["id"] == pending["id"] and sent["sent_at"] and sent["attempts"] == 1
    assert await emails(api, status="pending") == []
    verified = await api.client.post("/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 204


async def test_with_an_smtp_server_the_operator_list_shows_no_bodies(api: Api, mailbox: Mailbox) -> None:
    await api.register("prod", email="prod@example.org")
    [listed] = await emails(api)
    assert listed["text"] is None and listed["html"] is None
    assert (await api.client.get("/v1/admin/emails")).status_code == 401
    user_token = (await api.register()).headers
    assert (await api.client.get("/v1/admin/emails", headers=user_token)).status_code == 403
    assert (
        await api.client.get("/v1/admin/emails", headers=api.operator, params={"status": "lost"})
    ).status_code == 400


async def test_a_5xx_answer_delays_the_mail_on_the_webhook_schedule(api: Api, mailbox: Mailbox) -> None:
    mailbox.refusals = ["554 5.7.1 Rejected for now", "451 4.3.0 Try again later"]
    started = time.perf_counter()
    await api.register("thistle", email="thistle@example.org")
    assert time.perf_counter() - started < 5  # the request never talks to the server

    assert await send_mail(api) == {"job": "send-email", "sent": 0, "retrying": 1, "failed": 0}
    [pending] = await emails(api, status="pending")
    assert pending["attempts"] == 1 and "554" in pending["last_error"]
    assert (await send_mail(api))["retrying"] == 0  # not due before a minute has passed
    await api.advance(61)
    assert (await send_mail(api))["retrying"] == 1  # the second answer: 451
    await api.advance(4 * 60)  # 5 min after the first attempt
    assert (await send_mail(api))["sent"] == 1
    [message] = mailbox.to("thistle@example.org")
    assert link_token(message, "verify-email")


@pytest.mark.settings(webhook_retry_after_s=(60,))
async def test_mail_is_marked_failed_when_the_schedule_is_spent(api: Api, mailbox: Mailbox) -> None:
    mailbox.refusals = ["550 5.1.1 No such user"] * 2
    await api.register("nettle", email="nettle@example.org")
    assert (await send_mail(api))["retrying"] == 1
    await api.advance(61)
    assert (await send_mail(api))["failed"] == 1
    [failed] = await emails(api, status="failed")
    assert failed["attempts"] == 2 and "550" in failed["last_error"]


async def hanging_server() -> tuple[asyncio.AbstractServer, int]:
    """Accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_hanging_server_delays_mail_but_no_request(database_url: str, tmp_path) -> None:
    from litestar.testing import AsyncTestClient

    from server.app import create_app
    from tests.conftest import make_settings

    server, port = await hanging_server()
    settings = make_settings(database_url, tmp_path / "data", smtp_url=f"smtp://127.0.0.1:{port}", smtp_timeout_s=0.5)
    async with server, AsyncTestClient(create_app(settings), base_url="http://canopy.test") as client:
        api = Api(client, settings)
        user = await api.register("bramble")
        started = time.perf_counter()
        response = await user.put("/v1/me/email", json={"email": "bramble@example.org"})
        assert response.status_code == 202 and time.perf_counter() - started < 2
        started = time.perf_counter()
        assert await send_mail(api) == {"job": "send-email", "sent": 0, "retrying": 1, "failed": 0}
        assert time.perf_counter() - started < 5
        [pending] = await emails(api, status="pending")
        assert "Timeout" in pending["last_error"]
        assert (await api.audit())["ok"]


async def test_a_refused_connection_delays_mail(database_url: str, tmp_path) -> None:
    from litestar.testing import AsyncTestClient

    from server.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(database_url, tmp_path / "data", smtp_url=f"smtp://127.0.0.1:{free_port()}")
    async with AsyncTestClient(create_app(settings), base_url="http://canopy.test") as client:
        api = Api(client, settings)
        await api.register("gorse", email="gorse@example.org")
        assert (await send_mail(api))["retrying"] == 1
        [pending] = await emails(api, status="pending")
        assert pending["last_error"]


async def test_tls_required_refuses_a_server_without_starttls(database_url: str, tmp_path, mailbox: Mailbox) -> None:
    from litestar.testing import AsyncTestClient

    from server.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(database_url, tmp_path / "data", smtp_url=mailbox.url + "?tls=required")
    async with AsyncTestClient(create_app(settings), base_url="http://canopy.test") as client:
        api = Api(client, settings)
        await api.register("heather", email="heather@example.org")
        assert (await send_mail(api))["retrying"] == 1
        [pending] = await emails(api, status="pending")
        assert "STARTTLS" in pending["last_error"] or "starttls" in pending["last_error"].lower()
    assert mailbox.messages == []


@pytest.mark.settings(account_token_retention_days=7, email_sent_retention_days=30)
async def test_prune_deletes_spent_tokens_and_sent_mail_after_their_retention(api: Api, mailbox: Mailbox) -> None:
    await api.register("clover", email="clover@example.org")
    await send_mail(api)
    token = link_token(mailbox.to("clover@example.org")[0], "verify-email")
    assert (await api.client.post("/v1/auth/verify-email", json={"token": token})).status_code == 204
    counts = await api.run_job("prune")
    assert counts["account_tokens_deleted"] == 0 and counts["emails_deleted"] == 0
    await api.advance(31 * 24 * 3600)  # sent mail follows the product clock
    counts = await api.run_job("prune")
    assert counts["emails_deleted"] == 1 and counts["account_tokens_deleted"] == 0
    assert await emails(api) == []


@pytest.mark.settings(account_token_retention_days=0)
async def test_prune_deletes_spent_and_expired_tokens(api: Api, mailbox: Mailbox) -> None:
    await api.register("vetch", email="vetch@example.org")
    await api.register("tansy", email="tansy@example.org")
    await send_mail(api)
    token = link_token(mailbox.to("vetch@example.org")[0], "verify-email")
    assert (await api.client.post("/v1/auth/verify-email", json={"token": token})).status_code == 204
    assert (await api.run_job("prune"))["account_tokens_deleted"] == 1  # tansy's is still live

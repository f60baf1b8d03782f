"""Password reset by a mailed link, without account enumeration (SPEC 11.1)."""

from __future__ import annotations

import asyncio
import time
from statistics import median

import pytest

from tests.accounts.conftest import Mailbox, link_token, parts, send_mail
from tests.accounts.helpers import PASSWORD, login, refreshes, verified_user, works
from tests.api import Api

NEW_PASSWORD = "a brand new passphrase"


async def ask_reset(api: Api, email: str) -> dict:
    response = await api.client.post("/v1/auth/password-reset", json={"email": email})
    assert response.status_code == 202, response.text
    return response.json()


async def confirm(api: Api, token: str, password: str = NEW_PASSWORD) -> int:
    response = await api.client.post("/v1/auth/password-reset/confirm", json={"token": token, "password": password})
    return response.status_code


async def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(api: Api, mailbox: Mailbox) -> None:
    user = await verified_user(api, mailbox, "birch", "birch@example.org")
    other_device = await login(api, "birch")
    known = await ask_reset(api, "BIRCH@example.org")
    unknown = await ask_reset(api, "nobody@example.org")
    assert known == unknown  # the same answer either way
    assert await send_mail(api) == {"job": "send-email", "sent": 1, "retrying": 0, "failed": 0}
    [message] = [m for m in mailbox.to("birch@example.org") if "reset" in m["Subject"].lower()]
    assert message["Subject"] == "Reset your Canopy password"
    assert "30 minutes" in parts(message)[0]
    token = link_token(message, "reset-password")

    assert await confirm(api, token) == 204
    for tokens in (user.tokens, other_device):
        assert not await works(api, tokens["access_token"])
        assert not await refreshes(api, tokens["refresh_token"])
    assert (await api.client.post("/v1/auth/login", json={"handle": "birch", "password": PASSWORD})).status_code == 401
    await login(api, "birch", NEW_PASSWORD)

    reused = await api.client.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "x" * 12})
    assert reused.status_code == 400 and reused.json()["type"] == "urn:canopy:problem:invalid-token"
    await login(api, "birch", NEW_PASSWORD)


async def test_an_unverified_address_gets_no_reset_mail(api: Api, mailbox: Mailbox) -> None:
    await api.register("alder", email="alder@example.org")  # never verified
    await ask_reset(api, "alder@example.org")
    await send_mail(api)
    assert [m["Subject"] for m in mailbox.to("alder@example.org")] == ["Confirm your email address for Canopy"]


async def test_a_new_password_must_be_valid_and_a_refused_one_leaves_the_link_usable(
    api: Api, mailbox: Mailbox
) -> None:
    await verified_user(api, mailbox, "hazel", "hazel@example.org")
    await ask_reset(api, "hazel@example.org")
    await send_mail(api)
    token = link_token(mailbox.to("hazel@example.org")[-1], "reset-password")
    short = await api.client.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "short"})
    assert short.status_code == 400 and short.json()["type"] == "urn:canopy:problem:validation"
    assert await confirm(api, token) == 204


@pytest.mark.settings(password_reset_ttl_s=1)
async def test_reset_links_expire(api: Api, mailbox: Mailbox) -> None:
    await verified_user(api, mailbox, "rowan", "rowan@example.org")
    await ask_reset(api, "rowan@example.org")
    await send_mail(api)
    token = link_token(mailbox.to("rowan@example.org")[-1], "reset-password")
    await asyncio.sleep(1.2)  # the wall clock: tokens are credentials
    assert await confirm(api, token) == 400
    await login(api, "rowan")


async def test_a_deleted_account_cannot_be_reset(api: Api, mailbox: Mailbox) -> None:
    user = await verified_user(api, mailbox, "larch", "larch@example.org")
    await ask_reset(api, "larch@example.org")
    await send_mail(api)
    token = link_token(mailbox.to("larch@example.org")[-1], "reset-password")
    assert (await user.delete("/v1/me")).status_code == 204
    assert await confirm(api, token) == 400
    await ask_reset(api, "larch@example.org")  # the address is no one's now
    assert (await send_mail(api))["sent"] == 0


@pytest.mark.settings(mail_limit_per_recipient=3)
async def test_reset_mails_are_capped_per_address_and_the_answer_stays_the_same(api: Api, mailbox: Mailbox) -> None:
    await verified_user(api, mailbox, "elm", "elm@example.org")  # the verification mail is the first
    answers = [await ask_reset(api, "elm@example.org") for _ in range(4)]
    assert all(answer == answers[0] for answer in answers)
    await send_mail(api)
    assert len(mailbox.to("elm@example.org")) == 3


@pytest.mark.settings(mail_limit_per_client=5)
async def test_reset_requests_are_throttled_per_client_address(api: Api) -> None:
    for number in range(5):
        await ask_reset(api, f"someone{number}@example.org")
    refused = await api.client.post("/v1/auth/password-reset", json={"email": "more@example.org"})
    assert refused.status_code == 429 and refused.json()["type"] == "urn:canopy:problem:mail-throttled"
    assert 0 < int(refused.headers["retry-after"]) <= 3600


@pytest.mark.settings(mail_limit_per_recipient=1000, mail_limit_per_client=1000)
async def test_a_known_address_takes_about_as_long_as_an_unknown_one(api: Api, mailbox: Mailbox) -> None:
    await verified_user(api, mailbox, "cedar", "cedar@example.org")

    async def timed(email: str) -> float:
        started = time.perf_counter()
        await ask_reset(api, email)
        return time.perf_counter() - started

    for _ in range(3):  # warm up both paths
        await timed("cedar@example.org")
        await timed("nobody@example.org")
    known, unknown = [], []
    for number in range(15):
        known.append(await timed("cedar@example.org"))
        unknown.append(await timed(f"nobody{number}@example.org"))
    ratio = median(known) / median(unknown)
    assert 0.5 < ratio < 2.0, f"known {median(known):.4f} s, unknown {median(unknown):.4f} s"

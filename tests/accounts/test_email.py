"""Email at registration and `PUT /me/email`, verified by the mailed link (SPEC 11.1)."""

from __future__ import annotations

import pytest

from tests.accounts.conftest import Mailbox, link_token, parts, send_mail
from tests.api import Api, User

INVALID_TOKEN = "urn:canopy:problem:invalid-token"


async def verify(api: Api, token: str) -> int:
    return (await api.client.post("/v1/auth/verify-email", json={"token": token})).status_code


async def me(user: User) -> dict:
    response = await user.get("/v1/me")
    assert response.status_code == 200, response.text
    return response.json()


async def test_registration_with_an_email_mails_a_link_that_verifies_it_once(api: Api, mailbox: Mailbox) -> None:
    user = await api.register("fern", email="Fern@Example.org")
    assert user.tokens["user"]["email"] == "Fern@Example.org" and user.tokens["user"]["email_verified"] is False
    assert mailbox.messages == []  # nothing is sent inside the request
    assert await send_mail(api) == {"job": "send-email", "sent": 1, "retrying": 0, "failed": 0}

    [message] = mailbox.to("Fern@Example.org")
    assert message["Subject"] == "Confirm your email address for Canopy"
    assert message["From"] == "Canopy <canopy@localhost>" and message["Message-ID"]
    text, html = parts(message)
    assert "Hello Fern," in text and "24 hours" in text and html.startswith("<!DOCTYPE html>")
    token = link_token(message, "verify-email")

    assert await verify(api, token) == 204
    assert (await me(user))["email_verified"] is True
    again = await api.client.post("/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 400 and again.json()["type"] == INVALID_TOKEN
    assert await send_mail(api) == {"job": "send-email", "sent": 0, "retrying": 0, "failed": 0}


async def test_put_me_email_keeps_it_unverified_and_mails_in_the_users_language(api: Api, mailbox: Mailbox) -> None:
    user = await api.register("lotus", language="zh-Hans")
    assert (await me(user))["email"] is None
    response = await user.put("/v1/me/email", json={"email": "lotus@example.org"})
    assert response.status_code == 202, response.text
    body = await me(user)
    assert body["email"] == "lotus@example.org" and body["email_verified"] is False

    await send_mail(api)
    [message] = mailbox.to("lotus@example.org")
    assert message["Subject"] == "请确认您在 Canopy 绿荫使用的电子邮箱" and message["Content-Language"] == "zh-Hans"
    text, html = parts(message)
    assert "Lotus\uff0c您好" in text and "有效期 24 小时" in text and 'lang="zh-Hans"' in html
    assert await verify(api, link_token(message, "verify-email")) == 204
    assert (await me(user))["email_verified"] is True

    # A new address waits for its own link; the verified one no longer shows as verified.
    assert (await user.put("/v1/me/email", json={"email": "lotus@example.com"})).status_code == 202
    assert (await me(user))["email_verified"] is False
    # Giving back the address already verified needs no link.
    assert (await user.put("/v1/me/email", json={"email": "LOTUS@example.org"})).status_code == 202
    assert (await me(user))["email_verified"] is True
    await send_mail(api)
    assert len(mailbox.to("lotus@example.com")) == 1 and len(mailbox.to("LOTUS@example.org")) == 0


async def test_a_newer_address_makes_the_older_link_invalid(api: Api, mailbox: Mailbox) -> None:
    user = await api.register("reed")
    await user.put("/v1/me/email", json={"email": "reed@example.org"})
    await user.put("/v1/me/email", json={"email": "reed@example.net"})
    await send_mail(api)
    old = link_token(mailbox.to("reed@example.org")[0], "verify-email")
    new = link_token(mailbox.to("reed@example.net")[0], "verify-email")
    assert await verify(api, old) == 400
    assert await verify(api, new) == 204
    assert (await me(user))["email"] == "reed@example.net"


async def test_an_address_verified_by_another_account_is_not_revealed_until_verified(
    api: Api, mailbox: Mailbox
) -> None:
    owner = await api.register("owner", email="shared@example.org")
    await send_mail(api)
    assert await verify(api, link_token(mailbox.to("shared@example.org")[0], "verify-email")) == 204

    other = await api.register("other")
    taken = await other.put("/v1/me/email", json={"email": "Shared@Example.org"})
    fresh = await other.put("/v1/me/email", json={"email": "fresh@example.org"})
    assert taken.status_code == fresh.status_code == 202 and taken.json() == fresh.json()
    await send_mail(api)
    await other.put("/v1/me/email", json={"email": "Shared@Example.org"})
    await send_mail(api)
    token = link_token(mailbox.to("Shared@Example.org")[-1], "verify-email")
    conflict = await api.client.post("/v1/auth/verify-email", json={"token": token})
    assert conflict.status_code == 409 and conflict.json()["type"] == "urn:canopy:problem:email-taken"
    assert (await me(owner))["email_verified"] is True
    assert (await me(other))["email_verified"] is False

    # Once the owner deletes the account the address is free, and the same link verifies it.
    assert (await owner.delete("/v1/me")).status_code == 204
    assert await verify(api, token) == 204
    assert (await me(other))["email_verified"] is True


@pytest.mark.parametrize(
    "token",
    ["", "short", "x" * 43, "A" * 42 + "!", "A" * 1024, "../../etc/passwd", "A" * 43 + "\u00e9"],
)
async def test_malformed_and_unknown_tokens_are_invalid(api: Api, token: str) -> None:
    response = await api.client.post("/v1/auth/verify-email", json={"token": token})
    assert response.status_code == 400 and response.json()["type"] == INVALID_TOKEN
    reset = await api.client.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "a" * 12})
    assert reset.status_code == 400 and reset.json()["type"] == INVALID_TOKEN


async def test_a_link_of_one_kind_does_not_work_for_the_other(api: Api, mailbox: Mailbox) -> None:
    await api.register("moss", email="moss@example.org")
    await send_mail(api)
    token = link_token(mailbox.to("moss@example.org")[0], "verify-email")
    reset = await api.client.post("/v1/auth/password-reset/confirm", json={"token": token, "password": "a" * 12})
    assert reset.status_code == 400 and reset.json()["type"] == INVALID_TOKEN
    assert await verify(api, token) == 204


@pytest.mark.settings(email_verify_ttl_s=1)
async def test_verification_links_expire(api: Api, mailbox: Mailbox) -> None:
    import asyncio

    await api.register("sage", email="sage@example.org")
    await send_mail(api)
    assert "1 hour." in parts(mailbox.to("sage@example.org")[0])[0]
    await asyncio.sleep(1.2)  # tokens expire by the wall clock, like every credential
    assert await verify(api, link_token(mailbox.to("sage@example.org")[0], "verify-email")) == 400


@pytest.mark.parametrize(
    "email",
    [
        "no-at-sign",
        "a@b",
        "two@@example.org",
        "space @example.org",
        "a@-example.org",
        ".leading-dot@example.org",
        "x" * 65 + "@example.org",
        "a@" + "b" * 250 + ".org",
        "é@example.org",
        "line@example.org\r\nBcc: victim@example.org",
        "",
        123,
        None,
    ],
)
async def test_bad_addresses_are_refused_and_change_nothing(api: Api, email: object) -> None:
    user = await api.register()
    response = await user.put("/v1/me/email", json={"email": email})
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "urn:canopy:problem:validation"
    assert (await me(user))["email"] is None
    registration = await api.client.post(
        "/v1/auth/register",
        json={"handle": "bad_mail", "password": "correct horse battery", "display_name": "B", "email": email},
    )
    assert registration.status_code == (201 if email is None else 400)  # null: no address given
    reset = await api.client.post("/v1/auth/password-reset", json={"email": email})
    assert reset.status_code == 400


async def test_put_me_email_needs_a_user(api: Api) -> None:
    assert (await api.client.put("/v1/me/email", json={"email": "a@example.org"})).status_code == 401
    operator = await api.client.put("/v1/me/email", json={"email": "a@example.org"}, headers=api.operator)
    assert operator.status_code == 403  # a valid credential of another role (SPEC 2)

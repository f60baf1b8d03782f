"""The pages the mailed links open (SPEC 12.2): `/verify-email` and `/reset-password`."""

from __future__ import annotations

import logging
import re

from server.redaction import RedactTokens
from tests.accounts.conftest import Mailbox, link_token, send_mail
from tests.accounts.helpers import PASSWORD, login, refreshes, verified_user, works
from tests.api import Api

CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NEW_PASSWORD = "a page-set passphrase"


def assert_secret_page(response: object, status: int) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "text/html; charset=utf-8"  # type: ignore[attr-defined]
    assert response.headers["referrer-policy"] == "no-referrer"  # type: ignore[attr-defined]
    assert "default-src 'self'" in response.headers["content-security-policy"]  # type: ignore[attr-defined]
    return response.text  # type: ignore[attr-defined]


def heading(html: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", html)
    assert found, html
    return found.group(1)


async def test_opening_the_verification_link_verifies_the_address_once(api: Api, mailbox: Mailbox) -> None:
    user = await api.register("page_fern", email="page.fern@example.org")
    await send_mail(api)
    token = link_token(mailbox.to("page.fern@example.org")[0], "verify-email")

    html = assert_secret_page(await api.client.get("/verify-email", params={"token": token}), 200)
    assert heading(html) == "Your email address is confirmed"
    assert (await user.get("/v1/me")).json()["email_verified"] is True
    again = assert_secret_page(await api.client.get("/verify-email", params={"token": token}, headers=CHINESE), 400)
    assert heading(again) == "此链接无法使用" and '<html lang="zh-Hans">' in again
    assert heading(assert_secret_page(await api.client.get("/verify-email"), 400)) == "This link does not work"
    long = await api.client.get("/verify-email", params={"token": "x" * 5000})
    assert heading(assert_secret_page(long, 400)) == "This link does not work"


async def test_the_verification_page_says_when_another_account_has_the_address(api: Api, mailbox: Mailbox) -> None:
    await verified_user(api, mailbox, "page_owner", "taken@example.org")
    other = await api.register("page_other")
    await other.put("/v1/me/email", json={"email": "taken@example.org"})
    await send_mail(api)
    token = link_token(mailbox.to("taken@example.org")[-1], "verify-email")
    html = assert_secret_page(await api.client.get("/verify-email", params={"token": token}), 409)
    assert heading(html) == "This address belongs to another account"
    # The refusal spent nothing: the API answers the same for the same link.
    again = await api.client.post("/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 409


async def test_the_reset_page_sets_a_new_password_without_javascript(api: Api, mailbox: Mailbox) -> None:
    user = await verified_user(api, mailbox, "page_birch", "page.birch@example.org")
    assert (
        await api.client.post("/v1/auth/password-reset", json={"email": "page.birch@example.org"})
    ).status_code == 202
    await send_mail(api)
    token = link_token(mailbox.to("page.birch@example.org")[-1], "reset-password")

    html = assert_secret_page(await api.client.get("/reset-password", params={"token": token}), 200)
    assert heading(html) == "Choose a new password"
    assert '<form method="post" action="/reset-password">' in html
    assert f'<input type="hidden" name="token" value="{token}">' in html
    assert '<label for="password">New password</label>' in html and 'autocomplete="new-password"' in html
    assert "<script" not in html

    # Problems are shown next to their fields; the token stays in the form, passwords never come back.
    mismatch = {"token": token, "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD + "!"}
    shown = assert_secret_page(await api.client.post("/reset-password", data=mismatch, headers=FORM), 422)
    assert '<p class="error" id="password_confirmation-error">The two passwords are not the same.</p>' in shown
    assert 'aria-describedby="password_confirmation-error" aria-invalid="true"' in shown
    assert NEW_PASSWORD not in shown and f'value="{token}"' in shown
    short = {"token": token, "password": "short", "password_confirmation": "short"}
    shown = assert_secret_page(await api.client.post("/reset-password", data=short, headers=CHINESE | FORM), 422)
    assert "密码需要 10 到 128 个字符。" in shown
    assert await works(api, user.tokens["access_token"])  # nothing changed yet

    good = {"token": token, "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}
    done = assert_secret_page(await api.client.post("/reset-password", data=good, headers=FORM), 200)
    assert heading(done) == "Your password is changed"
    assert not await works(api, user.tokens["access_token"])
    assert not await refreshes(api, user.tokens["refresh_token"])
    await login(api, "page_birch", NEW_PASSWORD)
    assert (
        await api.client.post("/v1/auth/login", json={"handle": "page_birch", "password": PASSWORD})
    ).status_code == 401

    used = assert_secret_page(await api.client.get("/reset-password", params={"token": token}), 400)
    assert heading(used) == "This link does not work"
    again = assert_secret_page(await api.client.post("/reset-password", data=good, headers=FORM), 400)
    assert heading(again) == "This link does not work"


async def test_the_reset_page_refuses_bad_links_and_bad_forms(api: Api) -> None:
    for params in ({}, {"token": "nope"}, {"token": "A" * 43}):
        html = assert_secret_page(await api.client.get("/reset-password", params=params), 400)
        assert heading(html) == "This link does not work"
    as_json = await api.client.post("/reset-password", json={"token": "A" * 43, "password": NEW_PASSWORD})
    assert as_json.status_code == 415 and as_json.headers["content-type"].startswith("text/html")
    broken = await api.client.post("/reset-password", content=b"token=%ff%fe&password=x", headers=FORM)
    assert broken.status_code == 400 and broken.headers["content-type"].startswith("text/html")
    twice = await api.client.post("/reset-password", content=b"token=a&token=b", headers=FORM)
    assert twice.status_code == 400


def test_link_tokens_are_kept_out_of_the_access_log() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/reset-password?token=SECRETsecret_-1&x=1", "1.1", 200),
        None,
    )
    RedactTokens().filter(record)
    assert "SECRET" not in record.getMessage() and "/reset-password?token=[redacted]&x=1" in record.getMessage()
    switcher = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "%s", ("/language?next=%2Fverify-email%3Ftoken%3DSECRET",), None
    )
    RedactTokens().filter(switcher)
    assert "SECRET" not in switcher.getMessage()

"""Signing in to the portals and the sessions on the server (SPEC 12.3)."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from cryptography.fernet import Fernet
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

import server.web.session as session_module
from server.app import create_app
from server.clock import wall_clock
from server.members.models import OrgKind
from server.settings import Settings
from server.web.session import SESSION_COOKIE
from server.web.signin import SECOND_FACTOR_COOKIE
from tests.api import Api
from tests.conftest import make_settings, redis_test_url
from tests.web.portal import PASSWORD, Portal, add_member, member_portal, sign_in


async def test_sign_in_goes_to_the_portal_with_an_httponly_lax_cookie(api: Api) -> None:
    await add_member(api, org_kind=OrgKind.OPERATOR, org_id=None, role="owner", email="ops@example.org")
    response = await api.client.post(
        "/login", data={"email": "OPS@example.org", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/"
    set_cookie = response.headers["set-cookie"].lower()
    assert f"{SESSION_COOKIE}=" in set_cookie and "httponly" in set_cookie and "samesite=lax" in set_cookie


async def test_a_wrong_password_shows_the_form_again_and_no_session(api: Api) -> None:
    await add_member(api, org_kind=OrgKind.OPERATOR, org_id=None, role="owner", email="ops@example.org")
    response = await api.client.post("/login", data={"email": "ops@example.org", "password": "not it at all"})
    assert response.status_code == 400
    assert "set-cookie" not in response.headers
    assert 'value="ops@example.org"' in response.text


async def test_pages_need_a_session_and_sign_out_ends_it_for_good(api: Api) -> None:
    anonymous = await api.client.get("/account", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/account"
    portal = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    assert (await portal.get("/account")).status_code == 200

    forged = await portal.post_form("/logout", csrf=False)
    assert forged.status_code == 403
    assert (await portal.get("/account")).status_code == 200  # a post without the token changed nothing

    assert (await portal.post_form("/logout")).status_code == 303
    replayed = await portal.get("/account")  # the old cookie, sent again
    assert replayed.status_code == 303


async def test_a_new_sign_in_never_keeps_the_session_the_browser_brought(api: Api) -> None:
    first = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    second = await sign_in(api, "ops@example.org")
    assert second.cookie != first.cookie and second.csrf_token != first.csrf_token


# --- both session stores -------------------------------------------------------------------------


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
async def store_api(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The app with its portal sessions in the database, or in Redis under this test's own prefix;
    `@pytest.mark.settings(...)` applies as to the `api` fixture."""
    overrides: dict[str, Any] = {}
    if request.param == "redis":
        overrides = {"redis_url": redis_test_url(), "redis_key_prefix": request.getfixturevalue("redis_prefix")}
    marker = request.node.get_closest_marker("settings")
    settings = make_settings(database_url, tmp_path / "data", **(marker.kwargs if marker else {}), **overrides)
    async with AsyncTestClient(create_app(settings), base_url="http://canopy.test", timeout=60) as client:
        yield Api(client, settings)


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The wall clock as the pages read it, `seconds` from now."""
    monkeypatch.setattr(session_module, "wall_clock", lambda: wall_clock() + timedelta(seconds=seconds))


async def test_sessions_live_and_end_in_either_store(store_api: Api) -> None:
    portal = await member_portal(store_api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    assert (await portal.get("/account")).status_code == 200
    if store_api.settings.redis_url:
        client = Redis.from_url(store_api.settings.redis_url)
        keys = await client.keys(store_api.settings.redis_key_prefix + "session:*")
        await client.aclose()
        assert len(keys) == 1 and portal.cookie.encode() not in keys[0]  # only the token's hash
    assert (await portal.post_form("/logout")).status_code == 303
    assert (await portal.get("/account")).status_code == 303  # the cookie replayed after sign-out


@pytest.mark.settings(web_session_idle_s=3600, web_session_max_age_s=4 * 3600)
async def test_a_session_ends_when_idle_and_at_its_maximum_age(store_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    idle = await member_portal(store_api, org_kind=OrgKind.OPERATOR, email="idle@example.org")
    busy = await sign_in(store_api, "idle@example.org")
    for minutes in (50, 100, 150, 200):  # `busy` is used every 50 minutes
        later(monkeypatch, minutes * 60)
        assert (await busy.get("/account")).status_code == 200, minutes
    assert (await idle.get("/account")).status_code == 303  # unused for over an hour
    later(monkeypatch, 4 * 3600 + 60)
    assert (await busy.get("/account")).status_code == 303  # four hours old, however busy


async def test_a_removed_members_session_stops_in_either_store(store_api: Api) -> None:
    response = await store_api.client.post(
        "/v1/admin/ngos", json={"name": "Green Hands", "contact_email": "a@b.example"}, headers=store_api.operator
    )
    ngo = response.json()["id"]
    portal = await member_portal(store_api, org_kind=OrgKind.NGO, org_id=ngo, email="gone@ngo.example")
    assert (await portal.get("/ngo/members")).status_code == 200
    (member,) = (await store_api.client.get(f"/v1/admin/ngos/{ngo}/members", headers=store_api.operator)).json()[
        "items"
    ]
    await store_api.client.delete(f"/v1/admin/ngos/{ngo}/members/{member['id']}", headers=store_api.operator)
    assert (await portal.get("/ngo/members")).status_code == 303


async def test_a_session_cookie_is_secure_in_production(database_url: str, tmp_path: Path) -> None:
    production = Settings(
        **make_settings(database_url, tmp_path / "data").model_dump()
        | {
            "env": "production",
            "test_clock": False,
            "secret_key": "s" * 40,
            "operator_token": "o" * 30,
            "signing_key": base64.urlsafe_b64encode(b"k" * 32).decode().rstrip("="),
            "encryption_key": Fernet.generate_key().decode(),
            "smtp_url": "smtp://127.0.0.1:2525",
        }
    )
    async with AsyncTestClient(create_app(production), base_url="http://canopy.test", timeout=60) as client:
        api = Api(client, production)
        await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
        response = await client.post(
            "/login", data={"email": "ops@example.org", "password": PASSWORD}, follow_redirects=False
        )
    assert response.status_code == 303
    set_cookie = response.headers["set-cookie"].lower()
    assert "secure" in set_cookie and "httponly" in set_cookie and "samesite=lax" in set_cookie


# --- sign-in: throttling and login CSRF ------------------------------------------------------------


@pytest.mark.settings(login_fail_limit_per_handle=3)
async def test_sign_in_is_throttled_even_in_parallel(api: Api) -> None:
    await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    wrong = {"email": "ops@example.org", "password": "not the password"}
    answers = await asyncio.gather(*(api.client.post("/login", data=wrong) for _ in range(10)))
    assert sorted(a.status_code for a in answers) == [400] * 3 + [429] * 7
    right = await api.client.post("/login", data={"email": "ops@example.org", "password": PASSWORD})
    assert right.status_code == 429 and "set-cookie" not in right.headers
    assert right.headers["content-type"].startswith("text/html") and 0 < int(right.headers["retry-after"]) <= 900
    assert "Too many requests" in right.text


async def test_the_sign_in_form_from_another_site_is_refused(api: Api) -> None:
    await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    data = {"email": "ops@example.org", "password": PASSWORD}
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"},
        {"Origin": "null"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        forged = await api.client.post("/login", data=data, headers=headers, follow_redirects=False)
        assert forged.status_code == 403 and "set-cookie" not in forged.headers, headers
    for headers in (
        {"Origin": "http://canopy.test"},
        {"Origin": api.settings.public_base_url},
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # from a no-referrer page
        {},
    ):
        signed_in = await api.client.post("/login", data=data, headers=headers, follow_redirects=False)
        assert signed_in.status_code == 303, headers
        api.client.cookies.clear()


# --- the TOTP second factor ---------------------------------------------------------------------


async def turn_on_totp(portal: Portal) -> pyotp.TOTP:
    """Enrol as a person does: the QR page, its secret into an app, a code back."""
    setup = await portal.get("/account/totp")
    assert setup.status_code == 200 and "<svg" in setup.text
    secret = re.search(r'data-secret="([A-Z2-7]+)"', setup.text)
    sealed = re.search(r'name="sealed" value="([^"]+)"', setup.text)
    assert secret and sealed
    app = pyotp.TOTP(secret.group(1))
    done = await portal.post_form("/account/totp", {"sealed": sealed.group(1), "code": app.now()})
    assert done.status_code == 303 and done.headers["location"] == "/account?done=totp-on"
    return app


def next_code(app: pyotp.TOTP) -> str:
    """The code of the next step (accepted: a phone's clock may run a little ahead)."""
    return app.at(time.time() + 30)


async def send(api: Api, path: str, data: dict[str, str] | None = None, *, waiting: str = "") -> httpx.Response:
    """A browser's GET (or form POST with `data`) before it has a session: with the cookie the
    password step set, if any; redirects are not followed and the client keeps no cookie."""
    headers = {"Cookie": f"{SECOND_FACTOR_COOKIE}={waiting}"} if waiting else {}
    if data is None:
        response = await api.client.get(path, headers=headers, follow_redirects=False)
    else:
        response = await api.client.post(path, data=data, headers=headers, follow_redirects=False)
    api.client.cookies.clear()
    return response


async def password_step(api: Api, **extra: str) -> httpx.Response:
    return await send(api, "/login", {"email": "ops@example.org", "password": PASSWORD, **extra})


async def test_two_step_sign_in(api: Api) -> None:
    portal = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    app = await turn_on_totp(portal)
    assert "Two-step sign-in is on" in (await portal.get("/account?done=totp-on")).text

    password = await password_step(api, next="/admin/operators")
    assert password.status_code == 303 and password.headers["location"] == "/login/code?next=/admin/operators"
    assert SESSION_COOKIE not in password.cookies  # no session before the code
    waiting = password.cookies[SECOND_FACTOR_COOKIE]
    for path in ("/account", "/admin/operators"):  # nothing loads with the password alone
        assert (await send(api, path, waiting=waiting)).headers["location"].startswith("/login?next=")
    assert (await send(api, "/login/code", waiting=waiting)).status_code == 200

    code = next_code(app)
    wrong = await send(api, "/login/code", {"code": "000000"}, waiting=waiting)
    assert wrong.status_code == 400 and "set-cookie" not in wrong.headers
    right = await send(api, "/login/code", {"code": code, "next": "/admin/operators"}, waiting=waiting)
    assert right.status_code == 303 and right.headers["location"] == "/admin/operators"
    assert SESSION_COOKIE in right.cookies

    # The code is spent: the same code, or an older one, never signs in again.
    replay = (await password_step(api)).cookies[SECOND_FACTOR_COOKIE]
    for spent in (code, app.now()):
        replayed = await send(api, "/login/code", {"code": spent}, waiting=replay)
        assert replayed.status_code == 400 and SESSION_COOKIE not in replayed.cookies
    # Without the password's cookie, or with a forged one, the code page sends back to /login.
    forged = waiting[:-4] + "abcd"
    for cookie in ("", forged):
        answer = await send(api, "/login/code", {"code": next_code(app)}, waiting=cookie)
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        assert SESSION_COOKIE not in answer.cookies


@pytest.mark.settings(login_fail_limit_per_handle=3)
async def test_wrong_codes_are_throttled(api: Api) -> None:
    portal = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    app = await turn_on_totp(portal)
    waiting = (await password_step(api)).cookies[SECOND_FACTOR_COOKIE]
    answers = await asyncio.gather(*(send(api, "/login/code", {"code": f"{n:06d}"}, waiting=waiting) for n in range(6)))
    assert sorted(a.status_code for a in answers) == [400] * 3 + [429] * 3
    refused = await send(api, "/login/code", {"code": next_code(app)}, waiting=waiting)
    assert refused.status_code == 429 and SESSION_COOKIE not in refused.cookies


async def test_turning_totp_off_needs_a_code_and_the_csrf_token(api: Api) -> None:
    portal = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    app = await turn_on_totp(portal)
    assert (await portal.post_form("/account/totp/off", {"code": next_code(app)}, csrf=False)).status_code == 403
    assert (await portal.post_form("/account/totp/off", {"code": "123456"})).status_code == 400
    off = await portal.post_form("/account/totp/off", {"code": next_code(app)})
    assert off.status_code == 303 and off.headers["location"] == "/account?done=totp-off"
    assert (await sign_in(api, "ops@example.org")).cookie  # one step again


async def test_a_sealed_secret_from_another_member_is_refused(api: Api) -> None:
    first = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    second = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops2@example.org")
    setup = await first.get("/account/totp")
    secret = re.search(r'data-secret="([A-Z2-7]+)"', setup.text)
    sealed = re.search(r'name="sealed" value="([^"]+)"', setup.text)
    assert secret and sealed
    code = pyotp.TOTP(secret.group(1)).now()
    stolen = await second.post_form("/account/totp", {"sealed": sealed.group(1), "code": code})
    assert stolen.status_code == 303 and stolen.headers["location"] == "/account/totp"
    assert "Turn on two-step sign-in" in (await second.get("/account")).text


@pytest.mark.settings(operator_totp_required=True)
async def test_operators_may_be_required_to_turn_totp_on(api: Api) -> None:
    operator = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    for path in ("/admin/operators", f"/admin/ngos/{'x' * 8}/members"):
        sent = await operator.get(path)
        assert sent.status_code == 303 and sent.headers["location"] == "/account", path
    account = await operator.get("/account")
    assert account.status_code == 200 and "Operators must use two-step sign-in" in account.text
    await turn_on_totp(operator)
    assert (await operator.get("/admin/operators")).status_code == 200

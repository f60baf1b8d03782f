"""Structured logs (SPEC 14): one JSON object a line with the request id, the route's template,
the status, the duration and the actor; never a password, token, key, secret, signature, green
code or email address, whatever credential or hostile input the request carried. `X-Request-Id`
is taken from the request when it is sane, else made, and echoed on every answer."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from litestar import post
from litestar.params import JSONBody
from pydantic import BaseModel

from server.configuration import problems
from server.logs import JsonFormatter, TextFormatter
from server.members.models import OrgKind
from server.settings import Settings
from tests.accounts.conftest import link_token, mailbox, send_mail, settings  # noqa: F401 (fixtures)
from tests.api import Api
from tests.ops.test_hostile_input import assert_problem
from tests.partners.helpers import encode, make_partner, report_body, signature
from tests.planting.helpers import create_ngo
from tests.web.portal import PASSWORD as PORTAL_PASSWORD
from tests.web.portal import accept, invite, portal_of, sign_in

GENERATED_ID = re.compile(r"[0-9a-f]{32}")
ACCESS_FIELDS = {"time", "level", "logger", "message", "request_id", "method", "route", "status", "duration_ms"}
ACTOR_KINDS = {"user", "partner", "ngo", "operator", "member", "anonymous"}


class Logs:
    """Every line the app's configured formatter writes, from every logger, during the test."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def entries(self) -> list[dict[str, Any]]:
        lines = self.text.splitlines()
        assert lines, "nothing was logged"
        return [json.loads(line) for line in lines]

    def access(self) -> list[dict[str, Any]]:
        return [entry for entry in self.entries() if entry["logger"] == "canopy.access"]

    def of_request(self, request_id: str) -> list[dict[str, Any]]:
        return [entry for entry in self.entries() if entry.get("request_id") == request_id]


@pytest.fixture
def logs(api: Api) -> Iterator[Logs]:
    configured = [h.formatter for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert configured, "the app configures the root logger with the JSON formatter"
    captured = Logs()
    handler = logging.StreamHandler(captured.buffer)
    handler.setFormatter(configured[0])
    loggers = [logging.getLogger(), logging.getLogger("litestar")]
    for logger in loggers:
        logger.addHandler(handler)
    yield captured
    for logger in loggers:
        logger.removeHandler(handler)


class Secrets:
    """The values that must never be logged, and their encoded forms (URL, JSON)."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, *values: str) -> None:
        for value in values:
            assert len(value) >= 8, value  # a short value could occur by chance
            self.values.add(value)

    def assert_absent_from(self, text: str) -> None:
        for value in self.values:
            for form in {value, quote(value, safe=""), json.dumps(value)[1:-1]}:
                assert form not in text, f"{value!r} was logged"


class Login(BaseModel):
    password: int


@post("/v1/test-only/fail", sync_to_thread=False, include_in_schema=False)
def fail(data: JSONBody[dict[str, str]]) -> None:
    """A bug that quotes what it was given: pydantic repeats the input, the message names the rest."""
    try:
        Login.model_validate({"password": data["password"]})
    except ValueError as exc:
        raise RuntimeError(
            f"sign-in of {data['email']} failed; Authorization: Bearer {data['token']}; cookie: {data['cookie']}"
        ) from exc


async def users_and_mail(api: Api, mailbox, found: Secrets) -> dict[str, str]:  # noqa: F811
    """Register with an address, verify it, log in, refresh, reset the password by mail (the API
    and the page whose URL carries the token), log in again; and a wrong password."""
    email, first, second, wrong = (
        "log.birch@example.org",
        "first secret passphrase",
        "second secret pass",
        "wrong-pw-1234",
    )
    found.add(email, first, second, wrong, "log.birch%40example.org")
    registered = await api.client.post(
        "/v1/auth/register", json={"handle": "logbirch", "password": first, "display_name": "B", "email": email}
    )
    assert registered.status_code == 201, registered.text
    tokens = registered.json()
    await send_mail(api)
    verify = link_token(mailbox.to(email)[-1], "verify-email")
    assert (await api.client.get("/verify-email", params={"token": verify})).status_code == 200
    login = await api.client.post("/v1/auth/login", json={"handle": "logbirch", "password": first})
    assert login.status_code == 200, login.text
    refreshed = await api.client.post("/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    refused = await api.client.post("/v1/auth/login", json={"handle": "logbirch", "password": wrong})
    assert refused.status_code == 401
    assert (await api.client.post("/v1/auth/password-reset", json={"email": email})).status_code == 202
    await send_mail(api)
    reset = link_token(mailbox.to(email)[-1], "reset-password")
    assert (await api.client.get("/reset-password", params={"token": reset})).status_code == 200
    confirmed = await api.client.post("/v1/auth/password-reset/confirm", json={"token": reset, "password": second})
    assert confirmed.status_code == 204
    again = await api.client.post("/v1/auth/login", json={"handle": "logbirch", "password": second})
    assert again.status_code == 200, again.text
    for issued in (tokens, login.json(), refreshed.json(), again.json()):
        found.add(issued["access_token"], issued["refresh_token"])
    found.add(verify, reset)
    return {"user_id": tokens["user"]["id"], "access_token": again.json()["access_token"]}


async def drive_every_credential(api: Api, mailbox, found: Secrets) -> dict[str, str]:  # noqa: F811
    """Each kind of caller once, with its credential; returns the actor ids to expect."""
    found.add(api.settings.operator_token)
    tokens = await users_and_mail(api, mailbox, found)
    user_id, bearer = tokens["user_id"], {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await api.client.get("/v1/me", headers=bearer)).status_code == 200

    partner = await make_partner(api)
    found.add(partner.secret)
    code_response = await api.client.post("/v1/me/green-code", headers=bearer)
    assert code_response.status_code == 201
    code = code_response.json()["code"]
    body = await report_body(code=code, occurred_at=(await api.now()).isoformat().replace("+00:00", "Z"))
    timestamp = await partner.timestamp()
    signed = signature(partner.secret, timestamp, "POST", "/v1/partner/reports", encode(body))
    found.add(code, signed)
    reported = await partner.report(body, timestamp=timestamp, signatures=[f"v1={signed}"])
    assert reported.status_code == 201, reported.text

    ngo = await create_ngo(api, name="Logged Hands", webhook_url="https://hooks.example.org/canopy")
    found.add(ngo.key, ngo.created["webhook_secret"], "plant@example.org")
    assert (await ngo.get("/v1/ngo/orders")).status_code == 200

    email = "log.owner@example.org"
    found.add(email, PORTAL_PASSWORD)
    url = await invite(api, org_kind=OrgKind.NGO, org_id=ngo.id, email=email)
    found.add(url.partition("token=")[2])
    joined = await portal_of(api, email, await accept(api, url, name="Owner"))
    again = await sign_in(api, email)
    for portal in (joined, again):
        found.add(portal.cookie, portal.csrf_token)
        assert (await portal.get("/ngo/")).status_code == 200
    assert (await joined.post_form("/logout")).status_code in (200, 303)
    return {"user": user_id, "partner": partner.id, "ngo": ngo.id}


async def send_hostile_inputs(api: Api, found: Secrets) -> None:
    """Bad JSON, lone surrogates, huge values, wrong credentials and signatures, secrets in query
    strings and paths: each refused, none of them logged."""
    hidden = "bad-json-password-77"
    huge = secrets.token_hex(50_000)
    found.add(hidden, huge[:64], huge[-64:])
    json_headers = {"content-type": "application/json"}
    refusals = [
        await api.client.post(
            "/v1/auth/login", content=f'{{"handle": "x", "password": "{hidden}"', headers=json_headers
        ),
        await api.client.post(
            "/v1/auth/login", content=json.dumps({"handle": "x", "password": hidden + "\ud800"}), headers=json_headers
        ),
        await api.client.post("/v1/auth/register", json={"handle": "huge", "password": huge, "display_name": "H"}),
        await api.client.post("/v1/auth/password-reset", json={"email": "x" * 300 + "@example.org"}),
    ]
    for response in refusals:
        assert_problem(response, statuses=(400, 413, 422))

    wrong_key, wrong_token, wrong_secret = "ngo_" + secrets.token_urlsafe(32), secrets.token_urlsafe(24), "x" * 40
    found.add(wrong_key, wrong_token)
    partner = await make_partner(api)
    timestamp = await partner.timestamp()
    forged = signature(wrong_secret, timestamp, "POST", "/v1/partner/reports", b"{}")
    found.add(forged)
    unauthorized = [
        await api.client.get("/v1/ngo/orders", headers={"Authorization": f"Bearer {wrong_key}"}),
        await api.client.get("/v1/admin/clock", headers={"Authorization": f"Bearer {wrong_token}"}),
        await api.client.get("/v1/me", headers={"Authorization": f"Bearer {wrong_token}"}),
        await partner.post("/v1/partner/reports", {}, timestamp=timestamp, signatures=[f"v1={forged}"]),
    ]
    for response in unauthorized:
        assert_problem(response, statuses=(401,))

    in_urls = secrets.token_urlsafe(32)
    found.add(in_urls)
    assert (await api.client.get(f"/no-such-page?token={in_urls}&email=someone%40example.org")).status_code == 404
    assert (await api.client.get(f"/no-such-page/{in_urls}")).status_code == 404
    assert (await api.client.get("/invite", params={"token": in_urls})).status_code in (200, 400, 404)
    ngo = await create_ngo(api, name="Hostile Hands")
    found.add(ngo.key)
    assert (await ngo.get(f"/v1/ngo/orders/{in_urls}")).status_code == 404  # a route: logged as its template


async def test_every_line_is_json_and_no_credential_reaches_the_log(
    api: Api,
    mailbox,  # noqa: F811
    logs: Logs,
) -> None:
    found = Secrets()
    actors = await drive_every_credential(api, mailbox, found)
    await send_hostile_inputs(api, found)

    found.assert_absent_from(logs.text)
    entries = logs.entries()  # every line parses
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    access = logs.access()
    assert len(access) > 40
    for entry in access:
        assert entry.keys() >= ACCESS_FIELDS, entry
        assert entry["actor_kind"] in ACTOR_KINDS and isinstance(entry["duration_ms"], float)
        assert entry["route"] is None or ("?" not in entry["route"] and entry["route"].startswith("/")), entry
    seen = {(entry["actor_kind"], entry["actor_id"]) for entry in access}
    assert {("user", actors["user"]), ("partner", actors["partner"]), ("ngo", actors["ngo"])} <= seen
    assert ("operator", None) in seen and ("anonymous", None) in seen
    assert any(kind == "member" and member_id for kind, member_id in seen)
    routes = {(entry["method"], entry["route"], entry["status"]) for entry in access}
    assert {
        ("POST", "/v1/auth/login", 200),
        ("POST", "/v1/auth/login", 401),
        ("POST", "/v1/auth/login", 400),
        ("GET", "/verify-email", 200),
        ("POST", "/v1/partner/reports", 201),
        ("GET", "/ngo", 200),
        ("GET", None, 404),
        ("GET", "/v1/ngo/orders/{order_id}", 404),
    } <= routes, routes


async def test_an_application_error_is_logged_with_its_request_id_but_without_secrets(
    api: Api,
    logs: Logs,
) -> None:
    api.client.app.register(fail)
    user = await api.register("logfail")
    given = {
        "password": "correct horse battery",
        "email": "leak.me@example.org",
        "token": user.tokens["access_token"],
        "cookie": secrets.token_urlsafe(32),
    }
    response = await api.client.post("/v1/test-only/fail", json=given, headers={"X-Request-Id": "trace-500"})
    assert_problem(response, statuses=(500,))
    assert response.headers["x-request-id"] == "trace-500"
    [error] = [entry for entry in logs.of_request("trace-500") if entry["level"] == "ERROR"]
    assert error["logger"] == "canopy.errors" and error["exception_type"] == "RuntimeError"
    assert "ValidationError" in error["exception"] and "fail\n    raise RuntimeError(" in error["exception"]
    assert "[email]" in error["exception"] and "input_value=[redacted]" in error["exception"]
    [access] = [entry for entry in logs.of_request("trace-500") if entry["logger"] == "canopy.access"]
    assert (access["route"], access["status"]) == ("/v1/test-only/fail", 500)
    found = Secrets()
    found.add(*given.values())
    found.assert_absent_from(logs.text)


async def test_the_request_id_is_taken_when_sane_made_otherwise_and_echoed_on_every_answer(
    api: Api, logs: Logs
) -> None:
    user = await api.register("logid")
    given = await api.client.get("/v1/me", headers={**user.headers, "X-Request-Id": "client-req.42:a/b=+"})
    assert given.headers["x-request-id"] == "client-req.42:a/b=+"
    made = [(await api.client.get("/health")).headers["x-request-id"] for _ in range(2)]
    assert all(GENERATED_ID.fullmatch(value) for value in made) and made[0] != made[1]

    for hostile in ("x" * 129, "has space", '"quoted"', "<script>", "-leading-dash", "ü-umlaut".encode(), b"\xff\xfe"):
        response = await api.client.get("/health", headers={"X-Request-Id": hostile})
        assert GENERATED_ID.fullmatch(response.headers["x-request-id"]), hostile
    assert "x" * 129 not in logs.text and "<script>" not in logs.text

    for attempt in ("first-try", "retry"):  # a replayed answer carries the retry's own id, once
        headers = {**user.headers, "Idempotency-Key": "logs-green-code", "X-Request-Id": attempt}
        replayed = await api.client.post("/v1/me/green-code", headers=headers)
        assert replayed.status_code == 201 and replayed.headers.get_list("x-request-id") == [attempt]
    assert replayed.headers["idempotent-replayed"] == "true"

    errors = [
        await api.client.get("/v1/no-such-route"),
        await api.client.delete("/health"),
        await api.client.get("/v1/me"),
        await api.client.put(
            "/v1/me/steps/2026-01-01", content=b"{", headers={**user.headers, "content-type": "application/json"}
        ),
        await api.client.post("/v1/auth/login", content=b"x" * (api.settings.request_max_body_bytes + 1)),
    ]
    assert [response.status_code for response in errors] == [404, 405, 401, 400, 413]
    for response in errors:
        assert response.headers["content-type"].startswith("application/problem+json")
        request_id = response.headers["x-request-id"]
        [line] = [entry for entry in logs.of_request(request_id) if entry["logger"] == "canopy.access"]
        assert line["status"] == response.status_code
    [steps] = [entry for entry in logs.access() if entry["status"] == 400]
    # The body is refused before the credential is read: no actor is named that was not verified.
    assert (steps["route"], steps["actor_kind"], steps["actor_id"]) == ("/v1/me/steps/{day}", "anonymous", None)
    [mine] = logs.of_request("client-req.42:a/b=+")
    assert (mine["route"], mine["actor_kind"], mine["actor_id"], mine["status"]) == ("/v1/me", "user", user.id, 200)


def test_the_text_format_is_for_development_only() -> None:
    refused = problems(Settings(env="production", log_format="text"))
    assert any(line.startswith("CANOPY_LOG_FORMAT is text") for line in refused), refused
    assert Settings(log_level="warning").log_level == "WARNING"
    record = logging.LogRecord("canopy.access", logging.INFO, __file__, 1, "request", None, None)
    record.access = {"method": "GET", "route": "/v1/me", "status": 200, "duration_ms": 1.25}
    assert TextFormatter().format(record).endswith(" INFO canopy.access GET /v1/me 200 1.25 ms")

"""Idempotency-Key on POST (SPEC 10): replays, mismatches and concurrent repeats."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from litestar.routes import HTTPRoute
from sqlalchemy import select

from server.app import create_app
from server.db import Database
from server.idempotency import ISSUES_CREDENTIALS, IdempotencyRecord
from server.settings import Settings
from tests.api import Api
from tests.planting.helpers import create_ngo, image_bytes


async def test_a_repeated_collect_replays_the_first_response(api: Api) -> None:
    user = await api.register()
    ball = (await user.walk(5_000))["ball"]
    await api.advance_to_next_morning()
    key = {"Idempotency-Key": "collect-1"}
    first = await user.post(f"/v1/me/balls/{ball['id']}/collect", headers=key)
    second = await user.post(f"/v1/me/balls/{ball['id']}/collect", headers=key)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"collected_g": 100, "balance_g": 100}
    assert second.headers.get("idempotent-replayed") == "true"
    without_key = await user.post(f"/v1/me/balls/{ball['id']}/collect")
    assert without_key.status_code == 409


async def test_same_key_with_another_body_is_422(api: Api) -> None:
    user = await api.register()
    project = await api.project()
    body = {"project_id": project["id"], "species_id": project["species"][0]["species_id"]}
    key = {"Idempotency-Key": "adopt-1"}
    assert (await user.post("/v1/me/trees", json=body, headers=key)).status_code == 201
    replay = await user.post("/v1/me/trees", json=body, headers=key)
    assert replay.status_code == 201
    other = await user.post("/v1/me/trees", json={**body, "auto_plant": True}, headers=key)
    assert other.status_code == 422 and other.json()["type"].endswith(":idempotency-key-reused")
    assert len((await user.get("/v1/me/trees")).json()["items"]) == 1


async def test_keys_are_scoped_to_the_credential(api: Api) -> None:
    alice, bob = await api.register(), await api.register()
    project = await api.project()
    body = {"project_id": project["id"], "species_id": project["species"][0]["species_id"]}
    key = {"Idempotency-Key": "same-key"}
    first = await alice.post("/v1/me/trees", json=body, headers=key)
    second = await bob.post("/v1/me/trees", json=body, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


async def test_validation_failures_are_not_remembered(api: Api) -> None:
    user = await api.register()
    project = await api.project()
    key = {"Idempotency-Key": "retry-me"}
    bad = await user.post("/v1/me/trees", json={"project_id": project["id"]}, headers=key)
    assert bad.status_code == 400
    good = await user.post(
        "/v1/me/trees",
        json={"project_id": project["id"], "species_id": project["species"][0]["species_id"]},
        headers=key,
    )
    assert good.status_code == 201


async def test_concurrent_repeats_run_once(api: Api) -> None:
    user = await api.register()
    ball = (await user.walk(5_000))["ball"]
    await api.advance_to_next_morning()
    key = {"Idempotency-Key": "burst"}
    responses = await asyncio.gather(*(user.post(f"/v1/me/balls/{ball['id']}/collect", headers=key) for _ in range(10)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}
    assert all(r.json() == {"collected_g": 100, "balance_g": 100} for r in responses if r.status_code == 200)
    in_flight = [r for r in responses if r.status_code == 409]
    assert all(r.json()["type"].endswith(":idempotency-in-flight") for r in in_flight)
    assert await user.balance() == 100


async def test_replays_expire_after_24_hours(api: Api) -> None:
    user = await api.register()
    key = {"Idempotency-Key": "daily"}
    first = await user.post("/v1/me/balls/collect", headers=key)
    await api.advance(24 * 3600 + 60)
    await user.walk(5_000)
    await api.advance_to_next_morning()
    later = await user.post("/v1/me/balls/collect", headers=key)
    assert first.json()["collected_g"] == 0 and later.json()["collected_g"] == 100


def _multipart(boundary: str, image: bytes) -> tuple[bytes, dict[str, str]]:
    """A photo upload as a client builds it, with the boundary given (every client draws a new one)."""
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="tree.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def test_a_retried_photo_upload_with_a_new_boundary_replays(api: Api) -> None:
    ngo = await create_ngo(api)
    image = image_bytes(1)

    async def upload(boundary: str, picture: bytes) -> httpx.Response:
        body, headers = _multipart(boundary, picture)
        return await api.client.post(
            "/v1/ngo/photos", content=body, headers={**ngo.headers, **headers, "Idempotency-Key": "photo-1"}
        )

    first = await upload("first-attempt-0123456789", image)
    assert first.status_code == 201, first.text
    retry = await upload("retry-attempt-9876543210", image)
    assert retry.status_code == 201, retry.text
    assert retry.headers.get("idempotent-replayed") == "true"
    assert retry.json() == first.json()
    other = await upload("third-attempt-5555555555", image_bytes(2))
    assert other.status_code == 422 and other.json()["type"].endswith(":idempotency-key-reused")


async def _stored_records(api: Api) -> list[IdempotencyRecord]:
    database = Database(api.settings.database_url)
    try:
        async with database.read_sessions() as session:
            return list((await session.execute(select(IdempotencyRecord))).scalars())
    finally:
        await database.dispose()


async def test_no_credential_is_stored_or_replayed(api: Api) -> None:
    """Register, login, refresh and every key-issuing operator call, each with a key, then repeated."""
    secrets: list[str] = []
    credentials: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        ("/v1/auth/register", {"handle": "keyed", "password": "correct horse battery", "display_name": "K"}, {}),
        ("/v1/auth/login", {"handle": "keyed", "password": "correct horse battery"}, {}),
        ("/v1/admin/partners", {"name": "Metro", "kind": "transit", "allowed_actions": ["metro_ride"],
                                "webhook_url": "http://127.0.0.1:9/hooks"}, api.operator),
        ("/v1/admin/ngos", {"name": "Green Hands", "contact_email": "plant@example.org",
                            "webhook_url": "http://127.0.0.1:9/hooks"}, api.operator),
    ]  # fmt: skip
    created: dict[str, Any] = {}
    for path, body, headers in credentials:
        first = await api.client.post(path, json=body, headers={**headers, "Idempotency-Key": "once"})
        assert first.status_code in (200, 201), first.text
        created[path] = first.json()
        again = await api.client.post(path, json=body, headers={**headers, "Idempotency-Key": "once"})
        assert again.status_code == 409, again.text
        assert again.json()["type"].endswith(":idempotency-not-replayable")
    tokens = created["/v1/auth/login"]
    refreshed = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}, headers={"Idempotency-Key": "once"}
    )
    assert refreshed.status_code == 200, refreshed.text
    partner_id, ngo_id = created["/v1/admin/partners"]["id"], created["/v1/admin/ngos"]["id"]
    new_keys = [
        await api.client.post(path, headers={**api.operator, "Idempotency-Key": "rotate"})
        for path in (f"/v1/admin/partners/{partner_id}/keys", f"/v1/admin/ngos/{ngo_id}/keys")
    ]
    assert [r.status_code for r in new_keys] == [201, 201]

    for answer in [*created.values(), refreshed.json(), *(r.json() for r in new_keys)]:
        for field in ("access_token", "refresh_token", "secret", "webhook_secret", "api_key"):
            if field in answer:
                secrets.append(answer[field])
    assert len(secrets) == 2 + 2 + 2 + 2 + 2 + 1 + 1  # register, login, partner, NGO, refresh, new keys
    records = await _stored_records(api)
    assert len(records) == 7
    stored = "".join(
        f"{r.scope_hash}{r.request_hash}{r.headers_json}{(r.body or b'').decode('latin-1')}" for r in records
    )
    assert not [secret for secret in secrets if secret in stored]
    partners = await api.client.get("/v1/admin/partners", headers=api.operator)
    assert len(partners.json()["items"]) == 1  # the repeat created nothing


async def test_a_replayed_login_or_refresh_never_hands_back_a_revoked_token(api: Api) -> None:
    user = await api.register()
    login = {"handle": user.handle, "password": "correct horse battery"}
    first = await api.client.post("/v1/auth/login", json=login, headers={"Idempotency-Key": "login"})
    assert first.status_code == 200, first.text
    issued = first.json()["refresh_token"]
    rotated = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": issued}, headers={"Idempotency-Key": "refresh"}
    )
    assert rotated.status_code == 200, rotated.text
    logout = await api.client.post("/v1/auth/logout", json={"refresh_token": rotated.json()["refresh_token"]})
    assert logout.status_code == 204, logout.text

    replayed_login = await api.client.post("/v1/auth/login", json=login, headers={"Idempotency-Key": "login"})
    replayed_refresh = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": issued}, headers={"Idempotency-Key": "refresh"}
    )
    for replay, revoked in ((replayed_login, issued), (replayed_refresh, rotated.json()["refresh_token"])):
        assert revoked not in replay.text
        assert replay.status_code == 409 and replay.json()["type"].endswith(":idempotency-not-replayable")


# `invitation_url` carries an invitation token (SPEC 12.4: shown once).
CREDENTIAL_FIELD = re.compile(r"token|secret|key|invitation_url", re.IGNORECASE)


def _field_names(schema: Any, components: dict[str, Any], seen: frozenset[str] = frozenset()) -> set[str]:
    """Every property name in a JSON schema, through $refs, arrays, maps and unions."""
    if isinstance(schema, list):
        return set().union(*(_field_names(s, components, seen) for s in schema))
    if not isinstance(schema, dict):
        return set()
    if "$ref" in schema:
        name = schema["$ref"].rpartition("/")[2]
        return set() if name in seen else _field_names(components[name], components, seen | {name})
    names = set(schema.get("properties", {}))
    for nested in (*schema.get("properties", {}).values(), *(schema.get(k) for k in ("items", "additionalProperties"))):
        names |= _field_names(nested, components, seen)
    for union in ("oneOf", "anyOf", "allOf"):
        names |= _field_names(schema.get(union, []), components, seen)
    return names


def test_every_post_that_answers_credentials_is_marked_so() -> None:
    """A POST whose success response has a field named like a token, secret or key must be marked
    `issues_credentials` (its response is then never stored), and only such a POST is marked."""
    app = create_app(Settings(test_clock=True, scheduler_enabled=False))
    document = app.openapi_schema.to_schema()
    components = document["components"]["schemas"]
    answering, marked = set(), set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if "POST" not in handler.http_methods or not handler.resolve_include_in_schema():
                continue  # pages (server/web) are no API operations
            operation = document["paths"][route.path_format]["post"]
            fields = set()
            for status, response in operation["responses"].items():
                if status.startswith("2"):
                    for content in response.get("content", {}).values():
                        fields |= _field_names(content.get("schema"), components)
            if any(CREDENTIAL_FIELD.search(name) for name in fields):
                answering.add(route.path_format)
            if handler.opt.get(ISSUES_CREDENTIALS):
                marked.add(route.path_format)
    assert {"/v1/auth/login", "/v1/admin/ngos", "/v1/admin/partners/{partner_id}/keys"} <= answering
    assert answering == marked

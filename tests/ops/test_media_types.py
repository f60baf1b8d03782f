"""SPEC 10: a JSON endpoint answers 415 to a body of any other media type than `application/json`
(a charset parameter is fine). Every JSON endpoint of the app is enumerated from its OpenAPI
document and sent a body in each wrong media type, with the credential it takes."""

from __future__ import annotations

import re
import time

import pytest

from server.app import create_app
from server.settings import Settings
from tests.api import Api
from tests.ops.test_hostile_input import assert_problem
from tests.partners.helpers import make_partner, report_body, signature
from tests.planting.helpers import create_ngo

WRONG_MEDIA_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/xml",
    "multipart/form-data; boundary=x",
    "application/merge-patch+json",
    "application/json; charset=latin-1",
    None,  # no Content-Type at all
]


def json_operations() -> list[tuple[str, str, str]]:
    """(method, path, security scheme) of every operation whose body is JSON."""
    settings = Settings(test_clock=True, scheduler_enabled=False)
    document = create_app(settings).openapi_schema.to_schema()
    operations = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            if "application/json" in content:
                schemes = [name for requirement in operation.get("security", []) for name in requirement]
                operations.append((method.upper(), path, schemes[0] if schemes else "anyone"))
    return operations


JSON_OPERATIONS = json_operations()


def test_every_actor_has_json_endpoints() -> None:
    assert {scheme for _, _, scheme in JSON_OPERATIONS} == {"anyone", "user", "operator", "ngo", "partner"}
    assert len(JSON_OPERATIONS) >= 25


@pytest.mark.parametrize(("method", "path", "scheme"), JSON_OPERATIONS)
async def test_json_endpoints_refuse_other_media_types(api: Api, method: str, path: str, scheme: str) -> None:
    target = re.sub(r"\{[^}]+\}", "x1", path)
    body = b'{"name": "x"}'
    credentials: dict[str, str] = {}
    if scheme == "user":
        credentials = (await api.register()).headers
    elif scheme == "operator":
        credentials = api.operator
    elif scheme == "ngo":
        credentials = (await create_ngo(api)).headers
    for media_type in WRONG_MEDIA_TYPES:
        headers = {**credentials, **({"content-type": media_type} if media_type else {})}
        if scheme == "partner":
            partner = await make_partner(api)
            stamp = await partner.timestamp()
            headers |= {
                "Canopy-Key-Id": partner.key_id,
                "Canopy-Timestamp": stamp,
                "Canopy-Signature": "v1=" + signature(partner.secret, stamp, method, target, body),
            }
        response = await api.client.request(method, target, content=body, headers=headers)
        assert_problem(response, statuses=(415,))
        assert response.json()["type"] == "urn:canopy:problem:unsupported-media-type", (target, media_type)


async def test_a_refused_media_type_changes_nothing(api: Api) -> None:
    body = b'{"handle": "plain", "password": "correct horse battery", "display_name": "P"}'
    response = await api.client.post("/v1/auth/register", content=body, headers={"content-type": "text/plain"})
    assert_problem(response, statuses=(415,))
    for media_type in ("application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"):
        response = await api.client.patch(
            "/v1/me",
            content=b'{"display_name": "Plain"}',
            headers={**(await api.register()).headers, "content-type": media_type},
        )
        assert response.status_code == 200, (media_type, response.text)
    response = await api.client.post("/v1/auth/register", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text


async def test_a_post_without_a_body_needs_no_media_type(api: Api) -> None:
    user = await api.register()
    response = await api.client.post("/v1/me/balls/collect", headers=user.headers)
    assert response.status_code == 200, response.text
    response = await api.client.post("/v1/me/green-code", headers=user.headers)
    assert response.status_code == 201, response.text
    response = await api.client.post("/v1/admin/jobs/expire-balls/run", headers=api.operator)
    assert response.status_code == 200, response.text


async def test_signed_reports_check_the_signature_before_the_media_type(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    body = await report_body(user)
    forged = await partner.report(body, secret="not the secret", headers={"content-type": "text/plain"})
    assert_problem(forged, statuses=(401,))
    signed = await partner.report(body, headers={"content-type": "text/plain"})
    assert_problem(signed, statuses=(415,))
    assert (await user.forest())["balls"] == []
    assert (await partner.report(body)).status_code == 201  # the report_id and code were not used up


async def test_photo_uploads_stay_multipart(api: Api) -> None:
    from tests.planting.helpers import image_bytes

    ngo = await create_ngo(api)
    response = await ngo.upload(image_bytes(int(time.time()) % 1000))
    assert response.status_code == 201, response.text

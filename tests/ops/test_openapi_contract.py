"""Schemathesis against the app's own OpenAPI document: every operation, with the credential its
security scheme declares, through the real app (ASGI in-process, lifespan run) on the `--db` database.

Checks: no 5xx, and every response conforms to the document (status code, content type, body).
All operations share one database (a fresh one per operation cost ~1 s of setup each); the one
operation that would spoil the shared credential, `DELETE /v1/me`, deletes a user of its own.
The ledger audit must still hold after the whole run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from litestar import Litestar
from litestar.testing import AsyncTestClient
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.app import create_app
from server.settings import Settings
from tests.api import Api
from tests.conftest import PostgresDatabases, SqliteDatabases, make_settings
from tests.partners.helpers import make_partner, signature
from tests.planting.helpers import create_ngo

# The document the app serves at /schema/openapi.json (test_served_document_is_the_tested_one);
# built without a database, so the schema can parametrize the test at collection time.
DOCUMENT = create_app(Settings(test_clock=True, scheduler_enabled=False)).openapi_schema.to_schema()
schema = schemathesis.openapi.from_dict(DOCUMENT)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class Contract:
    """The app under test and the credentials: headers by security scheme (or by operation label)."""

    app: Litestar
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    partner: PartnerSignature | None = None


class PartnerSignature(requests.auth.AuthBase):
    """Signs each request exactly as sent (SPEC 7.2), stamped with the server's (test) clock."""

    def __init__(self, key_id: str, secret: str, now: Any) -> None:
        self.key_id = key_id
        self.secret = secret
        self.now = now

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        timestamp = str(int(self.now().timestamp()))
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        sig = signature(self.secret, timestamp, request.method or "", request.path_url, body)
        request.headers.update({"Canopy-Key-Id": self.key_id, "Canopy-Timestamp": timestamp})
        request.headers["Canopy-Signature"] = f"v1={sig}"
        return request


def _with_api(settings: Settings, work: Any) -> Any:
    """Run `work(api)` against a short-lived app of its own (setup and the final audit)."""

    async def run() -> Any:
        async with AsyncTestClient(create_app(settings), base_url="http://canopy.test", timeout=60) as client:
            return await work(Api(client, settings))

    return asyncio.run(run())


async def _credentials(api: Api) -> dict[str, Any]:
    user = await api.register()
    doomed = await api.register()
    ngo = await create_ngo(api)
    partner = await make_partner(api)
    headers = {"user": user.headers, "DELETE /v1/me": doomed.headers, "operator": api.operator, "ngo": ngo.headers}
    return {"headers": headers, "partner": (partner.key_id, partner.secret)}


@pytest.fixture(scope="module")
def contract(
    databases: SqliteDatabases | PostgresDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Contract]:
    url = databases.create()
    settings = make_settings(url, tmp_path_factory.mktemp("contract") / "data")
    created = _with_api(settings, _credentials)
    contract = Contract(create_app(settings), created["headers"])
    operator = created["headers"]["operator"]

    def server_now() -> datetime:
        response = schema["/v1/admin/clock"]["GET"].Case(headers=operator).call(app=contract.app)
        return datetime.fromisoformat(response.json()["now"])

    contract.partner = PartnerSignature(*created["partner"], server_now)
    yield contract
    asgi.shutdown_lifespans()
    audit = _with_api(settings, Api.audit)
    assert audit["ok"], audit
    databases.drop(url)


def test_served_document_is_the_tested_one(contract: Contract) -> None:
    served = schemathesis.openapi.from_asgi("/schema/openapi.json", contract.app)
    assert served.raw_schema == DOCUMENT


# About 40 cases per operation (~3,500 in all): schemathesis' coverage phase (boundary values, missing
# credentials, wrong types; not bounded by max_examples) plus 10 generated ones. Health checks are
# about generating from big schemas and the one shared fixture, not about the app.
@schema.parametrize()
@hypothesis_settings(
    max_examples=10, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
def test_operation_conforms(case: schemathesis.Case, contract: Contract) -> None:
    """The credential the operation's security scheme declares; `DELETE /v1/me` gets a user of its own."""
    security = case.operation.definition.raw.get("security") or [{}]
    scheme = next(iter(security[0]), None)
    kwargs: dict[str, Any] = {}
    headers = contract.headers.get(case.operation.label) or contract.headers.get(scheme or "", {})
    if scheme == "partner":
        kwargs["auth"] = contract.partner
    case.call_and_validate(app=contract.app, headers=headers, checks=CHECKS, **kwargs)

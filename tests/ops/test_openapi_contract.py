"""Schemathesis against the app's own OpenAPI document: every operation, with the credential its
security scheme declares, through the real app (ASGI in-process, lifespan run) on the `--db` database.

Both generation modes run in both phases (coverage and fuzzing): schema-valid requests must be
accepted and schema-violating ones refused, so the document must say what the validators enforce.
Checks: no 5xx; status code, content type and body as documented; valid data accepted; invalid
data rejected; a missing required header refused; an undocumented method answered 405 with
`Allow`; OPTIONS listing exactly the documented methods. Credentials are the test's real ones, so
schemathesis generates none (the credential tests live with each domain).

All operations share one database (a fresh one per operation cost ~1 s of setup each); the one
operation that would spoil the shared credential, `DELETE /v1/me`, deletes a user of its own.
The ledger audit must still hold after the whole run.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi import checks

from server.app import create_app
from server.settings import Settings
from server.users.schemas import IANA_TIME_ZONE, time_zones
from server.validation import PRINTABLE
from tests.api import Api
from tests.conftest import PostgresDatabases, SqliteDatabases, make_settings
from tests.partners.helpers import make_partner, signature
from tests.planting.helpers import create_ngo

# The document the app serves at /schema/openapi.json (test_served_document_is_the_tested_one);
# built without a database, so the schema can parametrize the test at collection time.
DOCUMENT = create_app(Settings(test_clock=True, scheduler_enabled=False)).openapi_schema.to_schema()
CONFIG = {
    "generation": {"with-security-parameters": False},
    "checks": {
        # Schemathesis' list and 422: a valid request may still be refused by a product rule (an unripe
        # ball, a short balance, a day steps cannot be reported for), which is state, not validation.
        # A 5xx is not_a_server_error's to report.
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
        }
    },
}
schema = schemathesis.openapi.from_dict(DOCUMENT, config=SchemathesisConfig.from_dict(CONFIG))

# Formats the document names and schemathesis cannot know: what the validators accept.
schemathesis.openapi.format(
    PRINTABLE,
    st.text(st.characters(exclude_categories=["Cc", "Cf", "Cs", "Co", "Cn"]), min_size=1, max_size=40).filter(
        str.strip
    ),
)
schemathesis.openapi.format(IANA_TIME_ZONE, st.sampled_from(sorted(time_zones())))


def _problem(response: Response) -> dict[str, Any]:
    if response.headers.get("content-type", [""])[0] != "application/problem+json":
        return {}
    body = response.json()
    return body if isinstance(body, dict) else {}


def _has_whole_float(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(_has_whole_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_whole_float(item) for item in value)
    return False


def _refuses_a_whole_float(response: Response, case: schemathesis.Case) -> bool:
    """JSON Schema counts `128.0` as the integer 128 and no keyword can tell them apart; the server
    refuses a float where an integer belongs (a float never becomes grams or a count)."""
    problem = _problem(response)
    errors = problem.get("errors") or []
    return (
        response.status_code == 400
        and _has_whole_float(case.body)
        and bool(errors)
        and all("must be an integer" in str(error.get("message")) for error in errors)
    )


def _refuses_an_opaque_cursor(response: Response, case: schemathesis.Case) -> bool:
    """A cursor is opaque: only one the server wrote is a cursor, however well formed another is."""
    return bool(case.query and case.query.get("cursor")) and _problem(response).get("type", "").endswith(":bad-cursor")


def _refuses_an_unknown_link_token(response: Response, case: schemathesis.Case) -> bool:
    """A mailed link's token is opaque too: only one the server issued, unspent, is a token."""
    return _problem(response).get("type", "").endswith(":invalid-token")


def _lists_a_species_twice(response: Response, case: schemathesis.Case) -> bool:
    """`uniqueItems` refuses the same item twice; a project's species are unique by species_id."""
    species = case.body.get("species") if isinstance(case.body, dict) else None
    if response.status_code != 400 or not isinstance(species, list):
        return False
    ids = [item["species_id"] for item in species if isinstance(item, dict) and isinstance(item.get("species_id"), str)]
    return len(set(ids)) < len(ids)


# Refusals of a schema-valid request that are right, and that no JSON Schema keyword can announce.
EXPRESSIBLE_NOWHERE = (
    _refuses_a_whole_float,
    _refuses_an_opaque_cursor,
    _refuses_an_unknown_link_token,
    _lists_a_species_twice,
)


def positive_data_acceptance(ctx: CheckContext, response: Response, case: schemathesis.Case) -> bool | None:
    """Schemathesis' check, less the refusals in EXPRESSIBLE_NOWHERE."""
    if any(refusal(response, case) for refusal in EXPRESSIBLE_NOWHERE):
        return None
    return checks.positive_data_acceptance(ctx, response, case)


CHECKS = [
    not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    positive_data_acceptance,
    checks.negative_data_rejection,
    checks.missing_required_header,
    checks.unsupported_method,
    checks.allow_header_conformance,
]
# Cases sent, by phase and generation mode (the run must have had both modes in both phases).
SENT: Counter[tuple[str, str]] = Counter()
OPERATIONS_RUN: set[str] = set()


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
    if {operation.label for operation in _operations()} == OPERATIONS_RUN:
        modes = {mode.value for mode in GenerationMode}
        assert {(phase, mode) for phase in ("coverage", "fuzzing") for mode in modes} <= set(SENT), SENT
    audit = _with_api(settings, Api.audit)
    assert audit["ok"], audit
    databases.drop(url)


def test_served_document_is_the_tested_one(contract: Contract) -> None:
    served = schemathesis.openapi.from_asgi("/schema/openapi.json", contract.app)
    assert served.raw_schema == DOCUMENT


def _operations() -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


# About 40 cases per operation (~3,500 in all, two thirds of them negative): schemathesis' coverage
# phase (boundary values, wrong types, missing fields, undocumented methods; not bounded by
# max_examples) plus 10 generated ones, each positive or negative.
# Health checks are about generating from big schemas and the one shared fixture, not about the app.
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
    SENT[(case.meta.phase.name.value, case.meta.generation.mode.value)] += 1
    OPERATIONS_RUN.add(case.operation.label)
    case.call_and_validate(app=contract.app, headers=headers, checks=CHECKS, **kwargs)

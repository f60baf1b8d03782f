"""The OpenAPI document explains itself (issue 15): every operation has a description, names the
problem types each of its error responses may carry (all listed in docs/problems.md, under the same
status), and shows an example of each request body and of each JSON success body, every example
valid against its own schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs

from server.errors import TYPE_PREFIX
from server.problem_types import STATUSES
from tests.api import Api
from tests.docs.test_problems_doc import problems_in_code
from tests.ops.test_openapi_contract import DOCUMENT

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "put", "post", "patch", "delete")
NAMED = re.compile(re.escape(TYPE_PREFIX) + r"([a-z0-9]+(?:-[a-z0-9]+)*)")


def _operations() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _examples(media: dict[str, Any]) -> list[Any]:
    """The examples of a media type: its own, or else those of its (referenced) schema."""
    own = [example["value"] for example in (media.get("examples") or {}).values()]
    if "example" in media:
        own.append(media["example"])
    return own or list(_resolved(media.get("schema", {})).get("examples") or [])


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _documented_statuses() -> dict[str, set[int]]:
    """docs/problems.md's table: each name and the statuses in its row."""
    statuses: dict[str, set[int]] = {}
    for line in (ROOT / "docs" / "problems.md").read_text().splitlines():
        if line.startswith("| `"):
            cells = line.split("|")
            name = re.findall(r"`([^`]+)`", cells[1])[0]
            statuses[name] = {int(status) for status in re.findall(r"\b\d{3}\b", cells[2])}
    return statuses


def _validator(schema: dict[str, Any]) -> Any:
    """A validator for a schema of the document; its `#/components/...` references resolve in it."""
    return jsonschema_rs.Draft202012Validator({**schema, "components": DOCUMENT["components"]})


async def test_the_served_document_is_the_one_checked(api: Api) -> None:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json() == DOCUMENT


def test_every_operation_has_a_description() -> None:
    missing = [label for label, operation in _operations() if not (operation.get("description") or "").strip()]
    assert not missing, f"operations without a description (a handler docstring): {missing}"


def test_every_error_response_names_its_problem_types() -> None:
    documented = _documented_statuses()
    unnamed, undocumented = [], []
    for label, operation in _operations():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            names = NAMED.findall(response.get("description", ""))
            if not names:
                unnamed.append(f"{label} {status}")
            undocumented += [
                f"{label} {status} {name}" for name in names if int(status) not in documented.get(name, set())
            ]
            assert "application/problem+json" in response.get("content", {}), f"{label} {status}"
    assert not unnamed, f"error responses that name no problem type: {unnamed}"
    assert not undocumented, f"problem types not in docs/problems.md under that status: {undocumented}"


def test_the_statuses_of_problem_types_are_those_of_the_docs() -> None:
    """server/problem_types.py (which the responses are grouped by) agrees with docs/problems.md,
    and knows every problem type the code answers."""
    documented = {name: statuses for name, statuses in _documented_statuses().items() if statuses}
    assert {name: set(statuses) for name, statuses in STATUSES.items()} == documented
    assert problems_in_code() - {"http-error"} <= set(STATUSES)


def test_every_request_body_has_an_example() -> None:
    missing = []
    for label, operation in _operations():
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if media_type == "multipart/form-data":
                continue  # a file upload: its example would be the bytes of an image
            if not _examples(media):
                missing.append(f"{label} {media_type}")
    assert not missing, f"request bodies without an example: {missing}"


def test_every_json_success_body_has_an_example() -> None:
    missing = []
    for label, operation in _operations():
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                for media_type, media in response.get("content", {}).items():
                    if _is_json(media_type) and not _examples(media):
                        missing.append(f"{label} {status}")
    assert not missing, f"JSON success responses without an example: {missing}"


def _every_example() -> Iterator[tuple[str, dict[str, Any], Any]]:
    for name, schema in DOCUMENT["components"]["schemas"].items():
        for example in schema.get("examples") or []:
            yield f"components/{name}", schema, example
    for label, operation in _operations():
        bodies = [("request", operation.get("requestBody", {}))]
        bodies += [(status, response) for status, response in operation["responses"].items()]
        for where, body in bodies:
            for media_type, media in body.get("content", {}).items():
                if "schema" in media:
                    for example in _examples(media):
                        yield f"{label} {where} {media_type}", media["schema"], example


def test_every_example_is_valid_against_its_schema() -> None:
    checked, invalid = 0, []
    for where, schema, example in _every_example():
        checked += 1
        invalid += [f"{where}: {error.message}" for error in _validator(schema).iter_errors(example)]
    assert checked > 150, checked
    assert not invalid, "examples that break their schema:\n" + "\n".join(invalid)


def test_an_invalid_example_would_be_caught() -> None:
    """A guard on the check itself: a wrong type is reported."""
    schema = {"$ref": "#/components/schemas/CollectedOne"}
    assert not _validator(schema).is_valid({"collected_g": "94", "balance_g": 8190})
    assert _validator(schema).is_valid({"collected_g": 94, "balance_g": 8190})

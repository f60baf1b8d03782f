"""Problem details (RFC 9457) for every error, and the domain error type services raise.

Each problem `type` is a URN naming the rule that refused the request; docs/problems.md lists
them. Nothing a client sends may become a 500: decoding, validation, integrity and recursion
failures are all mapped here.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from litestar import Litestar, Request, Response
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.routes import HTTPRoute
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InternalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from server.problem_types import STATUSES

logger = logging.getLogger("canopy.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:canopy:problem:"
# Seconds a client should wait before retrying a request the database failed (503).
DATABASE_RETRY_AFTER_S = 1


class DomainError(Exception):
    """A refusal under a product rule; carries its HTTP status and the rule's name."""

    status = 400
    problem = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        problem: str | None = None,
        status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problem = problem or self.problem
        self.status = status or self.status
        self.errors = errors
        self.headers = headers or {}


class NotFound(DomainError):
    status = 404
    problem = "not-found"


class Conflict(DomainError):
    status = 409
    problem = "conflict"


class Unprocessable(DomainError):
    status = 422
    problem = "unprocessable"


class Unauthorized(DomainError):
    status = 401
    problem = "unauthorized"


class Forbidden(DomainError):
    status = 403
    problem = "forbidden"


class BadRequest(DomainError):
    status = 400
    problem = "bad-request"


class ProblemField(BaseModel):
    field: str | None = None
    message: str | None = None


class Problem(BaseModel):
    """The problem+json body every error answers with (its OpenAPI schema)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:canopy:problem:not-ripe",
                    "title": "Conflict",
                    "status": 409,
                    "detail": "This ball is growing, not ripe.",
                },
                {
                    "type": "urn:canopy:problem:validation",
                    "title": "Bad Request",
                    "status": 400,
                    "detail": "The request is not valid; see errors.",
                    "errors": [{"field": "steps", "message": "Input should be less than or equal to 100000"}],
                },
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemField] | None = None


@dataclass
class ProblemResponse(ResponseSpec):
    """A problem+json response of one status, with the problem types it may carry."""

    names: tuple[str, ...] = ()


def _problem_response_spec(status: int, names: Iterable[str]) -> ProblemResponse:
    ordered = tuple(dict.fromkeys(names))
    listed = "\n".join(f"- `{TYPE_PREFIX}{name}`" for name in ordered)
    return ProblemResponse(
        data_container=Problem,
        media_type=PROBLEM_MEDIA_TYPE,
        description=f"{HTTPStatus(status).phrase}; `type` is one of (see docs/problems.md):\n\n{listed}",
        generate_examples=False,
        names=ordered,
    )


def problems(*names: str) -> dict[int, ResponseSpec]:
    """OpenAPI `responses=` for the refusals a handler answers by name (server/problem_types.py has
    their statuses), beyond the generic ones declare_problem_responses adds by the operation's shape."""
    by_status: dict[int, list[str]] = {}
    for name in names:
        for status in STATUSES[name]:
            by_status.setdefault(status, []).append(name)
    return {status: _problem_response_spec(status, listed) for status, listed in sorted(by_status.items())}


# The refusals of an operation's shape, named once here rather than on each handler.
_BODY = ("validation", "malformed-json", "payload-too-large", "unsupported-media-type")
_FORM = ("validation", "malformed-form", "payload-too-large", "unsupported-media-type")
_PARAMETERS = ("validation",)
_SCHEMES = {
    "user": ("unauthorized", "user-only", "account-suspended"),
    "operator": ("unauthorized", "operator-only", "credential-throttled", "throttle-unavailable"),
    "ngo": ("unauthorized", "ngo-only", "credential-throttled", "throttle-unavailable"),
    "partner": ("signature-required", "signature-timestamp", "unknown-key", "invalid-signature"),
}
# Every /v1 request is charged to a rate limit (SPEC 14, server/rate_limits.py).
_RATE_LIMITED = {"/v1/": ("rate-limited",)}
# Any POST may carry an `Idempotency-Key` (server/idempotency.py).
_IDEMPOTENT = ("idempotency-key", "idempotency-in-flight", "idempotency-key-reused")
_NOT_PARAMETERS = {"self", "state", "request", "scope", "headers", "cookies", "query", "data", "body"}


def _names_asked(handler: Any) -> tuple[set[str], set[str]]:
    """The dependencies the handler asks for, itself or through them, and the parameters they all take."""
    providers = handler.resolve_dependencies()
    dependencies: set[str] = set()
    parameters: set[str] = set()
    wanted = list(handler.parsed_fn_signature.parameters)
    while wanted:
        name = wanted.pop()
        if name not in providers:
            parameters.add(name)
        elif name not in dependencies:
            dependencies.add(name)
            wanted += inspect.signature(providers[name].dependency).parameters
    return dependencies, parameters - _NOT_PARAMETERS


def _generic_problems(handler: Any) -> list[str]:
    """What any operation of this shape may answer: input, credentials, idempotency, the database."""
    dependencies, parameters = _names_asked(handler)
    names: list[str] = []
    if body := handler.parsed_fn_signature.parameters.get("data"):
        multipart = getattr(body.kwarg_definition, "media_type", None) == RequestEncodingType.MULTI_PART
        names += _FORM if multipart else _BODY
    if parameters:
        names += _PARAMETERS
    if "cursor" in parameters:
        names.append("bad-cursor")
    for requirement in handler.resolve_security():
        for scheme in requirement:
            names += _SCHEMES[scheme]
    if "POST" in handler.http_methods and not handler.opt.get("skip_idempotency"):
        names += _IDEMPOTENT
        if handler.opt.get("issues_credentials"):  # server/idempotency.py's ISSUES_CREDENTIALS
            names.append("idempotency-not-replayable")
    if "db_session" in dependencies:
        names.append("database-unavailable")
    return names


def declare_problem_responses(app: Litestar) -> None:
    """Declare problem+json error responses on every operation, once, before the OpenAPI document is built.

    Litestar documents its own validation body (status_code/detail/extra) as JSON; Canopy answers
    problem+json. A handler's own `responses=problems(...)` are merged with the generic ones, status
    by status.
    """
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                declared = handler.responses or {}
                own = [name for spec in declared.values() if isinstance(spec, ProblemResponse) for name in spec.names]
                handler.responses = {
                    **{s: spec for s, spec in declared.items() if not isinstance(spec, ProblemResponse)},
                    **problems(*own, *_generic_problems(handler), *_RATE_LIMITED.get(route.path[:4], ())),
                }


def problem_body(status: int, problem: str, detail: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + problem,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return body


def problem_response(
    status: int,
    problem: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    return Response(
        content=problem_body(status, problem, detail, errors),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


_GENERIC_PROBLEMS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    429: "rate-limited",
}


def _domain_error(_: Request, exc: DomainError) -> Response[dict[str, Any]]:
    return problem_response(exc.status, exc.problem, exc.detail, exc.errors, exc.headers)


def _validation_error(_: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    errors = []
    for item in exc.extra or []:
        if isinstance(item, dict):
            errors.append({"field": item.get("key") or item.get("source"), "message": item.get("message")})
        else:
            errors.append({"message": str(item)})
    return problem_response(400, "validation", "The request is not valid; see errors.", errors)


def _http_error(_: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    problem = _GENERIC_PROBLEMS.get(status, "http-error")
    headers = dict(exc.headers or {})
    detail = exc.detail if exc.detail and exc.detail != HTTPStatus(status).phrase else HTTPStatus(status).description
    return problem_response(status, problem, detail, headers=headers)


def _integrity_error(_: Request, exc: IntegrityError) -> Response[dict[str, Any]]:
    logger.info("integrity error answered 409: %s", exc.orig)
    return problem_response(409, "conflict", "The request conflicts with the current state; retry it.")


def _data_error(_: Request, exc: DataError) -> Response[dict[str, Any]]:
    logger.info("data error answered 400: %s", exc.orig)
    return problem_response(400, "invalid-data", "A value in the request cannot be stored or compared.")


def _database_unavailable() -> Response[dict[str, Any]]:
    return problem_response(
        503,
        "database-unavailable",
        "The database could not complete the request; nothing was written. Retry it.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )


def _database_error(_: Request, exc: DBAPIError) -> Response[dict[str, Any]]:
    """Any other database failure, a lost connection included (`connection_invalidated`: the pool
    has dropped it and the next request gets a fresh one): the transaction was rolled back, so
    the client may simply retry."""
    logger.exception("database error (connection lost: %s)", exc.connection_invalidated, exc_info=exc)
    return _database_unavailable()


def _database_bug(request: Request, exc: DBAPIError) -> Response[dict[str, Any]]:
    """A statement the database refuses as written (ProgrammingError: bad SQL, a missing table or
    column) or its internal error (InternalError: PostgreSQL's XX class, a driver's own bug, a
    transaction used after it failed): a retry gets the same answer, so it is a 500, not a 503."""
    if exc.connection_invalidated:
        return _database_error(request, exc)
    return _unexpected_error(request, exc)


def _pool_timeout(_: Request, exc: PoolTimeoutError) -> Response[dict[str, Any]]:
    """Every pooled connection stayed busy for `pool_timeout`: the database is saturated, not broken."""
    logger.warning("no database connection within the pool timeout: %s", exc)
    return _database_unavailable()


def _recursion_error(_: Request, __: RecursionError) -> Response[dict[str, Any]]:
    return problem_response(400, "malformed-json", "The request body is nested too deeply.")


def _unexpected_error(_: Request, exc: Exception) -> Response[dict[str, Any]]:
    logger.exception("unhandled error", exc_info=exc)
    return problem_response(500, "internal", "An unexpected error occurred.")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: _domain_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    IntegrityError: _integrity_error,
    DataError: _data_error,
    ProgrammingError: _database_bug,
    InternalError: _database_bug,
    DBAPIError: _database_error,
    PoolTimeoutError: _pool_timeout,
    RecursionError: _recursion_error,
    Exception: _unexpected_error,
}

__all__ = [
    "EXCEPTION_HANDLERS",
    "PROBLEM_MEDIA_TYPE",
    "BadRequest",
    "Conflict",
    "DomainError",
    "Forbidden",
    "NotFound",
    "Problem",
    "Unauthorized",
    "Unprocessable",
    "declare_problem_responses",
    "problem_body",
    "problem_response",
    "problems",
]

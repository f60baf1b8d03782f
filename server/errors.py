"""Problem details (RFC 9457) for every error, and the domain error type services raise.

Each problem `type` is a URN naming the rule that refused the request; docs/problems.md lists
them. Nothing a client sends may become a 500: decoding, validation, integrity and recursion
failures are all mapped here.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.routes import HTTPRoute
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InternalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

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

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemField] | None = None


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI `responses=` for the refusals a handler answers beyond the generic ones (see below)."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_MEDIA_TYPE,
            description=HTTPStatus(status).description or HTTPStatus(status).phrase,
            generate_examples=False,
        )
        for status in statuses
    }


_NOT_PARAMETERS = {"state", "request", "scope", "headers", "cookies", "query", "data", "body"}


def _generic_problems(route: HTTPRoute, handler: Any) -> set[int]:
    """What any operation of this shape may answer: 400 for input, 401/403/429 for credentials and
    rate limits, 404 for ids."""
    statuses: set[int] = set()
    dependencies = handler.resolve_dependencies()
    parameters = [n for n in handler.parsed_fn_signature.parameters if n not in dependencies]
    if "data" in parameters:
        statuses |= {400, 413}
    if any(n not in _NOT_PARAMETERS for n in parameters):
        statuses.add(400)
    if route.path_parameters:
        statuses.add(404)
    schemes = {name for requirement in handler.resolve_security() for name in requirement}
    if schemes:
        statuses.add(401)
    if "operator" in schemes:
        statuses.add(403)
    if schemes & {"operator", "ngo"} or route.path.startswith("/v1/"):
        statuses.add(429)  # rate limits (SPEC 14); failed bearer credentials per client address
    return statuses


def declare_problem_responses(app: Litestar) -> None:
    """Declare problem+json error responses on every operation, once, before the OpenAPI document is built.

    Litestar documents its own validation body (status_code/detail/extra) as JSON; Canopy answers
    problem+json. A handler's own `responses=problems(...)` come on top of the generic ones.
    """
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                handler.responses = {
                    **problems(*sorted(_generic_problems(route, handler))),
                    **(handler.responses or {}),
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

"""Logs (SPEC 14): one JSON object a line, and an access line for every request.

`AccessLog` is the outermost layer of the app: it takes the request's `X-Request-Id` (or makes
one), echoes it on every response, errors included, and when the response is done writes one
line with the method, the route's template (never the raw path: tokens travel in query strings),
the status, the duration and who called. The credential checks name the caller with
`set_actor()`; a record factory copies the request id and the actor onto every record made
during the request, wherever it is formatted. `JsonFormatter` passes every message and
traceback through `server.redaction.scrub`; the access line is built from fields that never hold
a secret, so it skips that cost.

`CANOPY_LOG_FORMAT=text` is for a person at a terminal in development (`make run`): messages as
written, the development mail with its link; production refuses it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from litestar.enums import ScopeType
from litestar.logging.config import LoggingConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.redaction import scrub
from server.settings import Settings

ActorKind = Literal["user", "partner", "ngo", "operator", "member", "anonymous"]
REQUEST_ID_HEADER = "x-request-id"
# A request id from the client is kept when it is short and plain (no spaces, quotes or
# controls), so it can be searched for and never breaks a log line; otherwise one is made.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}")
access_logger = logging.getLogger("canopy.access")


@dataclass(slots=True)
class RequestContext:
    """What every log line of one request carries. Mutable, so that a credential checked in a
    dependency run on another task (a copy of the context) still names the request's actor."""

    request_id: str
    actor_kind: ActorKind = "anonymous"
    actor_id: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("canopy_request", default=None)


def set_actor(kind: ActorKind, actor_id: str | None) -> None:
    """Name the caller of the current request (once its credential is verified)."""
    context = _current.get()
    if context is not None:
        context.actor_kind = kind
        context.actor_id = actor_id


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's `X-Request-Id` when it is sane, else a new one (32 hex digits)."""
    for name, value in headers:
        if name == b"x-request-id":
            if _SANE_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(16).hex()


class AccessLog:
    """The outermost ASGI layer (around Litestar's exception handling, so that 404s of unknown
    paths and answers to errors are logged and carry the request id too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        context = RequestContext(request_id_of(scope["headers"]))
        reset = _current.set(context)
        echoed = (b"x-request-id", context.request_id.encode("ascii"))
        status = 500  # what the ASGI server answers if the app raises before responding

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new message: the layers inside may still hold the one they sent.
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if access_logger.isEnabledFor(logging.INFO):
                access = {
                    "method": scope["method"],
                    "route": scope.get("path_template") or None,  # None: no route matched (404)
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                }
                access_logger.info("request", extra={"access": access})
            _current.reset(reset)


def _with_request_context(make_record: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        context = _current.get()
        if context is not None:
            record.request = context
        return record

    make.canopy = True  # type: ignore[attr-defined]
    return make


def install_record_factory() -> None:
    """Records made during a request carry its context (once per process, however many apps start).
    A factory, not a handler's filter: a queue handler may format a record on another thread."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "canopy", False):
        logging.setLogRecordFactory(_with_request_context(factory))


def _context_fields(record: logging.LogRecord) -> dict[str, Any]:
    context: RequestContext | None = getattr(record, "request", None)
    if context is None:
        return {}
    return {"request_id": context.request_id, "actor_kind": context.actor_kind, "actor_id": context.actor_id}


class JsonFormatter(logging.Formatter):
    """One JSON object a line (ASCII: lone surrogates and controls escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        access = getattr(record, "access", None)
        if access is not None:
            entry["message"] = "request"
            entry.update(_context_fields(record))
            entry.update(access)
            return json.dumps(entry)
        entry["message"] = scrub(record.getMessage())
        entry.update(_context_fields(record))
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception_type"] = record.exc_info[0].__name__
            entry["exception"] = scrub("".join(traceback.format_exception(*record.exc_info)))
        elif record.exc_text:
            entry["exception"] = scrub(record.exc_text)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """For a terminal in development: `time level logger [request id] message`, unscrubbed."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = _context_fields(record)
        access = getattr(record, "access", None)
        if access is not None:
            record.message = (
                f"{access['method']} {access['route']} {access['status']} {access['duration_ms']} ms"
                f" {fields.get('actor_kind', '')} {fields.get('actor_id') or ''}".rstrip()
            )
        if fields:
            record.message = f"[{fields['request_id']}] {record.message}"
        return super().formatMessage(record)


def _formatter(settings: Settings) -> dict[str, Any]:
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    return {"()": f"{__name__}.{formatter.__name__}"}  # by name: uvicorn's workers get it pickled


def logging_config(settings: Settings) -> LoggingConfig:
    """Litestar's logging configuration, every line through Canopy's formatter. Litestar's default
    handlers name the formatter `standard`; they queue each record to a thread that writes it."""
    install_record_factory()
    level = settings.log_level
    return LoggingConfig(
        formatters={"standard": _formatter(settings)},
        root={"handlers": ["queue_listener"], "level": level},
        loggers={"litestar": {"level": level, "handlers": ["queue_listener"], "propagate": False}},
    )


def server_log_config(settings: Settings) -> dict[str, Any]:
    """The ASGI server's own loggers (`uvicorn.run(log_config=...)`) in the same format; its
    access log is left off, as `AccessLog` writes a better one."""
    install_record_factory()
    server = {"handlers": ["stderr"], "level": settings.log_level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"canopy": _formatter(settings)},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "canopy", "stream": "ext://sys.stderr"}},
        "loggers": {"uvicorn": server, "uvicorn.error": {"level": settings.log_level}, "uvicorn.access": server},
    }

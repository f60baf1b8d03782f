"""Multipart forms, parsed strictly and once, before any middleware or handler reads them.

Litestar's parser decodes a text part with whatever `charset` the part names (an unknown one
raised LookupError, bad bytes UnicodeDecodeError: both were 500s), keeps any amount of text in
memory, and its multipart extractor calls the parser directly, past the request class. So the
app's request class parses forms here (`parse_form`), and `ParseMultipartForms` does so for every
route that takes a multipart body before anything else reads it: the extractor and the
idempotency middleware then find the parsed form in the connection's cache.

Refusals: a body that is not `multipart/form-data` 415; a charset other than UTF-8 on the
request or a text part 415; a bad boundary, a broken or truncated stream, a part without
Content-Disposition, text that is not UTF-8, control characters in a field name or file name 400
(`malformed-form`); more parts than the route allows or more than `MAX_FORM_TEXT_BYTES` of text
413. Memory: text is bounded by that limit, files spool to disk past 1 MB (`UploadFile`), and the
body by the route's `request_max_body_size`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from litestar import Litestar, Request
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType, ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.params import BodyKwarg
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState
from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser  # type: ignore[import-untyped]

from server.errors import BadRequest, DomainError
from server.settings import Settings

BODY_LIMIT = "canopy.body_limit"
"""A route handler's `opt` key naming a function of the settings that gives its request body limit:
Litestar takes `request_max_body_size` from the decorator, fixed at import, and a limit an operator
configures (CANOPY_PHOTO_MAX_BYTES) must follow the settings of the app being built."""

BodyLimit = Callable[[Settings], int]


def apply_body_limits(app: Litestar, settings: Settings) -> None:
    """Give each handler with a `BODY_LIMIT` its limit for these settings, before any request (Litestar
    resolves a handler's limit on its first request; each app holds its own copies of the handlers)."""
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                limit: BodyLimit | None = handler.opt.get(BODY_LIMIT)
                if limit is not None:
                    handler.request_max_body_size = limit(settings)


# Text fields are names and short values; anything large is sent as a file part.
MAX_FORM_TEXT_BYTES = 64 * 1024
UTF8_NAMES = ("utf-8", "utf8")
# RFC 2046 section 5.1.1: 1-70 characters from this set, not ending in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


def expects_multipart(scope: Scope) -> bool:
    """The route's handler takes its `data` as a multipart form."""
    data = scope["route_handler"].parsed_fn_signature.parameters.get("data")
    kwarg = data.kwarg_definition if data is not None else None
    return isinstance(kwarg, BodyKwarg) and kwarg.media_type == RequestEncodingType.MULTI_PART


def _malformed(detail: str) -> BadRequest:
    return BadRequest(detail, problem="malformed-form")


def _unsupported(detail: str) -> DomainError:
    return DomainError(detail, problem="unsupported-media-type", status=415)


def _too_large(detail: str) -> DomainError:
    return DomainError(detail, problem="payload-too-large", status=413)


def _require_utf8(charset: str | None, where: str) -> None:
    if charset is not None and charset.strip().lower() not in UTF8_NAMES:
        raise _unsupported(f"Send {where} as UTF-8, not as charset {charset!r}.")


def _require_printable_name(value: str | None, what: str) -> None:
    """Control characters (NUL included) and surrogates name no field or file a client meant."""
    if value and any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise _malformed(f"A multipart {what} contains control characters.")


def _part_limit(request: Request[Any, Any, Any]) -> int:
    """The route's `multipart_form_part_limit`, else the app's (as Litestar's extractor resolves it)."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    kwarg = data.kwarg_definition if data is not None else None
    if isinstance(kwarg, BodyKwarg) and kwarg.multipart_form_part_limit is not None:
        return kwarg.multipart_form_part_limit
    return request.app.multipart_form_part_limit


async def close_files(form: dict[str, Any]) -> None:
    for value in form.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, UploadFile):
                await item.close()


class _FormBuilder:
    """The parser's events turned into fields: text decoded as UTF-8 within the budget, files spooled."""

    def __init__(self) -> None:
        self.fields: defaultdict[str, list[Any]] = defaultdict(list)
        self.text_bytes = 0
        self._segment: MultipartSegment | None = None
        self._data: UploadFile | bytearray = bytearray()

    def start(self, segment: MultipartSegment) -> None:
        _require_printable_name(segment.name, "field name")
        _require_printable_name(segment.filename, "file name")
        self._segment = segment
        if segment.filename:
            self._data = UploadFile(
                content_type=segment.content_type or "text/plain",  # RFC 7578 4.4
                filename=segment.filename,
                headers=dict(segment.headerlist),
            )
        else:
            _require_utf8(segment.charset, f"the text field {segment.name!r}")
            self._data = bytearray()

    async def add(self, chunk: bytes) -> None:
        if isinstance(self._data, UploadFile):
            await self._data.write(chunk)
            return
        self.text_bytes += len(chunk)
        if self.text_bytes > MAX_FORM_TEXT_BYTES:
            raise _too_large(
                f"Text fields may hold at most {MAX_FORM_TEXT_BYTES:,} bytes in all; send large data as a file part."
            )
        self._data.extend(chunk)

    async def end(self) -> None:
        segment, data = self._segment, self._data
        if segment is None:  # the parser ends a part only after its headers: a guard, not a path
            raise _malformed("A multipart part ended before its headers.")
        if isinstance(data, UploadFile):
            await data.seek(0)
            self.fields[segment.name].append(data)
        else:
            try:
                self.fields[segment.name].append(data.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise _malformed(f"The text field {segment.name!r} is not valid UTF-8.") from exc
        self._segment, self._data = None, bytearray()

    async def discard(self) -> None:
        if isinstance(self._data, UploadFile):
            await self._data.close()
        await close_files(self.fields)

    def result(self) -> dict[str, Any]:
        """Litestar's shape: one value per name, or a list when a name was sent more than once."""
        return {name: values if len(values) > 1 else values[0] for name, values in self.fields.items()}


async def parse_form(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The request's multipart form, or 400/413/415 (see the module docstring). Not a form: {} for
    an empty body (the handler says what is missing)."""
    content_type, options = request.content_type
    if content_type != RequestEncodingType.MULTI_PART:
        if await request.body():
            raise _unsupported(f"Send the body as multipart/form-data, not as {content_type or 'no Content-Type'}.")
        return {}
    _require_utf8(options.get("charset"), "the form")
    boundary = options.get("boundary")
    if not boundary or not _BOUNDARY.fullmatch(boundary):
        raise _malformed("The Content-Type needs a multipart boundary of 1-70 characters (RFC 2046).")

    form = _FormBuilder()
    try:
        with PushMultipartParser(boundary.encode(), max_segment_count=_part_limit(request)) as parser:
            async for chunk in request.stream():
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        form.start(event)
                    elif event:
                        await form.add(event)
                    else:
                        await form.end()
    except ParserLimitReached as exc:
        await form.discard()
        raise _too_large(f"The multipart form is too large: {exc.args[0]}.") from exc
    except ParserError as exc:
        await form.discard()
        raise _malformed(f"The body is not valid multipart/form-data: {exc.args[0]}.") from exc
    except BaseException:
        await form.discard()
        raise
    return form.result()


class ParseMultipartForms(ASGIMiddleware):
    """Parse the form of every route that takes one, before idempotency or the extractor reads it,
    and close its files however the request ends."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if not expects_multipart(scope):
            await next_app(scope, receive, send)
            return
        state = ScopeState.from_scope(scope)
        form = state.form = await parse_form(Request(scope, receive))
        try:
            await next_app(scope, receive, send)
        finally:
            await close_files(form)

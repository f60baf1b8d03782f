"""The language of a JSON answer: chosen per request, announced in `Content-Language` and `Vary`.

A handler that speaks a language asks for `answer_language: Language` (the app injects it from
`Accept-Language`; user routes let the account's stored language fill in a missing header, see
server/auth.py). Not `language`: Litestar answers 500 to a failed validation of any body field
named like a dependency, and request bodies have a `language` field. Asking is what marks the
answer as language-dependent: the chosen language is recorded in the request's scope, and
`announce_language` adds `Content-Language` and `Vary: Accept-Language` to every successful answer
that recorded one, so no cache keeps one language's answer for another's request. Litestar's own
response cache (`cache=` on a route) keys by the negotiated language too, so a route that is
cached and speaks a language stays right.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.config.response_cache import default_cache_key_builder
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.params import FromHeader, HeaderParameter
from litestar.types import Message, Scope

from server.i18n import Language, negotiate

AcceptLanguage = Annotated[
    str | None,
    HeaderParameter(
        name="Accept-Language",
        description="The language of catalogue names in the answer (en, zh-Hans); English where a name has no "
        "translation. Any other tag is passed over.",
    ),
]

_SCOPE_KEY = "canopy.content_language"


def answer_in(connection: ASGIConnection[Any, Any, Any, Any], language: Language) -> Language:
    """Record that this request's answer is in `language` (for `announce_language`)."""
    connection.scope.setdefault("state", {})[_SCOPE_KEY] = language
    return language


def provide_language(
    request: ASGIConnection[Any, Any, Any, Any], accept_language: FromHeader[AcceptLanguage] = None
) -> Language:
    return answer_in(request, negotiate(accept_language))


async def announce_language(message: Message, scope: Scope) -> None:
    """A `before_send` hook: the headers of an answer whose handler asked for a language."""
    if message["type"] != "http.response.start" or message["status"] >= 400:
        return
    language = scope.get("state", {}).get(_SCOPE_KEY)
    if language is None:
        return
    headers = MutableScopeHeaders.from_message(message)
    headers["Content-Language"] = language
    headers.extend_header_value("Vary", "Accept-Language")


def language_cache_key(request: Request[Any, Any, Any]) -> str:
    """The response cache's key: Litestar's (method, path, query) and the language asked for."""
    return f"{default_cache_key_builder(request)}#{negotiate(request.headers.get('accept-language'))}"

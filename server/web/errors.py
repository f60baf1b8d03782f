"""Errors as pages: outside the JSON API, the error a browser gets is an HTML page.

The API's handlers (server/errors.py) still decide what every exception means (status, headers
such as `Retry-After`, logging); on a page path their answer is only redrawn as a page in the
request's language, without the detail (a 500 shows no trace, nor anything of the exception).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from server.web.pages import page

API_PREFIXES = ("/v1", "/schema", "/metrics", "/ready")
"""Paths whose errors stay application/problem+json (with `/health*`)."""

_KEPT_HEADERS = ("allow", "retry-after")


def is_page_path(path: str) -> bool:
    if path.startswith("/health"):
        return False
    return not any(path == prefix or path.startswith(prefix + "/") for prefix in API_PREFIXES)


def error_page(request: Request[Any, Any, Any], api_answer: Response[Any]) -> Response[Any]:
    status = api_answer.status_code or 500
    headers = {name: value for name, value in api_answer.headers.items() if name.lower() in _KEPT_HEADERS}
    return page(request, "error.html", {"status": status}, status_code=status, headers=headers)


def with_error_pages(api_handlers: dict[Any, Any]) -> dict[Any, Any]:
    """The app's exception handlers: the API's, answering with a page on page paths."""

    def handler_for(api_handler: Any) -> Any:
        def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
            answer = api_handler(request, exc)
            return error_page(request, answer) if is_page_path(request.url.path) else answer

        return handle

    return {exception: handler_for(api_handler) for exception, api_handler in api_handlers.items()}

"""The framework ceiling: a plain Litestar app with one JSON GET endpoint and nothing else
(no database, no middleware, no auth), served by the same server and worker count as Canopy."""

from __future__ import annotations

from litestar import Litestar, get


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ping", sync_to_thread=False)
def ping() -> dict[str, object]:
    return {"ok": True, "service": "ceiling", "items": [1, 2, 3]}


def create_app() -> Litestar:
    return Litestar(route_handlers=[health, ping], openapi_config=None)

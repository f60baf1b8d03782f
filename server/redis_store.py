"""The one way Canopy talks to Redis (CANOPY_REDIS_URL): the counters of server/counters.py and
the portal sessions of server/members/sessions.py each open a client here, and wrap every call in
`redis_answers`, so a Redis that fails is a 503 to retry, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from server.errors import DomainError

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("canopy.redis")


def redis_client(url: str, *, max_connections: int, wait_s: float) -> Redis:
    """A client over a blocking pool: a burst past the pool waits for a free connection (as the
    database pool does) instead of failing with "Too many connections"."""
    from redis.asyncio import BlockingConnectionPool, Redis

    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=wait_s)
    return Redis(connection_pool=pool)


@asynccontextmanager
async def redis_answers(store: str, *, problem: str) -> AsyncIterator[None]:
    """A Redis that is down, or busy past the pool's wait, refuses the request with a 503 `problem`
    to retry, as an unavailable database does; `store` names what could not answer."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        logger.warning("Redis unavailable for the %s: %s", store, exc)
        raise DomainError(
            f"The {store} could not answer; nothing was done. Retry it.",
            problem=problem,
            status=503,
            headers={"Retry-After": "1"},
        ) from exc

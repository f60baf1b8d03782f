"""Exit 0 when the test PostgreSQL answers (used by `make test` to decide on the second run)."""

import asyncio
import os
import sys

import asyncpg


async def main() -> int:
    url = os.environ.get("CANOPY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        connection = await asyncpg.connect(url, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return 1
    await connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""`python -m bench <benchmark> ...`: the benchmarks behind `make bench` (not part of `make test`).

python -m bench batching [--n N]   the batch-planting-orders job against one raw INSERT ... SELECT
python -m bench digests [--n N]    the morning digests of send-notifications against a raw INSERT ... SELECT
python -m bench export [--n N]     the partner portal's CSV export against COPY ... TO STDOUT (PostgreSQL)
python -m bench http [options]     the HTTP scenarios against the framework and database ceilings
                                   (python -m bench http --help)
python -m bench inprocess [--url]  server CPU per request of the hot routes, app called directly
"""

from __future__ import annotations

import asyncio
import sys

from bench import batching, digests, export, inprocess
from bench.http import run as http

BENCHMARKS = {
    "batching": lambda: asyncio.run(batching.main()),
    "digests": lambda: asyncio.run(digests.main()),
    "export": lambda: asyncio.run(export.main()),
    "http": lambda: asyncio.run(http.main()),
    "inprocess": lambda: asyncio.run(inprocess.main()),
}


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    if name not in BENCHMARKS:
        sys.exit(f"usage: python -m bench {{{'|'.join(BENCHMARKS)}}} [options]\n\n{__doc__}")
    sys.argv = [f"bench {name}", *sys.argv[2:]]
    BENCHMARKS[name]()


main()

"""The fallback load generator (when wrk is not installed): HTTP/1.1 keep-alive on asyncio.

    python -m bench.http.client URL FILE MODE --conns 64 --duration 10

Reads the same request file as wrk.lua (METHOD, PATH, BODY, headers; tab-separated), splits it
between the connections so no two send the same request, runs for `duration` seconds (MODE
`stop`: or until every request was answered once; `cycle`: lists restart), and prints the same
`BENCH {json}` line. Requests are pre-encoded; each connection sends one at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


def load(path: str, host: str) -> list[bytes]:
    requests = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            fields = line.rstrip("\n").split("\t")
            method, target, body = fields[0], fields[1], fields[2].encode()
            headers = [f"Host: {host}", *fields[3:]]
            if body:
                headers.append(f"Content-Length: {len(body)}")
            head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n"
            requests.append(head.encode() + body)
    return requests


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def connection(
    host: str, port: int, requests: list[bytes], stop: bool, deadline: float, out: dict[str, list]
) -> None:
    if not requests:
        return
    reader, writer = await asyncio.open_connection(host, port)
    index = 0
    try:
        while time.monotonic() < deadline:
            if index == len(requests):
                if stop:
                    break
                index, out["wrapped"][0] = 0, 1
            started = time.monotonic()
            writer.write(requests[index])
            status = await read_response(reader)
            finished = time.monotonic()
            out["latencies"].append(finished - started)
            out["statuses"].append(status)
            out["last"][0] = max(out["last"][0], finished)
            index += 1
    except (OSError, asyncio.IncompleteReadError):
        out["errors"][0] += 1
    finally:
        writer.close()


async def run(url: str, path: str, mode: str, conns: int, duration: float) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = load(path, f"{host}:{port}")
    out: dict[str, list] = {"latencies": [], "statuses": [], "errors": [0], "wrapped": [0], "last": [0.0]}
    started = time.monotonic()
    deadline = started + duration
    await asyncio.gather(
        *(connection(host, port, requests[k::conns], mode == "stop", deadline, out) for k in range(conns))
    )
    elapsed = time.monotonic() - started
    latencies = sorted(out["latencies"])
    statuses: dict[str, int] = {}
    for status in out["statuses"]:
        statuses[str(status)] = statuses.get(str(status), 0) + 1

    def percentile(p: float) -> int:
        return int(latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6) if latencies else 0

    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "p50_us": percentile(50),
        "p99_us": percentile(99),
        "max_us": int(latencies[-1] * 1e6) if latencies else 0,
        "span_us": int((out["last"][0] - started) * 1e6) if latencies else 0,
        "socket_errors": out["errors"][0],
        "wrapped": out["wrapped"][0],
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("file")
    parser.add_argument("mode", choices=["stop", "cycle"])
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10)
    args = parser.parse_args()
    try:
        from uvloop import run as run_loop
    except ImportError:
        run_loop = asyncio.run
    result = run_loop(run(args.url, args.file, args.mode, args.conns, args.duration))
    print("BENCH " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

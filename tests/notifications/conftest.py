"""A push relay on this machine, verifying signatures as the app's real relay would."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from server.settings import Settings
from tests.conftest import make_settings

RELAY_SECRET = "relay-secret-for-the-tests-0123456789"


def verify(headers: Any, body: bytes, secret: str) -> bool:
    """What a relay does before it forwards a push: the HMAC of "<timestamp>.<raw body>". (A real
    relay also refuses a stale timestamp; here the test clock runs ahead of the wall clock.)"""
    timestamp = headers.get("Canopy-Timestamp", "")
    if not timestamp.isdigit():
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("Canopy-Signature", ""), f"v1={expected}")


class Relay:
    """Records every verified push; answers the statuses it is told to (200 by default), or hangs."""

    def __init__(self) -> None:
        self.pushes: list[dict[str, Any]] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self.refused = 0
        self.waiting = 0
        self.statuses: list[int] = []
        self.hang = threading.Event()
        self.release = threading.Event()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if relay.hang.is_set():
                    relay.waiting += 1
                    relay.release.wait(30)
                    return
                if not verify(self.headers, body, RELAY_SECRET):
                    relay.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                relay.raw.append((dict(self.headers), body))
                status = relay.statuses.pop(0) if relay.statuses else 200
                if status == 200:
                    relay.pushes.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/push"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_type(self, type: str) -> list[dict[str, Any]]:
        return [push["notification"] for push in self.pushes if push["notification"]["type"] == type]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def relay() -> Iterator[Relay]:
    relay = Relay()
    yield relay
    relay.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, request: pytest.FixtureRequest, relay: Relay) -> Settings:
    """The test settings with the push relay above; `@pytest.mark.settings(...)` still applies."""
    marker = request.node.get_closest_marker("settings")
    overrides = {"push_relay_url": relay.url, "push_relay_secret": RELAY_SECRET} | (marker.kwargs if marker else {})
    return make_settings(database_url, tmp_path / "data", **overrides)

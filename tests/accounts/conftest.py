"""A real SMTP server in-process (aiosmtpd) for every test here, and the app sending to it."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from server.settings import Settings
from tests.api import Api
from tests.conftest import make_settings


class Mailbox:
    """What the SMTP server received. `refusals` are answered to DATA, one each, before any mail
    is accepted (e.g. "554 5.7.1 Rejected")."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refusals: list[str] = []
        self._lock = threading.Lock()
        self.url = ""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self.refusals:
                return self.refusals.pop(0)
            message = message_from_bytes(envelope.content, policy=policy.default)
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.url = f"smtp://127.0.0.1:{port}"
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, request: pytest.FixtureRequest, mailbox: Mailbox) -> Settings:
    """The test settings, sending mail to `mailbox` unless a `settings` mark says otherwise."""
    marker = request.node.get_closest_marker("settings")
    overrides = {"smtp_url": mailbox.url, **(marker.kwargs if marker else {})}
    return make_settings(database_url, tmp_path / "data", **overrides)


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and the HTML part of a mail."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "every mail has a text and an HTML part"
    return text.get_content(), html.get_content()


def link_token(message: EmailMessage, page: str) -> str:
    """The token of the `page` link, the same in both parts."""
    text, html = parts(message)
    pattern = rf"http://127\.0\.0\.1:8000/{page}\?token=([A-Za-z0-9_-]+)"
    found = re.search(pattern, text)
    assert found, text
    assert found.group(0) in html
    return found.group(1)


async def send_mail(api: Api) -> dict[str, Any]:
    return await api.run_job("send-email")

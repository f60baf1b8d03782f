"""Sending one message over SMTP (aiosmtplib), as CANOPY_SMTP_URL says.

`smtp://user:pass@host:587` upgrades with STARTTLS when the server offers it; with `?tls=required`
a server that does not offer it is refused (nothing is sent in the clear). `smtps://host:465`
speaks TLS from the first byte. Certificates are verified against the system's trust store.
Every step has the timeout of CANOPY_SMTP_TIMEOUT_S, so a server that hangs costs the job that
long and no more; requests never talk to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from server.settings import Settings


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    require_starttls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        implicit_tls = parts.scheme == "smtps"
        tls = parse_qs(parts.query).get("tls", [""])[-1]
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if implicit_tls else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit_tls,
            require_starttls=tls == "required",
        )


def build_message(settings: Settings, to: str, subject: str, text: str, html: str, language: str) -> EmailMessage:
    """A multipart/alternative message: the text part first, the HTML part preferred."""
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    domain = parseaddr(settings.email_from)[1].rpartition("@")[2] or "canopy.invalid"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message["Content-Language"] = language  # after the parts: setting content drops Content-* headers
    return message


async def send(settings: Settings, server: SmtpServer, message: EmailMessage) -> None:
    """Raises aiosmtplib.SMTPException (timeouts, refusals, 4xx and 5xx answers) or OSError."""
    await aiosmtplib.send(
        message,
        hostname=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        use_tls=server.implicit_tls,
        # None: STARTTLS when offered; True: refuse a server that does not offer it.
        start_tls=None if server.implicit_tls else (True if server.require_starttls else None),
        timeout=settings.smtp_timeout_s,
    )

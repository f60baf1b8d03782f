"""Keeping link tokens out of the logs.

The pages `/verify-email?token=` and `/reset-password?token=` carry a secret in their URL (SPEC
12.2), and the server's access log writes every request line. This filter replaces the value of
any `token` query parameter (also percent-encoded inside another parameter, as the language
switcher's `next=` carries it) before a record is written.
"""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"(token(?:=|%3D|%3d))[^&\s\"']*")
REDACTED = r"\1[redacted]"
ACCESS_LOGGERS = ("uvicorn.access", "granian.access")


def redact(text: str) -> str:
    return _TOKEN.sub(REDACTED, text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def redact_access_logs() -> None:
    """Install the filter on the access loggers (once per process, however many apps start)."""
    for name in ACCESS_LOGGERS:
        access = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in access.filters):
            access.addFilter(RedactTokens())

"""Keeping secrets out of the logs (SPEC 14).

The pages `/verify-email?token=` and `/reset-password?token=` carry a secret in their URL (SPEC
12.2), and an ASGI server's access log writes every request line. `RedactTokens` replaces the
value of any `token` query parameter (also percent-encoded inside another parameter, as the
language switcher's `next=` carries it) before such a record is written.

`scrub` goes further, for the free text of Canopy's own log lines (messages and tracebacks): it
blanks every shape of credential the server issues or reads (bearer values, JWTs, `rt_`/`ngo_`/
`psk_`/`whsec_` secrets, the 43-character link, session and invitation tokens, HMAC signatures,
green codes), email addresses, SQL parameters and the input values pydantic quotes in its errors.
A password has no shape: none is ever put into a log line, and the SQL parameters and pydantic
inputs, where one could surface inside an exception, are blanked.
"""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"(token(?:=|%3D|%3d))[^&\s\"']*")
REDACTED = r"\1[redacted]"
ACCESS_LOGGERS = ("uvicorn.access", "granian.access")

_SECRETS = (
    (_TOKEN, REDACTED),
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(canopy_session=|cookie:\s*)[^\s\"',;]+"), r"\1[redacted]"),
    (re.compile(r"\beyJ[\w-]*\.[\w-]*\.[\w-]*"), "[jwt]"),
    (re.compile(r"\b(?:rt|ngo|psk|whsec)_[\w-]{8,}"), "[secret]"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{40,}"), "[secret]"),
    (re.compile(r"\b[0-9a-fA-F]{64}\b"), "[hex]"),
    (re.compile(r"(?<!\d)\d{18}(?!\d)"), "[code]"),
    (re.compile(r"\[parameters: .*"), "[parameters hidden]"),
    (re.compile(r"input_value=.*?(?=, input_type=|\]$|$)", re.MULTILINE), "input_value=[redacted]"),
)


def redact(text: str) -> str:
    return _TOKEN.sub(REDACTED, text)


def scrub(text: str) -> str:
    """`text` with every credential, email address and quoted input blanked (see above)."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


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

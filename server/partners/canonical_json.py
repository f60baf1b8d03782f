"""The body hash of a partner report (SPEC 7.2): SHA-256 of its RFC 8785 (JCS) canonical JSON, so
that a replay matches whatever its key order and spacing; plain values take the C JSON encoder."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import rfc8785


def body_hash(raw: Any) -> str | None:
    """SHA-256 of the RFC 8785 canonical JSON (so key order and spacing do not matter)."""
    if _plain(raw):  # the C encoder writes the same bytes, and much faster than the pure-Python JCS one
        return hashlib.sha256(
            json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest()
    try:
        return hashlib.sha256(rfc8785.dumps(raw)).hexdigest()
    except Exception:  # a value JCS cannot represent (huge integers) never matches a stored report
        return None


JS_SAFE_INTEGER = 2**53 - 1


def _plain(value: Any) -> bool:
    """Whether `json.dumps(sort_keys=True, ensure_ascii=False)` is RFC 8785 for this value: no
    floats (JCS formats them as JavaScript does), integers JavaScript holds exactly, no surrogate
    code points, and keys whose code-point order is their UTF-16 order (below U+D800). Both escape
    the same characters (", \\ and U+0000-U+001F) the same way."""
    if isinstance(value, str):
        return value.isascii() or not _SURROGATE.search(value)
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -JS_SAFE_INTEGER <= value <= JS_SAFE_INTEGER
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and (key.isascii() or max(key) < "\ud800") and _plain(item)
            for key, item in value.items()
        )
    return False


_SURROGATE = re.compile("[\ud800-\udfff]")

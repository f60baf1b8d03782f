"""A report's body hash is SHA-256 of its RFC 8785 form, whichever encoder writes it."""

from __future__ import annotations

import hashlib

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from server.partners.canonical_json import _plain, body_hash

KEYS = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10_FFFF), max_size=6)
SCALARS = st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=12) | st.floats()
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=20
)


@settings(max_examples=400, derandomize=True)
@given(JSON)
def test_the_fast_encoder_writes_what_rfc8785_writes(value: object) -> None:
    try:
        expected = hashlib.sha256(rfc8785.dumps(value)).hexdigest()
    except Exception:  # a value JCS cannot represent has no hash
        expected = None
    assert body_hash(value) == expected


def test_values_the_fast_encoder_leaves_to_rfc8785() -> None:
    assert _plain({"a": [1, "b", None, True], "é": "\u2028"})
    assert not _plain({"a": 1.5})  # JCS writes numbers as JavaScript does
    assert not _plain(2**53)
    assert not _plain({"\ue000": 1, "\U0001f600": 2})  # UTF-16 order differs from code-point order
    assert not _plain("\ud800")  # a lone surrogate is not JSON text JCS can write
    assert body_hash({"b": 1, "a": "x"}) == hashlib.sha256(b'{"a":"x","b":1}').hexdigest()

"""Ed25519 signatures over RFC 8785 (JCS) canonical JSON, so anyone can verify a certificate
with only the public key."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from server.settings import Settings


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """CANOPY_SIGNING_KEY, or (development) a seed generated once into `data_dir` and kept."""
    if settings.signing_key:
        return Ed25519PrivateKey.from_private_bytes(b64url_decode(settings.signing_key))
    path = Path(settings.data_dir) / "certificate-signing-key"
    if not path.exists():
        # Written whole under a private name, then linked into place: workers starting together
        # all find one complete key (a loser's link fails and it reads the winner's).
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(b64url(os.urandom(32)))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return Ed25519PrivateKey.from_private_bytes(b64url_decode(path.read_text().strip()))


def public_key_b64(key: Ed25519PrivateKey) -> str:
    return b64url(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def sign(key: Ed25519PrivateKey, document: dict[str, Any]) -> str:
    """The base64url (unpadded) signature of the document's JCS serialization."""
    return b64url(key.sign(rfc8785.dumps(document)))


def verify(public_key: str, signed_document: dict[str, Any]) -> bool:
    """Check a certificate as a third party would: drop `signature`, canonicalize, verify."""
    document = {k: v for k, v in signed_document.items() if k != "signature"}
    try:
        Ed25519PublicKey.from_public_bytes(b64url_decode(public_key)).verify(
            b64url_decode(signed_document["signature"]), rfc8785.dumps(document)
        )
    except (InvalidSignature, KeyError, ValueError):
        return False
    return True

"""Secrets at rest: bearer API keys are stored hashed; secrets the server must reuse (partner
signing secrets, webhook secrets) are encrypted with a key from configuration (Fernet)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken

from server.settings import Settings


class SecretBox:
    """Encrypts and decrypts the secrets the server has to read back."""

    def __init__(self, settings: Settings) -> None:
        key = settings.encryption_key
        if key:
            self._fernet = Fernet(key.encode())
        else:  # development: derived from the secret key, stable across restarts
            self._fernet = Fernet(
                base64.urlsafe_b64encode(hashlib.sha256(b"canopy-at-rest:" + settings.secret_key.encode()).digest())
            )

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError("a stored secret cannot be decrypted: is CANOPY_ENCRYPTION_KEY right?") from exc


def new_secret(prefix: str, nbytes: int = 32) -> str:
    """A random credential such as `ngo_<...>`, shown to its owner once."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def hash_api_key(api_key: str) -> str:
    """Bearer keys are stored as SHA-256: they are long random strings, so no slow hash is needed."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def same_hash(api_key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(api_key), stored_hash)

"""`smtp://` upgrades with STARTTLS when the server offers it; `smtps://` speaks TLS at once.
Both verify the server's certificate (here a self-signed one the test trusts via SSL_CERT_FILE)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from litestar.testing import AsyncTestClient

from server.app import create_app
from tests.accounts.conftest import Mailbox, free_port, link_token, send_mail
from tests.api import Api
from tests.conftest import make_settings


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ssl.SSLContext]:
    """A certificate for 127.0.0.1, trusted by this process's TLS clients for the test."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    yield context


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
async def test_mail_goes_over_tls(database_url: str, tmp_path: Path, certificate: ssl.SSLContext, scheme: str) -> None:
    mailbox = Mailbox()
    port = free_port()
    if scheme == "smtp":  # offers STARTTLS and insists on it
        controller = Controller(
            mailbox, hostname="127.0.0.1", port=port, tls_context=certificate, require_starttls=True
        )
        url = f"smtp://127.0.0.1:{port}?tls=required"
    else:
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, ssl_context=certificate)
        url = f"smtps://127.0.0.1:{port}"
    controller.start()
    try:
        settings = make_settings(database_url, tmp_path / "data", smtp_url=url)
        async with AsyncTestClient(create_app(settings), base_url="http://canopy.test") as client:
            api = Api(client, settings)
            await api.register("tls", email="tls@example.org")
            assert (await send_mail(api))["sent"] == 1
    finally:
        controller.stop()
    assert link_token(mailbox.to("tls@example.org")[0], "verify-email")

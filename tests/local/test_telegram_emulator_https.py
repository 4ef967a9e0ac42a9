"""HTTPS webhooks: the emulator trusts the self-signed certificate given to setWebhook."""

from __future__ import annotations

import datetime
import io
import ipaddress
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import telebot
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask, request

from tests.support.emulator import running_emulator, telebot_pointed_at
from tests.support.servers import serve_wsgi


def _self_signed(tmp_path) -> tuple[bytes, str, str]:
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
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pem, str(cert_path), str(key_path)


@contextmanager
def https_receiver(cert_path: str, key_path: str, got: list) -> Iterator[str]:
    app = Flask("https-receiver")

    @app.post("/hook")
    def hook():
        got.append(request.json)
        return ""

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    with serve_wsgi(app, ssl_context=context) as base_url:
        yield f"{base_url}/hook"


@pytest.fixture
def cert(tmp_path):
    return _self_signed(tmp_path)


def test_https_webhook_with_the_uploaded_certificate_is_trusted(cert):
    pem, cert_path, key_path = cert
    got: list = []
    with (
        https_receiver(cert_path, key_path, got) as url,
        running_emulator() as emulator,
        telebot_pointed_at(emulator),
    ):
        telebot.TeleBot(emulator.token).set_webhook(url, certificate=io.BytesIO(pem))
        answer = emulator.send_text(1, "over TLS")
    assert answer["webhook_status"] == 200
    assert got[0]["message"]["text"] == "over TLS"


def test_https_webhook_without_the_certificate_fails_verification(cert):
    _, cert_path, key_path = cert
    got: list = []
    with (
        https_receiver(cert_path, key_path, got) as url,
        running_emulator() as emulator,
        telebot_pointed_at(emulator),
    ):
        telebot.TeleBot(emulator.token).set_webhook(url)
        answer = emulator.send_text(1, "over TLS")
    assert answer["webhook_status"] is None
    assert "CERTIFICATE_VERIFY_FAILED" in answer["webhook_error"]
    assert got == []

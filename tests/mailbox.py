"""A real SMTP server for the alert email tests: aiosmtpd on a loopback port, in its own thread,
recording every message it accepts and answering as its script says (``250``, or a refusal such
as ``550 5.7.1 …``). Optionally STARTTLS (required), implicit TLS and AUTH, with a throwaway
certificate authority the client is told to trust (``Certificates``)."""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port

OK = "250 2.0.0 Ok: queued as KASIR1"


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes
    at: float

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.original_content or b"")
        with self.box._lock:
            self.box.tries += 1
            number = self.box.tries
        reply = self.box.script(number)
        if reply.startswith("250"):
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            mail = Mail(str(envelope.mail_from), list(envelope.rcpt_tos), message, raw, time.time())
            with self.box._lock:
                self.box.mails.append(mail)
        return reply


class Mailbox:
    """``script(try_number) -> reply`` answers each DATA; the default accepts everything.

    ``starttls``: a context to offer STARTTLS with, and require it; ``implicit_tls``: a context
    to speak TLS from the first byte (port 465 style); ``login``: (user, password) AUTH wants."""

    def __init__(
        self,
        script: Callable[[int], str] | None = None,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.script = script or (lambda _n: OK)
        self.mails: list[Mail] = []
        self.tries = 0
        self.logins: list[tuple[str, bool]] = []  # (user, accepted)
        self._lock = threading.Lock()
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if starttls is not None:
            kwargs.update(tls_context=starttls, require_starttls=True)
        if implicit_tls is not None:
            kwargs.update(ssl_context=implicit_tls)
        if login is not None:
            kwargs.update(authenticator=self._authenticator(login), auth_required=True)
            kwargs.update(auth_require_tls=starttls is not None or implicit_tls is not None)
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticator(self, login: tuple[str, str]) -> Callable[..., AuthResult]:
        def check(_server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: Any) -> AuthResult:
            if not isinstance(data, LoginPassword):
                return AuthResult(success=False, handled=False)
            user, password = data.login.decode(), data.password.decode()
            accepted = (user, password) == login
            with self._lock:
                self.logins.append((user, accepted))
            # handled=False: aiosmtpd answers a refusal itself (535 5.7.8).
            return AuthResult(success=accepted, handled=False)

        return check

    def __enter__(self) -> Mailbox:
        self._controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._controller.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Mail]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.mails) >= count:
                    return list(self.mails)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} emails, got {len(self.mails)}")


@dataclass
class Certificates:
    """A certificate authority made for one test and a server certificate for 127.0.0.1 it
    signed: ``server`` context for the mailbox, ``client`` context that trusts only that CA."""

    server: ssl.SSLContext
    client: ssl.SSLContext

    @classmethod
    def make(cls, folder: Path) -> Certificates:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kasir test CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_file, key_file, ca_file = folder / "server.pem", folder / "server.key", folder / "ca.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(cert_file, key_file)
        client = ssl.create_default_context(cafile=str(ca_file))
        return cls(server, client)

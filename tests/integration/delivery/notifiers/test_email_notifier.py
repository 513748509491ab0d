"""The SMTP notifier (kasir/delivery/notifiers/email.py) against a real SMTP server (aiosmtpd on a loopback
port): plain SMTP, STARTTLS (required by the server) and implicit TLS with a certificate the
client verifies, AUTH, and each way a conversation ends without the message: a server that
refuses the sender, the recipient or the message, a login refused, a server without STARTTLS, a
certificate nobody vouches for, nothing listening. The Result carries the server's reply code,
and the password is in no error text."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from kasir.config import Settings
from kasir.delivery.dispatch import Result
from kasir.delivery.notifiers import Message
from kasir.delivery.notifiers.email import SmtpNotifier
from tests.conftest import free_port
from tests.mailbox import Certificates, Mailbox

PASSWORD = "smtp-Geheim-pw-4410"
TO = "pemilik@toko.test"
MESSAGE = Message(
    to=TO,
    text="Peringatan Kasir untuk Toko «Satu»\n\nLihat: http://kasir.test/dashboard/sources/src_1",
    reference="evt_0123456789abcdef01234567",
    subject="[Kasir] Sumber pembayaran berhenti melapor - Toko «Satu»",
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates.make(Path(tmp_path_factory.mktemp("certs")))


def send(notifier: SmtpNotifier, message: Message = MESSAGE) -> Result:
    return asyncio.run(notifier.send(notifier.prepare(message)))


def notifier(port: int, **options: object) -> SmtpNotifier:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "Kasir <alerts@kasir.test>",
        "timeout": 5.0,
    }
    values.update(options)
    return SmtpNotifier(**values)  # type: ignore[arg-type]


def test_plain_smtp_delivers_a_well_formed_message() -> None:
    with Mailbox() as box:
        result = send(notifier(box.port))
        [mail] = box.wait_for(1)
    assert result.ok
    assert result.status_code == 250
    assert result.response_body == "250 2.0.0 Ok: queued as KASIR1"
    assert mail.sender == "alerts@kasir.test"
    assert mail.recipients == [TO]
    assert mail.message["Subject"] == MESSAGE.subject  # non-ASCII, RFC 2047-encoded on the wire
    assert mail.message["X-Kasir-Event"] == MESSAGE.reference
    assert mail.message["Message-ID"].endswith("@kasir.test>")
    assert mail.message["Date"]
    assert mail.text.replace("\r\n", "\n").rstrip("\n") == MESSAGE.text
    assert b"\r\n" in mail.raw


def test_a_line_break_in_the_subject_adds_no_header() -> None:
    with Mailbox() as box:
        send(notifier(box.port), Message(to=TO, text="x", reference="evt_1", subject="Toko\r\nBcc: victim@example.com"))
        [mail] = box.wait_for(1)
    assert mail.recipients == [TO]
    assert mail.message["Bcc"] is None
    assert mail.message["Subject"] == "Toko Bcc: victim@example.com"


def test_starttls_with_auth(certs: Certificates) -> None:
    with Mailbox(starttls=certs.server, login=("kasir", PASSWORD)) as box:
        result = send(
            notifier(box.port, security="starttls", username="kasir", password=PASSWORD, tls_context=certs.client)
        )
        box.wait_for(1)
    assert result.ok, result
    assert box.logins == [("kasir", True)]


def test_implicit_tls(certs: Certificates) -> None:
    with Mailbox(implicit_tls=certs.server) as box:
        result = send(notifier(box.port, security="ssl", tls_context=certs.client))
        box.wait_for(1)
    assert result.ok, result


def test_a_certificate_nobody_vouches_for_is_refused(certs: Certificates) -> None:
    with Mailbox(implicit_tls=certs.server) as box:
        result = send(notifier(box.port, security="ssl"))  # the system's CAs only
    assert box.mails == []
    assert result.status_code is None
    assert result.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in result.error


def test_a_server_without_starttls_is_not_sent_to_in_clear() -> None:
    with Mailbox() as box:
        result = send(notifier(box.port, security="starttls", username="kasir", password=PASSWORD))
    assert box.mails == []
    assert (
        result.error
        == "the SMTP server cannot do this: STARTTLS extension not supported by server. (see KASIR_SMTP_SECURITY)"
    )


def test_a_refused_login_shows_the_reply_and_never_the_password(certs: Certificates) -> None:
    with Mailbox(starttls=certs.server, login=("kasir", "another-password")) as box:
        result = send(
            notifier(box.port, security="starttls", username="kasir", password=PASSWORD, tls_context=certs.client)
        )
    assert not result.ok
    assert result.status_code == 535
    assert result.error == "the SMTP server refused the login: 535 5.7.8 Authentication credentials invalid"
    assert PASSWORD not in repr(result)


class _Refusing:
    """A server that refuses at one step of the conversation."""

    def __init__(self, step: str, reply: str) -> None:
        self.step, self.reply = step, reply

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.step == "MAIL":
            return self.reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.step == "RCPT":
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self.reply if self.step == "DATA" else "250 OK"


@pytest.mark.parametrize(
    ("step", "reply", "error"),
    [
        ("MAIL", "553 5.7.1 Sender address rejected: not owned by user", "refused the sender"),
        ("RCPT", "550 5.1.1 No such user here", "refused the recipient"),
        ("DATA", "552 5.3.4 Message size exceeds fixed limit", "refused the message"),
        ("DATA", "421 4.7.0 Too many connections, try again later", "refused the message"),
    ],
)
def test_each_refusal_carries_the_servers_code_and_reply(step: str, reply: str, error: str) -> None:
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(_Refusing(step, reply), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        result = send(notifier(port))
    finally:
        controller.stop()
    assert not result.ok
    assert result.status_code == int(reply[:3])
    assert result.response_body == reply
    assert result.error == f"the SMTP server {error}: {reply}"
    assert not result.permanent  # the schedule retries: the operator's to fix, and it may pass


def test_nothing_listening_is_a_failed_try_without_a_code() -> None:
    result = send(notifier(free_port()))
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("cannot talk to the SMTP server: ConnectionRefusedError")


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"smtp_host": "smtp.example.com", "smtp_password": PASSWORD, "smtp_username": "u"}, "needs KASIR_SMTP_FROM"),
        (
            {"smtp_host": "smtp.example.com", "smtp_from": "a@b.co", "smtp_password": PASSWORD},
            "needs KASIR_SMTP_USERNAME",
        ),
    ],
)
def test_incomplete_settings_are_refused_at_start_without_showing_the_password(
    settings: Settings, changes: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem) as refused:
        Settings(**{**settings.model_dump(), **changes})
    assert PASSWORD not in str(refused.value)


def test_the_default_port_follows_the_security(settings: Settings) -> None:
    make: Callable[[str], SmtpNotifier] = lambda security: SmtpNotifier.from_settings(  # noqa: E731
        Settings(
            **{
                **settings.model_dump(),
                "smtp_host": "smtp.example.com",
                "smtp_from": "a@b.co",
                "smtp_security": security,
            }
        )
    )
    assert make("starttls").url == "smtp://smtp.example.com:587"
    assert make("ssl").url == "smtps://smtp.example.com:465"
    assert make("none").url == "smtp://smtp.example.com:25"

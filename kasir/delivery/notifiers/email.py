"""Email over SMTP (``KASIR_SMTP_*``): the owner's alerts (docs/alerts.md).

One message, one SMTP conversation, on a thread (the standard library's ``smtplib``, which
speaks STARTTLS, implicit TLS and AUTH; alerts are a few an hour, so a connection each is fine).
The conversation is driven step by step (MAIL, RCPT, DATA) rather than by ``sendmail``, so the
attempt log shows the server's own reply to the step it refused: ``550 5.7.1 relaying denied``.

SMTP reply codes share HTTP's classes, so a Result carries the code as it is: 250 is a success,
a 4xx or 5xx refusal fails the try and the delivery retries on the webhook schedule (a refusal
is usually the operator's to fix, a relay or a login, and the schedule leaves days to fix it).

Without ``KASIR_SMTP_HOST`` the message goes to the ``kasir.notify`` log instead, as buyer
messages do with ``KASIR_NOTIFIER=log``. The password never reaches the attempt log: requests
carry no credentials, and error texts are scrubbed of it.
"""

from __future__ import annotations

import asyncio
import email.policy
import email.utils
import logging
import re
import smtplib
import ssl
import time
from email.message import EmailMessage

from kasir.config import Settings
from kasir.delivery.dispatch import Request, Result, describe_error, printable
from kasir.delivery.notifiers import Message, masked_email

log = logging.getLogger("kasir.notify")

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f]+")


class SmtpNotifier:
    name = "email"

    def __init__(
        self,
        *,
        host: str | None,
        port: int | None = None,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        sender: str = "kasir@localhost",
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in DEFAULT_PORTS:
            raise ValueError(f"unknown SMTP security {security!r}")
        self.host = host
        self.port = port or DEFAULT_PORTS[security]
        self.security = security
        self.sender = sender
        self._username = username
        self._password = password
        self._timeout = timeout
        # Verified against the system's CAs by default; a test passes one that trusts its own.
        self._tls = tls_context or ssl.create_default_context()

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpNotifier:
        if settings.smtp_host and not settings.smtp_from:
            raise ValueError("KASIR_SMTP_HOST needs KASIR_SMTP_FROM (the From of alert emails)")
        if settings.smtp_password is not None and not settings.smtp_username:
            raise ValueError("KASIR_SMTP_PASSWORD needs KASIR_SMTP_USERNAME")
        return cls(
            host=settings.smtp_host or None,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            sender=settings.smtp_from or "kasir@localhost",
            timeout=settings.delivery_timeout,
        )

    @property
    def url(self) -> str:
        """Where the attempt log says the message went: the server, never the credentials."""
        if self.host is None:
            return "log:kasir.notify"
        scheme = "smtps" if self.security == "ssl" else "smtp"
        return f"{scheme}://{self.host}:{self.port}"

    def prepare(self, message: Message) -> Request:
        mail = EmailMessage(policy=email.policy.SMTP)
        mail["From"] = self.sender
        mail["To"] = message.to
        # A header is one line: a merchant name with a line break must not add headers.
        mail["Subject"] = _LINE_BREAKS.sub(" ", message.subject or "Kasir").strip()
        mail["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
        domain = email.utils.parseaddr(self.sender)[1].rpartition("@")[2] or "localhost"
        mail["Message-ID"] = email.utils.make_msgid(idstring=message.reference or None, domain=domain)
        mail["X-Kasir-Event"] = message.reference
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to alerts
        mail.set_content(message.text)
        headers = {
            "From": self.sender,
            "To": masked_email(message.to),
            "Subject": str(mail["Subject"]),
            "X-Kasir-Event": message.reference,
        }
        return Request(self.url, headers, mail.as_bytes())

    async def send(self, request: Request) -> Result:
        if self.host is None:
            started = time.perf_counter()
            log.info(
                "email to %s (not sent: KASIR_SMTP_HOST is not set):\n%s\n\n%s",
                request.headers.get("To", "***"),
                request.headers.get("Subject", ""),
                _text_of(request.body),
            )
            return Result(200, "written to the log (KASIR_SMTP_HOST is not set)", time.perf_counter() - started, None)
        started = time.perf_counter()
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._converse, request.body), self._timeout)
        except TimeoutError:
            return Result(None, None, time.perf_counter() - started, "timed out talking to the SMTP server")

    def _converse(self, body: bytes) -> Result:
        started = time.perf_counter()

        def done(code: int | None, reply: str | None, error: str | None) -> Result:
            text = None if reply is None else printable(reply)[:4096]
            return Result(code, text, time.perf_counter() - started, self._scrub(error))

        mail = email.message_from_bytes(body, policy=email.policy.SMTP)
        recipient = email.utils.parseaddr(str(mail["To"]))[1]
        sender = email.utils.parseaddr(self.sender)[1]
        try:
            with self._connect() as smtp:
                smtp.ehlo()
                if self.security == "starttls":
                    smtp.starttls(context=self._tls)
                    smtp.ehlo()
                if self._username:
                    smtp.login(self._username, self._password or "")
                code, reply = smtp.mail(sender)
                if code != 250:
                    return done(code, _reply(code, reply), f"the SMTP server refused the sender: {_reply(code, reply)}")
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    return done(
                        code, _reply(code, reply), f"the SMTP server refused the recipient: {_reply(code, reply)}"
                    )
                code, reply = smtp.data(body)
                if code != 250:
                    return done(
                        code, _reply(code, reply), f"the SMTP server refused the message: {_reply(code, reply)}"
                    )
                return done(code, _reply(code, reply), None)
        except smtplib.SMTPAuthenticationError as exc:
            text = _reply(exc.smtp_code, exc.smtp_error)
            return done(exc.smtp_code, text, f"the SMTP server refused the login: {text}")
        except smtplib.SMTPNotSupportedError as exc:
            return done(None, None, f"the SMTP server cannot do this: {exc} (see KASIR_SMTP_SECURITY)")
        except smtplib.SMTPResponseException as exc:  # a refused greeting, HELO, STARTTLS or DATA
            text = _reply(exc.smtp_code, exc.smtp_error)
            return done(exc.smtp_code, text, f"the SMTP server refused: {text}")
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            return done(None, None, f"cannot talk to the SMTP server: {describe_error(exc)}")

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host or "", self.port, timeout=self._timeout, context=self._tls)
        return smtplib.SMTP(self.host or "", self.port, timeout=self._timeout)

    def _scrub(self, text: str | None) -> str | None:
        if text is None:
            return None
        if self._password and len(self._password) >= 4:
            text = text.replace(self._password, "***")
        return printable(text)[:1000]

    async def aclose(self) -> None:
        return None


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"


def _text_of(body: bytes) -> str:
    part = email.message_from_bytes(body, policy=email.policy.SMTP)
    if isinstance(part, EmailMessage):
        content = part.get_body(("plain",))
        if content is not None:
            return str(content.get_content())
    return ""


__all__ = ["DEFAULT_PORTS", "SmtpNotifier"]

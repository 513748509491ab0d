"""Messages to people (buyers of WA Store orders, and the owner's alerts): what a notifier is,
and which one the settings pick.

A message is a delivery like any webhook: the outbox writes it in the transaction of the change
it reports, and the delivery worker sends it with the same retries, attempt log and redelivery.
Such a delivery's ``dialect`` is :data:`CHANNEL` and its ``url`` is the recipient's address
(``whatsapp:62…`` or ``email:owner@example.com``); the worker hands it to the notifier of that
address's medium (:func:`medium`) instead of POSTing it to a webhook receiver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kasir.config import Settings
    from kasir.delivery.dispatch import Request, Result

CHANNEL = "notifier"
WHATSAPP = "whatsapp:"
EMAIL = "email:"


def recipient_address(phone: str) -> str:
    """The delivery ``url`` of a WhatsApp message to ``phone`` (normalised, ``62…``)."""
    return WHATSAPP + phone


def email_address(address: str) -> str:
    """The delivery ``url`` of an email to ``address``."""
    return EMAIL + address


def medium(url: str) -> str:
    """Which notifier a notifier delivery's ``url`` goes to: ``email`` or ``whatsapp`` (the
    default, as every such delivery was before email existed)."""
    return "email" if url.startswith(EMAIL) else "whatsapp"


def recipient(url: str) -> str:
    """The address in a notifier delivery's ``url``: a phone number or an email address."""
    return url.removeprefix(EMAIL) if url.startswith(EMAIL) else url.removeprefix(WHATSAPP)


@dataclass(frozen=True, slots=True)
class Message:
    """One text message to one person. ``reference`` (the event id) travels with it where the
    medium can carry it, so a status report can be traced back to the event. ``subject`` is
    used by email only."""

    to: str  # digits, country code first: 6281234567890; or an email address
    text: str
    reference: str
    subject: str = ""


class Notifier(Protocol):
    """Turns a message into one request and sends it. ``send`` never raises for a failed
    send: the Result says what happened (status, body, error, whether retrying can help), and
    the delivery engine decides about retries as it does for webhooks."""

    name: str

    def prepare(self, message: Message) -> Request: ...

    async def send(self, request: Request) -> Result: ...

    async def aclose(self) -> None: ...


def from_settings(settings: Settings) -> Notifier:
    if settings.notifier == "whatsapp":
        from kasir.delivery.notifiers.whatsapp import WhatsAppCloudNotifier

        return WhatsAppCloudNotifier.from_settings(settings)
    from kasir.delivery.notifiers.log import LogNotifier

    return LogNotifier()


def email_from_settings(settings: Settings) -> Notifier:
    """The email notifier: SMTP as ``KASIR_SMTP_*`` say, or the log while no host is set."""
    from kasir.delivery.notifiers.email import SmtpNotifier

    return SmtpNotifier.from_settings(settings)


def masked_phone(phone: str) -> str:
    """Enough of a number to recognise it in a log line, not enough to call it."""
    return phone[:4] + "*" * max(len(phone) - 7, 0) + phone[-3:] if len(phone) > 7 else "***"


def masked_email(address: str) -> str:
    """Enough of an address to recognise it in a log line: ``ow***@example.com``."""
    local, at, domain = address.rpartition("@")
    if not at:
        return "***"
    return local[:2] + "***@" + domain

"""Receiving Kasir's webhooks: ``verify`` checks a request in any dialect and returns the event.

Built on the same dialect modules the delivery worker signs with, so what Kasir sends, this
accepts. Standard library only: importing ``kasir.receive`` in a merchant's app pulls in none of
Kasir's server stack (FastAPI, SQLAlchemy, aiohttp). The framework adapters live in
``kasir.receive.starlette``, ``kasir.receive.flask`` and ``kasir.receive.django``; the
idempotency helper in ``kasir.receive.idempotency``.

    from kasir.receive import verify, WebhookVerificationError

    try:
        event = verify(raw_body, request.headers, "whsec_…", dialect="bayargg")
    except WebhookVerificationError:
        return 401
    if event.type == "payment.paid": ...
"""

from __future__ import annotations

from collections.abc import Sequence

from kasir import dialects
from kasir.dialects.base import (
    Headers,
    InvalidSignature,
    MalformedPayload,
    MissingHeader,
    ReceivedEvent,
    TimestampInFuture,
    TimestampOutOfTolerance,
    TimestampTooOld,
    WebhookVerificationError,
)

Event = ReceivedEvent
DIALECTS = tuple(dialects.REGISTRY)
DEFAULT_TOLERANCE = 300  # seconds; Standard Webhooks and Stripe use five minutes too


def verify(
    body: bytes | bytearray | memoryview,
    headers: Headers,
    secret: str | Sequence[str],
    *,
    dialect: str = dialects.DEFAULT,
    tolerance: int = DEFAULT_TOLERANCE,
    now: int | None = None,
) -> Event:
    """The event in ``body`` once its signature checks out with ``secret`` (or any of several
    secrets, during a rotation), or one of: ``MissingHeader``, ``InvalidSignature``,
    ``TimestampTooOld`` / ``TimestampInFuture`` (dialects that sign a timestamp), ``MalformedPayload``.

    ``body`` must be the raw bytes as received: a body parsed and serialised again no longer
    matches its signature. Comparisons are constant-time.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError("verify() needs the raw body as bytes, exactly as received")
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets or not all(isinstance(s, str) and s for s in secrets):
        raise ValueError("give the webhook secret (or a list of them during a rotation)")
    return dialects.get(dialect).verify(bytes(body), headers, secrets, tolerance=tolerance, now=now)


__all__ = [
    "DIALECTS",
    "Event",
    "InvalidSignature",
    "MalformedPayload",
    "MissingHeader",
    "TimestampInFuture",
    "TimestampOutOfTolerance",
    "TimestampTooOld",
    "WebhookVerificationError",
    "verify",
]

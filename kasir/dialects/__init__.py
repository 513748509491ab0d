"""Webhook dialects: one module per provider's wire format, standard library only.

The delivery worker renders with them and the receiver SDK verifies with them, so what Kasir
signs, the SDK always accepts.
"""

from __future__ import annotations

from kasir.dialects import bayargg, digiflazz, ilenpay, isikuota, standard, xendit
from kasir.dialects.base import (
    Dialect,
    InvalidSignature,
    MalformedPayload,
    MissingHeader,
    ReceivedEvent,
    Rendered,
    TimestampInFuture,
    TimestampOutOfTolerance,
    TimestampTooOld,
    WebhookEvent,
    WebhookVerificationError,
)

REGISTRY: dict[str, Dialect] = {
    module.name: module for module in (bayargg, standard, digiflazz, ilenpay, isikuota, xendit)
}
DEFAULT = "bayargg"


def get(name: str) -> Dialect:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}; one of {', '.join(REGISTRY)}") from None


__all__ = [
    "DEFAULT",
    "REGISTRY",
    "Dialect",
    "InvalidSignature",
    "MalformedPayload",
    "MissingHeader",
    "ReceivedEvent",
    "Rendered",
    "TimestampInFuture",
    "TimestampOutOfTolerance",
    "TimestampTooOld",
    "WebhookEvent",
    "WebhookVerificationError",
    "get",
]

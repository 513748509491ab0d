"""Xendit (seed 003): the endpoint's verification token in ``x-callback-token``, compared in
constant time; body ``{"event", "created", "business_id", "data"}``."""

from __future__ import annotations

from collections.abc import Sequence

from kasir.dialects.base import (
    Headers,
    InvalidSignature,
    MalformedPayload,
    ReceivedEvent,
    Rendered,
    WebhookEvent,
    decode_json,
    encode_json,
    header_map,
    iso_utc,
    matches_any,
    require_header,
)

name = "xendit"
has_timestamp = False


def event_name(event_type: str) -> str | None:
    return event_type


def render(event: WebhookEvent, secrets: Sequence[str], *, timestamp: int, delivery_id: str) -> Rendered:
    body = encode_json(
        {
            "event": event.type,
            "created": iso_utc(event.created_at),
            "business_id": event.business_id,
            "data": {"id": event.data.get("invoice_id") or event.id, **event.data},
        }
    )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Kasir-Webhook/1",
        "x-callback-token": secrets[0],
        "webhook-id": event.id,
    }
    return Rendered(headers, body)


def verify(
    body: bytes, headers: Headers, secrets: Sequence[str], *, tolerance: int = 300, now: int | None = None
) -> ReceivedEvent:
    h = header_map(headers)
    token = require_header(h, "x-callback-token")
    if not matches_any(secrets, token):
        raise InvalidSignature("x-callback-token does not match")
    payload = decode_json(body)
    event, data = payload.get("event"), payload.get("data")
    if not isinstance(event, str) or not isinstance(data, dict):
        raise MalformedPayload("body must be {event, created, business_id, data}")
    return ReceivedEvent(id=h.get("webhook-id"), type=event, data=data, timestamp=None, dialect=name, payload=payload)

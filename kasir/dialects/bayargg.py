"""bayar.gg (seed 004): the flat callback body, ``X-Webhook-*`` headers, and a hex HMAC-SHA256
of ``invoice_id|status|final_amount|timestamp`` with the whole webhook secret as key, in the
``X-Webhook-Signature`` header and in the body's ``signature``.

That recipe leaves the other fields unsigned (``event``, ``event_id``, ``paid_amount``, …): a
captured callback could be replayed within the tolerance with a new ``event_id`` and pass a
de-duplication on it. So Kasir adds ``X-Kasir-Body-Signature: sha256=<hex HMAC of the raw body>``
(one per secret during a rotation), which seed 004's receivers ignore and ``kasir.receive``
requires."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kasir.dialects.base import (
    Headers,
    InvalidSignature,
    MalformedPayload,
    ReceivedEvent,
    Rendered,
    WebhookEvent,
    check_timestamp,
    decode_json,
    encode_json,
    header_map,
    hmac_hex,
    matches_any,
    require_header,
)

name = "bayargg"
BODY_SIGNATURE = "X-Kasir-Body-Signature"
has_timestamp = True


def event_name(event_type: str) -> str | None:
    return event_type


def signed_message(payload: Mapping[str, Any], timestamp: int | str) -> bytes:
    # PHP's string concatenation of the decoded fields, as the seed's receiver computes it:
    # a missing field is an empty string, an integer its decimal digits.
    parts = [payload.get("invoice_id"), payload.get("status"), payload.get("final_amount")]
    return "|".join("" if p is None else str(p) for p in [*parts, timestamp]).encode()


def render(event: WebhookEvent, secrets: Sequence[str], *, timestamp: int, delivery_id: str) -> Rendered:
    payload = {**event.data, "event": event.type, "event_id": event.id, "timestamp": timestamp}
    signature = hmac_hex(secrets[0], signed_message(payload, timestamp), "sha256")
    payload["signature"] = signature
    body = encode_json(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Kasir-Webhook/1",
        "X-Webhook-Event": event.type,
        "X-Webhook-Signature": signature,
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Id": event.id,
        "X-Invoice-ID": str(event.data.get("invoice_id") or ""),
        BODY_SIGNATURE: " ".join("sha256=" + hmac_hex(secret, body, "sha256") for secret in secrets),
    }
    return Rendered(headers, body)


def verify(
    body: bytes, headers: Headers, secrets: Sequence[str], *, tolerance: int = 300, now: int | None = None
) -> ReceivedEvent:
    h = header_map(headers)
    signature = require_header(h, "X-Webhook-Signature")
    raw_timestamp = require_header(h, "X-Webhook-Timestamp")
    body_signatures = require_header(h, BODY_SIGNATURE).split(" ")
    expected_body = ["sha256=" + hmac_hex(s, body, "sha256") for s in secrets]
    matched = False
    for given in body_signatures:
        matched |= matches_any(expected_body, given)
    if not matched:
        raise InvalidSignature(f"{BODY_SIGNATURE} does not match the body")
    payload = decode_json(body)
    message = signed_message(payload, raw_timestamp)
    if not matches_any((hmac_hex(s, message, "sha256") for s in secrets), signature):
        raise InvalidSignature("X-Webhook-Signature does not match")
    timestamp = check_timestamp(raw_timestamp, tolerance, now)
    event_type = payload.get("event") or h.get("x-webhook-event")
    if not isinstance(event_type, str):
        raise MalformedPayload("no event type in the body or X-Webhook-Event")
    data = {k: v for k, v in payload.items() if k not in ("signature",)}
    return ReceivedEvent(
        id=payload.get("event_id") or h.get("x-webhook-id"),
        type=event_type,
        data=data,
        timestamp=timestamp,
        dialect=name,
        payload=payload,
    )

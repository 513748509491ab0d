"""IsiKuota (seed 002): ``X-Signature: <hex HMAC-SHA256 of the raw body>``, body
``{"event": "order.success"|"order.failed"|…, "data": {"ref_id", "sn", "message", …}}``.

IsiKuota speaks of orders that succeed or fail; a payment that is merely created has no name in
it, so that event is not sent in this dialect. A WA Store order succeeds, in IsiKuota's sense,
when the merchant completes it (``order.completed`` → ``order.success``, ``ref_id`` the order
number) and fails when it is cancelled; its other steps have no IsiKuota name."""

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
    decode_json,
    encode_json,
    header_map,
    hmac_hex,
    is_order,
    matches_any,
    require_header,
)

name = "isikuota"
has_timestamp = False

EVENT_NAMES = {
    "payment.paid": "order.success",
    "payment.expired": "order.failed",
    "payment.cancelled": "order.failed",
    "order.completed": "order.success",
    "order.cancelled": "order.failed",
    "ping": "ping",
}
MESSAGES = {"paid": "Pembayaran berhasil", "expired": "Pembayaran kedaluwarsa", "cancelled": "Pembayaran dibatalkan"}
ORDER_MESSAGES = {"completed": "Pesanan selesai", "cancelled": "Pesanan dibatalkan"}


def event_name(event_type: str) -> str | None:
    return EVENT_NAMES.get(event_type)


def order(data: Mapping[str, Any]) -> dict[str, Any]:
    status = str(data.get("status") or "")
    if is_order(data):
        ref_id, message = data.get("order_number"), ORDER_MESSAGES.get(status, status)
    else:
        ref_id, message = data.get("invoice_id"), MESSAGES.get(status, status)
    return {"ref_id": ref_id, "sn": data.get("paid_reff_num") or "", "message": message, **data}


def render(event: WebhookEvent, secrets: Sequence[str], *, timestamp: int, delivery_id: str) -> Rendered:
    name_here = event_name(event.type)
    if name_here is None:
        raise ValueError(f"{event.type} has no IsiKuota event name")
    data = dict(event.data) if event.type == "ping" else order(event.data)
    body = encode_json({"event": name_here, "event_id": event.id, "data": data})
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Kasir-Webhook/1",
        "X-Signature": hmac_hex(secrets[0], body, "sha256"),
    }
    return Rendered(headers, body)


def verify(
    body: bytes, headers: Headers, secrets: Sequence[str], *, tolerance: int = 300, now: int | None = None
) -> ReceivedEvent:
    h = header_map(headers)
    signature = require_header(h, "X-Signature")
    if not matches_any((hmac_hex(s, body, "sha256") for s in secrets), signature):
        raise InvalidSignature("X-Signature does not match")
    payload = decode_json(body)
    event, data = payload.get("event"), payload.get("data")
    if not isinstance(event, str) or not isinstance(data, dict):
        raise MalformedPayload('body must be {"event": ..., "data": {...}}')
    if event == "ping":
        canonical: str | None = "ping"
    elif is_order(data):
        canonical = {"order.success": "order.completed", "order.failed": "order.cancelled"}.get(event)
    else:
        canonical = {"order.success": "payment.paid"}.get(event)
        if canonical is None and event == "order.failed":
            canonical = f"payment.{data.get('status') or 'failed'}"
    return ReceivedEvent(
        id=payload.get("event_id"), type=canonical or event, data=data, timestamp=None, dialect=name, payload=payload
    )

"""Ilenpay (seed 000): ``X-Ilen-Event``, ``X-Ilen-Delivery``, ``X-Ilen-Signature: key=<hex
HMAC-SHA1 of the raw body>``, ``User-Agent: Ilenpay-Hookshot``, body ``{"data": {...}}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kasir.dialects.base import (
    Headers,
    Hookshot,
    ReceivedEvent,
    Rendered,
    WebhookEvent,
    canonical_type,
    data_object,
    encode_json,
    hookshot_event,
    is_order,
    status_field,
)

name = "ilenpay"
has_timestamp = False
HOOKSHOT = Hookshot("Ilenpay-Hookshot", "X-Ilen-Event", "X-Ilen-Delivery", "X-Ilen-Signature", "key=")


def event_name(event_type: str) -> str | None:
    return hookshot_event(event_type)


def _decimal(value: Any) -> str:
    return "" if value is None else str(value)


def transaction(data: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    """Ilenpay's field names (amounts as decimal strings, status upper case, as the seed's
    sample shows), then Kasir's canonical fields, with Kasir's status as ``payment_status``."""
    status = str(data.get("status") or "")
    return {
        "hash": event_id,
        "reff_id": data.get("order_number") if is_order(data) else data.get("invoice_id"),
        "payment": data.get("payment_method"),
        # An order's amount is its total (its payment's unique code is in total_tf).
        "nominal": _decimal(data.get("total") if is_order(data) else data.get("amount")),
        "total_tf": _decimal(data.get("final_amount")),
        "sender": data.get("customer_phone") or "",
        "status": status.upper(),
        **{k: v for k, v in data.items() if k != "status"},
        status_field(data): status,
    }


def render(event: WebhookEvent, secrets: Sequence[str], *, timestamp: int, delivery_id: str) -> Rendered:
    data = dict(event.data) if event.type == "ping" else transaction(event.data, event.id)
    body = encode_json({"data": data})
    return Rendered(HOOKSHOT.headers(event.type, delivery_id, secrets[0], body), body)


def verify(
    body: bytes, headers: Headers, secrets: Sequence[str], *, tolerance: int = 300, now: int | None = None
) -> ReceivedEvent:
    h, hookshot, payload = HOOKSHOT.check(body, headers, secrets)
    data = data_object(payload)
    return ReceivedEvent(
        id=data.get("hash") or h.get("x-ilen-delivery"),
        type=canonical_type(hookshot, str(data.get(status_field(data)) or ""), order="order_status" in data),
        data=data,
        timestamp=None,
        dialect=name,
        payload=payload,
    )

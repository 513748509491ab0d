"""Digiflazz (seed 001): ``X-Digiflazz-Event: create|update|ping``, ``X-Digiflazz-Delivery``,
``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>``, body ``{"data": {...}}``; the ping
event's body is ``{"sed", "hook_id", "hook"}`` as the seed's ping payload table lists it."""

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

name = "digiflazz"
has_timestamp = False
HOOKSHOT = Hookshot("Digiflazz-Hookshot", "X-Digiflazz-Event", "X-Digiflazz-Delivery", "X-Hub-Signature", "sha1=")

# Digiflazz's transaction status words for Kasir's payment statuses.
STATUS_WORDS = {"pending": "Pending", "paid": "Sukses", "expired": "Gagal", "cancelled": "Gagal"}
MESSAGES = {"pending": "Menunggu pembayaran", "paid": "Sukses", "expired": "Kedaluwarsa", "cancelled": "Dibatalkan"}
# A WA Store order succeeds, in Digiflazz's sense, when it is completed; until then it is pending.
ORDER_STATUS_WORDS = {"completed": "Sukses", "cancelled": "Gagal"}
ORDER_MESSAGES = {
    "pending": "Pesanan diterima",
    "waiting_payment": "Menunggu pembayaran",
    "paid": "Pembayaran diterima",
    "processing": "Pesanan diproses",
    "completed": "Pesanan selesai",
    "cancelled": "Pesanan dibatalkan",
}


def _words(data: Mapping[str, Any], status: str) -> tuple[str, str, str]:
    """(status word, message, response code) in Digiflazz's terms."""
    if is_order(data):
        word = ORDER_STATUS_WORDS.get(status, "Pending")
        message = ORDER_MESSAGES.get(status, status)
    else:
        word, message = STATUS_WORDS.get(status, status), MESSAGES.get(status, status)
    return word, message, {"Sukses": "00", "Pending": "03"}.get(word, "01")


def event_name(event_type: str) -> str | None:
    return hookshot_event(event_type)


def transaction(data: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    """The payment in Digiflazz's field names first, Kasir's canonical fields after them
    (``payment_status`` keeps Kasir's status word, since ``status`` is Digiflazz's)."""
    status = str(data.get("status") or "")
    word, message, rc = _words(data, status)
    return {
        "trx_id": event_id,
        "ref_id": data.get("order_number") if is_order(data) else data.get("invoice_id"),
        "customer_no": data.get("customer_phone") or "",
        "message": message,
        "status": word,
        "rc": rc,
        "sn": data.get("paid_reff_num") or "",
        "price": data.get("final_amount"),
        **{k: v for k, v in data.items() if k != "status"},
        status_field(data): status,
    }


def render(event: WebhookEvent, secrets: Sequence[str], *, timestamp: int, delivery_id: str) -> Rendered:
    ping = event.type == "ping"
    body = encode_json(dict(event.data) if ping else {"data": transaction(event.data, event.id)})
    return Rendered(HOOKSHOT.headers(event.type, delivery_id, secrets[0], body), body)


def verify(
    body: bytes, headers: Headers, secrets: Sequence[str], *, tolerance: int = 300, now: int | None = None
) -> ReceivedEvent:
    h, hookshot, payload = HOOKSHOT.check(body, headers, secrets)
    if hookshot == "ping":
        return ReceivedEvent(id=h.get("x-digiflazz-delivery"), type="ping", data=payload, timestamp=None, dialect=name)
    data = data_object(payload)
    return ReceivedEvent(
        id=data.get("trx_id"),
        type=canonical_type(hookshot, str(data.get(status_field(data)) or ""), order="order_status" in data),
        data=data,
        timestamp=None,
        dialect=name,
        payload=payload,
    )

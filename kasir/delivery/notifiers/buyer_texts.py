"""What the buyer reads on WhatsApp at each step of an order, in Indonesian.

Rendered from the order event's payload when the message is sent, so a retried message says
what the order said when the event happened. WhatsApp formatting: ``*bold*``, plain newlines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kasir.money import rupiah


def _greeting(order: Mapping[str, Any]) -> str:
    name = str(order.get("customer_name") or "").strip()
    return f"Halo {name}," if name else "Halo,"


def _store(order: Mapping[str, Any]) -> str:
    return str(order.get("store_name") or "kami")


def _items(order: Mapping[str, Any]) -> str:
    lines = [
        f"- {item['name']} x{item['quantity']} = Rp {rupiah(int(item['subtotal']))}"
        for item in order.get("items") or ()
    ]
    lines.append(f"*Total: Rp {rupiah(int(order['total']))}*")
    return "\n".join(lines)


def _deadline(wire: str | None) -> str:
    # Wire times are already WIB, "2026-11-26 14:35:00".
    if not wire or len(wire) < 16:
        return ""
    year, month, day = wire[:10].split("-")
    return f" sebelum {day}-{month}-{year} pukul {wire[11:16]} WIB"


def _created(order: Mapping[str, Any]) -> str:
    head = (
        f"{_greeting(order)} pesanan *{order['order_number']}* di {_store(order)} sudah kami terima.\n\n{_items(order)}"
    )
    if order.get("status") != "waiting_payment" or not order.get("payment_url"):
        return head + "\n\nKami akan segera mengirimkan tautan pembayaran."
    return head + "\n\n" + _payment_request(order)


def _payment_request(order: Mapping[str, Any]) -> str:
    final_amount = int(order.get("final_amount") or order["total"])
    code = int(order.get("unique_code") or 0)
    exact = f"Mohon bayar *tepat Rp {rupiah(final_amount)}*"
    if code:
        exact += f" (termasuk kode unik {code}, agar pembayaran Anda dikenali otomatis)"
    return f"{exact}{_deadline(order.get('payment_expires_at'))} melalui tautan berikut:\n{order['payment_url']}"


def _waiting_payment(order: Mapping[str, Any]) -> str:
    return (
        f"{_greeting(order)} berikut tautan pembayaran untuk pesanan *{order['order_number']}*.\n\n"
        f"{_items(order)}\n\n{_payment_request(order)}"
    )


def _paid(order: Mapping[str, Any]) -> str:
    paid = order.get("paid_amount") or order.get("final_amount") or order["total"]
    return (
        f"{_greeting(order)} pembayaran pesanan *{order['order_number']}* sebesar Rp {rupiah(int(paid))} "
        "sudah kami terima. Terima kasih! Pesanan Anda segera kami siapkan."
    )


def _processing(order: Mapping[str, Any]) -> str:
    return f"{_greeting(order)} pesanan *{order['order_number']}* sedang kami proses. Kami kabari lagi setelah selesai."


def _completed(order: Mapping[str, Any]) -> str:
    return (
        f"{_greeting(order)} pesanan *{order['order_number']}* telah selesai. "
        f"Terima kasih sudah berbelanja di {_store(order)}!"
    )


def _cancelled(order: Mapping[str, Any]) -> str:
    text = f"{_greeting(order)} pesanan *{order['order_number']}* dibatalkan."
    if order.get("paid_at"):
        text += " Pembayaran Anda sudah kami terima; silakan balas pesan ini untuk pengembalian dana."
    return text + " Mohon maaf atas ketidaknyamanannya."


TEMPLATES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "order.created": _created,
    "order.waiting_payment": _waiting_payment,
    "order.paid": _paid,
    "order.processing": _processing,
    "order.completed": _completed,
    "order.cancelled": _cancelled,
}


def render(event_type: str, order: Mapping[str, Any]) -> str | None:
    """The buyer's message for an order event; None when the event has none."""
    template = TEMPLATES.get(event_type)
    return None if template is None else template(order)

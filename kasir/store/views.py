"""How a WA Store order looks on the wire: seed 004's list fields first (``order_number``,
``customer_name``, ``status``, ``total``), then what a merchant needs to act on it, including its
current payment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kasir.clock import to_wire
from kasir.payments.views import payment_url


def items_view(items_json: str) -> list[dict[str, Any]]:
    return [
        {
            "name": item["name"],
            "quantity": item["quantity"],
            "price": item["price"],
            "subtotal": item["quantity"] * item["price"],
        }
        for item in json.loads(items_json)
    ]


def order_view(row: Mapping[str, Any], public_url: str) -> dict[str, Any]:
    """``row``: a store_orders row joined with its payment (``kasir.store.orders.ORDER_WITH_PAYMENT``)."""
    invoice_id = row["invoice_id"]
    return {
        "order_number": row["order_number"],
        "customer_name": row["customer_name"],
        "status": row["status"],
        "total": row["total"],
        "customer_phone": row["customer_phone"],
        "items": items_view(row["items"]),
        "notes": row["notes"],
        "invoice_id": invoice_id,
        "payment_url": payment_url(public_url, invoice_id) if invoice_id else None,
        "payment_status": row["payment_status"],
        "payment_method": row["payment_method"],
        # What the buyer transfers: the total plus the payment's unique code.
        "final_amount": row["final_amount"],
        "unique_code": row["unique_code"],
        "payment_expires_at": to_wire(row["payment_expires_at"]),
        "paid_amount": row["paid_amount"],
        "paid_reff_num": row["paid_reff_num"],
        "created_at": to_wire(row["created_at"]),
        "updated_at": to_wire(row["updated_at"]),
        "paid_at": to_wire(row["paid_at"]),
        "processing_at": to_wire(row["processing_at"]),
        "completed_at": to_wire(row["completed_at"]),
        "cancelled_at": to_wire(row["cancelled_at"]),
        "mode": row["mode"],
    }


def event_payload(
    event: str, row: Mapping[str, Any], public_url: str, store_name: str, timestamp: int
) -> dict[str, Any]:
    """The order as the API shows it, plus the event name, the shop's name (the buyer's message
    names it) and the time, as payment events carry them."""
    return {"event": event, **order_view(row, public_url), "store_name": store_name, "timestamp": timestamp}

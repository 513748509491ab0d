"""How a payment looks: its row and its states, and on the wire the check-payment shape of
seed 004 and the event payloads.

A payment's row, and a credit's, is a plain dict keyed by the columns of kasir.db.tables,
whichever path read it (docs/architecture.md, "Data path"); ``PaymentRow`` and ``MutationRow``
type those dicts (tests/unit/db/test_row_shapes.py holds their keys to the tables' columns).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, TypedDict
from urllib.parse import quote

from kasir.clock import to_wire


class PaymentStatus(StrEnum):
    """``payments.status`` (its check constraint): pending until paid, expired or cancelled,
    and never changed again after that."""

    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class MutationStatus(StrEnum):
    """``mutations.status``: a credit matched a payment, matched none, or came after the payment
    it was most likely meant for had expired (``late_payment_id``)."""

    MATCHED = "matched"
    UNMATCHED = "unmatched"
    LATE = "late"


class PaymentRow(TypedDict):
    """A row of ``payments``."""

    id: int
    invoice_id: str
    merchant_id: int
    mode: str
    payment_method: str
    channel_account: str
    amount: int
    unique_code: int
    final_amount: int
    status: str
    description: str | None
    customer_name: str | None
    customer_email: str | None
    customer_phone: str | None
    callback_url: str | None
    redirect_url: str | None
    file_id: int | None
    content_id: int | None
    product_image_id: int | None
    use_qris_converter: bool
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    paid_amount: int | None
    paid_reff_num: str | None
    closed_at: datetime | None
    qris_string: str | None
    link_id: str | None


class MutationRow(TypedDict):
    """A row of ``mutations``."""

    id: int
    public_id: str
    mode: str
    channel: str
    channel_account: str
    restricted_to: int | None
    merchant_id: int | None
    reference: str
    amount: int
    occurred_at: datetime
    received_at: datetime
    description: str | None
    source: str
    status: str
    payment_id: int | None
    late_payment_id: int | None
    settled_at: datetime | None
    settled_by: str | None


class ReportedMutation(MutationRow):
    """A credit as matching answers it: its row, and the invoices of the payments it paid or was
    late for."""

    invoice_id: str | None
    late_invoice_id: str | None


def payment_url(public_url: str, invoice_id: str) -> str:
    return f"{public_url}/pay?invoice={quote(invoice_id)}"


def qr_image_url(public_url: str, qris: str | None) -> str | None:
    """Where the QR image of ``qris`` is served (``kasir.api.routes.qris``); None without one."""
    return None if qris is None else f"{public_url}/qr.png?data={_quoted(qris)}"


@lru_cache(maxsize=1024)
def _quoted(qris: str) -> str:
    # Quoting 250 characters costs ~50 µs in pure Python; a new payment's view is built about
    # three times (the answer, the payment inside it, the event).
    return quote(qris, safe="")


def payment_view(row: Mapping[Any, Any], public_url: str) -> dict[str, Any]:
    """The payment as check-payment answers it: seed 004's fields first, then the rest a
    merchant needs to reconcile (customer, code, links)."""
    return {
        "invoice_id": row["invoice_id"],
        "status": row["status"],
        "amount": row["amount"],
        "unique_code": row["unique_code"],
        "final_amount": row["final_amount"],
        "payment_method": row["payment_method"],
        "paid_at": to_wire(row["paid_at"]),
        "paid_amount": row["paid_amount"],
        "paid_reff_num": row["paid_reff_num"],
        "expires_at": to_wire(row["expires_at"]),
        "created_at": to_wire(row["created_at"]),
        "description": row["description"],
        "customer_name": row["customer_name"],
        "customer_email": row["customer_email"],
        "customer_phone": row["customer_phone"],
        "redirect_url": row["redirect_url"],
        "payment_url": payment_url(public_url, row["invoice_id"]),
        # The payment's dynamic QRIS (QR methods): what the buyer scans, amount embedded.
        "qris_string": row["qris_string"],
        "qr_image_url": qr_image_url(public_url, row["qris_string"]),
        "mode": row["mode"],
        # The payment link (lnk_…) the buyer paid through, or null (docs/links.md). Read with get:
        # the sample events (kasir.devtools.samples) build their row by hand.
        "link_id": row.get("link_id"),
    }


def list_item_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    """One row of list-payments: seed 004's seven fields plus what a dashboard table shows."""
    return {
        "invoice_id": row["invoice_id"],
        "amount": row["amount"],
        "unique_code": row["unique_code"],
        "final_amount": row["final_amount"],
        "status": row["status"],
        "payment_method": row["payment_method"],
        "paid_at": to_wire(row["paid_at"]),
        "created_at": to_wire(row["created_at"]),
        "expires_at": to_wire(row["expires_at"]),
        "description": row["description"],
        "customer_name": row["customer_name"],
    }


def event_payload(event: str, row: Mapping[Any, Any], public_url: str, timestamp: int) -> dict[str, Any]:
    """The payment plus the fields of seed 004's callback example."""
    payload = {"event": event, **payment_view(row, public_url)}
    payload["has_file"] = row["file_id"] is not None
    payload["has_content"] = row["content_id"] is not None
    payload["timestamp"] = timestamp
    return payload

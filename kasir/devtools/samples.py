"""Realistic sample events, for the callback tester (`POST /v1/endpoints/{id}/test`, seed 002)
and for pings: what a receiver will really get, with an invoice id that says it is a test."""

from __future__ import annotations

import json
import secrets
import string
from datetime import datetime, timedelta
from typing import Any

from kasir.delivery.outbox import ORDER_EVENT_TYPES, PAYMENT_EVENT_TYPES
from kasir.payments.views import event_payload
from kasir.qris.convert import to_dynamic
from kasir.qris.demo import DEMO_STATIC_QRIS
from kasir.store.views import event_payload as order_event_payload

# Every payment and order event has a sample; endpoint.disabled and ping are built elsewhere.
PAYMENT_SAMPLE_TYPES = PAYMENT_EVENT_TYPES
ORDER_SAMPLE_TYPES = ORDER_EVENT_TYPES
SAMPLE_TYPES = PAYMENT_SAMPLE_TYPES + ORDER_SAMPLE_TYPES


def sample_payload(event_type: str, username: str, public_url: str, now: datetime) -> dict[str, Any]:
    if event_type in ORDER_SAMPLE_TYPES:
        return sample_order_payload(event_type, username, public_url, now)
    return sample_payment_payload(event_type, username, public_url, now)


def sample_payment_payload(event_type: str, username: str, public_url: str, now: datetime) -> dict[str, Any]:
    status = {"payment.created": "pending", "payment.paid": "paid"}.get(event_type, event_type.split(".")[1])
    created = now - timedelta(minutes=3)
    paid = status == "paid"
    row = {
        "invoice_id": f"PAY-{username}-{int(created.timestamp())}-TEST{secrets.randbelow(100):02d}",
        "status": status,
        "amount": 50000,
        "unique_code": 347,
        "final_amount": 50347,
        "payment_method": "qris",
        "paid_at": now if paid else None,
        "paid_amount": 50347 if paid else None,
        "paid_reff_num": "TEST" + secrets.token_hex(5).upper() if paid else None,
        "expires_at": created + timedelta(minutes=15),
        "created_at": created,
        "description": "Contoh pembayaran (test webhook)",
        "customer_name": "Budi Santoso",
        "customer_email": "budi@example.com",
        "customer_phone": "081234567890",
        "redirect_url": None,
        "mode": "test",
        "file_id": None,
        "content_id": None,
        "qris_string": to_dynamic(DEMO_STATIC_QRIS, 50347),
    }
    return event_payload(event_type, row, public_url, int(now.timestamp()))


def ping_payload(endpoint_public_id: str, url: str, masked_secret: str, enabled: bool) -> dict[str, Any]:
    """Digiflazz's ping event (seed 001): a random ``sed``, the hook's id and its configuration."""
    alphabet = string.ascii_letters + string.digits
    return {
        "sed": "".join(secrets.choice(alphabet) for _ in range(9)),
        "hook_id": endpoint_public_id,
        "hook": {"url": url, "secret": masked_secret, "type": "application/json", "status": 1 if enabled else 0},
    }


def sample_order_payload(event_type: str, username: str, public_url: str, now: datetime) -> dict[str, Any]:
    """A WA Store order at the step ``event_type`` reports, with its (test) payment."""
    step = event_type.split(".")[1]
    status = {"created": "waiting_payment"}.get(step, step)
    created = now - timedelta(minutes=20)
    paid = status in ("paid", "processing", "completed")
    at = {"processing": "processing_at", "completed": "completed_at", "cancelled": "cancelled_at"}
    row: dict[str, Any] = {
        "order_number": f"WA{created:%y%m%d}-TES{secrets.randbelow(10)}",
        "customer_name": "Rahim",
        "status": status,
        "total": 75000,
        "customer_phone": "6281234567890",
        "items": json.dumps([{"name": "Kopi Susu Gula Aren 1 L", "quantity": 2, "price": 37500}]),
        "notes": "Contoh pesanan (test webhook)",
        "invoice_id": f"PAY-{username}-{int(created.timestamp())}-TEST{secrets.randbelow(100):02d}",
        "payment_status": "paid" if paid else ("cancelled" if status == "cancelled" else "pending"),
        "payment_method": "qris",
        "final_amount": 75347,
        "unique_code": 347,
        "payment_expires_at": created + timedelta(minutes=15),
        "paid_amount": 75347 if paid else None,
        "paid_reff_num": "TEST" + secrets.token_hex(5).upper() if paid else None,
        "created_at": created,
        "updated_at": now,
        "paid_at": created + timedelta(minutes=5) if paid else None,
        "processing_at": None,
        "completed_at": None,
        "cancelled_at": None,
        "mode": "test",
    }
    if status in at:
        row[at[status]] = now
    return order_event_payload(event_type, row, public_url, "Toko Contoh", int(now.timestamp()))

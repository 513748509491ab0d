"""WA Store order events in each dialect's own terms.

The round trip of every order event in every dialect that can say it (type, id and data back
through ``kasir.receive.verify``) is in tests/unit/receive/test_verify.py, whose cases loop over
``kasir trigger``'s EVENT_TYPES, order.* included. Here: which order events each dialect can say
at all, and the fields the IsiKuota and hookshot (Digiflazz, Ilenpay) dialects map them to."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kasir import dialects
from kasir.devtools.samples import ORDER_SAMPLE_TYPES, PAYMENT_SAMPLE_TYPES
from kasir.devtools.trigger import EVENT_TYPES, new_secret, render, sample_event
from kasir.dialects.base import WebhookEvent
from kasir.receive import verify

SECRET = new_secret()


def rendered(dialect: str, event: WebhookEvent) -> tuple[dict[str, str], dict[str, Any]]:
    out = render(event, dialect, SECRET)
    return out.headers, json.loads(out.body)


def received_type(dialect: str, event: WebhookEvent) -> str:
    out = render(event, dialect, SECRET)
    return verify(out.body, out.headers, SECRET, dialect=dialect).type


def with_data(event: WebhookEvent, **changes: Any) -> WebhookEvent:
    return WebhookEvent(
        id=event.id,
        type=event.type,
        created_at=event.created_at,
        data={**event.data, **changes},
        mode=event.mode,
        business_id=event.business_id,
    )


def test_trigger_samples_cover_every_order_event() -> None:
    """What test_verify.py's round trip loops over includes each order event."""
    assert set(ORDER_SAMPLE_TYPES) <= set(EVENT_TYPES)
    assert set(ORDER_SAMPLE_TYPES) == {
        "order.created",
        "order.waiting_payment",
        "order.paid",
        "order.processing",
        "order.completed",
        "order.cancelled",
    }


@pytest.mark.parametrize("dialect", ["bayargg", "standard", "xendit"])
def test_dialects_with_open_event_names_say_every_order_event_as_it_is(dialect: str) -> None:
    for event_type in ORDER_SAMPLE_TYPES:
        assert dialects.get(dialect).event_name(event_type) == event_type


@pytest.mark.parametrize("dialect", ["digiflazz", "ilenpay"])
def test_hookshot_dialects_say_create_then_update(dialect: str) -> None:
    module = dialects.get(dialect)
    assert module.event_name("order.created") == "create"
    for event_type in ORDER_SAMPLE_TYPES[1:]:
        assert module.event_name(event_type) == "update"
    event_header = {"digiflazz": "X-Digiflazz-Event", "ilenpay": "X-Ilen-Event"}[dialect]
    for event_type in ORDER_SAMPLE_TYPES:
        headers, _body = rendered(dialect, sample_event(event_type))
        assert headers[event_header] == module.event_name(event_type)


# --- IsiKuota: an order succeeds when completed, fails when cancelled ----------------------------


def test_isikuota_names_only_the_end_of_an_order() -> None:
    isikuota = dialects.get("isikuota")
    assert isikuota.event_name("order.completed") == "order.success"
    assert isikuota.event_name("order.cancelled") == "order.failed"
    for event_type in ("order.created", "order.waiting_payment", "order.paid", "order.processing"):
        assert isikuota.event_name(event_type) is None
        with pytest.raises(ValueError, match="isikuota"):
            render(sample_event(event_type), "isikuota", SECRET)


def test_isikuota_order_completed_is_order_success_with_the_order_number_as_ref_id() -> None:
    event = sample_event("order.completed")
    _headers, body = rendered("isikuota", event)
    assert body["event"] == "order.success"
    assert body["event_id"] == event.id
    data = body["data"]
    assert data["ref_id"] == event.data["order_number"]
    assert data["ref_id"].startswith("WA")
    assert data["message"] == "Pesanan selesai"
    assert data["sn"] == event.data["paid_reff_num"]
    assert data["invoice_id"] == event.data["invoice_id"]  # the payment's, still there
    assert data["status"] == "completed"
    assert received_type("isikuota", event) == "order.completed"


def test_isikuota_order_cancelled_is_order_failed() -> None:
    event = sample_event("order.cancelled")
    _headers, body = rendered("isikuota", event)
    assert body["event"] == "order.failed"
    assert body["data"]["ref_id"] == event.data["order_number"]
    assert body["data"]["message"] == "Pesanan dibatalkan"
    assert body["data"]["sn"] == ""  # never paid
    assert received_type("isikuota", event) == "order.cancelled"
    # Cancelled after it was paid: still order.failed, with the payment's reference.
    paid_then_cancelled = with_data(event, payment_status="paid", paid_reff_num="TRX123", paid_amount=75347)
    _headers, body = rendered("isikuota", paid_then_cancelled)
    assert body["event"] == "order.failed"
    assert body["data"]["sn"] == "TRX123"
    assert received_type("isikuota", paid_then_cancelled) == "order.cancelled"


def test_isikuota_payments_keep_their_meaning_next_to_orders() -> None:
    assert received_type("isikuota", sample_event("payment.paid")) == "payment.paid"
    assert received_type("isikuota", sample_event("payment.expired")) == "payment.expired"
    assert received_type("isikuota", sample_event("payment.cancelled")) == "payment.cancelled"
    _headers, body = rendered("isikuota", sample_event("payment.paid"))
    assert body["data"]["ref_id"].startswith("PAY-")


# --- Digiflazz and Ilenpay: the order number as the reference, both statuses kept ---------------

DIGIFLAZZ_WORDS = {
    "order.created": ("Pending", "03", "Menunggu pembayaran"),
    "order.waiting_payment": ("Pending", "03", "Menunggu pembayaran"),
    "order.paid": ("Pending", "03", "Pembayaran diterima"),
    "order.processing": ("Pending", "03", "Pesanan diproses"),
    "order.completed": ("Sukses", "00", "Pesanan selesai"),
    "order.cancelled": ("Gagal", "01", "Pesanan dibatalkan"),
}


@pytest.mark.parametrize("event_type", ORDER_SAMPLE_TYPES)
def test_digiflazz_order_fields(event_type: str) -> None:
    event = sample_event(event_type)
    _headers, body = rendered("digiflazz", event)
    data = body["data"]
    word, rc, message = DIGIFLAZZ_WORDS[event_type]
    assert data["trx_id"] == event.id
    assert data["ref_id"] == event.data["order_number"]
    assert data["customer_no"] == event.data["customer_phone"]
    assert (data["status"], data["rc"], data["message"]) == (word, rc, message)
    assert data["price"] == event.data["final_amount"]
    assert data["sn"] == (event.data["paid_reff_num"] or "")
    assert data["payment_status"] == event.data["payment_status"]  # the payment's
    assert data["order_status"] == event.data["status"]  # the order's
    assert data["invoice_id"] == event.data["invoice_id"]
    assert received_type("digiflazz", event) == event_type


@pytest.mark.parametrize("event_type", ORDER_SAMPLE_TYPES)
def test_ilenpay_order_fields(event_type: str) -> None:
    event = sample_event(event_type)
    _headers, body = rendered("ilenpay", event)
    data = body["data"]
    assert data["hash"] == event.id
    assert data["reff_id"] == event.data["order_number"]
    assert data["status"] == event.data["status"].upper()
    assert data["total_tf"] == str(event.data["final_amount"])
    assert data["sender"] == event.data["customer_phone"]
    assert data["payment"] == event.data["payment_method"]
    assert data["payment_status"] == event.data["payment_status"]
    assert data["order_status"] == event.data["status"]
    assert received_type("ilenpay", event) == event_type


@pytest.mark.parametrize("event_type", ORDER_SAMPLE_TYPES)
def test_ilenpay_order_nominal_is_the_order_total(event_type: str) -> None:
    event = sample_event(event_type)
    _headers, body = rendered("ilenpay", event)
    assert body["data"]["nominal"] == str(event.data["total"])


@pytest.mark.parametrize("dialect", ["digiflazz", "ilenpay"])
def test_payment_events_get_no_order_status(dialect: str) -> None:
    for event_type in PAYMENT_SAMPLE_TYPES:
        event = sample_event(event_type)
        _headers, body = rendered(dialect, event)
        assert "order_status" not in body["data"]
        assert body["data"]["payment_status"] == event.data["status"]
        assert received_type(dialect, event) == event_type


@pytest.mark.parametrize("dialect", ["digiflazz", "ilenpay"])
def test_hookshot_an_order_created_without_a_payment_is_still_order_created(dialect: str) -> None:
    """An order made with create_payment=false is created ``pending``, with no payment at all."""
    event = with_data(
        sample_event("order.created"),
        status="pending",
        invoice_id=None,
        payment_url=None,
        payment_status=None,
        payment_method=None,
        final_amount=None,
        unique_code=None,
        payment_expires_at=None,
    )
    _headers, body = rendered(dialect, event)
    assert body["data"]["order_status"] == "pending"
    assert body["data"]["payment_status"] is None
    assert received_type(dialect, event) == "order.created"

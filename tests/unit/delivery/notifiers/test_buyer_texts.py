"""What the buyer reads on WhatsApp at each step of an order: Indonesian text, amounts written
with dots (``Rp 1.234.567``), WhatsApp's ``*bold*``; no message for events that have none."""

from __future__ import annotations

from typing import Any

import pytest

from kasir.delivery.notifiers.buyer_texts import TEMPLATES, render
from kasir.devtools.samples import ORDER_SAMPLE_TYPES, sample_order_payload

NUMBER = "WA260329-A1B2"
PAY_URL = "http://kasir.test/pay?invoice=PAY-toko_satu-1774800000-X4XUI7"


def order(**changes: Any) -> dict[str, Any]:
    """An order event's payload as kasir.store.views.event_payload writes it."""
    payload: dict[str, Any] = {
        "event": "order.created",
        "order_number": NUMBER,
        "customer_name": "Rahim",
        "status": "waiting_payment",
        "total": 1234500,
        "customer_phone": "6281234567890",
        "items": [
            {"name": "Kopi Susu Gula Aren 1 L", "quantity": 2, "price": 37500, "subtotal": 75000},
            {"name": "Mesin Espresso", "quantity": 1, "price": 1159500, "subtotal": 1159500},
        ],
        "notes": None,
        "invoice_id": "PAY-toko_satu-1774800000-X4XUI7",
        "payment_url": PAY_URL,
        "payment_status": "pending",
        "payment_method": "qris",
        "final_amount": 1234847,
        "unique_code": 347,
        "payment_expires_at": "2026-03-29 14:35:00",
        "paid_amount": None,
        "paid_reff_num": None,
        "created_at": "2026-03-29 14:20:00",
        "updated_at": "2026-03-29 14:20:00",
        "paid_at": None,
        "processing_at": None,
        "completed_at": None,
        "cancelled_at": None,
        "mode": "test",
        "store_name": "Toko Satu",
        "timestamp": 1774769400,
    }
    payload.update(changes)
    return payload


ITEMS = "- Kopi Susu Gula Aren 1 L x2 = Rp 75.000\n- Mesin Espresso x1 = Rp 1.159.500\n*Total: Rp 1.234.500*"
PAYMENT_REQUEST = (
    "Mohon bayar *tepat Rp 1.234.847* (termasuk kode unik 347, agar pembayaran Anda dikenali otomatis) "
    f"sebelum 29-03-2026 pukul 14:35 WIB melalui tautan berikut:\n{PAY_URL}"
)
PAID = {
    "status": "paid",
    "payment_status": "paid",
    "paid_amount": 1234847,
    "paid_reff_num": "TRX123456789",
    "paid_at": "2026-03-29 14:25:00",
}


def test_created_with_its_payment_asks_for_the_exact_amount_by_the_deadline() -> None:
    assert render("order.created", order()) == (
        f"Halo Rahim, pesanan *{NUMBER}* di Toko Satu sudah kami terima.\n\n{ITEMS}\n\n{PAYMENT_REQUEST}"
    )


def test_created_without_a_payment_promises_the_link() -> None:
    pending = order(
        status="pending",
        invoice_id=None,
        payment_url=None,
        payment_status=None,
        payment_method=None,
        final_amount=None,
        unique_code=None,
        payment_expires_at=None,
    )
    assert render("order.created", pending) == (
        f"Halo Rahim, pesanan *{NUMBER}* di Toko Satu sudah kami terima.\n\n{ITEMS}\n\n"
        "Kami akan segera mengirimkan tautan pembayaran."
    )


def test_waiting_payment_sends_the_new_link() -> None:
    text = render(
        "order.waiting_payment",
        order(
            event="order.waiting_payment",
            payment_expires_at="2026-03-30 09:05:00",
            unique_code=12,
            final_amount=1234512,
        ),
    )
    assert text == (
        f"Halo Rahim, berikut tautan pembayaran untuk pesanan *{NUMBER}*.\n\n{ITEMS}\n\n"
        "Mohon bayar *tepat Rp 1.234.512* (termasuk kode unik 12, agar pembayaran Anda dikenali otomatis) "
        f"sebelum 30-03-2026 pukul 09:05 WIB melalui tautan berikut:\n{PAY_URL}"
    )


def test_paid_names_the_amount_received() -> None:
    assert render("order.paid", order(event="order.paid", **PAID)) == (
        f"Halo Rahim, pembayaran pesanan *{NUMBER}* sebesar Rp 1.234.847 sudah kami terima. "
        "Terima kasih! Pesanan Anda segera kami siapkan."
    )


def test_paid_falls_back_to_the_final_amount_then_the_total() -> None:
    assert "sebesar Rp 1.234.847 " in str(render("order.paid", order(status="paid", paid_amount=None)))
    fallback = render("order.paid", order(status="paid", paid_amount=None, final_amount=None))
    assert "sebesar Rp 1.234.500 " in str(fallback)


def test_processing() -> None:
    assert render("order.processing", order(event="order.processing", **{**PAID, "status": "processing"})) == (
        f"Halo Rahim, pesanan *{NUMBER}* sedang kami proses. Kami kabari lagi setelah selesai."
    )


def test_completed_thanks_the_buyer_by_the_shop_name() -> None:
    assert render("order.completed", order(event="order.completed", **{**PAID, "status": "completed"})) == (
        f"Halo Rahim, pesanan *{NUMBER}* telah selesai. Terima kasih sudah berbelanja di Toko Satu!"
    )


def test_cancelled_before_payment_just_apologises() -> None:
    text = render("order.cancelled", order(event="order.cancelled", status="cancelled", payment_status="cancelled"))
    assert text == f"Halo Rahim, pesanan *{NUMBER}* dibatalkan. Mohon maaf atas ketidaknyamanannya."
    assert "pengembalian dana" not in str(text)


def test_cancelled_after_payment_says_how_the_money_comes_back() -> None:
    text = render("order.cancelled", order(event="order.cancelled", **{**PAID, "status": "cancelled"}))
    assert text == (
        f"Halo Rahim, pesanan *{NUMBER}* dibatalkan. Pembayaran Anda sudah kami terima; "
        "silakan balas pesan ini untuk pengembalian dana. Mohon maaf atas ketidaknyamanannya."
    )


@pytest.mark.parametrize(
    ("amount", "written"),
    [
        (0, "Rp 0"),
        (999, "Rp 999"),
        (1000, "Rp 1.000"),
        (75000, "Rp 75.000"),
        (1234567, "Rp 1.234.567"),
        (100000000, "Rp 100.000.000"),
    ],
)
def test_amounts_are_written_with_dots_for_thousands(amount: int, written: str) -> None:
    text = str(render("order.paid", order(status="paid", paid_amount=amount or None, final_amount=amount or None)))
    if amount:
        assert f"sebesar {written} sudah" in text
    single = order(items=[{"name": "Teh", "quantity": 1, "price": amount, "subtotal": amount}], total=amount)
    assert f"- Teh x1 = {written}\n*Total: {written}*" in str(render("order.created", single))


def test_a_buyer_without_a_name_and_a_shop_without_one() -> None:
    text = str(render("order.created", order(customer_name="  ", store_name="")))
    assert text.startswith(f"Halo, pesanan *{NUMBER}* di kami sudah kami terima.")
    assert str(render("order.completed", order(customer_name=None, store_name=None))).endswith(
        "Terima kasih sudah berbelanja di kami!"
    )


def test_no_deadline_is_written_when_the_payment_has_none() -> None:
    text = str(render("order.created", order(payment_expires_at=None)))
    assert "sebelum" not in text
    assert "(termasuk kode unik 347, agar pembayaran Anda dikenali otomatis) melalui tautan berikut:" in text


def test_no_unique_code_no_mention_of_one() -> None:
    text = str(render("order.created", order(unique_code=0, final_amount=1234500)))
    assert "Mohon bayar *tepat Rp 1.234.500* sebelum 29-03-2026 pukul 14:35 WIB" in text
    assert "kode unik" not in text


@pytest.mark.parametrize(
    "event_type",
    [
        "payment.paid",
        "payment.created",
        "order.updated",
        "order.pending",
        "ping",
        "endpoint.disabled",
        "",
        "ORDER.PAID",
    ],
)
def test_an_event_without_a_buyer_message_renders_none(event_type: str) -> None:
    assert render(event_type, order()) is None


def test_every_order_event_has_a_message() -> None:
    assert set(TEMPLATES) == set(ORDER_SAMPLE_TYPES)


@pytest.mark.parametrize("event_type", ORDER_SAMPLE_TYPES)
def test_the_sample_payloads_render(event_type: str) -> None:
    """``kasir trigger``'s sample orders (the devtools, the webhook test button) make a message."""
    from datetime import UTC, datetime

    payload = sample_order_payload(event_type, "toko_satu", "http://kasir.test", datetime.now(UTC))
    text = render(event_type, payload)
    assert text is not None
    assert payload["order_number"] in text
    assert text.startswith("Halo Rahim,")

"""What the pay page may show about a payment (read by ``kasir.payments.service.pay_page_payment``).

The page is public: whoever has the link sees it. So it shows what a buyer needs and nothing
else (no customer email or phone, no callback URL), and the goods that payment buys (hidden
content, the download link, the redirect) only once it is ``paid``: before that they are not in
the HTML, nor in the status JSON, at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from kasir.clock import to_wire
from kasir.config import Settings
from kasir.goods import catalog, downloads
from kasir.goods.catalog import image_url
from kasir.payments.methods import METHODS
from kasir.payments.service import PayPagePayment
from kasir.payments.views import PaymentStatus
from kasir.qris.demo import is_demo
from kasir.sources.confirmation import Poller, automatic_sources


def needs_connection(payment: Mapping[str, Any]) -> bool:
    """Only a paid payment's view reads more (its content, its download grant)."""
    return bool(payment["status"] == PaymentStatus.PAID)


def page_view(conn: Connection | None, payment: PayPagePayment, settings: Settings, now: datetime) -> dict[str, Any]:
    """``payment``: as ``pay_page_payment`` reads it. ``conn`` may be None unless
    ``needs_connection``."""
    method = METHODS[payment["payment_method"]]
    status = payment["status"]
    view: dict[str, Any] = {
        "invoice_id": payment["invoice_id"],
        "status": status,
        "mode": payment["mode"],
        "merchant_name": payment["merchant_name"],
        "description": payment["description"],
        "customer_name": payment["customer_name"],
        "amount": payment["amount"],
        "unique_code": payment["unique_code"],
        "final_amount": payment["final_amount"],
        "payment_method": method.id,
        "payment_method_name": method.name,
        "expires_at": to_wire(payment["expires_at"]),
        "expires_at_iso": payment["expires_at"].isoformat(),
        "seconds_left": max(0, int((payment["expires_at"] - now).total_seconds()))
        if status == PaymentStatus.PENDING
        else 0,
        "paid_at": to_wire(payment["paid_at"]),
        "qris_string": None,
        "demo_qris": False,
        "ovo_number": None,
        "product_image": None,
        "content": None,
        "download": None,
        "redirect_url": None,
        "has_file": payment["file_id"] is not None,
        "has_content": payment["content_id"] is not None,
    }
    if status == PaymentStatus.PENDING:
        # How to pay is shown only while it can still be paid.
        view["qris_string"] = payment["qris_string"]
        view["demo_qris"] = payment["qris_string"] is not None and is_demo(payment["qris_string"])
        view["ovo_number"] = payment["merchant_ovo_number"] if method.id == "ovo" else None
    if payment["image_public_id"] is not None:
        image = {"public_id": payment["image_public_id"]}
        view["product_image"] = {
            # Same-origin paths: the page is whatever host the buyer reached it on.
            "url": image_url("", image),
            "thumbnail_url": image_url("", image, thumbnail=True),
            "width": payment["image_width"],
            "height": payment["image_height"],
        }
    if status == PaymentStatus.PAID:
        assert conn is not None, "a paid payment's view reads its goods"
        view["redirect_url"] = payment["redirect_url"]
        if payment["content_id"] is not None:
            view["content"] = catalog.paid_content(conn, payment["content_id"])
        link = downloads.link_for(
            conn,
            payment,
            ttl=settings.download_ttl,
            limit=settings.download_limit,
            public_url="",
            now=now,
        )
        if link is not None:
            view["download"] = {**link, "expires_at": to_wire(link["expires_at"])}
    return view


def confirms_automatically(
    conn: Connection, payment: Mapping[str, Any], settings: Settings, pollers: Sequence[Poller]
) -> bool:
    """Whether the pay page may promise that this payment confirms by itself: a source reports
    credits on its channel for its merchant in its mode (kasir.sources.confirmation).

    For the HTML page only, never the status poll: it costs more queries (the merchant's
    forwarder and sources)."""
    sources = automatic_sources(conn, payment["merchant_id"], payment["mode"], settings, pollers)
    return bool(sources[payment["payment_method"]])

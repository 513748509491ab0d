"""What the pay page may show about a payment, read in one place.

The page is public: whoever has the link sees it. So it shows what a buyer needs and nothing
else (no customer email or phone, no callback URL), and the goods that payment buys (hidden
content, the download link, the redirect) only once it is ``paid``: before that they are not in
the HTML, nor in the status JSON, at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from kasir.clock import to_wire
from kasir.config import Settings
from kasir.db import fastpath
from kasir.db.tables import hidden_contents, payments
from kasir.goods import downloads
from kasir.goods.catalog import image_url
from kasir.payments import service
from kasir.payments.confirmation import Poller, automatic_sources
from kasir.payments.methods import METHODS
from kasir.qris.demo import is_demo


def plausible_invoice(invoice_id: str) -> bool:
    """Worth a query: invoice ids are short, and PostgreSQL refuses a NUL in a comparison."""
    return bool(invoice_id) and "\x00" not in invoice_id and len(invoice_id) <= 80


def find_payment(conn: Connection, invoice_id: str) -> dict[str, Any] | None:
    """The payment's row plus its shop's ``merchant_name`` and ``merchant_ovo_number`` and its
    photo's ``image_public_id``, ``image_width``, ``image_height``."""
    if not plausible_invoice(invoice_id):
        return None
    rows = fastpath.fetch_all(conn, fastpath.PAYMENT_FOR_PAGE, {"invoice_id": invoice_id})
    return rows[0] if rows else None


def fresh_payment(conn: Connection, invoice_id: str, settings: Settings, now: datetime) -> dict[str, Any] | None:
    """The payment as it is now: one past its expiry is expired first (with its event)."""
    row = find_payment(conn, invoice_id)
    if row is not None and service.is_stale(row, now):
        service.expire_due(conn, now, settings.public_url, payment_id=row["id"])
        row = find_payment(conn, invoice_id)
    return row


def needs_connection(payment: Mapping[str, Any]) -> bool:
    """Only a paid payment's view reads more (its content, its download grant)."""
    return bool(payment["status"] == "paid")


def page_view(conn: Connection | None, payment: Mapping[str, Any], settings: Settings, now: datetime) -> dict[str, Any]:
    """``payment``: as ``find_payment`` reads it. ``conn`` may be None unless ``needs_connection``."""
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
        "seconds_left": max(0, int((payment["expires_at"] - now).total_seconds())) if status == "pending" else 0,
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
    if status == "pending":
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
    if status == "paid":
        assert conn is not None, "a paid payment's view reads its goods"
        view["redirect_url"] = payment["redirect_url"]
        if payment["content_id"] is not None:
            content = conn.execute(
                select(hidden_contents.c.title, hidden_contents.c.type, hidden_contents.c.body).where(
                    hidden_contents.c.id == payment["content_id"]
                )
            ).first()
            if content is not None:
                view["content"] = {"title": content.title, "type": content.type, "body": content.body}
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
    conn: Connection, view: Mapping[str, Any], settings: Settings, pollers: Sequence[Poller]
) -> bool:
    """Whether the pay page may promise that this payment confirms by itself: a source reports
    credits on its channel for its merchant in its mode (kasir.payments.confirmation).

    For the HTML page only, never the status poll: it costs two more queries (the payment's
    merchant, which the view does not show, and the merchant's forwarder)."""
    merchant_id = conn.execute(
        select(payments.c.merchant_id).where(payments.c.invoice_id == view["invoice_id"])
    ).scalar_one_or_none()
    if merchant_id is None:
        return False
    return bool(automatic_sources(conn, merchant_id, view["mode"], settings, pollers)[view["payment_method"]])

"""Payments: create, cancel, expire. No HTTP here, and no commit: callers pass the Connection of
their transaction, and every state change writes its event on that same Connection."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, exists, select, update

from kasir.config import Settings
from kasir.db import fastpath
from kasir.db.tables import payments
from kasir.delivery.outbox import record_event
from kasir.errors import Conflict, Forbidden, InvalidRequest, NotFound
from kasir.goods import catalog
from kasir.merchants.service import Principal, get_merchant
from kasir.money import rupiah
from kasir.payments import codes
from kasir.payments.methods import METHODS, Method, static_qris, unavailable_reason
from kasir.payments.views import event_payload
from kasir.qris.convert import to_dynamic
from kasir.qris.emv import QrisError

_INVOICE_ALPHABET = string.ascii_uppercase + string.digits
# How often we re-pick a code that a concurrent transaction took first. With 999 codes the odds
# of losing this many times in a row while codes remain are negligible.
_MAX_CODE_ATTEMPTS = 32


@dataclass(frozen=True, slots=True)
class NewPayment:
    """A create-payment request after its fields were parsed and typed."""

    amount: int
    payment_method: str = "qris"
    description: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    customer_phone: str | None = None
    callback_url: str | None = None
    redirect_url: str | None = None
    file_id: int | None = None
    content_id: int | None = None
    product_image_id: int | None = None
    use_qris_converter: bool = False
    # The payment link it is made through (its public id; kasir.links), None for any other.
    link_id: str | None = None


def new_invoice_id(username: str, now: datetime) -> str:
    suffix = "".join(secrets.choice(_INVOICE_ALPHABET) for _ in range(6))
    return f"PAY-{username}-{int(now.timestamp())}-{suffix}"


_PAYMENT_DEFAULTS = {column.name: None for column in payments.c}


def _insert_ignoring_conflicts(conn: Connection, values: dict[str, Any]) -> dict[str, Any] | None:
    """The new payment row, or None when a unique index refused it (we pick again)."""
    row = {**_PAYMENT_DEFAULTS, **values}
    inserted = fastpath.run(conn, fastpath.INSERT_PAYMENT, {k: v for k, v in row.items() if k != "id"})
    if not inserted:
        return None
    row["id"] = inserted[0][0]
    return row


def available_method(conn: Connection, principal: Principal, method: Method, settings: Settings) -> Mapping[str, Any]:
    """The merchant's settings when ``method`` takes payments for them in this mode (nothing for
    the operator's QRIS, which needs no look at them); else the refusal create-payment answers.
    A payment link checks its method here too, so a link never promises what no buyer could pay."""
    merchant = get_merchant(conn, principal.merchant_id) if method.own_channel else {}
    reason = unavailable_reason(method, merchant, settings, principal.mode)
    if reason is not None:
        code = "subscription_inactive" if "subscription" in reason else "payment_method_unavailable"
        error = Forbidden if code == "subscription_inactive" else InvalidRequest
        raise error(f"payment method {method.id} is not available: {reason}", code=code, field="payment_method")
    return merchant


def create_payment(
    conn: Connection, principal: Principal, request: NewPayment, settings: Settings, now: datetime
) -> dict[str, Any]:
    method = METHODS.get(request.payment_method)
    if method is None:
        raise InvalidRequest(
            f"payment_method must be one of {', '.join(METHODS)}",
            field="payment_method",
            code="invalid_payment_method",
        )
    merchant = available_method(conn, principal, method, settings)
    static = static_qris(method, merchant, settings)
    if request.use_qris_converter and static is None:
        raise InvalidRequest(
            f"use_qris_converter needs a QR method; {method.id} is paid by transfer, not by scanning a QRIS",
            field="use_qris_converter",
            code="qris_converter_unavailable",
        )
    maximum = method.max_amount(settings)
    if not settings.min_amount <= request.amount <= maximum:
        raise InvalidRequest(
            f"amount for {method.id} must be between Rp {rupiah(settings.min_amount)} and Rp {rupiah(maximum)}",
            field="amount",
            code="amount_out_of_range",
        )
    catalog.check_attachments(
        conn,
        principal,
        {"file_id": request.file_id, "content_id": request.content_id, "product_image_id": request.product_image_id},
    )

    channel_account = method.channel_account(principal.merchant_id)
    values: dict[str, Any] = {
        "merchant_id": principal.merchant_id,
        "mode": principal.mode,
        "payment_method": method.id,
        "channel_account": channel_account,
        "amount": request.amount,
        "status": "pending",
        "description": request.description,
        "customer_name": request.customer_name,
        "customer_email": request.customer_email,
        "customer_phone": request.customer_phone,
        "callback_url": request.callback_url,
        "redirect_url": request.redirect_url,
        "file_id": request.file_id,
        "content_id": request.content_id,
        "product_image_id": request.product_image_id,
        "use_qris_converter": request.use_qris_converter,
        "link_id": request.link_id,
        "created_at": now,
        "expires_at": now + timedelta(seconds=settings.payment_ttl),
    }
    expired_overdue = False
    for _ in range(_MAX_CODE_ATTEMPTS):
        taken = codes.taken_final_amounts(
            conn, mode=principal.mode, channel_account=channel_account, amount=request.amount
        )
        unique_code = codes.pick_free(request.amount, taken)
        if unique_code is None:
            if expired_overdue:
                break
            # Every code looks taken, but payments past their expiry still hold theirs until
            # someone expires them: do it now, so they free their codes for this very request.
            expire_due(
                conn,
                now,
                settings.public_url,
                mode=principal.mode,
                channel_account=channel_account,
                final_amount_range=(request.amount + codes.CODE_MIN, request.amount + codes.CODE_MAX),
            )
            expired_overdue = True
            continue
        final_amount = request.amount + unique_code
        row = _insert_ignoring_conflicts(
            conn,
            {
                **values,
                "invoice_id": new_invoice_id(principal.username, now),
                "unique_code": unique_code,
                "final_amount": final_amount,
                "qris_string": None if static is None else _dynamic_qris(static, final_amount, method.id),
            },
        )
        if row is not None:
            emit(conn, "payment.created", row, settings.public_url, now)
            return row
    raise Conflict(
        f"no unique code is free for amount {request.amount} on {method.id}: "
        "999 pending payments already hold every final amount; try another amount or wait",
        code="unique_code_exhausted",
    )


def _dynamic_qris(static: str, final_amount: int, method_id: str) -> str:
    try:
        return to_dynamic(static, final_amount)
    except QrisError as exc:  # a channel saved before its QRIS was validated this strictly
        raise InvalidRequest(
            f"payment method {method_id} is not available: its QRIS is invalid ({exc.message}); "
            "set it again with `kasir merchant set`",
            field="payment_method",
            code="payment_method_unavailable",
        ) from None


def emit(conn: Connection, event: str, row: Mapping[Any, Any], public_url: str, now: datetime) -> None:
    record_event(
        conn,
        merchant_id=row["merchant_id"],
        mode=row["mode"],
        type=event,
        payload=event_payload(event, row, public_url, int(now.timestamp())),
        created_at=now,
        payment_id=row["id"],
        callback_url=row["callback_url"],
    )


def get_payment(conn: Connection, principal: Principal, invoice_id: str) -> RowMapping:
    """A payment of this merchant in this mode; any other invoice, foreign or absent, is 404."""
    if "\x00" in invoice_id:  # no invoice has one, and PostgreSQL would refuse to compare it
        raise NotFound(f"payment {invoice_id!r} not found", code="payment_not_found")
    row = (
        conn.execute(
            select(payments).where(
                payments.c.invoice_id == invoice_id,
                payments.c.merchant_id == principal.merchant_id,
                payments.c.mode == principal.mode,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"payment {invoice_id} not found", code="payment_not_found")
    return row


def is_stale(row: Mapping[Any, Any], now: datetime) -> bool:
    """Pending on disk but past its expiry: must be expired before anyone sees it."""
    return bool(row["status"] == "pending" and row["expires_at"] <= now)


def cancel_payment(
    conn: Connection, principal: Principal, invoice_id: str, public_url: str, now: datetime
) -> RowMapping:
    current = get_payment(conn, principal, invoice_id)
    if is_stale(current, now):
        expire_due(conn, now, public_url, payment_id=current["id"])
        current = get_payment(conn, principal, invoice_id)
    row = (
        conn.execute(
            update(payments)
            .where(payments.c.id == current["id"], payments.c.status == "pending")
            .values(status="cancelled", closed_at=now)
            .returning(*payments.c)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise Conflict(
            f"payment {invoice_id} is {current['status']}; only a pending payment can be cancelled",
            code="payment_not_pending",
        )
    emit(conn, "payment.cancelled", row, public_url, now)
    return row


def expire_due(
    conn: Connection,
    now: datetime,
    public_url: str,
    *,
    payment_id: int | None = None,
    merchant_id: int | None = None,
    mode: str | None = None,
    channel_account: str | None = None,
    final_amount_range: tuple[int, int] | None = None,
    limit: int | None = None,
) -> int:
    """Move pending payments past ``expires_at`` to ``expired``, one ``payment.expired`` event each.

    The ``status = 'pending'`` guard in the UPDATE makes this safe to run from several nodes at
    once: a row changes state, and gets its event, in exactly one transaction.
    """
    due: ColumnElement[bool] = (payments.c.status == "pending") & (payments.c.expires_at <= now)
    if payment_id is not None:
        due &= payments.c.id == payment_id
    if merchant_id is not None:
        due &= payments.c.merchant_id == merchant_id
    if mode is not None:
        due &= payments.c.mode == mode
    if channel_account is not None:
        due &= payments.c.channel_account == channel_account
    if final_amount_range is not None:
        due &= payments.c.final_amount.between(*final_amount_range)
    if limit is not None:
        # SKIP LOCKED (PostgreSQL; SQLite has one writer anyway): rows another node, or a
        # matcher paying them right now, holds are left to it instead of waited for.
        due = payments.c.id.in_(
            select(payments.c.id)
            .where(due)
            .order_by(payments.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        due &= payments.c.status == "pending"
    rows = (
        conn.execute(update(payments).where(due).values(status="expired", closed_at=now).returning(*payments.c))
        .mappings()
        .all()
    )
    for row in rows:
        emit(conn, "payment.expired", row, public_url, now)
    return len(rows)


def has_due(conn: Connection, now: datetime, *, merchant_id: int, mode: str) -> bool:
    return bool(
        conn.execute(
            select(
                exists().where(
                    payments.c.status == "pending",
                    payments.c.expires_at <= now,
                    payments.c.merchant_id == merchant_id,
                    payments.c.mode == mode,
                )
            )
        ).scalar()
    )

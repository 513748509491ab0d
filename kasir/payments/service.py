"""Payments: create, read, cancel, expire. No HTTP here, and no commit: callers pass the
Connection of their transaction, and every state change writes its event on that same Connection.
The reads that answer a request by themselves (check-payment, the pay page's poll) take the
Database: one statement outside any transaction, and a write only when the payment must be
expired first.

The statements on ``payments`` are written once here, against kasir.db.tables, and run on the
driver (kasir.db.statements; docs/architecture.md, "Data path"); rows are ``PaymentRow`` dicts.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, bindparam, exists, select, update

from kasir.config import Settings
from kasir.db import statements
from kasir.db.engine import Database
from kasir.db.statements import Conn, Statement, const, insert_for, insertable_columns, unset_columns
from kasir.db.tables import payments
from kasir.delivery.outbox import record_event
from kasir.errors import Conflict, Forbidden, InvalidRequest, NotFound
from kasir.goods import catalog
from kasir.merchants import service as merchants
from kasir.merchants.service import Principal, get_merchant
from kasir.money import rupiah
from kasir.payments import codes
from kasir.payments.methods import METHODS, Method, static_qris, unavailable_reason
from kasir.payments.views import PaymentRow, PaymentStatus, event_payload
from kasir.qris.convert import to_dynamic
from kasir.qris.emv import QrisError

_INVOICE_ALPHABET = string.ascii_uppercase + string.digits
# How often we re-pick a code that a concurrent transaction took first. With 999 codes the odds
# of losing this many times in a row while codes remain are negligible.
_MAX_CODE_ATTEMPTS = 32
# Tries of create-payment that pick a unique code without reading the taken ones first.
_BLIND_TRIES = 2


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


class PayPagePayment(PaymentRow):
    """A payment as the pay page reads it: its row, its shop's name and OVO number
    (``kasir.merchants.service.with_shop``) and its photo (``kasir.goods.catalog.with_image``)."""

    merchant_name: str
    merchant_ovo_number: str | None
    image_public_id: str | None
    image_width: int | None
    image_height: int | None


_OWN = (payments.c.merchant_id == bindparam("merchant_id")) & (payments.c.mode == bindparam("mode"))

# A payment of this merchant in this mode: check-payment (on the event loop, Database.fetch_one),
# and every read of one inside a transaction.
BY_INVOICE: Statement[PaymentRow] = Statement(
    select(payments).where(payments.c.invoice_id == bindparam("invoice_id"), _OWN), name="payment_by_invoice"
)
BY_ID: Statement[PaymentRow] = Statement(select(payments).where(payments.c.id == bindparam("id")), name="payment_by_id")

# The pay page's payment, found by its invoice alone (the page is public), with what the page
# shows of its shop and its photo: every open pay page polls it.
FOR_PAY_PAGE: Statement[PayPagePayment] = Statement(
    catalog.with_image(
        merchants.with_shop(select(payments), payments.c.merchant_id), payments.c.product_image_id
    ).where(payments.c.invoice_id == bindparam("invoice_id")),
    name="payment_for_pay_page",
)

# A conflict on any unique index (a final amount taken meanwhile, a colliding invoice id)
# inserts nothing and returns no row.
INSERT: Statement[dict[str, int]] = Statement(
    lambda dialect: insert_for(dialect, payments).on_conflict_do_nothing().returning(payments.c.id),
    column_keys=insertable_columns(payments),
    name="insert_payment",
)

# Cancel a pending payment that has not expired; the row as it is then.
CANCEL: Statement[PaymentRow] = Statement(
    update(payments)
    .where(
        payments.c.invoice_id == bindparam("invoice_id"),
        _OWN,
        payments.c.status == const(PaymentStatus.PENDING),
        payments.c.expires_at > bindparam("now"),
    )
    .values(status=const(PaymentStatus.CANCELLED))
    .returning(*payments.c),
    column_keys=["closed_at"],
    name="cancel_payment",
)

# Expire one pending payment past its expiry; the row as it is then (none when it was not due).
EXPIRE_ONE: Statement[PaymentRow] = Statement(
    update(payments)
    .where(
        payments.c.id == bindparam("id"),
        payments.c.status == const(PaymentStatus.PENDING),
        payments.c.expires_at <= bindparam("now"),
    )
    .values(status=const(PaymentStatus.EXPIRED))
    .returning(*payments.c),
    column_keys=["closed_at"],
    name="expire_payment",
)

_PAYMENT_DEFAULTS = {"id": None, **unset_columns(payments)}


def _insert_ignoring_conflicts(conn: Conn, values: dict[str, Any]) -> PaymentRow | None:
    """The new payment row, or None when a unique index refused it (we pick again)."""
    row = {**_PAYMENT_DEFAULTS, **values}
    inserted = statements.scalars(conn, INSERT, row)
    if not inserted:
        return None
    row["id"] = inserted[0]
    return cast(PaymentRow, row)


def available_method(conn: Conn, principal: Principal, method: Method, settings: Settings) -> Mapping[str, Any]:
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
    conn: Conn, principal: Principal, request: NewPayment, settings: Settings, now: datetime
) -> PaymentRow:
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
        "status": PaymentStatus.PENDING.value,
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
    refused: set[int] = set()  # final amounts the index refused to this request
    for attempt in range(_MAX_CODE_ATTEMPTS):
        # The first tries pick a code blind: the partial unique index refuses one that is taken
        # (no row comes back), and in the usual nearly empty range that spares the read of the
        # taken ones, a round trip on PostgreSQL. Past them, read what is taken and pick among
        # what is free.
        # (What the read finds is what holds: a code refused on a blind try may be an overdue
        # payment's, which expire_due below frees.)
        if attempt < _BLIND_TRIES:
            taken = refused
        else:
            taken = codes.taken_final_amounts(
                conn, mode=principal.mode, channel_account=channel_account, amount=request.amount
            )
        unique_code = codes.pick_free(request.amount, taken)
        if unique_code is None:
            if expired_overdue:
                break
            # Every code looks taken, but payments past their expiry still hold theirs until
            # someone expires them: do it now, so they free their codes for this very request.
            # The last resort, when every code of the amount is taken: on the event loop
            # (kasir.db.loop) it sends the whole unit to a thread, where SQLAlchemy runs it.
            expire_due(
                statements.on_sqlalchemy(conn),
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
        refused.add(final_amount)
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


def emit(conn: Conn, event: str, row: Mapping[Any, Any], public_url: str, now: datetime) -> None:
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


def plausible_invoice(invoice_id: str) -> bool:
    """Worth a query: invoice ids are short, and PostgreSQL refuses a NUL in a comparison."""
    return bool(invoice_id) and "\x00" not in invoice_id and len(invoice_id) <= 80


def _not_found(invoice_id: str) -> NotFound:
    return NotFound(f"payment {invoice_id!r} not found", code="payment_not_found")


def _own(principal: Principal, invoice_id: str) -> dict[str, Any]:
    if "\x00" in invoice_id:  # no invoice has one, and PostgreSQL would refuse to compare it
        raise _not_found(invoice_id)
    return {"invoice_id": invoice_id, "merchant_id": principal.merchant_id, "mode": principal.mode}


def get_payment(conn: Conn, principal: Principal, invoice_id: str) -> PaymentRow:
    """A payment of this merchant in this mode; any other invoice, foreign or absent, is 404."""
    row = statements.first(conn, BY_INVOICE, _own(principal, invoice_id))
    if row is None:
        raise NotFound(f"payment {invoice_id} not found", code="payment_not_found")
    return row


async def current_payment(
    db: Database, principal: Principal, invoice_id: str, public_url: str, now: datetime
) -> PaymentRow:
    """``get_payment`` as it is ``now``, read once, outside any transaction: a pending payment
    past its expiry is expired first (its event committed), so no read ever shows a stale
    ``pending``. check-payment, the API's other reads and the dashboard's payment page."""
    row = await db.fetch_one(BY_INVOICE, _own(principal, invoice_id))
    if row is None:
        raise NotFound(f"payment {invoice_id} not found", code="payment_not_found")
    if not is_stale(row, now):
        return row
    stale = row
    return await db.unit(lambda conn: expire_payment(conn, stale, public_url, now))


async def pay_page_payment(db: Database, invoice_id: str, public_url: str, now: datetime) -> PayPagePayment | None:
    """The pay page's payment as it is ``now``, read once: by its invoice alone (the page is
    public), expired first when it is overdue."""
    if not plausible_invoice(invoice_id):
        return None
    row = await db.fetch_one(FOR_PAY_PAGE, {"invoice_id": invoice_id})
    if row is None or not is_stale(row, now):
        return row
    stale = row
    expired = await db.unit(lambda conn: expire_payment(conn, stale, public_url, now))
    return cast(PayPagePayment, {**stale, **expired})


def is_stale(row: Mapping[Any, Any], now: datetime) -> bool:
    """Pending on disk but past its expiry: must be expired before anyone sees it."""
    return bool(row["status"] == PaymentStatus.PENDING and row["expires_at"] <= now)


def not_pending(invoice_id: str, current: Mapping[str, Any]) -> Conflict:
    return Conflict(
        f"payment {invoice_id} is {current['status']}; only a pending payment can be cancelled",
        code="payment_not_pending",
    )


def cancel_or_expire(
    conn: Connection, principal: Principal, invoice_id: str, public_url: str, now: datetime
) -> tuple[PaymentRow, bool]:
    """Cancel a pending payment: (the row as it is now, whether it was cancelled). One past its
    expiry is expired instead, with its event: the caller commits that, then answers that the
    payment could not be cancelled (``not_pending``). One statement when it can be cancelled."""
    row = statements.first(conn, CANCEL, {**_own(principal, invoice_id), "now": now, "closed_at": now})
    if row is not None:
        emit(conn, "payment.cancelled", row, public_url, now)
        return row, True
    current = get_payment(conn, principal, invoice_id)
    if is_stale(current, now):
        current = expire_payment(conn, current, public_url, now)
    return current, False


def cancel_payment(
    conn: Connection, principal: Principal, invoice_id: str, public_url: str, now: datetime
) -> PaymentRow:
    """``cancel_or_expire``, raising the 409 inside the transaction (an expiry it wrote rolls
    back with it: callers that want it kept expire the payment first, ``current_payment``)."""
    row, cancelled = cancel_or_expire(conn, principal, invoice_id, public_url, now)
    if not cancelled:
        raise not_pending(invoice_id, row)
    return row


def expire_payment(conn: Conn, payment: Mapping[str, Any], public_url: str, now: datetime) -> PaymentRow:
    """Expire ``payment`` if it is still pending past its expiry (with its event); its row as it
    is then (read again only when another transaction changed it first)."""
    expired = statements.first(conn, EXPIRE_ONE, {"id": payment["id"], "now": now, "closed_at": now})
    if expired is not None:
        emit(conn, "payment.expired", expired, public_url, now)
        return expired
    row = statements.first(conn, BY_ID, {"id": payment["id"]})
    if row is None:  # its merchant was deleted meanwhile
        raise NotFound(f"payment {payment['invoice_id']} not found", code="payment_not_found")
    return row


def _expire(conn: Connection, due: ColumnElement[bool], now: datetime, public_url: str) -> list[PaymentRow]:
    found = conn.execute(
        update(payments).where(due).values(status=PaymentStatus.EXPIRED, closed_at=now).returning(*payments.c)
    )
    rows = [cast(PaymentRow, dict(row)) for row in found.mappings()]
    for row in rows:
        emit(conn, "payment.expired", row, public_url, now)
    return rows


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
    due: ColumnElement[bool] = (payments.c.status == PaymentStatus.PENDING) & (payments.c.expires_at <= now)
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
        due &= payments.c.status == PaymentStatus.PENDING
    return len(_expire(conn, due, now, public_url))


def has_due(conn: Connection, now: datetime, *, merchant_id: int, mode: str) -> bool:
    return bool(
        conn.execute(
            select(
                exists().where(
                    payments.c.status == PaymentStatus.PENDING,
                    payments.c.expires_at <= now,
                    payments.c.merchant_id == merchant_id,
                    payments.c.mode == mode,
                )
            )
        ).scalar()
    )

"""Payments as the things they pay for see them: a payment link counts its uses and lists its
payments, a WA Store order shows and cancels its payment. Those packages sit above payments and
never touch the payments table themselves (docs/architecture.md, "Aggregates and their owners"):
they call these functions, or compose their own reads with the joins below."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Connection, FromClause, Join, Select, and_, case, func, select, update

from kasir.db.tables import payments
from kasir.merchants.service import Principal
from kasir.payments.service import emit
from kasir.payments.views import PaymentRow, PaymentStatus

S = TypeVar("S", bound=Select[Any])


# --- payment links (kasir.links) -----------------------------------------------------------


def link_usage(conn: Connection, link_ids: Iterable[str], now: datetime) -> dict[str, tuple[int, int, int]]:
    """For each link public id that has any: (paid payments, money they received, pending
    payments not past their expiry), in one query (ix_payments_link)."""
    wanted = list(link_ids)
    if not wanted:
        return {}
    paid = payments.c.status == PaymentStatus.PAID
    pending = and_(payments.c.status == PaymentStatus.PENDING, payments.c.expires_at > now)
    rows = conn.execute(
        select(
            payments.c.link_id,
            func.count().filter(paid),
            func.coalesce(func.sum(case((paid, payments.c.paid_amount), else_=0)), 0),
            func.count().filter(pending),
        )
        .where(payments.c.link_id.in_(wanted), payments.c.status.in_((PaymentStatus.PAID, PaymentStatus.PENDING)))
        .group_by(payments.c.link_id)
    ).all()
    return {str(row[0]): (int(row[1]), int(row[2]), int(row[3])) for row in rows}


def of_link(conn: Connection, principal: Principal, link_id: str, *, limit: int, offset: int) -> list[PaymentRow]:
    """The payments made through the link ``link_id``, newest first."""
    rows = conn.execute(
        select(payments)
        .where(
            payments.c.link_id == link_id,
            payments.c.merchant_id == principal.merchant_id,
            payments.c.mode == principal.mode,
        )
        .order_by(payments.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).mappings()
    return [cast(PaymentRow, dict(row)) for row in rows]


def count_of_link(conn: Connection, link_id: str) -> int:
    return int(conn.execute(select(func.count()).where(payments.c.link_id == link_id)).scalar_one())


# --- WA Store orders (kasir.store) ---------------------------------------------------------


def joined_to_payment(orders: FromClause, payment_id: ColumnElement[Any]) -> Join:
    """``orders`` outer-joined to the payment ``payment_id`` names (none for an order without one)."""
    return orders.outerjoin(payments, payments.c.id == payment_id)


def with_order_payment(query: S) -> S:
    """``query`` (selecting from ``joined_to_payment``) with what an order's view shows of its
    current payment, under the names the view reads."""
    return query.add_columns(  # type: ignore[return-value]
        payments.c.invoice_id,
        payments.c.status.label("payment_status"),
        payments.c.payment_method,
        payments.c.final_amount,
        payments.c.unique_code,
        payments.c.expires_at.label("payment_expires_at"),
        payments.c.paid_amount,
        payments.c.paid_reff_num,
    )


def invoice_contains(term: str) -> ColumnElement[bool]:
    """The order list's search on its payment's invoice id (with ``joined_to_payment``)."""
    return payments.c.invoice_id.icontains(term, autoescape=True)


def lock(conn: Connection, payment_id: int) -> PaymentRow:
    """The payment ``payment_id``, its row locked until the transaction ends (PostgreSQL; SQLite's
    transaction holds the write lock already)."""
    row = conn.execute(select(payments).where(payments.c.id == payment_id).with_for_update()).mappings().one()
    return cast(PaymentRow, dict(row))


def cancel_pending(conn: Connection, payment_id: int, public_url: str, now: datetime) -> PaymentRow | None:
    """Cancel the payment ``payment_id`` if it is still pending, with its ``payment.cancelled``;
    the cancelled row, or None when it was not pending."""
    cancelled = (
        conn.execute(
            update(payments)
            .where(payments.c.id == payment_id, payments.c.status == PaymentStatus.PENDING)
            .values(status=PaymentStatus.CANCELLED, closed_at=now)
            .returning(*payments.c)
        )
        .mappings()
        .first()
    )
    if cancelled is None:
        return None
    emit(conn, "payment.cancelled", cancelled, public_url, now)
    return cast(PaymentRow, dict(cancelled))

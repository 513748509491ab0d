"""list-payments: seed 004's filters, search and pagination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, func, or_, select

from kasir.clock import wib_day_start
from kasir.db.engine import case_folded
from kasir.db.tables import payments
from kasir.merchants.service import Principal
from kasir.payments.views import list_item_view

STATUSES = ("pending", "paid", "expired", "cancelled")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class PaymentFilter:
    search: str | None = None
    status: str | None = None
    payment_method: str | None = None
    paid_via: str | None = None
    start_date: date | None = None  # WIB calendar days, both ends included
    end_date: date | None = None
    page: int = 1
    limit: int = DEFAULT_LIMIT


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(conn: Connection, principal: Principal, flt: PaymentFilter) -> list[Any]:
    """The rows ``flt`` selects, scoped to the principal's merchant and mode (the page and limit
    aside): list-payments and the dashboard's CSV export select by this one rule."""
    where: list[Any] = [payments.c.merchant_id == principal.merchant_id, payments.c.mode == principal.mode]
    if flt.status:
        where.append(payments.c.status == flt.status)
    if flt.payment_method:
        where.append(payments.c.payment_method == flt.payment_method)
    if flt.paid_via:
        where += [payments.c.status == "paid", payments.c.payment_method == flt.paid_via]
    if flt.start_date:
        where.append(payments.c.created_at >= wib_day_start(flt.start_date))
    if flt.end_date:
        where.append(payments.c.created_at < wib_day_start(flt.end_date + timedelta(days=1)))
    if flt.search:
        pattern = f"%{_like_escape(flt.search.lower())}%"
        where.append(
            or_(
                *(
                    case_folded(column, conn.dialect.name).like(pattern, escape="\\")
                    for column in (
                        payments.c.invoice_id,
                        payments.c.description,
                        payments.c.customer_name,
                        payments.c.customer_email,
                        payments.c.customer_phone,
                    )
                )
            )
        )
    return where


def list_payments(conn: Connection, principal: Principal, flt: PaymentFilter) -> dict[str, Any]:
    where = _conditions(conn, principal, flt)
    total = int(conn.execute(select(func.count()).select_from(payments).where(*where)).scalar_one())
    rows = conn.execute(
        select(payments)
        .where(*where)
        .order_by(payments.c.created_at.desc(), payments.c.id.desc())
        .limit(flt.limit)
        .offset((flt.page - 1) * flt.limit)
    ).mappings()
    return {
        "data": [list_item_view(row) for row in rows],
        "pagination": {
            "page": flt.page,
            "limit": flt.limit,
            "total": total,
            "total_pages": (total + flt.limit - 1) // flt.limit,
        },
    }


def all_matching(conn: Connection, principal: Principal, flt: PaymentFilter) -> list[RowMapping]:
    """Every payment ``flt`` selects (its page and limit ignored), in list-payments' order."""
    return list(
        conn.execute(
            select(payments)
            .where(*_conditions(conn, principal, flt))
            .order_by(payments.c.created_at.desc(), payments.c.id.desc())
        ).mappings()
    )


def count_pending(conn: Connection, principal: Principal, now: datetime, cap: int = 1000) -> int:
    """How many of the principal's payments wait to be paid now (pending, not yet expired),
    counted up to ``cap``: past it the number only says "many"."""
    return len(
        conn.execute(
            select(payments.c.id)
            .where(
                payments.c.merchant_id == principal.merchant_id,
                payments.c.mode == principal.mode,
                payments.c.status == "pending",
                payments.c.expires_at > now,
            )
            .limit(cap)
        ).all()
    )

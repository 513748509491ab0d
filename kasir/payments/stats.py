"""get-statistics: counts and sums over WIB calendar periods, broken down by method.

``total_transactions`` counts payments created in the period; the paid figures count payments
paid in it (a payment created on the 31st and paid on the 1st is next month's revenue).
``total_amount`` is the nominal sold (``amount``); ``total_received`` adds the unique codes,
i.e. what actually arrived.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from kasir.clock import today_wib, wib_day_start
from kasir.db.tables import payments
from kasir.merchants.service import Principal
from kasir.payments.methods import METHODS

PERIODS = ("all", "today", "week", "month", "year")


def period_start(period: str, now: datetime) -> datetime | None:
    today = today_wib(now)
    first_day: date | None = {
        "all": None,
        "today": today,
        "week": today - timedelta(days=today.weekday()),  # Monday, as Indonesian calendars run
        "month": today.replace(day=1),
        "year": today.replace(month=1, day=1),
    }[period]
    return None if first_day is None else wib_day_start(first_day)


def statistics(conn: Connection, principal: Principal, period: str, now: datetime) -> dict[str, Any]:
    return {"period": period, **figures_since(conn, principal, period_start(period, now))}


def figures_since(conn: Connection, principal: Principal, start: datetime | None) -> dict[str, Any]:
    """The figures of get-statistics from ``start`` (None: ever) to now."""
    scope = [payments.c.merchant_id == principal.merchant_id, payments.c.mode == principal.mode]
    created = [*scope] if start is None else [*scope, payments.c.created_at >= start]
    paid = [*scope, payments.c.status == "paid"]
    if start is not None:
        paid.append(payments.c.paid_at >= start)

    by_status: dict[str, int] = dict(
        conn.execute(select(payments.c.status, func.count()).where(*created).group_by(payments.c.status)).all()
    )
    breakdown = {method: 0 for method in METHODS}
    breakdown_amount = {method: 0 for method in METHODS}
    total_paid = total_amount = total_received = 0
    for method, count, amount, received in conn.execute(
        select(
            payments.c.payment_method,
            func.count(),
            func.coalesce(func.sum(payments.c.amount), 0),
            func.coalesce(func.sum(payments.c.paid_amount), 0),
        )
        .where(*paid)
        .group_by(payments.c.payment_method)
    ).all():
        breakdown[method] = int(count)
        breakdown_amount[method] = int(amount)
        total_paid += int(count)
        total_amount += int(amount)
        total_received += int(received)
    return {
        "total_transactions": int(sum(by_status.values())),
        "total_amount": total_amount,
        "total_paid": total_paid,
        "total_received": total_received,
        "total_pending": int(by_status.get("pending", 0)),
        "total_expired": int(by_status.get("expired", 0)),
        "total_cancelled": int(by_status.get("cancelled", 0)),
        "breakdown": breakdown,
        "breakdown_amount": breakdown_amount,
    }


def received_by_day(conn: Connection, principal: Principal, days: int, now: datetime) -> list[tuple[date, int, int]]:
    """(WIB day, payments paid, rupiah received) for each of the last ``days`` days, today last,
    days without a payment included."""
    today = today_wib(now)
    first = today - timedelta(days=days - 1)
    rows = conn.execute(
        select(payments.c.paid_at, payments.c.paid_amount).where(
            payments.c.merchant_id == principal.merchant_id,
            payments.c.mode == principal.mode,
            payments.c.status == "paid",
            payments.c.paid_at >= wib_day_start(first),
        )
    ).all()
    counts = {first + timedelta(days=i): [0, 0] for i in range(days)}
    for paid_at, paid_amount in rows:
        day = today_wib(paid_at)
        if day in counts:
            counts[day][0] += 1
            counts[day][1] += int(paid_amount or 0)
    return [(day, count, amount) for day, (count, amount) in counts.items()]

"""What the reconciliation page reads beyond the API's lists: the notifications of all the
merchant's sources that wait for a person (the API lists them source by source), and the payments
a credit could be assigned to. Scoped like every read, to one merchant in one mode."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from kasir.db.tables import payment_sources, payments, source_notifications
from kasir.merchants.service import Principal
from kasir.payments import reconciliation
from kasir.payments.service import is_stale

# What a source stores for review and nobody has settled yet: a watched app's notification no
# rule reads (unparsed), and one whose amount cannot be taken (invalid: amount_fraction,
# amount_malformed, amount_out_of_range; other invalid items are never stored).
NEEDS_REVIEW = ("unparsed", "invalid")
CANDIDATES = 10


def review_notifications(conn: Connection, principal: Principal, page: int, limit: int) -> dict[str, Any]:
    """The merchant's notifications waiting for review, newest first, a page of them."""
    where = and_(
        source_notifications.c.merchant_id == principal.merchant_id,
        source_notifications.c.mode == principal.mode,
        source_notifications.c.outcome.in_(NEEDS_REVIEW),
    )
    total = int(conn.execute(select(func.count()).select_from(source_notifications).where(where)).scalar_one())
    rows = conn.execute(
        select(
            source_notifications,
            payment_sources.c.public_id.label("source_public_id"),
            payment_sources.c.name.label("source_name"),
        )
        .join(payment_sources, payment_sources.c.id == source_notifications.c.source_id)
        .where(where)
        .order_by(source_notifications.c.id.desc())
        .limit(limit)
        .offset((page - 1) * limit)
    ).mappings()
    return {"rows": [dict(row) for row in rows], "pagination": pagination(page, limit, total)}


def pagination(page: int, limit: int, total: int) -> dict[str, int]:
    return {"page": page, "limit": limit, "total": total, "total_pages": (total + limit - 1) // limit}


def payable_payments(
    conn: Connection, principal: Principal, channel: str | None, now: datetime
) -> list[dict[str, Any]]:
    """The newest payments on ``channel`` (all channels when None) a credit could still pay: a
    help to choose, the assignment itself checks everything again."""
    query = select(payments).where(
        payments.c.merchant_id == principal.merchant_id,
        payments.c.mode == principal.mode,
        payments.c.status.in_(reconciliation.PAYABLE),
    )
    if channel is not None:
        query = query.where(payments.c.payment_method == channel)
    rows = conn.execute(query.order_by(payments.c.id.desc()).limit(CANDIDATES)).mappings()
    return [shown_payment(row, now) for row in rows]


def shown_payment(row: Any, now: datetime) -> dict[str, Any]:
    """A payment as a page shows it: a pending payment past its expiry reads as expired (which
    it is; the sweep or the next API read records it)."""
    payment = dict(row)
    payment["shown_status"] = "expired" if is_stale(payment, now) else payment["status"]
    return payment

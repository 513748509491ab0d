"""What the reconciliation page reads beyond the API's lists: the notifications of all the
merchant's sources that wait for a person (the API lists them source by source), and the payments
a credit could be assigned to. Scoped like every read, to one merchant in one mode."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from kasir.merchants.service import Principal
from kasir.payments import reconciliation
from kasir.payments.service import is_stale
from kasir.sources import views as source_views

# What a source stores for review and nobody has settled yet: a watched app's notification no
# rule reads (unparsed), and one whose amount cannot be taken (invalid: amount_fraction,
# amount_malformed, amount_out_of_range; other invalid items are never stored).
NEEDS_REVIEW = ("unparsed", "invalid")
CANDIDATES = 10


def review_notifications(conn: Connection, principal: Principal, page: int, limit: int) -> dict[str, Any]:
    """The merchant's notifications waiting for review, newest first, a page of them."""
    rows, total = source_views.notifications_with_outcomes(conn, principal, NEEDS_REVIEW, page=page, limit=limit)
    return {"rows": rows, "pagination": pagination(page, limit, total)}


def pagination(page: int, limit: int, total: int) -> dict[str, int]:
    return {"page": page, "limit": limit, "total": total, "total_pages": (total + limit - 1) // limit}


def payable_payments(
    conn: Connection, principal: Principal, channel: str | None, now: datetime
) -> list[dict[str, Any]]:
    """The newest payments on ``channel`` (all channels when None) a credit could still pay: a
    help to choose, the assignment itself checks everything again."""
    return [shown_payment(row, now) for row in reconciliation.payable_payments(conn, principal, channel, CANDIDATES)]


def shown_payment(row: Any, now: datetime) -> dict[str, Any]:
    """A payment as a page shows it: a pending payment past its expiry reads as expired (which
    it is; the sweep or the next API read records it)."""
    payment = dict(row)
    payment["shown_status"] = "expired" if is_stale(payment, now) else payment["status"]
    return payment

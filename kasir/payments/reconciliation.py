"""Reconciliation: the credits matching could not settle, and settling one by hand.

A credit stays ``unmatched`` when no payment was waiting for its amount (a wrong amount, a
transfer unrelated to any payment), and becomes ``late`` when it came for a payment that had
already expired. A person looks at these (``GET /v1/mutations?matched=false``) and may assign
one to a payment: an expired payment can be paid that way, a paid or cancelled one cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select, update
from sqlalchemy.orm import aliased

from kasir.db.tables import mutations, payments
from kasir.errors import Conflict, NotFound
from kasir.merchants.service import Principal
from kasir.payments import paid_hooks
from kasir.payments.service import emit, get_payment

MAX_LIMIT = 100
# The statuses a payment can be paid from by hand: an expired payment can, a paid or cancelled one cannot.
PAYABLE = ("pending", "expired")
_paid = aliased(payments, name="paid_payment")
_late = aliased(payments, name="late_payment")
_SELECT = (
    select(mutations, _paid.c.invoice_id.label("invoice_id"), _late.c.invoice_id.label("late_invoice_id"))
    .outerjoin(_paid, _paid.c.id == mutations.c.payment_id)
    .outerjoin(_late, _late.c.id == mutations.c.late_payment_id)
)


@dataclass(frozen=True, slots=True)
class MutationFilter:
    matched: bool | None = None
    status: str | None = None
    channel: str | None = None
    page: int = 1
    limit: int = 20


def list_mutations(conn: Connection, principal: Principal, flt: MutationFilter) -> dict[str, Any]:
    where = and_(mutations.c.merchant_id == principal.merchant_id, mutations.c.mode == principal.mode)
    if flt.matched is True:
        where &= mutations.c.status == "matched"
    elif flt.matched is False:
        where &= mutations.c.status.in_(("unmatched", "late"))
    if flt.status is not None:
        where &= mutations.c.status == flt.status
    if flt.channel is not None:
        where &= mutations.c.channel == flt.channel
    total = conn.execute(select(func.count()).select_from(mutations).where(where)).scalar_one()
    rows = conn.execute(
        _SELECT.where(where).order_by(mutations.c.id.desc()).limit(flt.limit).offset((flt.page - 1) * flt.limit)
    ).mappings()
    return {
        "rows": [dict(row) for row in rows],
        "pagination": {
            "page": flt.page,
            "limit": flt.limit,
            "total": total,
            "total_pages": (total + flt.limit - 1) // flt.limit,
        },
    }


def get_mutation(conn: Connection, principal: Principal, public_id: str, *, lock: bool = False) -> dict[str, Any]:
    if "\x00" in public_id:  # no id has one, and PostgreSQL would refuse to compare it
        raise NotFound(f"mutation {public_id!r} not found", code="mutation_not_found")
    query = _SELECT.where(
        mutations.c.public_id == public_id,
        mutations.c.merchant_id == principal.merchant_id,
        mutations.c.mode == principal.mode,
    )
    if lock:
        query = query.with_for_update(of=mutations)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"mutation {public_id} not found", code="mutation_not_found")
    return dict(row)


def credits_of_payment(conn: Connection, principal: Principal, payment_id: int, *, late: bool) -> list[dict[str, Any]]:
    """The credits that paid one of the principal's payments (``late``: that came for it after
    it had expired), oldest first. The payment was found through the principal's scoping."""
    column = mutations.c.late_payment_id if late else mutations.c.payment_id
    rows = conn.execute(
        select(mutations).where(column == payment_id, mutations.c.mode == principal.mode).order_by(mutations.c.id)
    ).mappings()
    return [dict(row) for row in rows]


def payable_payments(conn: Connection, principal: Principal, channel: str | None, limit: int) -> list[dict[str, Any]]:
    """The principal's newest payments on ``channel`` (all channels when None) a credit could
    still be assigned to: a help to choose, ``assign`` checks everything again."""
    query = select(payments).where(
        payments.c.merchant_id == principal.merchant_id,
        payments.c.mode == principal.mode,
        payments.c.status.in_(PAYABLE),
    )
    if channel is not None:
        query = query.where(payments.c.payment_method == channel)
    return [dict(row) for row in conn.execute(query.order_by(payments.c.id.desc()).limit(limit)).mappings()]


def assign(
    conn: Connection, principal: Principal, public_id: str, invoice_id: str, public_url: str, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Settle an unmatched or late credit against one of the merchant's payments, by hand: the
    payment becomes ``paid`` (from ``pending`` or ``expired``) with the credit's amount and
    reference, and ``payment.paid`` goes out as if matching had found it."""
    mutation = get_mutation(conn, principal, public_id, lock=True)
    if mutation["status"] == "matched":
        raise Conflict(f"mutation {public_id} already paid {mutation['invoice_id']}", code="mutation_already_matched")
    payment = get_payment(conn, principal, invoice_id)
    if payment["channel_account"] != mutation["channel_account"]:
        raise Conflict(
            f"mutation {public_id} is a credit on {mutation['channel']}; payment {invoice_id} is paid "
            f"through {payment['payment_method']}",
            code="channel_mismatch",
        )
    paid = (
        conn.execute(
            update(payments)
            .where(payments.c.id == payment["id"], payments.c.status.in_(PAYABLE))
            .values(
                status="paid",
                paid_at=mutation["occurred_at"],
                paid_amount=mutation["amount"],
                paid_reff_num=mutation["reference"],
                closed_at=now,
            )
            .returning(*payments.c)
        )
        .mappings()
        .first()
    )
    if paid is None:
        raise Conflict(
            f"payment {invoice_id} is {payment['status']}; only a pending or expired payment can be paid",
            code="payment_not_payable",
        )
    conn.execute(
        update(mutations)
        .where(mutations.c.id == mutation["id"])
        .values(status="matched", payment_id=paid["id"], settled_at=now, settled_by="manual")
    )
    emit(conn, "payment.paid", paid, public_url, now)
    paid_hooks.payments_paid(conn, [paid], public_url, now)
    return get_mutation(conn, principal, public_id), dict(paid)

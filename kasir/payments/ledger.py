"""The ledger of credits as others read it: the operator's view (every merchant's, and the shared
QRIS credits nobody's payment claimed: ``kasir mutations list``), and the join by which a payment
source's notifications show the credit they became (``with_credit``). A merchant's own view,
through its API key, is ``kasir.payments.reconciliation``."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Select, select

from kasir.db.tables import mutations, payments
from kasir.payments.views import MutationStatus

S = TypeVar("S", bound=Select[Any])


def with_credit(query: S, mutation_id: ColumnElement[Any]) -> S:
    """``query`` outer-joined to the credit ``mutation_id`` names and the payment it paid, with
    ``mutation_public_id``, ``mutation_status`` and the payment's ``invoice_id`` (None where there
    is none): kasir.sources' notifications, without touching this package's tables."""
    return (
        query.outerjoin(mutations, mutations.c.id == mutation_id)  # type: ignore[return-value]
        .outerjoin(payments, payments.c.id == mutations.c.payment_id)
        .add_columns(
            mutations.c.public_id.label("mutation_public_id"),
            mutations.c.status.label("mutation_status"),
            payments.c.invoice_id,
        )
    )


def operator_credits(
    conn: Connection, *, mode: str, merchant_id: int | None = None, unmatched: bool = False, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest ``limit`` credits of ``mode``, newest first: only ``merchant_id``'s if given,
    only those still needing a person (not matched) with ``unmatched``."""
    query = select(mutations).where(mutations.c.mode == mode)
    if merchant_id is not None:
        query = query.where(mutations.c.merchant_id == merchant_id)
    if unmatched:
        query = query.where(mutations.c.status != MutationStatus.MATCHED)
    return [dict(row) for row in conn.execute(query.order_by(mutations.c.id.desc()).limit(limit)).mappings()]

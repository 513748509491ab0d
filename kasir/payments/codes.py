"""Unique codes: 1…999 rupiah added to an amount so that a credit's amount names one payment.

The database has the last word (a unique index over pending rows, see kasir.db.tables): we pick
a code that looks free, insert with ON CONFLICT DO NOTHING, and pick again if another
transaction took it first. No race can give two pending payments the same final amount.
"""

from __future__ import annotations

import secrets

from sqlalchemy import bindparam, select

from kasir.db import statements
from kasir.db.statements import Conn, Statement, const, indexed_by
from kasir.db.tables import payments
from kasir.payments.views import PaymentStatus

CODE_MIN = 1
CODE_MAX = 999
_SAMPLES = 16

# SQLite is told which index to use: without statistics its planner rates ``status = 'pending'``
# on ix_payments_status_expires above a range on the partial unique index, and walked every
# pending payment of the installation (2.8 ms per create-payment with 20,000 pending, growing
# with each one; 30 µs through the index). PostgreSQL plans from statistics and picks it itself.
PENDING_BY_AMOUNT = indexed_by(payments, "ix_payments_pending_amount")

TAKEN_FINAL_AMOUNTS: Statement[dict[str, int]] = Statement(
    select(payments.c.final_amount)
    .select_from(PENDING_BY_AMOUNT)
    .where(
        payments.c.mode == bindparam("mode"),
        payments.c.channel_account == bindparam("account"),
        payments.c.status == const(PaymentStatus.PENDING),
        payments.c.final_amount.between(bindparam("low"), bindparam("high")),
    ),
    name="taken_final_amounts",
)


def taken_final_amounts(conn: Conn, *, mode: str, channel_account: str, amount: int) -> set[int]:
    """Final amounts in this amount's range that pending payments on the account hold (as far
    as this transaction can see)."""
    params = {"mode": mode, "account": channel_account, "low": amount + CODE_MIN, "high": amount + CODE_MAX}
    return set(statements.scalars(conn, TAKEN_FINAL_AMOUNTS, params))


def pick_free(amount: int, taken: set[int]) -> int | None:
    """A random free code, or None when all 999 are taken. Random so that two payments of the
    same amount do not line up on neighbouring codes a buyer could confuse."""
    if len(taken) >= CODE_MAX - CODE_MIN + 1:
        return None
    for _ in range(_SAMPLES):  # almost always the first draw: most ranges are nearly empty
        code = CODE_MIN + secrets.randbelow(CODE_MAX - CODE_MIN + 1)
        if amount + code not in taken:
            return code
    free = [code for code in range(CODE_MIN, CODE_MAX + 1) if amount + code not in taken]
    return secrets.choice(free) if free else None

"""Unique codes: 1…999 rupiah added to an amount so that a credit's amount names one payment.

The database has the last word (a unique index over pending rows, see kasir.db.tables): we pick
a code that looks free, insert with ON CONFLICT DO NOTHING, and pick again if another
transaction took it first. No race can give two pending payments the same final amount.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, select

from kasir.db.tables import payments

CODE_MIN = 1
CODE_MAX = 999


def free_codes(conn: Connection, *, mode: str, channel_account: str, amount: int) -> list[int]:
    """Codes whose final amount no pending payment on this account holds (as far as this
    transaction can see)."""
    taken = set(
        conn.execute(
            select(payments.c.final_amount).where(
                payments.c.mode == mode,
                payments.c.channel_account == channel_account,
                payments.c.status == "pending",
                payments.c.final_amount.between(amount + CODE_MIN, amount + CODE_MAX),
            )
        ).scalars()
    )
    return [code for code in range(CODE_MIN, CODE_MAX + 1) if amount + code not in taken]


def pick(codes: list[int]) -> int:
    return secrets.choice(codes)

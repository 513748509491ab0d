"""Unique codes: 1…999 rupiah added to an amount so that a credit's amount names one payment.

The database has the last word (a unique index over pending rows, see kasir.db.tables): we pick
a code that looks free, insert with ON CONFLICT DO NOTHING, and pick again if another
transaction took it first. No race can give two pending payments the same final amount.
"""

from __future__ import annotations

import secrets

from sqlalchemy import Connection

from kasir.db import fastpath

CODE_MIN = 1
CODE_MAX = 999
_SAMPLES = 16


def taken_final_amounts(conn: Connection, *, mode: str, channel_account: str, amount: int) -> set[int]:
    """Final amounts in this amount's range that pending payments on the account hold (as far
    as this transaction can see)."""
    params = {"mode": mode, "account": channel_account, "low": amount + CODE_MIN, "high": amount + CODE_MAX}
    return {row[0] for row in fastpath.run(conn, fastpath.TAKEN_FINAL_AMOUNTS, params)}


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

"""The audit log: what a person did by hand in the dashboard, who and when.

Written in the transaction of the action it records (an assignment, a resend, a cancel), so an
action and its line exist together or not at all; shown on the payment's page when it concerns
a payment.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from kasir.dashboard.sessions import Visitor
from kasir.db.tables import audit_log


def record(
    conn: Connection,
    visitor: Visitor,
    action: str,
    subject: str,
    now: datetime,
    *,
    payment_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        insert(audit_log).values(
            merchant_id=visitor.merchant_id,
            mode=visitor.mode,
            user_id=visitor.user_id,
            actor=visitor.email,
            action=action,
            subject=subject,
            payment_id=payment_id,
            details=json.dumps(details, ensure_ascii=False, separators=(",", ":")) if details else None,
            created_at=now,
        )
    )


def for_payment(conn: Connection, merchant_id: int, mode: str, payment_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(audit_log)
        .where(audit_log.c.merchant_id == merchant_id, audit_log.c.mode == mode, audit_log.c.payment_id == payment_id)
        .order_by(audit_log.c.id)
    ).mappings()
    return [{**row, "details": json.loads(row["details"]) if row["details"] else None} for row in rows]


def recent(conn: Connection, merchant_id: int, mode: str, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(audit_log)
        .where(audit_log.c.merchant_id == merchant_id, audit_log.c.mode == mode)
        .order_by(audit_log.c.id.desc())
        .limit(limit)
    ).mappings()
    return [{**row, "details": json.loads(row["details"]) if row["details"] else None} for row in rows]

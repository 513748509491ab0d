"""The audit log: what a person did by hand in the dashboard, who and when.

Written in the transaction of the action it records (an assignment, a resend, a cancel), so an
action and its line exist together or not at all; shown on the payment's page when it concerns
a payment.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from kasir.db.tables import audit_log
from kasir.team.sessions import Visitor


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


def _lines(rows: Any) -> list[dict[str, Any]]:
    return [{**row, "details": json.loads(row["details"]) if row["details"] else None} for row in rows]


def for_payment(conn: Connection, merchant_id: int, mode: str, payment_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(audit_log)
        .where(audit_log.c.merchant_id == merchant_id, audit_log.c.mode == mode, audit_log.c.payment_id == payment_id)
        .order_by(audit_log.c.id)
    ).mappings()
    return _lines(rows)


def for_subject(
    conn: Connection, merchant_id: int, mode: str, subject: str, action_prefix: str
) -> list[dict[str, Any]]:
    """What people did to one thing (an order, by its number), oldest first: the lines about
    ``subject`` whose action starts with ``action_prefix`` (``order.``)."""
    rows = conn.execute(
        select(audit_log)
        .where(
            audit_log.c.merchant_id == merchant_id,
            audit_log.c.mode == mode,
            audit_log.c.subject == subject,
            audit_log.c.action.startswith(action_prefix),
        )
        .order_by(audit_log.c.id)
    ).mappings()
    return _lines(rows)


def recent(
    conn: Connection, merchant_id: int, mode: str, limit: int = 50, *, actions: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """The newest lines first; ``actions``: only those actions."""
    query = select(audit_log).where(audit_log.c.merchant_id == merchant_id, audit_log.c.mode == mode)
    if actions is not None:
        query = query.where(audit_log.c.action.in_(actions))
    return _lines(conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit)).mappings())

"""The transactional outbox: an event row written in the transaction of the change it reports.

Callers pass the Connection of their own transaction, so the event exists if and only if the
change committed. The delivery worker reads only committed rows.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from kasir.db.tables import events

EVENT_TYPES = frozenset({"payment.created", "payment.paid", "payment.expired", "payment.cancelled", "ping"})


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def record_event(
    conn: Connection,
    *,
    merchant_id: int,
    mode: str,
    type: str,
    payload: dict[str, Any],
    created_at: datetime,
    payment_id: int | None = None,
) -> str:
    """Write one event and return its id, which every delivery attempt will carry."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event_id = new_event_id()
    conn.execute(
        insert(events).values(
            event_id=event_id,
            merchant_id=merchant_id,
            mode=mode,
            type=type,
            payment_id=payment_id,
            payload=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
            created_at=created_at,
        )
    )
    return event_id

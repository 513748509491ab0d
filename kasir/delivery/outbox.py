"""The transactional outbox: an event row, and one delivery row per target, written in the
transaction of the change they report.

Callers pass the Connection of their own transaction, so the event and its deliveries exist if
and only if the change committed. The worker reads only committed rows; committing a transaction
that created deliveries wakes it (see ``kasir.db.engine.Database``; on PostgreSQL through NOTIFY).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, text

from kasir import dialects, notify
from kasir.db import fastpath
from kasir.db.engine import NEW_DELIVERIES
from kasir.db.tables import deliveries

PAYMENT_EVENT_TYPES = ("payment.created", "payment.paid", "payment.expired", "payment.cancelled")
# WA Store orders (kasir.store): created, a payment issued again, then the merchant's steps.
ORDER_EVENT_TYPES = (
    "order.created",
    "order.waiting_payment",
    "order.paid",
    "order.processing",
    "order.completed",
    "order.cancelled",
)
# A payment source (kasir.sources) stopped reporting, or spoke again.
SOURCE_EVENT_TYPES = ("source.silent", "source.recovered")
EVENT_TYPES = frozenset({*PAYMENT_EVENT_TYPES, *ORDER_EVENT_TYPES, *SOURCE_EVENT_TYPES, "endpoint.disabled", "ping"})
NOTIFY_CHANNEL = "kasir_deliveries"


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def new_delivery_id() -> str:
    return "dlv_" + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    dialect: str
    endpoint_id: int | None


def event_matches(event_types: str | None, event_type: str) -> bool:
    """An endpoint's filter: NULL or an empty list takes everything; ``payment.*`` takes a family."""
    if not event_types:
        return True
    wanted = json.loads(event_types)
    if not wanted:
        return True
    return any(w == event_type or (w.endswith(".*") and event_type.startswith(w[:-1])) for w in wanted)


_INSERT_DELIVERY = insert(deliveries)


def delivery_targets(
    conn: Connection,
    *,
    merchant_id: int,
    mode: str,
    event_type: str,
    now: datetime,
    callback_url: str | None = None,
    exclude_endpoint_id: int | None = None,
) -> list[Target]:
    targets: list[Target] = []
    params = {"merchant_id": merchant_id, "mode": mode, "now": now, "enabled": True}
    for kind, endpoint_id, url, dialect, event_types in fastpath.run(conn, fastpath.DELIVERY_TARGETS, params):
        if dialects.get(dialect).event_name(event_type) is None:
            continue  # the receiver's dialect has no name for this event
        if kind == 1:
            # Seed 004: the payment's own callback_url, else the default callback URL. Only
            # payment events go there.
            url = callback_url or url
            if url and event_type.startswith("payment.") and event_matches(event_types, event_type):
                targets.append(Target(url, dialect, None))
        elif endpoint_id != exclude_endpoint_id and event_matches(event_types, event_type):
            targets.append(Target(url, dialect, endpoint_id))
    # The same URL in the same dialect would get the same bytes twice; once is enough.
    unique: dict[tuple[str, str], Target] = {}
    for target in targets:
        unique.setdefault((target.url, target.dialect), target)
    return list(unique.values())


def enqueue(
    conn: Connection, event_row_id: int, merchant_id: int, mode: str, targets: list[Target], now: datetime
) -> None:
    if not targets:
        return
    conn.execute(
        _INSERT_DELIVERY,
        [
            {
                "public_id": new_delivery_id(),
                "event_id": event_row_id,
                "merchant_id": merchant_id,
                "mode": mode,
                "endpoint_id": target.endpoint_id,
                "url": target.url,
                "dialect": target.dialect,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for target in targets
        ],
    )
    signal_new_deliveries(conn)


def signal_new_deliveries(conn: Connection) -> None:
    if conn.info.get(NEW_DELIVERIES):
        return
    conn.info[NEW_DELIVERIES] = True
    if conn.dialect.name == "postgresql":
        # Delivered to listeners when (and only if) this transaction commits.
        conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


def record_event(
    conn: Connection,
    *,
    merchant_id: int,
    mode: str,
    type: str,
    payload: dict[str, Any],
    created_at: datetime,
    payment_id: int | None = None,
    callback_url: str | None = None,
    exclude_endpoint_id: int | None = None,
    notify_phone: str | None = None,
) -> str:
    """Write one event and its deliveries; return the event id every attempt will carry.
    ``notify_phone``: also message that buyer about it (``kasir.notify``), through the same queue."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event_id = new_event_id()
    [(row_id,)] = fastpath.run(
        conn,
        fastpath.INSERT_EVENT,
        {
            "event_id": event_id,
            "merchant_id": merchant_id,
            "mode": mode,
            "type": type,
            "payment_id": payment_id,
            "payload": json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
            "created_at": created_at,
        },
    )
    targets = delivery_targets(
        conn,
        merchant_id=merchant_id,
        mode=mode,
        event_type=type,
        now=created_at,
        callback_url=callback_url,
        exclude_endpoint_id=exclude_endpoint_id,
    )
    if notify_phone:
        targets.append(Target(notify.recipient_address(notify_phone), notify.CHANNEL, None))
    enqueue(conn, row_id, merchant_id, mode, targets, created_at)
    return event_id


@dataclass(frozen=True, slots=True)
class NewEvent:
    merchant_id: int
    mode: str
    type: str
    payload: dict[str, Any]
    payment_id: int | None = None
    callback_url: str | None = None


_EVENT_COLUMNS = ("event_id", "merchant_id", "mode", "type", "payment_id", "payload", "created_at")
_DELIVERY_COLUMNS = (
    "public_id",
    "event_id",
    "merchant_id",
    "mode",
    "endpoint_id",
    "url",
    "dialect",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)


def record_events(conn: Connection, new_events: list[NewEvent], created_at: datetime) -> list[str]:
    """``record_event`` for many events at once (a batch of matched credits pays a thousand
    payments): one multi-row insert for the events, one for their deliveries, and each
    merchant's targets looked up once per batch instead of once per event."""
    for event in new_events:
        if event.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event.type!r}")
    event_ids = [new_event_id() for _ in new_events]
    returned = fastpath.insert_values(
        conn,
        "events",
        _EVENT_COLUMNS,
        [
            (
                event_id,
                event.merchant_id,
                event.mode,
                event.type,
                event.payment_id,
                json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False),
                created_at,
            )
            for event_id, event in zip(event_ids, new_events, strict=True)
        ],
        returning=("id", "event_id"),
    )
    row_ids = {event_id: row_id for row_id, event_id in returned}
    targets: dict[tuple[int, str, str, str | None], list[Target]] = {}
    rows: list[tuple[Any, ...]] = []
    for event_id, event in zip(event_ids, new_events, strict=True):
        key = (event.merchant_id, event.mode, event.type, event.callback_url)
        if key not in targets:
            targets[key] = delivery_targets(
                conn,
                merchant_id=event.merchant_id,
                mode=event.mode,
                event_type=event.type,
                now=created_at,
                callback_url=event.callback_url,
            )
        rows.extend(
            (
                new_delivery_id(),
                row_ids[event_id],
                event.merchant_id,
                event.mode,
                target.endpoint_id,
                target.url,
                target.dialect,
                "pending",
                0,
                created_at,
                created_at,
            )
            for target in targets[key]
        )
    if rows:
        fastpath.insert_values(conn, "deliveries", _DELIVERY_COLUMNS, rows)
        signal_new_deliveries(conn)
    return event_ids

"""The transactional outbox: an event row, and one delivery row per target, written in the
transaction of the change they report.

Callers pass the Connection of their own transaction, so the event and its deliveries exist if
and only if the change committed. The worker reads only committed rows; committing a transaction
that created deliveries wakes it (see ``kasir.db.engine.Database``; on PostgreSQL through NOTIFY).
Every state change runs these statements, so they are written once here against
kasir.db.tables and run on the driver (kasir.db.statements; docs/architecture.md, "Data path").
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import BindParameter, Connection, Integer, bindparam, literal_column, null, select, text, union_all

from kasir import dialects
from kasir.db import statements
from kasir.db.engine import NEW_DELIVERIES
from kasir.db.statements import BulkInsert, Statement, insertable_columns, unset_columns
from kasir.db.tables import deliveries, endpoints, events, webhook_settings
from kasir.delivery import notifiers

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


INSERT_EVENT: Statement[dict[str, int]] = Statement(
    events.insert().returning(events.c.id), column_keys=insertable_columns(events), name="insert_event"
)
INSERT_EVENTS = BulkInsert(events, returning=("id", "event_id"))
INSERT_DELIVERIES = BulkInsert(deliveries)
_EVENT_DEFAULTS = unset_columns(events)


class _TargetRow(TypedDict):
    kind: int
    id: int | None
    url: str | None
    dialect: str
    event_types: str | None


# Where an event goes: kind 1 is the callback settings, kind 2 each live endpoint.
_MERCHANT: BindParameter[int] = bindparam("merchant_id")
_MODE: BindParameter[str] = bindparam("mode")
DELIVERY_TARGETS: Statement[_TargetRow] = Statement(
    union_all(
        select(
            literal_column("1", Integer).label("kind"),
            null().label("id"),
            webhook_settings.c.default_callback_url.label("url"),
            webhook_settings.c.dialect,
            webhook_settings.c.event_types,
        ).where(webhook_settings.c.merchant_id == _MERCHANT, webhook_settings.c.mode == _MODE),
        select(
            literal_column("2", Integer), endpoints.c.id, endpoints.c.url, endpoints.c.dialect, endpoints.c.event_types
        ).where(
            endpoints.c.merchant_id == _MERCHANT,
            endpoints.c.mode == _MODE,
            endpoints.c.enabled,
            endpoints.c.expires_at.is_(None) | (endpoints.c.expires_at > bindparam("now")),
        ),
    ),
    name="delivery_targets",
)


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
    params = {"merchant_id": merchant_id, "mode": mode, "now": now}
    for row in statements.rows(conn, DELIVERY_TARGETS, params):
        url, dialect, event_types = row["url"], row["dialect"], row["event_types"]
        if dialects.get(dialect).event_name(event_type) is None:
            continue  # the receiver's dialect has no name for this event
        if row["kind"] == 1:
            # Seed 004: the payment's own callback_url, else the default callback URL. Only
            # payment events go there.
            url = callback_url or url
            if url and event_type.startswith("payment.") and event_matches(event_types, event_type):
                targets.append(Target(url, dialect, None))
        elif url and row["id"] != exclude_endpoint_id and event_matches(event_types, event_type):
            targets.append(Target(url, dialect, row["id"]))
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
    statements.insert_many(
        conn, INSERT_DELIVERIES, [_delivery(event_row_id, merchant_id, mode, t, now) for t in targets]
    )
    signal_new_deliveries(conn)


def _delivery(event_row_id: int, merchant_id: int, mode: str, target: Target, now: datetime) -> dict[str, Any]:
    """A new delivery's row: due at once."""
    return {
        **_DELIVERY_DEFAULTS,
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


_DELIVERY_DEFAULTS = unset_columns(deliveries)


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
    ``notify_phone``: also message that buyer about it (``kasir.delivery.notifiers``), through the same queue."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event_id, row_id = _insert_event(conn, merchant_id, mode, type, payload, created_at, payment_id)
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
        targets.append(Target(notifiers.recipient_address(notify_phone), notifiers.CHANNEL, None))
    enqueue(conn, row_id, merchant_id, mode, targets, created_at)
    return event_id


def _insert_event(
    conn: Connection,
    merchant_id: int,
    mode: str,
    type: str,
    payload: dict[str, Any],
    created_at: datetime,
    payment_id: int | None,
) -> tuple[str, int]:
    event_id = new_event_id()
    [row_id] = statements.scalars(
        conn,
        INSERT_EVENT,
        {
            **_EVENT_DEFAULTS,
            "event_id": event_id,
            "merchant_id": merchant_id,
            "mode": mode,
            "type": type,
            "payment_id": payment_id,
            "payload": json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
            "created_at": created_at,
        },
    )
    return event_id, row_id


def record_notice(
    conn: Connection,
    *,
    merchant_id: int,
    mode: str,
    type: str,
    payload: dict[str, Any],
    created_at: datetime,
    targets: list[Target],
) -> int:
    """Write an event meant for people, not for the merchant's integration (an owner's alert):
    delivered to ``targets`` only (notifier addresses), never to the callback URL or endpoints.
    Its row id, which the caller's own records point at."""
    _event_id, row_id = _insert_event(conn, merchant_id, mode, type, payload, created_at, None)
    enqueue(conn, row_id, merchant_id, mode, targets, created_at)
    return row_id


@dataclass(frozen=True, slots=True)
class NewEvent:
    merchant_id: int
    mode: str
    type: str
    payload: dict[str, Any]
    payment_id: int | None = None
    callback_url: str | None = None


def record_events(conn: Connection, new_events: list[NewEvent], created_at: datetime) -> list[str]:
    """``record_event`` for many events at once (a batch of matched credits pays a thousand
    payments): one multi-row insert for the events, one for their deliveries, and each
    merchant's targets looked up once per batch instead of once per event."""
    for event in new_events:
        if event.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event.type!r}")
    event_ids = [new_event_id() for _ in new_events]
    returned = statements.insert_many(
        conn,
        INSERT_EVENTS,
        [
            {
                **_EVENT_DEFAULTS,
                "event_id": event_id,
                "merchant_id": event.merchant_id,
                "mode": event.mode,
                "type": event.type,
                "payment_id": event.payment_id,
                "payload": json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False),
                "created_at": created_at,
            }
            for event_id, event in zip(event_ids, new_events, strict=True)
        ],
    )
    row_ids = {row["event_id"]: row["id"] for row in returned}
    targets: dict[tuple[int, str, str, str | None], list[Target]] = {}
    rows: list[dict[str, Any]] = []
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
        row_id = row_ids[event_id]
        rows.extend(_delivery(row_id, event.merchant_id, event.mode, target, created_at) for target in targets[key])
    if rows:
        statements.insert_many(conn, INSERT_DELIVERIES, rows)
        signal_new_deliveries(conn)
    return event_ids

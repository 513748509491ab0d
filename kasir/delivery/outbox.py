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

from sqlalchemy import BindParameter, Integer, bindparam, func, literal_column, null, select, true, union_all

from kasir import dialects
from kasir.db import statements
from kasir.db.engine import NEW_DELIVERIES
from kasir.db.statements import (
    BulkInsert,
    Conn,
    Statement,
    array,
    const,
    insertable_columns,
    unnest,
    unset_columns,
)
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

# PostgreSQL: the event, its deliveries and the NOTIFY that wakes the workers in ONE statement
# (data-modifying CTEs, atomic as any statement): three round trips less per change that has
# somewhere to go. A delivery's values come as arrays named ``d_<column>``; its event_id is the
# row the CTE inserted. SQLite has no INSERT in a CTE: it runs the statements one by one, which
# are calls into a library there, not round trips.
_EVENT_COLUMNS = insertable_columns(events)
_DELIVERY_COLUMNS = tuple(c for c in insertable_columns(deliveries) if c != "event_id")
_NOTIFIED = select(func.pg_notify(const(NOTIFY_CHANNEL), const("")).label("notified")).cte("n")


def _deliveries_of(event: Any, rows: Any, on: Any) -> Any:
    return (
        deliveries.insert()
        .from_select(
            [*_DELIVERY_COLUMNS, "event_id"],
            select(*(rows.c[c] for c in _DELIVERY_COLUMNS), event.c.id).select_from(rows.join(event, on)),
        )
        .cte("d")
    )


def _event_with_deliveries() -> Any:
    event = (
        events.insert()
        .values({c: bindparam(c, type_=events.c[c].type) for c in _EVENT_COLUMNS})
        .returning(events.c.id)
        .cte("e")
    )
    rows = unnest(deliveries, _DELIVERY_COLUMNS, name="v", prefix="d_")
    added = _deliveries_of(event, rows, true())
    return select(event.c.id).select_from(event.join(_NOTIFIED, true())).add_cte(added)


def _events_with_deliveries() -> Any:
    """The same for a batch: the events from ``e_<column>`` arrays, each delivery tied to its
    event by the event's public id (``d_event_key``)."""
    given = unnest(events, _EVENT_COLUMNS, name="w", prefix="e_")
    event = (
        events.insert()
        .from_select(list(_EVENT_COLUMNS), select(*given.c))
        .returning(events.c.id, events.c.event_id)
        .cte("e")
    )
    arrays = [array("d_" + c, deliveries.c[c].type) for c in _DELIVERY_COLUMNS]
    rows = (
        func.unnest(*arrays, array("d_event_key", events.c.event_id.type))
        .table_valued(*_DELIVERY_COLUMNS, "event_key")
        .render_derived(name="v")
    )
    added = _deliveries_of(event, rows, event.c.event_id == rows.c.event_key)
    return select(event.c.id, event.c.event_id).select_from(event.join(_NOTIFIED, true())).add_cte(added)


EVENT_WITH_DELIVERIES: Statement[dict[str, int]] = Statement(
    _event_with_deliveries(), name="event_with_deliveries", binary=True
)
EVENTS_WITH_DELIVERIES: Statement[dict[str, Any]] = Statement(
    _events_with_deliveries(), name="events_with_deliveries", binary=True
)


def _arrays(rows: list[dict[str, Any]], columns: tuple[str, ...], prefix: str) -> dict[str, list[Any]]:
    return {prefix + c: [row[c] for row in rows] for c in columns}


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
    conn: Conn,
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


def enqueue(conn: Conn, event_row_id: int, merchant_id: int, mode: str, targets: list[Target], now: datetime) -> None:
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


# Delivered to listeners when (and only if) the transaction commits.
_NOTIFY: Statement[Any] = Statement(select(func.pg_notify(const(NOTIFY_CHANNEL), const(""))), name="notify_deliveries")


def signal_new_deliveries(conn: Conn) -> None:
    if conn.info.get(NEW_DELIVERIES):
        return
    conn.info[NEW_DELIVERIES] = True
    if conn.dialect.name == "postgresql":
        statements.execute(conn, _NOTIFY, {})


def record_event(
    conn: Conn,
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
    event_id, _row_id = _insert_event(conn, merchant_id, mode, type, payload, created_at, payment_id, targets)
    return event_id


def _insert_event(
    conn: Conn,
    merchant_id: int,
    mode: str,
    type: str,
    payload: dict[str, Any],
    created_at: datetime,
    payment_id: int | None,
    targets: list[Target],
) -> tuple[str, int]:
    """The event row and a delivery per target, in one statement on PostgreSQL."""
    event_id = new_event_id()
    event = {
        **_EVENT_DEFAULTS,
        "event_id": event_id,
        "merchant_id": merchant_id,
        "mode": mode,
        "type": type,
        "payment_id": payment_id,
        "payload": json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        "created_at": created_at,
    }
    if targets and conn.dialect.name == "postgresql":
        rows = [_delivery(0, merchant_id, mode, target, created_at) for target in targets]
        [row_id] = statements.scalars(conn, EVENT_WITH_DELIVERIES, {**event, **_arrays(rows, _DELIVERY_COLUMNS, "d_")})
        conn.info[NEW_DELIVERIES] = True  # the statement's NOTIFY is sent; the commit wakes this node's worker
        return event_id, row_id
    [row_id] = statements.scalars(conn, INSERT_EVENT, event)
    enqueue(conn, row_id, merchant_id, mode, targets, created_at)
    return event_id, row_id


def record_notice(
    conn: Conn,
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
    _event_id, row_id = _insert_event(conn, merchant_id, mode, type, payload, created_at, None, targets)
    return row_id


@dataclass(frozen=True, slots=True)
class NewEvent:
    merchant_id: int
    mode: str
    type: str
    payload: dict[str, Any]
    payment_id: int | None = None
    callback_url: str | None = None


def record_events(conn: Conn, new_events: list[NewEvent], created_at: datetime) -> list[str]:
    """``record_event`` for many events at once (a batch of matched credits pays a thousand
    payments): one multi-row insert for the events, one for their deliveries, and each
    merchant's targets looked up once per batch instead of once per event."""
    for event in new_events:
        if event.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event.type!r}")
    event_ids = [new_event_id() for _ in new_events]
    event_rows = [
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
    ]
    # Each merchant's targets looked up once per batch, before anything is written.
    targets: dict[tuple[int, str, str, str | None], list[Target]] = {}
    for event in new_events:
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
    rows: list[dict[str, Any]] = []
    for event_id, event in zip(event_ids, new_events, strict=True):
        for target in targets[(event.merchant_id, event.mode, event.type, event.callback_url)]:
            rows.append({**_delivery(0, event.merchant_id, event.mode, target, created_at), "event_key": event_id})
    if rows and conn.dialect.name == "postgresql":
        statements.rows(
            conn,
            EVENTS_WITH_DELIVERIES,
            {
                **_arrays(event_rows, _EVENT_COLUMNS, "e_"),
                **_arrays(rows, (*_DELIVERY_COLUMNS, "event_key"), "d_"),
            },
        )
        conn.info[NEW_DELIVERIES] = True
        return event_ids
    returned = statements.insert_many(conn, INSERT_EVENTS, event_rows)
    row_ids = {row["event_id"]: row["id"] for row in returned}
    if rows:
        for row in rows:
            row["event_id"] = row_ids[row.pop("event_key")]
        statements.insert_many(conn, INSERT_DELIVERIES, rows)
        signal_new_deliveries(conn)
    return event_ids

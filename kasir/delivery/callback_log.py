"""The callback log as it is read (seed 004's callback logs): events, their deliveries and every
attempt, for the API, the dashboard and the alerts pages (docs/architecture.md, "Aggregates and
their owners"). Only reads: the outbox writes events and deliveries, the queue moves them on.

Every function is scoped by the caller: a merchant and a mode, or row ids the caller reached
through rows so scoped."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, func, select

from kasir.db.tables import deliveries, delivery_attempts, endpoints, events
from kasir.delivery.states import DeliveryStatus

# --- events -----------------------------------------------------------------------------------


def list_events(
    conn: Connection, merchant_id: int, mode: str, *, event_type: str | None, since: datetime | None, limit: int
) -> list[RowMapping]:
    """Events of a merchant's mode, newest first."""
    query = select(events).where(events.c.merchant_id == merchant_id, events.c.mode == mode)
    if event_type:
        query = query.where(events.c.type == event_type)
    if since:
        query = query.where(events.c.created_at >= since)
    return list(conn.execute(query.order_by(events.c.id.desc()).limit(limit)).mappings())


def event_by_row_id(conn: Connection, event_row_id: int) -> RowMapping:
    return conn.execute(select(events).where(events.c.id == event_row_id)).mappings().one()


def events_by_row_ids(conn: Connection, event_row_ids: Iterable[int]) -> dict[int, RowMapping]:
    """What sending needs of each event: its public id, type, time and payload."""
    return {
        row["id"]: row
        for row in conn.execute(
            select(events.c.id, events.c.event_id, events.c.type, events.c.created_at, events.c.payload).where(
                events.c.id.in_(set(event_row_ids))
            )
        ).mappings()
    }


def events_of_payment(conn: Connection, merchant_id: int, mode: str, payment_id: int) -> list[RowMapping]:
    """The events about one payment, oldest first."""
    return list(
        conn.execute(
            select(events)
            .where(events.c.payment_id == payment_id, events.c.merchant_id == merchant_id, events.c.mode == mode)
            .order_by(events.c.id)
        ).mappings()
    )


def payment_of_event(conn: Connection, event_row_id: int) -> int | None:
    """The payment (row id) an event is about, if any."""
    value = conn.execute(select(events.c.payment_id).where(events.c.id == event_row_id)).scalar()
    return None if value is None else int(value)


# --- deliveries -------------------------------------------------------------------------------

# A delivery as the callback log shows it: with its event's public id and type and its endpoint's.
_LOG = (
    select(
        deliveries,
        events.c.event_id.label("event_public_id"),
        events.c.type.label("event_type"),
        endpoints.c.public_id.label("endpoint_public_id"),
    )
    .join(events, events.c.id == deliveries.c.event_id)
    .outerjoin(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
)


def find_delivery(conn: Connection, merchant_id: int, mode: str, public_id: str) -> RowMapping | None:
    """One delivery row of this merchant's mode, by its public id."""
    return (
        conn.execute(
            select(deliveries).where(
                deliveries.c.public_id == public_id,
                deliveries.c.merchant_id == merchant_id,
                deliveries.c.mode == mode,
            )
        )
        .mappings()
        .first()
    )


def delivery_by_row_id(conn: Connection, delivery_id: int) -> RowMapping:
    return conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).mappings().one()


def newest_delivery(conn: Connection, event_row_id: int, url: str) -> RowMapping:
    """The latest delivery of an event to a URL (the one a redelivery has just queued)."""
    return (
        conn.execute(
            select(deliveries)
            .where(deliveries.c.event_id == event_row_id, deliveries.c.url == url)
            .order_by(deliveries.c.id.desc())
            .limit(1)
        )
        .mappings()
        .one()
    )


def list_deliveries(
    conn: Connection,
    merchant_id: int,
    mode: str,
    *,
    endpoint_id: int | None,
    status: str | None,
    limit: int,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    after: int | None = None,
) -> list[RowMapping]:
    """The callback log, newest first. ``since``/``until``: created at or after / before;
    ``before``/``after``: the page older / newer than the delivery with that row id."""
    query = _LOG.where(deliveries.c.merchant_id == merchant_id, deliveries.c.mode == mode)
    if endpoint_id is not None:
        query = query.where(deliveries.c.endpoint_id == endpoint_id)
    if status:
        query = query.where(deliveries.c.status == status)
    if event_type:
        query = query.where(events.c.type == event_type)
    if since is not None:
        query = query.where(deliveries.c.created_at >= since)
    if until is not None:
        query = query.where(deliveries.c.created_at < until)
    if before is not None:
        query = query.where(deliveries.c.id < before)
    if after is not None:  # the page just newer: read upwards, shown newest first
        query = query.where(deliveries.c.id > after).order_by(deliveries.c.id).limit(limit)
        return list(reversed(list(conn.execute(query).mappings())))
    return list(conn.execute(query.order_by(deliveries.c.id.desc()).limit(limit)).mappings())


def deliveries_of_events(conn: Connection, merchant_id: int, mode: str, event_row_ids: list[int]) -> list[RowMapping]:
    """The deliveries of these events, as the log shows them, oldest first."""
    if not event_row_ids:
        return []
    return list(
        conn.execute(
            _LOG.where(
                deliveries.c.event_id.in_(event_row_ids),
                deliveries.c.merchant_id == merchant_id,
                deliveries.c.mode == mode,
            ).order_by(deliveries.c.id)
        ).mappings()
    )


def count_of_events(conn: Connection, event_row_ids: list[int], status: DeliveryStatus) -> int:
    """How many deliveries of these events are in ``status``."""
    if not event_row_ids:
        return 0
    return int(
        conn.execute(
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.event_id.in_(event_row_ids), deliveries.c.status == status)
        ).scalar_one()
    )


def oldest_pending(conn: Connection, merchant_id: int, mode: str) -> dict[str, Any] | None:
    """The merchant's oldest delivery still pending, with its event's type and public id."""
    row = (
        conn.execute(
            select(deliveries, events.c.type.label("event_type"), events.c.event_id.label("event_public_id"))
            .join(events, events.c.id == deliveries.c.event_id)
            .where(
                deliveries.c.merchant_id == merchant_id,
                deliveries.c.mode == mode,
                deliveries.c.status == DeliveryStatus.PENDING,
            )
            .order_by(deliveries.c.created_at, deliveries.c.id)
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


# --- attempts ---------------------------------------------------------------------------------


def attempts_of(conn: Connection, delivery_id: int) -> list[RowMapping]:
    """Every try of one delivery, first to last."""
    return list(
        conn.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id == delivery_id)
            .order_by(delivery_attempts.c.attempt)
        ).mappings()
    )


def attempts_of_deliveries(conn: Connection, delivery_ids: list[int]) -> list[RowMapping]:
    """Every try of these deliveries, by delivery then first to last."""
    if not delivery_ids:
        return []
    return list(
        conn.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id.in_(delivery_ids))
            .order_by(delivery_attempts.c.delivery_id, delivery_attempts.c.attempt)
        ).mappings()
    )

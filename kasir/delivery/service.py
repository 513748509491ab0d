"""What merchants do to their webhooks through the API: callback settings, endpoints, secret
rotation, redelivery and recovery. No HTTP here and no commit, like every service."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, insert, or_, select, update

from kasir import dialects
from kasir.config import Settings
from kasir.db.tables import deliveries, delivery_attempts, endpoints, events, webhook_settings
from kasir.delivery.dispatch import header_problem
from kasir.delivery.endpoints import get_by_public_id, new_endpoint_id
from kasir.delivery.outbox import EVENT_TYPES, Target, enqueue, signal_new_deliveries
from kasir.errors import Conflict, InvalidRequest, NotFound
from kasir.merchants.keys import new_webhook_secret
from kasir.merchants.service import Principal


def check_dialect(name: str) -> str:
    if name not in dialects.REGISTRY:
        raise InvalidRequest(
            f"dialect must be one of {', '.join(dialects.REGISTRY)}", field="dialect", code="invalid_dialect"
        )
    return name


def check_event_types(values: list[str] | None, field: str = "event_types") -> str | None:
    if values is None:
        return None
    families = {t.split(".")[0] + ".*" for t in EVENT_TYPES}
    for value in values:
        if value not in EVENT_TYPES and value not in families:
            raise InvalidRequest(
                f"{field}: unknown event type {value!r}; one of {', '.join(sorted(EVENT_TYPES | families))}",
                field=field,
                code="invalid_event_type",
            )
    return json.dumps(sorted(set(values)))


def check_headers(headers: dict[str, str] | None) -> str | None:
    """An endpoint's custom headers as stored, once every one of them can go on the wire: the
    name a token, the value visible ASCII (spaces and tabs inside only), nothing the HTTP client
    owns. Non-ASCII is refused too, though RFC 9110 tolerates it (see ``header_problem``)."""
    if headers is None:
        return None
    if not isinstance(headers, dict):
        raise InvalidRequest("headers must be an object of names to values", field="headers", code="invalid_header")
    for name, value in headers.items():
        problem = header_problem(name, value)
        if problem is not None:
            raise InvalidRequest(f"headers: {problem}", field="headers", code="invalid_header")
    return json.dumps(headers) if headers else None


# --- callback settings (seed 004's Pengaturan → Webhook) ---------------------------------------


def get_callback_settings(conn: Connection, caller: Principal) -> RowMapping:
    row = (
        conn.execute(
            select(webhook_settings).where(
                webhook_settings.c.merchant_id == caller.merchant_id, webhook_settings.c.mode == caller.mode
            )
        )
        .mappings()
        .first()
    )
    if row is None:  # every merchant gets both rows at creation; this is a broken database
        raise NotFound("webhook settings not found", code="webhook_settings_not_found")
    return row


def update_callback_settings(conn: Connection, caller: Principal, changes: dict[str, Any], now: datetime) -> RowMapping:
    values: dict[str, Any] = {"updated_at": now}
    if "default_callback_url" in changes:
        values["default_callback_url"] = changes["default_callback_url"] or None
    if changes.get("dialect") is not None:
        values["dialect"] = check_dialect(changes["dialect"])
    if changes.get("event_types") is not None:
        values["event_types"] = check_event_types(changes["event_types"])
    conn.execute(
        update(webhook_settings)
        .where(webhook_settings.c.merchant_id == caller.merchant_id, webhook_settings.c.mode == caller.mode)
        .values(**values)
    )
    return get_callback_settings(conn, caller)


def _grace(dialect: str, settings: Settings, now: datetime) -> datetime | None:
    """Dialects that carry several signatures sign with the old secret too for the grace
    period; the others cannot, so the new secret applies at once (as bayar.gg's regenerate)."""
    if dialect == "standard" and settings.secret_rotation_grace > 0:
        return now + timedelta(seconds=settings.secret_rotation_grace)
    return None


def rotate_callback_secret(
    conn: Connection, caller: Principal, settings: Settings, now: datetime
) -> tuple[RowMapping, str]:
    current = get_callback_settings(conn, caller)
    secret = new_webhook_secret()
    until = _grace(current["dialect"], settings, now)
    conn.execute(
        update(webhook_settings)
        .where(webhook_settings.c.id == current["id"])
        .values(
            secret=secret,
            previous_secret=current["secret"] if until else None,
            previous_secret_expires_at=until,
            updated_at=now,
        )
    )
    return get_callback_settings(conn, caller), secret


# --- endpoints ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    url: str | None = None
    dialect: str | None = None
    description: str | None = None
    event_types: list[str] | None = None
    rate_limit: int | None = None
    fifo: bool | None = None
    headers: dict[str, str] | None = None
    enabled: bool | None = None
    expires_at: datetime | None = None


def create_endpoint(conn: Connection, caller: Principal, spec: EndpointChanges, now: datetime) -> RowMapping:
    if not spec.url:
        raise InvalidRequest("url is required", field="url", code="missing_parameter")
    row = (
        conn.execute(
            insert(endpoints)
            .values(
                public_id=new_endpoint_id(),
                merchant_id=caller.merchant_id,
                mode=caller.mode,
                url=spec.url,
                dialect=check_dialect(spec.dialect or dialects.DEFAULT),
                description=spec.description,
                secret=new_webhook_secret(),
                event_types=check_event_types(spec.event_types),
                rate_limit=spec.rate_limit,
                fifo=bool(spec.fifo),
                headers=check_headers(spec.headers),
                enabled=True,
                expires_at=spec.expires_at,
                created_at=now,
                updated_at=now,
            )
            .returning(*endpoints.c)
        )
        .mappings()
        .one()
    )
    return row


def find_endpoint(conn: Connection, caller: Principal, public_id: str) -> RowMapping:
    row = get_by_public_id(conn, caller.merchant_id, caller.mode, public_id)
    if row is None:
        raise NotFound(f"endpoint {public_id} not found", code="endpoint_not_found")
    return row


def list_endpoints(conn: Connection, caller: Principal) -> list[RowMapping]:
    return list(
        conn.execute(
            select(endpoints)
            .where(endpoints.c.merchant_id == caller.merchant_id, endpoints.c.mode == caller.mode)
            .order_by(endpoints.c.id)
        ).mappings()
    )


def update_endpoint(
    conn: Connection, caller: Principal, public_id: str, spec: EndpointChanges, fields: set[str], now: datetime
) -> RowMapping:
    row = find_endpoint(conn, caller, public_id)
    values: dict[str, Any] = {"updated_at": now}
    if "url" in fields:
        if not spec.url:
            raise InvalidRequest("url must not be empty", field="url")
        values["url"] = spec.url
    if "dialect" in fields and spec.dialect is not None:
        values["dialect"] = check_dialect(spec.dialect)
    if "description" in fields:
        values["description"] = spec.description
    if "event_types" in fields:
        values["event_types"] = check_event_types(spec.event_types)
    if "rate_limit" in fields:
        values["rate_limit"] = spec.rate_limit
    if "fifo" in fields and spec.fifo is not None:
        values["fifo"] = spec.fifo
    if "headers" in fields:
        values["headers"] = check_headers(spec.headers)
    if "expires_in" in fields:  # a temporary endpoint extended (kasir listen keeps its own alive)
        values["expires_at"] = spec.expires_at
    if "enabled" in fields and spec.enabled is not None:
        values["enabled"] = spec.enabled
        if spec.enabled and not row["enabled"]:
            # Back from disabled: forget the failure streak that disabled it.
            values.update(disabled_reason=None, disabled_at=None, failing_since=None)
        elif not spec.enabled and row["enabled"]:
            values.update(disabled_reason="disabled by the merchant", disabled_at=now)
    conn.execute(update(endpoints).where(endpoints.c.id == row["id"]).values(**values))
    if values.get("enabled") is False and row["enabled"]:
        from kasir.delivery.queue import fail_pending_of_endpoint

        fail_pending_of_endpoint(conn, row["id"], "endpoint disabled by the merchant", now)
    return find_endpoint(conn, caller, public_id)


def delete_endpoint(conn: Connection, caller: Principal, public_id: str) -> None:
    row = find_endpoint(conn, caller, public_id)
    conn.execute(delete(endpoints).where(endpoints.c.id == row["id"]))


def rotate_endpoint_secret(
    conn: Connection, caller: Principal, public_id: str, settings: Settings, now: datetime
) -> tuple[RowMapping, str]:
    row = find_endpoint(conn, caller, public_id)
    secret = new_webhook_secret()
    until = _grace(row["dialect"], settings, now)
    conn.execute(
        update(endpoints)
        .where(endpoints.c.id == row["id"])
        .values(
            secret=secret,
            previous_secret=row["secret"] if until else None,
            previous_secret_expires_at=until,
            updated_at=now,
        )
    )
    return find_endpoint(conn, caller, public_id), secret


# --- redelivery and recovery ------------------------------------------------------------------


def find_delivery(conn: Connection, caller: Principal, public_id: str) -> RowMapping:
    row = (
        conn.execute(
            select(deliveries).where(
                deliveries.c.public_id == public_id,
                deliveries.c.merchant_id == caller.merchant_id,
                deliveries.c.mode == caller.mode,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"delivery {public_id} not found", code="delivery_not_found")
    return row


def _require_enabled(conn: Connection, endpoint_id: int | None) -> None:
    if endpoint_id is None:
        return
    enabled = conn.execute(select(endpoints.c.enabled).where(endpoints.c.id == endpoint_id)).scalar()
    if not enabled:
        raise Conflict("the endpoint is disabled; enable it before sending to it again", code="endpoint_disabled")


def redeliver(conn: Connection, caller: Principal, public_id: str, now: datetime) -> RowMapping:
    """Send a delivery's event to the same target again, as a new delivery with a fresh
    schedule; the old one and its attempts stay in the log as they were.

    A delivery still retrying is the same delivery tried now: whoever asks has just fixed the
    receiver and should not wait out the schedule (five minutes after the second try). One a
    worker is sending at this moment is left to that attempt."""
    old = find_delivery(conn, caller, public_id)
    _require_enabled(conn, old["endpoint_id"])
    if old["status"] == "pending":
        conn.execute(
            update(deliveries)
            .where(
                deliveries.c.id == old["id"],
                deliveries.c.status == "pending",
                or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until < now),
            )
            .values(next_attempt_at=now)
        )
        signal_new_deliveries(conn)
        return conn.execute(select(deliveries).where(deliveries.c.id == old["id"])).mappings().one()
    target = Target(old["url"], old["dialect"], old["endpoint_id"])
    if old["endpoint_id"] is not None:  # the endpoint as it is now, not as it was
        endpoint = conn.execute(
            select(endpoints.c.url, endpoints.c.dialect).where(endpoints.c.id == old["endpoint_id"])
        ).one()
        target = Target(endpoint.url, endpoint.dialect, old["endpoint_id"])
    enqueue(conn, old["event_id"], old["merchant_id"], old["mode"], [target], now)
    newest = (
        select(deliveries)
        .where(deliveries.c.event_id == old["event_id"], deliveries.c.url == target.url)
        .order_by(deliveries.c.id.desc())
        .limit(1)
    )
    return conn.execute(newest).mappings().one()


def recover(conn: Connection, caller: Principal, public_id: str, since: datetime, now: datetime) -> int:
    """Send again every event whose delivery to this endpoint failed since ``since`` and has not
    been delivered by a later try."""
    endpoint = find_endpoint(conn, caller, public_id)
    _require_enabled(conn, endpoint["id"])
    failed_events = set(
        conn.execute(
            select(deliveries.c.event_id).where(
                deliveries.c.endpoint_id == endpoint["id"],
                deliveries.c.status == "failed",
                deliveries.c.created_at >= since,
            )
        ).scalars()
    )
    settled = set(
        conn.execute(
            select(deliveries.c.event_id).where(
                deliveries.c.endpoint_id == endpoint["id"],
                deliveries.c.status.in_(("pending", "succeeded")),
                deliveries.c.event_id.in_(failed_events),
            )
        ).scalars()
    )
    todo = sorted(failed_events - settled)  # event order, for FIFO endpoints
    target = Target(endpoint["url"], endpoint["dialect"], endpoint["id"])
    for event_row_id in todo:
        enqueue(conn, event_row_id, caller.merchant_id, caller.mode, [target], now)
    return len(todo)


def list_events(
    conn: Connection, caller: Principal, *, event_type: str | None, since: datetime | None, limit: int
) -> list[RowMapping]:
    query = select(events).where(events.c.merchant_id == caller.merchant_id, events.c.mode == caller.mode)
    if event_type:
        query = query.where(events.c.type == event_type)
    if since:
        query = query.where(events.c.created_at >= since)
    return list(conn.execute(query.order_by(events.c.id.desc()).limit(limit)).mappings())


# A delivery as the callback log shows it: with its event's public id and type and its endpoint's.
DELIVERY_LOG = (
    select(
        deliveries,
        events.c.event_id.label("event_public_id"),
        events.c.type.label("event_type"),
        endpoints.c.public_id.label("endpoint_public_id"),
    )
    .join(events, events.c.id == deliveries.c.event_id)
    .outerjoin(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
)


def list_deliveries(
    conn: Connection,
    caller: Principal,
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
    query = DELIVERY_LOG.where(deliveries.c.merchant_id == caller.merchant_id, deliveries.c.mode == caller.mode)
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


def list_attempts(conn: Connection, caller: Principal, public_id: str) -> list[RowMapping]:
    """Every try of one delivery of this caller's, first to last."""
    delivery = find_delivery(conn, caller, public_id)
    return list(
        conn.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id == delivery["id"])
            .order_by(delivery_attempts.c.attempt)
        ).mappings()
    )


def count_due(conn: Connection, now: datetime) -> tuple[int, int, float]:
    """(pending, due now, age in seconds of the oldest due delivery) across all merchants.

    A delivery a worker holds (its lease not yet run out) is pending but not due: it is being
    sent, and counting it would show a queue waiting for workers that are in fact busy with it."""
    pending = int(
        conn.execute(select(func.count()).select_from(deliveries).where(deliveries.c.status == "pending")).scalar_one()
    )
    due_filter = (
        (deliveries.c.status == "pending")
        & (deliveries.c.next_attempt_at <= now)
        & or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until <= now)
    )
    due = int(conn.execute(select(func.count()).select_from(deliveries).where(due_filter)).scalar_one())
    oldest = conn.execute(select(func.min(deliveries.c.next_attempt_at)).where(due_filter)).scalar()
    from kasir.db.types import UTCDateTime

    if oldest is not None and not isinstance(oldest, datetime):  # SQLite's min() returns text
        oldest = UTCDateTime().process_result_value(datetime.fromisoformat(str(oldest)), conn.dialect)
    elif isinstance(oldest, datetime) and oldest.tzinfo is None:
        oldest = UTCDateTime().process_result_value(oldest, conn.dialect)
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return pending, due, max(0.0, age)

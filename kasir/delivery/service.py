"""What merchants do to their webhooks through the API (callback settings, endpoints, secret
rotation, redelivery, recovery and the callback log), and what Kasir does to an endpoint by
itself (disabling it). The rules live here; the statements are the tables' own modules'
(endpoints, callback_settings, callback_log, queue; docs/architecture.md, "Aggregates and their
owners"). No HTTP here and no commit, like every service."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping

from kasir import dialects
from kasir.config import Settings
from kasir.delivery import callback_log, callback_settings, hooks, queue
from kasir.delivery import endpoints as endpoint_rows
from kasir.delivery.dispatch import header_problem
from kasir.delivery.endpoints import new_endpoint_id
from kasir.delivery.hooks import DisableCause, EndpointDisabled
from kasir.delivery.outbox import EVENT_TYPES, Target, enqueue, record_event, signal_new_deliveries
from kasir.delivery.states import DISABLED_BY_MERCHANT, OFF, DeliveryStatus, endpoint_state
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
    row = callback_settings.get(conn, caller.merchant_id, caller.mode)
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
    callback_settings.change(conn, caller.merchant_id, caller.mode, values)
    return get_callback_settings(conn, caller)


def _grace(dialect: str, settings: Settings, now: datetime) -> datetime | None:
    """Dialects that carry several signatures sign with the old secret too for the grace
    period; the others cannot, so the new secret applies at once (as bayar.gg's regenerate)."""
    if dialect == "standard" and settings.secret_rotation_grace > 0:
        return now + timedelta(seconds=settings.secret_rotation_grace)
    return None


def _rotated(current: RowMapping, settings: Settings, now: datetime) -> tuple[dict[str, Any], str]:
    """A new secret, and the values that store it (the old one kept for its grace period)."""
    secret = new_webhook_secret()
    until = _grace(current["dialect"], settings, now)
    values = {
        "secret": secret,
        "previous_secret": current["secret"] if until else None,
        "previous_secret_expires_at": until,
        "updated_at": now,
    }
    return values, secret


def rotate_callback_secret(
    conn: Connection, caller: Principal, settings: Settings, now: datetime
) -> tuple[RowMapping, str]:
    values, secret = _rotated(get_callback_settings(conn, caller), settings, now)
    callback_settings.change(conn, caller.merchant_id, caller.mode, values)
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
    return endpoint_rows.insert_endpoint(
        conn,
        {
            "public_id": new_endpoint_id(),
            "merchant_id": caller.merchant_id,
            "mode": caller.mode,
            "url": spec.url,
            "dialect": check_dialect(spec.dialect or dialects.DEFAULT),
            "description": spec.description,
            "secret": new_webhook_secret(),
            "event_types": check_event_types(spec.event_types),
            "rate_limit": spec.rate_limit,
            "fifo": bool(spec.fifo),
            "headers": check_headers(spec.headers),
            "enabled": True,
            "expires_at": spec.expires_at,
            "created_at": now,
            "updated_at": now,
        },
    )


def find_endpoint(conn: Connection, caller: Principal, public_id: str) -> RowMapping:
    row = endpoint_rows.get_by_public_id(conn, caller.merchant_id, caller.mode, public_id)
    if row is None:
        raise NotFound(f"endpoint {public_id} not found", code="endpoint_not_found")
    return row


def list_endpoints(conn: Connection, caller: Principal) -> list[RowMapping]:
    return endpoint_rows.of_merchant(conn, caller.merchant_id, caller.mode)


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
    was_off = endpoint_state(row) in OFF
    if "enabled" in fields and spec.enabled is not None:
        values["enabled"] = spec.enabled
        if spec.enabled and was_off:
            # Back from disabled (by the merchant or by Kasir): active, the failure streak that
            # disabled it forgotten.
            values.update(disabled_reason=None, disabled_at=None, failing_since=None)
        elif not spec.enabled and not was_off:
            values.update(disabled_reason=DISABLED_BY_MERCHANT, disabled_at=now)
    endpoint_rows.change(conn, row["id"], values)
    if values.get("enabled") is False and not was_off:
        queue.fail_pending_of_endpoint(conn, row["id"], "endpoint disabled by the merchant", now)
    return find_endpoint(conn, caller, public_id)


def delete_endpoint(conn: Connection, caller: Principal, public_id: str) -> None:
    endpoint_rows.delete_endpoint(conn, find_endpoint(conn, caller, public_id)["id"])


def rotate_endpoint_secret(
    conn: Connection, caller: Principal, public_id: str, settings: Settings, now: datetime
) -> tuple[RowMapping, str]:
    row = find_endpoint(conn, caller, public_id)
    values, secret = _rotated(row, settings, now)
    endpoint_rows.change(conn, row["id"], values)
    return find_endpoint(conn, caller, public_id), secret


# --- Kasir disables an endpoint ---------------------------------------------------------------


def disabled_reason(cause: DisableCause, failing_for: float | None = None) -> str:
    """The ``disabled_reason`` an automatic disable stores (the API and the dashboard show it)."""
    if cause is DisableCause.GONE:
        return "the receiver answered 410 Gone"
    return f"no successful delivery for {(failing_for or 0) / 86400:g} days"


def disable_endpoint(
    conn: Connection, endpoint_id: int, cause: DisableCause, now: datetime, *, failing_for: float | None = None
) -> RowMapping | None:
    """Kasir turns an endpoint off: its queue fails, the merchant's other endpoints get
    ``endpoint.disabled``, and every ``hooks.on_endpoint_disabled`` hook runs (the owner's
    alert), all in the caller's transaction. None when it was off already (another worker
    disabled it first, and told everyone)."""
    reason = disabled_reason(cause, failing_for)
    row = endpoint_rows.disable(conn, endpoint_id, reason, now)
    if row is None:
        return None
    queue.fail_pending_of_endpoint(conn, endpoint_id, f"endpoint disabled: {reason}", now)
    record_event(
        conn,
        merchant_id=row["merchant_id"],
        mode=row["mode"],
        type="endpoint.disabled",
        payload=endpoint_disabled_payload(row, now),
        created_at=now,
        exclude_endpoint_id=endpoint_id,
    )
    hooks.endpoint_disabled(conn, EndpointDisabled(row, cause, now, failing_for))
    return row


def endpoint_disabled_payload(row: RowMapping, now: datetime) -> dict[str, Any]:
    return {
        "event": "endpoint.disabled",
        "endpoint_id": row["public_id"],
        "url": row["url"],
        "reason": row["disabled_reason"],
        "disabled_at": int(now.timestamp()),
        "timestamp": int(now.timestamp()),
    }


# --- redelivery and recovery ------------------------------------------------------------------


def find_delivery(conn: Connection, caller: Principal, public_id: str) -> RowMapping:
    row = callback_log.find_delivery(conn, caller.merchant_id, caller.mode, public_id)
    if row is None:
        raise NotFound(f"delivery {public_id} not found", code="delivery_not_found")
    return row


def _require_enabled(conn: Connection, endpoint_id: int | None) -> None:
    if endpoint_id is None:
        return
    if not endpoint_rows.is_enabled(conn, endpoint_id):
        raise Conflict("the endpoint is disabled; enable it before sending to it again", code="endpoint_disabled")


def redeliver(conn: Connection, caller: Principal, public_id: str, now: datetime) -> RowMapping:
    """Send a delivery's event to the same target again, as a new delivery with a fresh
    schedule; the old one and its attempts stay in the log as they were.

    A delivery still retrying is the same delivery tried now: whoever asks has just fixed the
    receiver and should not wait out the schedule (five minutes after the second try). One a
    worker is sending at this moment is left to that attempt."""
    old = find_delivery(conn, caller, public_id)
    _require_enabled(conn, old["endpoint_id"])
    if old["status"] == DeliveryStatus.PENDING:
        queue.make_due_now(conn, old["id"], now)
        signal_new_deliveries(conn)
        return callback_log.delivery_by_row_id(conn, old["id"])
    target = Target(old["url"], old["dialect"], old["endpoint_id"])
    if old["endpoint_id"] is not None:  # the endpoint as it is now, not as it was
        url, dialect = endpoint_rows.target_of(conn, old["endpoint_id"])
        target = Target(url, dialect, old["endpoint_id"])
    enqueue(conn, old["event_id"], old["merchant_id"], old["mode"], [target], now)
    return callback_log.newest_delivery(conn, old["event_id"], target.url)


def recover(conn: Connection, caller: Principal, public_id: str, since: datetime, now: datetime) -> int:
    """Send again every event whose delivery to this endpoint failed since ``since`` and has not
    been delivered by a later try."""
    endpoint = find_endpoint(conn, caller, public_id)
    _require_enabled(conn, endpoint["id"])
    todo = queue.events_to_recover(conn, endpoint["id"], since)
    target = Target(endpoint["url"], endpoint["dialect"], endpoint["id"])
    for event_row_id in todo:
        enqueue(conn, event_row_id, caller.merchant_id, caller.mode, [target], now)
    return len(todo)


# --- the callback log -------------------------------------------------------------------------


def list_events(
    conn: Connection, caller: Principal, *, event_type: str | None, since: datetime | None, limit: int
) -> list[RowMapping]:
    return callback_log.list_events(
        conn, caller.merchant_id, caller.mode, event_type=event_type, since=since, limit=limit
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
    """The callback log of the caller's mode, newest first (``callback_log.list_deliveries``)."""
    return callback_log.list_deliveries(
        conn,
        caller.merchant_id,
        caller.mode,
        endpoint_id=endpoint_id,
        status=status,
        limit=limit,
        event_type=event_type,
        since=since,
        until=until,
        before=before,
        after=after,
    )


def list_attempts(conn: Connection, caller: Principal, public_id: str) -> list[RowMapping]:
    """Every try of one delivery of this caller's, first to last."""
    return callback_log.attempts_of(conn, find_delivery(conn, caller, public_id)["id"])

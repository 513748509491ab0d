"""Raising an alert: one row, one event, one delivery per recipient, in the caller's transaction.

The messages are deliveries like any other (docs/alerts.md): dialect ``notifiers.CHANNEL``, url
``whatsapp:62…`` or ``email:…``, sent, retried and logged by the delivery worker, which writes
each message from the event's payload when it sends it (``kasir.alerts.messages``).

At most one alert per (merchant, mode, cause, subject) an hour: a cooldown row per key, moved
forward by a guarded UPDATE, so two transactions raising the same alert at once (two nodes'
sweeps) send it once. A test-mode alert and a live-mode one are different keys.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, update
from sqlalchemy.dialects import postgresql, sqlite

from kasir.alerts.recipients import recipients_of
from kasir.clock import to_wire
from kasir.db.tables import alert_cooldowns, owner_alerts
from kasir.delivery import notifiers
from kasir.delivery.outbox import Target, record_notice
from kasir.merchants import lookup

ENDPOINT_DISABLED = "endpoint_disabled"
SOURCE_SILENT = "source_silent"
CALLBACKS_FAILING = "callbacks_failing"
LINK_EXHAUSTED = "link_exhausted"
CAUSES = (ENDPOINT_DISABLED, SOURCE_SILENT, CALLBACKS_FAILING, LINK_EXHAUSTED)
# The rule: at most one alert per cause (and subject) an hour.
COOLDOWN = timedelta(hours=1)
# Alert events carry this prefix and the cause: ``alert.source_silent``. They go to the owner's
# recipients only, never to the merchant's webhook endpoints.
EVENT_PREFIX = "alert."


def new_alert_id() -> str:
    return "alr_" + secrets.token_hex(12)


def raise_alert(
    conn: Connection,
    *,
    merchant_id: int,
    mode: str,
    cause: str,
    subject: str,
    summary: str,
    page: str,
    now: datetime,
) -> bool:
    """Record an alert and queue its messages; False (and nothing written) when the same cause
    and subject alerted in this mode within the hour.

    ``subject``: the public id of what broke (an endpoint, a source, a link); ``summary``: one
    sentence, in Indonesian, saying what happened; ``page``: the dashboard path that shows it
    (``/dashboard/sources/src_…``), turned into a link with ``KASIR_PUBLIC_URL`` when sent."""
    if cause not in CAUSES:
        raise ValueError(f"unknown alert cause {cause!r}")
    if mode not in ("test", "live"):
        raise ValueError(f"unknown mode {mode!r}")
    if not page.startswith("/dashboard"):
        raise ValueError("an alert's page is a path under /dashboard")
    subject = subject[:80]
    if not _take_cooldown(conn, merchant_id, mode, cause, subject, now):
        return False
    alert_id = new_alert_id()
    merchant_name = lookup.name_of(conn, merchant_id)
    payload: dict[str, Any] = {
        "alert_id": alert_id,
        "merchant_name": merchant_name,
        "cause": cause,
        "subject": subject,
        "summary": summary,
        "page": page,
        "mode": mode,
        "raised_at": to_wire(now),
        "timestamp": int(now.timestamp()),
    }
    to = recipients_of(conn, merchant_id)
    targets = [Target(notifiers.recipient_address(to.whatsapp), notifiers.CHANNEL, None)] if to.whatsapp else []
    targets += [Target(notifiers.email_address(address), notifiers.CHANNEL, None) for address in to.emails]
    event_row_id = record_notice(
        conn,
        merchant_id=merchant_id,
        mode=mode,
        type=EVENT_PREFIX + cause,
        payload=payload,
        created_at=now,
        targets=targets,
    )
    conn.execute(
        insert(owner_alerts).values(
            public_id=alert_id,
            merchant_id=merchant_id,
            mode=mode,
            cause=cause,
            subject=subject,
            summary=summary,
            page=page,
            event_id=event_row_id,
            created_at=now,
        )
    )
    return True


def _take_cooldown(conn: Connection, merchant_id: int, mode: str, cause: str, subject: str, now: datetime) -> bool:
    """True when this transaction may alert on the key now (and has moved its cooldown on)."""
    key = {"merchant_id": merchant_id, "mode": mode, "cause": cause, "subject": subject}
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    first = conn.execute(
        dialect_insert(alert_cooldowns)
        .values(**key, last_raised_at=now)
        .on_conflict_do_nothing()
        .returning(alert_cooldowns.c.id)
    ).first()
    if first is not None:
        return True
    # On PostgreSQL a racing transaction's insert makes ours wait and then do nothing; this
    # UPDATE then reads its committed row, whose time is too recent, and moves nothing.
    moved = conn.execute(
        update(alert_cooldowns)
        .where(
            alert_cooldowns.c.merchant_id == merchant_id,
            alert_cooldowns.c.mode == mode,
            alert_cooldowns.c.cause == cause,
            alert_cooldowns.c.subject == subject,
            alert_cooldowns.c.last_raised_at <= now - COOLDOWN,
        )
        .values(last_raised_at=now)
    ).rowcount
    return bool(moved)

"""Source health: noticing that a phone stopped reporting (docs/sources.md).

A phone dies, loses its network, or has its listener killed by a battery saver, and from then on
buyers pay and nothing confirms. So every ingest and every heartbeat is a sign of life, and a
source that gave none for ``KASIR_SOURCE_SILENT_AFTER`` seconds is ``silent``: ``source.silent``
goes to the merchant's endpoints, and ``source.recovered`` when it speaks again. Both events are
written in the transaction that changes the state, through the outbox, like every other event.

States: ``new`` (never heard from: nothing to miss yet), ``live``, ``silent``. Each change is one
guarded ``UPDATE`` (the state it leaves in its ``WHERE``), so two nodes sweeping at once, or a
heartbeat racing the sweep, emit each event once.

A source going silent also alerts the owner, in the same transaction, at most once an hour per
source: kasir.alerts registers on ``went_silent`` (docs/alerts.md), which sources cannot import.

A source that only receives Moota's pushes is never silent: Moota sends when money moves, not
to say it is alive.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from kasir.clock import to_wire
from kasir.db import statements
from kasir.db.statements import Conn, Statement
from kasir.db.tables import payment_sources
from kasir.delivery.outbox import record_event
from kasir.hooks import Hook
from kasir.merchants import lookup
from kasir.sources.registry import MOOTA_APP, apps_of, is_watched

SWEEP_BATCH = 200


class SourceState(StrEnum):
    """``payment_sources.state``."""

    NEW = "new"  # never heard from: nothing to miss yet
    LIVE = "live"
    SILENT = "silent"


# (conn, the source row just marked silent, now): in the sweep's transaction.
went_silent: Hook[[Connection, Mapping[Any, Any], datetime]] = Hook("source went silent")


def event_payload(row: Mapping[str, Any], event_type: str, now: datetime) -> dict[str, Any]:
    # What goes quiet with the phone: its apps, not Moota's pushes.
    apps = {package: channel for package, channel in apps_of(row).items() if package != MOOTA_APP}
    return {
        "event": event_type,
        "source_id": row["public_id"],
        "name": row["name"],
        "state": row["state"],
        "channels": sorted(set(apps.values())),
        "apps": sorted(apps),
        "last_seen_at": to_wire(row["last_seen_at"]),
        "silent_since": to_wire(row["silent_since"]),
        "mode": row["mode"],
        "timestamp": int(now.timestamp()),
    }


def sign_of_life(
    conn: Connection,
    source: Mapping[str, Any],
    now: datetime,
    *,
    forwarder: str | None = None,
    queued: int | None = None,
) -> None:
    """The source spoke at ``now``: it is live, and if it was silent, ``source.recovered``."""
    values: dict[str, Any] = {"state": SourceState.LIVE, "last_seen_at": now, "silent_since": None}
    if forwarder is not None:
        values["forwarder"] = forwarder
    if queued is not None:
        values["queued"] = queued
    # Not silent: a plain update, which (on PostgreSQL) holds the row until commit, so a sweep
    # waiting on it finds it fresh and leaves it. Silent: the guarded update that records the
    # recovery; done second, so that a sweep committing in between cannot be overwritten unseen.
    changed = conn.execute(
        update(payment_sources)
        .where(payment_sources.c.id == source["id"], payment_sources.c.state != SourceState.SILENT)
        .values(**values)
    ).rowcount
    if changed:
        return
    recovered = (
        conn.execute(
            update(payment_sources)
            .where(payment_sources.c.id == source["id"], payment_sources.c.state == SourceState.SILENT)
            .values(**values)
            .returning(*payment_sources.c)
        )
        .mappings()
        .first()
    )
    if recovered is not None:  # None: another sign of life recovered it first, and said so
        record_event(
            conn,
            merchant_id=recovered["merchant_id"],
            mode=recovered["mode"],
            type="source.recovered",
            payload=event_payload(dict(recovered), "source.recovered", now),
            created_at=now,
        )


def sweep(conn: Connection, now: datetime, silent_after: float) -> int:
    """Mark the live sources that gave no sign of life for ``silent_after`` seconds silent, each
    with its ``source.silent``; how many were."""
    cutoff = now - timedelta(seconds=silent_after)
    candidates = list(
        conn.execute(
            select(payment_sources.c.id)
            .where(
                payment_sources.c.state == SourceState.LIVE,
                payment_sources.c.watched.is_(True),
                payment_sources.c.last_seen_at < cutoff,
            )
            .order_by(payment_sources.c.last_seen_at)
            .limit(SWEEP_BATCH)
        ).scalars()
    )
    silenced = 0
    for source_id in candidates:
        row = (
            conn.execute(
                update(payment_sources)
                .where(
                    payment_sources.c.id == source_id,
                    payment_sources.c.state == SourceState.LIVE,
                    payment_sources.c.last_seen_at < cutoff,
                )
                .values(state=SourceState.SILENT, silent_since=now)
                .returning(*payment_sources.c)
            )
            .mappings()
            .first()
        )
        if row is None:
            continue  # it spoke meanwhile, or another node got there first
        record_event(
            conn,
            merchant_id=row["merchant_id"],
            mode=row["mode"],
            type="source.silent",
            payload=event_payload(dict(row), "source.silent", now),
            created_at=now,
        )
        went_silent(conn, row, now)
        silenced += 1
    return silenced


_STATES: Statement[dict[str, Any]] = Statement(
    select(payment_sources.c.state, payment_sources.c.apps).where(
        payment_sources.c.merchant_id == bindparam("merchant_id"), payment_sources.c.mode == bindparam("mode")
    ),
    name="source_states",
)


def silent_channels(conn: Conn, merchant_id: int, mode: str) -> frozenset[str]:
    """The channels some watched source of the merchant covers and no live one does: a payment on
    one of them will not confirm by itself until a phone speaks again."""
    covered: set[str] = set()
    live: set[str] = set()
    for row in statements.rows(conn, _STATES, {"merchant_id": merchant_id, "mode": mode}):
        state, apps = row["state"], row["apps"]
        mapped = apps_of({"apps": apps})
        if not is_watched(mapped):
            continue
        channels = {channel for package, channel in mapped.items() if package != MOOTA_APP}
        covered |= channels
        if state == SourceState.LIVE:
            live |= channels
    return frozenset(covered - live)


def metric_lines(conn: Connection, now: datetime) -> list[str]:
    """``/metrics``: each watched source's state and how long since it last spoke."""
    rows = conn.execute(
        lookup.with_merchant(
            select(
                payment_sources.c.public_id,
                payment_sources.c.mode,
                payment_sources.c.state,
                payment_sources.c.apps,
                payment_sources.c.last_seen_at,
                payment_sources.c.created_at,
            ),
            payment_sources.c.merchant_id,
            username="username",
        ).order_by(payment_sources.c.id)
    ).mappings()
    age = [
        "# HELP kasir_source_last_seen_age_seconds Seconds since a payment source last sent a notification or "
        "heartbeat (since it was created, when never).",
        "# TYPE kasir_source_last_seen_age_seconds gauge",
    ]
    silent = [
        "# HELP kasir_source_silent 1 when a payment source is silent (no sign of life for KASIR_SOURCE_SILENT_AFTER).",
        "# TYPE kasir_source_silent gauge",
    ]
    for row in rows:
        public_id, mode, state, username = row["public_id"], row["mode"], row["state"], row["username"]
        last_seen, created = row["last_seen_at"], row["created_at"]
        if not is_watched(apps_of({"apps": row["apps"]})):
            continue
        # Ids and usernames are [a-z0-9_]: nothing in a label needs escaping.
        labels = f'source="{public_id}",merchant="{username}",mode="{mode}"'
        seconds = max(0.0, (now - (last_seen or created)).total_seconds())
        age.append(f"kasir_source_last_seen_age_seconds{{{labels}}} {seconds:.3f}")
        silent.append(f"kasir_source_silent{{{labels}}} {1 if state == 'silent' else 0}")
    return age + silent

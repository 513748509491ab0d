"""The sweeps: the periodic passes of the background (kasir/background, docs/architecture.md,
"Background duties"), each one duty of its own there, run every ``KASIR_SWEEP_INTERVAL``:

- ``expiry``: pending payments past due become expired;
- ``source-health``: payment sources that stopped reporting become silent (docs/sources.md);
- ``alerts``: the owner is told about callbacks failing too long (docs/alerts.md);
- ``housekeeping``: old idempotency keys, ended dashboard sessions, long-ended invitations and
  attempts past their retention period are forgotten.

Each is safe to run on several nodes at once (see ``expire_due`` and kasir.sources.health), and
works in small batches so that a backlog never holds the SQLite write lock for long.
``sweep_once`` runs them all, in that order: one whole pass, for tests and tools.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import Connection

from kasir.alerts.checks import check_failing_callbacks
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.delivery.queue import forget_attempts_older_than
from kasir.idempotency import forget_older_than
from kasir.payments.service import expire_due
from kasir.sources import health
from kasir.team import invitations, sessions

log = logging.getLogger("kasir.sweeper")

BATCH = 500

Sweep = Callable[[Database, Settings], Awaitable[int]]


async def expire_payments(db: Database, settings: Settings) -> int:
    """Every pending payment past due, expired, in batches of BATCH; how many were."""
    expired = 0

    def expire_batch(conn: Connection) -> int:
        return expire_due(conn, utcnow(), settings.public_url, limit=BATCH)

    while True:
        count = await db.write(expire_batch)
        expired += count
        if count < BATCH:
            break
    if expired:
        log.info("expired %d payment(s)", expired)
    return expired


async def check_source_health(db: Database, settings: Settings) -> int:
    """Live sources quiet for ``KASIR_SOURCE_SILENT_AFTER``, marked silent; how many were."""
    now = utcnow()
    silenced = await db.write(lambda conn: health.sweep(conn, now, settings.source_silent_after))
    if silenced:
        log.warning("%d payment source(s) went silent", silenced)
    return silenced


async def check_alerts(db: Database, settings: Settings) -> int:
    """Callbacks failing for ``KASIR_ALERT_CALLBACKS_FAILING_AFTER``, alerted; how many alerts."""
    now = utcnow()
    alerted = await db.write(lambda conn: check_failing_callbacks(conn, now, settings.alert_callbacks_failing_after))
    if alerted:
        log.warning("alerted %d owner(s) about callbacks failing", alerted)
    return alerted


async def housekeeping(db: Database, settings: Settings) -> int:
    """Forget what has outlived its use; how many idempotency keys were."""
    now = utcnow()
    forgotten: int = await db.write(lambda conn: forget_older_than(conn, now, settings.idempotency_ttl))
    await db.write(lambda conn: sessions.forget_expired(conn, now, settings.dashboard_idle_timeout))
    await db.write(lambda conn: invitations.forget_ended(conn, now))
    await db.write(lambda conn: forget_attempts_older_than(conn, now - timedelta(days=settings.attempt_retention_days)))
    return forgotten


# The sweeps by the name of their duty, in the order of a whole pass.
SWEEPS: dict[str, Sweep] = {
    "expiry": expire_payments,
    "source-health": check_source_health,
    "alerts": check_alerts,
    "housekeeping": housekeeping,
}


async def sweep_once(db: Database, settings: Settings) -> int:
    """Every sweep once, in order; how many payments expired."""
    expired = 0
    for name, sweep in SWEEPS.items():
        done = await sweep(db, settings)
        if name == "expiry":
            expired = done
    return expired

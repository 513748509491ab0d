"""The background sweeper of `kasir serve` and `kasir worker`: expires pending payments past
due, marks payment sources that stopped reporting silent, alerts the owner about callbacks
failing too long (docs/alerts.md), forgets old idempotency keys, ended dashboard sessions and long-ended invitations,
and trims the attempt log to its retention period.

Safe to run on several nodes at once (see ``expire_due``); each pass works in small batches so a
backlog never holds the SQLite write lock for long.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import Connection

from kasir.alerts.checks import check_failing_callbacks
from kasir.api.idempotency import forget_older_than
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.dashboard import invitations, sessions
from kasir.db.engine import Database
from kasir.delivery.queue import forget_attempts_older_than
from kasir.payments.service import expire_due
from kasir.sources import health

log = logging.getLogger("kasir.sweeper")

BATCH = 500


async def sweep_once(db: Database, settings: Settings) -> int:
    expired = 0

    def expire_batch(conn: Connection) -> int:
        return expire_due(conn, utcnow(), settings.public_url, limit=BATCH)

    while True:
        count = await db.write(expire_batch)
        expired += count
        if count < BATCH:
            break
    now = utcnow()
    silenced = await db.write(lambda conn: health.sweep(conn, now, settings.source_silent_after))
    if silenced:
        log.warning("%d payment source(s) went silent", silenced)
    alerted = await db.write(lambda conn: check_failing_callbacks(conn, now, settings.alert_callbacks_failing_after))
    if alerted:
        log.warning("alerted %d owner(s) about callbacks failing", alerted)
    await db.write(lambda conn: forget_older_than(conn, now, settings.idempotency_ttl))
    await db.write(lambda conn: sessions.forget_expired(conn, now, settings.dashboard_idle_timeout))
    await db.write(lambda conn: invitations.forget_ended(conn, now))
    await db.write(lambda conn: forget_attempts_older_than(conn, now - timedelta(days=settings.attempt_retention_days)))
    return expired


async def run_sweeper(db: Database, settings: Settings) -> None:
    while True:
        try:
            expired = await sweep_once(db, settings)
            if expired:
                log.info("expired %d payment(s)", expired)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A database blip must not kill the sweeper; the next pass picks up where this failed.
            log.exception("expiry sweep failed; retrying in %.0f s", settings.sweep_interval)
        await asyncio.sleep(settings.sweep_interval)

"""The sweeper's periodic check for callbacks that keep failing (docs/alerts.md).

An endpoint is failing from its first failed try after its last success (``failing_since``,
kept by the delivery queue); the merchant's default callback URL has no row of its own, so its
deliveries that were tried and are still pending stand for it. Past
``KASIR_ALERT_CALLBACKS_FAILING_AFTER`` the owner is told, once per failing streak: an alert
already raised since the streak began is enough, however long it lasts (Kasir disables an
endpoint after ``KASIR_ENDPOINT_DISABLE_AFTER``, and that is an alert of its own).

Kasir's own messages (buyer messages, alerts: dialect ``notifier``) are not callbacks: an alert
that cannot be sent must not raise another.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, exists, select

from kasir.alerts import causes
from kasir.alerts.service import CALLBACKS_FAILING
from kasir.db.tables import owner_alerts
from kasir.delivery import endpoints, queue


def check_failing_callbacks(conn: Connection, now: datetime, failing_after: float) -> int:
    """Raise ``callbacks_failing`` for what has failed longer than ``failing_after`` seconds;
    how many alerts were raised."""
    cutoff = now - timedelta(seconds=failing_after)
    raised = 0
    for endpoint in endpoints.lasting_failing_before(conn, cutoff):
        if _alerted_since(
            conn, endpoint["merchant_id"], endpoint["mode"], endpoint["public_id"], endpoint["failing_since"]
        ):
            continue
        raised += causes.endpoint_failing(conn, endpoint, now)
    for failing in queue.failing_callback_urls(conn, cutoff):
        if _alerted_since(conn, failing.merchant_id, failing.mode, causes.CALLBACK_URL_SUBJECT, failing.since):
            continue
        raised += causes.callback_url_failing(
            conn, merchant_id=failing.merchant_id, mode=failing.mode, url=failing.url, since=failing.since, now=now
        )
    return raised


def _alerted_since(conn: Connection, merchant_id: int, mode: str, subject: str, since: datetime) -> bool:
    return bool(
        conn.execute(
            select(
                exists().where(
                    owner_alerts.c.merchant_id == merchant_id,
                    owner_alerts.c.cause == CALLBACKS_FAILING,
                    owner_alerts.c.subject == subject,
                    owner_alerts.c.mode == mode,
                    owner_alerts.c.created_at >= since,
                )
            )
        ).scalar()
    )

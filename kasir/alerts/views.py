"""Alerts as the dashboard shows them: each with the messages it sent and their delivery state
(docs/alerts.md), and the count the overview can show as a banner."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from kasir.db.tables import owner_alerts
from kasir.delivery import callback_log, notifiers
from kasir.delivery.states import DeliveryStatus

RECENT = timedelta(hours=24)


def _shown_recipient(url: str) -> tuple[str, str]:
    """(medium, address as the list shows it): masked, as the attempt log masks a number."""
    medium = notifiers.medium(url)
    address = notifiers.recipient(url)
    return medium, notifiers.masked_email(address) if medium == "email" else notifiers.masked_phone(address)


def list_alerts(
    conn: Connection, merchant_id: int, mode: str, *, limit: int, before: str | None = None
) -> list[dict[str, Any]]:
    """The alerts of one merchant and mode, newest first, each with ``messages``: its deliveries
    (``id``, ``medium``, ``to``, ``status``, ``attempts``, ``last_status_code``, ``last_error``).
    ``before``: the page older than the alert with that public id."""
    query = select(owner_alerts).where(owner_alerts.c.merchant_id == merchant_id, owner_alerts.c.mode == mode)
    if before:
        before_id = conn.execute(
            select(owner_alerts.c.id).where(
                owner_alerts.c.public_id == before,
                owner_alerts.c.merchant_id == merchant_id,
                owner_alerts.c.mode == mode,
            )
        ).scalar()
        if before_id is None:
            return []
        query = query.where(owner_alerts.c.id < before_id)
    rows = [dict(r) for r in conn.execute(query.order_by(owner_alerts.c.id.desc()).limit(limit)).mappings()]
    sent: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for d in callback_log.deliveries_of_events(conn, merchant_id, mode, [r["event_id"] for r in rows]):
        medium, to = _shown_recipient(d["url"])
        sent[d["event_id"]].append(
            {
                "id": d["public_id"],
                "medium": medium,
                "to": to,
                "status": d["status"],
                "attempts": d["attempts"],
                "last_status_code": d["last_status_code"],
                "last_error": d["last_error"],
            }
        )
    for row in rows:
        row["messages"] = sent.get(row["event_id"], [])
    return rows


@dataclass(frozen=True, slots=True)
class RecentAlerts:
    """For the overview's banner: alerts raised in the last 24 hours, and the newest one."""

    count: int
    latest_cause: str | None
    latest_summary: str | None
    latest_at: datetime | None
    failed_messages: int  # of those alerts' messages, how many could not be sent at all


def recent_alerts(conn: Connection, merchant_id: int, mode: str, now: datetime) -> RecentAlerts:
    """What the overview can show: ``count`` alerts in the last 24 hours (0: show nothing), the
    newest one's cause and summary, and how many of their messages failed (the owner was not
    told: the page is then the only place the alert is seen)."""
    since = now - RECENT
    scope = (owner_alerts.c.merchant_id == merchant_id, owner_alerts.c.mode == mode, owner_alerts.c.created_at >= since)
    count = int(conn.execute(select(func.count()).select_from(owner_alerts).where(*scope)).scalar_one())
    if not count:
        return RecentAlerts(0, None, None, None, 0)
    latest = (
        conn.execute(select(owner_alerts).where(*scope).order_by(owner_alerts.c.id.desc()).limit(1)).mappings().one()
    )
    event_ids = list(conn.execute(select(owner_alerts.c.event_id).where(*scope)).scalars())
    failed = callback_log.count_of_events(conn, event_ids, DeliveryStatus.FAILED)
    return RecentAlerts(count, latest["cause"], latest["summary"], latest["created_at"], failed)

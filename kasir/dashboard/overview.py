"""What the overview page shows a shop owner at a glance, read for one merchant in one mode."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select

from kasir.clock import today_wib, wib_day_start
from kasir.db.tables import deliveries, endpoints, events, payments
from kasir.merchants.service import Principal
from kasir.payments import stats
from kasir.sources import registry


def figures(conn: Connection, principal: Principal, now: datetime) -> dict[str, Any]:
    today = today_wib(now)
    periods = {
        "today": wib_day_start(today),
        "last_7_days": wib_day_start(today - timedelta(days=6)),
        "this_month": wib_day_start(today.replace(day=1)),
    }
    found = {name: stats.figures_since(conn, principal, start) for name, start in periods.items()}
    pending = conn.execute(
        select(payments.c.id)
        .where(
            payments.c.merchant_id == principal.merchant_id,
            payments.c.mode == principal.mode,
            payments.c.status == "pending",
            payments.c.expires_at > now,
        )
        .limit(1000)
    ).all()
    return {"periods": found, "pending_now": len(pending)}


def failing_endpoints(conn: Connection, principal: Principal) -> list[dict[str, Any]]:
    """Endpoints failing since their last success, or disabled."""
    rows = conn.execute(
        select(endpoints)
        .where(
            endpoints.c.merchant_id == principal.merchant_id,
            endpoints.c.mode == principal.mode,
            endpoints.c.expires_at.is_(None),
            or_(endpoints.c.failing_since.is_not(None), endpoints.c.enabled.is_(False)),
        )
        .order_by(endpoints.c.id)
    ).mappings()
    return [dict(row) for row in rows]


def oldest_pending_delivery(conn: Connection, principal: Principal) -> dict[str, Any] | None:
    row = (
        conn.execute(
            select(deliveries, events.c.type.label("event_type"), events.c.event_id.label("event_public_id"))
            .join(events, events.c.id == deliveries.c.event_id)
            .where(
                deliveries.c.merchant_id == principal.merchant_id,
                deliveries.c.mode == principal.mode,
                deliveries.c.status == "pending",
            )
            .order_by(deliveries.c.created_at, deliveries.c.id)
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def sources(conn: Connection, principal: Principal) -> list[dict[str, Any]]:
    return registry.list_sources(conn, principal)

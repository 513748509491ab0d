"""What the overview page shows a shop owner at a glance, read for one merchant in one mode."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from kasir.clock import today_wib, wib_day_start
from kasir.delivery import callback_log, endpoints
from kasir.merchants.service import Principal
from kasir.payments import listing, stats
from kasir.sources import registry


def figures(conn: Connection, principal: Principal, now: datetime) -> dict[str, Any]:
    today = today_wib(now)
    periods = {
        "today": wib_day_start(today),
        "last_7_days": wib_day_start(today - timedelta(days=6)),
        "this_month": wib_day_start(today.replace(day=1)),
    }
    found = {name: stats.figures_since(conn, principal, start) for name, start in periods.items()}
    return {"periods": found, "pending_now": listing.count_pending(conn, principal, now)}


def failing_endpoints(conn: Connection, principal: Principal) -> list[dict[str, Any]]:
    """Endpoints failing since their last success, or disabled."""
    return endpoints.troubled(conn, principal.merchant_id, principal.mode)


def oldest_pending_delivery(conn: Connection, principal: Principal) -> dict[str, Any] | None:
    return callback_log.oldest_pending(conn, principal.merchant_id, principal.mode)


def sources(conn: Connection, principal: Principal) -> list[dict[str, Any]]:
    return registry.list_sources(conn, principal)

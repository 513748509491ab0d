"""The overview: today's money, what is pending, failing callbacks, the phones' health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection

from kasir.alerts import views as alert_views
from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.dashboard import chart, overview
from kasir.dashboard.texts import TEXTS
from kasir.dashboard.web import BUILDERS, EVERYONE, PREFIX, DashboardRoute, language, may, principal, render, signed_in
from kasir.payments import stats
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
NAV_ENTRY = (PREFIX, "overview", EVERYONE)

CHART_DAYS = 14
# The chart is an image: its inline styles are its own, and it runs no script.
_CHART_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@router.get(PREFIX)
async def overview_page(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    state = app_state(request)
    caller = principal(visitor)
    now = utcnow()
    # A cashier sees the money received and the payments paid; the endpoints, callbacks, sources
    # and what is still pending are the owner's and the developer's (docs/dashboard.md, "Team
    # roles"), so they are not even read for a cashier.
    integration = may(visitor, BUILDERS)

    def read(conn: Connection) -> dict[str, Any]:
        found = overview.figures(conn, caller, now)
        if integration:
            found["failing"] = overview.failing_endpoints(conn, caller)
            found["oldest"] = overview.oldest_pending_delivery(conn, caller)
            found["sources"] = overview.sources(conn, caller)
            found["alerts"] = alert_views.recent_alerts(conn, caller.merchant_id, caller.mode, now)
        return found

    found = await state.db.read(read)
    return render(
        request, "dashboard/overview.html", {**found, "now": now, "integration": integration}, visitor=visitor
    )


@router.get(f"{PREFIX}/chart.svg")
async def received_chart(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    state = app_state(request)
    caller = principal(visitor)
    now = utcnow()
    days = await state.db.read(lambda conn: stats.received_by_day(conn, caller, CHART_DAYS, now))
    svg = chart.received_svg(days, TEXTS[language(request)]["chart_title"])
    return Response(svg, media_type="image/svg+xml", headers=_CHART_HEADERS)

"""Statistics by payment method and WIB period: the figures of the API's ``get-statistics``
(kasir.payments.stats, the same function and periods), with a chart of the money per method.

The chart is an image of its own (``chart.svg``), as the overview's is (kasir.dashboard.chart):
pygal's SVG carries inline styles, which an image may hold and the page's CSP forbids.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from kasir.api.deps import expire_stale_payments
from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.dashboard import chart
from kasir.dashboard.web import BUILDERS, PREFIX, DashboardRoute, allowed, language, principal, render
from kasir.errors import InvalidRequest
from kasir.payments.methods import METHODS
from kasir.payments.stats import PERIODS, statistics
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/statistics"
NAV_ENTRY = (BASE, "statistics", BUILDERS)
DEFAULT_PERIOD = "month"
# An image's own policy: its inline styles are pygal's, and it runs no script.
_CHART_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "sta_intro": (
            "Pembayaran per metode dalam satu periode kalender WIB. Dibuat: pembayaran yang dibuat "
            "dalam periode ini; dibayar: pembayaran yang lunas dalam periode ini."
        ),
        "sta_period_all": "Semua",
        "sta_period_today": "Hari ini",
        "sta_period_week": "Minggu ini",
        "sta_period_month": "Bulan ini",
        "sta_period_year": "Tahun ini",
        "sta_periods": "Periode",
        "sta_received": "Uang masuk",
        "sta_received_hint": "termasuk kode unik",
        "sta_paid": "Dibayar",
        "sta_created": "Dibuat",
        "sta_pending": "Menunggu",
        "sta_expired": "Kedaluwarsa",
        "sta_cancelled": "Dibatalkan",
        "sta_by_method": "Per metode",
        "sta_method": "Metode",
        "sta_count": "Dibayar",
        "sta_amount": "Nominal",
        "sta_total": "Jumlah",
        "sta_chart_title": "Nominal dibayar per metode · {period}",
        "sta_chart_alt": "Grafik nominal dibayar per metode, {period}",
    },
    "en": {
        "sta_intro": (
            "Payments by method over one WIB calendar period. Created: the payments made in the "
            "period; paid: the payments paid in it."
        ),
        "sta_period_all": "All time",
        "sta_period_today": "Today",
        "sta_period_week": "This week",
        "sta_period_month": "This month",
        "sta_period_year": "This year",
        "sta_periods": "Period",
        "sta_received": "Received",
        "sta_received_hint": "unique codes included",
        "sta_paid": "Paid",
        "sta_created": "Created",
        "sta_pending": "Pending",
        "sta_expired": "Expired",
        "sta_cancelled": "Cancelled",
        "sta_by_method": "By method",
        "sta_method": "Method",
        "sta_count": "Paid",
        "sta_amount": "Amount",
        "sta_total": "Total",
        "sta_chart_title": "Amount paid by method · {period}",
        "sta_chart_alt": "Chart of the amount paid by method, {period}",
    },
}


def _period(request: Request) -> str:
    period = request.query_params.get("period") or DEFAULT_PERIOD
    if period not in PERIODS:
        raise InvalidRequest(f"period must be one of {', '.join(PERIODS)}", field="period", code="invalid_period")
    return period


async def _figures(request: Request, visitor: Visitor, period: str) -> dict[str, Any]:
    state = app_state(request)
    caller = principal(visitor)
    # As get-statistics does: payments past due are expired first, so that "pending" is true.
    await expire_stale_payments(state, caller)
    now = utcnow()
    return await state.db.read(lambda conn: statistics(conn, caller, period, now))


def _by_method(figures: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": method.id,
            "name": method.name,
            "count": figures["breakdown"][method.id],
            "amount": figures["breakdown_amount"][method.id],
        }
        for method in METHODS.values()
    ]


@router.get(BASE)
async def statistics_page(request: Request, visitor: Visitor = Depends(allowed(BUILDERS))) -> Response:
    period = _period(request)
    figures = await _figures(request, visitor, period)
    context = {"period": period, "periods": PERIODS, "figures": figures, "methods": _by_method(figures)}
    return render(request, "dashboard/statistics.html", context, visitor=visitor, words=WORDS)


@router.get(BASE + "/chart.svg")
async def statistics_chart(request: Request, visitor: Visitor = Depends(allowed(BUILDERS))) -> Response:
    period = _period(request)
    figures = await _figures(request, visitor, period)
    words = WORDS[language(request)]
    title = words["sta_chart_title"].format(period=words[f"sta_period_{period}"])
    svg = chart.by_method_svg([(m["name"], m["count"], m["amount"]) for m in _by_method(figures)], title)
    return Response(svg, media_type="image/svg+xml", headers=_CHART_HEADERS)

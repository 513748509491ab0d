"""Statistics by method and period, with a chart."""

from __future__ import annotations

from fastapi import APIRouter

from kasir.dashboard.web import BUILDERS, PREFIX, DashboardRoute

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/statistics"
NAV_ENTRY = (BASE, "statistics", BUILDERS)

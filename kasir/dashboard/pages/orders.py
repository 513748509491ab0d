"""WA Store orders (seed 004): listed, processed, completed, cancelled, paid later."""

from __future__ import annotations

from fastapi import APIRouter

from kasir.dashboard.web import EVERYONE, PREFIX, DashboardRoute

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/orders"
NAV_ENTRY = (BASE, "orders", EVERYONE)

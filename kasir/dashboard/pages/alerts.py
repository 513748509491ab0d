"""Alerts to the owner: what broke, when, and where they were sent."""

from __future__ import annotations

from fastapi import APIRouter

from kasir.dashboard.web import BUILDERS, PREFIX, DashboardRoute

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/alerts"
NAV_ENTRY = (BASE, "alerts", BUILDERS)

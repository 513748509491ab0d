"""The team: invite users with a role, remove them (owners only)."""

from __future__ import annotations

from fastapi import APIRouter

from kasir.dashboard.web import OWNER, PREFIX, DashboardRoute

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/team"
NAV_ENTRY = (BASE, "team", OWNER)

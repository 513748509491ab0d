"""API keys: rotated here, the new one shown once."""

from __future__ import annotations

from fastapi import APIRouter

from kasir.dashboard.web import BUILDERS, PREFIX, DashboardRoute

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/keys"
NAV_ENTRY = (BASE, "keys", BUILDERS)

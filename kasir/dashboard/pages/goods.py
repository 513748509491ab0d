"""Digital goods: files, contents and product photos (issue 6's catalog)."""

from __future__ import annotations

from fastapi import APIRouter

from kasir.dashboard.web import BUILDERS, PREFIX, DashboardRoute

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/goods"
NAV_ENTRY = (BASE, "goods", BUILDERS)

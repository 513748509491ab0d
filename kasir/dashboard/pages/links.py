"""Payment links (issue 19): made here, shared to WhatsApp, each buyer gets their own payment."""

from __future__ import annotations

from fastapi import APIRouter

from kasir.dashboard.web import BUILDERS, PREFIX, DashboardRoute

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/links"
NAV_ENTRY = (BASE, "links", BUILDERS)

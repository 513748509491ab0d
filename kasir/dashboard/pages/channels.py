"""The merchant's channels: its static QRIS (pasted or a photo) and OVO number."""

from __future__ import annotations

from fastapi import APIRouter

from kasir.dashboard.web import OWNER, PREFIX, DashboardRoute

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/channels"
NAV_ENTRY = (BASE, "channels", OWNER)

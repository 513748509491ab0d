"""The dashboard's pages, one module per area, each an APIRouter of DashboardRoute routes and,
when it has a place in the navigation, a ``NAV_ENTRY`` (path, the texts' key of its name, the roles
it is shown to: kasir.dashboard.web)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request, Response

from kasir.dashboard.pages import (
    alerts,
    channels,
    goods,
    keys,
    links,
    orders,
    overview,
    payments,
    reconciliation,
    session,
    sources,
    statistics,
    team,
    webhooks,
)
from kasir.dashboard.web import NAV, PREFIX, DashboardRoute, signed_in
from kasir.errors import NotFound
from kasir.team.sessions import Visitor

# Last: any other dashboard URL is the sign-in without a session, and "not found" with one.
_unknown = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@_unknown.get(PREFIX + "/{rest:path}")
async def unknown_page(request: Request, rest: str, visitor: Visitor = Depends(signed_in)) -> Response:
    raise NotFound(f"there is no dashboard page {request.url.path}", code="page_not_found")


# In the navigation's order.
MODULES = (
    overview,
    payments,
    links,
    orders,
    goods,
    statistics,
    webhooks,
    reconciliation,
    sources,
    channels,
    keys,
    alerts,
    team,
    session,
)


def include(app: FastAPI) -> None:
    NAV.clear()
    for module in MODULES:
        app.include_router(module.router)
        entry = getattr(module, "NAV_ENTRY", None)
        if entry is not None:
            NAV.append(entry)
    app.include_router(_unknown)

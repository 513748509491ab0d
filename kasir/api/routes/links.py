"""Payment links with an API key: ``POST|GET /v1/links``, ``GET|PATCH|DELETE /v1/links/{link_id}``
and ``GET /v1/links/{link_id}/payments`` (docs/links.md). The buyer's page is kasir.web.link_page.

The bodies are read by hand (JSON or a form) and checked by kasir.links.fields, so /openapi.json
has their schemas and refusals from kasir.api.openapi, and tests/acceptance/test_openapi_fuzz.py
holds the server to them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Connection

from kasir.api.body import read_params
from kasir.api.deps import expire_stale_payments, principal
from kasir.api.schemas import query_count
from kasir.api.state import AppState, app_state
from kasir.clock import utcnow
from kasir.errors import InvalidRequest
from kasir.inputs import boolean
from kasir.links import service
from kasir.links.views import link_view
from kasir.merchants.service import Principal
from kasir.payments.views import list_item_view

router = APIRouter(tags=["payment links"])

LINKS_PREFIX = "/v1/links"


def _one(state: AppState, conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    usage = service.usage_of(conn, [row["public_id"]], now)[row["public_id"]]
    return link_view(row, usage, state.settings.public_url, now)


@router.post(
    LINKS_PREFIX,
    summary="Create a payment link",
    description="A fixed `amount`, or `amount_min` to `amount_max` for the buyer to choose from; single "
    "use or reusable, with a cap; an expiry in the future; the goods given once paid. Every buyer who "
    "opens its `url` gets a payment of their own (docs/links.md).",
)
async def create_link(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    params = await read_params(request)
    now = utcnow()

    def create(conn: Connection) -> dict[str, Any]:
        return _one(state, conn, service.create_link(conn, caller, params, state.settings, now))

    return {"success": True, "link": await state.db.write(create)}


def _active(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    try:
        return boolean(value)
    except ValueError:
        raise InvalidRequest("active must be true or false", field="active") from None


@router.get(LINKS_PREFIX, summary="The payment links, newest first")
async def list_links(
    request: Request,
    active: str | None = Query(default=None, description="true: active links only; false: deactivated ones"),
    limit: str | None = Query(default=None, description="Default 50, at most 100"),
    before: str | None = Query(default=None, description="A link id: the links made before it (the next page)"),
    caller: Principal = Depends(principal),
) -> dict[str, Any]:
    state = app_state(request)
    wanted = _active(active)
    count = query_count(limit, "limit", 50, low=1)
    if count > service.MAX_LIST:
        raise InvalidRequest(f"limit must be a whole number from 1 to {service.MAX_LIST}", field="limit")

    def read(conn: Connection) -> list[dict[str, Any]]:
        rows = service.list_links(conn, caller, active=wanted, limit=count, before=before or None)
        now = utcnow()
        usage = service.usage_of(conn, [row["public_id"] for row in rows], now)
        return [link_view(row, usage[row["public_id"]], state.settings.public_url, now) for row in rows]

    shown = await state.db.read(read)
    return {"success": True, "data": shown, "next_before": shown[-1]["id"] if len(shown) == count else None}


@router.get(LINKS_PREFIX + "/{link_id}", summary="One payment link, with its uses and the money it brought in")
async def get_link(request: Request, link_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    shown = await state.db.read(lambda conn: _one(state, conn, service.get_link(conn, caller, link_id)))
    return {"success": True, "link": shown}


@router.patch(
    LINKS_PREFIX + "/{link_id}",
    summary="Change a payment link: the fields sent change",
    description="The fields not sent keep the link's values, and are checked with the new ones: `amount` "
    "makes the price fixed, the bounds make it open (one bound of an open link changes alone); "
    "`reusable: false` is one use; null removes a cap, an expiry or a good. The payments made stay.",
)
async def change_link(request: Request, link_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    params = await read_params(request)
    now = utcnow()

    def change(conn: Connection) -> dict[str, Any]:
        return _one(state, conn, service.change_link(conn, caller, link_id, params, state.settings, now))

    return {"success": True, "link": await state.db.write(change)}


@router.delete(LINKS_PREFIX + "/{link_id}", summary="Deactivate a payment link (its payments stay)")
async def deactivate_link(request: Request, link_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    now = utcnow()

    def deactivate(conn: Connection) -> dict[str, Any]:
        return _one(state, conn, service.deactivate_link(conn, caller, link_id, now))

    return {"success": True, "link": await state.db.write(deactivate)}


@router.get(LINKS_PREFIX + "/{link_id}/payments", summary="The payments made through a link, newest first")
async def link_payments(
    request: Request,
    link_id: str,
    page: str | None = Query(default=None, description="Default 1"),
    limit: str | None = Query(default=None, description="Default 20, at most 100"),
    caller: Principal = Depends(principal),
) -> dict[str, Any]:
    state = app_state(request)
    number = query_count(page, "page", 1, low=1)
    count = min(query_count(limit, "limit", 20, low=1), service.MAX_LIST)
    await expire_stale_payments(state, caller)  # no payment in the list says pending past its expiry

    def read(conn: Connection) -> tuple[list[dict[str, Any]], int]:
        link = service.get_link(conn, caller, link_id)
        rows = service.link_payments(conn, caller, link, limit=count, offset=(number - 1) * count)
        return rows, service.count_payments(conn, link)

    rows, total = await state.db.read(read)
    return {
        "success": True,
        "data": [{**list_item_view(row), "customer_phone": row["customer_phone"]} for row in rows],
        "pagination": {"page": number, "limit": count, "total": total, "total_pages": -(-total // count)},
    }

"""WA Store orders: seed 004's ``wa-store-orders`` and ``wa-store-complete``, and Kasir's /v1
calls to create an order with its payment and to move it along."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from kasir import idempotency
from kasir.api.body import read_params
from kasir.api.compat import bayargg_route
from kasir.api.deps import expire_stale_payments, principal
from kasir.api.schemas import OrderStepBody, StoreOrderBody, parse, parse_date, query_count
from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.errors import InvalidRequest
from kasir.inputs import boolean
from kasir.merchants.service import Principal
from kasir.store import orders
from kasir.store.views import order_view

router = APIRouter(tags=["WA Store"])

_MESSAGES = {"completed": "Order completed successfully", "cancelled": "Order cancelled successfully"}


def order_filter(
    *,
    status: str | None = None,
    search: str | None = None,
    limit: str | None = None,
    offset: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
) -> orders.OrderFilter:
    """wa-store-orders' query, checked: a wrong value is a 400 naming its field. The dashboard's
    orders list reads its query through this too (with the WIB days list-payments takes)."""
    if status and status not in orders.STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(orders.STATUSES)}", field="status")
    start, end = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
    if start and end and start > end:
        raise InvalidRequest("start_date is after end_date", field="start_date")
    return orders.OrderFilter(
        status=status or None,
        search=(search or "").replace("\x00", "").strip()[:200] or None,
        # Above the maximum we serve the maximum, as list-payments does.
        limit=min(query_count(limit, "limit", orders.DEFAULT_LIMIT, low=1), orders.MAX_LIMIT),
        offset=query_count(offset, "offset", 0, low=0),
        start_date=start,
        end_date=end,
    )


@bayargg_route(router, "wa-store-orders", ["GET"], summary="WA Store orders, or one order (seed 004)")
async def list_orders(
    request: Request,
    order_number: str | None = Query(default=None, description="One order, e.g. WA260329-A1B2"),
    status: str | None = Query(default=None, description=", ".join(orders.STATUSES)),
    search: str | None = Query(default=None, description="Order number, customer name, phone or invoice id"),
    limit: str | None = Query(default=None, description="At most 100, default 50"),
    offset: str | None = Query(default=None, description="Default 0"),
    caller: Principal = Depends(principal),
) -> dict[str, Any]:
    state = app_state(request)
    flt = order_filter(status=status, search=search, limit=limit, offset=offset)
    # Payments past their expiry are expired first, so no order shows a stale payment status.
    await expire_stale_payments(state, caller)
    public_url = state.settings.public_url
    if order_number is not None:
        number = order_number.replace("\x00", "")
        row = await state.db.read(lambda conn: orders.get_order(conn, caller, number))
        return {"success": True, "data": order_view(row, public_url)}
    rows, total = await state.db.read(lambda conn: orders.list_orders(conn, caller, flt))
    return {"success": True, "data": [order_view(r, public_url) for r in rows], "total": total}


@bayargg_route(router, "wa-store-complete", ["POST"], summary="Complete or cancel a WA Store order (seed 004)")
async def complete_order(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    params = await read_params(request)
    number = params.get("order_number")
    if not isinstance(number, str) or not number.strip():
        raise InvalidRequest("order_number is required", field="order_number", code="missing_parameter")
    target = params.get("status") or "completed"
    if target not in ("completed", "cancelled"):
        raise InvalidRequest("status must be completed or cancelled", field="status")
    try:
        notify = boolean(params.get("notify", True))
    except ValueError:
        raise InvalidRequest("notify must be true or false", field="notify") from None
    row = await _step(request, caller, "complete" if target == "completed" else "cancel", number.strip(), notify)
    return {
        "success": True,
        "message": _MESSAGES[target],
        "order": order_view(row, app_state(request).settings.public_url),
    }


async def _step(
    request: Request, caller: Principal, step: str, number: str, notify: bool, method: str | None = None
) -> Any:
    state = app_state(request)
    settings = state.settings
    now = utcnow()

    def run(conn: Connection) -> dict[str, Any]:
        return orders.take_step(conn, caller, number, step, settings, now, notify=notify, payment_method=method)

    return await state.db.write(run, retry_conflicts=True)


# The body is documented in kasir.api.openapi, with the others that routes read by hand.
_ORDER_BODY: dict[str, Any] = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "Same key and body: the first response again. Same key, other body: 409.",
        }
    ],
}


@router.post(
    "/v1/store/orders",
    summary="Create a WA Store order with its payment",
    status_code=201,
    openapi_extra=_ORDER_BODY,
    responses={201: {"description": "The order, its order_number, invoice_id and payment_url"}},
)
async def create_order(request: Request, caller: Principal = Depends(principal)) -> JSONResponse:
    state = app_state(request)
    params = await read_params(request)
    body: StoreOrderBody = parse(StoreOrderBody, params)
    new = orders.NewOrder(
        customer_name=body.customer_name,
        customer_phone=body.customer_phone,
        items=[orders.Item(i.name, i.quantity, i.price) for i in body.items],
        notes=body.notes,
        payment_method=body.payment_method,
        create_payment=body.create_payment,
    )
    settings = state.settings
    now = utcnow()

    def create(conn: Connection) -> idempotency.StoredResponse:
        row = orders.create_order(conn, caller, new, settings, now, notify=body.notify)
        return idempotency.StoredResponse(201, {"success": True, "order": order_view(row, settings.public_url)})

    result = await idempotency.respond_once(
        state.db, caller, request.headers.get("idempotency-key"), request.url.path, params, now, create
    )
    return JSONResponse(result.body, status_code=result.status_code)


@router.get("/v1/store/orders/{order_number}", summary="One WA Store order")
async def get_order(request: Request, order_number: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    await expire_stale_payments(state, caller)
    row = await state.db.read(lambda conn: orders.get_order(conn, caller, order_number.replace("\x00", "")))
    return {"success": True, "order": order_view(row, state.settings.public_url)}


async def _step_route(request: Request, caller: Principal, step: str, order_number: str) -> dict[str, Any]:
    body: OrderStepBody = parse(OrderStepBody, await read_params(request))
    if body.payment_method is not None and step != "payment":
        raise InvalidRequest("payment_method applies to …/payment only", field="payment_method")
    row = await _step(request, caller, step, order_number.replace("\x00", ""), body.notify, body.payment_method)
    return {"success": True, "order": order_view(row, app_state(request).settings.public_url)}


@router.post("/v1/store/orders/{order_number}/process", summary="paid → processing")
async def process_order(request: Request, order_number: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    return await _step_route(request, caller, "process", order_number)


@router.post("/v1/store/orders/{order_number}/complete", summary="paid or processing → completed")
async def complete_order_v1(
    request: Request, order_number: str, caller: Principal = Depends(principal)
) -> dict[str, Any]:
    return await _step_route(request, caller, "complete", order_number)


@router.post("/v1/store/orders/{order_number}/cancel", summary="Cancel an order that is not completed")
async def cancel_order(request: Request, order_number: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    return await _step_route(request, caller, "cancel", order_number)


@router.post(
    "/v1/store/orders/{order_number}/payment",
    summary="Issue the order's payment (pending order, or its payment expired or was cancelled)",
)
async def issue_payment(request: Request, order_number: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    return await _step_route(request, caller, "payment", order_number)

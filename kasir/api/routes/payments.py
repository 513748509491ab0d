"""create-payment, check-payment, list-payments (seed 004) and /v1 cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from kasir import idempotency
from kasir.api.body import read_params
from kasir.api.compat import bayargg_route
from kasir.api.deps import expire_stale_payments, principal
from kasir.api.routes.webhooks import guard_url
from kasir.api.schemas import CreatePaymentBody, parse, parse_date, query_count
from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.db.statements import Conn
from kasir.errors import InvalidRequest
from kasir.merchants.service import Principal
from kasir.payments import service
from kasir.payments.listing import MAX_LIMIT, STATUSES, PaymentFilter, list_payments
from kasir.payments.methods import METHODS
from kasir.payments.views import payment_url, payment_view, qr_image_url
from kasir.sources import health

router = APIRouter(tags=["payments"])

# The body (JSON, a form or multipart) is documented in kasir.api.openapi, with the others that
# routes read by hand.
_CREATE_BODY: dict[str, Any] = {
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


@bayargg_route(router, "create-payment", ["POST"], summary="Create a payment", openapi_extra=_CREATE_BODY)
async def create_payment(request: Request) -> JSONResponse:
    caller = await principal(request)
    state = app_state(request)
    params = await read_params(request)
    body: CreatePaymentBody = parse(CreatePaymentBody, params)
    await guard_url(state, body.callback_url, "callback_url")
    settings = state.settings

    def create(conn: Conn) -> idempotency.StoredResponse:
        row = service.create_payment(conn, caller, body.to_new_payment(), settings, now)
        answer: dict[str, Any] = {
            "success": True,
            "payment": payment_view(row, settings.public_url),
            "payment_url": payment_url(settings.public_url, row["invoice_id"]),
            "qris_string": row["qris_string"],
            "qr_image_url": qr_image_url(settings.public_url, row["qris_string"]),
        }
        # Never refuse a sale: the payment is made, and the shop is told it will not confirm
        # by itself until a phone of its channel speaks again (docs/sources.md).
        if row["payment_method"] in health.silent_channels(conn, caller.merchant_id, caller.mode):
            answer["warnings"] = ["source_silent"]
        return idempotency.StoredResponse(200, answer)

    now = utcnow()
    path = request.url.path.removesuffix(".php")
    result = await idempotency.respond_once(
        state.db, caller, request.headers.get("idempotency-key"), path, params, now, create, on_loop=True
    )
    return JSONResponse(result.body, status_code=result.status_code)


async def _current_payment_view(request: Request, caller: Principal, invoice: str) -> dict[str, Any]:
    """The payment as it is now, read once (``kasir.payments.service.current_payment``): an
    overdue pending payment is expired first."""
    state = app_state(request)
    row = await service.current_payment(state.db, caller, invoice, state.settings.public_url, utcnow())
    return payment_view(row, state.settings.public_url)


_CHECK_PARAMETERS: dict[str, Any] = {
    "parameters": [
        {
            "name": "invoice",
            "in": "query",
            "required": True,
            "schema": {"type": "string"},
            "description": "Invoice ID, e.g. PAY-admin-1234567890-ABC123",
        }
    ]
}


# check-payment and create-payment are the hot paths (pay pages poll one, shops call the other):
# they take the Request alone and authenticate by a plain call, which spares FastAPI's
# dependency resolution (~40 % of check-payment's time); openapi_extra keeps them documented.
@bayargg_route(router, "check-payment", ["GET"], summary="Check a payment's status", openapi_extra=_CHECK_PARAMETERS)
async def check_payment(request: Request) -> dict[str, Any]:
    caller = await principal(request)
    invoice = request.query_params.get("invoice", "")
    if not invoice.strip():
        raise InvalidRequest("invoice is required", field="invoice", code="missing_parameter")
    return {"success": True, **await _current_payment_view(request, caller, invoice.strip())}


def _choice(value: str | None, allowed: tuple[str, ...] | list[str], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise InvalidRequest(f"{field} must be one of {', '.join(allowed)}", field=field)
    return value


def payment_filter(
    *,
    search: str | None = None,
    status: str | None = None,
    payment_method: str | None = None,
    paid_via: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    page: str | None = None,
    limit: str | None = None,
) -> PaymentFilter:
    """list-payments' query, checked: a wrong value is a 400 naming its field. The dashboard's
    payments list and CSV export read their query through this too."""
    start, end = parse_date(start_date, "start_date"), parse_date(end_date, "end_date")
    if start and end and start > end:
        raise InvalidRequest("start_date is after end_date", field="start_date")
    return PaymentFilter(
        search=(search or "").replace("\x00", "").strip()[:200] or None,
        status=_choice(status, STATUSES, "status"),
        payment_method=_choice(payment_method, list(METHODS), "payment_method"),
        paid_via=_choice(paid_via, list(METHODS), "paid_via"),
        start_date=start,
        end_date=end,
        page=query_count(page, "page", 1, low=1),
        # Above the maximum we serve the maximum, as bayar.gg does, rather than fail a client
        # that asked for "everything".
        limit=min(query_count(limit, "limit", 20, low=1), MAX_LIMIT),
    )


@bayargg_route(router, "list-payments", ["GET"], summary="List payments with filters, search and pages")
async def list_payments_route(
    request: Request,
    search: str | None = Query(default=None, description="Invoice, description, customer name/email/phone"),
    status: str | None = Query(default=None, description="pending, paid, expired, cancelled"),
    payment_method: str | None = Query(default=None, description="qris, qris_user, gopay_qris, ovo"),
    paid_via: str | None = Query(default=None, description="Paid payments of this method"),
    start_date: str | None = Query(default=None, description="YYYY-MM-DD (WIB), included"),
    end_date: str | None = Query(default=None, description="YYYY-MM-DD (WIB), included"),
    page: str | None = Query(default=None, description="Default 1"),
    limit: str | None = Query(default=None, description="Default 20, at most 100"),
    caller: Principal = Depends(principal),
) -> dict[str, Any]:
    flt = payment_filter(
        search=search,
        status=status,
        payment_method=payment_method,
        paid_via=paid_via,
        start_date=start_date,
        end_date=end_date,
        page=page,
        limit=limit,
    )
    state = app_state(request)
    await expire_stale_payments(state, caller)
    return {"success": True, **await state.db.read(lambda conn: list_payments(conn, caller, flt))}


@router.post("/v1/payments/{invoice}/cancel", summary="Cancel a pending payment")
async def cancel_payment(request: Request, invoice: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    now = utcnow()
    # An overdue payment is expired instead, and that committed before the 409 is raised.
    row, cancelled = await state.db.write(
        lambda conn: service.cancel_or_expire(conn, caller, invoice, state.settings.public_url, now)
    )
    if not cancelled:
        raise service.not_pending(invoice, row)
    return {"success": True, "payment": payment_view(row, state.settings.public_url)}


@router.get("/v1/payments/{invoice}", summary="One payment (the check-payment shape)")
async def get_payment(request: Request, invoice: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    return {"success": True, "payment": await _current_payment_view(request, caller, invoice)}

"""get-payment-methods, get-account-status, get-statistics (seed 004)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Connection

from kasir.api.compat import bayargg_route
from kasir.api.deps import expire_stale_payments, principal
from kasir.api.state import app_state
from kasir.clock import to_wire, utcnow
from kasir.errors import InvalidRequest
from kasir.merchants.service import Principal, get_merchant
from kasir.payments.methods import describe_methods
from kasir.payments.stats import PERIODS, statistics
from kasir.sources.confirmation import automatic_sources

router = APIRouter(tags=["account"])


@bayargg_route(router, "get-payment-methods", ["GET"], summary="Payment methods and their availability")
async def payment_methods(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)

    def read(conn: Connection) -> tuple[dict[str, Any], dict[str, list[str]]]:
        merchant = get_merchant(conn, caller.merchant_id)
        return merchant, automatic_sources(conn, caller.merchant_id, caller.mode, state.settings, state.pollers)

    merchant, sources = await state.db.read(read)
    return {
        "success": True,
        "methods": describe_methods(merchant, state.settings, caller.mode, sources=sources),
        "user_status": {"has_active_subscription": bool(merchant["subscription_active"])},
    }


@bayargg_route(router, "get-account-status", ["GET"], summary="Account, integrations and a summary")
async def account_status(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    await expire_stale_payments(state, caller)
    now = utcnow()

    def read(conn: Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        return get_merchant(conn, caller.merchant_id), statistics(conn, caller, "all", now)

    merchant, summary = await state.db.read(read)
    return {
        "success": True,
        "account": {
            "username": merchant["username"],
            "name": merchant["name"],
            "email": merchant["email"],
            "is_verified": bool(merchant["is_verified"]),
            "mode": caller.mode,
            "created_at": to_wire(merchant["created_at"]),
        },
        "integrations": {
            "gopay": merchant["qris_gopay"] is not None,
            "bri": merchant["qris_bri"] is not None,
            "ovo": merchant["ovo_number"] is not None,
        },
        "user_status": {"has_active_subscription": bool(merchant["subscription_active"])},
        "statistics": {
            "total_transactions": summary["total_transactions"],
            "total_paid": summary["total_paid"],
            "total_amount": summary["total_amount"],
            "total_pending": summary["total_pending"],
        },
    }


@bayargg_route(router, "get-statistics", ["GET"], summary="Statistics for a WIB period, by method")
async def get_statistics(
    request: Request,
    period: str = Query(default="all", description="all, today, week, month, year (WIB calendar periods)"),
    caller: Principal = Depends(principal),
) -> dict[str, Any]:
    period = period or "all"
    if period not in PERIODS:
        raise InvalidRequest(f"period must be one of {', '.join(PERIODS)}", field="period")
    state = app_state(request)
    await expire_stale_payments(state, caller)
    now = utcnow()
    return {
        "success": True,
        **await state.db.read(lambda conn: statistics(conn, caller, period, now)),
    }

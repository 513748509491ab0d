"""Events, deliveries and the attempt log (seed 004's callback logs), redelivery."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Connection, RowMapping

from kasir.api.deps import principal
from kasir.api.schemas import parse_time
from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.delivery import service
from kasir.delivery.outbox import EVENT_TYPES
from kasir.delivery.states import DeliveryStatus
from kasir.delivery.views import attempt_view, delivery_view, event_view
from kasir.errors import InvalidRequest
from kasir.merchants.service import Principal

router = APIRouter(tags=["events and deliveries"])

DELIVERY_STATUSES = tuple(DeliveryStatus)


def _limit(value: int) -> int:
    if not 1 <= value <= 100:
        raise InvalidRequest("limit must be between 1 and 100", field="limit")
    return value


@router.get("/v1/events", summary="Events of this mode, newest first")
async def list_events(
    request: Request,
    type: str | None = Query(default=None, description="e.g. payment.paid"),
    since: str | None = Query(default=None, description="ISO 8601 time or unix seconds"),
    limit: int = Query(default=50, description="1 to 100"),
    caller: Principal = Depends(principal),
) -> dict[str, Any]:
    if type and type not in EVENT_TYPES:
        raise InvalidRequest(f"type must be one of {', '.join(sorted(EVENT_TYPES))}", field="type")
    since_at = parse_time(since, "since")
    rows = await app_state(request).db.read(
        lambda conn: service.list_events(conn, caller, event_type=type, since=since_at, limit=_limit(limit))
    )
    return {"success": True, "data": [event_view(row) for row in rows]}


@router.get("/v1/deliveries", summary="Deliveries of this mode, newest first (the callback log)")
async def list_deliveries(
    request: Request,
    endpoint_id: str | None = Query(default=None),
    status: str | None = Query(default=None, description="pending, succeeded or failed"),
    limit: int = Query(default=50, description="1 to 100"),
    caller: Principal = Depends(principal),
) -> dict[str, Any]:
    if status and status not in DELIVERY_STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(DELIVERY_STATUSES)}", field="status")
    checked_limit = _limit(limit)

    def read(conn: Connection) -> list[RowMapping]:
        endpoint_row_id = service.find_endpoint(conn, caller, endpoint_id)["id"] if endpoint_id else None
        return service.list_deliveries(conn, caller, endpoint_id=endpoint_row_id, status=status, limit=checked_limit)

    rows = await app_state(request).db.read(read)
    return {"success": True, "data": [delivery_view(row) for row in rows]}


@router.get("/v1/deliveries/{delivery_id}/attempts", summary="Every try of one delivery")
async def list_attempts(request: Request, delivery_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    rows = await app_state(request).db.read(lambda conn: service.list_attempts(conn, caller, delivery_id))
    return {"success": True, "data": [attempt_view(row) for row in rows]}


@router.post("/v1/deliveries/{delivery_id}/redeliver", status_code=202, summary="Send this event to this target again")
async def redeliver(request: Request, delivery_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    now = utcnow()
    row = await state.db.write(lambda conn: service.redeliver(conn, caller, delivery_id, now))
    return {"success": True, "delivery": {"id": row["public_id"], "status": row["status"], "url": row["url"]}}

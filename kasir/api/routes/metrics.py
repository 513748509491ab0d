"""``/metrics`` in Prometheus' text format: delivery outcomes and latency from this process,
queue depth and the oldest due delivery's age from the database."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.delivery.service import count_due

router = APIRouter(tags=["meta"])


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
async def metrics(request: Request) -> PlainTextResponse:
    state = app_state(request)
    now = utcnow()
    pending, due, oldest_age = await state.db.read(lambda conn: count_due(conn, now))
    lines = request.app.state.metrics.render()
    lines += [
        "# HELP kasir_deliveries_pending Deliveries not yet succeeded or failed.",
        "# TYPE kasir_deliveries_pending gauge",
        f"kasir_deliveries_pending {pending}",
        "# HELP kasir_deliveries_due Pending deliveries whose next attempt is due now.",
        "# TYPE kasir_deliveries_due gauge",
        f"kasir_deliveries_due {due}",
        "# HELP kasir_oldest_due_delivery_age_seconds How long the oldest due delivery has waited.",
        "# TYPE kasir_oldest_due_delivery_age_seconds gauge",
        f"kasir_oldest_due_delivery_age_seconds {oldest_age:.3f}",
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

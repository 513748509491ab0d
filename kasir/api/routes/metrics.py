"""``/metrics`` in Prometheus' text format: delivery outcomes and latency from this process,
queue depth and the oldest due delivery's age from the database, and each payment source's age
since it last spoke."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import SecretStr

from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.delivery.queue import count_due
from kasir.errors import Unauthorized
from kasir.sources import health

router = APIRouter(tags=["meta"])


async def _check_bearer(request: Request, token: SecretStr) -> None:
    """``KASIR_METRICS_TOKEN`` is set: a scraper proves it knows it (in constant time)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
        raise Unauthorized("/metrics needs 'Authorization: Bearer <KASIR_METRICS_TOKEN>'", code="invalid_metrics_token")


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
async def metrics(request: Request) -> PlainTextResponse:
    state = app_state(request)
    token = state.settings.metrics_token
    if token is not None:
        await state.auth_throttle.guard(state.addresses(request.scope), lambda: _check_bearer(request, token))
    now = utcnow()
    pending, due, oldest_age = await state.db.read(lambda conn: count_due(conn, now))
    source_lines = await state.db.read(lambda conn: health.metric_lines(conn, now))
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
        *source_lines,
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

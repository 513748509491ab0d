"""Webhook endpoints: the changes the API and the worker both make to them."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, select, update

from kasir.db.tables import endpoints
from kasir.delivery.outbox import record_event
from kasir.delivery.queue import fail_pending_of_endpoint


def new_endpoint_id() -> str:
    return "ep_" + secrets.token_hex(10)


def disable_endpoint(conn: Connection, endpoint_id: int, reason: str, now: datetime) -> RowMapping | None:
    """Disable an endpoint, fail its queue, and tell the merchant's other endpoints.

    Guarded on ``enabled``, so two workers disabling the same endpoint emit one event."""
    row = (
        conn.execute(
            update(endpoints)
            .where(endpoints.c.id == endpoint_id, endpoints.c.enabled.is_(True))
            .values(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)
            .returning(*endpoints.c)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    fail_pending_of_endpoint(conn, endpoint_id, f"endpoint disabled: {reason}", now)
    record_event(
        conn,
        merchant_id=row["merchant_id"],
        mode=row["mode"],
        type="endpoint.disabled",
        payload=endpoint_disabled_payload(row, now),
        created_at=now,
        exclude_endpoint_id=endpoint_id,
    )
    return row


def endpoint_disabled_payload(row: RowMapping, now: datetime) -> dict[str, Any]:
    return {
        "event": "endpoint.disabled",
        "endpoint_id": row["public_id"],
        "url": row["url"],
        "reason": row["disabled_reason"],
        "disabled_at": int(now.timestamp()),
        "timestamp": int(now.timestamp()),
    }


def get_by_public_id(conn: Connection, merchant_id: int, mode: str, public_id: str) -> RowMapping | None:
    return (
        conn.execute(
            select(endpoints).where(
                endpoints.c.public_id == public_id, endpoints.c.merchant_id == merchant_id, endpoints.c.mode == mode
            )
        )
        .mappings()
        .first()
    )


def mask_secret(secret: str) -> str:
    """What a ping may show of a secret (Digiflazz's ping shows the hook's config)."""
    return secret[:8] + "***" if len(secret) > 8 else "***"


def active_endpoint_secrets(row: RowMapping, now: datetime) -> list[str]:
    from kasir.delivery.queue import active_secrets

    return active_secrets(row["secret"], row["previous_secret"], row["previous_secret_expires_at"], now)

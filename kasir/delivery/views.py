"""How endpoints, settings, events, deliveries and attempts look in API answers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kasir.delivery.endpoints import mask_secret


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def endpoint_view(row: Mapping[Any, Any], *, secret: str | None = None) -> dict[str, Any]:
    view = {
        "id": row["public_id"],
        "url": row["url"],
        "dialect": row["dialect"],
        "description": row["description"],
        "event_types": json.loads(row["event_types"]) if row["event_types"] else None,
        "rate_limit": row["rate_limit"],
        "fifo": bool(row["fifo"]),
        "headers": json.loads(row["headers"]) if row["headers"] else {},
        "enabled": bool(row["enabled"]),
        "disabled_reason": row["disabled_reason"],
        "disabled_at": iso(row["disabled_at"]),
        "failing_since": iso(row["failing_since"]),
        "last_success_at": iso(row["last_success_at"]),
        "secret_hint": mask_secret(row["secret"]),
        "previous_secret_expires_at": iso(row["previous_secret_expires_at"]),
        "expires_at": iso(row["expires_at"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if secret is not None:
        view["secret"] = secret  # shown once: at creation and at rotation
    return view


def callback_settings_view(row: Mapping[Any, Any], *, secret: str | None = None) -> dict[str, Any]:
    view = {
        "mode": row["mode"],
        "default_callback_url": row["default_callback_url"],
        "dialect": row["dialect"],
        "event_types": json.loads(row["event_types"]),
        "secret_hint": mask_secret(row["secret"]),
        "previous_secret_expires_at": iso(row["previous_secret_expires_at"]),
        "updated_at": iso(row["updated_at"]),
    }
    if secret is not None:
        view["secret"] = secret
    return view


def event_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["event_id"],
        "type": row["type"],
        "created_at": iso(row["created_at"]),
        "data": json.loads(row["payload"]),
    }


def delivery_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["public_id"],
        "event_id": row["event_public_id"],
        "event_type": row["event_type"],
        "endpoint_id": row["endpoint_public_id"],
        "url": row["url"],
        "dialect": row["dialect"],
        "status": row["status"],
        "attempts": row["attempts"],
        "next_attempt_at": iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "last_attempt_at": iso(row["last_attempt_at"]),
        "last_status_code": row["last_status_code"],
        "last_error": row["last_error"],
        "created_at": iso(row["created_at"]),
        "completed_at": iso(row["completed_at"]),
    }


def attempt_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "attempt": row["attempt"],
        "started_at": iso(row["started_at"]),
        "url": row["url"],
        "request_headers": json.loads(row["request_headers"]),
        "status_code": row["status_code"],
        "response_body": row["response_body"],
        "duration_ms": row["duration_ms"],
        "error": row["error"],
        "outcome": row["outcome"],
    }

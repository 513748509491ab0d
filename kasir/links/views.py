"""How a payment link looks to its merchant (the API, the dashboard): its fields, its URL, and
what its payments add up to now."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kasir.clock import to_wire
from kasir.links import slugs
from kasir.links.service import Usage, refusal

# A link's state as one word: what its page would do with a buyer now.
STATES = ("active", "inactive", "expired", "used_up")
_STATE_OF_CODE = {"link_inactive": "inactive", "link_expired": "expired", "link_used_up": "used_up"}


def state_of(row: Mapping[str, Any], usage: Usage, now: datetime) -> str:
    refused = refusal(row, usage, now)
    return "active" if refused is None else _STATE_OF_CODE[refused.code]


def link_view(row: Mapping[str, Any], usage: Usage, public_url: str, now: datetime) -> dict[str, Any]:
    cap = row["max_paid_uses"]
    return {
        "id": row["public_id"],
        "url": slugs.link_url(public_url, row["slug"]),
        "title": row["title"],
        "description": row["description"],
        # A fixed price, or the buyer's choice between amount_min and amount_max (amount null).
        "amount": row["amount"],
        "amount_min": row["amount_min"],
        "amount_max": row["amount_max"],
        "reusable": bool(row["reusable"]),
        "max_paid_uses": cap,
        "payment_method": row["payment_method"],
        "expires_at": to_wire(row["expires_at"]),
        "redirect_url": row["redirect_url"],
        "file_id": row["file_id"],
        "content_id": row["content_id"],
        "product_image_id": row["product_image_id"],
        "active": bool(row["active"]),
        "state": state_of(row, usage, now),
        "uses": {
            "paid": usage.paid,
            "pending": usage.pending,
            # Uses still free to take: null without a cap.
            "remaining": None if cap is None else max(0, cap - usage.held),
        },
        "paid_total": usage.paid_total,
        "created_at": to_wire(row["created_at"]),
        "updated_at": to_wire(row["updated_at"]),
        "deactivated_at": to_wire(row["deactivated_at"]),
    }

"""What one payment's dashboard page shows besides the payment itself: its story (created, paid by
which credit, expired, cancelled), its events and their deliveries with every attempt, and the
audit lines of what people did to it by hand. Read for one merchant in one mode: the payment was
found through ``service.get_payment``'s scoping, and every row below is reached from it and held
to the same merchant and mode."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from kasir.clock import to_wire
from kasir.delivery import callback_log
from kasir.delivery.views import attempt_view, delivery_view
from kasir.merchants.service import Principal
from kasir.payments import reconciliation
from kasir.sources import views as source_views
from kasir.team import audit

PHONE_PREFIX = "phone:"


def _credit(conn: Connection, caller: Principal, row: Mapping[str, Any], *, late: bool) -> list[dict[str, Any]]:
    """The credits that paid this payment (``late``: that came for it after it expired), each
    with the phone notification it came from when a payment source reported it."""
    found = []
    for credit in reconciliation.credits_of_payment(conn, caller, int(row["id"]), late=late):
        entry: dict[str, Any] = dict(credit)
        entry["notification"] = None
        if str(credit["source"]).startswith(PHONE_PREFIX):
            entry["notification"] = source_views.notification_of_credit(conn, caller, int(credit["id"]))
        found.append(entry)
    return found


def timeline(
    row: Mapping[str, Any], paid_by: list[dict[str, Any]], audit_lines: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The payment's steps in time order: created, paid (by which credit), expired, cancelled
    (by whom, when a person did it here)."""
    steps: list[dict[str, Any]] = [{"kind": "created", "at": row["created_at"]}]
    if row["status"] == "paid":
        steps.append({"kind": "paid", "at": row["paid_at"], "credit": paid_by[0] if paid_by else None})
    elif row["status"] == "expired":
        steps.append({"kind": "expired", "at": row["closed_at"] or row["expires_at"]})
    elif row["status"] == "cancelled":
        by = next((line for line in audit_lines if line["action"] == "payment.cancel"), None)
        steps.append({"kind": "cancelled", "at": row["closed_at"], "by": by["actor"] if by else None})
    else:
        steps.append({"kind": "expires", "at": row["expires_at"]})
    return steps


def _deliveries(conn: Connection, caller: Principal, event_ids: list[int]) -> list[dict[str, Any]]:
    rows = callback_log.deliveries_of_events(conn, caller.merchant_id, caller.mode, event_ids)
    found = {int(r["id"]): {**delivery_view(r), "event_row": int(r["event_id"]), "attempt_log": []} for r in rows}
    for attempt in callback_log.attempts_of_deliveries(conn, list(found)):
        view = attempt_view(attempt)
        view["started_at_wib"] = to_wire(attempt["started_at"])
        found[int(attempt["delivery_id"])]["attempt_log"].append(view)
    return list(found.values())


def story(conn: Connection, caller: Principal, row: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the payment's page shows besides the payment."""
    paid_by = _credit(conn, caller, row, late=False)
    late = _credit(conn, caller, row, late=True)
    audit_lines = audit.for_payment(conn, caller.merchant_id, caller.mode, int(row["id"]))
    event_rows = callback_log.events_of_payment(conn, caller.merchant_id, caller.mode, int(row["id"]))
    sent = _deliveries(conn, caller, [int(e["id"]) for e in event_rows])
    event_list = [
        {
            "id": e["event_id"],
            "type": e["type"],
            "created_at": e["created_at"],
            "deliveries": [d for d in sent if d["event_row"] == e["id"]],
        }
        for e in event_rows
    ]
    return {
        "timeline": timeline(row, paid_by, audit_lines),
        "late_credits": late,
        "events": event_list,
        "audit": audit_lines,
    }


def details_text(details: Mapping[str, Any] | None) -> str:
    return json.dumps(details, ensure_ascii=False, separators=(", ", ": ")) if details else ""


# --- the CSV export ---------------------------------------------------------------------------

CSV_COLUMNS = (
    "invoice_id",
    "status",
    "payment_method",
    "amount",
    "unique_code",
    "final_amount",
    "paid_amount",
    "paid_reff_num",
    "created_at",
    "paid_at",
    "expires_at",
    "closed_at",
    "description",
    "customer_name",
    "customer_email",
    "customer_phone",
    "redirect_url",
)
_TIMES = frozenset({"created_at", "paid_at", "expires_at", "closed_at"})
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet would read as a formula, quoted as text; numbers as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: Iterable[Mapping[Any, Any]]) -> str:
    """The payments as CSV: a header row, amounts as integers, times in WIB
    (``2026-04-16 12:25:30``), every text cell safe to open in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = []
        for column in CSV_COLUMNS:
            value = row[column]
            if column in _TIMES:
                value = to_wire(value) if isinstance(value, datetime) else value
            cells.append("" if value is None else safe_cell(value))
        writer.writerow(cells)
    return out.getvalue()

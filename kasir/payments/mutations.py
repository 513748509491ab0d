"""Mutations: credits on a receiving account, as the outside world reports them.

A mutation source (the API, a signed forwarder, a statement import, a poller, the sandbox) turns
what it read into ``Credit`` values; ``parse_credits`` is the one gate every untrusted report
passes, so the rules (a positive whole amount, a known channel, a provider reference) are the
same whichever way a credit comes in. Matching them to payments is ``kasir.payments.matching``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kasir.clock import parse_moment, to_wire
from kasir.errors import InvalidRequest
from kasir.money import whole_rupiah
from kasir.payments.methods import METHODS

MAX_BATCH = 1000
MAX_REFERENCE = 100
MAX_DESCRIPTION = 500
# Ceiling on one credit: far above any QRIS or e-wallet transfer, far below where a typo in a
# statement export would overflow a column.
MAX_AMOUNT = 10_000_000_000

STATUSES = ("matched", "unmatched", "late")
# Credits older than this are typos, and years before 1000 would not even round-trip through
# SQLite's text dates.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def storable_text(value: str) -> bool:
    """Text both databases can store: PostgreSQL refuses NUL, and no database takes a lone
    surrogate (JSON can carry one, ``"\\ud800"``, UTF-8 cannot)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Credit:
    """Money that landed on the account behind ``channel`` (a payment method id)."""

    channel: str
    amount: int
    reference: str  # the provider's own id of the transaction: what makes a report repeatable
    occurred_at: datetime | None = None  # None: when Kasir received it
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Reporter:
    """Who reports a batch of credits, in which mode, through which source.

    ``merchant_id`` is None for the operator's own feed of the shared QRIS account: its credits
    may pay any merchant's payment there. A credit a merchant reports pays only that merchant's.
    """

    mode: str
    merchant_id: int | None
    source: str


def new_mutation_id() -> str:
    return "mut_" + secrets.token_hex(12)


def parse_credits(body: Any, *, now: datetime, clock_grace: int) -> list[Credit]:
    """A request body as credits: one object, a list of them, or ``{"mutations": [...]}``.

    All or nothing: one bad item refuses the whole batch, naming it, so a retry of the fixed batch
    cannot half-apply.
    """
    if isinstance(body, Mapping) and "mutations" in body:
        body = body["mutations"]
    items = [body] if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        raise InvalidRequest('send a mutation object, a list of them, or {"mutations": [...]}', code="invalid_body")
    if not items:
        raise InvalidRequest("the batch holds no mutation", code="empty_batch")
    if len(items) > MAX_BATCH:
        raise InvalidRequest(
            f"a batch holds at most {MAX_BATCH} mutations; this one has {len(items)}",
            code="too_many_mutations",
        )
    latest = now + timedelta(seconds=clock_grace)
    return [
        parse_credit(item, f"mutations[{i}]" if len(items) > 1 else "", latest=latest) for i, item in enumerate(items)
    ]


def parse_credit(item: Any, where: str, *, latest: datetime) -> Credit:
    def field(name: str) -> str:
        return f"{where}.{name}" if where else name

    if not isinstance(item, Mapping):
        raise InvalidRequest(f"{where or 'the body'} must be an object", code="invalid_body", field=where or None)

    channel = item.get("channel")
    if channel is None or channel == "":
        raise InvalidRequest(f"{field('channel')} is required", code="invalid_channel", field=field("channel"))
    if not isinstance(channel, str) or channel not in METHODS:
        raise InvalidRequest(
            f"{field('channel')} must be one of {', '.join(METHODS)}", code="invalid_channel", field=field("channel")
        )

    raw_amount = item.get("amount")
    try:
        amount = whole_rupiah(raw_amount)
    except ValueError:
        amount = 0
    if not 0 < amount <= MAX_AMOUNT:
        raise InvalidRequest(
            f"{field('amount')} must be a positive whole number of rupiah (got {raw_amount!r})",
            code="invalid_amount",
            field=field("amount"),
        )

    reference = item.get("reference")
    if isinstance(reference, int) and not isinstance(reference, bool):
        reference = str(reference)
    if not isinstance(reference, str) or not reference.strip():
        raise InvalidRequest(
            f"{field('reference')} is required: the provider's id of the transaction",
            code="missing_reference",
            field=field("reference"),
        )
    reference = reference.strip()
    if len(reference) > MAX_REFERENCE or not reference.isprintable():
        raise InvalidRequest(
            f"{field('reference')} must be printable text of at most {MAX_REFERENCE} characters",
            code="invalid_reference",
            field=field("reference"),
        )

    occurred_at = None
    raw_time = item.get("occurred_at")
    if raw_time is not None and raw_time != "":
        try:
            occurred_at = parse_moment(raw_time)
        except ValueError:
            raise InvalidRequest(
                f"{field('occurred_at')} must be unix seconds, ISO 8601, or 'YYYY-MM-DD HH:MM:SS' in WIB",
                code="invalid_occurred_at",
                field=field("occurred_at"),
            ) from None
        if occurred_at < EARLIEST:
            raise InvalidRequest(
                f"{field('occurred_at')} is before {EARLIEST.year}: not a time a credit can have",
                code="invalid_occurred_at",
                field=field("occurred_at"),
            )
        if occurred_at > latest:
            raise InvalidRequest(
                f"{field('occurred_at')} is in the future", code="occurred_at_in_future", field=field("occurred_at")
            )

    description = item.get("description")
    if description is not None and (
        not isinstance(description, str) or len(description) > MAX_DESCRIPTION or not storable_text(description)
    ):
        raise InvalidRequest(
            f"{field('description')} must be text of at most {MAX_DESCRIPTION} characters",
            code="invalid_description",
            field=field("description"),
        )
    return Credit(channel, amount, reference, occurred_at, description or None)


def mutation_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A mutation as the API shows it; ``row`` carries ``invoice_id`` and ``late_invoice_id``."""
    return {
        "id": row["public_id"],
        "channel": row["channel"],
        "amount": row["amount"],
        "reference": row["reference"],
        "occurred_at": to_wire(row["occurred_at"]),
        "received_at": to_wire(row["received_at"]),
        "description": row["description"],
        "source": row["source"],
        "status": row["status"],
        "invoice_id": row.get("invoice_id"),
        "late_for_invoice_id": row.get("late_invoice_id") if row["status"] == "late" else None,
        "settled_by": row["settled_by"],
        "settled_at": to_wire(row["settled_at"]),
        "mode": row["mode"],
    }

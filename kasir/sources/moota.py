"""Moota's bank-mutation webhook (API v2), as Moota sends it.

Moota reads a merchant's internet banking and POSTs new mutations as a JSON array, signed in the
``Signature`` header: the hex HMAC-SHA256 of the raw body keyed by the webhook's secret token (the
source's token, pasted into Moota's webhook form). Each mutation carries ``mutation_id``,
``amount`` (a number, or its digits as a string), ``type`` ``CR`` (money in) or ``DB`` (out),
``date`` (``Y-m-d H:i:s`` in WIB) and ``description``. Credits are reported on the channel the
source maps the pseudo-package ``co.moota`` to; debits are ignored. A mutation sent again (Moota
retries when an answer is slow) has the same ``mutation_id``: the same credit.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from kasir.clock import parse_moment
from kasir.dialects.base import hmac_hex
from kasir.errors import InvalidRequest
from kasir.inputs import CONTROL_CHARACTER
from kasir.money import statement_amount
from kasir.payments.mutations import EARLIEST, MAX_BATCH, storable_text
from kasir.sources.notifications import Item, Refused
from kasir.sources.parsers import Ignored, Incoming, Invalid, Notification
from kasir.sources.registry import MOOTA_APP

SIGNATURE_HEADER = "Signature"
PARSER = "moota"


def signature_matches(key: str, body: bytes, signature: str | None) -> bool:
    expected = hmac_hex(key, body, "sha256")
    return hmac.compare_digest(expected.encode(), (signature or "").strip().lower().encode())


def _amount(value: Any) -> int | Invalid:
    if isinstance(value, bool):
        return Invalid("amount_malformed", "amount is not a number", PARSER)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal | float):
        if value != int(value):
            return Invalid("amount_fraction", "amount has a fraction of a rupiah", PARSER)
        return int(value)
    if isinstance(value, str):
        try:
            return abs(statement_amount(value))
        except ValueError as exc:
            code = "amount_fraction" if "fraction" in str(exc) else "amount_malformed"
            return Invalid(code, f"amount {value!r} is not a whole number of rupiah", PARSER)
    return Invalid("amount_malformed", "amount is not a number", PARSER)


def items_of(body: Any, *, now: datetime, clock_grace: int) -> list[Item | Refused]:
    """Moota's array as items of a source's batch, each already read (``Item.parsed``)."""
    if isinstance(body, Mapping):
        body = [body]
    if not isinstance(body, list) or not body:
        raise InvalidRequest("a Moota webhook body is a JSON array of mutations", code="invalid_body")
    if len(body) > MAX_BATCH:
        raise InvalidRequest(f"a batch holds at most {MAX_BATCH} mutations", code="too_many_mutations")
    latest = now + timedelta(seconds=clock_grace)
    return [_item(mutation, latest) for mutation in body]


def _item(mutation: Any, latest: datetime) -> Item | Refused:
    if not isinstance(mutation, Mapping):
        return Refused("invalid_item", "a mutation must be an object")
    mutation_id = mutation.get("mutation_id")
    if isinstance(mutation_id, int) and not isinstance(mutation_id, bool):
        mutation_id = str(mutation_id)
    if not isinstance(mutation_id, str) or not mutation_id.strip() or len(mutation_id) > 80:
        return Refused("missing_mutation_id", "mutation_id is required")
    if not mutation_id.isprintable():
        return Refused("invalid_mutation_id", "mutation_id must be printable")
    try:
        occurred = parse_moment(mutation.get("date") or mutation.get("created_at"))
    except ValueError:
        return Refused("invalid_date", "date must be 'YYYY-MM-DD HH:MM:SS' (WIB)")
    if occurred < EARLIEST or occurred > latest:
        return Refused("invalid_date", "date is not a time a mutation can have")
    kind = str(mutation.get("type") or "").upper()
    description = mutation.get("description")
    text = description if isinstance(description, str) else ""
    if CONTROL_CHARACTER.search(text) or not storable_text(text):
        return Refused("invalid_description", "description holds a control character")
    bank = mutation.get("bank")
    label = bank.get("label") if isinstance(bank, Mapping) else None
    title = f"Moota {label}" if isinstance(label, str) and label.isprintable() else "Moota"
    parsed: Incoming | Ignored | Invalid
    if kind == "DB":
        parsed = Ignored("outgoing", PARSER)
    elif kind != "CR":
        return Refused("invalid_type", "type must be CR or DB")
    else:
        amount = _amount(mutation.get("amount"))
        parsed = amount if isinstance(amount, Invalid) else Incoming(amount, PARSER, reference=mutation_id)
    notification = Notification(MOOTA_APP, title[:200], f"{kind} {mutation.get('amount')} {text}"[:10_000])
    # The fingerprint of a mutation is its id: Moota sends one again with the same id.
    return Item(notification, occurred, f"moota:{mutation_id}", parsed)

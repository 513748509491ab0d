"""Matching credits to payments (DESIGN §5): how a payment becomes ``paid``.

A credit pays the pending payment on its account whose ``final_amount`` equals the credit's
amount, if that payment existed when the money came (``created_at`` at most ``clock_grace``
after the credit) and was still valid (the credit at most ``clock_grace`` past ``expires_at``).
Everything is exactly once, and the database says so rather than the code:

- a repeated report of a credit (same account, same provider reference) is refused by a unique
  index and answered with what the first report did;
- a payment leaves ``pending`` once: the candidates are read under the write lock (SQLite) or
  locked ``FOR UPDATE`` (PostgreSQL), and the update is guarded by ``status = 'pending'``;
- a payment is paid by one credit at most: ``mutations.payment_id`` is unique.

The payment change, the credit's settlement, the ``payment.paid`` event and its deliveries are
written on the caller's Connection: they commit together or not at all.

A whole batch is matched with a handful of set-based statements (one insert for the credits, one
select per account for the candidates, one ``executemany`` each for the payments and the credits,
one insert each for the events and the deliveries): matching is bound by the database, not by a
round trip per credit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection

from kasir.config import Settings
from kasir.db import fastpath
from kasir.db.engine import RetryTransaction
from kasir.delivery.outbox import NewEvent, record_events
from kasir.errors import InvalidRequest
from kasir.payments.methods import METHODS
from kasir.payments.mutations import Credit, Reporter, new_mutation_id
from kasir.payments.service import expire_due
from kasir.payments.views import event_payload
from kasir.store import orders

_INSERT_COLUMNS = (
    "public_id",
    "status",
    "payment_id",
    "late_payment_id",
    "settled_at",
    "settled_by",
    "mode",
    "channel",
    "channel_account",
    "restricted_to",
    "merchant_id",
    "reference",
    "amount",
    "occurred_at",
    "received_at",
    "description",
    "source",
)


_insert_values = itemgetter(*_INSERT_COLUMNS)


@dataclass(slots=True)
class Outcome:
    """What one reported credit did. ``mutation`` is the stored row (with ``invoice_id`` and
    ``late_invoice_id``); ``duplicate`` when it repeats a credit reported before."""

    mutation: dict[str, Any]
    duplicate: bool


@dataclass(slots=True)
class _Fresh:
    row: dict[str, Any]
    occurred_at: datetime
    order: int


def _lock_key(mode: str, key: tuple[str, int | None, str]) -> int:
    """A signed 64-bit name for a credit's reference, for PostgreSQL's advisory locks."""
    digest = hashlib.blake2b(f"{mode}|{key[0]}|{key[1]}|{key[2]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def account_of(channel: str, reporter: Reporter) -> tuple[str, int | None]:
    """The account a credit on ``channel`` landed in, and whose payments it may pay there."""
    method = METHODS[channel]
    if not method.own_channel:
        # The operator's shared QRIS: a merchant's report may pay only that merchant's payments.
        return method.channel_account(0), reporter.merchant_id
    if reporter.merchant_id is None:
        raise InvalidRequest(
            f"a credit on {channel} lands in a merchant's own account: say which merchant",
            code="merchant_required",
            field="channel",
        )
    return method.channel_account(reporter.merchant_id), None


def ingest(
    conn: Connection, reporter: Reporter, credits: list[Credit], settings: Settings, now: datetime
) -> list[Outcome]:
    """Store ``credits`` and pay what they match; one ``Outcome`` per credit, in order."""
    grace = timedelta(seconds=settings.mutation_clock_grace)
    keyed: list[tuple[tuple[str, int | None, str], bool]] = []  # (key, repeats an earlier one)
    first: dict[tuple[str, int | None, str], _Fresh] = {}
    accounts: dict[str, tuple[str, int | None]] = {}
    for order, credit in enumerate(credits):
        if credit.channel not in accounts:
            accounts[credit.channel] = account_of(credit.channel, reporter)
        account, restricted_to = accounts[credit.channel]
        key = (account, restricted_to, credit.reference)
        keyed.append((key, key in first))
        if key in first:
            continue  # the same credit twice in one batch: the second answers what the first does
        occurred_at = credit.occurred_at or now
        first[key] = _Fresh(
            {
                "public_id": new_mutation_id(),
                "mode": reporter.mode,
                "channel": credit.channel,
                "channel_account": account,
                "restricted_to": restricted_to,
                "merchant_id": reporter.merchant_id,
                "reference": credit.reference,
                "amount": credit.amount,
                "occurred_at": occurred_at,
                "received_at": now,
                "description": credit.description,
                "source": reporter.source,
                "status": "unmatched",
                "payment_id": None,
                "late_payment_id": None,
                "settled_at": None,
                "settled_by": None,
                "invoice_id": None,
                "late_invoice_id": None,
            },
            occurred_at,
            order,
        )

    if conn.dialect.name == "postgresql":
        fastpath.run(conn, fastpath.LOCK_REFERENCES, {"keys": sorted({_lock_key(reporter.mode, k) for k in first})})
    results: dict[tuple[str, int | None, str], Outcome] = {}
    repeated: dict[tuple[str, int | None], list[str]] = {}
    for account, restricted_to, reference in first:
        repeated.setdefault((account, restricted_to), []).append(reference)
    for (account, restricted_to), references in repeated.items():
        params: dict[str, Any] = {"mode": reporter.mode, "account": account, "references": references}
        q = fastpath.UNRESTRICTED_MUTATIONS_BY_REFERENCE
        if restricted_to is not None:
            q, params["restricted_to"] = fastpath.MUTATIONS_BY_REFERENCE, restricted_to
        for row in fastpath.fetch_all(conn, q, params):
            results[(account, restricted_to, row["reference"])] = Outcome(row, duplicate=True)

    fresh = [item for key, item in first.items() if key not in results]
    if fresh:
        _match(conn, fresh, reporter.mode, settings, now, grace)
    for key, item in first.items():
        results.setdefault(key, Outcome(item.row, duplicate=False))
    return [Outcome(results[key].mutation, results[key].duplicate or repeat) for key, repeat in keyed]


def _match(
    conn: Connection, fresh: list[_Fresh], mode: str, settings: Settings, now: datetime, grace: timedelta
) -> None:
    """Decide what each new credit pays, then write it all: the credits with their outcome,
    the payments, the events. The credits are written before the payments change: should one
    have been stored by a concurrent transaction after all (the reference locks in ``ingest``
    make that impossible), the batch rolls back to be run again rather than pay twice."""
    by_account: dict[str, list[_Fresh]] = {}
    for item in fresh:
        by_account.setdefault(item.row["channel_account"], []).append(item)

    late_window = timedelta(seconds=settings.mutation_late_window)
    paid: list[tuple[_Fresh, dict[str, Any]]] = []
    late: list[tuple[_Fresh, dict[str, Any]]] = []
    unresolved: list[_Fresh] = []
    stale: list[int] = []
    for account, items in by_account.items():
        pending = {
            p["final_amount"]: p
            for p in fastpath.fetch_all(
                conn,
                fastpath.PENDING_BY_FINAL_AMOUNT,
                {"mode": mode, "account": account, "amounts": sorted({i.row["amount"] for i in items})},
            )
        }
        # The earliest credit gets the payment when two of one amount arrive together.
        for item in sorted(items, key=lambda i: (i.occurred_at, i.order)):
            payment = pending.get(item.row["amount"])
            restricted_to = item.row["restricted_to"]
            if payment is None or (restricted_to is not None and payment["merchant_id"] != restricted_to):
                unresolved.append(item)
            elif payment["created_at"] > item.occurred_at + grace:
                unresolved.append(item)  # the money came before the payment existed
            elif payment["expires_at"] + grace <= item.occurred_at:
                # Pending on disk but over before the money came: expire it, keep the credit, as
                # late for it if it came within the late window (as for any expired payment).
                if payment["id"] not in stale:
                    stale.append(payment["id"])
                if payment["expires_at"] > item.occurred_at - late_window:
                    late.append((item, payment))
            else:
                del pending[item.row["amount"]]
                paid.append((item, payment))
    if unresolved:
        late.extend(_late_candidates(conn, unresolved, mode, settings, grace))

    for item, payment in paid:
        item.row.update(
            status="matched",
            payment_id=payment["id"],
            invoice_id=payment["invoice_id"],
            merchant_id=payment["merchant_id"],
            settled_at=now,
            settled_by="matching",
        )
    for item, payment in late:
        item.row.update(
            status="late",
            late_payment_id=payment["id"],
            late_invoice_id=payment["invoice_id"],
            merchant_id=item.row["merchant_id"] or payment["merchant_id"],
        )

    # One global order: two PostgreSQL transactions inserting overlapping references wait on
    # each other in the same order, never crosswise.
    ordered = sorted(fresh, key=lambda i: (i.row["channel_account"], i.row["reference"]))
    inserted = fastpath.insert_values(
        conn,
        "mutations",
        _INSERT_COLUMNS,
        [_insert_values(item.row) for item in ordered],
        returning=("id",),
        on_conflict_do_nothing=True,
    )
    if len(inserted) != len(ordered):
        raise RetryTransaction("a concurrent report stored some of these credits first")

    for payment_id in stale:
        expire_due(conn, now, settings.public_url, payment_id=payment_id)
    if not paid:
        return
    changed = fastpath.pay_payments(
        conn,
        [
            {
                "id": payment["id"],
                # When the money came, as the source saw it, within the payment's life.
                "paid_at": min(max(item.occurred_at, payment["created_at"]), now),
                "paid_amount": item.row["amount"],
                "paid_reff_num": item.row["reference"],
                "closed_at": now,
            }
            for item, payment in paid
        ],
    )
    if changed != len(paid):  # the candidates are locked; anything else is a bug, not a race
        raise RuntimeError(f"{len(paid) - changed} matched payment(s) were no longer pending")
    timestamp = int(now.timestamp())
    events: list[NewEvent] = []
    for item, payment in paid:
        payment.update(
            status="paid",
            paid_at=min(max(item.occurred_at, payment["created_at"]), now),
            paid_amount=item.row["amount"],
            paid_reff_num=item.row["reference"],
            closed_at=now,
        )
        events.append(
            NewEvent(
                merchant_id=payment["merchant_id"],
                mode=payment["mode"],
                type="payment.paid",
                payload=event_payload("payment.paid", payment, settings.public_url, timestamp),
                payment_id=payment["id"],
                callback_url=payment["callback_url"],
            )
        )
    record_events(conn, events, now)
    # A WA Store order paid by one of these payments is paid in this same transaction.
    orders.mark_paid(conn, [payment for _, payment in paid], settings.public_url, now)


def _late_candidates(
    conn: Connection, unresolved: list[_Fresh], mode: str, settings: Settings, grace: timedelta
) -> list[tuple[_Fresh, dict[str, Any]]]:
    """Credits that came after their payment expired: the expired payment of the same final
    amount, on the same account, that existed before the money and expired within
    ``mutation_late_window`` of it (the most recent one when there are several)."""
    window = timedelta(seconds=settings.mutation_late_window)
    found: list[tuple[_Fresh, dict[str, Any]]] = []
    by_account: dict[str, list[_Fresh]] = {}
    for item in unresolved:
        by_account.setdefault(item.row["channel_account"], []).append(item)
    for account, items in by_account.items():
        expired: dict[int, list[dict[str, Any]]] = {}
        for payment in fastpath.fetch_all(
            conn,
            fastpath.EXPIRED_BY_FINAL_AMOUNT,
            {
                "mode": mode,
                "account": account,
                "since": min(i.occurred_at for i in items) - window,
                "amounts": sorted({i.row["amount"] for i in items}),
            },
        ):
            expired.setdefault(payment["final_amount"], []).append(payment)
        for item in items:
            restricted_to = item.row["restricted_to"]
            for payment in expired.get(item.row["amount"], ()):  # most recent expiry first
                if (
                    (restricted_to is None or payment["merchant_id"] == restricted_to)
                    and payment["created_at"] <= item.occurred_at + grace
                    and payment["expires_at"] > item.occurred_at - window
                ):
                    found.append((item, payment))
                    break
    return found

"""Matching credits to payments (docs/architecture.md, "Data flow"): how a payment becomes ``paid``.

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
select per account for the candidates, one update of the payments, one insert each for the events
and the deliveries): matching is bound by the database, not by a round trip per credit. They are
written here once against kasir.db.tables and run on the driver (kasir.db.statements;
docs/architecture.md, "Data path").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Connection, bindparam, func, select, update

from kasir.config import Settings
from kasir.db import statements
from kasir.db.engine import RetryTransaction
from kasir.db.statements import BulkInsert, Conn, Statement, array, const, in_list, unnest, unset_columns
from kasir.db.tables import mutations, payments
from kasir.delivery.outbox import NewEvent, record_events
from kasir.errors import InvalidRequest
from kasir.payments import paid_hooks
from kasir.payments.codes import PENDING_BY_AMOUNT
from kasir.payments.methods import METHODS
from kasir.payments.mutations import Credit, Reporter, new_mutation_id
from kasir.payments.service import expire_due
from kasir.payments.views import MutationStatus, PaymentRow, PaymentStatus, ReportedMutation, event_payload

_ACCOUNT = (payments.c.mode == bindparam("mode")) & (payments.c.channel_account == bindparam("account"))

# The pending payment holding each final amount (the partial unique index allows at most one
# per account). On PostgreSQL the rows are locked, in id order so that two matchers never wait on
# each other crosswise; on SQLite the transaction already holds the database's write lock.
PENDING_BY_FINAL_AMOUNT: Statement[PaymentRow] = Statement(
    select(payments)
    .select_from(PENDING_BY_AMOUNT)
    .where(
        _ACCOUNT,
        payments.c.status == const(PaymentStatus.PENDING),
        in_list(payments.c.final_amount, "amounts"),
    )
    .order_by(payments.c.id)
    .with_for_update(),
    name="pending_by_final_amount",
)

# Payments that expired not long before a credit of their final amount came in: what a late
# credit was most likely meant for.
EXPIRED_BY_FINAL_AMOUNT: Statement[PaymentRow] = Statement(
    select(payments)
    .where(
        _ACCOUNT,
        payments.c.status == const(PaymentStatus.EXPIRED),
        payments.c.expires_at > bindparam("since"),
        in_list(payments.c.final_amount, "amounts"),
    )
    .order_by(payments.c.expires_at.desc()),
    name="expired_by_final_amount",
)

# What paying sets; the payment is named by ``id``.
_PAID_COLUMNS = ("paid_at", "paid_amount", "paid_reff_num", "closed_at")
_PAYING = update(payments).values(status=const(PaymentStatus.PAID))
# SQLite: an ``executemany``, one statement per payment (a local call each).
PAY: Statement[Any] = Statement(
    _PAYING.where(payments.c.id == bindparam("id"), payments.c.status == const(PaymentStatus.PENDING)),
    column_keys=_PAID_COLUMNS,
    name="pay_payment",
)
# PostgreSQL: one ``UPDATE … FROM unnest(…)`` for the batch (as an ``executemany`` each row is a
# statement of its own, a round trip).
_PAID = unnest(payments, ("id", *_PAID_COLUMNS), name="v")
PAY_ALL: Statement[Any] = Statement(
    _PAYING.values({name: _PAID.c[name] for name in _PAID_COLUMNS}).where(
        payments.c.id == _PAID.c.id, payments.c.status == const(PaymentStatus.PENDING)
    ),
    binary=True,
    name="pay_payments",
)

# PostgreSQL only: a transaction-scoped lock per credit reference (a 64-bit hash of it), taken in
# the order given (callers sort). A second report of a reference waits here until the first one's
# transaction ends, and then finds it stored: repeats are answered, never raced. (On SQLite the
# transaction already holds the only write lock.)
_KEY = func.unnest(array("keys", BigInteger())).column_valued("k")
LOCK_REFERENCES: Statement[Any] = Statement(select(func.pg_advisory_xact_lock(_KEY)), name="lock_references")

# A credit with the invoices of the payments it paid or was late for.
_PAID_BY, _LATE_FOR = payments.alias("p"), payments.alias("l")
_REPORTED = (
    select(mutations, _PAID_BY.c.invoice_id.label("invoice_id"), _LATE_FOR.c.invoice_id.label("late_invoice_id"))
    .outerjoin(_PAID_BY, _PAID_BY.c.id == mutations.c.payment_id)
    .outerjoin(_LATE_FOR, _LATE_FOR.c.id == mutations.c.late_payment_id)
    .where(mutations.c.mode == bindparam("mode"), mutations.c.channel_account == bindparam("account"))
)
# The credits already on file under these references: a repeated reference is answered with
# what the first report of it did. Two statements, not one with ``IS NOT DISTINCT FROM``: that
# one PostgreSQL cannot look up in an index.
MUTATIONS_BY_REFERENCE: Statement[ReportedMutation] = Statement(
    _REPORTED.where(
        mutations.c.restricted_to == bindparam("restricted_to"), in_list(mutations.c.reference, "references")
    ),
    name="mutations_by_reference",
)
UNRESTRICTED_MUTATIONS_BY_REFERENCE: Statement[ReportedMutation] = Statement(
    _REPORTED.where(mutations.c.restricted_to.is_(None), in_list(mutations.c.reference, "references")),
    name="unrestricted_mutations_by_reference",
)
# The new credits; those a unique index refused (stored meanwhile by a concurrent report) are
# absent from what it returns.
INSERT_MUTATIONS = BulkInsert(mutations, returning=("id", "public_id"), on_conflict_do_nothing=True)
_MUTATION_DEFAULTS = unset_columns(mutations)


@dataclass(slots=True)
class Outcome:
    """What one reported credit did. ``mutation`` is the stored row (with ``invoice_id`` and
    ``late_invoice_id``); ``duplicate`` when it repeats a credit reported before."""

    mutation: ReportedMutation
    duplicate: bool


@dataclass(slots=True)
class _Fresh:
    row: ReportedMutation
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


def ingest(conn: Conn, reporter: Reporter, credits: list[Credit], settings: Settings, now: datetime) -> list[Outcome]:
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
                **_MUTATION_DEFAULTS,  # type: ignore[typeddict-item]
                "id": 0,  # set once inserted
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
                "status": MutationStatus.UNMATCHED.value,
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
        statements.execute(conn, LOCK_REFERENCES, {"keys": sorted({_lock_key(reporter.mode, k) for k in first})})
    results: dict[tuple[str, int | None, str], Outcome] = {}
    repeated: dict[tuple[str, int | None], list[str]] = {}
    for account, restricted_to, reference in first:
        repeated.setdefault((account, restricted_to), []).append(reference)
    for (account, restricted_to), references in repeated.items():
        params: dict[str, Any] = {"mode": reporter.mode, "account": account, "references": references}
        q = UNRESTRICTED_MUTATIONS_BY_REFERENCE
        if restricted_to is not None:
            q, params["restricted_to"] = MUTATIONS_BY_REFERENCE, restricted_to
        for row in statements.rows(conn, q, params):
            results[(account, restricted_to, row["reference"])] = Outcome(row, duplicate=True)

    fresh = [item for key, item in first.items() if key not in results]
    if fresh:
        _match(conn, fresh, reporter.mode, settings, now, grace)
    for key, item in first.items():
        results.setdefault(key, Outcome(item.row, duplicate=False))
    return [Outcome(results[key].mutation, results[key].duplicate or repeat) for key, repeat in keyed]


def _match(conn: Conn, fresh: list[_Fresh], mode: str, settings: Settings, now: datetime, grace: timedelta) -> None:
    """Decide what each new credit pays, then write it all: the credits with their outcome,
    the payments, the events. The credits are written before the payments change: should one
    have been stored by a concurrent transaction after all (the reference locks in ``ingest``
    make that impossible), the batch rolls back to be run again rather than pay twice."""
    by_account: dict[str, list[_Fresh]] = {}
    for item in fresh:
        by_account.setdefault(item.row["channel_account"], []).append(item)

    late_window = timedelta(seconds=settings.mutation_late_window)
    paid: list[tuple[_Fresh, PaymentRow]] = []
    late: list[tuple[_Fresh, PaymentRow]] = []
    unresolved: list[_Fresh] = []
    stale: list[int] = []
    for account, items in by_account.items():
        pending = {
            p["final_amount"]: p
            for p in statements.rows(
                conn,
                PENDING_BY_FINAL_AMOUNT,
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
        row = item.row
        row["status"] = MutationStatus.MATCHED.value
        row["payment_id"] = payment["id"]
        row["invoice_id"] = payment["invoice_id"]
        row["merchant_id"] = payment["merchant_id"]
        row["settled_at"] = now
        row["settled_by"] = "matching"
    for item, payment in late:
        row = item.row
        row["status"] = MutationStatus.LATE.value
        row["late_payment_id"] = payment["id"]
        row["late_invoice_id"] = payment["invoice_id"]
        row["merchant_id"] = row["merchant_id"] or payment["merchant_id"]

    # One global order: two PostgreSQL transactions inserting overlapping references wait on
    # each other in the same order, never crosswise.
    ordered = sorted(fresh, key=lambda i: (i.row["channel_account"], i.row["reference"]))
    inserted = statements.insert_many(conn, INSERT_MUTATIONS, [item.row for item in ordered])
    if len(inserted) != len(ordered):
        raise RetryTransaction("a concurrent report stored some of these credits first")
    ids = {row["public_id"]: row["id"] for row in inserted}
    for item in ordered:
        item.row["id"] = ids[item.row["public_id"]]

    for payment_id in stale:  # rare (the sweeper expires them first): SQLAlchemy's, on a thread
        expire_due(statements.on_sqlalchemy(conn), now, settings.public_url, payment_id=payment_id)
    if not paid:
        return
    changed = _pay(
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
        payment["status"] = PaymentStatus.PAID.value
        payment["paid_at"] = min(max(item.occurred_at, payment["created_at"]), now)
        payment["paid_amount"] = item.row["amount"]
        payment["paid_reff_num"] = item.row["reference"]
        payment["closed_at"] = now
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
    # What these payments pay for (a WA Store order) is paid in this same transaction.
    paid_hooks.payments_paid(conn, [payment for _, payment in paid], settings.public_url, now)


def _pay(conn: Conn, rows: list[dict[str, Any]]) -> int:
    """Pay every payment of ``rows`` (its ``id`` and what paying sets) that is still pending; the
    number of payments it changed."""
    if isinstance(conn, Connection) and conn.dialect.name != "postgresql":
        return statements.execute_many(conn, PAY, rows)
    return statements.execute(conn, PAY_ALL, {name: [row[name] for row in rows] for name in ("id", *_PAID_COLUMNS)})


def _late_candidates(
    conn: Conn, unresolved: list[_Fresh], mode: str, settings: Settings, grace: timedelta
) -> list[tuple[_Fresh, PaymentRow]]:
    """Credits that came after their payment expired: the expired payment of the same final
    amount, on the same account, that existed before the money and expired within
    ``mutation_late_window`` of it (the most recent one when there are several)."""
    window = timedelta(seconds=settings.mutation_late_window)
    found: list[tuple[_Fresh, PaymentRow]] = []
    by_account: dict[str, list[_Fresh]] = {}
    for item in unresolved:
        by_account.setdefault(item.row["channel_account"], []).append(item)
    for account, items in by_account.items():
        expired: dict[int, list[PaymentRow]] = {}
        for payment in statements.rows(
            conn,
            EXPIRED_BY_FINAL_AMOUNT,
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

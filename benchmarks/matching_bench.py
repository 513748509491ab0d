"""Matching 100,000 credits against 100,000 pending payments (target ≤ 5 s, docs/BENCHMARKS.md).

For each database (SQLite file in a temp folder, and/or a scratch PostgreSQL database):

1. a fresh database is migrated; one merchant, with a default callback URL so that every
   ``payment.paid`` also writes its delivery row, as it would live;
2. 100,000 pending payments on the shared QRIS account are written in bulk (unique final
   amounts, created a minute ago, valid for a day);
3. **kasir**: 100,000 credits of exactly those amounts, shuffled, go through
   ``kasir.payments.matching.ingest`` in batches of 1,000 (the API's batch limit), one
   transaction and one commit each, as ``POST /v1/mutations`` or a statement import runs them;
   then every payment is checked paid once with one event and one delivery;
4. **raw writes**, the baseline, on a second fresh database seeded the same way: the same rows
   written with no checks and no matching (per batch one multi-row insert of the credits, an
   ``executemany`` update of the payments by id, multi-row inserts of the events, with payloads of
   the same size, and of their deliveries, then a commit). It is the floor any implementation
   pays for the same durable writes.

Two arrival orders: ``realistic`` (credits come roughly in the order payments were made, as
customers pay within a payment's 15 minutes) and ``shuffled`` (any order: the worst case, where
every credit touches a page of the payments table no other credit in its batch touches).

The report gives both times and their ratio. Run::

    .venv/bin/python benchmarks/matching_bench.py                      # SQLite and PostgreSQL
    .venv/bin/python benchmarks/matching_bench.py --database sqlite
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import time
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from api_bench import PG_ADMIN_URL, cpu_model, fresh_database, git_revision
from rich.console import Console
from rich.table import Table

from kasir import secrets_at_rest
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db import statements
from kasir.db.engine import Database, build_engine
from kasir.db.migrate import upgrade
from kasir.db.statements import BulkInsert, Statement, const, unset_columns
from kasir.db.tables import deliveries, events, mutations, payments
from kasir.delivery.service import update_callback_settings
from kasir.merchants.service import Principal, authenticate, create_merchant
from kasir.payments.matching import ingest
from kasir.payments.mutations import Credit, Reporter, new_mutation_id
from kasir.payments.views import event_payload

HERE = Path(__file__).resolve().parent
TARGET_SECONDS = 5.0
CALLBACK_URL = "http://127.0.0.1:9/callback"  # never called: the worker does not run here
console = Console()

INSERT_PAYMENTS = BulkInsert(payments)


def seed(db: Database, settings: Settings, count: int) -> tuple[Principal, list[int]]:
    """A merchant with a callback URL, and ``count`` pending payments; their final amounts."""
    upgrade(db.engine)
    secrets_at_rest.load_key(db, settings)  # the key fresh_database wrote into the target's home
    created = db.write_sync(lambda conn: create_merchant(conn, name="Bench", username="bench"))
    principal = db.read_sync(lambda conn: authenticate(conn, created.test_api_key))
    db.write_sync(
        lambda conn: update_callback_settings(conn, principal, {"default_callback_url": CALLBACK_URL}, utcnow())
    )
    return principal, insert_pending_payments(db, principal.merchant_id, count)


def insert_pending_payments(
    db: Database,
    merchant_id: int,
    count: int,
    prefix: str = "bench",
    *,
    method: str = "qris",
    created_ago: timedelta = timedelta(minutes=1),
) -> list[int]:
    """``count`` pending test-mode payments by ``method`` (the shared QRIS account, or the
    merchant's own account of an own-channel method), written in bulk (not timed anywhere: only
    their matching is), each with a distinct final amount; those amounts. ``delivery_bench.py``
    and ``sources_bench.py`` pay them through mutations and notifications too."""
    account = f"platform:{method}" if method == "qris" else f"merchant:{merchant_id}:{method}"
    now = utcnow()
    finals = []
    rows = []
    for i in range(count):
        # 999 codes per amount: amounts a thousand apart keep every final amount distinct.
        amount, code = 10_000 + 1000 * (i // 999), i % 999 + 1
        finals.append(amount + code)
        values: dict[str, Any] = unset_columns(payments)
        values.update(
            invoice_id=f"PAY-{prefix}-{int(now.timestamp())}-{i:07d}",
            merchant_id=merchant_id,
            mode="test",
            payment_method=method,
            channel_account=account,
            amount=amount,
            unique_code=code,
            final_amount=amount + code,
            status="pending",
            use_qris_converter=False,
            created_at=now - created_ago,
            expires_at=now + timedelta(days=1),
        )
        rows.append(values)
    for start in range(0, count, 10_000):
        db.write_sync(partial(statements.insert_many, bulk=INSERT_PAYMENTS, rows=rows[start : start + 10_000]))
    return finals


def arrival_order(count: int, order: str) -> list[int]:
    """Which payment each credit pays, in the order the credits arrive. ``shuffled``: any
    order at all, the worst case for the database's page cache. ``realistic``: customers pay
    within a payment's 15 minutes, so credits come roughly in the order payments were made: each
    is displaced by up to ``count // 20`` places (5 % of the run)."""
    rng = random.Random(7)
    if order == "shuffled":
        indexes = list(range(count))
        rng.shuffle(indexes)
        return indexes
    return sorted(range(count), key=lambda i: i + rng.uniform(0, count // 20))


def run_kasir(
    db: Database, settings: Settings, principal: Principal, finals: list[int], batch: int, order: str
) -> float:
    credits = [Credit("qris", finals[i], f"BENCH-{i:07d}") for i in arrival_order(len(finals), order)]
    reporter = Reporter(mode="test", merchant_id=principal.merchant_id, source="bench")
    started = time.perf_counter()
    for start in range(0, len(credits), batch):
        chunk = credits[start : start + batch]
        db.write_sync(partial(ingest, reporter=reporter, credits=chunk, settings=settings, now=utcnow()))
    return time.perf_counter() - started


def verify(db: Database, count: int) -> dict[str, int]:
    def tally(conn: sa.Connection) -> dict[str, int]:
        def scalar(query: Any) -> int:
            return int(conn.execute(query).scalar_one())

        return {
            "paid": scalar(sa.select(sa.func.count()).select_from(payments).where(payments.c.status == "paid")),
            "events": scalar(sa.select(sa.func.count()).select_from(events).where(events.c.type == "payment.paid")),
            "payments_with_one_event": scalar(
                sa.select(sa.func.count()).select_from(
                    sa.select(events.c.payment_id)
                    .where(events.c.type == "payment.paid")
                    .group_by(events.c.payment_id)
                    .having(sa.func.count() == 1)
                    .subquery()
                )
            ),
            "deliveries": scalar(sa.select(sa.func.count()).select_from(deliveries)),
        }

    found = db.read_sync(tally)
    expected = {"paid": count, "events": count, "payments_with_one_event": count, "deliveries": count}
    if found != expected:
        raise SystemExit(f"matching was wrong: {found} != {expected}")
    return found


# The baseline writes only what a row cannot go without: the NOT NULL columns (and the merchant),
# each row as one VALUES group / one array element, as kasir's own bulk inserts do.
def _required(table: sa.Table, *also: str) -> tuple[str, ...]:
    return tuple(c.key for c in table.c if (not c.nullable and not c.primary_key) or c.key in also)


RAW_MUTATIONS = BulkInsert(mutations, columns=_required(mutations, "merchant_id"))
RAW_EVENTS = BulkInsert(events, columns=_required(events, "payment_id"), returning=("id",))
RAW_DELIVERIES = BulkInsert(deliveries, columns=_required(deliveries, "next_attempt_at"))
RAW_PAY: Statement[Any] = Statement(
    sa.update(payments).where(payments.c.id == sa.bindparam("id")).values(status=const("paid")),
    column_keys=["paid_amount"],
)


def run_raw(db: Database, settings: Settings, principal: Principal, finals: list[int], batch: int, order: str) -> float:
    """The baseline: the same durable writes, with no checks and no matching logic."""
    ids = db.read_sync(lambda conn: dict(conn.execute(sa.select(payments.c.final_amount, payments.c.id)).all()))
    sample = db.read_sync(lambda conn: dict(conn.execute(sa.select(payments).limit(1)).mappings().one()))
    arrivals = [(i, finals[i]) for i in arrival_order(len(finals), order)]
    started = time.perf_counter()
    for start in range(0, len(arrivals), batch):
        chunk = arrivals[start : start + batch]
        now = utcnow()

        def write(conn: sa.Connection, chunk: list[tuple[int, int]] = chunk, now: Any = now) -> None:
            merchant = principal.merchant_id
            statements.insert_many(
                conn,
                RAW_MUTATIONS,
                [
                    {
                        "public_id": new_mutation_id(),
                        "mode": "test",
                        "channel": "qris",
                        "channel_account": "platform:qris",
                        "merchant_id": merchant,
                        "reference": f"RAW-{i}",
                        "amount": a,
                        "occurred_at": now,
                        "received_at": now,
                        "source": "bench",
                        "status": "matched",
                    }
                    for i, a in chunk
                ],
            )
            statements.execute_many(conn, RAW_PAY, [{"id": ids[a], "paid_amount": a} for _i, a in chunk])
            payload = json.dumps(event_payload("payment.paid", sample, settings.public_url, int(now.timestamp())))
            event_ids = statements.insert_many(
                conn,
                RAW_EVENTS,
                [
                    {
                        "event_id": "evt_" + secrets.token_hex(12),
                        "merchant_id": merchant,
                        "mode": "test",
                        "type": "payment.paid",
                        "payment_id": ids[a],
                        "payload": payload,
                        "created_at": now,
                    }
                    for _i, a in chunk
                ],
            )
            statements.insert_many(
                conn,
                RAW_DELIVERIES,
                [
                    {
                        "public_id": "dlv_" + secrets.token_hex(12),
                        "event_id": event["id"],
                        "merchant_id": merchant,
                        "mode": "test",
                        "url": CALLBACK_URL,
                        "dialect": "bayargg",
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for event in event_ids
                ],
            )

        db.write_sync(write)
    return time.perf_counter() - started


def measure(kind: str, order: str, count: int, batch: int, pg_admin_url: str) -> dict[str, Any]:
    result: dict[str, Any] = {"database": kind, "order": order, "payments": count, "credits": count, "batch": batch}
    for case in ("raw", "kasir"):
        with fresh_database(kind, pg_admin_url) as target:
            settings = Settings(home=target.home, database_url=target.url, payment_ttl=86400)
            db = Database(build_engine(settings.resolved_database_url))
            try:
                console.print(f"[dim]{kind}, {order}: seeding {count:,} pending payments for {case}…[/dim]")
                principal, finals = seed(db, settings, count)
                runner = run_kasir if case == "kasir" else run_raw
                seconds = runner(db, settings, principal, finals, batch, order)
                if case == "kasir":
                    result["verified"] = verify(db, count)
                result[f"{case}_seconds"] = round(seconds, 3)
            finally:
                db.dispose()
    result["kasir_per_second"] = round(count / result["kasir_seconds"])
    result["ratio_to_raw"] = round(result["kasir_seconds"] / result["raw_seconds"], 2)
    result["target_seconds"] = TARGET_SECONDS
    result["meets_target"] = result["kasir_seconds"] <= TARGET_SECONDS
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--order", choices=("realistic", "shuffled", "both"), default="both")
    parser.add_argument("--count", type=int, default=100_000, help="pending payments, and credits")
    parser.add_argument("--batch", type=int, default=1000, help="credits per transaction")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "matching.json")
    args = parser.parse_args()
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    orders = ("realistic", "shuffled") if args.order == "both" else (args.order,)
    results = [measure(kind, order, args.count, args.batch, args.pg_admin_url) for kind in kinds for order in orders]

    table = Table(
        "database", "arrival", "credits", "kasir", "credits/s", "raw writes", "kasir ÷ raw", f"≤ {TARGET_SECONDS:.0f} s"
    )
    for r in results:
        table.add_row(
            r["database"],
            r["order"],
            f"{r['credits']:,}",
            f"{r['kasir_seconds']:.2f} s",
            f"{r['kasir_per_second']:,}",
            f"{r['raw_seconds']:.2f} s",
            f"{r['ratio_to_raw']:.2f}×",
            "[green]yes[/green]" if r["meets_target"] else "[red]no[/red]",
        )
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "results": results,
        "git_revision": git_revision(),
        "cpu": cpu_model(),
        "measured_at": utcnow().isoformat(),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"[dim]written to {args.out}[/dim]")
    return 0


if __name__ == "__main__":
    sys.exit(main())

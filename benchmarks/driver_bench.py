"""Which PostgreSQL driver the units of work should run on: today's SQLAlchemy + psycopg in worker
threads, against psycopg's async connection and asyncpg on the event loop, and asyncpg driven
from synchronous unit-of-work code through a greenlet (the units stay written once, for both
backends; docs/architecture.md, "Data path").

    .venv/bin/python benchmarks/driver_bench.py [--seconds 4] [--rounds 2] [--concurrency 64]
        [--pg-admin-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--out FILE]

Two shapes of work, each by 64 tasks at once on one uvloop, for ``--seconds`` after a warm-up:

- ``create``: a transaction shaped like create-payment: read the final amounts taken around the
  amount, insert the payment (``ON CONFLICT DO NOTHING RETURNING id``), its event (``RETURNING
  id``) and one delivery, commit;
- ``check``: one SELECT of a payment by invoice, merchant and mode, outside a transaction (what
  check-payment and every pay page's poll run).

The statements are Kasir's tables' Core constructs, compiled once per driver (pyformat for
psycopg, ``$n`` for asyncpg), against a scratch database created from kasir.db.tables. The
figure that matters is the client's CPU per unit (this process's CPU time, every thread
included, divided by the units done): PostgreSQL runs on the same two cores, so throughput is
shared with it, while CPU per unit is what the API's and the worker's processes pay. Each round
runs every variant once, in turn, so a change of load on the machine shows as a spread between
rounds rather than as a difference between variants; ratios are against ``sa-threads`` in the same
round, the design of ``create`` before this benchmark chose asyncpg (``check`` was then the
``psycopg-async`` variant); Kasir now runs ``asyncpg-greenlet`` (kasir.db.loop).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio.to_thread
import asyncpg
import greenlet
import psycopg
import sqlalchemy as sa
import uvloop
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util import await_only as sa_await_only

from kasir.db import tables
from kasir.db.engine import PG_POOL_SIZE

T = TypeVar("T")

PG_ADMIN_URL = os.environ.get("KASIR_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATABASE = "kasir_driver_bench"
MODE, CHANNEL = "test", "kasir-bench"
BASE_AMOUNT = 50_000
# Distinct amounts: enough that two units rarely pick the same final amount (a conflict would
# insert nothing), while the read of the taken ones still runs on the partial index.
AMOUNTS = 100_000


# --- the statements, compiled per driver -------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    sql: str
    names: tuple[str, ...]  # the order of the positional parameters (asyncpg)


def compile_for(construct: sa.ClauseElement, dialect: Dialect) -> Compiled:
    compiled = cast(SQLCompiler, construct.compile(dialect=dialect))
    names = tuple(compiled.positiontup or ()) if dialect.paramstyle != "pyformat" else ()
    return Compiled(str(compiled), names)


def constructs() -> dict[str, sa.ClauseElement]:
    p, e, d = tables.payments, tables.events, tables.deliveries
    return {
        "taken": sa.select(p.c.final_amount).where(
            p.c.mode == sa.bindparam("mode"),
            p.c.channel_account == sa.bindparam("channel_account"),
            p.c.status == sa.literal_column("'pending'"),
            p.c.final_amount.between(sa.bindparam("low"), sa.bindparam("high")),
        ),
        "insert_payment": sa.dialects.postgresql.insert(p)
        .values({name: sa.bindparam(name) for name in PAYMENT_COLUMNS})
        .on_conflict_do_nothing()
        .returning(p.c.id),
        "insert_event": sa.insert(e).values({name: sa.bindparam(name) for name in EVENT_COLUMNS}).returning(e.c.id),
        "insert_delivery": sa.insert(d).values({name: sa.bindparam(name) for name in DELIVERY_COLUMNS}),
        "by_invoice": sa.select(p).where(
            p.c.invoice_id == sa.bindparam("invoice_id"),
            p.c.merchant_id == sa.bindparam("merchant_id"),
            p.c.mode == sa.bindparam("mode"),
        ),
    }


# The columns a create-payment sets (the rest take their defaults), as kasir.payments.service does.
PAYMENT_COLUMNS = [
    *("invoice_id", "merchant_id", "mode", "payment_method", "channel_account", "amount", "unique_code"),
    *("final_amount", "status", "created_at", "expires_at", "use_qris_converter"),
]
EVENT_COLUMNS = ["event_id", "merchant_id", "mode", "type", "payment_id", "payload", "created_at"]
DELIVERY_COLUMNS = [
    *("public_id", "event_id", "merchant_id", "mode", "url", "dialect", "status", "next_attempt_at", "created_at")
]


def payment_values(merchant_id: int, now: datetime) -> dict[str, Any]:
    amount = BASE_AMOUNT + secrets.randbelow(AMOUNTS) * 1_000
    code = 1 + secrets.randbelow(999)
    return {
        "invoice_id": f"PAY-bench-{secrets.token_hex(8)}",
        "merchant_id": merchant_id,
        "mode": MODE,
        "payment_method": "qris",
        "channel_account": CHANNEL,
        "amount": amount,
        "unique_code": code,
        "final_amount": amount + code,
        "status": "pending",
        "created_at": now,
        "expires_at": now + timedelta(minutes=30),
        "use_qris_converter": False,
        "low": amount + 1,
        "high": amount + 999,
    }


def event_values(payment: dict[str, Any], payment_id: int) -> dict[str, Any]:
    return {
        "event_id": f"evt_{secrets.token_hex(10)}",
        "merchant_id": payment["merchant_id"],
        "mode": MODE,
        "type": "payment.created",
        # The size of a real payment.created payload.
        "payload": json.dumps({"invoice_id": payment["invoice_id"], "pad": "x" * 600}),
        "payment_id": payment_id,
        "created_at": payment["created_at"],
    }


def delivery_values(event: dict[str, Any], event_id: int) -> dict[str, Any]:
    return {
        "public_id": f"dlv_{secrets.token_hex(10)}",
        "event_id": event_id,
        "merchant_id": event["merchant_id"],
        "mode": MODE,
        "url": "https://shop.example/hook",
        "dialect": "bayargg",
        "status": "pending",
        "next_attempt_at": event["created_at"],
        "created_at": event["created_at"],
    }


# --- the unit of work, written once against a tiny executor --------------------------------------


class Executor:
    """What a unit of work needs of its connection: rows of a statement by name."""

    def rows(self, name: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        raise NotImplementedError


def create_payment_unit(ex: Executor, merchant_id: int) -> int:
    """Synchronous, as Kasir's units are: run on a thread's psycopg cursor, or in a greenlet
    whose executor awaits asyncpg on the loop."""
    now = datetime.now(UTC)
    payment = payment_values(merchant_id, now)
    # What is read matters less than that it is read: the pick of a free code is Kasir's.
    ex.rows("taken", payment)
    inserted = ex.rows("insert_payment", payment)
    if not inserted:  # that final amount was taken meanwhile (rare): Kasir would pick again
        return 0
    [[payment_id]] = inserted
    event = event_values(payment, payment_id)
    [[event_id]] = ex.rows("insert_event", event)
    ex.rows("insert_delivery", delivery_values(event, event_id))
    return int(payment_id)


async def create_payment_async(
    fetch: Callable[[str, dict[str, Any]], Awaitable[Sequence[Sequence[Any]]]], merchant_id: int
) -> int:
    """The same unit written as a coroutine, for the drivers' native async APIs."""
    now = datetime.now(UTC)
    payment = payment_values(merchant_id, now)
    await fetch("taken", payment)
    inserted = await fetch("insert_payment", payment)
    if not inserted:
        return 0
    [[payment_id]] = inserted
    event = event_values(payment, payment_id)
    [[event_id]] = await fetch("insert_event", event)
    await fetch("insert_delivery", delivery_values(event, event_id))
    return int(payment_id)


# --- the variants ---------------------------------------------------------------------------------


class Variant:
    name = ""

    async def start(self, url: str, size: int) -> None: ...
    async def create(self, merchant_id: int) -> None: ...
    async def check(self, params: dict[str, Any]) -> None: ...
    async def close(self) -> None: ...


class PsycopgCursor(Executor):
    def __init__(self, cursor: Any, sql: dict[str, str]) -> None:
        self.cursor, self.sql = cursor, sql

    def rows(self, name: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        self.cursor.execute(self.sql[name], params)
        rows: Sequence[Sequence[Any]] = self.cursor.fetchall() if self.cursor.description else []
        return rows


class SqlAlchemyThreads(Variant):
    """Today: kasir.db.engine.Database on PostgreSQL, a unit per worker thread (at most the
    pool's size at once) on SQLAlchemy's psycopg connection, the statements run on its cursor."""

    name = "sa-threads"

    async def start(self, url: str, size: int) -> None:
        self.engine = sa.create_engine(url, pool_size=PG_POOL_SIZE, max_overflow=0)
        self.limiter = anyio.CapacityLimiter(PG_POOL_SIZE)
        dialect = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]
        self.sql = {k: compile_for(c, dialect).sql for k, c in constructs().items()}

    def _create_sync(self, merchant_id: int) -> None:
        with self.engine.begin() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            create_payment_unit(PsycopgCursor(cursor, self.sql), merchant_id)

    async def create(self, merchant_id: int) -> None:
        await anyio.to_thread.run_sync(self._create_sync, merchant_id, limiter=self.limiter)

    def _check_sync(self, params: dict[str, Any]) -> None:
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(self.sql["by_invoice"], params)
            cursor.fetchone()
            raw.rollback()
        finally:
            raw.close()

    async def check(self, params: dict[str, Any]) -> None:
        await anyio.to_thread.run_sync(self._check_sync, params, limiter=self.limiter)

    async def close(self) -> None:
        self.engine.dispose()


class PsycopgAsync(Variant):
    """psycopg's AsyncConnection on the loop (a fixed set of connections, one unit on each)."""

    name = "psycopg-async"  # check: the design before asyncpg (kasir.db.loop)

    async def start(self, url: str, size: int) -> None:
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        # Autocommit, as check-payment had them before asyncpg: a lone SELECT needs no transaction, and
        # a unit opens one with transaction() (BEGIN ... COMMIT).
        self.idle = [await psycopg.AsyncConnection.connect(conninfo, autocommit=True) for _ in range(size)]
        self.slots = asyncio.Semaphore(size)
        dialect = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]
        self.sql = {k: compile_for(c, dialect).sql for k, c in constructs().items()}

    async def create(self, merchant_id: int) -> None:
        async with self.slots:
            conn = self.idle.pop()
            try:
                async with conn.transaction(), conn.cursor() as cursor:

                    async def fetch(name: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
                        await cursor.execute(self.sql[name], params)
                        return await cursor.fetchall() if cursor.description else []

                    await create_payment_async(fetch, merchant_id)
            finally:
                self.idle.append(conn)

    async def check(self, params: dict[str, Any]) -> None:
        async with self.slots:
            conn = self.idle.pop()
            try:
                async with conn.cursor() as cursor:
                    await cursor.execute(self.sql["by_invoice"], params)
                    await cursor.fetchone()
            finally:
                self.idle.append(conn)

    async def close(self) -> None:
        for conn in self.idle:
            await conn.close()


class Asyncpg(Variant):
    """asyncpg's pool on the loop; its statements are prepared once per connection (its cache)."""

    name = "asyncpg"

    async def start(self, url: str, size: int) -> None:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.pool = await asyncpg.create_pool(dsn, min_size=size, max_size=size)
        dialect = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]
        self.compiled = {k: compile_for(c, dialect) for k, c in constructs().items()}

    def args(self, name: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
        compiled = self.compiled[name]
        return compiled.sql, [params[n] for n in compiled.names]

    async def create(self, merchant_id: int) -> None:
        async with self.pool.acquire() as conn, conn.transaction():

            async def fetch(name: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
                sql, args = self.args(name, params)
                rows: Sequence[Sequence[Any]] = await conn.fetch(sql, *args)
                return rows

            await create_payment_async(fetch, merchant_id)

    async def check(self, params: dict[str, Any]) -> None:
        sql, args = self.args("by_invoice", params)
        await self.pool.fetchrow(sql, *args)

    async def close(self) -> None:
        await self.pool.close()


def await_only(awaitable: Awaitable[T]) -> T:
    """From synchronous code inside ``in_greenlet``: hand ``awaitable`` to the loop, resume with
    its result."""
    parent = greenlet.getcurrent().parent
    assert parent is not None, "await_only outside in_greenlet"
    return parent.switch(awaitable)  # type: ignore[no-any-return]


async def in_greenlet(fn: Callable[..., T], *args: Any) -> T:
    """Run synchronous ``fn`` on the loop: each await_only it makes suspends it while this
    coroutine awaits, so the code stays synchronous and the loop never blocks."""
    child = greenlet.greenlet(fn)
    value = child.switch(*args)
    while not child.dead:
        try:
            result = await value
        except BaseException as exc:
            value = child.throw(exc)
        else:
            value = child.switch(result)
    return value  # type: ignore[no-any-return]


class AsyncpgBridge(Executor):
    """Synchronous statements, each awaited on the loop by the greenlet's parent."""

    def __init__(self, conn: Any, compiled: dict[str, Compiled]) -> None:
        self.conn, self.compiled = conn, compiled

    def rows(self, name: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        statement = self.compiled[name]
        return await_only(self.conn.fetch(statement.sql, *[params[n] for n in statement.names]))


class AsyncpgGreenlet(Asyncpg):
    """The synchronous unit of the threads variant, run in a greenlet on the loop over asyncpg."""

    name = "asyncpg-greenlet"

    async def create(self, merchant_id: int) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await in_greenlet(create_payment_unit, AsyncpgBridge(conn, self.compiled), merchant_id)

    async def check(self, params: dict[str, Any]) -> None:
        sql, args = self.args("by_invoice", params)
        pool = self.pool
        await in_greenlet(lambda: await_only(pool.fetchrow(sql, *args)))


class PositionalCursor(Executor):
    def __init__(self, cursor: Any, compiled: dict[str, Compiled]) -> None:
        self.cursor, self.compiled = cursor, compiled

    def rows(self, name: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        statement = self.compiled[name]
        self.cursor.execute(statement.sql, [params[n] for n in statement.names])
        rows: Sequence[Sequence[Any]] = self.cursor.fetchall() if self.cursor.description else []
        return rows


class SqlAlchemyAsyncpg(Variant):
    """SQLAlchemy's asyncio extension over asyncpg: the synchronous unit in ``run_sync`` (its
    greenlet), the statements on the adapted DBAPI cursor as Kasir's run them today, so no
    unit of work would change."""

    name = "sa-asyncpg"

    async def start(self, url: str, size: int) -> None:
        async_url = make_url(url).set(drivername="postgresql+asyncpg")
        self.engine = create_async_engine(async_url, pool_size=size, max_overflow=0)
        dialect = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]
        self.compiled = {k: compile_for(c, dialect) for k, c in constructs().items()}

    def _unit(self, conn: sa.Connection, merchant_id: int) -> None:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        create_payment_unit(PositionalCursor(cursor, self.compiled), merchant_id)

    async def create(self, merchant_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(self._unit, merchant_id)

    def _check(self, conn: sa.Connection, params: dict[str, Any]) -> None:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        statement = self.compiled["by_invoice"]
        cursor.execute(statement.sql, [params[n] for n in statement.names])
        cursor.fetchone()

    async def check(self, params: dict[str, Any]) -> None:
        async with self.engine.connect() as conn:
            await conn.run_sync(self._check, params)

    async def close(self) -> None:
        await self.engine.dispose()


class SaAsyncpgDirect(SqlAlchemyAsyncpg):
    """SQLAlchemy's asyncio extension for the transaction (its pool, BEGIN, COMMIT, run_sync's
    greenlet), the statements straight on the asyncpg connection under it: what Kasir's
    Statement path would do there, with SQLAlchemy's Core still at hand for the cold paths."""

    name = "sa-asyncpg-direct"

    def _unit(self, conn: sa.Connection, merchant_id: int) -> None:
        adapted = conn.connection.dbapi_connection
        raw = adapted._connection  # type: ignore[union-attr]
        create_payment_unit(SaAwaitBridge(raw, self.compiled), merchant_id)

    def _check(self, conn: sa.Connection, params: dict[str, Any]) -> None:
        raw = conn.connection.dbapi_connection._connection  # type: ignore[union-attr]
        statement = self.compiled["by_invoice"]
        sa_await_only(raw.fetchrow(statement.sql, *[params[n] for n in statement.names]))


class SaAwaitBridge(Executor):
    def __init__(self, conn: Any, compiled: dict[str, Compiled]) -> None:
        self.conn, self.compiled = conn, compiled

    def rows(self, name: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        statement = self.compiled[name]
        rows: Sequence[Sequence[Any]] = sa_await_only(
            self.conn.fetch(statement.sql, *[params[n] for n in statement.names])
        )
        return rows


VARIANTS: tuple[type[Variant], ...] = (
    SqlAlchemyThreads,
    PsycopgAsync,
    Asyncpg,
    AsyncpgGreenlet,
    SqlAlchemyAsyncpg,
    SaAsyncpgDirect,
)


# --- the run ----------------------------------------------------------------------------------------


async def drive(
    work: Callable[[int], Awaitable[None]], concurrency: int, seconds: float, warmup: float
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    counting = False
    done = 0
    stop_at = loop.time() + warmup + seconds

    async def task(n: int) -> None:
        nonlocal done
        while loop.time() < stop_at:
            await work(n)
            if counting:
                done += 1

    tasks = [asyncio.create_task(task(n)) for n in range(concurrency)]
    await asyncio.sleep(warmup)
    counting = True
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    counted = done
    counting = False
    await asyncio.gather(*tasks)
    return {"units": counted, "per_second": counted / (wall1 - wall0), "cpu_us": (cpu1 - cpu0) / counted * 1e6}


def prepare_database(admin_url: str) -> tuple[str, int, list[dict[str, Any]]]:
    """A scratch database with Kasir's schema, one merchant, and 2,000 pending payments to find."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
    admin.dispose()
    url = make_url(admin_url).set(database=DATABASE).render_as_string(hide_password=False)
    engine = sa.create_engine(url)
    tables.metadata.create_all(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        merchant_id = conn.execute(
            sa.insert(tables.merchants)
            .values(username="bench", name="Bench", created_at=now)
            .returning(tables.merchants.c.id)
        ).scalar_one()
        rows = list({r["final_amount"]: r for r in (payment_values(merchant_id, now) for _ in range(2_000))}.values())
        conn.execute(sa.insert(tables.payments), [{k: r[k] for k in PAYMENT_COLUMNS} for r in rows])
    engine.dispose()
    lookups = [{"invoice_id": r["invoice_id"], "merchant_id": merchant_id, "mode": MODE} for r in rows]
    analyze(url)
    return url, merchant_id, lookups


def analyze(url: str) -> None:
    """Fresh planner statistics: the create phase grew the table tenfold, and with the old ones
    PostgreSQL looked invoices up through the merchant's index, row by row, until autovacuum
    came by (a 100x swing in the check phase between two rounds)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE payments")


async def measure(
    url: str, merchant_id: int, lookups: list[dict[str, Any]], args: argparse.Namespace
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for round_number in range(1, args.rounds + 1):
        for variant_type in VARIANTS:
            variant = variant_type()

            def create(_n: int, variant: Variant = variant) -> Awaitable[None]:
                return variant.create(merchant_id)

            def check(n: int, variant: Variant = variant) -> Awaitable[None]:
                return variant.check(lookups[(n * 7919 + secrets.randbelow(len(lookups))) % len(lookups)])

            # Each unit on a connection of its own, up to the concurrency (threads: the pool's size).
            await variant.start(url, min(args.concurrency, PG_POOL_SIZE))
            try:
                created = await drive(create, args.concurrency, args.seconds, args.warmup)
                analyze(url)
                checked = await drive(check, args.concurrency, args.seconds, args.warmup)
            finally:
                await variant.close()
            for shape, figures in (("create", created), ("check", checked)):
                results.append({"round": round_number, "variant": variant.name, "shape": shape, **figures})
                print(
                    f"round {round_number}  {variant.name:17} {shape:6}  {figures['per_second']:8.0f}/s"
                    f"  {figures['cpu_us']:6.0f} µs client CPU per unit",
                    flush=True,
                )
    return results


def summarise(results: list[dict[str, Any]]) -> list[str]:
    lines = ["", "client CPU per unit, ÷ sa-threads of the same round (lower is better); units/s in brackets"]
    for shape in ("create", "check"):
        for name in [v.name for v in VARIANTS]:
            ratios, rates, cpu = [], [], []
            for r in results:
                if r["variant"] == name and r["shape"] == shape:
                    base = next(
                        b
                        for b in results
                        if b["round"] == r["round"] and b["shape"] == shape and b["variant"] == "sa-threads"
                    )
                    ratios.append(r["cpu_us"] / base["cpu_us"])
                    rates.append(r["per_second"])
                    cpu.append(r["cpu_us"])
            lines.append(
                f"  {shape:6} {name:17} {' '.join(f'{x:.2f}' for x in ratios):12}"
                f" ({' '.join(f'{x:.0f}' for x in rates)}/s; {statistics.median(cpu):.0f} µs)"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    url, merchant_id, lookups = prepare_database(args.pg_admin_url)
    results = uvloop.run(measure(url, merchant_id, lookups, args))
    for line in summarise(results):
        print(line)
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

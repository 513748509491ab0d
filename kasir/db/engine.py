"""Engines and the ``Database`` that runs units of work on them.

SQLite is the embedded default: WAL (readers never wait for the writer), foreign keys on, and
write transactions opened with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of
deadlocking when a read lock is upgraded. PostgreSQL is used through SQLAlchemy and psycopg 3 on
worker threads, and for the hot units of work and reads on the event loop through asyncpg
(kasir.db.loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import anyio.to_thread
from sqlalchemy import Connection, Engine, create_engine, event, func
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from kasir.db import loop
from kasir.db.loop import LoopPool, NeedsThread
from kasir.db.statements import R, Statement
from kasir.private_files import create_private_file, tighten

T = TypeVar("T")

PG_POOL_SIZE = 20
# asyncpg connections per event loop (kasir.db.loop): a unit holds one for a few round trips, a
# lone read for one, so these serve the many concurrent requests of one process.
LOOP_POOL_SIZE = 16

# Set on a connection whose transaction created deliveries (kasir.delivery.outbox).
NEW_DELIVERIES = "kasir.new_deliveries"

# Marks a connection whose transactions only read: on SQLite they take a deferred BEGIN, which
# gives a consistent snapshot without holding the write lock.
_READ_ONLY = "kasir_read_only"
# Marks a connection whose write transaction must not wait for SQLite's write lock: the event
# loop's, which would stall every request and send in flight while another connection commits
# (WriterBusy sends the work to a thread that waits instead).
_NO_WAIT = "kasir_no_wait"
BUSY_TIMEOUT_MS = 30_000
# Marks the engine of build_engine(bookkeeping=True).
_BOOKKEEPING = "kasir_bookkeeping"


class WriterBusy(Exception):
    """Another connection holds SQLite's write lock, and this transaction was not to wait."""


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def case_folded(column: Any, dialect_name: str) -> Any:
    """``lower(column)`` that folds every script the same way on both backends."""
    return func.unicode_lower(column) if dialect_name == "sqlite" else func.lower(column)


def build_engine(url: str, *, sqlite_synchronous: str = "FULL", bookkeeping: bool = False) -> Engine:
    """``bookkeeping=True`` is for the delivery worker's own engine: its commits only record
    attempts and leases, and losing the newest of them to a power cut means a delivery is sent
    again (at least once still holds), so they skip the fsync that commits of accepted data pay
    (SQLite ``synchronous=NORMAL``, PostgreSQL ``synchronous_commit=off``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        connect_args = {"options": "-c synchronous_commit=off"} if bookkeeping else {}
        # A fixed pool, no overflow: overflow connections are closed when returned, and under
        # load that meant a new PostgreSQL session every few requests. Database caps its threads
        # at this size so nobody waits for a connection that will never come.
        pg = create_engine(url, pool_size=PG_POOL_SIZE, max_overflow=0, pool_pre_ping=True, connect_args=connect_args)
        # The mark tells Database to open its loop connections (kasir.db.loop) the same way.
        return pg.execution_options(**{_BOOKKEEPING: True}) if bookkeeping else pg
    if bookkeeping:
        sqlite_synchronous = "NORMAL"

    if parsed.database and parsed.database != ":memory:":
        # The file holds money and secrets: created 0600 (in a folder created 0700) before SQLite
        # opens it, since SQLite gives its -wal and -shm files the main file's mode. A database an
        # older Kasir created readable to others is tightened, with whatever companions it has.
        database = Path(parsed.database)
        create_private_file(database)
        for suffix in ("-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                tighten(database.with_name(database.name + suffix))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that BEGIN is ours (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
        # 64 MiB of page cache per connection instead of SQLite's 2 MiB: the indexes a batch of
        # matched credits touches (payments, events, deliveries) stay in memory instead of
        # being re-read page by page from the OS (benchmarks/matching_bench.py).
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()
        # SQLite's lower() folds ASCII only; searches must treat "ÉLODIE" like PostgreSQL does.
        dbapi_connection.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get(_NO_WAIT, False):
            _begin_without_waiting(connection)
            return
        connection.exec_driver_sql("BEGIN" if options.get(_READ_ONLY, False) else "BEGIN IMMEDIATE")

    return engine


class _RollBack(Exception):
    """Ends a lone unit's transaction with a rollback, its own exception kept in its outcome."""


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in outcomes:
        if future.done():  # the caller went away (cancelled); its change stands regardless
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _begin_without_waiting(connection: Connection) -> None:
    """``BEGIN IMMEDIATE`` that fails at once with WriterBusy when the lock is taken, instead of
    SQLite's busy handler sleeping up to ``busy_timeout`` on the calling thread."""
    driver = connection.connection.dbapi_connection
    assert driver is not None
    driver.execute("PRAGMA busy_timeout=0")
    try:
        driver.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise WriterBusy(str(exc)) from exc
        raise
    finally:
        driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


_CONFLICT_RETRIES = 5


class RetryTransaction(Exception):
    """Raised by a unit of work that found the database changed under it by a concurrent
    transaction in a way its statements cannot absorb: roll back and run it again."""


def is_conflict(exc: Exception) -> bool:
    """A deadlock or serialization failure, or ``RetryTransaction``: rolled back, may be retried."""
    if isinstance(exc, RetryTransaction):
        return True
    # SQLAlchemy wraps psycopg's error (``orig``); asyncpg's is raised as it is.
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(exc, "sqlstate", None)
    return sqlstate in ("40P01", "40001")


class Database:
    """Runs a unit of work ``fn(connection)`` in one transaction and commits it.

    Services never commit; the caller decides where a transaction starts and ends, which is what
    makes "state change + its events in one transaction" possible.

    On SQLite the work runs inline on the calling thread, even inside the event loop: a local
    SQLite statement takes microseconds, less than the hop to a worker thread would. On
    PostgreSQL it runs in a worker thread, because a network round trip must not stall the loop.
    """

    def __init__(self, engine: Engine, *, offload: bool = False) -> None:
        """``offload=True`` runs SQLite work in a thread too: the worker wants its network I/O to
        go on while a commit waits for the disk; the API wants the lower latency of inline."""
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._inline = self.is_sqlite and not offload
        self._reader = engine.execution_options(**{_READ_ONLY: True})
        self._no_wait = engine.execution_options(**{_NO_WAIT: True})
        self._delivery_listeners: list[Callable[[], None]] = []
        # The inline read connection of each thread that runs an event loop (a SQLite
        # connection must stay on its thread), all closed by dispose().
        self._loop_connections: dict[int, Any] = {}
        # Group-commit queues, one per event loop: a unit of work runs, and its caller is
        # answered, on the caller's own loop. A queue shared between loops let one loop run
        # another's unit and set its future from the wrong thread, which never woke the owner.
        self._queues: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]]
        ] = weakref.WeakKeyDictionary()
        # One limiter per event loop (a limiter belongs to its loop; tests and `kasir serve`
        # can drive one Database from more than one).
        self._threads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )
        # PostgreSQL's hot units and reads run on the loop (kasir.db.loop), one pool per loop;
        # each is closed with its loop (aclose) or, at the latest, by dispose().
        self._loop_pools: dict[asyncio.AbstractEventLoop, LoopPool] = {}
        self._loop_dialect = loop.loop_dialect()
        # The units that left the loop for a thread (NeedsThread), by name: a hot path that shows
        # here has a statement to convert (tests hold the hot paths to none).
        self.thread_fallbacks: dict[str, int] = {}
        # The last group of each loop waiting in a thread for SQLite's write lock: the loop's
        # later groups queue behind it until it is done.
        self._waiting: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
            weakref.WeakKeyDictionary()
        )

    def on_new_deliveries(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every commit that created deliveries (from any thread)."""
        self._delivery_listeners.append(listener)

    @contextmanager
    def transaction(self, engine: Engine | None = None) -> Iterator[Connection]:
        with (engine or self.engine).begin() as connection:
            try:
                yield connection
            finally:
                # Read and clear the mark in every case: the DBAPI connection goes back to the
                # pool, and a stale mark would leak into its next transaction.
                created = connection.info.pop(NEW_DELIVERIES, False)
        # Only now, after the commit: a worker woken earlier would not see the rows yet.
        if created:
            for listener in self._delivery_listeners:
                listener()

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        with self._reader.begin() as connection:
            yield connection

    def write_sync(self, fn: Callable[[Connection], T], *, retry_conflicts: bool = False) -> T:
        """Run ``fn`` in a transaction and commit. ``retry_conflicts``: when PostgreSQL aborts the
        transaction to break a deadlock or a serialization conflict, or ``fn`` raises
        ``RetryTransaction``, run ``fn`` again from the start (it must be safe to repeat, as a
        whole transaction that rolled back is)."""
        for attempt in range(_CONFLICT_RETRIES):
            try:
                with self.transaction() as connection:
                    return fn(connection)
            except (DBAPIError, RetryTransaction) as exc:
                if not retry_conflicts or attempt == _CONFLICT_RETRIES - 1 or not is_conflict(exc):
                    raise
        raise AssertionError("unreachable")

    def read_sync(self, fn: Callable[[Connection], T]) -> T:
        with self.snapshot() as connection:
            return fn(connection)

    async def write(self, fn: Callable[[Connection], T], *, retry_conflicts: bool = False) -> T:
        """``write_sync`` for the event loop. Inline SQLite has one writer, so nothing it runs can
        meet a conflict to retry."""
        if self._inline:
            return await self._group_commit(fn)
        work = partial(self.write_sync, fn, retry_conflicts=retry_conflicts)
        return await anyio.to_thread.run_sync(work, limiter=self._limiter())

    # -- group commit (inline SQLite) -------------------------------------------------------
    #
    # SQLite has one writer and pays an fsync per COMMIT. Units of work submitted during the
    # same turn of the event loop (under load: every request that reached its write) run in ONE
    # transaction, each in its own SAVEPOINT, so a unit that fails rolls back only its own
    # changes; every caller is answered after the shared COMMIT, so each answer is as durable
    # as with a transaction of its own. One unit alone runs as a plain transaction.

    async def _group_commit(self, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        queue = self._queues.setdefault(loop, [])
        queue.append((fn, future))
        if len(queue) == 1:
            loop.call_soon(self._flush_group, loop)
        return cast(T, await future)

    def _flush_group(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._queues.pop(loop, [])
        if not batch:
            return
        behind = self._waiting.get(loop)
        if behind is None:
            try:
                outcomes = self._run_group(batch, wait=False)
            except WriterBusy:
                pass
            else:
                _settle(outcomes)
                return
        # Another connection (another process, a thread) is committing: wait for the lock in a
        # thread, so the loop goes on serving meanwhile (docs/architecture.md "Unit of work and
        # the outbox"); and in turn, behind a group already waiting, so that the loop's next
        # groups, which would find the lock free first, cannot overtake it indefinitely.
        task = loop.create_task(self._run_group_waiting(batch, behind))
        self._waiting[loop] = task
        task.add_done_callback(partial(self._lane_done, loop))

    def _lane_done(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
        if self._waiting.get(loop) is task:
            del self._waiting[loop]

    async def _run_group_waiting(
        self,
        batch: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]],
        behind: asyncio.Task[None] | None,
    ) -> None:
        if behind is not None:
            await asyncio.wait([behind])
        outcomes = await anyio.to_thread.run_sync(partial(self._run_group, batch, wait=True))
        _settle(outcomes)

    def _run_group(
        self, batch: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]], *, wait: bool
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        """Run the batch's units in one transaction (each in a SAVEPOINT when there are more
        than one) and commit; the outcome of each. Raises WriterBusy (before running anything)
        when ``wait`` is false and the lock is taken. A failed COMMIT fails every unit."""
        engine = self.engine if wait else self._no_wait
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            with self.transaction(engine) as connection:
                if len(batch) == 1:
                    fn, future = batch[0]
                    try:
                        outcomes.append((future, fn(connection), None))
                    except Exception as exc:
                        outcomes.append((future, None, exc))
                        raise _RollBack from exc
                    return outcomes
                driver = connection.connection.dbapi_connection
                assert driver is not None
                for fn, future in batch:
                    driver.execute("SAVEPOINT kasir_unit")
                    try:
                        result = fn(connection)
                    except Exception as exc:
                        driver.execute("ROLLBACK TO kasir_unit")
                        driver.execute("RELEASE kasir_unit")
                        outcomes.append((future, None, exc))
                    else:
                        driver.execute("RELEASE kasir_unit")
                        outcomes.append((future, result, None))
        except WriterBusy:
            raise
        except _RollBack:  # a lone unit failed: its transaction rolled back, its error stands
            return outcomes
        except Exception as exc:  # the COMMIT itself failed: nobody's change is durable
            return [(future, None, exc) for _fn, future in batch]
        return outcomes

    async def read(self, fn: Callable[[Connection], T]) -> T:
        if self._inline:
            return self.read_sync(fn)
        return await anyio.to_thread.run_sync(self.read_sync, fn, limiter=self._limiter())

    # -- the hottest reads, one statement outside any transaction (kasir.db.statements) ---------

    def fetch_one_sync(self, statement: Statement[R], params: Mapping[str, Any]) -> R | None:
        """The first row of ``statement``, outside any transaction (a lone SELECT is consistent
        on its own), bound and read as on every other path (kasir.db.statements.Plan)."""
        plan = statement.plan(self.engine.dialect)
        parameters = plan.parameters(params)
        if self._inline:
            # The event loop's own SQLite connection, taken out of the pool for good: only the
            # loop thread uses it, one statement at a time, in autocommit.
            thread = threading.get_ident()
            connection = self._loop_connections.get(thread)
            if connection is None:
                fairy = self.engine.raw_connection()
                fairy.detach()
                connection = self._loop_connections[thread] = fairy.dbapi_connection
            assert connection is not None
            cursor = connection.cursor()
            try:
                cursor.execute(plan.sql, parameters)
                row = cursor.fetchone()
            finally:
                cursor.close()
        else:
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute(plan.sql, parameters)
                row = cursor.fetchone()
                cursor.close()
                raw.rollback()  # end the implicit read transaction before the connection goes back
            finally:
                raw.close()
        return None if row is None else cast(R, plan.record(row))

    async def fetch_one(self, statement: Statement[R], params: Mapping[str, Any]) -> R | None:
        if self._inline:
            return self.fetch_one_sync(statement, params)
        if self.is_sqlite:
            work = partial(self.fetch_one_sync, statement, params)
            return await anyio.to_thread.run_sync(work, limiter=self._limiter())
        plan = statement.plan(self._loop_dialect)
        row = await self._loop_pool().fetch_row(plan.sql, plan.parameters(params))
        return None if row is None else cast(R, plan.record(row))

    # -- units of work on the event loop (PostgreSQL, kasir.db.loop) ----------------------------

    async def unit(self, fn: Callable[[Any], T], *, retry_conflicts: bool = False) -> T:
        """``write`` for a unit whose statements are kasir.db.statements: on PostgreSQL it runs on
        the event loop over asyncpg (``fn`` gets a LoopConnection), with no thread; on SQLite
        exactly as ``write``. A unit that calls SQLAlchemy's ``execute`` on the loop runs again
        on a thread (``thread_fallbacks`` counts it), from the start: nothing of it committed."""
        if self.is_sqlite:
            return await self.write(fn, retry_conflicts=retry_conflicts)
        pool = self._loop_pool()
        for attempt in range(_CONFLICT_RETRIES):
            try:
                result, info = await pool.transaction(fn, self._loop_dialect)
            except NeedsThread:
                name = getattr(fn, "__qualname__", repr(fn))
                self.thread_fallbacks[name] = self.thread_fallbacks.get(name, 0) + 1
                return await self.write(fn, retry_conflicts=retry_conflicts)
            except Exception as exc:
                if not retry_conflicts or attempt == _CONFLICT_RETRIES - 1 or not is_conflict(exc):
                    raise
                continue
            if info.get(NEW_DELIVERIES):
                for listener in self._delivery_listeners:
                    listener()
            return result
        raise AssertionError("unreachable")

    def _loop_pool(self) -> LoopPool:
        running = asyncio.get_running_loop()
        pool = self._loop_pools.get(running)
        if pool is None:
            dsn, settings = loop.asyncpg_dsn(self.engine.url)
            if self.engine.get_execution_options().get(_BOOKKEEPING, False):
                settings["synchronous_commit"] = "off"
            pool = self._loop_pools[running] = LoopPool(dsn, LOOP_POOL_SIZE, server_settings=settings)
        return pool

    async def aclose(self) -> None:
        """Close what belongs to the running loop (its connections): for a loop that is ending
        while the Database lives on (an app shut down, the Database shared)."""
        pool = self._loop_pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.aclose()

    def _limiter(self) -> anyio.CapacityLimiter:
        """At most as many database threads as the pool has connections (PostgreSQL), or a few
        (SQLite offload: one writer at a time anyway)."""
        loop = asyncio.get_running_loop()
        limiter = self._threads.get(loop)
        if limiter is None:
            limiter = self._threads[loop] = anyio.CapacityLimiter(PG_POOL_SIZE if not self.is_sqlite else 4)
        return limiter

    def dispose(self) -> None:
        for pool in self._loop_pools.values():
            pool.terminate()
        self._loop_pools.clear()
        for connection in self._loop_connections.values():
            connection.close()
        self._loop_connections.clear()
        self.engine.dispose()

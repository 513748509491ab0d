"""PostgreSQL on the event loop: units of work and lone reads over asyncpg, no worker threads.

A unit of work is a synchronous function of a connection (``fn(conn)``), written once for both
backends. On PostgreSQL the hot ones (create-payment, the pay page's and check-payment's reads,
the worker's claim and record, matching) run here: the function runs in a greenlet of its own,
and each statement it makes through kasir.db.statements hands its query to the loop
(:func:`await_only`) and resumes with the rows, so the unit stays synchronous while the loop
serves everything else during each round trip. Measured against the alternatives in
benchmarks/driver_bench.py (docs/architecture.md, "Data path"): SQLAlchemy's sessions on worker
threads cost twice the client CPU per unit, psycopg's async connection 1.2-1.4 times, and
SQLAlchemy's own asyncio layer over the same driver a further ~160 µs per unit.

A :class:`LoopConnection` runs statements of kasir.db.statements and nothing else: a unit that
reaches for SQLAlchemy's ``execute`` (a cold branch nobody converted) raises
:class:`NeedsThread`, its transaction rolls back, and ``Database.unit`` runs it again on a
thread, where it has a SQLAlchemy Connection. Repeating it is safe: nothing of it committed.

One :class:`LoopPool` serves one event loop (an asyncpg connection belongs to the loop that made
it), its connections opened on demand up to its size. After PostgreSQL restarts, its idle connections are dead:
a read or a unit that fails on one before anything could commit is tried once more on a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar, cast

import asyncpg
import greenlet
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import URL, Dialect

T = TypeVar("T")

CONNECT_TIMEOUT = 10  # seconds; a database that does not answer is an error, not a hang
# How these sessions show in pg_stat_activity.
APPLICATION_NAME = "kasir-loop"
# asyncpg prepares each statement once per connection; Kasir's hot paths use a few dozen.
STATEMENT_CACHE_SIZE = 256


def loop_dialect() -> Dialect:
    """What statements are compiled with for asyncpg: ``$n`` placeholders, its processors."""
    return cast(Dialect, asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]


def asyncpg_dsn(url: URL) -> tuple[str, dict[str, str]]:
    """The DSN asyncpg takes for a SQLAlchemy URL of libpq's, and the server settings its
    query asked for. libpq parameters asyncpg does not know would reach the server as settings
    and fail the connection: ``options`` (``-c name=value``) becomes server settings, and
    ``gssencmode`` is dropped (asyncpg never asks for GSS encryption, as ``disable`` says)."""
    query = dict(url.query)
    settings: dict[str, str] = {}
    options = query.pop("options", None)
    for word in shlex.split(options if isinstance(options, str) else " ".join(options or ())):
        name, _, value = word.removeprefix("--").removeprefix("-c").strip().partition("=")
        if name and value:
            settings[name] = value
    query.pop("gssencmode", None)
    # Connection-level knobs of libpq's own: the loop's connections time out after
    # CONNECT_TIMEOUT, and asyncpg keeps its sockets with the system's TCP keepalive.
    for name in ("connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count"):
        query.pop(name, None)
    dsn = url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)
    return dsn, settings


class DatabaseUnreachable(Exception):
    """The connection to PostgreSQL could not be made or was lost. Nothing of the unit or the
    read that met it was applied, except when it was lost while its COMMIT was on the way:
    then whether it was is unknown, as with any driver, and a client
    retrying with the same Idempotency-Key gets the first answer if it was."""


class NeedsThread(BaseException):
    """A unit on the loop called SQLAlchemy's ``execute``. A BaseException, so that a unit's own
    ``except Exception`` cannot take it for a failure of its statement and go on."""


# Errors that mean the connection is gone, not that the statement was refused. asyncpg raises
# InternalClientError ("cannot switch to state …") on a session the server ended in the middle
# of an exchange: that connection is unusable too, and must not go back to the pool.
_CONNECTION_LOST: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.CrashShutdownError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


def await_only(awaitable: Awaitable[T]) -> T:
    """From synchronous code run by :func:`in_greenlet`: hand ``awaitable`` to the loop and
    resume with its result (or its exception)."""
    parent = greenlet.getcurrent().parent
    if parent is None:
        raise RuntimeError("await_only() outside in_greenlet(): a LoopConnection is used off its unit")
    return cast(T, parent.switch(awaitable))


async def in_greenlet(fn: Callable[..., T], *args: Any) -> T:
    """Run synchronous ``fn`` on the loop: each :func:`await_only` inside it suspends it while
    this coroutine awaits, so the loop never blocks on it."""
    child = greenlet.greenlet(fn)
    child.gr_context = greenlet.getcurrent().gr_context  # the caller's context variables
    value = child.switch(*args)
    while not child.dead:
        try:
            result = await value
        except BaseException as exc:  # into the unit, where the statement was made
            value = child.throw(exc)
        else:
            value = child.switch(result)
    return cast(T, value)


def _rowcount(status: str) -> int:
    """asyncpg's command tag (``UPDATE 3``, ``INSERT 0 1``) as the rows it changed."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else -1


class LoopConnection:
    """The connection a unit of work gets on the loop: statements compiled for asyncpg
    (kasir.db.statements picks these methods when it is given one), and ``info`` as a
    SQLAlchemy Connection has it, for the marks a transaction leaves (new deliveries)."""

    __slots__ = ("_raw", "dialect", "info")

    def __init__(self, raw: asyncpg.Connection, dialect: Dialect) -> None:
        self._raw = raw
        self.dialect = dialect
        self.info: dict[str, Any] = {}

    def fetch(self, sql: str, args: Sequence[Any]) -> list[Any]:
        return cast(list[Any], await_only(self._raw.fetch(sql, *args)))

    def fetch_row(self, sql: str, args: Sequence[Any]) -> Any:
        return await_only(self._raw.fetchrow(sql, *args))

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        """For its effect; the rows it changed."""
        return _rowcount(await_only(self._raw.execute(sql, *args)))

    def execute(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise NeedsThread("SQLAlchemy's execute() in a unit of work on the event loop")


class LoopPool:
    """The asyncpg connections of one event loop: idle ones kept in a list, at most ``size``
    in use, opened on demand. Not asyncpg's own pool: its acquire and release cost ~20 µs of CPU
    each time (measured against a bare connection: 48 µs a read through it, 28 µs without), more
    than the read itself, and its reset on release (``RESET ALL`` and more) a round trip per unit
    for session state Kasir's units never leave behind (their locks are the transaction's, they
    set nothing). A connection comes back here only from a unit that ended cleanly (committed or
    rolled back) or a read; any other is terminated."""

    def __init__(self, dsn: str, size: int, *, server_settings: dict[str, str] | None = None) -> None:
        self._dsn = dsn
        self._settings = {"application_name": APPLICATION_NAME, **(server_settings or {})}
        self._slots = asyncio.Semaphore(size)
        self._idle: list[asyncpg.Connection] = []
        self._closed = False

    def _drop_idle(self) -> None:
        """After a connection was found dead: the idle ones most likely are too (a restart of
        the server ends every session), so the next try connects anew instead of finding out."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.terminate()

    async def _acquire(self) -> asyncpg.Connection:
        await self._slots.acquire()
        try:
            while self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    return conn
            return await asyncpg.connect(
                self._dsn,
                timeout=CONNECT_TIMEOUT,
                command_timeout=None,
                statement_cache_size=STATEMENT_CACHE_SIZE,
                server_settings=self._settings,
            )
        except BaseException:
            self._slots.release()
            raise

    def _release(self, conn: asyncpg.Connection, *, clean: bool) -> None:
        if clean and not self._closed and not conn.is_closed():
            self._idle.append(conn)
        else:
            conn.terminate()
        self._slots.release()

    async def fetch_row(self, sql: str, args: Sequence[Any]) -> Any:
        """The first row of ``sql``, outside any transaction (a lone SELECT is consistent on
        its own), or None."""
        for attempt in (1, 2):
            try:
                conn = await self._acquire()
                clean = False
                try:
                    row = await conn.fetchrow(sql, *args)
                    clean = True
                    return row
                finally:
                    self._release(conn, clean=clean)
            except _CONNECTION_LOST as exc:
                self._drop_idle()
                if attempt == 2:
                    raise DatabaseUnreachable(str(exc) or type(exc).__name__) from exc
        raise AssertionError("unreachable")

    async def transaction(self, fn: Callable[[LoopConnection], T], dialect: Dialect) -> tuple[T, dict[str, Any]]:
        """Run ``fn`` in one transaction and commit: its result, and the marks it left in the
        connection's ``info``. Once more, on a new connection, when the first was found dead
        before COMMIT was sent (nothing of it applied); a connection lost during COMMIT is an
        error: whether that commit happened is unknown, and repeating could apply it twice."""
        for attempt in (1, 2):
            committing = False
            try:
                raw = await self._acquire()
                clean = False
                try:
                    conn = LoopConnection(raw, dialect)
                    try:
                        await raw.execute("BEGIN")
                        result = await in_greenlet(fn, conn)
                    except _CONNECTION_LOST:
                        raise
                    except BaseException:
                        # The unit's own error: roll back, and keep the connection if that worked.
                        await raw.execute("ROLLBACK")
                        clean = True
                        raise
                    committing = True
                    if await raw.execute("COMMIT") != "COMMIT":
                        # PostgreSQL ends a transaction that had a failed statement with a
                        # rollback, even on COMMIT: a unit that caught a statement's error and
                        # went on must not be answered as committed.
                        clean = True
                        raise RuntimeError("PostgreSQL rolled the unit back: one of its statements had failed")
                    clean = True
                    return result, conn.info
                finally:
                    self._release(raw, clean=clean)
            except _CONNECTION_LOST as exc:
                self._drop_idle()
                if committing or attempt == 2:
                    raise DatabaseUnreachable(str(exc) or type(exc).__name__) from exc
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        """On the loop's way out (the app's shutdown): the idle connections closed, the ones in
        use as soon as they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.close(timeout=CONNECT_TIMEOUT)

    def terminate(self) -> None:
        """Without the loop (it may be gone): end the sessions at the socket."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            # A loop already closed refuses the callbacks of closing; the sockets then close
            # when the process lets go of them.
            with contextlib.suppress(RuntimeError):
                conn.terminate()

"""Units of work and hot reads on the event loop (kasir.db.loop): on SQLite ``Database.unit``
is ``write`` and ``fetch_one`` reads inline; on PostgreSQL both run on the loop over asyncpg.
They must answer what SQLAlchemy's Core path answers, commit or roll back as one transaction,
survive PostgreSQL ending their sessions, stay within their pool, close with the loop, and send
a unit that reaches for SQLAlchemy to a thread without applying any of it twice."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db import statements
from kasir.db.engine import LOOP_POOL_SIZE, Database, RetryTransaction, build_engine
from kasir.db.loop import APPLICATION_NAME, DatabaseUnreachable, asyncpg_dsn
from kasir.db.statements import Conn, Statement
from kasir.db.tables import merchants, payments, webhook_settings
from kasir.merchants.keys import hash_api_key
from kasir.merchants.service import AUTHENTICATE, NewMerchant, authenticate
from kasir.payments.service import BY_INVOICE, NewPayment, create_payment
from tests.conftest import free_port

T = TypeVar("T")

# The session that answered, after a pause that keeps it busy (pg_sleep returns void: cast).
WHO_AM_I: Statement[dict[str, Any]] = Statement(
    sa.select(
        sa.func.pg_backend_pid().label("pid"),
        sa.cast(sa.func.pg_sleep(sa.bindparam("pause", type_=sa.Float())), sa.Text).label("slept"),
    ),
    name="who_am_i",
)
RENAME: Statement[Any] = Statement(
    sa.update(merchants).where(merchants.c.id == sa.bindparam("id")).values(name=sa.bindparam("name")),
    name="rename_merchant",
)
DIVIDE_BY_ZERO: Statement[dict[str, int]] = Statement(
    sa.select((sa.literal_column("1") / sa.literal_column("0")).label("never")), name="divide_by_zero"
)
NAME: Statement[dict[str, str]] = Statement(
    sa.select(merchants.c.name).where(merchants.c.id == sa.bindparam("id")), name="merchant_name"
)


def on_a_loop(work: Callable[[], Awaitable[T]], db: Database) -> T:
    """``work`` on a new event loop, closed afterwards as an app's shutdown closes it."""

    async def run() -> T:
        try:
            return await work()
        finally:
            await db.aclose()

    return asyncio.run(run())


def sessions(url: str, select: str) -> list[Any]:
    """``select`` (a column or a call) over this database's loop sessions, from outside."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        f"SELECT {select} FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = :name"
                    ),
                    {"name": APPLICATION_NAME},
                ).scalars()
            )
    finally:
        engine.dispose()


def loop_sessions(url: str) -> list[int]:
    return sessions(url, "pid")


def end_sessions(url: str) -> int:
    return len(sessions(url, "pg_terminate_backend(pid)"))


def name_of(db: Database, merchant_id: int) -> str:
    return str(
        db.read_sync(
            lambda conn: conn.execute(sa.select(merchants.c.name).where(merchants.c.id == merchant_id)).scalar_one()
        )
    )


def test_hot_reads_answer_what_the_core_path_answers(db: Database, merchant: NewMerchant, settings: Settings) -> None:
    key = merchant.test_api_key
    caller = db.read_sync(lambda conn: authenticate(conn, key))
    made = db.write_sync(lambda conn: create_payment(conn, caller, NewPayment(amount=15000), settings, utcnow()))
    invoice = str(made["invoice_id"])
    # SQLAlchemy's own execution of the same select, for comparison.
    core: dict[str, Any] = dict(
        db.read_sync(
            lambda conn: conn.execute(sa.select(payments).where(payments.c.invoice_id == invoice)).mappings().one()
        )
    )

    async def read() -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None, Mapping[str, Any] | None]:
        params = {"invoice_id": invoice, "merchant_id": caller.merchant_id, "mode": caller.mode}
        return (
            await db.fetch_one(AUTHENTICATE, {"key_hash": hash_api_key(key)}),
            await db.fetch_one(BY_INVOICE, params),
            await db.fetch_one(BY_INVOICE, {**params, "mode": "live"}),
        )

    auth_row, payment, other_mode = on_a_loop(read, db)
    assert auth_row == {
        "merchant_id": merchant.id,
        "mode": "test",
        "key_hash": hash_api_key(key),
        "username": "toko_satu",
    }
    assert payment is not None
    assert other_mode is None
    assert payment == core  # the same keys, the same Python values
    assert payment["expires_at"].tzinfo is not None
    assert payment["use_qris_converter"] is False


def test_a_unit_commits_as_one_transaction_and_a_failing_one_changes_nothing(
    db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))
    threads: list[int] = []

    def create(conn: Conn) -> str:
        threads.append(threading.get_ident())
        return str(create_payment(conn, caller, NewPayment(amount=21000), settings, utcnow())["invoice_id"])

    def create_then_fail(conn: Conn) -> None:
        create_payment(conn, caller, NewPayment(amount=22000), settings, utcnow())
        statements.execute(conn, RENAME, {"id": merchant.id, "name": "renamed"})
        raise ValueError("the unit's own error")

    async def work() -> tuple[str, int]:
        invoice = await db.unit(create)
        with pytest.raises(ValueError, match="the unit's own error"):
            await db.unit(create_then_fail)
        return invoice, threading.get_ident()

    invoice, loop_thread = on_a_loop(work, db)
    if not db.is_sqlite:
        assert threads == [loop_thread]  # on the loop itself: no worker thread
    amounts = db.read_sync(lambda conn: conn.execute(sa.select(payments.c.invoice_id, payments.c.amount)).all())
    assert [tuple(row) for row in amounts] == [(invoice, 21000)]
    events = db.read_sync(lambda conn: conn.execute(sa.text("SELECT type FROM events")).scalars().all())
    assert events == ["payment.created"]
    assert name_of(db, merchant.id) != "renamed"
    assert db.thread_fallbacks == {}


def test_a_unit_that_needs_sqlalchemy_runs_again_on_a_thread_once(db: Database, merchant: NewMerchant) -> None:
    calls: list[str] = []

    def rename_then_core(conn: Conn) -> str:
        calls.append(type(conn).__name__)
        statements.execute(conn, RENAME, {"id": merchant.id, "name": "by the statement"})
        core = statements.on_sqlalchemy(conn)
        core.execute(
            sa.update(merchants).where(merchants.c.id == merchant.id).values(name=merchants.c.name + " and core")
        )
        first = statements.first(core, NAME, {"id": merchant.id})
        assert first is not None
        return first["name"]

    answered = on_a_loop(lambda: db.unit(rename_then_core), db)
    assert answered == "by the statement and core"  # once: the loop's try rolled back
    assert name_of(db, merchant.id) == "by the statement and core"
    if db.is_sqlite:
        assert calls == ["Connection"]
        assert db.thread_fallbacks == {}
    else:
        assert calls == ["LoopConnection", "Connection"]
        assert list(db.thread_fallbacks.values()) == [1]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_unit_asking_to_be_retried_runs_again_from_the_start(db: Database, merchant: NewMerchant) -> None:
    """PostgreSQL's units meet conflicts (inline SQLite has one writer: nothing to retry)."""
    tries: list[int] = []

    def rename(conn: Conn) -> int:
        tries.append(1)
        statements.execute(conn, RENAME, {"id": merchant.id, "name": f"try {len(tries)}"})
        if len(tries) == 1:
            raise RetryTransaction
        return len(tries)

    assert on_a_loop(lambda: db.unit(rename, retry_conflicts=True), db) == 2
    assert name_of(db, merchant.id) == "try 2"


def test_a_unit_that_created_deliveries_wakes_the_listeners_after_its_commit(
    db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(webhook_settings)
            .where(webhook_settings.c.merchant_id == merchant.id)
            .values(default_callback_url="https://shop.example/cb", dialect="standard", event_types="[]")
        )
    )
    seen: list[int] = []

    def listener() -> None:  # runs after the commit: the rows are there to be seen
        seen.append(db.read_sync(lambda conn: conn.execute(sa.text("SELECT count(*) FROM deliveries")).scalar_one()))

    db.on_new_deliveries(listener)
    on_a_loop(
        lambda: db.unit(lambda conn: create_payment(conn, caller, NewPayment(amount=23000), settings, utcnow())),
        db,
    )
    assert seen == [1]


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_sessions_the_server_ended_are_replaced_without_an_error(
    db: Database, database_url: str, merchant: NewMerchant
) -> None:
    """What a PostgreSQL restart does to idle connections: the next read, and the next unit,
    still answer, on new sessions."""

    async def twice() -> tuple[int, int, int]:
        first = await db.fetch_one(WHO_AM_I, {"pause": 0})
        assert first is not None
        assert end_sessions(database_url) == 1
        second = await db.fetch_one(WHO_AM_I, {"pause": 0})
        assert second is not None
        assert end_sessions(database_url) == 1
        unit = await db.unit(lambda conn: statements.first(conn, WHO_AM_I, {"pause": 0}))
        assert unit is not None
        return first["pid"], second["pid"], unit["pid"]

    first, second, unit = on_a_loop(twice, db)
    assert len({first, second, unit}) == 3


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_concurrent_reads_share_a_few_sessions_closed_with_their_loop(db: Database, database_url: str) -> None:
    seen: list[int] = []

    async def many() -> None:
        rows = await asyncio.gather(*(db.fetch_one(WHO_AM_I, {"pause": 0.02}) for _ in range(64)))
        seen.extend(row["pid"] for row in rows if row is not None)
        assert sorted(loop_sessions(database_url)) == sorted(set(seen))

    on_a_loop(many, db)
    assert len(seen) == 64
    assert 1 < len(set(seen)) <= LOOP_POOL_SIZE
    deadline = time.monotonic() + 5
    while loop_sessions(database_url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loop_sessions(database_url) == []


def test_a_database_that_does_not_answer_is_an_error_at_once() -> None:
    """Nothing listens at the port: the read and the unit fail with DatabaseUnreachable (a 503
    to an API client), they do not hang."""
    db = Database(build_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/kasir"))
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseUnreachable):
            on_a_loop(lambda: db.fetch_one(WHO_AM_I, {"pause": 0}), db)
        with pytest.raises(DatabaseUnreachable):
            on_a_loop(lambda: db.unit(lambda conn: statements.first(conn, WHO_AM_I, {"pause": 0})), db)
    finally:
        db.dispose()
    assert time.monotonic() - started < 5


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_after_a_restart_ended_every_idle_session_the_next_read_and_unit_still_answer(
    db: Database, database_url: str
) -> None:
    """A restart ends all the sessions at once: the one retry must not land on another dead one."""

    async def work() -> tuple[Any, Any]:
        await asyncio.gather(*(db.fetch_one(WHO_AM_I, {"pause": 0.05}) for _ in range(4)))
        assert end_sessions(database_url) >= 2
        read = await db.fetch_one(WHO_AM_I, {"pause": 0})
        assert end_sessions(database_url) >= 1
        unit = await db.unit(lambda conn: statements.first(conn, WHO_AM_I, {"pause": 0}))
        return read, unit

    read, unit = on_a_loop(work, db)
    assert read is not None
    assert unit is not None


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_unit_that_swallowed_a_statement_error_is_not_answered_as_committed(
    db: Database, merchant: NewMerchant
) -> None:
    def swallow(conn: Conn) -> str:
        statements.execute(conn, RENAME, {"id": merchant.id, "name": "half"})
        with contextlib.suppress(Exception):  # what a careless unit might do
            statements.first(conn, DIVIDE_BY_ZERO, {})
        return "done"

    with pytest.raises(RuntimeError, match="rolled the unit back"):
        on_a_loop(lambda: db.unit(swallow), db)
    assert name_of(db, merchant.id) != "half"


def test_a_unit_sees_its_callers_context_variables(db: Database) -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")

    async def work() -> str:
        request_id.set("req-7")
        return await db.unit(lambda _conn: request_id.get())

    assert on_a_loop(work, db) == "req-7"


@pytest.mark.parametrize(
    ("query", "settings"),
    [
        ("?options=-c%20synchronous_commit%3Doff&gssencmode=disable&connect_timeout=5", {"synchronous_commit": "off"}),
        ("?options=--statement_timeout%3D5000&keepalives=1", {"statement_timeout": "5000"}),
        ("?sslmode=disable", {}),
    ],
)
def test_libpq_parameters_become_what_asyncpg_takes(query: str, settings: dict[str, str]) -> None:
    dsn, server_settings = asyncpg_dsn(sa.engine.make_url("postgresql+psycopg://kasir@db.example/kasir" + query))
    assert server_settings == settings
    assert dsn.startswith("postgresql://kasir@db.example/kasir")
    for libpq_only in ("gssencmode", "connect_timeout", "keepalives", "options"):
        assert libpq_only not in dsn
    assert ("sslmode=disable" in dsn) == ("sslmode" in query)

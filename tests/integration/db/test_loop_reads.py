"""The hot reads (kasir.db.statements) through ``Database.fetch_one``: on SQLite inline, on
PostgreSQL on the event loop (kasir.db.loop_reads). They must answer what SQLAlchemy's Core path
answers, survive PostgreSQL ending their sessions, stay within their pool, and close with the
loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import psycopg
import pytest
import sqlalchemy as sa

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import LOOP_READS_SIZE, Database, build_engine
from kasir.db.loop_reads import APPLICATION_NAME
from kasir.db.statements import Statement
from kasir.db.tables import payments
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


def on_a_loop(work: Callable[[], Awaitable[T]], db: Database) -> T:
    """``work`` on a new event loop, closed afterwards as an app's shutdown closes it."""

    async def run() -> T:
        try:
            return await work()
        finally:
            await db.aclose()

    return asyncio.run(run())


def sessions(url: str, select: str) -> list[Any]:
    """``select`` (a column or a call) over this database's loop-read sessions, from outside."""
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


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_sessions_the_server_ended_are_replaced_without_an_error(db: Database, database_url: str) -> None:
    """What a PostgreSQL restart does to idle connections: the next read still answers."""

    async def read_twice() -> tuple[int, int]:
        first = await db.fetch_one(WHO_AM_I, {"pause": 0})
        assert first is not None
        assert end_sessions(database_url) == 1
        second = await db.fetch_one(WHO_AM_I, {"pause": 0})
        assert second is not None
        return first["pid"], second["pid"]

    before, after = on_a_loop(read_twice, db)
    assert before != after


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
    assert 1 < len(set(seen)) <= LOOP_READS_SIZE
    deadline = time.monotonic() + 5
    while loop_sessions(database_url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loop_sessions(database_url) == []


def test_a_database_that_does_not_answer_is_an_error_at_once() -> None:
    """Nothing listens at the port: the read fails with the driver's error, it does not hang."""
    db = Database(build_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/kasir"))
    started = time.monotonic()
    try:
        with pytest.raises(psycopg.OperationalError):
            on_a_loop(lambda: db.fetch_one(WHO_AM_I, {"pause": 0}), db)
    finally:
        db.dispose()
    assert time.monotonic() - started < 5

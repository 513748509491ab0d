"""What kasir.db.statements does at compile time, checked without a database: SQLite's text of a
datetime is SQLAlchemy's own, processors are kept only where they convert, and constants are
written as constants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import CompileError

from kasir.clock import WIB
from kasir.db.loop import loop_dialect
from kasir.db.statements import BulkInsert, Statement, const, in_list, indexed_by, unset_columns
from kasir.db.tables import deliveries, payments
from kasir.db.types import UTCDateTime

SQLITE = sqlite.dialect()
POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]

INSTANTS = [
    datetime(2026, 11, 26, 15, 0, 0, tzinfo=UTC),  # no microseconds: isoformat would drop them
    datetime(2026, 11, 26, 22, 0, 0, 123456, tzinfo=WIB),
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # a year of three digits
    datetime(2026, 3, 1, 0, 0, tzinfo=timezone(timedelta(hours=-5))),
]


@pytest.mark.parametrize("instant", INSTANTS, ids=str)
def test_sqlite_text_of_an_instant_is_sqlalchemy_s_own(instant: datetime) -> None:
    bind = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert bind is not None
    sqlalchemy_bind = sqlite.DATETIME().bind_processor(SQLITE)  # type: ignore[no-untyped-call]  # untyped in SQLAlchemy
    assert sqlalchemy_bind is not None
    sqlalchemy_text = sqlalchemy_bind(instant.astimezone(UTC).replace(tzinfo=None))
    assert bind(instant) == sqlalchemy_text
    assert bind(instant) == bind(instant.astimezone(UTC))  # the same instant, the same text
    read = UTCDateTime().dialect_impl(SQLITE).result_processor(SQLITE, None)
    assert read is not None
    read_back = read(sqlalchemy_text)
    assert read_back == instant
    assert isinstance(read_back, datetime)
    assert read_back.tzinfo is UTC


def test_a_naive_datetime_is_refused_on_both_backends() -> None:
    for dialect in (SQLITE, POSTGRESQL):
        bind = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        assert bind is not None
        with pytest.raises(ValueError, match="naive"):
            bind(datetime(2026, 1, 1))


def test_a_plan_keeps_only_the_processors_that_convert() -> None:
    statement: Statement[dict[str, object]] = Statement(
        sa.select(payments.c.id, payments.c.expires_at, payments.c.use_qris_converter).where(
            payments.c.invoice_id == sa.bindparam("invoice_id"), payments.c.expires_at > sa.bindparam("now")
        )
    )
    on_sqlite = statement.plan(SQLITE)
    assert on_sqlite.names == ("invoice_id", "now")
    assert [position for position, _ in on_sqlite.binds] == [1]  # the datetime only
    assert [name for name, _ in on_sqlite.results] == ["expires_at", "use_qris_converter"]  # text, 0/1
    on_postgresql = statement.plan(POSTGRESQL)
    assert on_postgresql.names is None  # psycopg takes them by name
    assert [name for name, _ in on_postgresql.results] == ["expires_at"]  # psycopg gives real booleans
    assert statement.plan(SQLITE) is on_sqlite  # compiled once


def test_a_list_parameter_is_json_on_sqlite_and_an_array_on_postgresql() -> None:
    statement: Statement[dict[str, object]] = Statement(
        sa.select(payments.c.id).where(in_list(payments.c.final_amount, "amounts"))
    )
    assert "IN (SELECT value FROM json_each(?))" in statement.plan(SQLITE).sql
    assert statement.plan(SQLITE).parameters({"amounts": [1, 2]}) == ["[1, 2]"]
    assert "= ANY(CAST(%(amounts)s AS BIGINT[]))" in statement.plan(POSTGRESQL).sql
    assert statement.plan(POSTGRESQL).parameters({"amounts": [1, 2]}) == {"amounts": [1, 2]}


def test_constants_are_rendered_and_bound_values_refused() -> None:
    pending: Statement[dict[str, object]] = Statement(
        sa.select(payments.c.id)
        .select_from(indexed_by(payments, "ix_payments_pending_amount"))
        .where(payments.c.status == const("pending"))
    )
    assert "FROM payments INDEXED BY ix_payments_pending_amount" in pending.plan(SQLITE).sql
    assert "INDEXED BY" not in pending.plan(POSTGRESQL).sql
    assert "payments.status = 'pending'" in pending.plan(SQLITE).sql
    assert pending.plan(SQLITE).names == ()
    bound: Statement[dict[str, object]] = Statement(sa.select(payments.c.id).where(payments.c.status == "pending"))
    with pytest.raises(CompileError, match="const"):
        bound.plan(SQLITE)
    with pytest.raises(ValueError, match="const"):
        const("it's")
    with pytest.raises(ValueError, match="no index"):
        indexed_by(payments, "ix_nowhere")


def test_a_bulk_insert_sets_every_column_a_new_row_has() -> None:
    bulk = BulkInsert(deliveries, returning=("id",))
    assert bulk.columns == tuple(c.key for c in deliveries.c if c.key != "id")
    _plan, head, group, tail = bulk.sqlite_plan(SQLITE)
    assert head.startswith("INSERT INTO deliveries (public_id, event_id")
    assert group == "(" + ", ".join(["?"] * len(bulk.columns)) + ")"
    assert tail == " RETURNING id"
    sql = bulk.postgresql_plan(POSTGRESQL).sql
    assert "FROM unnest(CAST(%(public_id)b AS VARCHAR(40)[])" in sql
    # A column with a server default is not silently written NULL: the writer must give it.
    assert "attempts" not in unset_columns(deliveries)
    assert "completed_at" in unset_columns(deliveries)


def _declared_statements() -> list[tuple[str, Statement[Any] | BulkInsert]]:
    """Every Statement and BulkInsert a module of kasir declares at its top level."""
    import importlib
    import pkgutil

    import kasir

    found: list[tuple[str, Statement[Any] | BulkInsert]] = []
    for info in pkgutil.walk_packages(kasir.__path__, "kasir."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, Statement | BulkInsert) and value.__class__.__module__ == "kasir.db.statements":
                found.append((f"{info.name}.{name}", value))
    return found


DECLARED = _declared_statements()
DRIVERS = {"sqlite": SQLITE, "psycopg": POSTGRESQL, "asyncpg": loop_dialect()}


def test_the_hot_paths_statements_are_found() -> None:
    names = {name for name, _ in DECLARED}
    for expected in ("kasir.delivery.queue.CLAIM_JOBS", "kasir.payments.service.INSERT", "kasir.idempotency.STORED"):
        assert expected in names


@pytest.mark.parametrize("driver", list(DRIVERS))
@pytest.mark.parametrize(("name", "statement"), DECLARED, ids=[name for name, _ in DECLARED])
def test_every_declared_statement_compiles_on_every_driver(
    name: str, statement: Statement[Any] | BulkInsert, driver: str
) -> None:
    """A value bound by the construct itself (a Python constant, ``None``) is refused at compile
    time, which would otherwise first happen on a request, on one backend only."""
    dialect = DRIVERS[driver]
    if isinstance(statement, BulkInsert):
        plan = statement.sqlite_plan(dialect)[0] if driver == "sqlite" else statement.postgresql_plan(dialect)
    else:
        try:
            plan = statement.plan(dialect)
        except CompileError as exc:
            # Arrays are PostgreSQL's; the statements built from them run on PostgreSQL only.
            if driver == "sqlite" and "_Array" in str(exc):
                pytest.skip(f"{name} is PostgreSQL's (arrays)")
            raise
    assert plan.sql
    if driver == "asyncpg":
        assert "%(" not in plan.sql  # numbered placeholders, each taken by position
        assert plan.names is not None

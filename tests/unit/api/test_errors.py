"""Which failures the API answers as an outage (503, with a code saying which) rather than as
its own fault (500): kasir.api.errors.unavailable, on the exceptions the drivers raise."""

from __future__ import annotations

import errno
import sqlite3

import psycopg
import psycopg.errors
import pytest
import sqlalchemy.exc

from kasir.api.errors import unavailable


def wrapped(orig: BaseException) -> sqlalchemy.exc.OperationalError:
    """As SQLAlchemy raises a driver's error: wrapped, the driver's in ``orig``."""
    return sqlalchemy.exc.OperationalError("INSERT INTO payments …", {}, orig)


def full_sqlite_error() -> sqlite3.OperationalError:
    """The error SQLite itself raises when its file cannot grow, from a real database: a
    ``max_page_count`` as small as the database is the disk-full condition in miniature."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x)")
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    try:
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 100)
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("the table grew past max_page_count")


def test_sqlite_out_of_space_is_storage_full() -> None:
    error = full_sqlite_error()
    assert error.sqlite_errorcode == sqlite3.SQLITE_FULL
    assert unavailable(wrapped(error)) == ("storage_full", "the server's disk is full: nothing was stored; retry later")


def test_a_file_write_out_of_space_is_storage_full() -> None:
    try:
        raise RuntimeError("storing the upload failed") from OSError(errno.ENOSPC, "No space left on device")
    except RuntimeError as exc:
        found = unavailable(exc)
    assert found is not None
    assert found[0] == "storage_full"


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("connection failed: Connection refused"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.errors.CannotConnectNow("the database system is starting up"),
        psycopg.errors.ConnectionFailure("server closed the connection"),
    ],
    ids=["refused", "57P01-admin-shutdown", "57P03-starting-up", "08006-connection-failure"],
)
def test_postgresql_out_of_reach_is_database_unavailable(error: psycopg.Error) -> None:
    for raised in (error, wrapped(error)):
        found = unavailable(raised)
        assert found is not None
        assert found[0] == "database_unavailable"


@pytest.mark.parametrize(
    "error",
    [
        wrapped(psycopg.errors.DeadlockDetected("deadlock detected")),
        wrapped(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")),
        wrapped(sqlite3.OperationalError("no such table: payments")),
        OSError(errno.EACCES, "Permission denied"),
        RuntimeError("a bug"),
    ],
    ids=["deadlock", "statement-timeout", "sqlite-other", "permission", "bug"],
)
def test_other_failures_stay_internal_errors(error: BaseException) -> None:
    assert unavailable(error) is None

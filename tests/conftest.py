"""Shared fixtures.

Every test that touches storage runs twice: on SQLite and on PostgreSQL (``backend``). Each
test gets a database of its own: on SQLite a fresh copy of a migrated template file, on
PostgreSQL a session-private database emptied after every test. Under ``CI=true`` an unreachable
PostgreSQL fails the run instead of skipping its half.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from kasir import secrets_at_rest
from kasir.app import create_app
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.db.migrate import upgrade
from kasir.db.tables import metadata
from kasir.merchants.service import NewMerchant, configure_merchant, create_merchant
from tests.workers import RunningWorker

PG_ADMIN_URL = os.environ.get("KASIR_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# pytest-xdist starts its workers with COLUMNS=80 and LINES=24 in the environment. rich reads
# COLUMNS once, when kasir.cli makes its consoles (imported after this), and would then ignore the
# width each CLI test gives its run; a terminal exports neither, so neither is here.
for _variable in ("COLUMNS", "LINES"):
    os.environ.pop(_variable, None)
# When this run started: the fault suite's summary is of the scenarios recorded since.
_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    # Here and not in tests/faults/conftest.py: with pytest-xdist the process that prints the
    # summary collects no test, so it never loads that conftest (tests/faults/summary.py).
    if hasattr(config, "workerinput"):
        return
    from tests.faults import summary

    summary.report(terminalreporter, _STARTED)


# A static QRIS with a valid CRC, for configuring merchant-owned channels in tests.
TEST_QRIS = "00020101021126570011ID.DANA.WWW011893600915302259148102090225914810303UMI51440014ID.CO.QRIS.WWW0215ID10200176114730303UMI5204581253033605802ID5922Warung Sederhana Jaya 6010Kab. Bogor610516810"


def _with_crc(payload: str) -> str:
    from kasir.qris.emv import crc_of

    return payload + "6304" + crc_of(payload + "6304")


VALID_QRIS = _with_crc(TEST_QRIS)


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A test that runs ``kasir serve``'s configure_logging in this process leaves a handler on the
    root logger writing to that test's captured stderr, closed once the test ends; a thread
    logging later (a receiver, an SMTP server) then fails to write. Take such handlers off again
    (pytest's own capture handlers are subclasses, and pytest removes them itself)."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _clean_kasir_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure Kasir explicitly; a developer's KASIR_* variables must not leak in."""
    for name in list(os.environ):
        if name.startswith("KASIR_") and name != "KASIR_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


# The key the stored secrets are encrypted with in tests: loaded in this process (the `kasir`
# CLI loads it at start; tests write through services directly) and set in the environment for
# the CLI run in-process and for the processes tests start.
TEST_SECRET_KEY = "bW9jay1rZXktZm9yLWthc2lyLXRlc3RzLW9ubHktMzI"


@pytest.fixture(autouse=True)
def _secret_key(_clean_kasir_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KASIR_SECRET_KEY", TEST_SECRET_KEY)
    replaced = secrets_at_rest.install(secrets_at_rest.Keyring(secrets_at_rest.parse_key(TEST_SECRET_KEY)))
    yield
    secrets_at_rest.install(replaced)


# --- databases ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "kasir.db"
    engine = build_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test session's own, migrated once, dropped at the end."""
    admin_url = Settings(database_url=PG_ADMIN_URL).resolved_database_url
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        message = f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    name = f"kasir_test_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = build_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    # The key file too, where `kasir` processes that tests start with KASIR_* stripped from their
    # environment find it: their KASIR_HOME is tmp_path/"home", as `settings`' is.
    secrets_at_rest.write_key_file(tmp_path / "home" / secrets_at_rest.KEY_FILE, TEST_SECRET_KEY)
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "kasir.db")
        yield f"sqlite:///{tmp_path / 'kasir.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    yield url
    engine = sa.create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(build_engine(database_url))
    yield database
    database.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        public_url="http://kasir.test",
        rate_limit=0,
        # Receivers in tests listen on loopback; the SSRF tests turn the guard back on.
        webhook_allow_private_networks=True,
        # Method `qris` is available only with a platform QRIS. A real-looking one, since the
        # labelled demo QRIS serves test mode only (tests that need the demo set it).
        platform_qris=VALID_QRIS,
        secret_key=TEST_SECRET_KEY,
    )


# --- merchants ------------------------------------------------------------------------------


@pytest.fixture
def merchant(db: Database) -> NewMerchant:
    return db.write_sync(lambda conn: create_merchant(conn, name="Toko Satu", username="toko_satu"))


@pytest.fixture
def other_merchant(db: Database) -> NewMerchant:
    return db.write_sync(lambda conn: create_merchant(conn, name="Toko Dua", username="toko_dua"))


@pytest.fixture
def subscribed_merchant(db: Database, merchant: NewMerchant) -> NewMerchant:
    """``merchant`` with an active subscription and every own channel connected."""
    db.write_sync(
        lambda conn: configure_merchant(
            conn,
            merchant.username,
            subscription_active=True,
            qris_bri=VALID_QRIS,
            qris_gopay=VALID_QRIS,
            ovo_number="081234567890",
        )
    )
    return merchant


# --- the app --------------------------------------------------------------------------------


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database=db, background=False)) as test_client:
        yield test_client


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """Kasir's JSON error with this status and code (and field, when given), never a traceback."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False, body
    assert isinstance(body["error"], str), body
    assert body["error"].strip(), body
    assert body["code"] == code, body
    if field is not None:
        assert body.get("field") == field, body
    assert "Traceback" not in response.text
    return dict(body)


def row_counts(db: Database) -> dict[str, int]:
    """Rows per table: the "nothing was written" check of every error-path test."""

    def count(conn: sa.Connection) -> dict[str, int]:
        return {
            table.name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for table in metadata.sorted_tables
        }

    return db.read_sync(count)


def table_dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: catches updates as well as inserts and deletes."""

    def dump(conn: sa.Connection) -> dict[str, list[tuple[Any, ...]]]:
        return {
            table.name: [tuple(row) for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))]
            for table in metadata.sorted_tables
        }

    return db.read_sync(dump)


@contextmanager
def writes_nothing(db: Database) -> Iterator[None]:
    """The block leaves every row of every table as it was."""
    counts, rows = row_counts(db), table_dump(db)
    yield
    assert row_counts(db) == counts
    assert table_dump(db) == rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The app on a real socket, in a thread: for clients that speak real HTTP."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture
def live_server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    with LiveServer(create_app(settings, database=db, background=False)) as server:
        yield server


@pytest.fixture
def start_worker(db: Database) -> Iterator[Callable[[Settings], RunningWorker]]:
    """Starts real delivery workers in threads; stops (and drains) them after the test."""
    running: list[RunningWorker] = []

    def start(worker_settings: Settings) -> RunningWorker:
        worker = RunningWorker(db, worker_settings).__enter__()
        running.append(worker)
        return worker

    yield start
    for worker in running:
        worker.__exit__(None, None, None)

"""The one context every `kasir` command runs in (kasir.cli.context): a known failure, wherever
a command meets it, is one line on stderr and exit code 2, with nothing on stdout and nothing
written; a bad setting stops the command before it touches anything."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from sqlalchemy.pool import QueuePool
from typer.testing import CliRunner

from kasir.cli import app
from kasir.cli.context import database, reported
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.errors import NotFound
from kasir.merchants.service import NewMerchant
from tests.conftest import writes_nothing

UNKNOWN = "error: no merchant named 'nobody' (merchant_not_found)"


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"KASIR_DATABASE_URL": database_url, "KASIR_HOME": str(tmp_path / "home")}


@pytest.mark.parametrize(
    "command",
    [
        ["user", "list", "--merchant", "nobody"],
        ["user", "create", "--merchant", "nobody", "--email", "a@example.com"],
        ["merchant", "rotate-key", "nobody", "--mode", "test"],
        ["merchant", "set", "nobody", "--subscription", "active"],
        ["mutations", "list", "--mode", "test", "--merchant", "nobody"],
        ["mutations", "import", "{statement}", "--channel", "ovo", "--mode", "test", "--merchant", "nobody"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_an_unknown_merchant_is_one_line_and_exit_2(
    env: dict[str, str], db: Database, merchant: NewMerchant, tmp_path: Path, command: list[str]
) -> None:
    statement = tmp_path / "statement.csv"
    statement.write_text("amount,reference,time\n50000,REF-1,2025-01-02 10:00:00\n")
    args = [str(statement) if arg == "{statement}" else arg for arg in command]
    with writes_nothing(db):
        result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.strip() == UNKNOWN


def test_an_unknown_invoice_is_refused_by_its_owner(env: dict[str, str], db: Database) -> None:
    with writes_nothing(db):
        result = CliRunner().invoke(app, ["sandbox", "pay", "INV-NOPE"], env=env)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.strip() == "error: payment INV-NOPE not found (payment_not_found)"


def test_a_refusal_before_the_database_is_opened_is_reported_the_same_way(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["sandbox", "pay", "INV-1", "--amount", "50.000"], env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: --amount must be a whole number of rupiah in plain digits")
    assert result.stderr.rstrip().endswith("(invalid_amount)")


def test_a_bad_setting_names_its_variable_and_exits_2(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["merchant", "list"], env={**env, "KASIR_LOG_FORMAT": "xml"})
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: KASIR_LOG_FORMAT: ")


def test_the_database_block_reports_a_kasir_error_and_disposes_of_the_engine(
    settings: Settings, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[Database] = []

    def command() -> None:
        with database(settings) as inside:
            opened.append(inside)
            inside.read_sync(lambda conn: conn.exec_driver_sql("SELECT 1").scalar())
            assert isinstance(inside.engine.pool, QueuePool)  # the pool that counts, on SQLite files and PostgreSQL
            assert inside.engine.pool.checkedin() == 1  # the connection that read is kept for the next
            raise NotFound("no such thing", code="thing_not_found")

    with pytest.raises(typer.Exit) as stopped:
        command()
    assert stopped.value.exit_code == 2
    assert capsys.readouterr().err.strip() == "error: no such thing (thing_not_found)"
    # Disposed of: the pool holds no connection any more.
    disposed = opened[0].engine.pool
    assert isinstance(disposed, QueuePool)
    assert disposed.checkedin() == 0


def test_a_hint_follows_the_error_it_is_for(capsys: pytest.CaptureFixture[str]) -> None:
    hints = {"thing_not_found": "  try another thing"}
    with pytest.raises(typer.Exit), reported(hints=hints):
        raise NotFound("no such thing", code="thing_not_found")
    assert capsys.readouterr().err.splitlines() == ["error: no such thing (thing_not_found)", "  try another thing"]
    with pytest.raises(typer.Exit), reported(hints=hints):
        raise NotFound("no other thing", code="other_not_found")
    assert capsys.readouterr().err.splitlines() == ["error: no other thing (other_not_found)"]


def test_anything_else_is_a_bug_and_keeps_its_traceback() -> None:
    with pytest.raises(ZeroDivisionError), reported():
        _ = 1 / 0

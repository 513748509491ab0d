"""The `kasir` command as an operator uses it."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

import kasir
from kasir.cli import app
from kasir.db.engine import Database
from kasir.db.tables import merchants
from kasir.errors import Unauthorized
from kasir.merchants.service import authenticate
from tests.acceptance.test_qris_cli import ALDO
from tests.conftest import VALID_QRIS, table_dump

Invoke = Callable[..., Result]


@pytest.fixture
def run(database_url: str, tmp_path: Path) -> Invoke:
    runner = CliRunner()
    env = {"KASIR_DATABASE_URL": database_url, "KASIR_HOME": str(tmp_path / "home")}

    def invoke(*args: str, ok: bool = True, columns: int | None = None) -> Result:
        # COLUMNS: the terminal width rich lays tables out for.
        result = runner.invoke(app, list(args), env={**env, **({"COLUMNS": str(columns)} if columns else {})})
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_merchant_create_json_and_keys_work(run: Invoke, db: Database) -> None:
    out = json.loads(run("merchant", "create", "--name", "Toko Kopi", "--json").stdout)
    assert set(out) >= {
        "id",
        "username",
        "name",
        "test_api_key",
        "live_api_key",
        "test_webhook_secret",
        "live_webhook_secret",
    }
    assert out["username"] == "toko_kopi"
    assert out["test_api_key"].startswith("ksr_test_")
    assert out["live_api_key"].startswith("ksr_live_")
    assert out["test_webhook_secret"].startswith("whsec_")
    assert out["test_webhook_secret"] != out["live_webhook_secret"]
    test = db.read_sync(lambda conn: authenticate(conn, out["test_api_key"]))
    live = db.read_sync(lambda conn: authenticate(conn, out["live_api_key"]))
    assert (test.mode, live.mode) == ("test", "live")
    assert test.merchant_id == live.merchant_id == out["id"]


def test_keys_are_stored_hashed(run: Invoke, db: Database) -> None:
    out = json.loads(run("merchant", "create", "--name", "Toko Kopi", "--json").stdout)
    from sqlalchemy import text

    stored = db.read_sync(lambda conn: [r[0] for r in conn.execute(text("SELECT key_hash FROM api_keys"))])
    assert out["test_api_key"] not in stored
    assert out["live_api_key"] not in stored
    assert all(len(h) == 64 for h in stored)


def test_duplicate_and_invalid_usernames_are_refused(run: Invoke) -> None:
    run("merchant", "create", "--name", "A", "--username", "shop_a")
    taken = run("merchant", "create", "--name", "B", "--username", "shop_a", ok=False)
    assert taken.exit_code == 2
    assert "username_taken" in taken.output
    bad = run("merchant", "create", "--name", "C", "--username", "Bad-Name", ok=False)
    assert bad.exit_code == 2
    assert "invalid_username" in bad.output


def test_list_set_and_rotate(run: Invoke, db: Database) -> None:
    out = json.loads(run("merchant", "create", "--name", "Toko", "--username", "toko", "--json").stdout)
    run(
        "merchant",
        "set",
        "toko",
        "--subscription",
        "active",
        "--qris-gopay",
        ALDO,
        "--ovo-number",
        "081234567890",
    )
    listed = json.loads(run("merchant", "list", "--json").stdout)
    assert listed == [
        {
            "id": out["id"],
            "username": "toko",
            "name": "Toko",
            "email": None,
            "subscription_active": True,
            "integrations": ["qris_gopay", "ovo_number"],
        }
    ]
    assert out["test_api_key"] not in run("merchant", "list").stdout

    bad_qris = run(
        "merchant", "set", "toko", "--qris-bri", VALID_QRIS[:-1] + ("1" if VALID_QRIS[-1] != "1" else "2"), ok=False
    )
    assert bad_qris.exit_code == 2
    assert "qris_crc_mismatch" in bad_qris.output

    rotated = json.loads(run("merchant", "rotate-key", "toko", "--mode", "test", "--json").stdout)
    with pytest.raises(Unauthorized):
        db.read_sync(lambda conn: authenticate(conn, out["test_api_key"]))
    assert db.read_sync(lambda conn: authenticate(conn, rotated["api_key"])).mode == "test"
    # The live key is untouched by a test-mode rotation.
    assert db.read_sync(lambda conn: authenticate(conn, out["live_api_key"])).mode == "live"


def test_demo_is_created_once_and_its_key_kept_private(run: Invoke, tmp_path: Path, db: Database) -> None:
    first = run("demo").stdout
    second = run("demo").stdout
    key_file = tmp_path / "home" / "demo-merchant.json"
    saved = json.loads(key_file.read_text())
    assert saved["test_api_key"] in first
    assert saved["test_api_key"] in second
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert db.read_sync(lambda conn: authenticate(conn, saved["test_api_key"])).username == "demo"
    # Losing the file gives the demo a fresh key rather than a dead end.
    key_file.unlink()
    run("demo")
    third = json.loads(key_file.read_text())
    assert third["test_api_key"] != saved["test_api_key"]
    assert db.read_sync(lambda conn: authenticate(conn, third["test_api_key"])).username == "demo"


# --- the data folder (issue 16) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["sandbox", "pay", "PAY-demo-1-AAAAAA"],
        ["merchant", "list"],
        ["mutations", "list", "--mode", "live"],
        ["demo"],
        ["serve", "--port", "8"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_a_command_run_where_there_is_no_database_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Run from another folder, the default KASIR_HOME (./kasir-data) names a database that does
    not exist: the command says where it looked, why (the relative KASIR_HOME), and how to go on,
    exits 2, and creates nothing (it used to create a new, empty database and say "not found")."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, command, env={})
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"no Kasir database at {tmp_path / 'kasir-data' / 'kasir.db'}" in said
    assert f"KASIR_HOME=kasir-data is relative to the current folder, {tmp_path}" in said
    assert "kasir migrate" in said
    assert not (tmp_path / "kasir-data" / "kasir.db").exists()


def test_migrate_creates_the_database_and_then_commands_find_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    created = runner.invoke(app, ["migrate"], env={})
    assert created.exit_code == 0, created.output
    assert (tmp_path / "kasir-data" / "kasir.db").exists()
    listed = runner.invoke(app, ["merchant", "list", "--json"], env={})
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []


# --- defaults that surprise, one voice (issue 16) ------------------------------------------------


def test_version_prints_the_version_and_exits_0() -> None:
    result = CliRunner().invoke(app, ["--version"], env={})
    assert result.exit_code == 0, result.output
    assert result.stdout == f"kasir {kasir.__version__}\n"


def ovo_number(db: Database, username: str) -> str | None:
    query = sa.select(merchants.c.ovo_number).where(merchants.c.username == username)
    number: str | None = db.read_sync(lambda conn: conn.execute(query).scalar_one())
    return number


@pytest.mark.parametrize(
    "typed",
    ["0812-3456-7890", "+62 812-3456-7890", "6281234567890", "0812 3456 7890", "+62 0812 3456 7890"],
)
def test_ovo_number_takes_what_a_buyer_phone_takes_and_stores_it_as_dialled(
    run: Invoke, db: Database, typed: str
) -> None:
    """The forms WA Store accepts for a buyer's phone are accepted here too, and stored as the pay
    page shows the number to buyers who type it into OVO: 081234567890."""
    run("merchant", "create", "--name", "Toko OVO", "--username", "toko_ovo")
    run("merchant", "set", "toko_ovo", "--ovo-number", typed)
    assert ovo_number(db, "toko_ovo") == "081234567890"
    run("merchant", "set", "toko_ovo", "--ovo-number", "")
    assert ovo_number(db, "toko_ovo") is None


@pytest.mark.parametrize(
    "typed",
    ["021 555 1234", "0812-3456-789O", "0812", "+1 212 555 0100", "08123456789012345"],
    ids=["landline", "letter-o", "too-short", "not-indonesian", "too-long"],
)
def test_ovo_number_refuses_what_is_not_a_mobile_and_changes_nothing(run: Invoke, db: Database, typed: str) -> None:
    run("merchant", "create", "--name", "Toko OVO", "--username", "toko_ovo")
    run("merchant", "set", "toko_ovo", "--ovo-number", "0857-1111-2222")
    before = table_dump(db)
    refused = run("merchant", "set", "toko_ovo", "--ovo-number", typed, "--subscription", "active", ok=False)
    assert refused.exit_code == 2
    said = " ".join(refused.output.split())
    assert "ovo_number" in said
    assert "(invalid_phone)" in said
    assert table_dump(db) == before


def test_merchant_list_shows_every_username_whole_in_a_narrow_terminal(run: Invoke) -> None:
    """Usernames are what `merchant set` takes: a table cut to 60 columns must not end them in "…"."""
    longest = "toko_kopi_nusantara_sejahtera_01"  # 32 characters, the most a username may have
    run("merchant", "create", "--name", "Toko Kopi Nusantara Sejahtera Abadi Jaya", "--username", longest)
    run("merchant", "create", "--name", "Warung", "--username", "warung_bu_sri")
    narrow = run("merchant", "list", columns=60)
    assert longest in narrow.stdout
    assert "warung_bu_sri" in narrow.stdout
    assert "…" not in narrow.stdout
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 60


def test_keys_and_paths_are_printed_on_one_line_when_piped(tmp_path: Path) -> None:
    """Piped output is 80 columns wide to rich; a key or a path cut in two cannot be copied."""
    home = tmp_path / ("a-rather-long-folder-name-for-a-data-folder" * 2)
    env = {"KASIR_HOME": str(home), "COLUMNS": "80"}
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"], env=env).exit_code == 0
    shown = runner.invoke(app, ["demo"], env=env)
    assert shown.exit_code == 0, shown.output
    saved = json.loads((home / "demo-merchant.json").read_text())
    assert saved["test_api_key"] in shown.stdout
    assert str(home / "demo-merchant.json") in shown.stdout

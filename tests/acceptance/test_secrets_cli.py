"""`kasir secrets`, and the key as every `kasir` command loads it, as an operator meets them:
`make run`'s generated key file, a wrong or missing key, rotation, an older Kasir's database."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from kasir import secrets_at_rest
from kasir.cli import app
from kasir.clock import utcnow
from kasir.db.engine import Database, build_engine
from kasir.db.tables import webhook_settings
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments import forwarders
from kasir.secrets_at_rest import Keyring, key_id, new_key, parse_key
from tests.conftest import TEST_SECRET_KEY
from tests.integration.db import test_secrets_at_rest as at_rest
from tests.integration.db.test_secrets_at_rest import CLEAR, hmac_hex, raw_rows, stored_secrets

# An older Kasir's database, secrets in clear, on each backend (a fixture of the storage tests).
old_database = at_rest.old_database

TEST_KEY_ID = key_id(parse_key(TEST_SECRET_KEY))


def kasir(env: Mapping[str, str | None], *args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(app, list(args), env=env)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def said(result: Result) -> str:
    return " ".join(result.output.split())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def key_ids_stored(db: Database) -> set[str]:
    return {v.split(":")[2] for values in stored_secrets(raw_rows(db)).values() for v in values}


@pytest.fixture
def no_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str | None]:
    """The suite's database, with KASIR_SECRET_KEY as the suite sets it (the test key)."""
    return {"KASIR_DATABASE_URL": database_url, "KASIR_HOME": str(tmp_path / "home")}


# --- new-key ------------------------------------------------------------------------------------


def test_new_key_prints_a_fresh_key_and_touches_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    keys = [kasir({}, "secrets", "new-key").stdout.strip() for _ in range(3)]
    assert len(set(keys)) == 3
    for key in keys:
        assert len(key) == 43
        assert len(parse_key(key)) == 32
    assert list(tmp_path.iterdir()) == []


# --- make run: the key file -----------------------------------------------------------------------


def test_make_run_generates_a_private_key_file_and_the_demo_secret_signs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_umask: None
) -> None:
    monkeypatch.chdir(tmp_path)
    demo_env: dict[str, str | None] = {"KASIR_SECRET_KEY": None}  # as a fresh checkout runs it
    migrated = kasir(demo_env, "migrate")
    home = tmp_path / "kasir-data"
    key_file = home / "secret.key"
    assert f"generated the secret key {key_file}" in said(migrated)
    assert "keep it with the database's backups" in said(migrated)
    assert mode(home) == 0o700
    assert mode(home / "kasir.db") == 0o600
    assert mode(key_file) == 0o600
    key = parse_key(key_file.read_text())
    # A second `make run` keeps the key (and says nothing of it).
    again = kasir(demo_env, "migrate")
    assert "generated" not in said(again)
    assert parse_key(key_file.read_text()) == key

    shown = kasir(demo_env, "demo").stdout
    saved = json.loads((home / "demo-merchant.json").read_text())
    assert mode(home / "demo-merchant.json") == 0o600
    secret = saved["test_webhook_secret"]
    assert f"test webhook secret  {secret}" in shown
    db = Database(build_engine(f"sqlite:///{home / 'kasir.db'}"))
    try:
        stored = stored_secrets(raw_rows(db))["webhook_settings.secret"]
        assert all(v.startswith(f"enc:v1:{key_id(key)}:") for v in stored)
        assert all(secret not in v for v in stored)
        secrets_at_rest.install(Keyring(key))
        assert webhook_secrets(db)["test"] == secret
    finally:
        db.dispose()


# --- a wrong or missing key -----------------------------------------------------------------------


@pytest.mark.parametrize("command", [["merchant", "list"], ["demo"], ["migrate"], ["secrets", "rotate-key"]])
def test_a_wrong_key_stops_every_command_at_start_naming_both_keys(
    env: dict[str, str | None], merchant: NewMerchant, db: Database, command: list[str]
) -> None:
    wrong = new_key()
    before = raw_rows(db)
    result = kasir({**env, "KASIR_SECRET_KEY": wrong}, *command, ok=False)
    assert result.exit_code == 2, result.output
    message = said(result)
    assert f"encrypted under key {TEST_KEY_ID}, which is neither KASIR_SECRET_KEY (key {key_id(parse_key(wrong))})" in (
        message
    )
    assert "every node needs the same KASIR_SECRET_KEY" in message
    assert wrong not in result.output
    assert raw_rows(db) == before


def test_no_key_at_all_stops_a_command_on_a_database_that_needs_one(
    env: dict[str, str | None], merchant: NewMerchant, tmp_path: Path
) -> None:
    result = kasir(
        {**env, "KASIR_SECRET_KEY": None, "KASIR_HOME": str(tmp_path / "empty")}, "merchant", "list", ok=False
    )
    assert result.exit_code == 2
    assert "2 stored secret(s) are encrypted" in said(result)
    assert "no key is set: set KASIR_SECRET_KEY" in said(result)


def test_a_malformed_key_stops_every_command_without_printing_it(env: dict[str, str | None]) -> None:
    result = kasir({**env, "KASIR_SECRET_KEY": "hunter2-hunter2-not-a-key"}, "merchant", "list", ok=False)
    assert result.exit_code == 2
    assert "KASIR_SECRET_KEY must be 32 random bytes in base64url" in said(result)
    assert "hunter2" not in result.output


@pytest.mark.parametrize("command", [["worker"], ["serve", "--port", "0", "--no-worker"]])
def test_a_node_with_a_wrong_key_stops_before_it_serves_or_signs(
    database_url: str, merchant: NewMerchant, tmp_path: Path, command: list[str]
) -> None:
    node_env = {
        **os.environ,
        "KASIR_DATABASE_URL": database_url,
        "KASIR_HOME": str(tmp_path / "home"),
        "KASIR_SECRET_KEY": new_key(),
    }
    node = subprocess.run(
        [sys.executable, "-m", "kasir.cli", *command], env=node_env, capture_output=True, text=True, timeout=60
    )
    assert node.returncode == 2, node.stdout + node.stderr
    assert f"encrypted under key {TEST_KEY_ID}" in " ".join(node.stderr.split())
    assert node.stdout == ""  # no banner: it never started


# --- rotate-key ------------------------------------------------------------------------------------


def make_secrets(env: dict[str, str | None], db: Database) -> dict[str, Any]:
    created = json.loads(kasir(env, "merchant", "create", "--name", "Toko Kunci", "--json").stdout)

    def forwarder(conn: sa.Connection) -> tuple[dict[str, Any], str]:
        return forwarders.setup(conn, authenticate(conn, created["test_api_key"]), utcnow())

    row, secret = db.write_sync(forwarder)
    return {**created, "forwarder_id": row["public_id"], "forwarder_secret": secret}


def ingress_accepts(db: Database, made: dict[str, Any]) -> bool:
    body = b'{"mutations":[]}'
    signature = "sha256=" + hmac_hex(made["forwarder_secret"], body)
    return bool(db.read_sync(lambda conn: forwarders.authenticate(conn, made["forwarder_id"], body, signature)))


def webhook_secrets(db: Database) -> dict[str, str]:
    return dict(
        db.read_sync(lambda conn: conn.execute(sa.select(webhook_settings.c.mode, webhook_settings.c.secret)).all())
    )


def test_rotate_key_with_the_setting_reencrypts_every_secret_under_it(env: dict[str, str | None], db: Database) -> None:
    made = make_secrets(env, db)
    new = new_key()
    new_id = key_id(parse_key(new))
    # The new key alone cannot start: what is stored is under the old one, which it must be given.
    refused = kasir({**env, "KASIR_SECRET_KEY": new}, "secrets", "rotate-key", ok=False)
    assert "nor in KASIR_SECRET_KEY_PREVIOUS" in said(refused)

    rotating = {**env, "KASIR_SECRET_KEY": new, "KASIR_SECRET_KEY_PREVIOUS": TEST_SECRET_KEY}
    rotated = kasir(rotating, "secrets", "rotate-key")
    assert f"re-encrypted 3 of 3 stored secrets under key {new_id} (KASIR_SECRET_KEY)" in said(rotated)
    assert "restart every node" in said(rotated)
    assert "remove KASIR_SECRET_KEY_PREVIOUS" in said(rotated)
    assert key_ids_stored(db) == {new_id}

    # The secrets themselves did not change: merchants' receivers and forwarders go on verifying.
    secrets_at_rest.install(Keyring(parse_key(new)))
    assert webhook_secrets(db) == {"test": made["test_webhook_secret"], "live": made["live_webhook_secret"]}
    assert ingress_accepts(db, made)
    # The old key opens nothing any more; the new one alone is enough.
    assert kasir({**env, "KASIR_SECRET_KEY": TEST_SECRET_KEY}, "merchant", "list", ok=False).exit_code == 2
    kasir({**env, "KASIR_SECRET_KEY": new}, "merchant", "list")
    assert "re-encrypted 0 of 3" in said(kasir({**env, "KASIR_SECRET_KEY": new}, "secrets", "rotate-key"))


def test_rotate_key_with_the_key_file_replaces_it_once_everything_is_reencrypted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_umask: None
) -> None:
    monkeypatch.chdir(tmp_path)
    file_env: dict[str, str | None] = {"KASIR_SECRET_KEY": None}
    kasir(file_env, "migrate")
    key_file = tmp_path / "kasir-data" / "secret.key"
    old = parse_key(key_file.read_text())
    db = Database(build_engine(f"sqlite:///{tmp_path / 'kasir-data' / 'kasir.db'}"))
    try:
        made = make_secrets(file_env, db)
        assert key_ids_stored(db) == {key_id(old)}
        rotated = kasir(file_env, "secrets", "rotate-key")
        new = parse_key(key_file.read_text())
        assert new != old
        assert mode(key_file) == 0o600
        assert not (key_file.parent / "secret.key.new").exists()
        assert f"re-encrypted 3 of 3 stored secrets under key {key_id(new)} (the key file {key_file})" in said(rotated)
        assert "restart kasir serve / kasir worker" in said(rotated)
        assert key_ids_stored(db) == {key_id(new)}
        kasir(file_env, "merchant", "list")
        assert webhook_secrets(db)["test"] == made["test_webhook_secret"]
        assert ingress_accepts(db, made)
        stale = kasir({"KASIR_SECRET_KEY": base64url(old)}, "merchant", "list", ok=False)
        assert stale.exit_code == 2
    finally:
        db.dispose()


def base64url(key: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(key).decode()


def test_an_interrupted_rotation_still_opens_everything_and_is_finished_by_running_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    file_env: dict[str, str | None] = {"KASIR_SECRET_KEY": None}
    kasir(file_env, "migrate")
    home = tmp_path / "kasir-data"
    old = parse_key((home / "secret.key").read_text())
    db = Database(build_engine(f"sqlite:///{home / 'kasir.db'}"))
    try:
        made = make_secrets(file_env, db)
        # The crash: the new key was written and the transaction committed, the file not replaced.
        pending = new_key()
        secrets_at_rest.write_key_file(home / "secret.key.new", pending)
        halfway = Keyring(parse_key(pending), [old])
        db.write_sync(lambda conn: secrets_at_rest.reseal(conn, halfway, clear_only=False))
        listed = kasir(file_env, "merchant", "list")
        assert "an interrupted `kasir secrets rotate-key` left" in said(listed)
        finished = kasir(file_env, "secrets", "rotate-key")
        assert f"re-encrypted 0 of 3 stored secrets under key {key_id(parse_key(pending))}" in said(finished)
        assert parse_key((home / "secret.key").read_text()) == parse_key(pending)
        assert not (home / "secret.key.new").exists()
        secrets_at_rest.install(Keyring(parse_key(pending)))
        assert webhook_secrets(db)["live"] == made["live_webhook_secret"]
    finally:
        db.dispose()


# --- an older Kasir's database ---------------------------------------------------------------------


def test_migrate_encrypts_the_secrets_an_older_kasir_stored_in_clear(old_database: str, tmp_path: Path) -> None:
    env = {"KASIR_DATABASE_URL": old_database, "KASIR_HOME": str(tmp_path / "home")}
    migrated = kasir(env, "migrate")
    assert f"encrypted 6 secret(s) stored in clear by an older Kasir (key {TEST_KEY_ID})" in said(migrated)
    db = Database(build_engine(old_database))
    try:
        rows = raw_rows(db)
        for table_rows in rows.values():
            for row in table_rows:
                for value in row.values():
                    assert not any(isinstance(value, str) and secret in value for secret in CLEAR.values())
        assert key_ids_stored(db) == {TEST_KEY_ID}
        assert webhook_secrets(db) == {"test": CLEAR["test"], "live": CLEAR["live"]}
        again = kasir(env, "migrate")
        assert "encrypted" not in said(again)
        assert raw_rows(db) == rows
    finally:
        db.dispose()


def test_an_older_postgresql_database_without_a_key_is_refused_and_left_in_clear(
    old_database: str, backend: str, tmp_path: Path
) -> None:
    env = {"KASIR_DATABASE_URL": old_database, "KASIR_HOME": str(tmp_path / "home"), "KASIR_SECRET_KEY": None}
    if backend == "sqlite":
        # A SQLite home is `make run`'s: migrate generates the key file, then encrypts.
        migrated = kasir(env, "migrate")
        assert "generated the secret key" in said(migrated)
        assert "encrypted 6 secret(s)" in said(migrated)
        return
    refused = kasir(env, "migrate", ok=False)
    assert refused.exit_code == 2
    assert "6 secret(s) are stored in clear and no key is set to encrypt them: set KASIR_SECRET_KEY" in said(refused)
    assert not (tmp_path / "home" / "secret.key").exists()  # several nodes need one key: none is made up
    db = Database(build_engine(old_database))
    try:
        assert stored_secrets(raw_rows(db))["endpoints.secret"] == [CLEAR["endpoint"]]
    finally:
        db.dispose()

"""Secrets at rest, on SQLite and PostgreSQL: what a copy of the database holds, what the key
opens, a missing or wrong key, and the secrets an older Kasir stored in clear."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir import secrets_at_rest
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.db.migrate import upgrade
from kasir.db.tables import endpoints, instance_secrets, metadata, mutation_forwarders, webhook_settings
from kasir.db.types import UTCDateTime
from kasir.delivery import queue
from kasir.errors import Unauthorized
from kasir.goods.downloads import KEY_NAME, instance_key
from kasir.goods.storage import MediaStore
from kasir.merchants.service import NewMerchant
from kasir.payments import forwarders
from kasir.secrets_at_rest import Keyring, SecretKeyError, key_id, new_key, parse_key
from tests.conftest import PG_ADMIN_URL, TEST_SECRET_KEY, auth

TEST_KEY_ID = key_id(parse_key(TEST_SECRET_KEY))
STORED = re.compile(rf"enc:v1:{TEST_KEY_ID}:[A-Za-z0-9_-]+={{0,2}}")
BODY = b'{"event":"payment.paid","invoice_id":"INV-1"}'


def hmac_hex(secret: str | bytes, body: bytes = BODY) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def populate(client: TestClient, db: Database, merchant: NewMerchant) -> dict[str, str]:
    """Every kind of stored secret, through the API as merchants make them; returns them as
    they were shown (in clear), by where they are stored."""
    key = auth(merchant.test_api_key)
    shown = {"webhook_settings.secret (live)": merchant.live_webhook_secret}
    # A rotation in the standard dialect keeps the old secret for the grace period.
    assert client.put("/v1/webhook-settings", headers=key, json={"dialect": "standard"}).status_code == 200
    rotated = client.post("/v1/webhook-settings/rotate-secret", headers=key).json()["settings"]
    shown["webhook_settings.secret"] = rotated["secret"]
    shown["webhook_settings.previous_secret"] = merchant.test_webhook_secret
    created = client.post("/v1/endpoints", headers=key, json={"url": "http://127.0.0.1:9/hook", "dialect": "standard"})
    assert created.status_code == 201, created.text
    endpoint = created.json()["endpoint"]
    again = client.post(f"/v1/endpoints/{endpoint['id']}/rotate-secret", headers=key).json()["endpoint"]
    shown["endpoints.secret"] = again["secret"]
    shown["endpoints.previous_secret"] = endpoint["secret"]
    forwarder = client.post("/v1/forwarder", headers=key).json()["forwarder"]
    shown["mutation_forwarders.secret"] = forwarder["secret"]
    shown["forwarder_id"] = forwarder["id"]
    link_key = db.write_sync(lambda conn: instance_key(conn, KEY_NAME, utcnow()))
    shown["instance_secrets.secret"] = link_key.decode()
    source = client.post(
        "/v1/sources", headers=key, json={"name": "HP kasir", "apps": {"com.gojek.gopaymerchant": "gopay_qris"}}
    ).json()["source"]
    shown["payment_sources.signing_key"] = source["token"]
    return shown


def raw_rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table as the database holds it, read without Kasir's column types:
    what a dump, a copied file or a read-only database user sees."""

    def read(conn: sa.Connection) -> dict[str, list[dict[str, Any]]]:
        return {
            t.name: [dict(r) for r in conn.execute(sa.text(f'SELECT * FROM "{t.name}"')).mappings()]
            for t in metadata.sorted_tables
        }

    return db.read_sync(read)


def stored_secrets(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for column in secrets_at_rest.secret_columns():
        found[column.name] = [r[column.column] for r in rows[column.table] if r[column.column] is not None]
    return found


def assert_nothing_usable(rows: dict[str, list[dict[str, Any]]], shown: dict[str, str]) -> None:
    secrets = [v for k, v in shown.items() if k != "forwarder_id"]
    signatures = {hmac_hex(s) for s in secrets}
    for table, table_rows in rows.items():
        for row in table_rows:
            for column, value in row.items():
                if not isinstance(value, str):
                    continue
                assert "whsec_" not in value, (table, column)
                assert "fwsec_" not in value, (table, column)
                for secret in secrets:
                    assert secret not in value, (table, column)
                # Nor anything that signs like one of them (bayar.gg's and GitHub's HMAC recipe).
                assert hmac_hex(value) not in signatures, (table, column)


# --- a copy of the database -----------------------------------------------------------------


def test_every_stored_secret_is_encrypted_under_the_key_and_the_rows_hold_none(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    shown = populate(client, db, merchant)
    rows = raw_rows(db)
    assert_nothing_usable(rows, shown)
    stored = stored_secrets(rows)
    assert {name: len(values) for name, values in stored.items()} == {
        "webhook_settings.secret": 2,
        "webhook_settings.previous_secret": 1,
        "endpoints.secret": 1,
        "endpoints.previous_secret": 1,
        "mutation_forwarders.secret": 1,
        "instance_secrets.secret": 1,
        "payment_sources.signing_key": 1,
    }
    for values in stored.values():
        for value in values:
            assert STORED.fullmatch(value), value


def test_a_copied_sqlite_file_holds_no_usable_secret(
    client: TestClient, db: Database, merchant: NewMerchant, database_url: str, tmp_path: Path, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("a file copy is SQLite's case; PostgreSQL's rows are read in the test above")
    shown = populate(client, db, merchant)
    source = Path(database_url.removeprefix("sqlite:///"))
    stolen = tmp_path / "stolen"
    stolen.mkdir()
    # What someone who can read the folder takes: the database and its WAL, as they are now.
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copy(f"{source}{suffix}", stolen / f"kasir.db{suffix}")
    everything = b"".join(p.read_bytes() for p in stolen.iterdir())
    for marker in (b"whsec_", b"fwsec_", *(v.encode() for k, v in shown.items() if k != "forwarder_id")):
        assert marker not in everything
    copy = sqlite3.connect(stolen / "kasir.db")
    try:
        rows = {
            t.name: [dict(zip([d[0] for d in cur.description], r, strict=True)) for r in cur.fetchall()]
            for t in metadata.sorted_tables
            for cur in [copy.execute(f'SELECT * FROM "{t.name}"')]
        }
    finally:
        copy.close()
    assert_nothing_usable(rows, shown)


# --- with the key ---------------------------------------------------------------------------


def test_with_the_key_every_secret_reads_back_and_signs_as_shown(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    shown = populate(client, db, merchant)
    key = auth(merchant.test_api_key)
    # What the API shows of a secret is a hint of the secret, not of its stored form.
    [listed] = client.get("/v1/endpoints", headers=key).json()["data"]
    assert listed["secret_hint"] == shown["endpoints.secret"][:8] + "***"
    assert client.get("/v1/webhook-settings", headers=key).json()["settings"]["secret_hint"].startswith("whsec_")
    assert client.get("/v1/forwarder", headers=key).json()["forwarder"]["secret_hint"].startswith("fwsec_")

    def read(conn: sa.Connection) -> dict[str, Any]:
        settings_row = conn.execute(
            sa.select(webhook_settings).where(
                webhook_settings.c.merchant_id == merchant.id, webhook_settings.c.mode == "test"
            )
        ).one()
        return {
            "settings": settings_row,
            "endpoint": conn.execute(sa.select(endpoints)).one(),
            "forwarder": conn.execute(sa.select(mutation_forwarders)).one(),
            "instance": conn.execute(sa.select(instance_secrets.c.secret)).scalar_one(),
        }

    opened = db.read_sync(read)
    assert opened["settings"].secret == shown["webhook_settings.secret"]
    assert opened["settings"].previous_secret == shown["webhook_settings.previous_secret"]
    assert opened["endpoint"].secret == shown["endpoints.secret"]
    assert opened["endpoint"].previous_secret == shown["endpoints.previous_secret"]
    assert opened["instance"] == shown["instance_secrets.secret"]
    # The forwarder ingress checks a signature made with the secret it showed, and no other.
    body = json.dumps({"mutations": []}).encode()
    good = "sha256=" + hmac_hex(shown["mutation_forwarders.secret"], body)
    assert db.read_sync(lambda conn: forwarders.authenticate(conn, shown["forwarder_id"], body, good))["id"]
    assert "sha256=" + hmac_hex(opened["forwarder"].secret, body) == good
    # The stored form signs nothing the ingress accepts.
    raw = raw_rows(db)["mutation_forwarders"][0]["secret"]
    with pytest.raises(Unauthorized):
        db.read_sync(
            lambda conn: forwarders.authenticate(conn, shown["forwarder_id"], body, "sha256=" + hmac_hex(raw, body))
        )


def test_a_wrong_key_fails_at_first_use_naming_the_setting_and_signs_nothing(
    client: TestClient, db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    shown = populate(client, db, merchant)
    wrong = Keyring(parse_key(new_key()))
    secrets_at_rest.install(wrong)

    # The delivery worker's claim builds the secrets it signs with: it stops instead.
    def claim_with_an_event(conn: sa.Connection) -> list[queue.Job]:
        from kasir.delivery.outbox import record_event

        record_event(conn, merchant_id=merchant.id, mode="test", type="ping", payload={}, created_at=utcnow())
        return queue.claim(conn, utcnow(), 10, timedelta(seconds=60))

    with pytest.raises(SecretKeyError) as refused:
        db.write_sync(claim_with_an_event)
    message = str(refused.value)
    assert "KASIR_SECRET_KEY" in message
    assert f"key {TEST_KEY_ID}" in message
    assert wrong.current_id in message
    for value in shown.values():
        assert value not in message
    # Nothing was claimed: the transaction that failed rolled back.
    assert db.read_sync(lambda conn: conn.execute(sa.text("SELECT count(*) FROM deliveries")).scalar_one()) == 0


def test_load_key_refuses_a_database_its_key_does_not_open(
    client: TestClient, db: Database, merchant: NewMerchant, settings: Settings, tmp_path: Path
) -> None:
    populate(client, db, merchant)
    elsewhere = tmp_path / "no-key-here"
    wrong = settings.model_copy(update={"secret_key": parse_secret(new_key()), "home": elsewhere})
    with pytest.raises(SecretKeyError, match=rf"encrypted under key {TEST_KEY_ID}, which is neither KASIR_SECRET_KEY"):
        secrets_at_rest.load_key(db, wrong)
    with pytest.raises(SecretKeyError, match="no key is set: set KASIR_SECRET_KEY"):
        secrets_at_rest.load_key(db, settings.model_copy(update={"secret_key": None, "home": elsewhere}))
    # Either way this process is left with no key, rather than the one that was refused.
    with pytest.raises(SecretKeyError, match="no secret key is loaded"):
        secrets_at_rest.installed()
    assert secrets_at_rest.load_key(db, settings) == []
    assert secrets_at_rest.installed().current_id == TEST_KEY_ID


def parse_secret(text: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(text)


# --- secrets an older Kasir stored in clear -----------------------------------------------------

CLEAR = {
    "test": "whsec_b2xkLXRlc3Qtc2VjcmV0LWluLWNsZWFyLTAx",
    "live": "whsec_b2xkLWxpdmUtc2VjcmV0LWluLWNsZWFyLTAy",
    "endpoint": "whsec_b2xkLWVuZHBvaW50LXNlY3JldC1jbGVhci0z",
    "previous": "whsec_b2xkLXByZXZpb3VzLXNlY3JldC1jbGVhci00",
    "forwarder": "fwsec_b2xkLWZvcndhcmRlci1zZWNyZXQtaW4tY2xlYXI",
    "instance": "b2xkLWluc3RhbmNlLWtleS1zdG9yZWQtaW4tY2xlYXI",
}


def fill_in_clear(engine: sa.Engine) -> None:
    """The rows a Kasir of schema 0006 wrote: secrets in clear."""
    at = sa.bindparam("at", type_=UTCDateTime)
    now = {"at": utcnow()}
    with engine.begin() as conn:
        merchant_id = conn.execute(
            sa.text("INSERT INTO merchants (username, name, created_at) VALUES ('lama', 'Toko Lama', :at) RETURNING id")
            .bindparams(at)
            .columns(id=sa.Integer),
            now,
        ).scalar_one()
        for mode in ("test", "live"):
            conn.execute(
                sa.text(
                    "INSERT INTO webhook_settings (merchant_id, mode, secret, updated_at) VALUES (:m, :mode, :s, :at)"
                ).bindparams(at),
                {**now, "m": merchant_id, "mode": mode, "s": CLEAR[mode]},
            )
        conn.execute(
            sa.text(
                "INSERT INTO endpoints (public_id, merchant_id, mode, url, dialect, secret, previous_secret, "
                "previous_secret_expires_at, created_at, updated_at) VALUES ('ep_lama', :m, 'test', "
                "'http://127.0.0.1:9/', 'standard', :s, :p, :until, :at, :at)"
            ).bindparams(at, sa.bindparam("until", type_=UTCDateTime)),
            {**now, "m": merchant_id, "s": CLEAR["endpoint"], "p": CLEAR["previous"], "until": utcnow() + timedelta(1)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO mutation_forwarders (public_id, merchant_id, mode, secret, created_at, rotated_at) "
                "VALUES ('fwd_lama', :m, 'test', :s, :at, :at)"
            ).bindparams(at),
            {**now, "m": merchant_id, "s": CLEAR["forwarder"]},
        )
        conn.execute(
            sa.text("INSERT INTO instance_secrets (name, secret, created_at) VALUES (:n, :s, :at)").bindparams(at),
            {**now, "n": KEY_NAME, "s": CLEAR["instance"]},
        )


@pytest.fixture
def old_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database an older Kasir (schema 0006) filled, with its secrets in clear."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old' / 'kasir.db'}"
        engine = build_engine(url)
        upgrade(engine, "0006")
        fill_in_clear(engine)
        engine.dispose()
        yield url
        return
    admin = sa.create_engine(Settings(database_url=PG_ADMIN_URL).resolved_database_url, isolation_level="AUTOCOMMIT")
    name = f"kasir_clear_{os.getpid()}_{secrets_token()}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    url = sa.engine.make_url(admin.url).set(database=name).render_as_string(hide_password=False)
    engine = build_engine(url)
    upgrade(engine, "0006")
    fill_in_clear(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def secrets_token() -> str:
    import secrets

    return secrets.token_hex(3)


def test_secrets_stored_in_clear_are_refused_until_migrated_then_encrypted_once(
    old_database: str, tmp_path: Path
) -> None:
    db = Database(build_engine(old_database))
    try:
        upgrade(db.engine)  # the new schema, the old values
        with pytest.raises(SecretKeyError, match=r"endpoints\.secret is stored in clear: run `kasir migrate`"):
            db.read_sync(lambda conn: conn.execute(sa.select(endpoints.c.secret)).scalar_one())

        settings = Settings(database_url=old_database, home=tmp_path / "home", secret_key=TEST_SECRET_KEY)
        notes = secrets_at_rest.load_key(db, settings)
        assert notes == [f"encrypted 6 secret(s) stored in clear by an older Kasir (key {TEST_KEY_ID})"]
        rows = raw_rows(db)
        assert_nothing_usable(rows, CLEAR)
        stored = stored_secrets(rows)
        assert all(STORED.fullmatch(v) for values in stored.values() for v in values)
        assert sum(len(v) for v in stored.values()) == 6

        # Every secret reads back as it was, and signs as it did.
        opened = db.read_sync(
            lambda conn: {
                "settings": dict(conn.execute(sa.select(webhook_settings.c.mode, webhook_settings.c.secret)).all()),
                "endpoint": conn.execute(sa.select(endpoints.c.secret, endpoints.c.previous_secret)).one(),
                "instance": conn.execute(sa.select(instance_secrets.c.secret)).scalar_one(),
            }
        )
        assert opened["settings"] == {"test": CLEAR["test"], "live": CLEAR["live"]}
        assert tuple(opened["endpoint"]) == (CLEAR["endpoint"], CLEAR["previous"])
        assert opened["instance"] == CLEAR["instance"]
        body = b'{"mutations":[]}'
        signed = "sha256=" + hmac_hex(CLEAR["forwarder"], body)
        assert db.read_sync(lambda conn: forwarders.authenticate(conn, "fwd_lama", body, signed))["public_id"]
        signing = db.write_sync(lambda conn: claim_one(conn, "ep_lama"))
        assert signing == [CLEAR["endpoint"], CLEAR["previous"]]  # both sign during the grace period

        # Idempotent: a second start finds nothing in clear and rewrites nothing.
        assert secrets_at_rest.load_key(db, settings) == []
        assert stored_secrets(raw_rows(db)) == stored
    finally:
        db.dispose()


def claim_one(conn: sa.Connection, endpoint_public_id: str) -> list[str]:
    from kasir.delivery.outbox import record_event

    [(merchant_id,)] = conn.execute(sa.text("SELECT id FROM merchants")).all()
    record_event(conn, merchant_id=merchant_id, mode="test", type="ping", payload={}, created_at=utcnow())
    jobs = [j for j in queue.claim(conn, utcnow(), 10, timedelta(seconds=60)) if j.endpoint_public_id]
    [job] = jobs
    assert job.endpoint_public_id == endpoint_public_id
    return job.secrets


def test_secrets_in_clear_and_no_key_are_refused_and_left_as_they_were(old_database: str, tmp_path: Path) -> None:
    db = Database(build_engine(old_database))
    try:
        upgrade(db.engine)
        before = raw_rows(db)
        settings = Settings(database_url=old_database, home=tmp_path / "empty-home", secret_key=None)
        with pytest.raises(SecretKeyError, match=r"6 secret\(s\) are stored in clear and no key is set"):
            secrets_at_rest.load_key(db, settings, create_key=False)
        assert raw_rows(db) == before
    finally:
        db.dispose()


def test_a_migrated_sqlite_file_keeps_no_copy_of_the_secrets_it_held_in_clear(tmp_path: Path) -> None:
    """Encrypting the rows is not enough if the file still holds the old bytes: freed space and
    the WAL are scrubbed too."""
    url = f"sqlite:///{tmp_path / 'old' / 'kasir.db'}"
    engine = build_engine(url)
    upgrade(engine, "0006")
    fill_in_clear(engine)
    engine.dispose()
    path = tmp_path / "old" / "kasir.db"
    assert CLEAR["endpoint"].encode() in path.read_bytes()  # today's file: the secrets in clear
    db = Database(build_engine(url))
    try:
        upgrade(db.engine)
        secrets_at_rest.load_key(db, Settings(database_url=url, home=tmp_path / "home", secret_key=TEST_SECRET_KEY))
        files = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith("kasir.db"))
        for value in CLEAR.values():
            assert value.encode() not in files
        assert b"whsec_" not in files
        assert b"fwsec_" not in files
    finally:
        db.dispose()


# --- file modes -----------------------------------------------------------------------------------


@pytest.fixture
def no_umask() -> Iterator[None]:
    """Modes must not depend on the operator's umask: with none at all, files would be 0666."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_its_wal_and_shm_and_its_folder_are_private(tmp_path: Path, no_umask: None) -> None:
    home = tmp_path / "kasir-data"
    db = Database(build_engine(f"sqlite:///{home / 'kasir.db'}"))
    try:
        upgrade(db.engine)
        db.write_sync(lambda conn: conn.execute(sa.text("CREATE TABLE IF NOT EXISTS t (x)")))
        with db.engine.connect() as open_connection:  # the WAL and shm exist while one is open
            open_connection.execute(sa.text("SELECT 1"))
            assert mode(home) == 0o700
            for name in ("kasir.db", "kasir.db-wal", "kasir.db-shm"):
                assert mode(home / name) == 0o600, name
    finally:
        db.dispose()


def test_an_existing_database_readable_by_others_is_tightened_at_start(tmp_path: Path) -> None:
    path = tmp_path / "kasir.db"
    legacy = sqlite3.connect(path)
    legacy.execute("PRAGMA journal_mode=WAL")
    legacy.execute("CREATE TABLE t (x)")
    legacy.commit()
    os.chmod(path, 0o644)
    os.chmod(f"{path}-wal", 0o644)
    try:
        engine = build_engine(f"sqlite:///{path}")
        assert mode(path) == 0o600
        assert mode(Path(f"{path}-wal")) == 0o600
        engine.dispose()
    finally:
        legacy.close()


def test_media_folders_and_files_are_private(tmp_path: Path, no_umask: None) -> None:
    root = tmp_path / "home" / "media"
    store = MediaStore(root)
    blob = store.put_bytes(b"%PDF-1.4 a file a merchant sells")
    import io

    streamed = store.put_stream(io.BytesIO(b"another file, streamed in"), max_bytes=1024)
    for key in (blob.key, streamed.key):
        path = store.path(key)
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
    assert mode(root) == 0o700
    assert mode(root.parent) == 0o700

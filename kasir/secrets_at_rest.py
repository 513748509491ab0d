"""Secrets at rest: the secrets Kasir must read back to sign with (webhook and endpoint secrets,
forwarder secrets, the instance's own keys) are stored encrypted, so a copy of the database
without the key holds nothing that signs or verifies anything.

- The cipher is AES-256-GCM (``cryptography``). A stored value reads
  ``enc:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``. The key id, the first 8 hex digits
  of SHA-256 of the key, says which key opens a value: old and new ciphertexts coexist during a
  rotation, and a wrong key is named in the error instead of producing garbage. The column
  (``endpoints.secret``) is the associated data, so a ciphertext copied into another column
  does not open. Rows are not bound: their ids are assigned by the insert, after the value is
  sealed, and whoever can write rows can already point an endpoint at their own server.
- ``SecretColumn`` is the column type of every such column (kasir.db.tables): SQLAlchemy
  encrypts on every write and decrypts on every read, so no query can forget to. A new secret
  column is one line there; the start-up check, the migration of clear values and the key
  rotation below find it by its type. Hand-written SQL reading one of these columns gets the
  stored form, which signs nothing.
- Decrypting costs a few microseconds; the worker reads the same secrets for every delivery, so
  opened values are kept (``CACHE_SIZE``) by stored form: a cached read costs a dict lookup.
- The key (``KASIR_SECRET_KEY``, or the key file ``KASIR_HOME/secret.key`` that ``kasir migrate``
  generates for a SQLite home) is loaded once per process by whoever starts Kasir
  (:func:`load_key`, which the CLI runs first) and installed process-wide: one database, one key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, String, bindparam, column, func, literal_column, select, table, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DontWrapMixin
from sqlalchemy.types import TypeDecorator, TypeEngine

from kasir.private_files import sync_dir, tighten, write_private_file

if TYPE_CHECKING:
    from kasir.config import Settings
    from kasir.db.engine import Database

PREFIX = "enc:v1:"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE = "secret.key"
# What `kasir secrets rotate-key` writes before re-encrypting: the new key is on disk before any
# value needs it, and replaces secret.key only once the transaction has committed.
PENDING_KEY_FILE = "secret.key.new"
# Opened values kept per process. An entry is ~0.4 KB; 16,384 of them cover the secrets of 8,000
# merchants' callback settings, and a miss costs one AES-GCM open (microseconds, measured).
CACHE_SIZE = 16_384
# The stored form of a 100-character secret (the widest the columns held in clear) is 188.
STORED_LENGTH = 255
_SQLITE_DECLARED_LENGTH = 100


class SecretKeyError(DontWrapMixin, RuntimeError):
    """The key is missing, wrong, or does not open a stored value. Never carries a secret.

    ``DontWrapMixin``: raised while SQLAlchemy binds a value, the error would otherwise be wrapped
    in one that prints the statement's parameters, the secret in clear among them."""


def new_key() -> str:
    """A fresh key as ``KASIR_SECRET_KEY`` takes it: 32 random bytes, base64url without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode().rstrip("=")


def parse_key(text: str) -> bytes:
    """The key's bytes; ``ValueError`` (which never repeats the text) when it is not 32 bytes of
    base64url."""
    text = text.strip()
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ValueError("must be 32 random bytes in base64url (`kasir secrets new-key` prints one)")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def _aad(column_name: str) -> bytes:
    return b"kasir:" + column_name.encode()


class Keyring:
    """The current key, which seals, and earlier ones (``KASIR_SECRET_KEY_PREVIOUS``), which only
    open: what a rotation needs while both kinds of ciphertext are stored."""

    def __init__(self, current: bytes, previous: Sequence[bytes] = (), *, source: str = "KASIR_SECRET_KEY") -> None:
        self.current_id = key_id(current)
        self.source = source  # how errors name the current key
        ciphers = {key_id(key): AESGCM(key) for key in previous}
        ciphers[self.current_id] = AESGCM(current)
        self._ciphers = ciphers
        self._sealer = ciphers[self.current_id]
        # Per keyring: a value opened under one key must not stay readable once another is
        # installed (a wrong key has to fail, not be served from memory).
        self._cached_open = functools.lru_cache(maxsize=CACHE_SIZE)(self._open)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ciphers)

    def seal(self, plaintext: str, column_name: str) -> str:
        nonce = os.urandom(NONCE_BYTES)  # random 96-bit nonces: far below GCM's limit for a key
        sealed = self._sealer.encrypt(nonce, plaintext.encode(), _aad(column_name))
        return f"{PREFIX}{self.current_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, stored: str, column_name: str) -> str:
        return self._cached_open(stored, column_name)

    def _open(self, stored: str, column_name: str) -> str:
        if not stored.startswith(PREFIX):
            raise SecretKeyError(
                f"a secret in {column_name} is stored in clear: run `kasir migrate` (with the key set) to encrypt it"
            )
        kid, _, body = stored[len(PREFIX) :].partition(":")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise SecretKeyError(
                f"a secret in {column_name} is encrypted under key {kid}, which is neither {self.source} "
                f"(key {self.current_id}) nor in KASIR_SECRET_KEY_PREVIOUS: start Kasir with the key this "
                "database was encrypted with (every node needs the same KASIR_SECRET_KEY)"
            )
        try:
            raw = base64.urlsafe_b64decode(body)
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(column_name)).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretKeyError(
                f"a secret in {column_name} does not open with key {kid}: it was altered, or copied from another column"
            ) from None


_installed: Keyring | None = None


def install(keyring: Keyring | None) -> Keyring | None:
    """Make ``keyring`` the process's; returns the one it replaces."""
    global _installed
    replaced, _installed = _installed, keyring
    return replaced


def is_installed() -> bool:
    return _installed is not None


def installed() -> Keyring:
    keyring = _installed
    if keyring is None:
        raise SecretKeyError(
            "no secret key is loaded: set KASIR_SECRET_KEY (`kasir secrets new-key` prints one), or run "
            "`kasir migrate` to generate KASIR_HOME/secret.key for a SQLite home"
        )
    return keyring


class SecretColumn(TypeDecorator[str]):
    """A secret Kasir signs with, stored encrypted. ``column_name`` is ``table.column``: the
    associated data every value of this column is sealed with."""

    impl = String(STORED_LENGTH)
    cache_ok = True

    def __init__(self, column_name: str) -> None:
        super().__init__()
        self.column_name = column_name

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # PostgreSQL enforces VARCHAR lengths, so migration 0007 widened these columns there.
        # SQLite ignores them, and changing a declaration would mean rebuilding tables that
        # others reference (DROP TABLE endpoints cascades into deliveries): it keeps the old one.
        length = _SQLITE_DECLARED_LENGTH if dialect.name == "sqlite" else STORED_LENGTH
        return dialect.type_descriptor(String(length))

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else installed().seal(value, self.column_name)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else installed().open(str(value), self.column_name)


# --- what is stored: the start-up check, clear values, rotation -------------------------------


@dataclass(frozen=True, slots=True)
class StoredColumn:
    table: str
    column: str
    key: tuple[str, ...]  # the primary key, to update a row

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


def secret_columns() -> list[StoredColumn]:
    """Every ``SecretColumn`` of the schema."""
    from kasir.db.tables import metadata

    found = []
    for each in metadata.sorted_tables:
        for col in each.columns:
            if isinstance(col.type, SecretColumn):
                # The associated data must name the column itself, or two columns would share it.
                assert col.type.column_name == f"{each.name}.{col.name}", col.type.column_name
                found.append(StoredColumn(each.name, col.name, tuple(c.name for c in each.primary_key.columns)))
    return found


def _raw(stored: StoredColumn) -> Any:
    """The table as plain strings: stored forms in and out, no sealing."""
    return table(stored.table, *(column(k) for k in stored.key), column(stored.column, String()))


@dataclass(slots=True)
class Census:
    """How many stored secrets are under each key id, and how many are in clear."""

    by_key: dict[str, int] = field(default_factory=dict)
    clear: int = 0

    @property
    def encrypted(self) -> int:
        return sum(self.by_key.values())


def census(conn: Connection) -> Census:
    found = Census()
    for stored in secret_columns():
        value = _raw(stored).c[stored.column]
        clear = conn.execute(select(func.count()).where(value.is_not(None), value.not_like(PREFIX + "%"))).scalar_one()
        found.clear += int(clear)
        # Literal positions: PostgreSQL matches GROUP BY to the select list by text, and two
        # bound parameters would be two different expressions to it.
        kid = func.substr(value, literal_column(str(len(PREFIX) + 1)), literal_column("8"))
        for each, count in conn.execute(select(kid, func.count()).where(value.like(PREFIX + "%")).group_by(kid)):
            found.by_key[each] = found.by_key.get(each, 0) + int(count)
    return found


def _check_opens(conn: Connection, keyring: Keyring, found: Census) -> None:
    """Every key id stored is in the keyring, and one value of each opens with it."""
    unknown = sorted(set(found.by_key) - keyring.key_ids)
    if unknown:
        raise SecretKeyError(
            f"{sum(found.by_key[k] for k in unknown)} stored secret(s) are encrypted under key "
            f"{', '.join(unknown)}, which is neither {keyring.source} (key {keyring.current_id}) nor in "
            "KASIR_SECRET_KEY_PREVIOUS: start Kasir with the key this database was encrypted with "
            "(every node needs the same KASIR_SECRET_KEY)"
        )
    for kid in found.by_key:
        for stored in secret_columns():
            value = _raw(stored).c[stored.column]
            sample = conn.execute(select(value).where(value.like(f"{PREFIX}{kid}:%")).limit(1)).scalar()
            if sample is not None:
                keyring.open(sample, stored.name)
                break


def reseal(conn: Connection, keyring: Keyring, *, clear_only: bool) -> int:
    """Encrypt under the keyring's current key every stored secret that is in clear
    (``clear_only``) or under any other key. Each row is rewritten only if it still holds what
    was read, so a secret rotated meanwhile is never put back. Returns how many were rewritten."""
    rewritten = 0
    if conn.dialect.name == "sqlite":
        # The values replaced must not stay readable in the file's free space (see scrub).
        conn.exec_driver_sql("PRAGMA secure_delete=ON")
    for stored in secret_columns():
        raw = _raw(stored)
        value = raw.c[stored.column]
        todo = value.not_like(PREFIX + "%") if clear_only else value.not_like(f"{PREFIX}{keyring.current_id}:%")
        rows = conn.execute(select(*(raw.c[k] for k in stored.key), value).where(value.is_not(None), todo)).all()
        if not rows:
            continue
        changes = []
        for row in rows:
            *ident, old = row
            plaintext = keyring.open(old, stored.name) if old.startswith(PREFIX) else old
            change = {f"k_{k}": v for k, v in zip(stored.key, ident, strict=True)}
            changes.append({**change, "old": old, "new": keyring.seal(plaintext, stored.name)})
        statement = (
            update(raw)
            .where(*(raw.c[k] == bindparam(f"k_{k}") for k in stored.key), value == bindparam("old"))
            .values({stored.column: bindparam("new")})
        )
        conn.execute(statement, changes)
        rewritten += len(changes)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete=OFF")  # the pooled connection goes back as it was
    return rewritten


def scrub(db: Database) -> None:
    """After ``reseal``: the values it replaced (in clear, or under a retired key) are gone from
    the rows, but not yet from the files. SQLite keeps them in the WAL until a checkpoint (the
    freed cells were zeroed by ``secure_delete``); PostgreSQL keeps the old row versions in its
    tables until they are rewritten. Run once per reseal, on tables of a few rows per merchant.
    Backups and PostgreSQL's WAL archive taken before keep what they hold (docs/deploy.md)."""
    if db.is_sqlite:
        raw = db.engine.raw_connection()  # outside any transaction: a checkpoint cannot run in one
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in sorted({stored.table for stored in secret_columns()}):
            conn.exec_driver_sql(f'VACUUM FULL "{name}"')


# --- where the key comes from -------------------------------------------------------------------


def key_file(settings: Settings) -> Path:
    return settings.home.resolve() / KEY_FILE


def write_key_file(path: Path, key: str) -> None:
    write_private_file(path, (key + "\n").encode())


def _read_key_file(path: Path) -> bytes:
    tighten(path)
    try:
        return parse_key(path.read_text())
    except ValueError:
        raise SecretKeyError(f"{path} does not hold a secret key (32 random bytes in base64url)") from None


def _setting(name: str, text: str) -> bytes:
    try:
        return parse_key(text)
    except ValueError as exc:
        raise SecretKeyError(f"{name} {exc}") from None


def _previous(settings: Settings) -> list[bytes]:
    return [_setting("KASIR_SECRET_KEY_PREVIOUS: each key", k.get_secret_value()) for k in settings.secret_key_previous]


def keyring_from(settings: Settings) -> Keyring | None:
    """``KASIR_SECRET_KEY`` (with ``KASIR_SECRET_KEY_PREVIOUS``), else the key file, else None."""
    previous = _previous(settings)
    if settings.secret_key is not None:
        current = _setting("KASIR_SECRET_KEY", settings.secret_key.get_secret_value())
        return Keyring(current, previous, source="KASIR_SECRET_KEY")
    path = key_file(settings)
    if not path.exists():
        return None
    pending = path.with_name(PENDING_KEY_FILE)
    if pending.exists():  # an interrupted rotation: values may already be under the new key
        previous.append(_read_key_file(pending))
    return Keyring(_read_key_file(path), previous, source=f"the key in {path}")


def load_key(db: Database, settings: Settings, *, create_key: bool = False, require_key: bool = True) -> list[str]:
    """What every ``kasir`` command runs on its database first: find the key, check that it opens
    what is stored (a node with a wrong key stops here, before it signs anything), install it,
    and encrypt the secrets an older Kasir stored in clear (in one transaction). ``create_key``:
    generate the key file when there is no key and nothing is encrypted yet (``kasir migrate`` on
    a SQLite home). Returns what the operator should be told; raises ``SecretKeyError``."""
    install(None)  # until the key is known to open what is stored, this process has none
    keyring = keyring_from(settings)
    notes: list[str] = []
    found = db.read_sync(census)
    if keyring is None and create_key and not found.encrypted:
        path = key_file(settings)
        write_key_file(path, new_key())
        keyring = keyring_from(settings)
        assert keyring is not None
        notes.append(
            f"generated the secret key {path} (key {keyring.current_id}): it encrypts the webhook secrets "
            "in the database; keep it with the database's backups, since without it they cannot be read"
        )
    if keyring is None:
        if found.encrypted:
            raise SecretKeyError(
                f"{found.encrypted} stored secret(s) are encrypted (key {', '.join(sorted(found.by_key))}) and no "
                f"key is set: set KASIR_SECRET_KEY to the key they were encrypted with, or restore {key_file(settings)}"
            )
        if found.clear:
            raise SecretKeyError(
                f"{found.clear} secret(s) are stored in clear and no key is set to encrypt them: set "
                "KASIR_SECRET_KEY (`kasir secrets new-key` prints one) and run `kasir migrate`"
            )
        if require_key:
            installed()  # raises, saying where a key comes from
        notes.append("no secret key is set yet: every node needs the same KASIR_SECRET_KEY before it serves")
        return notes
    loaded = keyring
    db.read_sync(lambda conn: _check_opens(conn, loaded, found))
    if found.clear:
        sealed = db.write_sync(lambda conn: reseal(conn, loaded, clear_only=True), retry_conflicts=True)
        scrub(db)
        notes.append(f"encrypted {sealed} secret(s) stored in clear by an older Kasir (key {loaded.current_id})")
    install(loaded)
    pending = key_file(settings).with_name(PENDING_KEY_FILE)
    if settings.secret_key is None and pending.exists():
        notes.append(f"an interrupted `kasir secrets rotate-key` left {pending}: run it again to finish")
    return notes


@dataclass(frozen=True, slots=True)
class Rotation:
    rewritten: int  # secrets re-encrypted now
    stored: int  # secrets stored in all
    key_id: str  # the key they are all under
    key_file: Path | None  # the key file that now holds the new key (None: KASIR_SECRET_KEY)
    left: int  # still under another key (rotated meanwhile by a node with an old key): run again


def rotate_key(db: Database, settings: Settings) -> Rotation:
    """Re-encrypt every stored secret under the current key, in one transaction.

    With ``KASIR_SECRET_KEY`` set, the current key is that one and the old ones come from
    ``KASIR_SECRET_KEY_PREVIOUS``. With the key file, a new key is generated: written to
    ``secret.key.new`` first, it replaces ``secret.key`` once the transaction has committed, so
    a crash at any point leaves every value openable (a second run finishes the job)."""
    path: Path | None = None
    keyring = keyring_from(settings)
    if keyring is None:
        raise SecretKeyError(
            f"there is no key to rotate: neither KASIR_SECRET_KEY nor {key_file(settings)} is set "
            "(`kasir migrate` generates the key file for a SQLite home)"
        )
    if settings.secret_key is None:
        path = key_file(settings)
        pending = path.with_name(PENDING_KEY_FILE)
        if not pending.exists():
            write_key_file(pending, new_key())
        previous = _previous(settings)
        keyring = Keyring(_read_key_file(pending), [_read_key_file(path), *previous], source=f"the key in {pending}")
    assert keyring is not None
    rotating = keyring
    db.read_sync(lambda conn: _check_opens(conn, rotating, census(conn)))
    rewritten = db.write_sync(lambda conn: reseal(conn, rotating, clear_only=False), retry_conflicts=True)
    scrub(db)
    if path is not None:
        os.replace(path.with_name(PENDING_KEY_FILE), path)
        sync_dir(path.parent)
        keyring = keyring_from(settings)
        assert keyring is not None
    install(keyring)
    after = db.read_sync(census)
    left = after.clear + after.encrypted - after.by_key.get(keyring.current_id, 0)
    return Rotation(rewritten, after.clear + after.encrypted, keyring.current_id, path, left)

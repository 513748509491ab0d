"""The cipher and key handling of kasir.secrets_at_rest, without a database."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from kasir import secrets_at_rest
from kasir.config import Settings
from kasir.db.tables import metadata
from kasir.secrets_at_rest import Keyring, SecretColumn, SecretKeyError, key_id, new_key, parse_key

SECRET = "whsec_ZmFrZS1zZWNyZXQtZm9yLXRlc3Rpbmc="
STORED = re.compile(r"enc:v1:[0-9a-f]{8}:[A-Za-z0-9_-]+={0,2}")


def keyring(*previous: bytes) -> Keyring:
    return Keyring(parse_key(new_key()), previous)


def test_a_sealed_secret_is_its_stored_form_and_opens_to_the_secret() -> None:
    ring = keyring()
    stored = ring.seal(SECRET, "endpoints.secret")
    assert STORED.fullmatch(stored), stored
    assert stored.split(":")[2] == ring.current_id
    assert SECRET not in stored
    assert ring.open(stored, "endpoints.secret") == SECRET


def test_the_same_secret_seals_differently_every_time() -> None:
    ring = keyring()
    assert ring.seal(SECRET, "endpoints.secret") != ring.seal(SECRET, "endpoints.secret")


def test_the_key_id_is_the_first_8_hex_digits_of_the_keys_sha256() -> None:
    key = parse_key(new_key())
    assert key_id(key) == hashlib.sha256(key).hexdigest()[:8]
    assert Keyring(key).current_id == key_id(key)


def test_a_ciphertext_moved_to_another_column_does_not_open() -> None:
    ring = keyring()
    stored = ring.seal(SECRET, "endpoints.secret")
    with pytest.raises(SecretKeyError, match=r"webhook_settings\.secret does not open"):
        ring.open(stored, "webhook_settings.secret")


def test_an_altered_ciphertext_does_not_open() -> None:
    ring = keyring()
    stored = ring.seal(SECRET, "endpoints.secret")
    body = bytearray(base64.urlsafe_b64decode(stored.rsplit(":", 1)[1]))
    body[-1] ^= 1
    altered = stored.rsplit(":", 1)[0] + ":" + base64.urlsafe_b64encode(bytes(body)).decode()
    with pytest.raises(SecretKeyError, match="does not open"):
        ring.open(altered, "endpoints.secret")


def test_a_wrong_key_is_named_and_opens_nothing() -> None:
    stored = keyring().seal(SECRET, "endpoints.secret")
    wrong = keyring()
    with pytest.raises(SecretKeyError) as refused:
        wrong.open(stored, "endpoints.secret")
    message = str(refused.value)
    assert f"encrypted under key {stored.split(':')[2]}" in message
    assert "KASIR_SECRET_KEY" in message
    assert SECRET not in message


def test_previous_keys_open_but_only_the_current_one_seals() -> None:
    old_key, new_key_bytes = parse_key(new_key()), parse_key(new_key())
    stored = Keyring(old_key).seal(SECRET, "endpoints.secret")
    rotated = Keyring(new_key_bytes, [old_key])
    assert rotated.key_ids == {key_id(old_key), key_id(new_key_bytes)}
    assert rotated.open(stored, "endpoints.secret") == SECRET
    assert rotated.seal(SECRET, "endpoints.secret").split(":")[2] == key_id(new_key_bytes)


def test_a_secret_stored_in_clear_is_refused_not_used() -> None:
    with pytest.raises(SecretKeyError, match="stored in clear: run `kasir migrate`"):
        keyring().open(SECRET, "endpoints.secret")


def test_a_value_opened_under_one_key_is_not_served_from_memory_to_another() -> None:
    first = keyring()
    stored = first.seal(SECRET, "endpoints.secret")
    assert first.open(stored, "endpoints.secret") == SECRET  # now cached in `first`
    with pytest.raises(SecretKeyError):
        keyring().open(stored, "endpoints.secret")


@pytest.mark.parametrize(
    "text",
    ["", "short", base64.urlsafe_b64encode(b"x" * 31).decode(), base64.urlsafe_b64encode(b"x" * 33).decode(), "é" * 43],
)
def test_a_key_that_is_not_32_bytes_of_base64url_is_refused_without_repeating_it(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_key(text)
    assert "32 random bytes" in str(refused.value)
    if text:
        assert text not in str(refused.value)


def test_new_key_prints_32_random_bytes_in_base64url() -> None:
    keys = {new_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key)
        assert len(parse_key(key)) == 32
        assert len(parse_key(key + "=")) == 32  # padded is fine too


def test_without_a_loaded_key_nothing_is_sealed_nor_opened() -> None:
    column = SecretColumn("endpoints.secret")
    replaced = secrets_at_rest.install(None)
    try:
        with pytest.raises(SecretKeyError, match="KASIR_SECRET_KEY"):
            column.process_bind_param(SECRET, None)  # type: ignore[arg-type]
        with pytest.raises(SecretKeyError, match="KASIR_SECRET_KEY"):
            column.process_result_value("enc:v1:00000000:AAAA", None)  # type: ignore[arg-type]
    finally:
        secrets_at_rest.install(replaced)


def test_every_signing_secret_column_is_encrypted_and_named_after_itself() -> None:
    columns = {c.name for c in secrets_at_rest.secret_columns()}
    assert columns == {
        "webhook_settings.secret",
        "webhook_settings.previous_secret",
        "endpoints.secret",
        "endpoints.previous_secret",
        "mutation_forwarders.secret",
        "instance_secrets.secret",
        "payment_sources.signing_key",
    }
    # No other column of the schema is called a secret or a key and left in clear.
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.name.endswith(("secret", "signing_key")):
                assert isinstance(column.type, SecretColumn), f"{table.name}.{column.name}"


def test_the_key_comes_from_the_setting_before_the_key_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    file_key = new_key()
    secrets_at_rest.write_key_file(home / "secret.key", file_key)
    from_file = secrets_at_rest.keyring_from(Settings(home=home, secret_key=None))
    assert from_file is not None
    assert from_file.current_id == key_id(parse_key(file_key))
    assert str(home / "secret.key") in from_file.source
    env_key = new_key()
    from_env = secrets_at_rest.keyring_from(Settings(home=home, secret_key=SecretStr(env_key)))
    assert from_env is not None
    assert from_env.current_id == key_id(parse_key(env_key))
    assert secrets_at_rest.keyring_from(Settings(home=tmp_path / "elsewhere", secret_key=None)) is None


def test_a_malformed_key_setting_is_named_and_never_printed(tmp_path: Path) -> None:
    bad = "not-a-key-at-all-but-somebodys-password"
    with pytest.raises(SecretKeyError) as refused:
        secrets_at_rest.keyring_from(Settings(home=tmp_path, secret_key=bad))
    assert str(refused.value).startswith("KASIR_SECRET_KEY must be 32 random bytes")
    assert bad not in str(refused.value)
    with pytest.raises(SecretKeyError, match="KASIR_SECRET_KEY_PREVIOUS"):
        secrets_at_rest.keyring_from(Settings(home=tmp_path, secret_key=new_key(), secret_key_previous=bad))
    # An empty variable is an unset one.
    assert Settings(home=tmp_path, secret_key="  ").secret_key is None


def test_previous_keys_are_a_comma_separated_list() -> None:
    keys = [new_key(), new_key()]
    settings = Settings(secret_key=new_key(), secret_key_previous=",".join(keys))
    ring = secrets_at_rest.keyring_from(settings)
    assert ring is not None
    assert {key_id(parse_key(k)) for k in keys} < ring.key_ids

"""The worker signs with secrets stored encrypted: deliveries verify at a real receiver with the
secrets the merchant was shown, before and after the key is rotated; with a wrong key it sends
nothing rather than sign with garbage."""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from pydantic import SecretStr

from kasir import dialects, secrets_at_rest
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import endpoints, webhook_settings
from kasir.delivery import service
from kasir.merchants.service import NewMerchant, authenticate
from kasir.secrets_at_rest import Keyring, key_id, new_key, parse_key
from tests.conftest import TEST_SECRET_KEY
from tests.integration.delivery.conftest import delivery_rows, make_payments, set_callback
from tests.receivers import Receiver
from tests.workers import RunningWorker

StartWorker = Callable[[Settings], RunningWorker]


def create_endpoint(db: Database, merchant: NewMerchant, url: str) -> tuple[str, str]:
    """An endpoint made as the API makes it; its public id and the secret it showed once."""

    def write(conn: sa.Connection) -> tuple[str, str]:
        caller = authenticate(conn, merchant.test_api_key)
        spec = service.EndpointChanges(url=url, dialect="standard")
        row = service.create_endpoint(conn, caller, spec, utcnow())
        return str(row["public_id"]), str(row["secret"])

    return db.write_sync(write)


def stored(db: Database) -> list[str]:
    """The stored form of every endpoint and callback secret, read past the column type."""

    def read(conn: sa.Connection) -> list[str]:
        values = []
        for table in (endpoints, webhook_settings):
            values += [v for v in conn.execute(sa.select(sa.type_coerce(table.c.secret, sa.String()))).scalars()]
        return values

    return db.read_sync(read)


def test_deliveries_signed_with_encrypted_secrets_verify_at_a_real_receiver(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    with Receiver() as callback, Receiver() as hook:
        callback_secret = set_callback(db, merchant, callback.url)
        assert callback_secret == merchant.test_webhook_secret
        _, endpoint_secret = create_endpoint(db, merchant, hook.url)
        for value in stored(db):
            assert value.startswith(f"enc:v1:{key_id(parse_key(TEST_SECRET_KEY))}:")
            assert endpoint_secret not in value
            assert callback_secret not in value
        start_worker(settings)
        [invoice] = make_payments(db, merchant, settings, 1)
        [to_callback] = callback.wait_for(1)
        [to_hook] = hook.wait_for(1)
        event = dialects.get("bayargg").verify(to_callback.body, to_callback.headers, [callback_secret])
        assert event.data["invoice_id"] == invoice
        event = dialects.get("standard").verify(to_hook.body, to_hook.headers, [endpoint_secret])
        assert event.type == "payment.created"


def test_after_the_key_is_rotated_deliveries_verify_with_the_same_secrets(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    with Receiver() as callback, Receiver() as hook:
        callback_secret = set_callback(db, merchant, callback.url)
        _, endpoint_secret = create_endpoint(db, merchant, hook.url)
        old_forms = stored(db)
        new = new_key()
        rotated = settings.model_copy(
            update={"secret_key": SecretStr(new), "secret_key_previous": [SecretStr(TEST_SECRET_KEY)]}
        )
        done = secrets_at_rest.rotate_key(db, rotated)
        # Both modes' callback settings and the endpoint, all of them, none left behind.
        assert (done.rewritten, done.stored, done.left, done.key_id) == (3, 3, 0, key_id(parse_key(new)))
        # Old ciphertexts are gone; the new ones open only with the new key.
        now_stored = stored(db)
        assert not set(old_forms) & set(now_stored)
        assert all(v.startswith(f"enc:v1:{done.key_id}:") for v in now_stored)
        secrets_at_rest.install(Keyring(parse_key(new)))  # the old key is not even at hand
        start_worker(rotated.model_copy(update={"secret_key_previous": []}))
        make_payments(db, merchant, settings, 1)
        [to_callback] = callback.wait_for(1)
        [to_hook] = hook.wait_for(1)
        dialects.get("bayargg").verify(to_callback.body, to_callback.headers, [callback_secret])
        dialects.get("standard").verify(to_hook.body, to_hook.headers, [endpoint_secret])


def test_a_worker_with_a_wrong_key_sends_nothing_until_it_has_the_right_one(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    with Receiver() as hook:
        _, endpoint_secret = create_endpoint(db, merchant, hook.url)
        secrets_at_rest.install(Keyring(parse_key(new_key())))
        start_worker(settings.model_copy(update={"worker_poll_interval": 0.1}))
        make_payments(db, merchant, settings, 1)
        time.sleep(1.0)  # ten polls: each claim failed on the secret it could not open
        assert hook.requests == []
        [delivery] = delivery_rows(db)
        assert (delivery.status, delivery.attempts, delivery.claimed_until) == ("pending", 0, None)
        # Given the right key, the same worker delivers, signed with the secret the merchant has.
        secrets_at_rest.install(Keyring(parse_key(TEST_SECRET_KEY)))
        [request] = hook.wait_for(1)
        dialects.get("standard").verify(request.body, request.headers, [endpoint_secret])

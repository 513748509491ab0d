"""The dashboard's API keys over HTTP: each mode's key shown by its prefix only, rotated after a
confirmation step, the new key shown once, the old one refused by the API at once.

Covered: the page shows both prefixes and never a key; the rotation asks first (changing
nothing), then answers the new key once: the API takes it, refuses the old one, and the other
mode's key is untouched; the key is stored nowhere in clear (not in any table, not in the audit
line, which names the prefixes); a live-mode session rotates the live key; a developer may
rotate; a cashier gets 403 everywhere and changes nothing; no CSRF token, no change. Every test
runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.merchants.keys import key_prefix
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.acceptance.test_dashboard_channels import audit_lines
from tests.conftest import assert_error, auth, table_dump, writes_nothing
from tests.dashboard_helpers import PASSWORD, csrf_of

KEYS = "/dashboard/keys"
STATUS = "/api/get-account-status.php"


def user(db: Database, merchant: NewMerchant, role: str) -> str:
    email = f"{role}@toko.test"
    db.write_sync(
        lambda conn: users.create_user(conn, merchant.username, email, utcnow(), role=role, password=PASSWORD)
    )
    return email


def sign_in(client: TestClient, email: str) -> str:
    response = client.post("/dashboard/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/dashboard").text)


def shown_key(html: str) -> str:
    found = re.search(r'data-secret="api_key">([^<]+)<', html)
    assert found, "no key on the page"
    return found.group(1)


def works(client: TestClient, key: str) -> bool:
    response = client.get(STATUS, headers=auth(key))
    if response.status_code == 401:
        assert_error(response, 401, "invalid_api_key")
        return False
    assert response.status_code == 200, response.text
    return True


@pytest.mark.parametrize("role", ["owner", "developer"])
def test_rotating_the_test_key_shows_the_new_one_once(
    role: str, client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    csrf = sign_in(client, user(db, merchant, role))
    page = client.get(KEYS)
    assert page.status_code == 200
    assert "<h1>Kunci API</h1>" in page.text
    assert f'data-prefix="test">{key_prefix(merchant.test_api_key)}<' in page.text
    assert f'data-prefix="live">{key_prefix(merchant.live_api_key)}<' in page.text
    assert merchant.test_api_key not in page.text
    assert merchant.live_api_key not in page.text

    with writes_nothing(db):
        asked = client.get(f"{KEYS}/rotate")
    assert asked.status_code == 200
    assert key_prefix(merchant.test_api_key) in asked.text
    assert works(client, merchant.test_api_key)

    answered = client.post(f"{KEYS}/rotate", data={"csrf_token": csrf})
    assert answered.status_code == 200, answered.text
    assert answered.headers["cache-control"] == "no-store"
    key = shown_key(answered.text)
    assert key.startswith("ksr_test_")
    assert key != merchant.test_api_key
    # The old key is dead at once, the new one works, the live one is untouched.
    assert not works(client, merchant.test_api_key)
    assert works(client, key)
    assert works(client, merchant.live_api_key)
    # Never shown again, stored nowhere in clear.
    again = client.get(KEYS)
    assert key not in again.text
    assert f'data-prefix="test">{key_prefix(key)}<' in again.text
    assert key not in repr(table_dump(db))
    [line] = audit_lines(db)
    assert (line["action"], line["subject"], line["actor"]) == ("rotate_api_key", "test", f"{role}@toko.test")
    assert json.loads(line["details"]) == {"old": key_prefix(merchant.test_api_key), "new": key_prefix(key)}


def test_a_live_session_rotates_the_live_key(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    csrf = sign_in(client, user(db, merchant, "owner"))
    assert client.post("/dashboard/mode", data={"csrf_token": csrf, "mode": "live"}).status_code == 200
    assert "ksr_live_" in client.get(f"{KEYS}/rotate").text
    key = shown_key(client.post(f"{KEYS}/rotate", data={"csrf_token": csrf}).text)
    assert key.startswith("ksr_live_")
    assert not works(client, merchant.live_api_key)
    assert works(client, key)
    assert works(client, merchant.test_api_key)


def test_a_cashier_may_not_see_or_rotate_keys(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    csrf = sign_in(client, user(db, merchant, "cashier"))
    assert 'href="/dashboard/keys"' not in client.get("/dashboard").text
    with writes_nothing(db):
        page = client.get(KEYS)
        assert page.status_code == 403
        assert key_prefix(merchant.test_api_key) not in page.text
        assert client.get(f"{KEYS}/rotate").status_code == 403
        refused = client.post(f"{KEYS}/rotate", data={"csrf_token": csrf})
        assert refused.status_code == 403
        assert "ksr_" not in refused.text
    assert works(client, merchant.test_api_key)


def test_no_csrf_token_no_rotation(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    sign_in(client, user(db, merchant, "owner"))
    with writes_nothing(db):
        assert client.post(f"{KEYS}/rotate").status_code == 403
        assert client.post(f"{KEYS}/rotate", data={"csrf_token": "not-this-one"}).status_code == 403
    client.cookies.clear()
    with writes_nothing(db):
        assert client.post(f"{KEYS}/rotate", data={"csrf_token": "x"}).status_code == 403
    assert works(client, merchant.test_api_key)

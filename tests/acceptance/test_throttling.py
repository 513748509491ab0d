"""Throttling by client address (issue 15): failed authentications and the public pages.

A probe sent 300 wrong API keys in 0.6 s and got 300 × 401; the pay page, its status poll and
the downloads took any rate. Now each address gets ``KASIR_AUTH_FAILURE_LIMIT`` failures a minute
and ``KASIR_PUBLIC_RATE_LIMIT`` public requests a minute, then 429 with ``Retry-After``; behind a
reverse proxy the address is the one a trusted proxy names in ``X-Forwarded-For``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from kasir.app import create_app
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from tests.conftest import assert_error, auth, writes_nothing
from tests.faults.harness import kasir_env, serve
from tests.payment_helpers import create

LIST = "/api/list-payments.php"
CREATE = "/api/create-payment.php"
WRONG_KEY = "ksr_test_" + "x" * 43


def app_client(settings: Settings, db: Database, address: str = "198.51.100.7", **changes: object) -> TestClient:
    return TestClient(
        create_app(settings.model_copy(update=changes), database=db, background=False), client=(address, 40000)
    )


@pytest.fixture
def strict(settings: Settings, db: Database) -> Iterator[TestClient]:
    """Five failures a minute per address."""
    with app_client(settings, db, auth_failure_limit=5) as client:
        yield client


def test_the_probe_of_300_wrong_keys_is_throttled_by_default(settings: Settings, db: Database) -> None:
    """With the default limit, 300 wrong keys from one address: the first 30 answer 401, the
    rest 429 too_many_failed_authentications with Retry-After, and nothing is written.

    30 a minute means one more failure is allowed every two seconds, so a probe that takes
    longer than that on a slow machine may get one more 401 per two seconds it took, no more."""
    defaults = settings.model_copy(update={"auth_failure_limit": Settings.model_fields["auth_failure_limit"].default})
    with TestClient(create_app(defaults, database=db, background=False)) as client, writes_nothing(db):
        started = time.monotonic()
        answers = [client.get(LIST, headers=auth(WRONG_KEY)) for _ in range(300)]
        took = time.monotonic() - started
    statuses = [answer.status_code for answer in answers]
    refilled = int(took / 2) + 1
    assert statuses[:30] == [401] * 30
    assert set(statuses) == {401, 429}
    assert statuses.count(401) <= 30 + refilled, f"{statuses.count(401)} failures let through in {took:.1f} s"
    refused = assert_error(answers[-1], 429, "too_many_failed_authentications")
    assert "retry in" in refused["error"]
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_a_throttled_address_cannot_use_even_a_right_key_until_it_waits(
    settings: Settings, db: Database, merchant: NewMerchant
) -> None:
    """60 failures a minute (one a second): past the burst even the right key is refused, so a
    lucky guess gains nothing; after Retry-After it works again. Another address is unaffected."""
    with (
        app_client(settings, db, auth_failure_limit=60) as client,
        app_client(settings, db, "198.51.100.8", auth_failure_limit=60) as neighbour,
    ):
        assert [client.get(LIST, headers=auth(WRONG_KEY)).status_code for _ in range(60)] == [401] * 60
        refused = client.get(LIST, headers=auth(merchant.test_api_key))
        assert_error(refused, 429, "too_many_failed_authentications")
        assert neighbour.get(LIST, headers=auth(merchant.test_api_key)).status_code == 200
        time.sleep(int(refused.headers["Retry-After"]) + 0.1)
        assert client.get(LIST, headers=auth(merchant.test_api_key)).status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({"X-API-Key": WRONG_KEY}, id="header"),
        pytest.param({"Authorization": "Basic " + "a3NyX3Rlc3RfeHg6"}, id="xendit-basic"),  # "ksr_test_xx:"
    ],
)
def test_every_way_of_sending_a_key_counts(strict: TestClient, db: Database, credentials: dict[str, str]) -> None:
    with writes_nothing(db):
        statuses = [strict.get(LIST, headers=credentials).status_code for _ in range(5)]
        statuses.append(strict.get(f"{LIST}?apiKey={WRONG_KEY}").status_code)
        statuses.append(
            strict.post("/callback_urls", auth=(WRONG_KEY, ""), json={"url": "http://8.8.8.8/"}).status_code
        )
    assert statuses == [401] * 5 + [429, 429]


def test_a_missing_key_is_not_a_guess(strict: TestClient) -> None:
    """No key at all is a client that forgot it, not a guess: 401 missing_api_key every time."""
    for _ in range(10):
        assert_error(strict.get(LIST), 401, "missing_api_key")


def test_wrong_forwarder_signatures_are_throttled(strict: TestClient, db: Database, merchant: NewMerchant) -> None:
    forwarder = strict.post("/v1/forwarder", headers=auth(merchant.test_api_key)).json()["forwarder"]
    body = b'{"channel": "qris", "amount": 10000, "reference": "R-1"}'
    headers = {"Content-Type": "application/json", "X-Kasir-Signature": "sha256=" + "0" * 64}
    with writes_nothing(db):
        answers = [
            strict.post(f"/v1/forwarders/{forwarder['id']}/mutations", content=body, headers=headers) for _ in range(6)
        ]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert_error(answers[-1], 429, "too_many_failed_authentications")


# --- /metrics ---------------------------------------------------------------------------------


def test_metrics_are_open_without_a_token(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 200


def test_metrics_need_the_bearer_token_when_one_is_set(settings: Settings, db: Database) -> None:
    with app_client(settings, db, metrics_token=SecretStr("s3cret-scrape-token"), auth_failure_limit=5) as client:
        assert_error(client.get("/metrics"), 401, "invalid_metrics_token")
        assert_error(client.get("/metrics", headers={"Authorization": "Bearer nope"}), 401, "invalid_metrics_token")
        assert_error(client.get("/metrics", headers={"Authorization": "Basic czNjcmV0"}), 401, "invalid_metrics_token")
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
        assert ok.status_code == 200
        assert "kasir_deliveries_pending" in ok.text
        # Wrong tokens are failed authentications like any other.
        answers = [client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code for _ in range(3)]
        assert answers == [401, 401, 429]
        assert "s3cret-scrape-token" not in client.get("/metrics").text


# --- the public pages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/pay?invoice={invoice}",
        "/pay/status?invoice={invoice}",
        "/download/nope",
        "/media/img_x.webp",
        "/qr.png?data=x",
    ],
)
def test_the_public_pages_are_limited_per_address(
    settings: Settings, db: Database, merchant: NewMerchant, path: str
) -> None:
    """20 a minute: the 21st request answers 429 rate_limited with Retry-After; another address
    still gets the page, and the merchant's API is not counted against the buyer's pages."""
    invoice = create(db, settings, merchant.test_api_key)["invoice_id"]
    url = path.format(invoice=invoice)
    with (
        app_client(settings, db, public_rate_limit=20) as buyer,
        app_client(settings, db, "198.51.100.9", public_rate_limit=20) as other,
    ):
        first = [buyer.get(url).status_code for _ in range(20)]
        assert 429 not in first
        refused = buyer.get(url)
        assert_error(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        assert other.get(url).status_code == first[0]
        assert buyer.get(LIST, headers=auth(merchant.test_api_key)).status_code == 200


def test_a_waiting_buyer_is_never_throttled_by_the_default(
    settings: Settings, db: Database, merchant: NewMerchant
) -> None:
    """The default allows a whole household behind one carrier NAT: 20 pay pages open, each
    polling /pay/status every 1.5 s for a minute (800 polls)."""
    defaults = settings.model_copy(update={"public_rate_limit": Settings.model_fields["public_rate_limit"].default})
    invoice = create(db, settings, merchant.test_api_key)["invoice_id"]
    with TestClient(create_app(defaults, database=db, background=False)) as client:
        statuses = {client.get(f"/pay/status?invoice={invoice}").status_code for _ in range(800)}
    assert statuses == {200}


# --- behind a reverse proxy: `kasir serve` as deployed ----------------------------------------


def _wrong_key_statuses(base: str, forwarded_for: list[str | None]) -> list[int]:
    statuses = []
    with httpx.Client(base_url=base, timeout=10) as http:
        for hop in forwarded_for:
            headers = {"X-API-Key": WRONG_KEY}
            if hop is not None:
                headers["X-Forwarded-For"] = hop
            statuses.append(http.get(LIST, headers=headers).status_code)
    return statuses


def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(tmp_path: Path) -> None:
    """`kasir serve` with no KASIR_TRUSTED_PROXIES: a client on loopback naming a new address in
    every X-Forwarded-For is still one address (uvicorn's own loopback trust is off)."""
    env = kasir_env(tmp_path / "home", KASIR_AUTH_FAILURE_LIMIT="3")
    kasir, base = serve("serve", env, tmp_path, worker=False)
    kasir.start().wait_healthy(base)
    try:
        statuses = _wrong_key_statuses(base, [f"198.51.100.{n}" for n in range(1, 6)])
    finally:
        kasir.stop()
    assert statuses == [401, 401, 401, 429, 429]


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget(tmp_path: Path) -> None:
    env = kasir_env(tmp_path / "home", KASIR_AUTH_FAILURE_LIMIT="3", KASIR_TRUSTED_PROXIES="127.0.0.1")
    kasir, base = serve("serve", env, tmp_path, worker=False)
    kasir.start().wait_healthy(base)
    try:
        one_client = _wrong_key_statuses(base, ["198.51.100.1"] * 4)
        # A second client behind the same proxy, and a client prefixing a spoofed hop of its own.
        others = _wrong_key_statuses(base, ["198.51.100.2", "6.6.6.6, 198.51.100.1"])
    finally:
        kasir.stop()
    assert one_client == [401, 401, 401, 429]
    assert others == [401, 429]

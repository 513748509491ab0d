"""The SSRF guard (docs/delivery.md, "SSRF") with KASIR_WEBHOOK_ALLOW_PRIVATE_NETWORKS off, as in production.

At save time every way of storing a callback URL refuses loopback, private, link-local,
shared, unspecified and metadata addresses (literal or by name) with 422 ``unsafe_url`` naming the
field, and writes nothing. At send time a URL that got into the database some other way is
refused before any byte reaches it, by the worker and by the synchronous ping.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.app import create_app
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import delivery_attempts
from kasir.merchants.service import NewMerchant
from kasir.ssrf import refusal
from tests.conftest import auth, writes_nothing
from tests.integration.delivery.conftest import add_endpoint, delivery_rows, set_callback
from tests.receivers import Receiver
from tests.waiting import wait_until
from tests.workers import RunningWorker

ENDPOINTS = "/v1/endpoints"
SETTINGS = "/v1/webhook-settings"
CREATE = "/api/create-payment.php"
# A public address given literally: passes the guard without needing DNS in the test sandbox.
PUBLIC_URL = "https://93.184.215.14/hook"

UNSAFE_URLS = [
    pytest.param("http://127.0.0.1/", id="loopback"),
    pytest.param("http://127.0.0.1:8080/hook", id="loopback-port"),
    pytest.param("http://localhost/", id="localhost-name"),
    pytest.param("http://10.0.0.1/", id="10/8"),
    pytest.param("http://172.16.5.4/", id="172.16/12"),
    pytest.param("http://192.168.1.1/", id="192.168/16"),
    pytest.param("http://169.254.169.254/latest/meta-data/", id="cloud-metadata"),
    pytest.param("http://[::1]/", id="ipv6-loopback"),
    pytest.param("http://[::ffff:127.0.0.1]/", id="ipv4-mapped-loopback"),
    pytest.param("http://[::ffff:169.254.169.254]/", id="ipv4-mapped-metadata"),
    pytest.param("http://[fe80::1]/", id="ipv6-link-local"),
    pytest.param("http://[fd00::1]/", id="ipv6-unique-local"),
    pytest.param("http://0.0.0.0/", id="unspecified"),
    pytest.param("http://[::]/", id="ipv6-unspecified"),
    pytest.param("http://100.64.0.1/", id="shared-address-space"),
    pytest.param("http://224.0.0.1/", id="multicast"),
    pytest.param("http://127.1/", id="short-form-loopback"),
    pytest.param("http://2130706433/", id="decimal-loopback"),
    pytest.param("http://0x7f000001/", id="hex-loopback"),
]

# IPv6 addresses that reach a non-public place (issue 15): the forms that embed or translate an
# IPv4 address, judged by the IPv4 inside, and ranges outside global unicast. Each with what the
# refusal must name.
IPV6_BYPASSES = [
    pytest.param("64:ff9b::a9fe:a9fe", "link-local", id="nat64-metadata"),
    pytest.param("64:ff9b::7f00:1", "loopback", id="nat64-loopback"),
    pytest.param("64:ff9b:1::a9fe:a9fe", "local-use NAT64", id="nat64-local-use"),
    pytest.param("::127.0.0.1", "loopback", id="ipv4-compatible-loopback"),
    pytest.param("::a9fe:a9fe", "link-local", id="ipv4-compatible-metadata"),
    pytest.param("::ffff:0:7f00:1", "loopback", id="siit-loopback"),
    pytest.param("::ffff:0:a00:1", "private", id="siit-private"),
    pytest.param("2002:7f00:1::1", "loopback", id="6to4-loopback"),
    pytest.param("2002:a9fe:a9fe::1", "link-local", id="6to4-metadata"),
    # Teredo: the client address is stored inverted; 80ff:fffe is 127.0.0.1.
    pytest.param("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback", id="teredo-loopback"),
    pytest.param("fec0::1", "site-local", id="site-local"),
    pytest.param("5f00::1", "not global unicast", id="outside-2000::/3"),
    pytest.param("2001:db8::1", "not global unicast", id="documentation"),
]
UNSAFE_URLS += [pytest.param(f"http://[{param.values[0]}]/", id=f"ipv6-{param.id}") for param in IPV6_BYPASSES]


# The casts: starlette types TestClient over httpx2, which is not installed (it runs on httpx), so
# to mypy its answers are Any; they are httpx.Response.


def save_endpoint(client: TestClient, key: str, url: str, endpoint_id: str) -> httpx.Response:
    return cast(httpx.Response, client.post(ENDPOINTS, headers=auth(key), json={"url": url}))


def patch_endpoint(client: TestClient, key: str, url: str, endpoint_id: str) -> httpx.Response:
    return cast(httpx.Response, client.patch(f"{ENDPOINTS}/{endpoint_id}", headers=auth(key), json={"url": url}))


def put_settings(client: TestClient, key: str, url: str, endpoint_id: str) -> httpx.Response:
    return cast(httpx.Response, client.put(SETTINGS, headers=auth(key), json={"default_callback_url": url}))


def create_payment(client: TestClient, key: str, url: str, endpoint_id: str) -> httpx.Response:
    return cast(httpx.Response, client.post(CREATE, headers=auth(key), json={"amount": 50000, "callback_url": url}))


def xendit_callback_urls(client: TestClient, key: str, url: str, endpoint_id: str) -> httpx.Response:
    return cast(httpx.Response, client.post("/callback_urls", auth=(key, ""), json={"url": url}))


SaveUrl = Callable[[TestClient, str, str, str], httpx.Response]
SAVE_PATHS = [
    pytest.param(save_endpoint, "url", id="POST-endpoints"),
    pytest.param(patch_endpoint, "url", id="PATCH-endpoint"),
    pytest.param(put_settings, "default_callback_url", id="PUT-webhook-settings"),
    pytest.param(create_payment, "callback_url", id="create-payment"),
    pytest.param(xendit_callback_urls, "url", id="POST-callback_urls"),
]


@pytest.fixture
def guarded_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private_networks": False})


@pytest.fixture
def guarded(guarded_settings: Settings, db: Database) -> Iterator[TestClient]:
    """The API as production runs it: the SSRF guard on."""
    with TestClient(create_app(guarded_settings, database=db, background=False)) as client:
        yield client


@pytest.fixture
def existing_endpoint(db: Database, merchant: NewMerchant) -> dict[str, Any]:
    """An endpoint to PATCH, on a public address."""
    return add_endpoint(db, merchant, PUBLIC_URL)


def assert_refused(response: httpx.Response, code: str, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["success"] is False, body
    assert body["code"] == code, body
    assert body["field"] == field, body
    assert body["error"].startswith(f"{field}:") or body["error"].startswith(f"{field} "), body


# --- save time ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", UNSAFE_URLS)
@pytest.mark.parametrize(("save", "field"), SAVE_PATHS)
def test_saving_an_unsafe_url_is_refused_and_writes_nothing(
    guarded: TestClient,
    db: Database,
    merchant: NewMerchant,
    existing_endpoint: dict[str, Any],
    save: SaveUrl,
    field: str,
    url: str,
) -> None:
    """Every way to store a callback URL answers 422 unsafe_url naming the field for a URL that
    is or resolves to a non-public address, and no row is written or changed."""
    with writes_nothing(db):
        response = save(guarded, merchant.test_api_key, url, existing_endpoint["public_id"])
    assert_refused(response, "unsafe_url", field)
    # The refusal says how a developer with a receiver on their own machine gets past it.
    assert "KASIR_WEBHOOK_ALLOW_PRIVATE_NETWORKS=1" in response.json()["error"]


@pytest.mark.parametrize(("address", "reason"), IPV6_BYPASSES)
@pytest.mark.parametrize(("save", "field"), SAVE_PATHS)
def test_an_ipv6_form_of_a_private_ipv4_address_is_refused_for_what_it_reaches(
    guarded: TestClient,
    db: Database,
    merchant: NewMerchant,
    existing_endpoint: dict[str, Any],
    save: SaveUrl,
    field: str,
    address: str,
    reason: str,
) -> None:
    """NAT64, IPv4-compatible, SIIT, 6to4 and Teredo addresses are judged by the IPv4 address
    inside, site-local and other non-global-unicast IPv6 ranges are refused; the error says
    which, and nothing is written."""
    with writes_nothing(db):
        response = save(guarded, merchant.test_api_key, f"http://[{address}]/hook", existing_endpoint["public_id"])
    assert_refused(response, "unsafe_url", field)
    assert reason in response.json()["error"], response.json()


@pytest.mark.parametrize(("save", "field"), SAVE_PATHS)
def test_saving_a_name_that_does_not_resolve_is_refused(
    guarded: TestClient,
    db: Database,
    merchant: NewMerchant,
    existing_endpoint: dict[str, Any],
    save: SaveUrl,
    field: str,
) -> None:
    """A host name that does not resolve answers 422 url_unresolvable naming the field; nothing is written."""
    with writes_nothing(db):
        response = save(
            guarded, merchant.test_api_key, "http://kasir-no-such-host.invalid/hook", existing_endpoint["public_id"]
        )
    assert_refused(response, "url_unresolvable", field)


@pytest.mark.parametrize(("save", "field"), SAVE_PATHS)
def test_a_public_address_is_accepted_with_the_guard_on(
    guarded: TestClient,
    db: Database,
    merchant: NewMerchant,
    existing_endpoint: dict[str, Any],
    save: SaveUrl,
    field: str,
) -> None:
    """The guard refuses non-public addresses only: a public literal address is saved."""
    response = save(guarded, merchant.test_api_key, "http://8.8.8.8/hook", existing_endpoint["public_id"])
    assert response.status_code in (200, 201), response.text


@pytest.mark.parametrize(("save", "field"), SAVE_PATHS)
def test_require_https_refuses_plain_http(
    guarded_settings: Settings,
    db: Database,
    merchant: NewMerchant,
    existing_endpoint: dict[str, Any],
    save: SaveUrl,
    field: str,
) -> None:
    """With KASIR_WEBHOOK_REQUIRE_HTTPS an http:// URL answers 422 https_required naming the field
    (even for a public address), and an https:// one is accepted."""
    strict = guarded_settings.model_copy(update={"webhook_require_https": True})
    with TestClient(create_app(strict, database=db, background=False)) as client:
        with writes_nothing(db):
            response = save(client, merchant.test_api_key, "http://8.8.8.8/hook", existing_endpoint["public_id"])
        assert_refused(response, "https_required", field)
        accepted = save(client, merchant.test_api_key, "https://8.8.8.8/hook", existing_endpoint["public_id"])
        assert accepted.status_code in (200, 201), accepted.text


def test_require_https_applies_even_when_private_networks_are_allowed(
    settings: Settings, db: Database, merchant: NewMerchant
) -> None:
    """KASIR_WEBHOOK_REQUIRE_HTTPS is independent of the private-network switch."""
    strict = settings.model_copy(update={"webhook_require_https": True})
    assert strict.webhook_allow_private_networks is True
    with TestClient(create_app(strict, database=db, background=False)) as client:
        with writes_nothing(db):
            response = client.post(ENDPOINTS, headers=auth(merchant.test_api_key), json={"url": "http://127.0.0.1/"})
        assert_refused(response, "https_required", "url")


# --- send time ------------------------------------------------------------------------------


def attempt_rows(db: Database) -> Sequence[sa.Row[Any]]:
    return db.read_sync(lambda conn: conn.execute(sa.select(delivery_attempts).order_by(delivery_attempts.c.id)).all())


SEND_HOSTS = [
    pytest.param("127.0.0.1", "loopback", id="literal"),
    pytest.param("localhost", "loopback", id="name-via-resolver"),
    pytest.param("[::ffff:127.0.0.1]", "loopback", id="ipv4-mapped"),
    pytest.param("0.0.0.0", "private or reserved", id="unspecified"),
    *[pytest.param(f"[{param.values[0]}]", param.values[1], id=f"ipv6-{param.id}") for param in IPV6_BYPASSES],
]


@pytest.mark.parametrize(("host", "reason"), SEND_HOSTS)
def test_the_worker_refuses_to_send_to_a_non_public_address_saved_behind_the_guards_back(
    guarded: TestClient,
    db: Database,
    guarded_settings: Settings,
    merchant: NewMerchant,
    start_worker: Callable[[Settings], RunningWorker],
    host: str,
    reason: str,
) -> None:
    """An endpoint row pointing at a live receiver on loopback (written straight to the database)
    gets an attempt that fails with "refused to connect", and the receiver gets zero requests."""
    with Receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", host)
        add_endpoint(db, merchant, url)
        start_worker(guarded_settings.model_copy(update={"delivery_retry_schedule": []}))
        response = guarded.post(CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000})
        assert response.status_code == 200, response.text
        wait_until(lambda: [d.status for d in delivery_rows(db)] == ["failed"], what="the delivery to fail")
        time.sleep(0.3)
        assert receiver.requests == []
        [attempt] = attempt_rows(db)
        assert attempt.status_code is None
        assert attempt.outcome == "failed"
        # The attempt log says why: the guard refused, not the network.
        assert "refused to connect" in attempt.error, attempt.error
        assert reason in attempt.error, attempt.error


def test_the_worker_refuses_a_default_callback_url_on_loopback(
    guarded: TestClient,
    db: Database,
    guarded_settings: Settings,
    merchant: NewMerchant,
    start_worker: Callable[[Settings], RunningWorker],
) -> None:
    """A default callback URL set straight in the database to a loopback receiver (the seed-004
    path, no endpoint row) is refused at send time too; the receiver gets nothing."""
    with Receiver() as receiver:
        set_callback(db, merchant, receiver.url.replace("127.0.0.1", "localhost"))
        start_worker(guarded_settings.model_copy(update={"delivery_retry_schedule": []}))
        response = guarded.post(CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000})
        assert response.status_code == 200, response.text
        wait_until(lambda: [d.status for d in delivery_rows(db)] == ["failed"], what="the delivery to fail")
        time.sleep(0.3)
        assert receiver.requests == []
        [attempt] = attempt_rows(db)
        assert "refused to connect" in attempt.error, attempt.error
        assert "loopback" in attempt.error, attempt.error


PING_HOSTS = [
    pytest.param("127.0.0.1", "loopback", id="literal"),
    pytest.param("localhost", "loopback", id="name"),
    pytest.param("[::ffff:127.0.0.1]", "loopback", id="ipv4-mapped"),
    *[pytest.param(f"[{param.values[0]}]", param.values[1], id=f"ipv6-{param.id}") for param in IPV6_BYPASSES],
]


@pytest.mark.parametrize(("host", "reason"), PING_HOSTS)
@pytest.mark.parametrize("action", ["ping", "test"])
def test_ping_and_tester_refuse_to_send_to_loopback(
    guarded: TestClient, db: Database, merchant: NewMerchant, host: str, reason: str, action: str
) -> None:
    """The synchronous ping and callback tester are guarded as the worker is: ok false, an error
    saying the connection was refused by the guard, nothing reaches the receiver."""
    with Receiver() as receiver:
        endpoint = add_endpoint(db, merchant, receiver.url.replace("127.0.0.1", host))
        response = guarded.post(f"{ENDPOINTS}/{endpoint['public_id']}/{action}", headers=auth(merchant.test_api_key))
        assert response.status_code == 200, response.text
        answer = response.json()["response"]
        time.sleep(0.2)
        assert receiver.requests == []
        assert answer["ok"] is False
        assert answer["status_code"] is None
        assert "refused to connect" in answer["error"], answer
        assert reason in answer["error"], answer


# --- the address rule itself ----------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "2606:4700::1111",
        "2001:4860:4860::8888",
        # The embedding forms of a public IPv4 address reach that public address.
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_are_not_refused(address: str) -> None:
    """refusal() answers None for public unicast addresses, IPv4 and IPv6, and for an IPv6 form
    that stands for a public IPv4 address."""
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("10.1.2.3", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "private or reserved"),
        ("0.0.0.0", "private or reserved"),
        ("::", "private or reserved"),
        ("fd12:3456::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("240.0.0.1", "reserved"),
        *[(param.values[0], param.values[1]) for param in IPV6_BYPASSES],
    ],
)
def test_non_public_addresses_are_refused_with_a_reason(address: str, reason: str) -> None:
    """refusal() names why a loopback, link-local, multicast, private or reserved address is refused."""
    why = refusal(ipaddress.ip_address(address))
    assert why is not None
    assert reason in why

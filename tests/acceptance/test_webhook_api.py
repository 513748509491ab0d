"""The webhook API end to end: HTTP through the app, a real delivery worker and real receivers.

Covers the callback settings of seed 004 (Pengaturan → Webhook), endpoints and their secrets,
the synchronous ping (seed 001) and callback tester, events, deliveries, the attempt log,
redelivery and recovery, Xendit's ``POST /callback_urls`` (seed 003) and ``/metrics``.
Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir import dialects
from kasir.app import create_app
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import endpoints
from kasir.dialects import InvalidSignature
from kasir.merchants.keys import new_webhook_secret
from kasir.merchants.service import NewMerchant
from tests.conftest import auth, row_counts, writes_nothing
from tests.receivers import Receiver, Reply
from tests.waiting import wait_until
from tests.workers import RunningWorker

SETTINGS = "/v1/webhook-settings"
ENDPOINTS = "/v1/endpoints"
EVENTS = "/v1/events"
DELIVERIES = "/v1/deliveries"
CREATE = "/api/create-payment.php"
ALL_DIALECTS = ("bayargg", "standard", "digiflazz", "ilenpay", "isikuota", "xendit")
SAMPLE_TYPES = ("payment.created", "payment.paid", "payment.expired", "payment.cancelled")
# Somewhere nobody listens: a URL that passes validation (tests allow private networks).
NOWHERE = "http://127.0.0.1:9/hook"

StartWorker = Callable[[Settings], RunningWorker]


# --- fixtures and helpers -------------------------------------------------------------------


def assert_error(response: httpx.Response, status: int, code: str | None = None, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False, body
    assert isinstance(body["error"], str), body
    assert body["error"].strip(), body
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert body.get("field") == field, body
    assert "Traceback" not in response.text


def success(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    return dict(body)


def create_endpoint(client: TestClient, key: str, url: str, **fields: Any) -> dict[str, Any]:
    body = success(client.post(ENDPOINTS, headers=auth(key), json={"url": url, **fields}), 201)
    return dict(body["endpoint"])


def create_payment(client: TestClient, key: str, amount: int = 50000, **fields: Any) -> str:
    body = success(client.post(CREATE, headers=auth(key), json={"amount": amount, **fields}))
    return str(body["payment"]["invoice_id"])


def cancel_payment(client: TestClient, key: str, invoice: str) -> None:
    success(client.post(f"/v1/payments/{invoice}/cancel", headers=auth(key)))


def list_deliveries(client: TestClient, key: str, **params: Any) -> list[dict[str, Any]]:
    return list(success(client.get(DELIVERIES, headers=auth(key), params=params))["data"])


def list_events(client: TestClient, key: str, **params: Any) -> list[dict[str, Any]]:
    return list(success(client.get(EVENTS, headers=auth(key), params=params))["data"])


def masked(secret: str) -> str:
    return secret[:8] + "***"


def signatures(request_headers: dict[str, str]) -> list[str]:
    return [part for part in header(request_headers, "webhook-signature").split(" ") if part]


def header(headers: dict[str, str], name: str) -> str:
    values = [value for key, value in headers.items() if key.lower() == name.lower()]
    assert len(values) == 1, (name, headers)
    return values[0]


def delivered_invoice(request_body: bytes) -> str:
    """The invoice id of a Standard Webhooks delivery."""
    return str(json.loads(request_body)["data"]["invoice_id"])


# --- callback settings (seed 004: Pengaturan → Webhook) --------------------------------------


def test_settings_defaults_per_mode_never_show_the_secret(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """GET /v1/webhook-settings answers each mode's own settings: no URL, bayargg, ["payment.paid"],
    a secret_hint of that mode's secret, and never the secret itself."""
    for key, mode, secret in (
        (merchant.test_api_key, "test", merchant.test_webhook_secret),
        (merchant.live_api_key, "live", merchant.live_webhook_secret),
    ):
        response = client.get(SETTINGS, headers=auth(key))
        settings = success(response)["settings"]
        assert settings["mode"] == mode
        assert settings["default_callback_url"] is None
        assert settings["dialect"] == "bayargg"
        assert settings["event_types"] == ["payment.paid"]
        assert settings["secret_hint"] == masked(secret)
        assert "secret" not in settings
        assert secret not in response.text


def test_put_settings_changes_only_its_own_mode(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """PUT with the test key changes test settings only; fields not sent stay; an empty URL clears it."""
    response = client.put(
        SETTINGS,
        headers=auth(merchant.test_api_key),
        json={
            "default_callback_url": "https://shop.example/callback",
            "dialect": "standard",
            "event_types": ["payment.paid", "payment.created"],
        },
    )
    put = success(response)["settings"]
    assert put["default_callback_url"] == "https://shop.example/callback"
    assert put["dialect"] == "standard"
    assert sorted(put["event_types"]) == ["payment.created", "payment.paid"]
    assert "secret" not in put
    test_view = success(client.get(SETTINGS, headers=auth(merchant.test_api_key)))["settings"]
    assert test_view == put
    live_view = success(client.get(SETTINGS, headers=auth(merchant.live_api_key)))["settings"]
    assert live_view["default_callback_url"] is None
    assert live_view["dialect"] == "bayargg"
    assert live_view["event_types"] == ["payment.paid"]

    # Partial: only the dialect changes.
    partial = success(client.put(SETTINGS, headers=auth(merchant.test_api_key), json={"dialect": "digiflazz"}))
    assert partial["settings"]["dialect"] == "digiflazz"
    assert partial["settings"]["default_callback_url"] == "https://shop.example/callback"
    assert sorted(partial["settings"]["event_types"]) == ["payment.created", "payment.paid"]

    cleared = success(client.put(SETTINGS, headers=auth(merchant.test_api_key), json={"default_callback_url": ""}))
    assert cleared["settings"]["default_callback_url"] is None
    assert cleared["settings"]["dialect"] == "digiflazz"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        pytest.param({"dialect": "paypal"}, "invalid_dialect", "dialect", id="unknown-dialect"),
        pytest.param({"dialect": ""}, "invalid_dialect", "dialect", id="empty-dialect"),
        pytest.param({"event_types": ["payment.refunded"]}, "invalid_event_type", "event_types", id="unknown-event"),
        pytest.param({"event_types": ["order"]}, "invalid_event_type", "event_types", id="bare-family"),
        pytest.param({"event_types": "payment.paid"}, None, "event_types", id="event-types-not-a-list"),
        pytest.param({"default_callback_url": "ftp://shop.example/cb"}, None, "default_callback_url", id="ftp"),
        pytest.param({"default_callback_url": "javascript:alert(1)"}, None, "default_callback_url", id="javascript"),
        pytest.param({"default_callback_url": "shop.example/cb"}, None, "default_callback_url", id="no-scheme"),
        pytest.param({"default_callback_url": "http://"}, None, "default_callback_url", id="no-host"),
        pytest.param({"secret": "whsec_mine"}, None, "secret", id="unknown-field"),
    ],
)
def test_put_settings_refuses_invalid_values_and_changes_nothing(
    client: TestClient, db: Database, merchant: NewMerchant, body: dict[str, Any], code: str | None, field: str
) -> None:
    """A bad dialect, event type, URL scheme or unknown field answers 400 naming the field, and
    nothing changes, not even the valid fields sent alongside."""
    sent = {"default_callback_url": "https://shop.example/ok", **body}
    with writes_nothing(db):
        response = client.put(SETTINGS, headers=auth(merchant.test_api_key), json=sent)
    assert_error(response, 400, code, field)
    assert (
        success(client.get(SETTINGS, headers=auth(merchant.test_api_key)))["settings"]["default_callback_url"] is None
    )


def test_rotate_settings_secret_shows_the_new_secret_once(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """POST /v1/webhook-settings/rotate-secret answers a new whsec_ secret once; GET then shows only
    its hint; the live secret is untouched; bayargg gets no grace period."""
    rotated = success(client.post(f"{SETTINGS}/rotate-secret", headers=auth(merchant.test_api_key)))["settings"]
    new_secret = rotated["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != merchant.test_webhook_secret
    assert rotated["secret_hint"] == masked(new_secret)
    assert rotated["previous_secret_expires_at"] is None  # bayargg: the new secret applies at once
    after = client.get(SETTINGS, headers=auth(merchant.test_api_key))
    assert "secret" not in success(after)["settings"]
    assert new_secret not in after.text
    assert after.json()["settings"]["secret_hint"] == masked(new_secret)
    live = success(client.get(SETTINGS, headers=auth(merchant.live_api_key)))["settings"]
    assert live["secret_hint"] == masked(merchant.live_webhook_secret)


def test_standard_settings_rotation_signs_with_old_and_new_secret_during_grace(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    """After rotating with dialect standard, a real delivery carries two v1 signatures: one verifies
    with the old secret alone, one with the new secret alone; the grace ends about a day later."""
    key = merchant.test_api_key
    with Receiver() as receiver:
        success(
            client.put(
                SETTINGS,
                headers=auth(key),
                json={"default_callback_url": receiver.url, "dialect": "standard", "event_types": ["payment.created"]},
            )
        )
        rotated = success(client.post(f"{SETTINGS}/rotate-secret", headers=auth(key)))["settings"]
        new_secret, old_secret = rotated["secret"], merchant.test_webhook_secret
        grace_end = datetime.fromisoformat(rotated["previous_secret_expires_at"].replace("Z", "+00:00"))
        expected_end = datetime.now(UTC) + timedelta(seconds=settings.secret_rotation_grace)
        assert abs((grace_end - expected_end).total_seconds()) < 120
        start_worker(settings)
        invoice = create_payment(client, key)
        [request] = receiver.wait_for(1, timeout=30)
        sigs = signatures(request.headers)
        assert len(sigs) == 2
        assert all(sig.startswith("v1,") for sig in sigs)
        standard = dialects.get("standard")
        for secret in (old_secret, new_secret):
            event = standard.verify(request.body, request.headers, [secret])
            assert event.type == "payment.created"
            assert event.data["invoice_id"] == invoice
        with pytest.raises(InvalidSignature):
            standard.verify(request.body, request.headers, [new_webhook_secret()])


def test_bayargg_settings_rotation_applies_the_new_secret_at_once(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    """With dialect bayargg a delivery made after rotation verifies with the new secret only, by the
    SDK and by seed 004's PHP recipe (HMAC-SHA256 of invoice_id|status|final_amount|timestamp)."""
    key = merchant.test_api_key
    with Receiver() as receiver:
        success(
            client.put(
                SETTINGS, headers=auth(key), json={"default_callback_url": receiver.url, "event_types": ["payment.*"]}
            )
        )
        new_secret = success(client.post(f"{SETTINGS}/rotate-secret", headers=auth(key)))["settings"]["secret"]
        start_worker(settings)
        invoice = create_payment(client, key)
        [request] = receiver.wait_for(1, timeout=30)
        bayargg = dialects.get("bayargg")
        event = bayargg.verify(request.body, request.headers, [new_secret])
        assert event.data["invoice_id"] == invoice
        with pytest.raises(InvalidSignature):
            bayargg.verify(request.body, request.headers, [merchant.test_webhook_secret])
        payload = json.loads(request.body)
        timestamp = header(request.headers, "X-Webhook-Timestamp")
        signed = f"{payload['invoice_id']}|{payload['status']}|{payload['final_amount']}|{timestamp}"
        expected = hmac.new(new_secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        assert hmac.compare_digest(expected, header(request.headers, "X-Webhook-Signature"))


def test_default_callback_url_gets_only_the_event_types_of_the_settings(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    """With a default callback URL and the default ["payment.paid"], creating a payment makes no
    delivery at all; with ["payment.cancelled"] only the cancellation goes; with payment.created
    added, creations go too. What goes is delivered, signed with the settings' secret."""
    key = merchant.test_api_key
    with Receiver() as receiver:
        success(client.put(SETTINGS, headers=auth(key), json={"default_callback_url": receiver.url}))
        first = create_payment(client, key)
        assert [e["type"] for e in list_events(client, key)] == ["payment.created"]
        assert list_deliveries(client, key) == []
        assert row_counts(db)["deliveries"] == 0

        success(client.put(SETTINGS, headers=auth(key), json={"event_types": ["payment.cancelled"]}))
        second = create_payment(client, key, amount=60000)
        assert list_deliveries(client, key) == []
        cancel_payment(client, key, second)
        [cancelled] = list_deliveries(client, key)
        assert cancelled["event_type"] == "payment.cancelled"
        assert cancelled["url"] == receiver.url
        assert cancelled["endpoint_id"] is None
        assert cancelled["dialect"] == "bayargg"

        success(client.put(SETTINGS, headers=auth(key), json={"event_types": ["payment.created", "payment.paid"]}))
        third = create_payment(client, key, amount=70000)
        assert [d["event_type"] for d in list_deliveries(client, key)] == ["payment.created", "payment.cancelled"]

        start_worker(settings)
        requests = receiver.wait_for(2, timeout=30)
        wait_until(lambda: all(d["status"] == "succeeded" for d in list_deliveries(client, key)), what="both delivered")
        assert len(receiver.requests) == 2
        received = [dialects.get("bayargg").verify(r.body, r.headers, [merchant.test_webhook_secret]) for r in requests]
        assert sorted((e.type, e.data["invoice_id"]) for e in received) == sorted(
            [("payment.cancelled", second), ("payment.created", third)]
        )
        assert first not in {e.data["invoice_id"] for e in received}


# --- endpoints ------------------------------------------------------------------------------


def test_endpoint_lifecycle_create_get_list_patch_delete(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """POST answers 201 with the secret once; GET and the list never show it; PATCH changes only
    what is sent; DELETE answers 204 and removes the endpoint and its deliveries; then 404."""
    key = merchant.test_api_key
    created = create_endpoint(
        client,
        key,
        "https://shop.example/hooks",
        dialect="standard",
        description="main shop",
        event_types=["payment.paid", "payment.cancelled"],
        rate_limit=5,
        fifo=True,
        headers={"X-Shop": "kopi"},
    )
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert created["secret_hint"] == masked(secret)
    assert created["id"].startswith("ep_")
    assert created["url"] == "https://shop.example/hooks"
    assert created["dialect"] == "standard"
    assert created["description"] == "main shop"
    assert sorted(created["event_types"]) == ["payment.cancelled", "payment.paid"]
    assert created["rate_limit"] == 5
    assert created["fifo"] is True
    assert created["headers"] == {"X-Shop": "kopi"}
    assert created["enabled"] is True
    endpoint_id = created["id"]

    one = client.get(f"{ENDPOINTS}/{endpoint_id}", headers=auth(key))
    shown = success(one)["endpoint"]
    assert "secret" not in shown
    assert secret not in one.text
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    listing = client.get(ENDPOINTS, headers=auth(key))
    assert success(listing)["data"] == [shown]
    assert secret not in listing.text

    patched = success(client.patch(f"{ENDPOINTS}/{endpoint_id}", headers=auth(key), json={"description": "renamed"}))
    after = patched["endpoint"]
    assert after["description"] == "renamed"
    assert "secret" not in after
    unchanged = ("url", "dialect", "event_types", "rate_limit", "fifo", "headers", "enabled", "secret_hint")
    assert {k: after[k] for k in unchanged} == {k: shown[k] for k in unchanged}

    patched = success(
        client.patch(
            f"{ENDPOINTS}/{endpoint_id}",
            headers=auth(key),
            json={"url": "https://shop.example/v2", "event_types": None, "fifo": False, "rate_limit": None},
        )
    )["endpoint"]
    assert patched["url"] == "https://shop.example/v2"
    assert patched["event_types"] is None
    assert patched["fifo"] is False
    assert patched["rate_limit"] is None
    assert patched["description"] == "renamed"
    assert patched["headers"] == {"X-Shop": "kopi"}

    create_payment(client, key)
    assert len(list_deliveries(client, key, endpoint_id=endpoint_id)) == 1

    deleted = client.delete(f"{ENDPOINTS}/{endpoint_id}", headers=auth(key))
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    assert_error(client.get(f"{ENDPOINTS}/{endpoint_id}", headers=auth(key)), 404, "endpoint_not_found")
    assert_error(client.delete(f"{ENDPOINTS}/{endpoint_id}", headers=auth(key)), 404, "endpoint_not_found")
    assert success(client.get(ENDPOINTS, headers=auth(key)))["data"] == []
    assert list_deliveries(client, key) == []
    assert len(list_events(client, key)) == 1  # the event itself stays


def test_endpoint_defaults_and_rate_limit_bounds(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """An endpoint with only a URL is bayargg, takes every event, no FIFO, no headers, no rate limit;
    rate_limit 1 and 10000 are accepted."""
    key = merchant.test_api_key
    plain = create_endpoint(client, key, "https://shop.example/a")
    assert plain["dialect"] == "bayargg"
    assert plain["event_types"] is None
    assert plain["fifo"] is False
    assert plain["headers"] == {}
    assert plain["rate_limit"] is None
    assert plain["enabled"] is True
    assert plain["disabled_reason"] is None
    assert create_endpoint(client, key, "https://shop.example/b", rate_limit=1)["rate_limit"] == 1
    assert create_endpoint(client, key, "https://shop.example/c", rate_limit=10000)["rate_limit"] == 10000
    assert len(success(client.get(ENDPOINTS, headers=auth(key)))["data"]) == 3


def test_disabling_fails_pending_deliveries_and_enabling_clears_the_failure_marks(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """PATCH enabled=false fails the endpoint's pending deliveries and stops new ones; PATCH
    enabled=true brings it back with disabled_reason, disabled_at and failing_since cleared."""
    key = merchant.test_api_key
    endpoint = create_endpoint(client, key, NOWHERE, dialect="standard")
    create_payment(client, key)
    [pending] = list_deliveries(client, key, endpoint_id=endpoint["id"])
    assert pending["status"] == "pending"
    # As the worker leaves it after failures: failing since an hour ago.
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(endpoints)
            .where(endpoints.c.public_id == endpoint["id"])
            .values(failing_since=datetime.now(UTC) - timedelta(hours=1))
        )
    )

    disabled = success(client.patch(f"{ENDPOINTS}/{endpoint['id']}", headers=auth(key), json={"enabled": False}))
    view = disabled["endpoint"]
    assert view["enabled"] is False
    assert view["disabled_reason"]
    assert view["disabled_at"] is not None
    [failed] = list_deliveries(client, key, endpoint_id=endpoint["id"])
    assert failed["id"] == pending["id"]
    assert failed["status"] == "failed"
    assert "disabled" in failed["last_error"]
    assert failed["next_attempt_at"] is None
    create_payment(client, key, amount=60000)
    assert len(list_deliveries(client, key, endpoint_id=endpoint["id"])) == 1  # nothing new for it

    enabled = success(client.patch(f"{ENDPOINTS}/{endpoint['id']}", headers=auth(key), json={"enabled": True}))
    view = enabled["endpoint"]
    assert view["enabled"] is True
    assert view["disabled_reason"] is None
    assert view["disabled_at"] is None
    assert view["failing_since"] is None
    assert success(client.get(f"{ENDPOINTS}/{endpoint['id']}", headers=auth(key)))["endpoint"] == view
    create_payment(client, key, amount=70000)
    statuses = [d["status"] for d in list_deliveries(client, key, endpoint_id=endpoint["id"])]
    assert statuses == ["pending", "failed"]  # new events go again; the failed one stays failed


FOREIGN_ROUTES = [
    pytest.param("GET", "/v1/endpoints/{id}", None, id="get"),
    pytest.param("PATCH", "/v1/endpoints/{id}", {"description": "mine now"}, id="patch"),
    pytest.param("PATCH", "/v1/endpoints/{id}", {"enabled": False}, id="patch-disable"),
    pytest.param("DELETE", "/v1/endpoints/{id}", None, id="delete"),
    pytest.param("POST", "/v1/endpoints/{id}/ping", None, id="ping"),
    pytest.param("POST", "/v1/endpoints/{id}/test", {"event_type": "payment.paid"}, id="test"),
    pytest.param("POST", "/v1/endpoints/{id}/rotate-secret", None, id="rotate-secret"),
    pytest.param("POST", "/v1/endpoints/{id}/recover", {"since": "2020-01-01T00:00:00Z"}, id="recover"),
    pytest.param("POST", "/v1/report/hooks/{id}/pings", None, id="digiflazz-ping"),
    pytest.param("GET", "/v1/deliveries?endpoint_id={id}", None, id="deliveries-filter"),
]


@pytest.mark.parametrize(("method", "path", "body"), FOREIGN_ROUTES)
def test_another_merchants_endpoint_is_404_on_every_route(
    client: TestClient,
    db: Database,
    merchant: NewMerchant,
    other_merchant: NewMerchant,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    """An endpoint id of another merchant answers 404 endpoint_not_found (never 403), sends
    nothing to its URL and changes nothing."""
    with Receiver() as receiver:
        theirs = create_endpoint(client, other_merchant.test_api_key, receiver.url)
        create_payment(client, other_merchant.test_api_key)
        with writes_nothing(db):
            response = client.request(
                method, path.format(id=theirs["id"]), headers=auth(merchant.test_api_key), json=body
            )
        assert_error(response, 404, "endpoint_not_found")
        assert receiver.requests == []
        mine = success(client.get(f"{ENDPOINTS}/{theirs['id']}", headers=auth(other_merchant.test_api_key)))
        assert mine["endpoint"]["enabled"] is True


@pytest.mark.parametrize(("method", "path", "body"), FOREIGN_ROUTES)
def test_the_live_key_cannot_reach_test_endpoints(
    client: TestClient,
    db: Database,
    merchant: NewMerchant,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    """A test-mode endpoint id answers 404 to the same merchant's live key on every route."""
    with Receiver() as receiver:
        test_endpoint = create_endpoint(client, merchant.test_api_key, receiver.url)
        with writes_nothing(db):
            response = client.request(
                method, path.format(id=test_endpoint["id"]), headers=auth(merchant.live_api_key), json=body
            )
        assert_error(response, 404, "endpoint_not_found")
        assert receiver.requests == []


def test_modes_keep_endpoints_and_deliveries_apart(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """The live list does not show test endpoints (nor the reverse), and a test payment makes no
    delivery to a live endpoint."""
    test_endpoint = create_endpoint(client, merchant.test_api_key, "https://shop.example/test")
    live_endpoint = create_endpoint(client, merchant.live_api_key, "https://shop.example/live")
    assert [e["id"] for e in success(client.get(ENDPOINTS, headers=auth(merchant.live_api_key)))["data"]] == [
        live_endpoint["id"]
    ]
    assert [e["id"] for e in success(client.get(ENDPOINTS, headers=auth(merchant.test_api_key)))["data"]] == [
        test_endpoint["id"]
    ]
    create_payment(client, merchant.test_api_key)
    [delivery] = list_deliveries(client, merchant.test_api_key)
    assert delivery["endpoint_id"] == test_endpoint["id"]
    assert list_deliveries(client, merchant.live_api_key) == []


URL = "https://shop.example/hooks"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        pytest.param({}, "missing_parameter", "url", id="missing-url"),
        pytest.param({"url": ""}, "missing_parameter", "url", id="empty-url"),
        pytest.param({"url": "ftp://shop.example/h"}, "invalid_parameter", "url", id="ftp-url"),
        pytest.param({"url": "not a url"}, "invalid_parameter", "url", id="not-a-url"),
        pytest.param({"url": URL, "dialect": "paypal"}, "invalid_dialect", "dialect", id="bad-dialect"),
        pytest.param({"url": URL, "dialect": "STANDARD"}, "invalid_dialect", "dialect", id="dialect-case"),
        pytest.param(
            {"url": URL, "event_types": ["payment.refunded"]}, "invalid_event_type", "event_types", id="bad-event"
        ),
        pytest.param(
            {"url": URL, "event_types": ["payment.paid", "nope"]}, "invalid_event_type", "event_types", id="one-bad"
        ),
        pytest.param({"url": URL, "event_types": "payment.paid"}, "invalid_parameter", "event_types", id="not-list"),
        pytest.param({"url": URL, "rate_limit": 0}, "invalid_parameter", "rate_limit", id="rate-limit-0"),
        pytest.param({"url": URL, "rate_limit": 10001}, "invalid_parameter", "rate_limit", id="rate-limit-10001"),
        pytest.param({"url": URL, "rate_limit": -5}, "invalid_parameter", "rate_limit", id="rate-limit-negative"),
        pytest.param({"url": URL, "headers": {"Host": "evil.example"}}, "invalid_header", "headers", id="host"),
        pytest.param({"url": URL, "headers": {"Content-Length": "1"}}, "invalid_header", "headers", id="length"),
        pytest.param({"url": URL, "headers": {"content-type": "text/xml"}}, "invalid_header", "headers", id="ctype"),
        pytest.param({"url": URL, "headers": {"Transfer-Encoding": "chunked"}}, "invalid_header", "headers", id="te"),
        pytest.param({"url": URL, "headers": {"Connection": "close"}}, "invalid_header", "headers", id="connection"),
        pytest.param({"url": URL, "headers": {"X Bad": "1"}}, "invalid_header", "headers", id="space-in-name"),
        pytest.param({"url": URL, "headers": {"X-Ok": "a\r\nX-Injected: 1"}}, None, "headers", id="crlf-value"),
        pytest.param({"url": URL, "secret": "whsec_mine"}, "invalid_parameter", "secret", id="unknown-field"),
        pytest.param({"url": URL, "enabled": "maybe"}, "invalid_parameter", "enabled", id="bad-bool"),
    ],
)
def test_create_endpoint_refuses_invalid_fields_and_writes_nothing(
    client: TestClient, db: Database, merchant: NewMerchant, body: dict[str, Any], code: str | None, field: str
) -> None:
    """Every invalid endpoint field answers 400 with its machine code and field; no row is written."""
    with writes_nothing(db):
        response = client.post(ENDPOINTS, headers=auth(merchant.test_api_key), json=body)
    assert_error(response, 400, code, field)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        pytest.param({"url": ""}, None, "url", id="empty-url"),
        pytest.param({"url": "gopher://shop.example"}, "invalid_parameter", "url", id="bad-url"),
        pytest.param({"dialect": "paypal"}, "invalid_dialect", "dialect", id="bad-dialect"),
        pytest.param({"event_types": ["payment.refunded"]}, "invalid_event_type", "event_types", id="bad-event"),
        pytest.param({"rate_limit": 0}, "invalid_parameter", "rate_limit", id="rate-limit-0"),
        pytest.param({"rate_limit": 10001}, "invalid_parameter", "rate_limit", id="rate-limit-10001"),
        pytest.param({"headers": {"Host": "evil.example"}}, "invalid_header", "headers", id="host"),
        pytest.param({"secret": "whsec_mine"}, "invalid_parameter", "secret", id="unknown-field"),
        pytest.param({"description": "ok", "dialect": "paypal"}, "invalid_dialect", "dialect", id="half-valid"),
    ],
)
def test_patch_endpoint_refuses_invalid_fields_and_changes_nothing(
    client: TestClient, db: Database, merchant: NewMerchant, body: dict[str, Any], code: str | None, field: str
) -> None:
    """PATCH with an invalid field answers 400 and leaves the endpoint exactly as it was."""
    endpoint = create_endpoint(client, merchant.test_api_key, URL, description="before")
    with writes_nothing(db):
        response = client.patch(f"{ENDPOINTS}/{endpoint['id']}", headers=auth(merchant.test_api_key), json=body)
    assert_error(response, 400, code, field)


# --- ping (seed 001) ------------------------------------------------------------------------


def ping_data(dialect: str, body: bytes, headers: dict[str, str], secret: str) -> dict[str, Any]:
    """The ping payload as a receiver of ``dialect`` sees it, after verifying the signature."""
    event = dialects.get(dialect).verify(body, headers, [secret])
    assert event.type == "ping"
    return dict(event.data)


@pytest.mark.parametrize("dialect", ALL_DIALECTS)
def test_ping_sends_the_hook_config_with_a_masked_secret_in_the_endpoints_dialect(
    client: TestClient, db: Database, merchant: NewMerchant, dialect: str
) -> None:
    """POST /v1/endpoints/{id}/ping answers the receiver's 200 and a latency; the receiver gets a
    ping, verified by the endpoint's dialect, with sed, hook_id == endpoint id and a masked secret;
    nothing is stored (seed 001: the ping event is not saved)."""
    key = merchant.test_api_key
    with Receiver() as receiver:
        endpoint = create_endpoint(client, key, receiver.url, dialect=dialect)
        secret = endpoint["secret"]
        with writes_nothing(db):
            response = client.post(f"{ENDPOINTS}/{endpoint['id']}/ping", headers=auth(key))
        body = success(response)
        assert secret not in response.text
        answer = body["response"]
        assert answer["ok"] is True
        assert answer["status_code"] == 200
        assert isinstance(answer["latency_ms"], int | float)
        assert answer["latency_ms"] >= 0
        assert answer["error"] is None
        assert answer["response_body"] == '{"status":"ok"}'
        [request] = receiver.requests
        assert secret.encode() not in request.body
        data = ping_data(dialect, request.body, request.headers, secret)
        assert data["hook_id"] == endpoint["id"]
        assert isinstance(data["sed"], str)
        assert data["sed"]
        assert data["sed"] == body["ping"]["sed"]
        assert data["hook"]["secret"] == masked(secret)
        assert data["hook"]["url"] == receiver.url
        assert body["ping"]["hook"]["secret"] == masked(secret)


def test_ping_reports_a_failing_receiver(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Against a receiver answering 500 the ping answers ok false and status_code 500; against a
    closed port, ok false, no status code and an error."""
    key = merchant.test_api_key
    with Receiver(lambda _n, _r: Reply(status=500, body=b"down")) as receiver:
        endpoint = create_endpoint(client, key, receiver.url, dialect="standard")
        answer = success(client.post(f"{ENDPOINTS}/{endpoint['id']}/ping", headers=auth(key)))["response"]
        assert answer["ok"] is False
        assert answer["status_code"] == 500
        assert answer["response_body"] == "down"
        assert len(receiver.requests) == 1
    closed = create_endpoint(client, key, NOWHERE, dialect="standard")
    answer = success(client.post(f"{ENDPOINTS}/{closed['id']}/ping", headers=auth(key)))["response"]
    assert answer["ok"] is False
    assert answer["status_code"] is None
    assert answer["error"]


def test_ping_does_not_follow_redirects(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A receiver answering 302 is a failed ping (docs/delivery.md: 3xx is not followed); the Location
    target gets nothing."""
    key = merchant.test_api_key
    with Receiver() as target:
        redirect = Reply(status=302, body=b"", headers={"Location": target.url})
        with Receiver(lambda _n, _r: redirect) as receiver:
            endpoint = create_endpoint(client, key, receiver.url, dialect="standard")
            answer = success(client.post(f"{ENDPOINTS}/{endpoint['id']}/ping", headers=auth(key)))["response"]
            assert answer["ok"] is False
            assert answer["status_code"] == 302
            assert len(receiver.requests) == 1
            time.sleep(0.2)
            assert target.requests == []


def test_digiflazz_ping_path_answers_the_seed_shape_and_the_hook_verifies_it(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """POST /v1/report/hooks/{id}/pings with an empty body answers seed 001's {sed, hook_id, hook:
    {url, secret, type, status}}; the hook receives the same payload with X-Digiflazz-Event: ping,
    signed as the seed's PHP checks (sha1= HMAC-SHA1 of the raw body) and verified by the SDK."""
    key = merchant.test_api_key
    with Receiver() as receiver:
        endpoint = create_endpoint(client, key, receiver.url, dialect="digiflazz")
        secret = endpoint["secret"]
        with writes_nothing(db):
            response = client.post(
                f"/v1/report/hooks/{endpoint['id']}/pings", headers={**auth(key), "Content-Length": "0"}
            )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert isinstance(answer["sed"], str)
        assert answer["sed"]
        assert answer["hook_id"] == endpoint["id"]
        assert answer["hook"] == {
            "url": receiver.url,
            "secret": masked(secret),
            "type": "application/json",
            "status": 1,
        }
        assert secret not in response.text
        [request] = receiver.requests
        assert header(request.headers, "X-Digiflazz-Event") == "ping"
        assert header(request.headers, "X-Digiflazz-Delivery")
        assert header(request.headers, "User-Agent").startswith("Digiflazz-Hookshot")
        expected = "sha1=" + hmac.new(secret.encode(), request.body, hashlib.sha1).hexdigest()
        assert header(request.headers, "X-Hub-Signature") == expected
        event = dialects.get("digiflazz").verify(request.body, request.headers, [secret])
        assert event.type == "ping"
        assert dict(event.data) == {k: answer[k] for k in ("sed", "hook_id", "hook")}

        success(client.patch(f"{ENDPOINTS}/{endpoint['id']}", headers=auth(key), json={"enabled": False}))
        again = client.post(f"/v1/report/hooks/{endpoint['id']}/pings", headers=auth(key))
        assert again.status_code == 200, again.text
        assert again.json()["hook"]["status"] == 0  # a disabled hook says so
        assert again.json()["sed"] != answer["sed"]


# --- callback tester ------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ALL_DIALECTS)
def test_callback_tester_sends_realistic_samples_verified_by_the_dialect(
    client: TestClient, db: Database, merchant: NewMerchant, dialect: str
) -> None:
    """POST /v1/endpoints/{id}/test sends a realistic payment.created/paid/expired/cancelled sample
    that the endpoint's dialect verifies as that event type (isikuota has no payment.created)."""
    key = merchant.test_api_key
    with Receiver() as receiver:
        endpoint = create_endpoint(client, key, receiver.url, dialect=dialect)
        sent = 0
        for event_type in SAMPLE_TYPES:
            if dialect == "isikuota" and event_type == "payment.created":
                continue
            body = success(
                client.post(f"{ENDPOINTS}/{endpoint['id']}/test", headers=auth(key), json={"event_type": event_type})
            )
            sent += 1
            sample = body["event"]
            status = {"payment.created": "pending", "payment.paid": "paid"}.get(event_type, event_type[8:])
            assert sample["event"] == event_type
            assert sample["status"] == status
            assert re.fullmatch(rf"PAY-{merchant.username}-\d+-[A-Z0-9]+", sample["invoice_id"])
            assert sample["final_amount"] == sample["amount"] + sample["unique_code"]
            assert (sample["paid_reff_num"] is not None) == (status == "paid")
            assert body["response"]["ok"] is True
            assert body["response"]["status_code"] == 200
            requests = receiver.wait_for(sent)
            request = requests[-1]
            event = dialects.get(dialect).verify(request.body, request.headers, [endpoint["secret"]])
            assert event.type == event_type, (dialect, event_type, event)
            assert event.data["invoice_id"] == sample["invoice_id"]
        assert len(receiver.requests) == sent


def test_callback_tester_defaults_to_payment_paid(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """POST /v1/endpoints/{id}/test with no body sends a payment.paid sample."""
    key = merchant.test_api_key
    with Receiver() as receiver:
        endpoint = create_endpoint(client, key, receiver.url, dialect="standard")
        body = success(client.post(f"{ENDPOINTS}/{endpoint['id']}/test", headers=auth(key)))
        assert body["event"]["event"] == "payment.paid"
        [request] = receiver.requests
        assert dialects.get("standard").verify(request.body, request.headers, [endpoint["secret"]]).type == (
            "payment.paid"
        )


@pytest.mark.parametrize(
    ("dialect", "body", "code"),
    [
        pytest.param("isikuota", {"event_type": "payment.created"}, "event_not_in_dialect", id="isikuota-created"),
        pytest.param("standard", {"event_type": "payment.refunded"}, "invalid_event_type", id="unknown-type"),
        pytest.param("standard", {"event_type": "ping"}, "invalid_event_type", id="ping-is-not-a-sample"),
        pytest.param("standard", {"event_type": "endpoint.disabled"}, "invalid_event_type", id="endpoint-disabled"),
        pytest.param("standard", {"event_type": "payment.paid", "x": 1}, "invalid_parameter", id="unknown-field"),
    ],
)
def test_callback_tester_refuses_what_it_cannot_send(
    client: TestClient, db: Database, merchant: NewMerchant, dialect: str, body: dict[str, Any], code: str
) -> None:
    """An event type the dialect cannot say, or that is no sample, answers 400; nothing is sent."""
    key = merchant.test_api_key
    with Receiver() as receiver:
        endpoint = create_endpoint(client, key, receiver.url, dialect=dialect)
        with writes_nothing(db):
            response = client.post(f"{ENDPOINTS}/{endpoint['id']}/test", headers=auth(key), json=body)
        assert_error(response, 400, code)
        assert receiver.requests == []


# --- endpoint secret rotation ---------------------------------------------------------------


def test_standard_endpoint_rotation_keeps_the_old_secret_valid_during_grace(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    """POST /v1/endpoints/{id}/rotate-secret on a standard endpoint answers the new secret once and
    a grace end; the tester and the worker then sign with both secrets, each verifying alone."""
    key = merchant.test_api_key
    with Receiver() as receiver:
        endpoint = create_endpoint(client, key, receiver.url, dialect="standard", event_types=["payment.created"])
        old_secret = endpoint["secret"]
        rotated = success(client.post(f"{ENDPOINTS}/{endpoint['id']}/rotate-secret", headers=auth(key)))["endpoint"]
        new_secret = rotated["secret"]
        assert new_secret.startswith("whsec_")
        assert new_secret != old_secret
        assert rotated["previous_secret_expires_at"] is not None
        shown = client.get(f"{ENDPOINTS}/{endpoint['id']}", headers=auth(key))
        assert "secret" not in success(shown)["endpoint"]
        assert new_secret not in shown.text
        assert old_secret not in shown.text
        assert shown.json()["endpoint"]["secret_hint"] == masked(new_secret)

        success(client.post(f"{ENDPOINTS}/{endpoint['id']}/test", headers=auth(key)))
        start_worker(settings)
        create_payment(client, key)
        requests = receiver.wait_for(2, timeout=30)
        standard = dialects.get("standard")
        for request in requests:
            assert len(signatures(request.headers)) == 2
            standard.verify(request.body, request.headers, [old_secret])
            standard.verify(request.body, request.headers, [new_secret])
            with pytest.raises(InvalidSignature):
                standard.verify(request.body, request.headers, [new_webhook_secret()])


@pytest.mark.parametrize("dialect", ["bayargg", "digiflazz", "isikuota", "xendit"])
def test_endpoint_rotation_in_single_signature_dialects_applies_at_once(
    client: TestClient, db: Database, merchant: NewMerchant, dialect: str
) -> None:
    """Dialects with one signature have no grace: right after rotation only the new secret verifies."""
    key = merchant.test_api_key
    with Receiver() as receiver:
        endpoint = create_endpoint(client, key, receiver.url, dialect=dialect)
        rotated = success(client.post(f"{ENDPOINTS}/{endpoint['id']}/rotate-secret", headers=auth(key)))["endpoint"]
        assert rotated["previous_secret_expires_at"] is None
        success(client.post(f"{ENDPOINTS}/{endpoint['id']}/test", headers=auth(key)))
        [request] = receiver.requests
        verifier = dialects.get(dialect)
        verifier.verify(request.body, request.headers, [rotated["secret"]])
        with pytest.raises(InvalidSignature):
            verifier.verify(request.body, request.headers, [endpoint["secret"]])


# --- events ---------------------------------------------------------------------------------


def test_events_newest_first_filtered_by_type_and_kept_per_mode(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    """GET /v1/events lists this mode's events newest first; type= filters; the live key, and
    another merchant, see only their own."""
    key = merchant.test_api_key
    first = create_payment(client, key)
    second = create_payment(client, key, amount=60000)
    cancel_payment(client, key, first)
    live = create_payment(client, merchant.live_api_key, amount=70000)
    create_payment(client, other_merchant.test_api_key)

    events = list_events(client, key)
    assert [(e["type"], e["data"]["invoice_id"]) for e in events] == [
        ("payment.cancelled", first),
        ("payment.created", second),
        ("payment.created", first),
    ]
    assert all(e["id"].startswith("evt_") for e in events)
    assert len({e["id"] for e in events}) == 3
    assert [e["data"]["invoice_id"] for e in list_events(client, key, type="payment.created")] == [second, first]
    assert [e["data"]["invoice_id"] for e in list_events(client, key, type="payment.cancelled")] == [first]
    assert list_events(client, key, type="payment.paid") == []
    assert [e["data"]["invoice_id"] for e in list_events(client, merchant.live_api_key)] == [live]
    assert [e["data"]["invoice_id"] for e in list_events(client, key, limit=1)] == [first]
    assert len(list_events(client, key, limit=100)) == 3


def test_events_since_accepts_iso_and_unix_seconds(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """since= takes an ISO 8601 time (Z or offset) or unix seconds and keeps events from then on."""
    key = merchant.test_api_key
    early = create_payment(client, key)
    time.sleep(0.05)
    middle = datetime.now(UTC)
    time.sleep(1.2)
    late = create_payment(client, key, amount=60000)

    def invoices(since: str) -> list[str]:
        return [e["data"]["invoice_id"] for e in list_events(client, key, since=since)]

    assert invoices(middle.isoformat().replace("+00:00", "Z")) == [late]
    assert invoices(middle.isoformat()) == [late]
    assert invoices(middle.astimezone(timezone(timedelta(hours=7))).isoformat()) == [late]
    assert invoices(str(int(middle.timestamp()) + 1)) == [late]
    assert invoices(str(int(middle.timestamp()) - 60)) == [late, early]
    assert invoices((middle + timedelta(hours=1)).isoformat()) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"limit": 0}, "limit", id="limit-0"),
        pytest.param({"limit": 101}, "limit", id="limit-101"),
        pytest.param({"limit": -1}, "limit", id="limit-negative"),
        pytest.param({"limit": "ten"}, "limit", id="limit-text"),
        pytest.param({"type": "payment.refunded"}, "type", id="unknown-type"),
        pytest.param({"since": "yesterday"}, "since", id="since-text"),
        pytest.param({"since": "2026-13-45"}, "since", id="since-bad-date"),
    ],
)
def test_events_refuse_bad_parameters(
    client: TestClient, db: Database, merchant: NewMerchant, params: dict[str, Any], field: str
) -> None:
    """Out-of-bounds limit, an unknown type or an unreadable since answer 400 naming the parameter."""
    create_payment(client, merchant.test_api_key)
    assert_error(client.get(EVENTS, headers=auth(merchant.test_api_key), params=params), 400, None, field)


# --- deliveries -----------------------------------------------------------------------------


def test_deliveries_filter_by_endpoint_and_status(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    """GET /v1/deliveries filters by endpoint_id and status (and both); other modes and merchants
    see none of them."""
    key = merchant.test_api_key
    first = create_endpoint(client, key, "https://shop.example/one", dialect="standard")
    second = create_endpoint(client, key, "https://shop.example/two", dialect="digiflazz")
    create_payment(client, key)
    both = list_deliveries(client, key)
    assert {d["endpoint_id"] for d in both} == {first["id"], second["id"]}
    assert all(d["status"] == "pending" and d["attempts"] == 0 for d in both)
    assert all(d["event_type"] == "payment.created" and d["event_id"].startswith("evt_") for d in both)
    assert all(d["id"].startswith("dlv_") and d["next_attempt_at"] is not None for d in both)
    [only_first] = list_deliveries(client, key, endpoint_id=first["id"])
    assert only_first["url"] == "https://shop.example/one"
    assert only_first["dialect"] == "standard"
    assert list_deliveries(client, key, status="succeeded") == []
    assert len(list_deliveries(client, key, status="pending")) == 2

    success(client.patch(f"{ENDPOINTS}/{second['id']}", headers=auth(key), json={"enabled": False}))
    [failed] = list_deliveries(client, key, status="failed")
    assert failed["endpoint_id"] == second["id"]
    [pending] = list_deliveries(client, key, status="pending")
    assert pending["endpoint_id"] == first["id"]
    assert list_deliveries(client, key, endpoint_id=second["id"], status="pending") == []
    assert [d["id"] for d in list_deliveries(client, key, endpoint_id=second["id"], status="failed")] == [failed["id"]]
    assert list_deliveries(client, merchant.live_api_key) == []
    assert list_deliveries(client, other_merchant.test_api_key) == []


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        pytest.param({"status": "done"}, 400, None, "status", id="bad-status"),
        pytest.param({"status": "PENDING"}, 400, None, "status", id="status-case"),
        pytest.param({"limit": 0}, 400, None, "limit", id="limit-0"),
        pytest.param({"limit": 101}, 400, None, "limit", id="limit-101"),
        pytest.param({"endpoint_id": "ep_doesnotexist"}, 404, "endpoint_not_found", None, id="unknown-endpoint"),
    ],
)
def test_deliveries_refuse_bad_filters(
    client: TestClient,
    db: Database,
    merchant: NewMerchant,
    params: dict[str, Any],
    status: int,
    code: str | None,
    field: str | None,
) -> None:
    """A bad status or limit answers 400 naming it; an unknown endpoint_id answers 404."""
    assert_error(client.get(DELIVERIES, headers=auth(merchant.test_api_key), params=params), status, code, field)


MASKED_SIGNATURES = [
    pytest.param("bayargg", "X-Webhook-Signature", "***", id="bayargg"),
    pytest.param("standard", "webhook-signature", "v1,***", id="standard"),
    pytest.param("digiflazz", "X-Hub-Signature", "sha1=***", id="digiflazz"),
    pytest.param("ilenpay", "X-Ilen-Signature", "key=***", id="ilenpay"),
    pytest.param("isikuota", "X-Signature", "***", id="isikuota"),
    pytest.param("xendit", "x-callback-token", "***", id="xendit"),
]


@pytest.mark.parametrize(("dialect", "signature_header", "shown"), MASKED_SIGNATURES)
def test_attempt_log_masks_signatures_and_keeps_the_first_4_kib_of_the_answer(
    client: TestClient,
    db: Database,
    settings: Settings,
    merchant: NewMerchant,
    start_worker: StartWorker,
    dialect: str,
    signature_header: str,
    shown: str,
) -> None:
    """GET /v1/deliveries/{id}/attempts shows each try with its masked signature header, status,
    duration and the first 4096 characters of a 10 KiB answer; the real signature never appears."""
    key = merchant.test_api_key
    answer = (b"0123456789abcdef" * 640)[:10240]
    with Receiver(lambda _n, _r: Reply(status=200, body=answer)) as receiver:
        endpoint = create_endpoint(client, key, receiver.url, dialect=dialect, event_types=["payment.cancelled"])
        start_worker(settings)
        invoice = create_payment(client, key)
        cancel_payment(client, key, invoice)
        [request] = receiver.wait_for(1, timeout=30)
        wait_until(lambda: list_deliveries(client, key)[0]["status"] == "succeeded", what="delivery recorded")
        [delivery] = list_deliveries(client, key)
        assert delivery["attempts"] == 1
        assert delivery["last_status_code"] == 200
        response = client.get(f"{DELIVERIES}/{delivery['id']}/attempts", headers=auth(key))
        [attempt] = success(response)["data"]
        assert attempt["attempt"] == 1
        assert attempt["status_code"] == 200
        assert attempt["outcome"] == "succeeded"
        assert attempt["error"] is None
        assert attempt["url"] == receiver.url
        assert isinstance(attempt["duration_ms"], int)
        assert attempt["duration_ms"] >= 0
        assert attempt["started_at"]
        assert len(attempt["response_body"]) == 4096
        assert attempt["response_body"] == answer[:4096].decode()
        assert header(attempt["request_headers"], signature_header) == shown
        assert header(attempt["request_headers"], "Content-Type") == "application/json"
        real_signature = re.sub(r"^(v1,|sha1=|key=)", "", header(request.headers, signature_header))
        assert len(real_signature) >= 16
        assert real_signature not in response.text
        assert endpoint["secret"] not in response.text
        if dialect == "bayargg":  # its second signature, over the raw body, is masked as well
            body_signature = header(request.headers, "X-Kasir-Body-Signature").removeprefix("sha256=")
            assert len(body_signature) == 64
            assert body_signature not in response.text
            assert header(attempt["request_headers"], "X-Kasir-Body-Signature") == "sha256=***"


def test_attempt_log_masks_a_custom_authorization_header(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    """A custom Authorization header (Basic credentials the receiver checks) is sent as set, and the
    attempt log keeps only its scheme, never the credentials."""
    key = merchant.test_api_key
    credentials = base64.b64encode(b"shop:s3cret").decode()  # ends in "=" padding
    assert credentials.endswith("=")
    with Receiver() as receiver:
        create_endpoint(
            client,
            key,
            receiver.url,
            dialect="bayargg",
            event_types=["payment.created"],
            headers={"Authorization": f"Basic {credentials}"},
        )
        start_worker(settings)
        create_payment(client, key)
        [request] = receiver.wait_for(1, timeout=30)
        assert header(request.headers, "Authorization") == f"Basic {credentials}"
        wait_until(lambda: list_deliveries(client, key)[0]["status"] == "succeeded", what="delivery recorded")
        [delivery] = list_deliveries(client, key)
        response = client.get(f"{DELIVERIES}/{delivery['id']}/attempts", headers=auth(key))
        [attempt] = success(response)["data"]
        logged = header(attempt["request_headers"], "Authorization")
        assert credentials.rstrip("=") not in logged, logged
        assert credentials.rstrip("=") not in response.text


def test_attempts_of_an_unknown_or_foreign_delivery_are_404(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    """Attempts and redeliver answer 404 delivery_not_found for an unknown id, another merchant's
    delivery, or a test delivery asked for with the live key."""
    create_endpoint(client, other_merchant.test_api_key, NOWHERE)
    create_payment(client, other_merchant.test_api_key)
    [theirs] = list_deliveries(client, other_merchant.test_api_key)
    create_endpoint(client, merchant.test_api_key, NOWHERE)
    create_payment(client, merchant.test_api_key)
    [mine] = list_deliveries(client, merchant.test_api_key)
    cases = [
        (merchant.test_api_key, "dlv_doesnotexist"),
        (merchant.test_api_key, theirs["id"]),
        (merchant.live_api_key, mine["id"]),
    ]
    for key, delivery_id in cases:
        with writes_nothing(db):
            attempts = client.get(f"{DELIVERIES}/{delivery_id}/attempts", headers=auth(key))
            redeliver = client.post(f"{DELIVERIES}/{delivery_id}/redeliver", headers=auth(key))
        assert_error(attempts, 404, "delivery_not_found")
        assert_error(redeliver, 404, "delivery_not_found")


# --- redelivery and recovery ----------------------------------------------------------------


def test_redeliver_creates_a_new_delivery_that_the_worker_sends(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    """POST /v1/deliveries/{id}/redeliver on a delivered event answers 202 with a new pending
    delivery; the receiver gets the same event id again; the old delivery and its log stay."""
    key = merchant.test_api_key
    with Receiver() as receiver:
        endpoint = create_endpoint(client, key, receiver.url, dialect="standard", event_types=["payment.created"])
        start_worker(settings)
        create_payment(client, key)
        receiver.wait_for(1, timeout=30)
        wait_until(lambda: list_deliveries(client, key)[0]["status"] == "succeeded", what="first delivery")
        [original] = list_deliveries(client, key)

        response = client.post(f"{DELIVERIES}/{original['id']}/redeliver", headers=auth(key))
        assert response.status_code == 202, response.text
        again = response.json()["delivery"]
        assert again["id"] != original["id"]
        assert again["status"] == "pending"
        assert again["url"] == receiver.url

        first, second = receiver.wait_for(2, timeout=30)
        assert header(first.headers, "webhook-id") == header(second.headers, "webhook-id") == original["event_id"]
        for request in (first, second):
            dialects.get("standard").verify(request.body, request.headers, [endpoint["secret"]])
        wait_until(
            lambda: all(d["status"] == "succeeded" for d in list_deliveries(client, key)), what="redelivery recorded"
        )
        listed = list_deliveries(client, key)
        assert [d["id"] for d in listed] == [again["id"], original["id"]]
        assert {d["event_id"] for d in listed} == {original["event_id"]}
        old_attempts = success(client.get(f"{DELIVERIES}/{original['id']}/attempts", headers=auth(key)))["data"]
        assert len(old_attempts) == 1
        assert len(receiver.requests) == 2


def test_redeliver_of_a_delivery_still_retrying_sends_it_now(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    """The receiver failed once and the next try is five minutes away; the merchant fixes it and
    asks for a redelivery: the same delivery is sent at once (202, same id), not refused."""
    key = merchant.test_api_key
    with Receiver(lambda n, _r: Reply(status=500, body=b"broken") if n == 1 else Reply()) as receiver:
        create_endpoint(client, key, receiver.url, dialect="standard", event_types=["payment.created"])
        start_worker(settings.model_copy(update={"delivery_retry_schedule": [300]}))
        create_payment(client, key)
        receiver.wait_for(1, timeout=30)
        wait_until(lambda: list_deliveries(client, key)[0]["attempts"] == 1, what="the failed first try")
        [retrying] = list_deliveries(client, key)
        assert retrying["status"] == "pending"

        started = time.monotonic()
        response = client.post(f"{DELIVERIES}/{retrying['id']}/redeliver", headers=auth(key))
        assert response.status_code == 202, response.text
        assert response.json()["delivery"]["id"] == retrying["id"]
        receiver.wait_for(2, timeout=30)
        assert time.monotonic() - started < 30  # not the five minutes of the schedule
        wait_until(lambda: list_deliveries(client, key)[0]["status"] == "succeeded", what="the redelivery recorded")
        [delivered] = list_deliveries(client, key)
        assert delivered["id"] == retrying["id"]
        assert delivered["attempts"] == 2


def test_redeliver_refuses_a_disabled_endpoint(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Redeliver answers 409 endpoint_disabled once its endpoint is disabled, writing nothing;
    after enabling, 202."""
    key = merchant.test_api_key
    endpoint = create_endpoint(client, key, NOWHERE)
    create_payment(client, key)
    [pending] = list_deliveries(client, key)

    success(client.patch(f"{ENDPOINTS}/{endpoint['id']}", headers=auth(key), json={"enabled": False}))
    with writes_nothing(db):
        response = client.post(f"{DELIVERIES}/{pending['id']}/redeliver", headers=auth(key))
    assert_error(response, 409, "endpoint_disabled")

    success(client.patch(f"{ENDPOINTS}/{endpoint['id']}", headers=auth(key), json={"enabled": True}))
    response = client.post(f"{DELIVERIES}/{pending['id']}/redeliver", headers=auth(key))
    assert response.status_code == 202, response.text
    assert len(list_deliveries(client, key)) == 2


def test_recover_resends_only_what_failed_since_the_given_time(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    """POST /v1/endpoints/{id}/recover {"since"} sends once more each event whose delivery failed
    since then (not earlier failures, not successes); a second recover finds nothing left."""
    key = merchant.test_api_key
    state = {"failing": True}

    def script(_n: int, _r: Any) -> Reply:
        return Reply(status=500, body=b"broken") if state["failing"] else Reply()

    with Receiver(script) as receiver:
        endpoint = create_endpoint(client, key, receiver.url, dialect="standard", event_types=["payment.created"])
        start_worker(settings.model_copy(update={"delivery_retry_schedule": [1]}))

        def failed_count() -> int:
            return len(list_deliveries(client, key, status="failed"))

        before = create_payment(client, key, amount=10000)
        wait_until(lambda: failed_count() == 1, what="first failure")
        time.sleep(0.05)
        since = datetime.now(UTC)
        time.sleep(0.05)
        failed_a = create_payment(client, key, amount=20000)
        failed_b = create_payment(client, key, amount=30000)
        wait_until(lambda: failed_count() == 3, what="three failures")

        # The attempt log of a failure: two tries, 500, the body, an error saying why.
        newest_failed = list_deliveries(client, key, status="failed")[0]
        tries = success(client.get(f"{DELIVERIES}/{newest_failed['id']}/attempts", headers=auth(key)))["data"]
        assert [t["outcome"] for t in tries] == ["retrying", "failed"]
        assert [t["status_code"] for t in tries] == [500, 500]
        assert all(t["response_body"] == "broken" and "500" in t["error"] for t in tries)

        state["failing"] = False
        fine = create_payment(client, key, amount=40000)
        wait_until(lambda: len(list_deliveries(client, key, status="succeeded")) == 1, what="a success")
        counts_before = len(receiver.requests)

        body = success(
            client.post(
                f"{ENDPOINTS}/{endpoint['id']}/recover",
                headers=auth(key),
                json={"since": since.isoformat().replace("+00:00", "Z")},
            )
        )
        assert body["recovered"] == 2
        receiver.wait_for(counts_before + 2, timeout=30)
        wait_until(lambda: len(list_deliveries(client, key, status="succeeded")) == 3, what="recovered deliveries")
        time.sleep(0.5)
        per_invoice: dict[str, int] = {}
        for request in receiver.requests:
            invoice = delivered_invoice(request.body)
            per_invoice[invoice] = per_invoice.get(invoice, 0) + 1
        assert per_invoice == {before: 2, failed_a: 3, failed_b: 3, fine: 1}

        # Everything failed since then is delivered now: nothing to recover, also by unix time.
        again = success(
            client.post(
                f"{ENDPOINTS}/{endpoint['id']}/recover",
                headers=auth(key),
                json={"since": str(int(since.timestamp()) + 1)},
            )
        )
        assert again["recovered"] == 0
        # An earlier since reaches the first failure too.
        seen = len(receiver.requests)
        earlier = success(client.post(f"{ENDPOINTS}/{endpoint['id']}/recover", headers=auth(key), json={"since": "0"}))
        assert earlier["recovered"] == 1
        receiver.wait_for(seen + 1, timeout=30)


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        pytest.param({}, 400, "missing_parameter", "since", id="missing-since"),
        pytest.param({"since": "last week"}, 400, None, "since", id="bad-since"),
        pytest.param({"since": "0", "all": True}, 400, None, "all", id="unknown-field"),
    ],
)
def test_recover_refuses_bad_bodies(
    client: TestClient,
    db: Database,
    merchant: NewMerchant,
    body: dict[str, Any],
    status: int,
    code: str | None,
    field: str,
) -> None:
    """Recover without a readable since, or with an unknown field, answers 400 and writes nothing."""
    endpoint = create_endpoint(client, merchant.test_api_key, NOWHERE)
    with writes_nothing(db):
        response = client.post(f"{ENDPOINTS}/{endpoint['id']}/recover", headers=auth(merchant.test_api_key), json=body)
    assert_error(response, status, code, field)


def test_recover_refuses_a_disabled_endpoint(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Recover on a disabled endpoint answers 409 endpoint_disabled and re-queues nothing."""
    key = merchant.test_api_key
    endpoint = create_endpoint(client, key, NOWHERE)
    create_payment(client, key)
    success(client.patch(f"{ENDPOINTS}/{endpoint['id']}", headers=auth(key), json={"enabled": False}))
    with writes_nothing(db):
        response = client.post(f"{ENDPOINTS}/{endpoint['id']}/recover", headers=auth(key), json={"since": "0"})
    assert_error(response, 409, "endpoint_disabled")


# --- Xendit: POST /callback_urls (seed 003) --------------------------------------------------


def basic(key: str) -> dict[str, str]:
    """curl's CURLOPT_USERPWD "$apiKey:" as seed 003 sets it."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_xendit_callback_urls_sets_one_endpoint_and_deliveries_carry_the_token(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    """POST /callback_urls with the key as Basic-auth user answers Xendit's shape; calling it again
    updates the same single endpoint; deliveries carry x-callback-token == callback_token and verify
    with the xendit dialect."""
    key = merchant.test_api_key
    with Receiver() as old, Receiver() as new:
        first = client.post("/callback_urls", auth=(key, ""), json={"url": old.url})
        assert first.status_code == 200, first.text
        answer = first.json()
        assert set(answer) == {"status", "user_id", "url", "environment", "callback_token"}
        assert answer["status"] == "SUCCESSFUL"
        assert answer["user_id"] == merchant.username
        assert answer["url"] == old.url
        assert answer["environment"] == "TEST"
        token = answer["callback_token"]
        assert isinstance(token, str)
        assert len(token) >= 16

        second = client.post(
            "/callback_urls",
            headers={**basic(key), "Content-Type": "application/json"},
            content=json.dumps({"url": new.url}),
        )
        assert second.status_code == 200, second.text
        assert second.json()["url"] == new.url
        assert second.json()["callback_token"] == token
        [endpoint] = success(client.get(ENDPOINTS, headers=auth(key)))["data"]
        assert endpoint["dialect"] == "xendit"
        assert endpoint["url"] == new.url
        assert endpoint["enabled"] is True
        assert token not in client.get(ENDPOINTS, headers=auth(key)).text

        start_worker(settings)
        invoice = create_payment(client, key)
        [request] = new.wait_for(1, timeout=30)
        assert header(request.headers, "x-callback-token") == token
        event = dialects.get("xendit").verify(request.body, request.headers, [token])
        assert event.type == "payment.created"
        assert event.data["invoice_id"] == invoice
        payload = json.loads(request.body)
        assert set(payload) >= {"event", "created", "business_id", "data"}
        with pytest.raises(InvalidSignature):
            dialects.get("xendit").verify(request.body, request.headers, [new_webhook_secret()])
        time.sleep(0.3)
        assert old.requests == []


def test_xendit_callback_urls_per_environment(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """The live key sets a LIVE endpoint of its own, with its own token; the test one is untouched."""
    test_answer = client.post("/callback_urls", auth=(merchant.test_api_key, ""), json={"url": URL}).json()
    live = client.post("/callback_urls", auth=(merchant.live_api_key, ""), json={"url": URL + "/live"})
    assert live.status_code == 200, live.text
    assert live.json()["environment"] == "LIVE"
    assert live.json()["callback_token"] != test_answer["callback_token"]
    [test_endpoint] = success(client.get(ENDPOINTS, headers=auth(merchant.test_api_key)))["data"]
    [live_endpoint] = success(client.get(ENDPOINTS, headers=auth(merchant.live_api_key)))["data"]
    assert test_endpoint["url"] == URL
    assert live_endpoint["url"] == URL + "/live"


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        pytest.param({"json": {"url": URL}}, 401, "missing_api_key", id="no-auth"),
        pytest.param(
            {"auth": ("ksr_test_" + "x" * 43, ""), "json": {"url": URL}}, 401, "invalid_api_key", id="bad-key"
        ),
        pytest.param({"auth": ("KEY", ""), "json": {}}, 400, "missing_parameter", id="missing-url"),
        pytest.param({"auth": ("KEY", ""), "json": {"url": "ftp://shop.example"}}, 400, None, id="bad-url"),
    ],
)
def test_xendit_callback_urls_refusals_write_nothing(
    client: TestClient,
    db: Database,
    merchant: NewMerchant,
    request_kwargs: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    """Without a valid key, or without a valid url, /callback_urls answers an error and writes nothing."""
    kwargs = dict(request_kwargs)
    if kwargs.get("auth") == ("KEY", ""):
        kwargs["auth"] = (merchant.test_api_key, "")
    with writes_nothing(db):
        response = client.post("/callback_urls", **kwargs)
    assert_error(response, status, code)


# --- /metrics -------------------------------------------------------------------------------


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.eE+-]+)$", text, re.MULTILINE)
    assert match, f"{name} not in metrics:\n{text}"
    return float(match.group(1))


def test_metrics_show_queue_depth_and_delivery_outcomes(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """/metrics is Prometheus text with attempt counters, the latency histogram and queue gauges;
    a due delivery shows as pending, due and aging; after the in-process worker delivers it, the
    counters and histogram grow and the queue is empty; a failure with a far retry stays pending
    but not due."""
    key = merchant.test_api_key
    succeeded = 'kasir_delivery_attempts_total{outcome="succeeded"}'
    retrying = 'kasir_delivery_attempts_total{outcome="retrying"}'
    inf_bucket = 'kasir_delivery_attempt_seconds_bucket{le="+Inf"}'
    with Receiver(lambda n, _r: Reply(status=200 if n == 1 else 500)) as receiver:
        create_endpoint(client, key, receiver.url, dialect="standard", event_types=["payment.created"])
        create_payment(client, key)
        time.sleep(0.3)
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        for name in (
            "kasir_delivery_attempts_total",
            "kasir_delivery_attempt_seconds_bucket",
            "kasir_deliveries_pending",
            "kasir_deliveries_due",
            "kasir_oldest_due_delivery_age_seconds",
        ):
            assert f"# TYPE {name.removesuffix('_bucket')} " in text, name
        assert metric(text, "kasir_deliveries_pending") == 1
        assert metric(text, "kasir_deliveries_due") == 1
        assert metric(text, "kasir_oldest_due_delivery_age_seconds") >= 0.2
        assert metric(text, succeeded) == 0
        assert metric(text, inf_bucket) == 0

        app = create_app(settings.model_copy(update={"delivery_retry_schedule": [3600]}), database=db)
        with TestClient(app) as background:

            def scraped() -> str:
                # starlette types TestClient over httpx2, which is not installed (it runs on httpx): its answers are Any to mypy
                metrics: httpx.Response = background.get("/metrics")
                return metrics.text

            receiver.wait_for(1, timeout=30)
            wait_until(lambda: metric(scraped(), succeeded) == 1, what="a counted success")
            wait_until(lambda: metric(scraped(), "kasir_deliveries_pending") == 0, what="an empty queue")
            text = scraped()
            assert metric(text, inf_bucket) == 1
            assert metric(text, "kasir_delivery_attempt_seconds_count") == 1
            assert metric(text, "kasir_delivery_attempt_seconds_sum") > 0
            assert metric(text, "kasir_deliveries_due") == 0
            assert metric(text, "kasir_oldest_due_delivery_age_seconds") == 0

            create_payment(background, key, amount=60000)
            receiver.wait_for(2, timeout=30)
            wait_until(lambda: metric(scraped(), retrying) == 1, what="a counted retry")
            wait_until(lambda: metric(scraped(), "kasir_deliveries_pending") == 1, what="a pending retry")
            text = scraped()
            assert metric(text, "kasir_deliveries_due") == 0  # its next try is an hour away
            assert metric(text, inf_bucket) == 2
            assert metric(text, succeeded) == 1

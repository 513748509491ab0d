"""The dashboard's webhooks area over HTTP: the default callback settings and their secret, the
endpoints (create, edit, disable and enable, delete with a confirmation, rotate, ping, the
callback tester), the callback log (filters, paging, a delivery's attempts with the request as
sent and the receiver's answer), resend and recover.

Each is checked against the API (what the dashboard saved, ``GET /v1/...`` sees), with the audit
line each manual action writes in its transaction, the 404 for another merchant's ids and for the
other mode's, and the CSRF refusal with nothing changed. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.app import create_app
from kasir.clock import WIB, utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import audit_log, endpoints, webhook_settings
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.conftest import auth, writes_nothing
from tests.dashboard_helpers import PASSWORD, csrf_of
from tests.receivers import Receiver, Reply
from tests.waiting import wait_until
from tests.workers import RunningWorker

BASE = "/dashboard/webhooks"
NOWHERE = "http://127.0.0.1:9/hook"


# --- helpers ----------------------------------------------------------------------------------


def make_owner(db: Database, merchant: NewMerchant, email: str) -> None:
    db.write_sync(lambda conn: users.create_user(conn, merchant.username, email, utcnow(), password=PASSWORD))


def sign_in(client: TestClient, email: str = "owner@toko.test") -> str:
    response = client.post("/dashboard/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get(BASE).text)


@pytest.fixture
def csrf(client: TestClient, db: Database, merchant: NewMerchant) -> str:
    """``client`` signed in as the merchant's owner; the CSRF token of its forms."""
    make_owner(db, merchant, "owner@toko.test")
    return sign_in(client)


def post(client: TestClient, path: str, csrf: str, **fields: Any) -> Any:
    return client.post(path, data={"csrf_token": csrf, **fields}, follow_redirects=False)


def api_endpoints(client: TestClient, merchant: NewMerchant) -> list[dict[str, Any]]:
    response = client.get("/v1/endpoints", headers=auth(merchant.test_api_key))
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def api_deliveries(client: TestClient, merchant: NewMerchant, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/deliveries", headers=auth(merchant.test_api_key), params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def create_payment(client: TestClient, merchant: NewMerchant, amount: int = 50000) -> str:
    response = client.post("/api/create-payment.php", headers=auth(merchant.test_api_key), json={"amount": amount})
    assert response.status_code == 200, response.text
    return str(response.json()["payment"]["invoice_id"])


def api_create_endpoint(client: TestClient, merchant: NewMerchant, url: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/endpoints", headers=auth(merchant.test_api_key), json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json()["endpoint"])


def audit_lines(db: Database) -> list[dict[str, Any]]:
    return db.read_sync(
        lambda conn: [dict(row) for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings()]
    )


def wib_local(moment: Any) -> str:
    """A time as a datetime-local field holds it, in WIB."""
    return str(moment.astimezone(WIB).strftime("%Y-%m-%dT%H:%M"))


# --- the settings ------------------------------------------------------------------------------


def test_the_page_shows_the_settings_a_hint_of_the_secret_and_the_endpoints(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    api_create_endpoint(client, merchant, "https://toko.example/hook", description="gudang")
    page = client.get(BASE)
    assert page.status_code == 200
    assert "<h1>Webhook</h1>" in page.text
    assert merchant.test_webhook_secret not in page.text
    assert merchant.test_webhook_secret[:8] + "***" in page.text
    assert "https://toko.example/hook" in page.text
    assert "gudang" in page.text
    assert "Content-Security-Policy" in page.headers
    assert 'style="' not in page.text
    assert "<script" not in page.text
    english = client.get(f"{BASE}?lang=en")
    assert "<h1>Webhooks</h1>" in english.text
    assert "Default callback URL" in english.text


def test_settings_are_saved_through_the_api_rules_and_audited(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    response = post(
        client,
        f"{BASE}/settings",
        csrf,
        default_callback_url="https://toko.example/callback.php",
        dialect="standard",
        **{"event:payment.paid": "on", "event:payment.expired": "on"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{BASE}?done=settings"
    seen = client.get("/v1/webhook-settings", headers=auth(merchant.test_api_key)).json()["settings"]
    assert seen["default_callback_url"] == "https://toko.example/callback.php"
    assert seen["dialect"] == "standard"
    assert seen["event_types"] == ["payment.expired", "payment.paid"]
    live = client.get("/v1/webhook-settings", headers=auth(merchant.live_api_key)).json()["settings"]
    assert live["default_callback_url"] is None  # the session's mode only
    page = client.get(f"{BASE}?done=settings")
    assert "Pengaturan webhook disimpan." in page.text
    assert 'value="https://toko.example/callback.php"' in page.text
    [line] = audit_lines(db)
    assert line["action"] == "webhook_settings.update"
    assert line["actor"] == "owner@toko.test"
    assert line["mode"] == "test"

    # An empty URL clears it, as the API's PUT does.
    assert post(client, f"{BASE}/settings", csrf, default_callback_url="", dialect="standard").status_code == 303
    seen = client.get("/v1/webhook-settings", headers=auth(merchant.test_api_key)).json()["settings"]
    assert seen["default_callback_url"] is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"default_callback_url": "ftp://toko.example/x"}, "http"),
        ({"default_callback_url": "https://toko.example/x", "dialect": "paypal"}, "dialect"),
    ],
)
def test_invalid_settings_are_shown_as_an_error_and_nothing_is_saved(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str, fields: dict[str, str], message: str
) -> None:
    with writes_nothing(db):
        response = post(client, f"{BASE}/settings", csrf, **fields)
    assert response.status_code in (400, 422)
    assert 'class="error"' in response.text
    assert message in response.text


def test_an_ssrf_refused_url_is_shown_as_an_error_and_nothing_is_saved(
    settings: Settings, db: Database, merchant: NewMerchant
) -> None:
    guarded = settings.model_copy(update={"webhook_allow_private_networks": False})
    make_owner(db, merchant, "owner@toko.test")
    with TestClient(create_app(guarded, database=db, background=False)) as client:
        csrf = sign_in(client)
        for url in ("http://169.254.169.254/latest/meta-data", "http://127.0.0.1:8080/hook", "http://10.0.0.7/cb"):
            with writes_nothing(db):
                response = post(client, f"{BASE}/settings", csrf, default_callback_url=url, dialect="bayargg")
                created = post(client, f"{BASE}/endpoints", csrf, url=url, dialect="bayargg")
            assert response.status_code == 422, response.text
            assert 'class="error"' in response.text
            assert "default_callback_url" in response.text
            assert f'value="{url}"' in response.text  # what was typed, to correct it
            assert created.status_code == 422
            assert 'class="error"' in created.text


def test_the_settings_secret_is_shown_once_on_rotation_with_its_grace_period(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    old = merchant.test_webhook_secret
    assert post(client, f"{BASE}/settings", csrf, default_callback_url="", dialect="standard").status_code == 303
    rotated = post(client, f"{BASE}/rotate-secret", csrf)
    assert rotated.status_code == 200
    assert rotated.headers["cache-control"] == "no-store"
    found = re.search(r"<pre class=\"wh-secret\" data-secret>([^<]+)</pre>", rotated.text)
    assert found
    secret = found.group(1)
    stored = db.read_sync(
        lambda conn: conn.execute(
            sa.select(webhook_settings.c.secret, webhook_settings.c.previous_secret).where(
                webhook_settings.c.merchant_id == merchant.id, webhook_settings.c.mode == "test"
            )
        ).one()
    )
    assert stored.secret == secret
    assert stored.previous_secret == old
    assert "data-grace" in rotated.text
    assert old not in rotated.text
    again = client.get(BASE)
    assert secret not in again.text  # never again
    assert secret[:8] + "***" in again.text
    assert "data-grace" in again.text  # the previous secret still verifies for a while
    assert [line["action"] for line in audit_lines(db)][-1] == "webhook_secret.rotate"
    assert all(secret not in json.dumps(line, default=str) for line in audit_lines(db))


# --- endpoints ---------------------------------------------------------------------------------


def test_endpoint_create_edit_disable_enable_delete_as_the_api_sees_them(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    form = client.get(f"{BASE}/endpoints/new")
    assert form.status_code == 200
    assert 'name="url"' in form.text
    created = post(
        client,
        f"{BASE}/endpoints",
        csrf,
        url="https://toko.example/hooks/kasir",
        description="server gudang",
        dialect="standard",
        rate_limit="5",
        fifo="on",
        headers="X-Shop: satu\nAuthorization: Bearer rahasia-toko",
        **{"event:payment.paid": "on", "event:order.*": "on"},
    )
    assert created.status_code == 201, created.text
    [endpoint] = api_endpoints(client, merchant)
    assert endpoint["url"] == "https://toko.example/hooks/kasir"
    assert endpoint["description"] == "server gudang"
    assert endpoint["dialect"] == "standard"
    assert endpoint["event_types"] == ["order.*", "payment.paid"]
    assert endpoint["rate_limit"] == 5
    assert endpoint["fifo"] is True
    assert endpoint["headers"] == {"X-Shop": "satu", "Authorization": "Bearer rahasia-toko"}
    assert endpoint["enabled"] is True
    secret = db.read_sync(
        lambda conn: conn.execute(sa.select(endpoints.c.secret).where(endpoints.c.public_id == endpoint["id"])).scalar()
    )
    assert f"data-secret>{secret}</pre>" in created.text  # shown once, at creation
    page_url = f"{BASE}/endpoints/{endpoint['id']}"
    page = client.get(page_url)
    assert secret not in page.text
    assert "server gudang" in page.text

    edited = post(
        client,
        page_url,
        csrf,
        url="https://toko.example/hooks/v2",
        description="",
        dialect="bayargg",
        rate_limit="",
        headers="",
    )
    assert edited.status_code == 303
    [endpoint] = api_endpoints(client, merchant)
    assert endpoint["url"] == "https://toko.example/hooks/v2"
    assert endpoint["description"] is None
    assert endpoint["dialect"] == "bayargg"
    assert endpoint["event_types"] is None  # nothing ticked: every event
    assert endpoint["rate_limit"] is None
    assert endpoint["fifo"] is False
    assert endpoint["headers"] == {}
    assert "Endpoint diubah." in client.get(edited.headers["location"]).text

    assert post(client, f"{page_url}/enabled", csrf, enabled="false").status_code == 303
    [endpoint] = api_endpoints(client, merchant)
    assert endpoint["enabled"] is False
    assert endpoint["disabled_reason"] == "disabled by the merchant"
    assert post(client, f"{page_url}/enabled", csrf, enabled="true").status_code == 303
    assert api_endpoints(client, merchant)[0]["enabled"] is True

    # Deleting takes the confirmation step: a POST without it changes nothing.
    with writes_nothing(db):
        skipped = post(client, f"{page_url}/delete", csrf)
    assert skipped.status_code == 303
    assert skipped.headers["location"] == f"{page_url}/delete"
    confirm = client.get(f"{page_url}/delete")
    assert "Ya, hapus" in confirm.text
    deleted = post(client, f"{page_url}/delete", csrf, confirm=endpoint["id"])
    assert deleted.status_code == 303
    assert deleted.headers["location"] == f"{BASE}?done=deleted"
    assert api_endpoints(client, merchant) == []
    assert client.get(page_url).status_code == 404

    actions = [(line["action"], line["subject"]) for line in audit_lines(db)]
    assert actions == [
        ("endpoint.create", endpoint["id"]),
        ("endpoint.update", endpoint["id"]),
        ("endpoint.disable", endpoint["id"]),
        ("endpoint.enable", endpoint["id"]),
        ("endpoint.delete", endpoint["id"]),
    ]
    assert all("rahasia-toko" not in (line["details"] or "") for line in audit_lines(db))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": ""}, "url"),
        ({"url": "notaurl"}, "url"),
        ({"url": "https://toko.example/h", "headers": "Content-Length: 5"}, "the HTTP client sets it"),
        ({"url": "https://toko.example/h", "headers": "no colon here"}, "Name: value"),
        ({"url": "https://toko.example/h", "headers": "X-Bad: caf\u00e9"}, "non-ASCII"),
        ({"url": "https://toko.example/h", "rate_limit": "0"}, "rate_limit"),
        ({"url": "https://toko.example/h", "event:payment.refunded": "on"}, "unknown event type"),
    ],
)
def test_invalid_endpoint_forms_are_refused_with_the_apis_message_and_write_nothing(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str, fields: dict[str, str], message: str
) -> None:
    with writes_nothing(db):
        response = post(client, f"{BASE}/endpoints", csrf, **fields)
    assert response.status_code in (400, 422), response.text
    assert 'class="error"' in response.text
    assert message in response.text
    endpoint = api_create_endpoint(client, merchant, "https://toko.example/ok")
    if fields["url"]:
        with writes_nothing(db):
            edited = post(client, f"{BASE}/endpoints/{endpoint['id']}", csrf, **fields)
        assert edited.status_code in (400, 422)
        assert message in edited.text
    assert api_endpoints(client, merchant)[0]["url"] == "https://toko.example/ok"


def test_the_endpoint_secret_is_shown_once_on_rotation(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    endpoint = api_create_endpoint(client, merchant, "https://toko.example/h", dialect="standard")
    rotated = post(client, f"{BASE}/endpoints/{endpoint['id']}/rotate-secret", csrf)
    assert rotated.status_code == 200
    found = re.search(r"data-secret>([^<]+)</pre>", rotated.text)
    assert found
    secret = found.group(1)
    assert secret != endpoint["secret"]
    assert "data-grace" in rotated.text  # standard: the old secret signs along for the grace period
    assert endpoint["secret"] not in rotated.text
    page = client.get(f"{BASE}/endpoints/{endpoint['id']}")
    assert secret not in page.text
    assert secret[:8] + "***" in page.text
    seen = client.get(f"/v1/endpoints/{endpoint['id']}", headers=auth(merchant.test_api_key)).json()["endpoint"]
    assert seen["secret_hint"] == secret[:8] + "***"
    assert seen["previous_secret_expires_at"] is not None
    assert audit_lines(db)[-1]["action"] == "endpoint.rotate_secret"


def test_ping_and_the_callback_tester_show_the_receivers_answer(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    def script(number: int, _received: Any) -> Reply:
        return (
            Reply(status=200, body=b'{"ok":true,"note":"diterima"}')
            if number == 1
            else Reply(status=503, body=b"sibuk")
        )

    with Receiver(script) as receiver:
        endpoint = api_create_endpoint(client, merchant, receiver.url, dialect="bayargg")
        tested = post(client, f"{BASE}/endpoints/{endpoint['id']}/test", csrf, event_type="payment.expired")
        assert tested.status_code == 200, tested.text
        [request] = receiver.wait_for(1)
        body = json.loads(request.body)
        assert body["event"] == "payment.expired"
        assert body["status"] == "expired"
        assert 'data-answer="ok"' in tested.text
        assert '<dd data-field="status">200' in tested.text
        assert "diterima" in tested.text
        assert " ms</dd>" in tested.text

        pinged = post(client, f"{BASE}/endpoints/{endpoint['id']}/ping", csrf)
        assert pinged.status_code == 200
        receiver.wait_for(2)
        assert 'data-answer="bad"' in pinged.text
        assert '<dd data-field="status">503' in pinged.text
        assert "sibuk" in pinged.text
        assert endpoint["secret"] not in tested.text + pinged.text

        refused = post(client, f"{BASE}/endpoints/{endpoint['id']}/test", csrf, event_type="payment.refunded")
        assert refused.status_code == 400
        assert "event_type must be one of" in refused.text
        assert len(receiver.requests) == 2


# --- the callback log --------------------------------------------------------------------------


def test_the_log_filters_by_status_endpoint_event_type_and_time_and_pages_through_all(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    first = api_create_endpoint(client, merchant, "http://127.0.0.1:9/first", event_types=["payment.created"])
    for amount in (10000, 11000, 12000):
        create_payment(client, merchant, amount)
    # Disabling fails its pending deliveries: three failed ones.
    assert post(client, f"{BASE}/endpoints/{first['id']}/enabled", csrf, enabled="false").status_code == 303
    second = api_create_endpoint(client, merchant, "http://127.0.0.1:9/second")
    invoice = create_payment(client, merchant, 13000)
    cancelled = client.post(f"/v1/payments/{invoice}/cancel", headers=auth(merchant.test_api_key))
    assert cancelled.status_code == 200, cancelled.text
    everything = api_deliveries(client, merchant)
    assert len(everything) == 5

    def shown(**params: str) -> list[str]:
        response = client.get(f"{BASE}/deliveries", params=params)
        assert response.status_code == 200, response.text
        return re.findall(r'<tr data-delivery="([^"]+)"', response.text)

    assert shown() == [d["id"] for d in everything]  # newest first, as the API lists them
    assert shown(status="failed") == [d["id"] for d in everything if d["status"] == "failed"]
    assert len(shown(status="failed")) == 3
    assert shown(status="pending") == [d["id"] for d in everything if d["status"] == "pending"]
    assert shown(endpoint=second["id"]) == [d["id"] for d in everything if d["endpoint_id"] == second["id"]]
    assert shown(event_type="payment.cancelled") == [everything[0]["id"]]
    now = utcnow()
    assert shown(since=wib_local(now - timedelta(hours=1))) == [d["id"] for d in everything]
    assert shown(since=wib_local(now + timedelta(hours=1))) == []
    assert shown(until=wib_local(now - timedelta(hours=1))) == []
    assert shown(status="failed", endpoint=second["id"]) == []
    for bad in ({"status": "lost"}, {"event_type": "payment.refunded"}, {"since": "kemarin"}):
        assert client.get(f"{BASE}/deliveries", params=bad).status_code == 400

    # Paging: 25 a page, through all of them and back.
    for amount in range(20000, 20025):
        create_payment(client, merchant, amount)
    every = [d["id"] for d in api_deliveries(client, merchant)]
    assert len(every) == 30
    page_one = client.get(f"{BASE}/deliveries")
    ids_one = re.findall(r'<tr data-delivery="([^"]+)"', page_one.text)
    assert ids_one == every[:25]
    assert 'data-page="newer"' not in page_one.text
    older = re.search(r'href="([^"]+)" data-page="older"', page_one.text)
    assert older
    page_two = client.get(older.group(1).replace("&amp;", "&"))
    assert re.findall(r'<tr data-delivery="([^"]+)"', page_two.text) == every[25:]
    assert 'data-page="older"' not in page_two.text
    newer = re.search(r'href="([^"]+)" data-page="newer"', page_two.text)
    assert newer
    back = client.get(newer.group(1).replace("&amp;", "&"))
    assert re.findall(r'<tr data-delivery="([^"]+)"', back.text) == every[:25]
    # Filters survive paging.
    filtered = client.get(f"{BASE}/deliveries", params={"status": "pending"})
    pending = [d["id"] for d in api_deliveries(client, merchant, status="pending")]
    assert re.findall(r'<tr data-delivery="([^"]+)"', filtered.text) == pending[:25]
    older = re.search(r'href="([^"]+)" data-page="older"', filtered.text)
    assert older
    assert "status=pending" in older.group(1)
    assert (
        re.findall(r'<tr data-delivery="([^"]+)"', client.get(older.group(1).replace("&amp;", "&")).text)
        == (pending[25:])
    )


def test_a_delivery_shows_each_attempt_masked_and_resend_makes_a_new_attempt_and_an_audit_line(
    client: TestClient,
    db: Database,
    settings: Settings,
    merchant: NewMerchant,
    csrf: str,
    start_worker: Callable[[Settings], RunningWorker],
) -> None:
    def script(number: int, _received: Any) -> Reply:
        return Reply(status=500, body=b'{"error":"database down"}') if number == 1 else Reply(body=b'{"ok":1}')

    fast = settings.model_copy(update={"delivery_retry_schedule": [3600]})
    with Receiver(script) as receiver:
        endpoint = api_create_endpoint(
            client,
            merchant,
            receiver.url,
            dialect="bayargg",
            event_types=["payment.created"],
            headers={"Authorization": "Bearer kredensial-toko-rahasia"},
        )
        start_worker(fast)
        invoice = create_payment(client, merchant)
        [sent] = receiver.wait_for(1, timeout=30)
        wait_until(lambda: api_deliveries(client, merchant)[0]["attempts"] == 1, what="the first attempt recorded")
        [delivery] = api_deliveries(client, merchant)
        assert delivery["status"] == "pending"  # retrying, an hour from now

        page = client.get(f"{BASE}/deliveries/{delivery['id']}")
        assert page.status_code == 200
        assert 'data-attempt="1"' in page.text
        assert 'data-outcome="retrying"' in page.text
        assert '<dd data-field="status">500</dd>' in page.text
        assert "database down" in page.text
        assert f"POST {receiver.url}" in page.text
        signature = sent.headers["X-Webhook-Signature"]
        assert len(signature) == 64
        assert signature not in page.text
        assert '<td data-header="x-webhook-signature"><code>***</code>' in page.text
        assert '<td data-header="authorization"><code>Bearer ***</code>' in page.text
        assert "kredensial-toko-rahasia" not in page.text
        assert endpoint["secret"] not in page.text
        body_signature = sent.headers["X-Kasir-Body-Signature"].removeprefix("sha256=")
        assert body_signature not in page.text
        # The body as sent, its signature masked.
        body = re.search(r'<pre class="wh-pre" data-field="request-body">([^<]+)</pre>', page.text)
        assert body
        shown_body = json.loads(html.unescape(body.group(1)))
        sent_body = json.loads(sent.body)
        assert shown_body == {**sent_body, "signature": "***"}
        assert shown_body["invoice_id"] == invoice

        resent = post(client, f"{BASE}/deliveries/{delivery['id']}/resend", csrf)
        assert resent.status_code == 303
        receiver.wait_for(2, timeout=30)
        wait_until(lambda: api_deliveries(client, merchant)[0]["status"] == "succeeded", what="the resend delivered")
        [after] = api_deliveries(client, merchant)
        assert after["id"] == delivery["id"]  # still retrying: the same delivery, tried now
        assert after["attempts"] == 2
        page = client.get(resent.headers["location"])
        assert 'data-attempt="2"' in page.text
        assert 'data-outcome="succeeded"' in page.text
        assert "Callback dijadwalkan untuk dikirim ulang" in page.text
        [line] = [line for line in audit_lines(db) if line["action"] == "delivery.resend"]
        assert line["subject"] == delivery["id"]
        assert line["payment_id"] is not None

        # A delivery that is over: resend makes a new delivery, the old one stays as it was.
        again = post(client, f"{BASE}/deliveries/{after['id']}/resend", csrf)
        assert again.status_code == 303
        receiver.wait_for(3, timeout=30)
        wait_until(lambda: len(api_deliveries(client, merchant)) == 2, what="a new delivery")
        wait_until(
            lambda: all(d["status"] == "succeeded" for d in api_deliveries(client, merchant)), what="it delivered"
        )
        newest = api_deliveries(client, merchant)[0]
        assert again.headers["location"].startswith(f"{BASE}/deliveries/{newest['id']}")
        assert [line["action"] for line in audit_lines(db)].count("delivery.resend") == 2


def test_recover_sends_again_what_failed_since_a_time_and_is_audited(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    endpoint = api_create_endpoint(client, merchant, NOWHERE, event_types=["payment.created"])
    create_payment(client, merchant, 10000)
    create_payment(client, merchant, 11000)
    page_url = f"{BASE}/endpoints/{endpoint['id']}"
    assert post(client, f"{page_url}/enabled", csrf, enabled="false").status_code == 303
    refused = post(client, f"{page_url}/recover", csrf, since=wib_local(utcnow() - timedelta(hours=1)))
    assert refused.status_code == 409  # as the API: enable it first
    assert post(client, f"{page_url}/enabled", csrf, enabled="true").status_code == 303
    with writes_nothing(db):
        assert post(client, f"{page_url}/recover", csrf, since="").status_code == 400
    response = post(client, f"{page_url}/recover", csrf, since=wib_local(utcnow() - timedelta(hours=1)))
    assert response.status_code == 303
    assert response.headers["location"] == f"{page_url}?done=recovered&n=2"
    assert "2 event dijadwalkan" in client.get(response.headers["location"]).text
    statuses = sorted(d["status"] for d in api_deliveries(client, merchant))
    assert statuses == ["failed", "failed", "pending", "pending"]
    line = audit_lines(db)[-1]
    assert line["action"] == "endpoint.recover"
    assert json.loads(line["details"])["count"] == 2


# --- whose ids, and CSRF ------------------------------------------------------------------------


def routes_of(endpoint_id: str, delivery_id: str) -> list[tuple[str, str, dict[str, str]]]:
    e, d = f"{BASE}/endpoints/{endpoint_id}", f"{BASE}/deliveries/{delivery_id}"
    return [
        ("GET", e, {}),
        ("GET", f"{e}/delete", {}),
        ("POST", e, {"url": "https://mine.example/now"}),
        ("POST", f"{e}/enabled", {"enabled": "false"}),
        ("POST", f"{e}/rotate-secret", {}),
        ("POST", f"{e}/ping", {}),
        ("POST", f"{e}/test", {"event_type": "payment.paid"}),
        ("POST", f"{e}/recover", {"since": "2020-01-01T00:00"}),
        ("POST", f"{e}/delete", {"confirm": endpoint_id}),
        ("GET", f"{BASE}/deliveries?endpoint={endpoint_id}", {}),
        ("GET", d, {}),
        ("GET", f"{BASE}/deliveries?before={delivery_id}", {}),
        ("POST", f"{d}/resend", {}),
    ]


def test_another_merchants_ids_and_the_other_modes_are_404_on_every_page_and_action(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant, csrf: str
) -> None:
    theirs = api_create_endpoint(client, other_merchant, NOWHERE)
    create_payment(client, other_merchant)
    [their_delivery] = api_deliveries(client, other_merchant)
    mine = api_create_endpoint(client, merchant, NOWHERE)
    create_payment(client, merchant)
    [my_delivery] = api_deliveries(client, merchant)

    def check_all(endpoint_id: str, delivery_id: str, token: str) -> None:
        for method, path, fields in routes_of(endpoint_id, delivery_id):
            with writes_nothing(db):
                response = client.get(path) if method == "GET" else post(client, path, token, **fields)
            assert response.status_code == 404, (method, path, response.status_code)
            assert "text/html" in response.headers["content-type"]
            assert "Tidak ditemukan" in response.text or "not found" in response.text

    check_all(theirs["id"], their_delivery["id"], csrf)
    check_all("ep_doesnotexist", "dlv_doesnotexist", csrf)
    # In live mode the test mode's own ids are not there either.
    assert post(client, "/dashboard/mode", csrf, mode="live").status_code == 303
    check_all(mine["id"], my_delivery["id"], csrf)
    assert mine["id"] not in client.get(BASE).text  # the live list is empty


def test_every_action_without_this_sessions_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    endpoint = api_create_endpoint(client, merchant, NOWHERE)
    create_payment(client, merchant)
    [delivery] = api_deliveries(client, merchant)
    posts = [
        (f"{BASE}/settings", {"default_callback_url": "https://evil.example/", "dialect": "bayargg"}),
        (f"{BASE}/rotate-secret", {}),
        (f"{BASE}/endpoints", {"url": "https://evil.example/"}),
    ] + [(path, fields) for method, path, fields in routes_of(endpoint["id"], delivery["id"]) if method == "POST"]
    for path, fields in posts:
        # The last one is this session's token with its last character changed: never the token
        # itself, as a fixed ending would be once in a while.
        for token in (None, "not-the-token", csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
            data = fields if token is None else {"csrf_token": token, **fields}
            with writes_nothing(db):
                response = client.post(path, data=data, follow_redirects=False)
            assert response.status_code == 403, (path, token, response.status_code)
            assert "Formulir ini sudah kedaluwarsa" in response.text


def test_without_a_session_pages_redirect_to_the_sign_in_and_posts_are_refused(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    for path in (BASE, f"{BASE}/deliveries", f"{BASE}/endpoints/new"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/dashboard/login?next=")
    with writes_nothing(db):
        assert client.post(f"{BASE}/rotate-secret", follow_redirects=False).status_code == 403

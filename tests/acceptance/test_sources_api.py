"""Payment sources over HTTP: a merchant creates a phone source, the phone reports the apps'
notifications, and a buyer who paid the exact amount is confirmed, exactly once.

Covered: the management API (token shown once and stored hashed, scoping to merchant and mode,
rotation), the ingest with its per-item outcomes (matched, unmatched, ignored, duplicate,
unparsed, invalid), every refusal leaving the database as it was (a wrong token, signature or id
alike, a body over the limit), the review of unparsed notifications (re-parse, assign by hand),
and the bodies of the forwarders shops already run, posted as those apps send them: QRIS Hook's
webhook, the automation template MacroDroid fills in raw, Moota's signed mutation array. Every
test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.db.engine import Database
from kasir.db.tables import events, payments, source_notifications
from kasir.merchants.service import NewMerchant
from kasir.sources import notifications as notifications_module
from kasir.sources.parsers import Incoming, Notification, Result, parse
from tests.conftest import assert_error, auth, writes_nothing

SOURCES = "/v1/sources"
GOPAY_MERCHANT = "com.gojek.gopaymerchant"
BRIMO = "id.co.bri.brimo"
APPS = {GOPAY_MERCHANT: "gopay_qris", BRIMO: "qris_user"}


# --- helpers --------------------------------------------------------------------------------


def dotted(amount: int) -> str:
    """Rupiah as the apps print them (written here, not imported: tests do not share the code)."""
    return f"{amount:,}".replace(",", ".")


def now_ms() -> int:
    return int(time.time() * 1000)


def create_source(client: TestClient, key: str, apps: dict[str, str] | None = None, name: str = "HP kasir") -> Any:
    response = client.post(SOURCES, headers=auth(key), json={"name": name, "apps": apps or APPS})
    assert response.status_code == 200, response.text
    return response.json()["source"]


def post_notifications(client: TestClient, source: dict[str, Any], body: Any, *, sign: bool = False) -> Any:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if sign:
        headers["X-Kasir-Signature"] = "sha256=" + hmac.new(source["token"].encode(), raw, hashlib.sha256).hexdigest()
    else:
        headers["Authorization"] = f"Bearer {source['token']}"
    return client.post(f"{SOURCES}/{source['id']}/notifications", content=raw, headers=headers)


def report(client: TestClient, source: dict[str, Any], body: Any, **kwargs: Any) -> list[dict[str, Any]]:
    response = post_notifications(client, source, body, **kwargs)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["success"] is True
    return list(answer["results"])


def create_payment(client: TestClient, key: str, method: str = "gopay_qris", amount: int = 18000) -> dict[str, Any]:
    response = client.post(
        "/api/create-payment.php", headers=auth(key), json={"amount": amount, "payment_method": method}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def gopay_paid(amount: int, posted_at: int | None = None) -> dict[str, Any]:
    return {
        "package": GOPAY_MERCHANT,
        "title": "Pembayaran QRIS statis diterima",
        "text": f"Rp {dotted(amount)} di JAJAN.AI DIY YOGYAKARTA, Digital & Kreatif.",
        "posted_at": posted_at or now_ms(),
    }


def payment_row(db: Database, invoice: str) -> dict[str, Any]:
    return dict(
        db.read_sync(
            lambda conn: conn.execute(sa.select(payments).where(payments.c.invoice_id == invoice)).mappings().one()
        )
    )


def paid_events(db: Database, invoice: str) -> int:
    def count(conn: sa.Connection) -> int:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(events)
                .join(payments, payments.c.id == events.c.payment_id)
                .where(payments.c.invoice_id == invoice, events.c.type == "payment.paid")
            ).scalar_one()
        )

    return db.read_sync(count)


# --- managing sources ----------------------------------------------------------------------------


def test_a_source_is_created_with_a_token_shown_once_and_stored_hashed(
    client: TestClient, merchant: NewMerchant, db: Database
) -> None:
    created = create_source(client, merchant.test_api_key)
    assert created["id"].startswith("src_")
    token = created["token"]
    assert token.startswith("kst_")
    assert created["pair_url"] == f"http://kasir.test/v1/sources/{created['id']}#token={token}"
    assert created["state"] == "new"
    assert created["apps"] == APPS
    assert created["channels"] == ["gopay_qris", "qris_user"]

    shown = client.get(f"{SOURCES}/{created['id']}", headers=auth(merchant.test_api_key)).json()["source"]
    assert "token" not in shown
    assert "pair_url" not in shown
    assert token not in json.dumps(client.get(SOURCES, headers=auth(merchant.test_api_key)).json())

    stored = db.read_sync(
        lambda conn: conn.execute(sa.text("SELECT token_hash, signing_key FROM payment_sources")).one()
    )
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.signing_key  # encrypted at rest: the HMAC key is not readable in a dump


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"apps": APPS}, "invalid_name", "name"),
        ({"name": "  ", "apps": APPS}, "invalid_name", "name"),
        ({"name": "x" * 101, "apps": APPS}, "invalid_name", "name"),
        ({"name": "HP"}, "invalid_apps", "apps"),
        ({"name": "HP", "apps": {}}, "invalid_apps", "apps"),
        ({"name": "HP", "apps": ["com.gojek.gopaymerchant"]}, "invalid_apps", "apps"),
        ({"name": "HP", "apps": {"gopay": "gopay_qris"}}, "invalid_package", "apps"),
        ({"name": "HP", "apps": {"com.gojek.gopaymerchant": "bitcoin"}}, "invalid_channel", None),
    ],
)
def test_a_bad_source_is_refused_and_writes_nothing(
    client: TestClient, merchant: NewMerchant, db: Database, body: dict[str, Any], code: str, field: str | None
) -> None:
    with writes_nothing(db):
        assert_error(client.post(SOURCES, headers=auth(merchant.test_api_key), json=body), 400, code, field)


def test_another_merchants_or_modes_source_is_404(
    client: TestClient, merchant: NewMerchant, other_merchant: NewMerchant, db: Database
) -> None:
    source = create_source(client, merchant.test_api_key)
    for key in (other_merchant.test_api_key, merchant.live_api_key):
        with writes_nothing(db):
            headers = auth(key)
            assert_error(client.get(f"{SOURCES}/{source['id']}", headers=headers), 404, "source_not_found")
            assert_error(
                client.patch(f"{SOURCES}/{source['id']}", headers=headers, json={"name": "mine"}),
                404,
                "source_not_found",
            )
            assert_error(client.delete(f"{SOURCES}/{source['id']}", headers=headers), 404, "source_not_found")
            assert_error(
                client.post(f"{SOURCES}/{source['id']}/rotate-token", headers=headers), 404, "source_not_found"
            )
            assert_error(
                client.get(f"{SOURCES}/{source['id']}/notifications", headers=headers), 404, "source_not_found"
            )
            assert client.get(SOURCES, headers=headers).json()["data"] == []


def test_a_source_is_renamed_remapped_and_deleted(client: TestClient, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    source = create_source(client, key)
    changed = client.patch(
        f"{SOURCES}/{source['id']}", headers=auth(key), json={"name": "HP kasir 2", "apps": {BRIMO: "qris_user"}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["source"]["name"] == "HP kasir 2"
    assert changed.json()["source"]["apps"] == {BRIMO: "qris_user"}
    assert_error(client.patch(f"{SOURCES}/{source['id']}", headers=auth(key), json={}), 400, "nothing_to_change")
    assert_error(
        client.patch(f"{SOURCES}/{source['id']}", headers=auth(key), json={"token": "x"}), 400, "invalid_parameter"
    )
    assert client.delete(f"{SOURCES}/{source['id']}", headers=auth(key)).status_code == 200
    assert_error(client.get(f"{SOURCES}/{source['id']}", headers=auth(key)), 404, "source_not_found")
    # Its phone is turned away as any stranger is.
    assert_error(post_notifications(client, source, gopay_paid(1000)), 401, "invalid_credentials")


def test_a_rotated_token_replaces_the_old_one_at_once(client: TestClient, merchant: NewMerchant) -> None:
    source = create_source(client, merchant.test_api_key)
    rotated = client.post(f"{SOURCES}/{source['id']}/rotate-token", headers=auth(merchant.test_api_key)).json()[
        "source"
    ]
    assert rotated["token"] != source["token"]
    assert_error(post_notifications(client, source, gopay_paid(1000)), 401, "invalid_credentials")
    assert report(client, {**source, "token": rotated["token"]}, gopay_paid(1000))[0]["outcome"] == "unmatched"


# --- authenticating the phone -----------------------------------------------------------------------


def test_a_wrong_token_signature_or_id_is_the_same_401_and_stores_nothing(
    client: TestClient, merchant: NewMerchant, other_merchant: NewMerchant, db: Database
) -> None:
    source = create_source(client, merchant.test_api_key)
    theirs = create_source(client, other_merchant.test_api_key)
    body = json.dumps([gopay_paid(1000)]).encode()
    url = f"{SOURCES}/{source['id']}/notifications"
    attempts = [
        (url, {"Authorization": "Bearer kst_wrong"}),
        (url, {"Authorization": f"Bearer {theirs['token']}"}),  # a real token, of another source
        (url, {"X-Kasir-Signature": "sha256=" + "0" * 64}),
        (url, {"X-Kasir-Signature": "sha256=" + hmac.new(b"kst_wrong", body, hashlib.sha256).hexdigest()}),
        (f"{SOURCES}/src_000000000000000000000000/notifications", {"Authorization": f"Bearer {source['token']}"}),
    ]
    answers = []
    with writes_nothing(db):
        for path, headers in attempts:
            response = client.post(path, content=body, headers={"Content-Type": "application/json", **headers})
            answers.append(assert_error(response, 401, "invalid_credentials"))
        assert_error(
            client.post(url, content=body, headers={"Content-Type": "application/json"}), 401, "missing_credentials"
        )
    assert len({answer["error"] for answer in answers}) == 1  # no hint which part was wrong
    assert report(client, source, [gopay_paid(1000)], sign=True)[0]["outcome"] == "unmatched"


def test_a_body_over_the_limit_is_413(client: TestClient, merchant: NewMerchant, db: Database) -> None:
    source = create_source(client, merchant.test_api_key)
    item = {**gopay_paid(1000), "text": "x" * 9000}
    with writes_nothing(db):
        response = post_notifications(client, source, [item] * 300)  # ~2.7 MB, over the 2 MiB default
        assert_error(response, 413, "payload_too_large")


# --- what notifications become ---------------------------------------------------------------------


def test_a_buyer_who_pays_the_exact_amount_is_confirmed_exactly_once(
    client: TestClient, subscribed_merchant: NewMerchant, db: Database
) -> None:
    key = subscribed_merchant.test_api_key
    source = create_source(client, key)
    created = create_payment(client, key)
    invoice, amount = created["payment"]["invoice_id"], created["payment"]["final_amount"]
    notification = gopay_paid(amount)

    [first] = report(client, source, notification)
    assert first["outcome"] == "matched"
    assert first["amount"] == amount
    assert first["invoice_id"] == invoice
    assert first["mutation_id"].startswith("mut_")
    row = payment_row(db, invoice)
    assert row["status"] == "paid"
    assert row["paid_amount"] == amount

    # The phone's queue sent again after a lost answer, and twice in one batch: nothing twice.
    again = report(client, source, [notification, notification])
    assert [item["outcome"] for item in again] == ["duplicate", "duplicate"]
    assert {item["invoice_id"] for item in again} == {invoice}
    assert paid_events(db, invoice) == 1
    assert payment_row(db, invoice)["paid_reff_num"] == row["paid_reff_num"]


def test_each_item_gets_its_own_outcome_in_order(
    client: TestClient, subscribed_merchant: NewMerchant, db: Database
) -> None:
    key = subscribed_merchant.test_api_key
    source = create_source(client, key)
    payment = create_payment(client, key, method="qris_user", amount=35000)["payment"]
    brimo_in = {
        "package": BRIMO,
        "title": "BRImo",
        "text": f"BRImo - Transfer masuk sebesar Rp {payment['final_amount']}",
        "posted_at": now_ms(),
    }
    batch: list[Any] = [
        {"package": "com.whatsapp", "title": "Budi", "text": "Sudah transfer ya", "posted_at": now_ms()},
        {
            "package": BRIMO,
            "title": "Notifikasi Transaksi",
            "text": "Notifikasi Transaksi QRIS di WARUNG ABC sebesar Rp35.000 berhasil.",
            "posted_at": now_ms(),
        },
        {"package": BRIMO, "title": "Info BRImo", "text": "Sesuatu yang baru", "posted_at": now_ms()},
        "not an object",
        {"title": "no package", "text": "x", "posted_at": now_ms()},
        {"package": BRIMO, "title": "t", "text": "x", "posted_at": "yesterday"},
        {"package": BRIMO, "title": "t", "text": "x", "posted_at": now_ms() + 3_600_000},
        {"package": BRIMO, "title": "t", "text": "a\u0000b", "posted_at": now_ms()},
        {"package": BRIMO, "title": "t", "text": "x"},
        brimo_in,
        {**gopay_paid(1234), "text": "Rp 1.234,50 di TOKO, Digital & Kreatif."},
    ]
    results = report(client, source, batch)
    outcomes = [(item["outcome"], item.get("code")) for item in results]
    assert outcomes == [
        ("ignored", "app_not_watched"),
        ("ignored", "outgoing"),
        ("unparsed", "no_rule"),
        ("invalid", "invalid_item"),
        ("invalid", "missing_package"),
        ("invalid", "invalid_posted_at"),
        ("invalid", "posted_at_in_future"),
        ("invalid", "control_character"),
        ("invalid", "missing_posted_at"),
        ("matched", None),
        ("invalid", "amount_fraction"),
    ]
    assert results[9]["invoice_id"] == payment["invoice_id"]
    # What was stored: the watched apps' notifications, never the chat, never the unreadable ones.
    stored = db.read_sync(
        lambda conn: sorted(
            conn.execute(sa.select(source_notifications.c.package, source_notifications.c.outcome)).all()
        )
    )
    assert stored == sorted([(BRIMO, "ignored"), (BRIMO, "unparsed"), (BRIMO, "credited"), (GOPAY_MERCHANT, "invalid")])
    unparsed = client.get(f"{SOURCES}/{source['id']}/notifications?outcome=unparsed", headers=auth(key)).json()["data"]
    assert [(item["title"], item["text"]) for item in unparsed] == [("Info BRImo", "Sesuatu yang baru")]


def test_a_notification_from_before_the_payment_does_not_pay_it(
    client: TestClient, subscribed_merchant: NewMerchant, db: Database
) -> None:
    key = subscribed_merchant.test_api_key
    source = create_source(client, key)
    payment = create_payment(client, key)["payment"]
    an_hour_ago = now_ms() - 3_600_000
    [result] = report(client, source, gopay_paid(payment["final_amount"], posted_at=an_hour_ago))
    assert result["outcome"] == "unmatched"
    assert payment_row(db, payment["invoice_id"])["status"] == "pending"


def test_gopay_beside_gopay_merchant_does_not_count_a_payment_twice(
    client: TestClient, subscribed_merchant: NewMerchant, db: Database
) -> None:
    key = subscribed_merchant.test_api_key
    source = create_source(client, key, apps={GOPAY_MERCHANT: "gopay_qris", "com.gojek.gopay": "gopay_qris"})
    payment = create_payment(client, key)["payment"]
    amount = payment["final_amount"]
    consumer = {
        "package": "com.gojek.gopay",
        "title": "Transfer masuk",
        "text": f"Kamu terima Rp{dotted(amount)} dari BUDI",
        "posted_at": now_ms(),
    }
    results = report(client, source, [consumer, gopay_paid(amount)])
    assert [(item["outcome"], item.get("code")) for item in results] == [("ignored", "superseded"), ("matched", None)]
    mutation_count = db.read_sync(lambda conn: conn.execute(sa.text("SELECT count(*) FROM mutations")).scalar_one())
    assert mutation_count == 1


def test_an_unparsed_notification_is_reparsed_after_a_parser_update(
    client: TestClient, subscribed_merchant: NewMerchant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = subscribed_merchant.test_api_key
    source = create_source(client, key)
    payment = create_payment(client, key)["payment"]
    amount = payment["final_amount"]
    # A title GoPay Merchant may use for dynamic QRIS payments, which no rule knows today.
    new_title = {
        "package": GOPAY_MERCHANT,
        "title": "Pembayaran QRIS dinamis diterima",
        "text": f"Rp {dotted(amount)} di J Store.",
        "posted_at": now_ms(),
    }
    [result] = report(client, source, new_title)
    assert result["outcome"] == "unparsed"
    nid = result["notification_id"]
    url = f"{SOURCES}/{source['id']}/notifications/{nid}/reparse"

    unchanged = client.post(url, headers=auth(key))
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["notification"]["outcome"] == "unparsed"
    assert payment_row(db, payment["invoice_id"])["status"] == "pending"

    # The parser update: the released parsers, plus a rule for the new title.
    released = parse

    def updated(notification: Notification) -> Result:
        if notification.title == "Pembayaran QRIS dinamis diterima":
            return Incoming(amount, "gopay_merchant")
        return released(notification)

    monkeypatch.setattr(notifications_module, "parse", updated)
    reparsed = client.post(url, headers=auth(key)).json()["notification"]
    assert reparsed["outcome"] == "credited"
    assert reparsed["invoice_id"] == payment["invoice_id"]
    assert reparsed["mutation_status"] == "matched"
    assert payment_row(db, payment["invoice_id"])["status"] == "paid"
    assert_error(client.post(url, headers=auth(key)), 409, "already_credited")
    assert paid_events(db, payment["invoice_id"]) == 1


def test_an_unparsed_notification_is_assigned_by_hand(
    client: TestClient, subscribed_merchant: NewMerchant, other_merchant: NewMerchant, db: Database
) -> None:
    key = subscribed_merchant.test_api_key
    source = create_source(client, key)
    payment = create_payment(client, key, method="qris_user")["payment"]
    [result] = report(
        client, source, {"package": BRIMO, "title": "Dana masuk", "text": "ada dana", "posted_at": now_ms()}
    )
    assert result["outcome"] == "unparsed"
    url = f"{SOURCES}/{source['id']}/notifications/{result['notification_id']}/assign"
    theirs = create_payment(client, other_merchant.test_api_key, method="qris")["payment"]
    with writes_nothing(db):
        for invoice in ("PAY-nobody-1-X", theirs["invoice_id"]):
            assert_error(client.post(url, headers=auth(key), json={"invoice_id": invoice}), 404, "payment_not_found")
        assert_error(client.post(url, headers=auth(key), json={}), 400, "missing_parameter")
    assigned = client.post(url, headers=auth(key), json={"invoice_id": payment["invoice_id"]})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["payment"]["status"] == "paid"
    assert assigned.json()["notification"]["outcome"] == "credited"
    assert payment_row(db, payment["invoice_id"])["status"] == "paid"
    assert_error(
        client.post(url, headers=auth(key), json={"invoice_id": payment["invoice_id"]}), 409, "already_credited"
    )
    assert paid_events(db, payment["invoice_id"]) == 1


def test_a_payment_on_a_phone_channel_confirms_automatically(
    client: TestClient, subscribed_merchant: NewMerchant
) -> None:
    key = subscribed_merchant.test_api_key
    source = create_source(client, key, apps={GOPAY_MERCHANT: "gopay_qris"})
    methods = {m["id"]: m for m in client.get("/api/get-payment-methods.php", headers=auth(key)).json()["methods"]}
    assert methods["gopay_qris"]["confirmation"] == "automatic"
    assert methods["gopay_qris"]["sources"] == [f"phone:{source['id']}"]
    assert methods["ovo"]["confirmation"] == "manual"


def test_a_heartbeat_is_a_sign_of_life_and_answers_the_apps_to_forward(
    client: TestClient, merchant: NewMerchant, db: Database
) -> None:
    source = create_source(client, merchant.test_api_key)
    raw = json.dumps({"forwarder": "kasir-forward/0.1", "queued": 3}).encode()
    signature = "sha256=" + hmac.new(source["token"].encode(), raw, hashlib.sha256).hexdigest()
    response = client.post(
        f"{SOURCES}/{source['id']}/heartbeat",
        content=raw,
        headers={"Content-Type": "application/json", "X-Kasir-Signature": signature},
    )
    assert response.status_code == 200, response.text
    shown = response.json()["source"]
    assert shown["state"] == "live"
    assert shown["apps"] == APPS
    assert shown["forwarder"] == "kasir-forward/0.1"
    assert shown["queued"] == 3
    assert "token" not in shown
    with writes_nothing(db):
        assert_error(
            client.post(f"{SOURCES}/{source['id']}/heartbeat", json={}, headers={"Authorization": "Bearer nope"}),
            401,
            "invalid_credentials",
        )


# --- the forwarders shops already run --------------------------------------------------------------


def qrishook_body(amount: int, posted: str, event_id: str = "3f6c2a1e-8b4d-4c1a-9e2f-7d5b6a0c9e11") -> bytes:
    """QRIS Hook's body, byte for byte as its WebhookPayloadBuilder writes it (one compact line,
    field order kept, notification and raw the same): here for the DANA fork's parser."""
    note = (
        '{"source_package":"id.dana","source_app":"DANA","title":"Pembayaran Masuk",'
        f'"text":"Rp{dotted(amount)} diterima dari Budi Santoso","big_text":"","received_at":"{posted}"}}'
    )
    return (
        f'{{"event_id":"{event_id}","type":"qris.payment.success","merchant_id":"dana",'
        f'"source_package":"id.dana","source_app":"DANA","received_at":"{posted}","notification":{note},'
        f'"payment":{{"amount":{amount},"currency":"IDR","sender_name":"Budi Santoso","payment_source":null}},'
        f'"raw":{note}}}'
    ).encode()


def test_the_qris_hook_payload_is_accepted_as_the_app_sends_it(
    client: TestClient, subscribed_merchant: NewMerchant, db: Database
) -> None:
    key = subscribed_merchant.test_api_key
    source = create_source(client, key, apps={"id.dana": "qris"})
    payment = create_payment(client, key, method="qris", amount=15000)["payment"]
    posted = time.strftime("%Y-%m-%dT%H:%M:%S.123Z", time.gmtime())
    body = qrishook_body(payment["final_amount"], posted)
    url = f"{SOURCES}/{source['id']}/qrishook"
    headers = {"Content-Type": "application/json", "X-Webhook-Secret": source["token"]}
    response = client.post(url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["outcome"] == "matched"
    assert result["invoice_id"] == payment["invoice_id"]
    # Its retry worker sends the same event again: a 2xx, and nothing twice.
    again = client.post(url, content=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["results"][0]["outcome"] == "duplicate"
    assert paid_events(db, payment["invoice_id"]) == 1
    with writes_nothing(db):
        bad = {"Content-Type": "application/json", "X-Webhook-Secret": "kst_not_it"}
        assert_error(client.post(url, content=body, headers=bad), 401, "invalid_credentials")
        assert_error(
            client.post(url, content=body, headers={"Content-Type": "application/json"}), 401, "missing_credentials"
        )


def macrodroid_fill(template: str, values: dict[str, str]) -> str:
    """What MacroDroid's HTTP Request action does to the body: each magic text replaced by the
    value as it is, with no escaping of any kind."""
    for magic, value in values.items():
        template = template.replace(magic, value)
    return template


def test_the_documented_automation_template_is_accepted_as_macrodroid_fills_it(
    client: TestClient, subscribed_merchant: NewMerchant, db: Database
) -> None:
    key = subscribed_merchant.test_api_key
    created = create_source(client, key)
    template = created["automation"]["body"]
    assert created["token"] in template
    assert "[not_app_package]" in template
    assert "[notification]" in template
    payment = create_payment(client, key)["payment"]
    body = macrodroid_fill(
        template,
        {
            "[not_app_package]": GOPAY_MERCHANT,
            "[system_time]": str(int(time.time())),
            "[not_title]": "Pembayaran QRIS statis diterima",
            # A quote, an ampersand, an equals sign and a newline: what broke JSON and form bodies.
            "[notification]": f'Rp {dotted(payment["final_amount"])} di "Toko A&B=1",\nDigital & Kreatif.',
            "[not_text_big]": "",
        },
    )
    url = f"{SOURCES}/{created['id']}/automation"
    response = client.post(url, content=body.encode(), headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["outcome"] == "matched", result
    assert payment_row(db, payment["invoice_id"])["status"] == "paid"

    # A payer cannot forge a field without the boundary, and a wrong token is turned away.
    with writes_nothing(db):
        wrong = body.replace(created["token"], "kst_wrong")
        assert_error(
            client.post(url, content=wrong.encode(), headers={"Content-Type": "text/plain"}), 401, "invalid_credentials"
        )
        assert_error(
            client.post(url, content=b"hello", headers={"Content-Type": "text/plain"}), 401, "missing_credentials"
        )
        garbled = f"token={created['token']}\npackage={GOPAY_MERCHANT}"
        assert_error(
            client.post(url, content=garbled.encode(), headers={"Content-Type": "text/plain"}), 400, "invalid_template"
        )


def moota_body(amount: Any, mutation_id: str, kind: str = "CR") -> dict[str, Any]:
    """One mutation in Moota's v2 webhook shape (its SDK's mock), bank object shortened."""
    return {
        "account_number": "111111111111111",
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 7 * 3600)),  # WIB, no offset
        "description": "PRMA CR Transfer 111111111111111",
        "note": "",
        "amount": amount,
        "type": kind,
        "balance": 3799460.89,
        "mutation_id": mutation_id,
        "token": mutation_id,
        "bank_id": "4Aqz9OmvWPV",
        "taggings": [],
        "bank": {"bank_type": "bca", "account_number": "111111111111111", "label": "BCA", "bank_id": "4Aqz9OmvWPV"},
    }


def test_moota_signed_mutations_pay_and_debits_are_ignored(
    client: TestClient, subscribed_merchant: NewMerchant, db: Database
) -> None:
    key = subscribed_merchant.test_api_key
    source = create_source(client, key, apps={"co.moota": "qris_user"})
    payment = create_payment(client, key, method="qris_user", amount=10000)["payment"]
    raw = json.dumps(
        [moota_body(f"{payment['final_amount']}.00", "Arz6JMxm6zK"), moota_body(5000, "Brz6JMxm6zL", kind="DB")]
    ).encode()
    signature = hmac.new(source["token"].encode(), raw, hashlib.sha256).hexdigest()
    url = f"{SOURCES}/{source['id']}/moota"
    headers = {"Content-Type": "application/json", "User-Agent": "MootaBot/1.50", "Signature": signature}
    response = client.post(url, content=raw, headers=headers)
    assert response.status_code == 200, response.text
    assert [(r["outcome"], r.get("code")) for r in response.json()["results"]] == [
        ("matched", None),
        ("ignored", "outgoing"),
    ]
    assert payment_row(db, payment["invoice_id"])["status"] == "paid"
    assert payment_row(db, payment["invoice_id"])["paid_reff_num"] == "moota:Arz6JMxm6zK"
    assert [r["outcome"] for r in client.post(url, content=raw, headers=headers).json()["results"]] == [
        "duplicate",
        "duplicate",
    ]
    with writes_nothing(db):
        assert_error(
            client.post(url, content=raw, headers={**headers, "Signature": "0" * 64}), 401, "invalid_credentials"
        )


def test_the_forwarder_file_is_served_for_the_phone_to_download(client: TestClient) -> None:
    response = client.get("/forward.py")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/x-python")
    assert b"termux-notification-list" in response.content
    compile(response.content, "forward.py", "exec")

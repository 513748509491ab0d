"""The dashboard's reconciliation over HTTP: the credits matching could not settle and the
notifications no parser read, each assigned to a payment by hand with a confirmation step.

Covered: the lists show what the API lists (unmatched and late credits, a late one naming its
expired payment; unparsed and invalid-amount notifications of every source), newest first and
paged; assigning a credit and a notification pays the payment (its row, its ``payment.paid``
event, check-payment) and writes the audit line in the same transaction; re-parsing; every refusal
(already matched, another channel, a paid payment, an unknown invoice) is a page and changes
nothing; another merchant's ids and the other mode's are 404; no CSRF token, no change. Every test
runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.db.tables import audit_log, events, mutations, payments, source_notifications
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.conftest import auth, writes_nothing
from tests.dashboard_helpers import EMAIL, PASSWORD, csrf_of

REC = "/dashboard/reconciliation"
OVO_APP = "ovo.id"  # no incoming text confirmed yet: every notification is unparsed
DANA_APP = "id.dana"
GOPAY_MERCHANT = "com.gojek.gopaymerchant"


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


def sign_in(client: TestClient) -> str:
    response = client.post("/dashboard/login", data={"email": EMAIL, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get(REC).text)


def create_payment(client: TestClient, key: str, method: str = "qris", amount: int = 25000) -> dict[str, Any]:
    response = client.post(
        "/api/create-payment.php", headers=auth(key), json={"amount": amount, "payment_method": method}
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["payment"])


def report_credit(
    client: TestClient, key: str, amount: int, channel: str = "qris", reference: str = ""
) -> dict[str, Any]:
    body = {"channel": channel, "amount": amount, "reference": reference or f"REF-{amount}-{time.monotonic_ns()}"}
    response = client.post("/v1/mutations", headers=auth(key), json=body)
    assert response.status_code == 200, response.text
    return dict(response.json()["mutations"][0])


def create_source(client: TestClient, key: str, apps: dict[str, str]) -> dict[str, Any]:
    response = client.post("/v1/sources", headers=auth(key), json={"name": "HP kasir", "apps": apps})
    assert response.status_code == 200, response.text
    return dict(response.json()["source"])


def notify(client: TestClient, source: dict[str, Any], package: str, title: str, text: str) -> dict[str, Any]:
    body = {"package": package, "title": title, "text": text, "posted_at": int(time.time() * 1000)}
    response = client.post(
        f"/v1/sources/{source['id']}/notifications",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {source['token']}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["results"][0])


def ids_on(html: str, attribute: str) -> list[str]:
    return re.findall(rf'data-{attribute}="([^"]+)"', html)


def payment_row(db: Database, invoice: str) -> dict[str, Any]:
    return db.read_sync(
        lambda conn: dict(conn.execute(sa.select(payments).where(payments.c.invoice_id == invoice)).mappings().one())
    )


def paid_events(db: Database, invoice: str) -> list[dict[str, Any]]:
    rows = db.read_sync(
        lambda conn: conn.execute(sa.select(events.c.payload).where(events.c.type == "payment.paid")).scalars().all()
    )
    found = [json.loads(row) if isinstance(row, str) else row for row in rows]
    return [payload for payload in found if json.dumps(payload).find(invoice) >= 0]


def audit_lines(db: Database) -> list[dict[str, Any]]:
    return db.read_sync(
        lambda conn: [dict(row) for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings()]
    )


def expire(db: Database, invoice: str) -> None:
    """The payment's time ran out ten minutes ago (the arrangement, not the thing under test)."""
    past = utcnow() - timedelta(minutes=10)
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(payments)
            .where(payments.c.invoice_id == invoice)
            .values(created_at=past - timedelta(minutes=15), expires_at=past)
        )
    )


# --- the lists ------------------------------------------------------------------------------


def test_the_lists_show_what_the_api_lists_newest_first(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = subscribed_merchant.test_api_key
    paid = create_payment(client, key, amount=30000)
    report_credit(client, key, paid["final_amount"])  # matched: not for reconciliation
    late = create_payment(client, key, amount=41000)
    expire(db, late["invoice_id"])
    late_credit = report_credit(client, key, late["final_amount"])
    assert late_credit["status"] == "late"
    first = report_credit(client, key, 12345)
    second = report_credit(client, key, 67890, channel="ovo")
    source = create_source(client, key, {OVO_APP: "ovo", DANA_APP: "qris_user", GOPAY_MERCHANT: "gopay_qris"})
    unparsed = notify(client, source, OVO_APP, "OVO", "Kamu menerima Rp 10.000 dari Budi")
    invalid = notify(client, source, DANA_APP, "Pembayaran Masuk", "Rp 1.234,50 diterima dari Budi")
    credited = notify(client, source, GOPAY_MERCHANT, "Pembayaran QRIS statis diterima", "Rp 1.127 di Toko")
    assert (unparsed["outcome"], invalid["outcome"], invalid["code"]) == ("unparsed", "invalid", "amount_fraction")
    assert credited["outcome"] == "unmatched"

    sign_in(client)
    page = client.get(REC)
    assert page.status_code == 200
    api = client.get("/v1/mutations?matched=false", headers=auth(key)).json()["data"]
    assert ids_on(page.text, "mutation") == [m["id"] for m in api]
    assert ids_on(page.text, "mutation")[:3] == [credited["mutation_id"], second["id"], first["id"]]
    assert late_credit["id"] in ids_on(page.text, "mutation")
    assert f"terlambat untuk {late['invoice_id']}" in page.text
    assert "Rp 12.345" in page.text
    # The notifications waiting for review: what the API lists as unparsed and invalid, newest first.
    listed = client.get(f"/v1/sources/{source['id']}/notifications", headers=auth(key)).json()["data"]
    waiting = [n["id"] for n in listed if n["outcome"] in ("unparsed", "invalid")]
    assert ids_on(page.text, "notification") == waiting == [invalid["notification_id"], unparsed["notification_id"]]
    assert "amount_fraction" in page.text
    assert "Kamu menerima Rp 10.000 dari Budi" in page.text
    english = client.get(f"{REC}?lang=en")
    assert "Unmatched credits" in english.text
    assert f"late for {late['invoice_id']}" in english.text


def test_the_credits_are_paged(client: TestClient, subscribed_merchant: NewMerchant, owner: users.NewUser) -> None:
    key = subscribed_merchant.test_api_key
    made = [report_credit(client, key, 10000 + i)["id"] for i in range(23)]
    sign_in(client)
    first = ids_on(client.get(REC).text, "mutation")
    second = client.get(f"{REC}?page=2")
    assert first == made[::-1][:20]
    assert ids_on(second.text, "mutation") == made[::-1][20:]
    assert "Halaman 2 dari 2" in second.text


def test_the_other_modes_and_merchants_credits_are_not_listed(
    client: TestClient, subscribed_merchant: NewMerchant, other_merchant: NewMerchant, owner: users.NewUser
) -> None:
    mine = report_credit(client, subscribed_merchant.test_api_key, 11111)
    live = report_credit(client, subscribed_merchant.live_api_key, 22222)
    theirs = report_credit(client, other_merchant.test_api_key, 33333)
    sign_in(client)
    listed = ids_on(client.get(REC).text, "mutation")
    assert listed == [mine["id"]]
    assert live["id"] not in listed
    assert theirs["id"] not in listed


# --- assigning a credit ---------------------------------------------------------------------


def test_assigning_a_credit_with_the_confirmation_step_pays_the_payment_and_writes_the_audit_line(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = subscribed_merchant.test_api_key
    payment = create_payment(client, key, amount=25000)
    credit = report_credit(client, key, 25100, reference="QR-20261122-0002")
    assert credit["status"] == "unmatched"
    csrf = sign_in(client)

    choose = client.get(f"{REC}/mutations/{credit['id']}")
    assert choose.status_code == 200
    assert "Rp 25.100" in choose.text
    assert payment["invoice_id"] in ids_on(choose.text, "invoice")  # a candidate on the same channel
    confirm = client.get(f"{REC}/mutations/{credit['id']}/confirm", params={"invoice_id": payment["invoice_id"]})
    assert confirm.status_code == 200
    final = f"{payment['final_amount']:,}".replace(",", ".")
    assert f"Rp {final}" in confirm.text
    assert "Rp 25.100" in confirm.text
    assert 'data-status="pending"' in confirm.text
    assert 'data-compare="differ"' in confirm.text
    assert payment_row(db, payment["invoice_id"])["status"] == "pending"  # nothing happens before the POST

    before = utcnow()
    done = client.post(
        f"{REC}/mutations/{credit['id']}/assign",
        data={"csrf_token": csrf, "invoice_id": payment["invoice_id"]},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{REC}?done=assigned&invoice={payment['invoice_id']}"

    row = payment_row(db, payment["invoice_id"])
    assert (row["status"], row["paid_amount"], row["paid_reff_num"]) == ("paid", 25100, "QR-20261122-0002")
    assert len(paid_events(db, payment["invoice_id"])) == 1
    checked = client.get("/api/check-payment.php", params={"invoice": payment["invoice_id"]}, headers=auth(key))
    assert checked.json()["status"] == "paid"
    settled = client.get(f"/v1/mutations/{credit['id']}", headers=auth(key)).json()["mutation"]
    assert (settled["status"], settled["invoice_id"], settled["settled_by"]) == (
        "matched",
        payment["invoice_id"],
        "manual",
    )

    [line] = audit_lines(db)
    assert (line["action"], line["subject"], line["actor"], line["mode"]) == (
        "assign_mutation",
        credit["id"],
        EMAIL,
        "test",
    )
    assert line["payment_id"] == row["id"]
    assert line["user_id"] == owner.id
    assert before - timedelta(seconds=5) <= line["created_at"] <= utcnow() + timedelta(seconds=5)
    assert json.loads(line["details"])["invoice_id"] == payment["invoice_id"]

    page = client.get(done.headers["location"])
    assert f"Ditetapkan: {payment['invoice_id']} sudah lunas." in page.text
    assert credit["id"] not in ids_on(page.text, "mutation")
    assert f"menetapkan mutasi {credit['id']} ke {payment['invoice_id']}" in page.text
    assert EMAIL in page.text


def test_a_late_credit_is_offered_its_expired_payment_and_pays_it(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = subscribed_merchant.test_api_key
    payment = create_payment(client, key, amount=41000)
    expire(db, payment["invoice_id"])
    credit = report_credit(client, key, payment["final_amount"])
    assert credit["late_for_invoice_id"] == payment["invoice_id"]
    csrf = sign_in(client)
    choose = client.get(f"{REC}/mutations/{credit['id']}")
    assert f'value="{payment["invoice_id"]}"' in choose.text  # the expired payment, chosen already
    confirm = client.get(f"{REC}/mutations/{credit['id']}/confirm", params={"invoice_id": payment["invoice_id"]})
    assert 'data-status="expired"' in confirm.text
    assert 'data-compare="equal"' in confirm.text
    done = client.post(
        f"{REC}/mutations/{credit['id']}/assign",
        data={"csrf_token": csrf, "invoice_id": payment["invoice_id"]},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert payment_row(db, payment["invoice_id"])["status"] == "paid"
    assert len(paid_events(db, payment["invoice_id"])) == 1
    assert [line["action"] for line in audit_lines(db)] == ["assign_mutation"]


def _refusal(
    client: TestClient, db: Database, csrf: str, mutation_id: str, invoice: str, status: int, said: str
) -> None:
    with writes_nothing(db):
        response = client.post(
            f"{REC}/mutations/{mutation_id}/assign",
            data={"csrf_token": csrf, "invoice_id": invoice},
            follow_redirects=False,
        )
    assert response.status_code == status, response.text
    assert "text/html" in response.headers["content-type"]
    assert 'role="alert"' in response.text
    assert said in response.text


def test_refused_assignments_are_pages_and_change_nothing(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = subscribed_merchant.test_api_key
    qris_payment = create_payment(client, key, amount=25000)
    ovo_payment = create_payment(client, key, method="ovo", amount=26000)
    paid_payment = create_payment(client, key, amount=27000)
    matched = report_credit(client, key, paid_payment["final_amount"])
    assert matched["status"] == "matched"
    credit = report_credit(client, key, 99999)
    csrf = sign_in(client)
    # Already matched; another channel; a paid payment; an invoice nobody has.
    _refusal(client, db, csrf, matched["id"], qris_payment["invoice_id"], 409, "already paid")
    _refusal(client, db, csrf, credit["id"], ovo_payment["invoice_id"], 409, "is a credit on qris")
    _refusal(client, db, csrf, credit["id"], paid_payment["invoice_id"], 409, "only a pending or expired payment")
    _refusal(client, db, csrf, credit["id"], "PAY-nobody-1-XXXXXX", 404, "not found")
    with writes_nothing(db):
        missing = client.post(f"{REC}/mutations/{credit['id']}/assign", data={"csrf_token": csrf})
    assert missing.status_code == 400
    # The API agrees with each refusal, and the dashboard answered them without writing a line.
    api = client.post(
        f"/v1/mutations/{credit['id']}/assign", headers=auth(key), data={"invoice_id": ovo_payment["invoice_id"]}
    )
    assert api.json()["code"] == "channel_mismatch"
    assert audit_lines(db) == []
    assert payment_row(db, qris_payment["invoice_id"])["status"] == "pending"
    # The confirmation page of a paid payment says it cannot be paid.
    confirm = client.get(f"{REC}/mutations/{credit['id']}/confirm", params={"invoice_id": paid_payment["invoice_id"]})
    assert "tidak dapat dibayar lagi" in confirm.text
    # A matched credit's page offers no assignment.
    page = client.get(f"{REC}/mutations/{matched['id']}")
    assert f"Mutasi ini sudah membayar {paid_payment['invoice_id']}." in page.text
    assert 'name="invoice_id"' not in page.text


# --- notifications --------------------------------------------------------------------------


def test_assigning_a_notification_with_the_confirmation_step_pays_the_payment(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = subscribed_merchant.test_api_key
    payment = create_payment(client, key, method="ovo", amount=15000)
    source = create_source(client, key, {OVO_APP: "ovo"})
    unparsed = notify(client, source, OVO_APP, "OVO", "Dana masuk dari Budi")
    nid = unparsed["notification_id"]
    csrf = sign_in(client)
    here = f"{REC}/sources/{source['id']}/notifications/{nid}"
    choose = client.get(here)
    assert choose.status_code == 200
    assert "Dana masuk dari Budi" in choose.text
    assert payment["invoice_id"] in ids_on(choose.text, "invoice")
    confirm = client.get(f"{here}/confirm", params={"invoice_id": payment["invoice_id"]})
    final = f"{payment['final_amount']:,}".replace(",", ".")
    assert f"Rp {final}" in confirm.text
    assert 'data-status="pending"' in confirm.text
    done = client.post(
        f"{here}/assign", data={"csrf_token": csrf, "invoice_id": payment["invoice_id"]}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    row = payment_row(db, payment["invoice_id"])
    assert (row["status"], row["paid_amount"]) == ("paid", payment["final_amount"])
    assert len(paid_events(db, payment["invoice_id"])) == 1
    shown = client.get(f"/v1/sources/{source['id']}/notifications", headers=auth(key)).json()["data"][0]
    assert (shown["outcome"], shown["code"], shown["invoice_id"]) == ("credited", "assigned", payment["invoice_id"])
    [line] = audit_lines(db)
    assert (line["action"], line["subject"], line["payment_id"], line["actor"]) == (
        "assign_notification",
        nid,
        row["id"],
        EMAIL,
    )
    page = client.get(REC)
    assert nid not in ids_on(page.text, "notification")
    # Done once: the notification is a credit now, its page offers nothing more, a second POST is refused.
    assert 'name="invoice_id"' not in client.get(here).text
    with writes_nothing(db):
        again = client.post(f"{here}/assign", data={"csrf_token": csrf, "invoice_id": payment["invoice_id"]})
    assert again.status_code == 409


def test_a_notification_assigned_to_a_paid_payment_changes_nothing(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = subscribed_merchant.test_api_key
    payment = create_payment(client, key, method="ovo", amount=15000)
    report_credit(client, key, payment["final_amount"], channel="ovo")
    source = create_source(client, key, {OVO_APP: "ovo"})
    nid = notify(client, source, OVO_APP, "OVO", "Dana masuk dari Budi")["notification_id"]
    csrf = sign_in(client)
    with writes_nothing(db):
        refused = client.post(
            f"{REC}/sources/{source['id']}/notifications/{nid}/assign",
            data={"csrf_token": csrf, "invoice_id": payment["invoice_id"]},
        )
    assert refused.status_code == 409


def test_reparsing_a_notification_reads_it_again_and_is_audited(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = subscribed_merchant.test_api_key
    source = create_source(client, key, {OVO_APP: "ovo"})
    nid = notify(client, source, OVO_APP, "OVO", "Dana masuk dari Budi")["notification_id"]
    csrf = sign_in(client)
    here = f"{REC}/sources/{source['id']}/notifications/{nid}"
    done = client.post(f"{here}/reparse", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"{here}?done=reparsed"
    assert "Dibaca ulang: hasilnya tidak terbaca." in client.get(done.headers["location"]).text
    reparsed = db.read_sync(
        lambda conn: conn.execute(
            sa.select(source_notifications.c.reparsed_at).where(source_notifications.c.public_id == nid)
        ).scalar_one()
    )
    assert reparsed is not None
    [line] = audit_lines(db)
    assert (line["action"], line["subject"], json.loads(line["details"])["outcome"]) == (
        "reparse_notification",
        nid,
        "unparsed",
    )


# --- scoping and CSRF -----------------------------------------------------------------------


def test_another_merchants_and_the_other_modes_ids_are_404(
    client: TestClient,
    db: Database,
    subscribed_merchant: NewMerchant,
    other_merchant: NewMerchant,
    owner: users.NewUser,
) -> None:
    key = subscribed_merchant.test_api_key
    mine = report_credit(client, key, 12000)
    my_payment = create_payment(client, key, amount=12000)
    their_credit = report_credit(client, other_merchant.test_api_key, 13000)
    live_credit = report_credit(client, subscribed_merchant.live_api_key, 14000)
    their_source = create_source(client, other_merchant.test_api_key, {OVO_APP: "ovo"})
    their_nid = notify(client, their_source, OVO_APP, "OVO", "Dana masuk")["notification_id"]
    live_source = create_source(client, subscribed_merchant.live_api_key, {OVO_APP: "ovo"})
    live_nid = notify(client, live_source, OVO_APP, "OVO", "Dana masuk")["notification_id"]
    my_source = create_source(client, key, {OVO_APP: "ovo"})
    my_nid = notify(client, my_source, OVO_APP, "OVO", "Dana masuk")["notification_id"]
    their_payment = create_payment(client, other_merchant.test_api_key, amount=12000)
    csrf = sign_in(client)
    invoice = {"invoice_id": my_payment["invoice_id"]}
    for mutation_id in (their_credit["id"], live_credit["id"], "mut_nothing"):
        assert client.get(f"{REC}/mutations/{mutation_id}").status_code == 404
        assert client.get(f"{REC}/mutations/{mutation_id}/confirm", params=invoice).status_code == 404
        with writes_nothing(db):
            response = client.post(f"{REC}/mutations/{mutation_id}/assign", data={"csrf_token": csrf, **invoice})
        assert response.status_code == 404
    notification_paths = [
        f"{REC}/sources/{their_source['id']}/notifications/{their_nid}",
        f"{REC}/sources/{live_source['id']}/notifications/{live_nid}",
        f"{REC}/sources/{my_source['id']}/notifications/{their_nid}",  # my source, their notification
        f"{REC}/sources/{their_source['id']}/notifications/{my_nid}",
    ]
    for path in notification_paths:
        assert client.get(path).status_code == 404, path
        assert client.get(f"{path}/confirm", params=invoice).status_code == 404, path
        for action, data in (("assign", invoice), ("reparse", {})):
            with writes_nothing(db):
                response = client.post(f"{path}/{action}", data={"csrf_token": csrf, **data})
            assert response.status_code == 404, (path, action)
    # Their payment, from my credit or notification: not found either.
    their_invoice = {"csrf_token": csrf, "invoice_id": their_payment["invoice_id"]}
    with writes_nothing(db):
        assert client.post(f"{REC}/mutations/{mine['id']}/assign", data=their_invoice).status_code == 404
        path = f"{REC}/sources/{my_source['id']}/notifications/{my_nid}/assign"
        assert client.post(path, data=their_invoice).status_code == 404
    assert client.get(f"{REC}/mutations/{mine['id']}/confirm", params=their_invoice).status_code == 404


def test_without_the_csrf_token_nothing_is_assigned(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = subscribed_merchant.test_api_key
    payment = create_payment(client, key, method="ovo", amount=15000)
    credit = report_credit(client, key, 15001, channel="ovo")
    source = create_source(client, key, {OVO_APP: "ovo"})
    nid = notify(client, source, OVO_APP, "OVO", "Dana masuk dari Budi")["notification_id"]
    with writes_nothing(db):  # no session at all
        assert (
            client.post(
                f"{REC}/mutations/{credit['id']}/assign", data={"invoice_id": payment["invoice_id"]}
            ).status_code
            == 403
        )
    sign_in(client)
    paths = [
        f"{REC}/mutations/{credit['id']}/assign",
        f"{REC}/sources/{source['id']}/notifications/{nid}/assign",
        f"{REC}/sources/{source['id']}/notifications/{nid}/reparse",
    ]
    for path in paths:
        for token in ({}, {"csrf_token": "0" * 64}):
            with writes_nothing(db):
                response = client.post(path, data={"invoice_id": payment["invoice_id"], **token})
            assert response.status_code == 403, path
            assert "Formulir ini sudah kedaluwarsa" in response.text
    assert payment_row(db, payment["invoice_id"])["status"] == "pending"
    assert (
        db.read_sync(
            lambda conn: conn.execute(
                sa.select(mutations.c.status).where(mutations.c.public_id == credit["id"])
            ).scalar_one()
        )
        == "unmatched"
    )

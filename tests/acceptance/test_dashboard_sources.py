"""The dashboard's payment sources over HTTP: the phones with their health, created by form with
the token, pairing URL and its QR shown once, renamed, given a new token, deleted.

Covered: the list shows what ``GET /v1/sources`` lists with each source's health; creating by
form validates through the API's rules and answers the token, the pairing URL (a QR of it that
decodes to it) and the forwarders' instructions once, never again on any page; the token works;
the source's page lists its last notifications and their outcomes, paged, and turns live; renaming
and changing apps; rotating (the old token stops) and deleting, each after a confirmation step and
with an audit line; another merchant's and the other mode's sources are 404; no CSRF token, no
change. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.db.tables import audit_log
from kasir.merchants.service import NewMerchant
from kasir.qris.image import read_codes
from kasir.team import users
from tests.conftest import auth, writes_nothing
from tests.dashboard_helpers import EMAIL, PASSWORD, csrf_of

SOURCES = "/dashboard/sources"
GOPAY_MERCHANT = "com.gojek.gopaymerchant"
OVO_APP = "ovo.id"
BRIMO = "id.co.bri.brimo"


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


def sign_in(client: TestClient) -> str:
    response = client.post("/dashboard/login", data={"email": EMAIL, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get(SOURCES).text)


def secret(html: str, name: str) -> str:
    found = re.search(rf'data-secret="{name}">([^<]+)<', html)
    assert found, f"no {name} on the page"
    return found.group(1).replace("&amp;", "&").replace("&#35;", "#")


def qr_text(html: str) -> list[str]:
    found = re.search(r'src="data:image/png;base64,([^"]+)"[^>]*data-qr="pair"', html)
    assert found, "no pairing QR on the page"
    return read_codes(base64.b64decode(found.group(1)))


def create_by_form(client: TestClient, csrf: str, name: str = "HP kasir depan", **apps: str) -> Any:
    data = {"csrf_token": csrf, "name": name}
    data.update({f"app:{package}": channel for package, channel in (apps or {GOPAY_MERCHANT: "gopay_qris"}).items()})
    return client.post(SOURCES, data=data)


def audit_lines(db: Database) -> list[dict[str, Any]]:
    return db.read_sync(
        lambda conn: [dict(row) for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings()]
    )


def notify(client: TestClient, source_id: str, token: str, text: str, posted_ms: int | None = None) -> Any:
    body = {
        "package": GOPAY_MERCHANT,
        "title": "Pembayaran QRIS statis diterima",
        "text": text,
        "posted_at": posted_ms or int(time.time() * 1000),
    }
    return client.post(
        f"/v1/sources/{source_id}/notifications",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


def api_source(client: TestClient, key: str, apps: dict[str, str]) -> dict[str, Any]:
    response = client.post("/v1/sources", headers=auth(key), json={"name": "HP lain", "apps": apps})
    assert response.status_code == 200, response.text
    return dict(response.json()["source"])


def test_creating_a_source_shows_the_token_pairing_url_and_qr_once(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    csrf = sign_in(client)
    form = client.get(f"{SOURCES}/new")
    assert form.status_code == 200
    assert f'name="app:{GOPAY_MERCHANT}"' in form.text
    assert 'name="app:co.moota"' in form.text
    made = create_by_form(client, csrf, **{GOPAY_MERCHANT: "gopay_qris", BRIMO: "qris_user"})
    assert made.status_code == 200, made.text
    token = secret(made.text, "token")
    pair_url = secret(made.text, "pair_url")
    [listed] = client.get("/v1/sources", headers=auth(merchant.test_api_key)).json()["data"]
    source_id = listed["id"]
    assert pair_url == f"http://kasir.test/v1/sources/{source_id}#token={token}"
    assert token.startswith("kst_")
    assert qr_text(made.text) == [pair_url]
    assert (listed["name"], listed["apps"]) == ("HP kasir depan", {GOPAY_MERCHANT: "gopay_qris", BRIMO: "qris_user"})
    # The instructions of the forwarders shops already run, with the token in place.
    assert f"http://kasir.test/v1/sources/{source_id}/qrishook" in made.text
    assert f"http://kasir.test/v1/sources/{source_id}/moota" in made.text
    assert f"token={token}" in made.text  # the automation template's first line
    assert "[not_app_package]" in made.text
    # The token works: the phone reports, and the source turns live.
    assert notify(client, source_id, token, "Rp 1.127 di Toko").status_code == 200
    # ... and is never shown again.
    for path in (
        SOURCES,
        f"{SOURCES}/{source_id}",
        f"{SOURCES}/{source_id}/edit",
        f"{SOURCES}/{source_id}/rotate",
        f"{SOURCES}/{source_id}/delete",
        "/dashboard",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert token not in page.text, path
        assert "#token=" not in page.text, path
        assert "data:image/png" not in page.text, path
    [line] = audit_lines(db)
    assert (line["action"], line["subject"], line["actor"]) == ("create_source", source_id, EMAIL)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"name": "", f"app:{GOPAY_MERCHANT}": "gopay_qris"}, "name is required"),
        ({"name": "HP"}, "apps must map"),
        ({"name": "HP", f"app:{GOPAY_MERCHANT}": "bitcoin"}, "must be one of"),
        ({"name": "HP", "other_package": "not a package", "other_channel": "ovo"}, "not an Android package name"),
    ],
)
def test_a_bad_form_is_shown_again_with_the_apis_reason_and_nothing_is_made(
    client: TestClient, db: Database, owner: users.NewUser, data: dict[str, str], said: str
) -> None:
    csrf = sign_in(client)
    with writes_nothing(db):
        response = client.post(SOURCES, data={"csrf_token": csrf, **data})
    assert response.status_code == 400
    assert said in response.text
    assert 'name="name"' in response.text  # the form again
    assert "data-secret" not in response.text


def test_the_list_shows_what_the_api_lists_with_health(
    client: TestClient, merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = merchant.test_api_key
    quiet = api_source(client, key, {OVO_APP: "ovo"})
    speaking = api_source(client, key, {GOPAY_MERCHANT: "gopay_qris"})
    beat = client.post(
        f"/v1/sources/{speaking['id']}/heartbeat",
        json={"forwarder": "kasir-forward/1.0", "queued": 3},
        headers={"Authorization": f"Bearer {speaking['token']}"},
    )
    assert beat.status_code == 200, beat.text
    sign_in(client)
    page = client.get(SOURCES)
    api = client.get("/v1/sources", headers=auth(key)).json()["data"]
    assert re.findall(r'data-source="([^"]+)"', page.text) == [s["id"] for s in api] == [quiet["id"], speaking["id"]]
    assert re.findall(r'data-state="([^"]+)"', page.text) == ["new", "live"]
    assert "kasir-forward/1.0" in page.text
    assert "belum pernah" in page.text
    assert api[1]["last_seen_at"] in page.text
    detail = client.get(f"{SOURCES}/{speaking['id']}")
    assert 'data-health="queued">3<' in detail.text
    assert "kasir-forward/1.0" in detail.text


def test_the_sources_page_lists_its_last_notifications_and_their_outcomes_paged(
    client: TestClient, merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = merchant.test_api_key
    source = api_source(client, key, {GOPAY_MERCHANT: "gopay_qris"})
    start = int(time.time() * 1000) - 60_000
    for i in range(22):
        assert notify(client, source["id"], source["token"], f"Rp {1000 + i} di Toko", start + i).status_code == 200
    odd = notify(client, source["id"], source["token"], "Sesuatu yang lain", start + 30)
    assert odd.json()["results"][0]["outcome"] == "unparsed"
    sign_in(client)
    first = client.get(f"{SOURCES}/{source['id']}")
    listed = client.get(f"/v1/sources/{source['id']}/notifications?limit=100", headers=auth(key)).json()["data"]
    ids = re.findall(r'data-notification="([^"]+)"', first.text)
    assert ids == [n["id"] for n in listed][:20]
    assert re.findall(r'data-outcome="([^"]+)"', first.text)[:2] == ["unparsed", "credited"]
    assert "tidak terbaca" in first.text
    assert "menjadi mutasi" in first.text
    assert f"/dashboard/reconciliation/sources/{source['id']}/notifications/{listed[0]['id']}" in first.text
    older = re.search(r'href="([^"]+\?before=[^"]+)"', first.text)
    assert older, "no link to the older notifications"
    second = client.get(older.group(1).replace("&amp;", "&"))
    assert re.findall(r'data-notification="([^"]+)"', second.text) == [n["id"] for n in listed][20:]
    assert 'data-state="live"' in first.text


def test_renaming_and_changing_apps(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    source = api_source(client, merchant.test_api_key, {GOPAY_MERCHANT: "gopay_qris"})
    csrf = sign_in(client)
    form = client.get(f"{SOURCES}/{source['id']}/edit")
    assert 'value="HP lain"' in form.text
    assert re.search(
        rf'name="app:{re.escape(GOPAY_MERCHANT)}">.*?<option value="gopay_qris" selected>', form.text, re.S
    )
    done = client.post(
        f"{SOURCES}/{source['id']}/edit",
        data={
            "csrf_token": csrf,
            "name": "HP belakang",
            f"app:{OVO_APP}": "ovo",
            "other_package": "com.example.kasir",
            "other_channel": "qris",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    shown = client.get(f"/v1/sources/{source['id']}", headers=auth(merchant.test_api_key)).json()["source"]
    assert (shown["name"], shown["apps"]) == ("HP belakang", {OVO_APP: "ovo", "com.example.kasir": "qris"})
    assert "Perubahan disimpan." in client.get(done.headers["location"]).text
    assert [line["action"] for line in audit_lines(db)] == ["change_source"]
    with writes_nothing(db):
        refused = client.post(f"{SOURCES}/{source['id']}/edit", data={"csrf_token": csrf, "name": "HP"})
    assert refused.status_code == 400
    assert "apps must map" in refused.text


def test_rotating_the_token_after_a_confirmation_shows_the_new_one_once_and_stops_the_old(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    source = api_source(client, merchant.test_api_key, {GOPAY_MERCHANT: "gopay_qris"})
    csrf = sign_in(client)
    with writes_nothing(db):
        confirm = client.get(f"{SOURCES}/{source['id']}/rotate")
    assert confirm.status_code == 200
    assert "Token lama langsung berhenti bekerja" in confirm.text
    rotated = client.post(f"{SOURCES}/{source['id']}/rotate", data={"csrf_token": csrf})
    assert rotated.status_code == 200
    token = secret(rotated.text, "token")
    assert token != source["token"]
    assert qr_text(rotated.text) == [f"http://kasir.test/v1/sources/{source['id']}#token={token}"]
    assert notify(client, source["id"], source["token"], "Rp 1.127 di Toko").status_code == 401
    assert notify(client, source["id"], token, "Rp 1.127 di Toko").status_code == 200
    assert token not in client.get(f"{SOURCES}/{source['id']}").text
    [line] = audit_lines(db)
    assert (line["action"], line["subject"], line["actor"]) == ("rotate_source_token", source["id"], EMAIL)


def test_deleting_a_source_after_a_confirmation(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    source = api_source(client, merchant.test_api_key, {GOPAY_MERCHANT: "gopay_qris"})
    csrf = sign_in(client)
    with writes_nothing(db):
        confirm = client.get(f"{SOURCES}/{source['id']}/delete")
    assert confirm.status_code == 200
    assert 'class="danger"' in confirm.text
    done = client.post(f"{SOURCES}/{source['id']}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert client.get(f"/v1/sources/{source['id']}", headers=auth(merchant.test_api_key)).status_code == 404
    page = client.get(done.headers["location"])
    assert f"Sumber {source['id']} dihapus." in page.text
    assert client.get(f"{SOURCES}/{source['id']}").status_code == 404
    [line] = audit_lines(db)
    assert (line["action"], line["subject"], line["actor"]) == ("delete_source", source["id"], EMAIL)


def test_another_merchants_and_the_other_modes_sources_are_404(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant, owner: users.NewUser
) -> None:
    theirs = api_source(client, other_merchant.test_api_key, {GOPAY_MERCHANT: "gopay_qris"})
    live = api_source(client, merchant.live_api_key, {GOPAY_MERCHANT: "gopay_qris"})
    csrf = sign_in(client)
    assert re.findall(r'data-source="([^"]+)"', client.get(SOURCES).text) == []
    for source_id in (theirs["id"], live["id"], "src_000000000000000000000000"):
        for suffix in ("", "/edit", "/rotate", "/delete"):
            assert client.get(f"{SOURCES}/{source_id}{suffix}").status_code == 404, suffix
        for suffix, data in (("/edit", {"name": "X", f"app:{OVO_APP}": "ovo"}), ("/rotate", {}), ("/delete", {})):
            with writes_nothing(db):
                response = client.post(f"{SOURCES}/{source_id}{suffix}", data={"csrf_token": csrf, **data})
            assert response.status_code == 404, suffix
            assert "Tidak ditemukan" in response.text


def test_without_the_csrf_token_nothing_changes(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    source = api_source(client, merchant.test_api_key, {GOPAY_MERCHANT: "gopay_qris"})
    with writes_nothing(db):
        assert client.post(SOURCES, data={"name": "HP", f"app:{OVO_APP}": "ovo"}).status_code == 403
    sign_in(client)
    attempts = [
        (SOURCES, {"name": "HP", f"app:{OVO_APP}": "ovo"}),
        (f"{SOURCES}/{source['id']}/edit", {"name": "HP", f"app:{OVO_APP}": "ovo"}),
        (f"{SOURCES}/{source['id']}/rotate", {}),
        (f"{SOURCES}/{source['id']}/delete", {}),
    ]
    for path, data in attempts:
        for token in ({}, {"csrf_token": "f" * 64}):
            with writes_nothing(db):
                response = client.post(path, data={**data, **token})
            assert response.status_code == 403, path
            assert "data-secret" not in response.text

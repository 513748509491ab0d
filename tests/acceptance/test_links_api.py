"""``/v1/links`` over HTTP (docs/links.md): create, list, get, change, deactivate, and the payments
made through a link.

Covered: a fixed-price and an open-amount link, by JSON and by form, with their URL and view;
each field's refusal (a 400 naming the field and saying why), the method's availability and the
goods' ids, every refusal writing nothing; listing newest first with pages and the active
filter; PATCH changes only what it sends (the price kind, the cap, the expiry, reactivating);
DELETE deactivates, twice is once, and the payments keep their link_id; another merchant's link
and the other mode's are 404, as are malformed ids; the payments' own views (check-payment, the
payment.paid event) carry the link's id, and a payment not made through a link says null.
Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.clock import to_wire, utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import events, payments
from kasir.links.service import Buyer, claim
from kasir.merchants.service import NewMerchant
from kasir.payments.views import PaymentRow
from tests.conftest import assert_error, auth, writes_nothing

LINKS = "/v1/links"


def create(client: TestClient, key: str, **fields: Any) -> dict[str, Any]:
    response = client.post(LINKS, headers=auth(key), json={"title": "Kopi Gayo 250 g", "amount": 85000, **fields})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return dict(body["link"])


def slug_of(link: dict[str, Any]) -> str:
    return str(link["url"].rsplit("/", 1)[1])


def buy(db: Database, settings: Settings, link: dict[str, Any], name: str = "Budi", **kw: Any) -> PaymentRow:
    return db.write_sync(lambda conn: claim(conn, slug_of(link), Buyer(name=name, **kw), settings, utcnow()))


def pay(client: TestClient, key: str, invoice: str) -> None:
    response = client.post(f"/v1/sandbox/payments/{invoice}/pay", headers=auth(key))
    assert response.status_code == 200, response.text


# --- creating ------------------------------------------------------------------------------------


def test_a_fixed_price_link(client: TestClient, merchant: NewMerchant, settings: Settings) -> None:
    link = create(client, merchant.test_api_key, description="Arabika, sangrai medium")
    assert link["id"].startswith("lnk_")
    assert len(link["id"]) == 28
    slug = slug_of(link)
    assert link["url"] == f"{settings.public_url}/l/{slug}"
    assert len(slug) == 16
    assert slug.isalnum()
    assert {k: link[k] for k in ("title", "description", "amount", "amount_min", "amount_max")} == {
        "title": "Kopi Gayo 250 g",
        "description": "Arabika, sangrai medium",
        "amount": 85000,
        "amount_min": None,
        "amount_max": None,
    }
    assert (link["reusable"], link["max_paid_uses"], link["payment_method"]) == (True, None, "qris")
    assert (link["active"], link["state"], link["expires_at"], link["redirect_url"]) == (True, "active", None, None)
    assert link["uses"] == {"paid": 0, "pending": 0, "remaining": None}
    assert link["paid_total"] == 0
    assert link["created_at"] == link["updated_at"]
    assert link["deactivated_at"] is None


def test_an_open_amount_link_by_form(client: TestClient, merchant: NewMerchant) -> None:
    later = utcnow() + timedelta(days=7)
    response = client.post(
        LINKS,
        headers=auth(merchant.test_api_key),
        data={
            "title": "Donasi masjid",
            "amount_min": "10000",
            "amount_max": "500000",
            "reusable": "true",
            "max_paid_uses": "100",
            "expires_at": str(int(later.timestamp())),
            "redirect_url": "https://masjid.test/terima-kasih",
        },
    )
    assert response.status_code == 200, response.text
    link = response.json()["link"]
    assert (link["amount"], link["amount_min"], link["amount_max"]) == (None, 10000, 500000)
    assert link["max_paid_uses"] == 100
    assert link["uses"]["remaining"] == 100
    assert link["expires_at"] == to_wire(later.replace(microsecond=0))
    assert link["redirect_url"] == "https://masjid.test/terima-kasih"


def test_a_single_use_link_has_one_use(client: TestClient, merchant: NewMerchant) -> None:
    link = create(client, merchant.test_api_key, reusable=False)
    assert (link["reusable"], link["max_paid_uses"], link["uses"]["remaining"]) == (False, 1, 1)


# Each field's refusal (tests/unit/links/test_link_fields.py has them all), and the goods' ids.
REFUSALS: list[tuple[dict[str, Any], str, str]] = [
    ({"title": ""}, "missing_title", "title"),
    ({"title": "x" * 201}, "title_too_long", "title"),
    ({"amount": "85.000"}, "invalid_amount", "amount"),
    ({"amount": 85000.0}, "invalid_amount", "amount"),
    ({"amount": None}, "missing_amount", "amount"),
    ({"amount": 500}, "amount_out_of_range", "amount"),
    ({"amount": 600000}, "amount_out_of_range", "amount"),
    ({"amount_min": 10000, "amount_max": 5000, "amount": None}, "invalid_amount_range", "amount_min"),
    ({"amount_min": 10000}, "amount_conflict", "amount"),
    ({"reusable": False, "max_paid_uses": 5}, "single_use_cap", "max_paid_uses"),
    ({"max_paid_uses": 0}, "invalid_max_paid_uses", "max_paid_uses"),
    ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at_past", "expires_at"),
    ({"expires_at": "next week"}, "invalid_expires_at", "expires_at"),
    ({"redirect_url": "javascript:alert(document.cookie)"}, "invalid_url", "redirect_url"),
    ({"redirect_url": "data:text/html,hi"}, "invalid_url", "redirect_url"),
    ({"payment_method": "bitcoin"}, "invalid_payment_method", "payment_method"),
    ({"file_id": 999}, "file_not_found", "file_id"),
    ({"content_id": 999}, "content_not_found", "content_id"),
    ({"product_image_id": 999}, "product_image_not_found", "product_image_id"),
    ({"slug": "mine"}, "unknown_field", "slug"),
]


def test_each_refusal_names_its_field_and_writes_nothing(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    with writes_nothing(db):
        for fields, code, field in REFUSALS:
            response = client.post(
                LINKS, headers=auth(merchant.test_api_key), json={"title": "Kopi", "amount": 85000, **fields}
            )
            assert_error(response, 400, code, field)


def test_control_characters_and_bad_bodies_are_refused(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    with writes_nothing(db):
        assert_error(
            client.post(LINKS, headers=auth(key), json={"title": "Kopi\u0000", "amount": 5000}),
            400,
            "control_character",
        )
        assert_error(
            client.post(LINKS, headers=auth(key), data={"title": "Kopi\x1b[31m", "amount": "5000"}),
            400,
            "control_character",
        )
        assert_error(client.post(LINKS, headers=auth(key), json=[1, 2]), 400, "invalid_json")
        assert_error(
            client.post(LINKS, headers={**auth(key), "Content-Type": "text/plain"}, content=b"title=x"),
            415,
            "unsupported_media_type",
        )
        assert_error(client.post(LINKS, json={"title": "Kopi", "amount": 5000}), 401, "missing_api_key")


def test_a_method_must_take_payments_for_this_merchant(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    with writes_nothing(db):
        response = client.post(
            LINKS,
            headers=auth(merchant.test_api_key),
            json={"title": "Kopi", "amount": 5000, "payment_method": "qris_user"},
        )
        assert_error(response, 403, "subscription_inactive", "payment_method")


def test_an_own_channel_method_with_its_ceiling(client: TestClient, subscribed_merchant: NewMerchant) -> None:
    link = create(client, subscribed_merchant.test_api_key, amount=2_500_000, payment_method="gopay_qris")
    assert (link["payment_method"], link["amount"]) == ("gopay_qris", 2_500_000)


def test_without_the_platform_qris_method_qris_is_refused(
    settings: Settings, db: Database, merchant: NewMerchant
) -> None:
    from kasir.app import create_app

    bare = settings.model_copy(update={"platform_qris": None})
    with TestClient(create_app(bare, database=db, background=False)) as client, writes_nothing(db):
        response = client.post(LINKS, headers=auth(merchant.test_api_key), json={"title": "Kopi", "amount": 5000})
        assert_error(response, 400, "payment_method_unavailable", "payment_method")


def test_the_goods_attach_when_they_are_the_merchants(
    client: TestClient, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    def content(key: str) -> int:
        made = client.post("/v1/contents", headers=auth(key), json={"title": "Resep", "type": "text", "content": "..."})
        assert made.status_code == 200, made.text
        return int(made.json()["content"]["id"])

    mine, theirs = content(merchant.test_api_key), content(other_merchant.test_api_key)
    assert create(client, merchant.test_api_key, content_id=mine)["content_id"] == mine
    refused = client.post(
        LINKS, headers=auth(merchant.test_api_key), json={"title": "Kopi", "amount": 5000, "content_id": theirs}
    )
    assert_error(refused, 400, "content_not_found", "content_id")


# --- reading ---------------------------------------------------------------------------------------


def test_the_list_is_newest_first_in_pages(client: TestClient, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    made = [create(client, key, title=f"Link {n}") for n in range(5)]
    client.delete(f"{LINKS}/{made[1]['id']}", headers=auth(key))
    first = client.get(LINKS, headers=auth(key), params={"limit": 2}).json()
    assert [link["title"] for link in first["data"]] == ["Link 4", "Link 3"]
    second = client.get(LINKS, headers=auth(key), params={"limit": 2, "before": first["next_before"]}).json()
    assert [link["title"] for link in second["data"]] == ["Link 2", "Link 1"]
    last = client.get(LINKS, headers=auth(key), params={"limit": 2, "before": second["next_before"]}).json()
    assert [link["title"] for link in last["data"]] == ["Link 0"]
    assert last["next_before"] is None
    active = client.get(LINKS, headers=auth(key), params={"active": "true"}).json()["data"]
    assert [link["title"] for link in active] == ["Link 4", "Link 3", "Link 2", "Link 0"]
    inactive = client.get(LINKS, headers=auth(key), params={"active": "false"}).json()["data"]
    assert [(link["title"], link["state"]) for link in inactive] == [("Link 1", "inactive")]
    assert_error(client.get(LINKS, headers=auth(key), params={"limit": "101"}), 400, "invalid_parameter", "limit")
    assert_error(client.get(LINKS, headers=auth(key), params={"limit": "x"}), 400, "invalid_parameter", "limit")
    assert_error(client.get(LINKS, headers=auth(key), params={"active": "maybe"}), 400, "invalid_parameter", "active")
    assert_error(client.get(LINKS, headers=auth(key), params={"before": "lnk_nope"}), 404, "link_not_found")


def test_another_merchants_link_and_the_other_modes_are_404(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    link = create(client, merchant.test_api_key)
    path = f"{LINKS}/{link['id']}"
    with writes_nothing(db):
        for key in (other_merchant.test_api_key, merchant.live_api_key):
            assert_error(client.get(path, headers=auth(key)), 404, "link_not_found")
            assert_error(client.patch(path, headers=auth(key), json={"title": "Punyaku"}), 404, "link_not_found")
            assert_error(client.delete(path, headers=auth(key)), 404, "link_not_found")
            assert_error(client.get(f"{path}/payments", headers=auth(key)), 404, "link_not_found")
            assert client.get(LINKS, headers=auth(key)).json()["data"] == []
        for bad in ("lnk_000000000000000000000000", "1", "lnk_" + "a" * 300):
            assert_error(client.get(f"{LINKS}/{bad}", headers=auth(merchant.test_api_key)), 404, "link_not_found")
        assert_error(client.get(f"{LINKS}/lnk_%00", headers=auth(merchant.test_api_key)), 400, "control_character")


def test_the_uses_and_the_money_follow_the_payments(
    client: TestClient, db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    key = merchant.test_api_key
    link = create(client, key, max_paid_uses=3)
    first = buy(db, settings, link, name="Ani", phone="6281234567890")
    buy(db, settings, link, name="Budi")
    pay(client, key, first["invoice_id"])
    shown = client.get(f"{LINKS}/{link['id']}", headers=auth(key)).json()["link"]
    assert shown["uses"] == {"paid": 1, "pending": 1, "remaining": 1}
    assert shown["paid_total"] == first["final_amount"]
    listed = client.get(f"{LINKS}/{link['id']}/payments", headers=auth(key)).json()
    assert [(p["customer_name"], p["status"]) for p in listed["data"]] == [("Budi", "pending"), ("Ani", "paid")]
    assert listed["data"][1]["customer_phone"] == "6281234567890"
    assert listed["pagination"] == {"page": 1, "limit": 20, "total": 2, "total_pages": 1}
    page_two = client.get(f"{LINKS}/{link['id']}/payments", headers=auth(key), params={"limit": 1, "page": 2}).json()
    assert [p["customer_name"] for p in page_two["data"]] == ["Ani"]


def test_the_payments_views_name_their_link(
    client: TestClient, db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    key = merchant.test_api_key
    link = create(client, key)
    made = buy(db, settings, link)
    checked = client.get("/api/check-payment.php", headers=auth(key), params={"invoice": made["invoice_id"]}).json()
    assert checked["link_id"] == link["id"]
    assert (
        client.get(f"/v1/payments/{made['invoice_id']}", headers=auth(key)).json()["payment"]["link_id"] == link["id"]
    )
    pay(client, key, made["invoice_id"])
    payload = db.read_sync(
        lambda conn: conn.execute(
            sa.select(events.c.payload)
            .join(payments, payments.c.id == events.c.payment_id)
            .where(payments.c.invoice_id == made["invoice_id"], events.c.type == "payment.paid")
        ).scalar_one()
    )
    assert json.loads(payload)["link_id"] == link["id"]
    # A payment made by create-payment is no link's: null, and create-payment cannot claim one.
    plain = client.post(
        "/api/create-payment.php", headers=auth(key), json={"amount": 5000, "link_id": link["id"]}
    ).json()["payment"]
    assert plain["link_id"] is None


# --- changing ---------------------------------------------------------------------------------------


def test_patch_changes_only_what_it_sends(client: TestClient, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    link = create(client, key, description="Arabika", max_paid_uses=10)
    path = f"{LINKS}/{link['id']}"
    renamed = client.patch(path, headers=auth(key), json={"title": "Kopi Gayo 500 g"}).json()["link"]
    assert renamed["title"] == "Kopi Gayo 500 g"
    assert {k: renamed[k] for k in ("description", "amount", "max_paid_uses", "url")} == {
        k: link[k] for k in ("description", "amount", "max_paid_uses", "url")
    }
    opened = client.patch(path, headers=auth(key), json={"amount_min": 5000, "amount_max": 50000}).json()["link"]
    assert (opened["amount"], opened["amount_min"], opened["amount_max"]) == (None, 5000, 50000)
    uncapped = client.patch(path, headers=auth(key), data={"max_paid_uses": ""}).json()["link"]
    assert uncapped["max_paid_uses"] is None
    single = client.patch(path, headers=auth(key), json={"reusable": False}).json()["link"]
    assert (single["reusable"], single["max_paid_uses"]) == (False, 1)
    off = client.patch(path, headers=auth(key), json={"active": False}).json()["link"]
    assert (off["active"], off["state"]) == (False, "inactive")
    assert off["deactivated_at"] is not None
    on = client.patch(path, headers=auth(key), json={"active": True}).json()["link"]
    assert (on["active"], on["state"], on["deactivated_at"]) == (True, "active", None)


def test_patch_refusals_change_nothing(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    link = create(client, key)
    path = f"{LINKS}/{link['id']}"
    with writes_nothing(db):
        assert_error(client.patch(path, headers=auth(key), json={}), 400, "nothing_to_change")
        assert_error(
            client.patch(path, headers=auth(key), json={"amount_max": 90000}), 400, "missing_amount", "amount_min"
        )
        assert_error(client.patch(path, headers=auth(key), json={"title": None}), 400, "missing_title", "title")
        assert_error(
            client.patch(path, headers=auth(key), json={"payment_method": "ovo"}), 403, "subscription_inactive"
        )
        assert_error(client.patch(path, headers=auth(key), json={"url": "https://x.test"}), 400, "unknown_field", "url")


def test_delete_deactivates_and_the_payments_keep_their_link(
    client: TestClient, db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    key = merchant.test_api_key
    link = create(client, key)
    made = buy(db, settings, link)
    gone = client.delete(f"{LINKS}/{link['id']}", headers=auth(key)).json()["link"]
    assert (gone["active"], gone["state"]) == (False, "inactive")
    again = client.delete(f"{LINKS}/{link['id']}", headers=auth(key)).json()["link"]
    assert again["deactivated_at"] == gone["deactivated_at"]
    assert client.get(f"{LINKS}/{link['id']}", headers=auth(key)).json()["link"]["id"] == link["id"]
    checked = client.get("/api/check-payment.php", headers=auth(key), params={"invoice": made["invoice_id"]}).json()
    assert (checked["link_id"], checked["status"]) == (link["id"], "pending")
    assert client.get(f"/l/{slug_of(link)}").status_code == 410

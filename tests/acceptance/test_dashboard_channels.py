"""The dashboard's channels over HTTP: the merchant's own static QRIS (pasted, or a photo of it)
and OVO number, previewed before saving and saved through ``configure_merchant``.

Covered: a photo of a real static QRIS (a published GoPay one, tests/fixtures/qris, printed on a
card and photographed on a table) shows its merchant name, city, NMID, acquirer and that it is
static before anything is saved; the confirmation saves it (the API's account status says so)
with an audit line; a pasted QRIS the same; a dynamic QRIS, a wrong CRC, another acquirer's
QRIS, an image with no QR, a QR that is no QRIS, a file that is no image, too large an image,
nothing, or both, each refused with its reason on the page and nothing saved; the confirmation
checks the QRIS again (a hidden field changed to a dynamic QRIS, or emptied, is refused); the OVO
number; disconnecting after a confirmation; a cashier and a developer get 403 and change
nothing; no CSRF token, no change. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import io
import json
import random
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from kasir.app import create_app
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import audit_log
from kasir.merchants.service import NewMerchant, configure_merchant, get_merchant
from kasir.qris.image import read_qris, render_png
from kasir.team import users
from tests.conftest import auth, writes_nothing
from tests.dashboard_helpers import EMAIL, PASSWORD, csrf_of
from tests.qris_helpers import wrong_crc

CHANNELS = "/dashboard/channels"
PREVIEW = f"{CHANNELS}/preview"
FIXTURES: dict[str, list[dict[str, Any]]] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "qris" / "public_qris.json").read_text(encoding="utf-8")
)


def published(merchant_name: str, *, static: bool) -> str:
    """A QRIS published by its merchant (tests/fixtures/qris/public_qris.json)."""
    return str(
        next(c["qris"] for c in FIXTURES["valid"] if c["merchant_name"] == merchant_name and c["static"] is static)
    )


# A GoPay Merchant static QRIS: Kantin Ibu Lilik, Jakarta Pusat, NMID ID1019000002328.
GOPAY_STATIC = published("Kantin Ibu Lilik", static=True)
GOPAY_NMID = "ID1019000002328"
# The QR of one payment (Rp 39.000 at Starbucks), also acquired by GoPay.
GOPAY_DYNAMIC = published("Starbucks ", static=False)
DANA_STATIC = published("Warung Sayur Bu Sugeng", static=True)


@cache
def photo_of_qris(qris: str) -> bytes:
    """``qris`` as a phone photographs it at the counter, as a PNG: printed on a card under a red
    band, held at a slant (a perspective and a rotation), lying on a grainy wooden table under
    uneven light, with sensor noise and a slight blur."""
    rng = random.Random(19)
    with Image.open(io.BytesIO(render_png(qris, 600))) as printed:
        qr = printed.convert("RGB")
    card = Image.new("RGBA", (qr.width + 80, qr.height + 200), (250, 248, 242, 255))
    ImageDraw.Draw(card).rectangle((0, 0, card.width, 110), fill=(200, 30, 45, 255))
    card.paste(qr, (40, 140))
    width, height = card.size
    slant = (-40, 0, -10, height, width + 10, height, width + 40, 0)  # the top edge farther away
    card = card.transform(card.size, Image.Transform.QUAD, slant, Image.Resampling.BICUBIC)
    card = card.rotate(7, resample=Image.Resampling.BICUBIC, expand=True)
    card = card.resize((card.width * 3 // 5, card.height * 3 // 5), Image.Resampling.BILINEAR)
    w, h = 1280, 960
    grain = Image.frombytes("L", (w, h), rng.randbytes(w * h)).filter(ImageFilter.GaussianBlur(1.5))
    table = Image.composite(Image.new("RGB", (w, h), (146, 104, 66)), Image.new("RGB", (w, h), (112, 78, 48)), grain)
    table.paste(card, (rng.randint(150, w - card.width - 100), rng.randint(40, h - card.height - 40)), card)
    gradient = Image.linear_gradient("L")
    light = ImageChops.multiply(gradient.resize((w, h)), gradient.rotate(90).resize((w, h)))
    light = light.point(lambda v: 255 - (255 - v) // 3)
    lit = ImageChops.multiply(table, Image.merge("RGB", (light, light, light)))
    noise = Image.frombytes("L", (w, h), rng.randbytes(w * h)).point(lambda v: 118 + v // 24)
    lit = ImageChops.add(lit, Image.merge("RGB", (noise, noise, noise)), offset=-128)
    out = io.BytesIO()
    lit.filter(ImageFilter.GaussianBlur(0.9)).save(out, "PNG")
    return out.getvalue()


def no_qr_photo() -> bytes:
    """A photo of a table with nothing on it."""
    rng = random.Random(4)
    out = io.BytesIO()
    Image.frombytes("L", (640, 480), rng.randbytes(640 * 480)).filter(ImageFilter.GaussianBlur(2)).save(out, "JPEG")
    return out.getvalue()


def png_of(text: str) -> bytes:
    return render_png(text, 400)


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


def sign_in(client: TestClient, email: str = EMAIL, page: str = CHANNELS) -> str:
    response = client.post("/dashboard/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get(page).text)


def preview_photo(client: TestClient, csrf: str, photo: bytes, channel: str = "qris_gopay", **extra: str) -> Any:
    return client.post(
        PREVIEW,
        data={"csrf_token": csrf, "channel": channel, "qris": "", **extra},
        files={"image": ("qris.png", photo, "image/png")},
    )


def preview_text(client: TestClient, csrf: str, qris: str, channel: str = "qris_gopay") -> Any:
    # Multipart, as the browser sends the form, with the file input left empty.
    return client.post(
        PREVIEW,
        data={"csrf_token": csrf, "channel": channel, "qris": qris},
        files={"image": ("", b"", "application/octet-stream")},
    )


def channel_of(db: Database, merchant: NewMerchant, column: str) -> Any:
    return db.read_sync(lambda conn: get_merchant(conn, merchant.id))[column]


def audit_lines(db: Database) -> list[dict[str, Any]]:
    return db.read_sync(
        lambda conn: [dict(row) for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings()]
    )


def fact(html: str, name: str) -> str:
    marker = f'data-fact="{name}">'
    start = html.index(marker) + len(marker)
    return html[start : html.index("</dd>", start)]


def test_photo_of_a_static_qris_shows_what_it_reads_then_saves(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    photo = photo_of_qris(GOPAY_STATIC)
    assert read_qris(photo) == GOPAY_STATIC
    csrf = sign_in(client)
    page = client.get(CHANNELS)
    assert 'data-channel="qris_gopay"' in page.text
    assert 'enctype="multipart/form-data"' in page.text

    with writes_nothing(db):
        shown = preview_photo(client, csrf, photo)
    assert shown.status_code == 200, shown.text
    assert "Kantin Ibu Lilik" in shown.text
    assert fact(shown.text, "merchant_name") == "Kantin Ibu Lilik"
    assert fact(shown.text, "merchant_city") == "Jakarta Pusat 10310"
    assert fact(shown.text, "nmid") == GOPAY_NMID
    assert fact(shown.text, "acquirer") == "GoPay"
    assert "Statis" in fact(shown.text, "kind")
    assert 'data-preview="ok"' in shown.text
    assert "data:image/png;base64," in shown.text
    assert channel_of(db, merchant, "qris_gopay") is None

    saved = client.post(
        f"{CHANNELS}/qris_gopay", data={"csrf_token": csrf, "qris": GOPAY_STATIC}, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    assert channel_of(db, merchant, "qris_gopay") == GOPAY_STATIC
    # Saved where the API reads it.
    status = client.get("/api/get-account-status.php", headers=auth(merchant.test_api_key)).json()
    assert status["integrations"]["gopay"] is True
    [line] = audit_lines(db)
    assert (line["action"], line["subject"], line["actor"]) == ("set_channel", "qris_gopay", EMAIL)
    assert json.loads(line["details"]) == {
        "merchant_name": "Kantin Ibu Lilik",
        "merchant_city": "Jakarta Pusat",
        "nmid": GOPAY_NMID,
        "acquirers": ["GoPay"],
    }
    after = client.get(saved.headers["location"])
    assert 'data-notice="saved"' in after.text
    assert "Kantin Ibu Lilik" in after.text
    assert 'data-state="connected"' in after.text


def test_pasted_qris_is_previewed_the_same_way(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    csrf = sign_in(client)
    with writes_nothing(db):
        shown = preview_text(client, csrf, f"  {GOPAY_STATIC}\n")
    assert shown.status_code == 200, shown.text
    assert fact(shown.text, "merchant_name") == "Kantin Ibu Lilik"
    assert f'name="qris" value="{GOPAY_STATIC}"' in shown.text  # cleaned of the pasted whitespace
    # English too.
    english = client.post(
        f"{PREVIEW}?lang=en", data={"csrf_token": csrf, "channel": "qris_gopay", "qris": GOPAY_STATIC}
    )
    assert "Check the GoPay QRIS" in english.text
    assert "Static" in fact(english.text, "kind")


REFUSALS: dict[str, tuple[dict[str, Any], int, str, str]] = {
    # (what is sent, status, the refusal's code, words the page shows); images are made when used
    "dynamic": ({"qris": GOPAY_DYNAMIC}, 400, "qris_not_static", "QRIS ini dinamis"),
    "dynamic-photo": ({"image": lambda: photo_of_qris(GOPAY_DYNAMIC)}, 400, "qris_not_static", "QRIS ini dinamis"),
    "wrong-crc": ({"qris": wrong_crc(GOPAY_STATIC)}, 400, "qris_crc_mismatch", "CRC QRIS ini salah"),
    "other-acquirer": ({"qris": DANA_STATIC}, 400, "qris_wrong_acquirer", "bukan QRIS GoPay"),
    "no-qr-in-photo": ({"image": no_qr_photo}, 400, "qr_not_found", "Tidak ada kode QR"),
    "qr-not-qris": ({"image": lambda: png_of("https://toko.test/menu")}, 400, "not_qris", "Ini bukan QRIS"),
    "not-an-image": ({"image": lambda: b"%PDF-1.7 a menu, not a photo"}, 400, "image_unreadable", "bukan gambar"),
    "not-a-qris": ({"qris": "kopi gayo 250 g"}, 400, "not_qris", "Ini bukan QRIS"),
    "nothing": ({"qris": "  "}, 400, "missing_qris", "Tempel teks QRIS"),
    "both": ({"qris": GOPAY_STATIC, "image": lambda: png_of(GOPAY_STATIC)}, 400, "ambiguous_qris", "jangan keduanya"),
}


def test_refusals_show_their_reason_and_save_nothing(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    csrf = sign_in(client)  # once: a sign-in is an Argon2 hash
    for case, (sent, status, code, words) in REFUSALS.items():
        data = {"csrf_token": csrf, "channel": "qris_gopay", "qris": sent.get("qris", "")}
        files = {"image": ("qris.png", sent["image"]() if "image" in sent else b"", "image/png")}
        with writes_nothing(db):
            refused = client.post(PREVIEW, data=data, files=files)
        assert refused.status_code == status, (case, refused.text)
        assert f'data-refusal="{code}"' in refused.text, case
        assert words in refused.text, case
        assert "Tidak ada yang disimpan" in refused.text, case
        assert 'data-action="confirm"' not in refused.text, case  # no way to save it from here
    assert channel_of(db, merchant, "qris_gopay") is None


def test_a_dynamic_qris_still_shows_what_it_is(client: TestClient, db: Database, owner: users.NewUser) -> None:
    csrf = sign_in(client)
    refused = preview_text(client, csrf, GOPAY_DYNAMIC)
    assert refused.status_code == 400
    assert fact(refused.text, "merchant_name") == "Starbucks"
    assert "Dinamis · Rp 39.000" in fact(refused.text, "kind")


def test_too_large_an_image_is_refused(settings: Settings, db: Database, owner: users.NewUser) -> None:
    small = settings.model_copy(update={"max_qr_image_bytes": 1024 * 1024})
    with TestClient(create_app(small, database=db, background=False)) as client:
        csrf = sign_in(client)
        photo = photo_of_qris(GOPAY_STATIC)
        assert small.max_qr_image_bytes < len(photo) < small.max_qr_image_bytes + 64 * 1024  # within the body limit
        with writes_nothing(db):
            refused = preview_photo(client, csrf, photo)
        assert refused.status_code == 413, refused.text
        assert 'data-refusal="image_too_large"' in refused.text
        assert "paling besar 1 MB" in refused.text
        # Beyond the body limit of the path, the request is not even read.
        with writes_nothing(db):
            huge = preview_photo(client, csrf, photo + bytes(200 * 1024))
        assert huge.status_code == 413


def test_the_confirmation_checks_the_qris_again(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    csrf = sign_in(client)
    assert client.post(f"{CHANNELS}/qris_gopay", data={"csrf_token": csrf, "qris": GOPAY_STATIC}).status_code == 200
    # The hidden field changed after the preview: refused as if it had been pasted.
    for qris, code in [
        (GOPAY_DYNAMIC, "qris_not_static"),
        (wrong_crc(GOPAY_STATIC), "qris_crc_mismatch"),
        (DANA_STATIC, "qris_wrong_acquirer"),
        ("", "missing_qris"),  # an empty field does not disconnect the channel
    ]:
        with writes_nothing(db):
            refused = client.post(f"{CHANNELS}/qris_gopay", data={"csrf_token": csrf, "qris": qris})
        assert refused.status_code == 400, (code, refused.text)
        assert f'data-refusal="{code}"' in refused.text
    assert channel_of(db, merchant, "qris_gopay") == GOPAY_STATIC
    # The BRI channel takes BRI QRIS only: a GoPay one is refused there.
    with writes_nothing(db):
        refused = client.post(f"{CHANNELS}/qris_bri", data={"csrf_token": csrf, "qris": GOPAY_STATIC})
    assert 'data-refusal="qris_wrong_acquirer"' in refused.text
    assert "bukan QRIS BRI" in refused.text


def test_ovo_number(client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser) -> None:
    csrf = sign_in(client)
    saved = client.post(
        f"{CHANNELS}/ovo_number", data={"csrf_token": csrf, "ovo_number": "+62 812-3456-7890"}, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    assert channel_of(db, merchant, "ovo_number") == "081234567890"
    assert 'value="081234567890"' in client.get(CHANNELS).text
    for given, code in [("12345", "invalid_phone"), (" ", "missing_ovo")]:
        with writes_nothing(db):
            refused = client.post(f"{CHANNELS}/ovo_number", data={"csrf_token": csrf, "ovo_number": given})
        assert refused.status_code == 400
        assert f'data-refusal="{code}"' in refused.text
    assert channel_of(db, merchant, "ovo_number") == "081234567890"
    [line] = audit_lines(db)
    assert (line["action"], line["subject"], json.loads(line["details"])) == (
        "set_channel",
        "ovo_number",
        {"ovo_number": "081234567890"},
    )


def test_disconnecting_a_channel_asks_first(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    db.write_sync(lambda conn: configure_merchant(conn, merchant.username, qris_gopay=GOPAY_STATIC))
    csrf = sign_in(client)
    assert 'href="/dashboard/channels/qris_gopay/remove"' in client.get(CHANNELS).text
    with writes_nothing(db):
        asked = client.get(f"{CHANNELS}/qris_gopay/remove")
    assert asked.status_code == 200
    assert "Lepas kanal GoPay QRIS?" in asked.text
    done = client.post(f"{CHANNELS}/qris_gopay/remove", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert channel_of(db, merchant, "qris_gopay") is None
    [line] = audit_lines(db)
    assert (line["action"], line["subject"]) == ("clear_channel", "qris_gopay")
    assert 'data-notice="removed"' in client.get(done.headers["location"]).text
    # No such channel: 404, nothing changes.
    with writes_nothing(db):
        assert client.post(f"{CHANNELS}/qris_dana/remove", data={"csrf_token": csrf}).status_code == 404
        assert (
            client.post(PREVIEW, data={"csrf_token": csrf, "channel": "ovo_number", "qris": GOPAY_STATIC}).status_code
            == 404
        )


@pytest.fixture
def staff(db: Database, merchant: NewMerchant) -> None:
    db.write_sync(
        lambda conn: [
            users.create_user(conn, merchant.username, f"{role}@toko.test", utcnow(), role=role, password=PASSWORD)
            for role in ("cashier", "developer")
        ]
    )


@pytest.mark.parametrize("role", ["cashier", "developer"])
def test_only_the_owner_may_touch_the_channels(
    role: str, client: TestClient, db: Database, merchant: NewMerchant, staff: None
) -> None:
    db.write_sync(lambda conn: configure_merchant(conn, merchant.username, qris_gopay=GOPAY_STATIC))
    csrf = sign_in(client, f"{role}@toko.test", page="/dashboard")
    assert 'href="/dashboard/channels"' not in client.get("/dashboard").text  # not offered
    with writes_nothing(db):
        page = client.get(CHANNELS)
        assert page.status_code == 403
        assert GOPAY_STATIC not in page.text
        assert client.get(f"{CHANNELS}/qris_gopay/remove").status_code == 403
        assert preview_photo(client, csrf, photo_of_qris(GOPAY_STATIC)).status_code == 403
        assert client.post(f"{CHANNELS}/qris_gopay", data={"csrf_token": csrf, "qris": GOPAY_STATIC}).status_code == 403
        assert (
            client.post(f"{CHANNELS}/ovo_number", data={"csrf_token": csrf, "ovo_number": "081234567890"}).status_code
            == 403
        )
        assert client.post(f"{CHANNELS}/qris_gopay/remove", data={"csrf_token": csrf}).status_code == 403


def test_no_csrf_token_no_change(client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser) -> None:
    sign_in(client)
    with writes_nothing(db):
        assert client.post(f"{CHANNELS}/qris_gopay", data={"qris": GOPAY_STATIC}).status_code == 403
        assert client.post(f"{CHANNELS}/qris_gopay", data={"qris": GOPAY_STATIC, "csrf_token": "x"}).status_code == 403
        assert client.post(f"{CHANNELS}/ovo_number", data={"ovo_number": "081234567890"}).status_code == 403
    # Signed out: nothing either.
    client.cookies.clear()
    with writes_nothing(db):
        assert client.post(f"{CHANNELS}/qris_gopay", data={"qris": GOPAY_STATIC}).status_code == 403
        assert client.get(CHANNELS, follow_redirects=False).status_code == 303

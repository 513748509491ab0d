"""The dashboard's digital goods over HTTP: files uploaded by a multipart form, hidden contents
created, product photos uploaded and shown as thumbnails from /media, each listed with whether it
is active, and deactivated after a confirmation.

Covered: what the form uploads is what the API lists (the type sniffed from the bytes, the name
cleaned), with an audit line; an upload over the size limit (the service's and the body's), an
empty one, a photo of a wrong type or not a photo at all, a content the catalog refuses: each is
refused with its reason and leaves no row and no blob; deactivating (once, audited) and what the
API lists then; another merchant's and the other mode's items are 404; no CSRF token, no change;
a cashier may not open the page nor post to it, a developer may. Every test runs on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image

from kasir.app import create_app
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import audit_log
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.conftest import auth, writes_nothing
from tests.dashboard_helpers import EMAIL, PASSWORD, csrf_of

GOODS = "/dashboard/goods"
CASHIER = "kasir@toko.test"
DEVELOPER = "dev@toko.test"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


@pytest.fixture
def make_client(settings: Settings, db: Database) -> Iterator[Callable[..., TestClient]]:
    """Another app on the same database and media folder, with small upload limits."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            app = create_app(settings.model_copy(update=overrides), database=db, background=False)
            return stack.enter_context(TestClient(app))

        yield make


def sign_in(client: TestClient, email: str = EMAIL) -> str:
    response = client.post("/dashboard/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get(GOODS).text)


def media_files(settings: Settings) -> list[Path]:
    root = settings.resolved_media_dir
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, fmt)
    return out.getvalue()


def post_file(client: TestClient, csrf: str | None, data: bytes, name: str = "ebook.pdf", **fields: str) -> Any:
    form = {**({"csrf_token": csrf} if csrf is not None else {}), **fields}
    return client.post(
        f"{GOODS}/files", data=form, files={"file": (name, data, "application/pdf")}, follow_redirects=False
    )


def post_image(client: TestClient, csrf: str | None, data: bytes, name: str = "kopi.png") -> Any:
    form = {"csrf_token": csrf} if csrf is not None else {}
    return client.post(f"{GOODS}/images", data=form, files={"image": (name, data, "image/png")}, follow_redirects=False)


def post_content(client: TestClient, csrf: str, **fields: str) -> Any:
    return client.post(f"{GOODS}/contents", data={"csrf_token": csrf, **fields}, follow_redirects=False)


def api_list(client: TestClient, key: str, what: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/{what}", headers=auth(key), params={"active_only": "false"})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def audit_lines(db: Database) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    def read(conn: sa.Connection) -> list[tuple[str, str, str, dict[str, Any] | None]]:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings()
        return [
            (r["action"], r["subject"], r["actor"], json.loads(r["details"]) if r["details"] else None) for r in rows
        ]

    return db.read_sync(read)


def refusal(html: str) -> str:
    found = re.search(r'data-testid="refused" data-code="([^"]+)">([^<]*)<', html)
    assert found, "no refusal on the page"
    return f"{found.group(1)}: {found.group(2)}"


# --- files -----------------------------------------------------------------------------------------


def test_an_uploaded_file_is_listed_as_the_api_lists_it(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, owner: users.NewUser
) -> None:
    csrf = sign_in(client)
    response = post_file(client, csrf, PDF, "../../etc/Ebook Resep.pdf")
    assert response.status_code == 303
    assert response.headers["location"] == f"{GOODS}?done=files#files"
    [listed] = api_list(client, merchant.test_api_key, "files")
    assert (listed["filename"], listed["content_type"], listed["size"], listed["active"]) == (
        "Ebook Resep.pdf",
        "application/pdf",
        len(PDF),
        True,
    )
    page = client.get(f"{GOODS}?done=files").text
    assert "File diunggah." in page
    item = re.search(rf'<li data-id="{listed["id"]}">(.*?)</li>', page, re.DOTALL)
    assert item, "the file is not listed"
    assert "Ebook Resep.pdf" in item.group(1)
    assert 'data-active="true"' in item.group(1)
    assert f'href="{GOODS}/files/{listed["id"]}/deactivate"' in item.group(1)
    assert len(media_files(settings)) == 1
    assert audit_lines(db) == [("file.add", f"file:{listed['id']}", EMAIL, {"name": "Ebook Resep.pdf"})]


def test_html_named_pdf_is_recorded_as_plain_text_and_the_name_field_wins(
    client: TestClient, merchant: NewMerchant, owner: users.NewUser
) -> None:
    csrf = sign_in(client)
    assert post_file(client, csrf, HTML, "ebook.pdf", filename="Panduan <Kopi>.pdf").status_code == 303
    [listed] = api_list(client, merchant.test_api_key, "files")
    assert listed["content_type"] == "text/plain; charset=utf-8"
    assert listed["filename"] == "Panduan Kopi.pdf"
    assert "Panduan Kopi.pdf" in client.get(GOODS).text


def test_a_file_over_the_limit_is_refused_with_its_reason_and_leaves_nothing(
    make_client: Callable[..., TestClient],
    db: Database,
    settings: Settings,
    merchant: NewMerchant,
    owner: users.NewUser,
) -> None:
    small = make_client(max_file_bytes=1024, max_image_bytes=1024)
    csrf = sign_in(small)
    with writes_nothing(db):
        response = post_file(small, csrf, PDF + b"x" * 1024)
        assert response.status_code == 413
        assert refusal(response.text) == "file_too_large: the file is larger than 1024 bytes"
        assert 'data-testid="file-form"' in response.text  # the page, to try again
        # Far past the form's limit: the body is refused before it is read.
        assert post_file(small, csrf, b"x" * (200 * 1024)).status_code == 413
    assert media_files(settings) == []
    # Exactly the limit is fine.
    assert post_file(small, csrf, PDF + b"x" * (1024 - len(PDF))).status_code == 303


def test_an_empty_or_missing_file_is_refused(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, owner: users.NewUser
) -> None:
    csrf = sign_in(client)
    with writes_nothing(db):
        empty = post_file(client, csrf, b"")
        assert empty.status_code == 400
        assert refusal(empty.text) == "file_empty: the file is empty"
        # The browser's empty file field: a part without a file name.
        missing = client.post(f"{GOODS}/files", data={"csrf_token": csrf}, files={"file": ("", b"", "")})
        assert missing.status_code == 400
        assert refusal(missing.text).startswith("missing_file:")
    assert media_files(settings) == []


# --- photos ----------------------------------------------------------------------------------------


def test_a_photo_is_shown_by_its_thumbnail_from_media(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    csrf = sign_in(client)
    assert post_image(client, csrf, image_bytes("PNG", (800, 600))).status_code == 303
    [listed] = api_list(client, merchant.test_api_key, "images")
    assert (listed["filename"], listed["width"], listed["height"], listed["active"]) == ("kopi.png", 800, 600, True)
    page = client.get(GOODS).text
    public_id = listed["thumbnail_url"].rsplit("/", 1)[1]
    assert f'src="/media/{public_id}"' in page
    thumb = client.get(f"/media/{public_id}")
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/webp"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 400
    assert audit_lines(db) == [("image.add", f"image:{listed['id']}", EMAIL, {"name": "kopi.png"})]


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (image_bytes("GIF"), "image_unsupported_format: images must be JPEG, PNG or WebP, not GIF"),
        (image_bytes("BMP"), "image_unsupported_format: images must be JPEG, PNG or WebP, not BMP"),
        (PDF, "image_unreadable: the bytes are not a readable JPEG, PNG or WebP image"),
    ],
)
def test_a_photo_of_a_wrong_type_is_refused_with_its_reason(
    client: TestClient,
    db: Database,
    settings: Settings,
    merchant: NewMerchant,
    owner: users.NewUser,
    data: bytes,
    said: str,
) -> None:
    csrf = sign_in(client)
    with writes_nothing(db):
        response = post_image(client, csrf, data)
    assert response.status_code == 400
    assert refusal(response.text).startswith(said)
    assert media_files(settings) == []


def test_a_photo_over_the_limit_is_413(
    make_client: Callable[..., TestClient],
    db: Database,
    settings: Settings,
    merchant: NewMerchant,
    owner: users.NewUser,
) -> None:
    small = make_client(max_file_bytes=1024, max_image_bytes=1024)
    csrf = sign_in(small)
    with writes_nothing(db):
        response = post_image(small, csrf, image_bytes("PNG") + b"\0" * 1024)
    assert response.status_code == 413
    assert refusal(response.text) == "image_too_large: the image is larger than 1024 bytes"
    assert media_files(settings) == []


# --- contents --------------------------------------------------------------------------------------


def test_a_content_is_created_and_listed_without_its_text(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    csrf = sign_in(client)
    response = post_content(client, csrf, title="Kode lisensi", type="license_key", content="KOPI-1234-RAHASIA")
    assert response.status_code == 303
    [listed] = api_list(client, merchant.test_api_key, "contents")
    assert (listed["title"], listed["type"], listed["active"]) == ("Kode lisensi", "license_key", True)
    shown = client.get(f"/v1/contents/{listed['id']}", headers=auth(merchant.test_api_key)).json()["content"]
    assert shown["content"] == "KOPI-1234-RAHASIA"
    page = client.get(GOODS).text
    assert "Kode lisensi" in page
    assert "kunci lisensi" in page
    assert "KOPI-1234-RAHASIA" not in page  # what the buyer pays for is not on the list
    assert audit_lines(db) == [("content.add", f"content:{listed['id']}", EMAIL, {"name": "Kode lisensi"})]


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"title": "", "type": "text", "content": "isi"}, "missing_title: title is required"),
        ({"title": "Tautan", "type": "link", "content": "javascript:alert(1)"}, "invalid_url: a link must be"),
        ({"title": "Apa", "type": "video", "content": "isi"}, "invalid_type: type must be one of"),
        ({"title": "Kosong", "type": "text", "content": "  "}, "missing_content: content is required"),
    ],
)
def test_a_content_the_catalog_refuses_comes_back_with_its_reason_and_values(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser, fields: dict[str, str], said: str
) -> None:
    csrf = sign_in(client)
    with writes_nothing(db):
        response = post_content(client, csrf, **fields)
    assert response.status_code == 400
    assert refusal(response.text).startswith(said)
    if fields["title"]:
        assert f'value="{fields["title"]}"' in response.text


# --- deactivating ----------------------------------------------------------------------------------


def make_items(client: TestClient, csrf: str) -> None:
    assert post_file(client, csrf, PDF).status_code == 303
    assert (
        post_content(client, csrf, title="Tautan kelas", type="link", content="https://kelas.test/x").status_code == 303
    )
    assert post_image(client, csrf, image_bytes()).status_code == 303


@pytest.mark.parametrize(("kind", "what"), [("files", "file"), ("contents", "content"), ("images", "image")])
def test_deactivating_after_a_confirmation_once_and_audited(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser, kind: str, what: str
) -> None:
    csrf = sign_in(client)
    make_items(client, csrf)
    [item] = api_list(client, merchant.test_api_key, kind)
    confirm = client.get(f"{GOODS}/{kind}/{item['id']}/deactivate")
    assert confirm.status_code == 200
    assert 'data-testid="deactivate-form"' in confirm.text
    done = client.post(f"{GOODS}/{kind}/{item['id']}/deactivate", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"{GOODS}?done=deactivated#{kind}"
    [after] = api_list(client, merchant.test_api_key, kind)
    assert after["active"] is False
    assert client.get(f"/v1/{kind}", headers=auth(merchant.test_api_key)).json()["data"] == []  # active only
    page = client.get(GOODS).text
    row = re.search(rf'<li data-id="{item["id"]}" class="inactive">(.*?)</li>', page, re.DOTALL)
    assert row, "the item is not listed as inactive"
    assert 'data-active="false"' in row.group(1)
    assert "deactivate" not in row.group(1)
    # Twice is once: no second line.
    again = client.post(f"{GOODS}/{kind}/{item['id']}/deactivate", data={"csrf_token": csrf})
    assert again.status_code == 200
    lines = [line for line in audit_lines(db) if line[0].endswith(".deactivate")]
    assert [(a, s, who) for a, s, who, _ in lines] == [(f"{what}.deactivate", f"{what}:{item['id']}", EMAIL)]
    assert 'data-testid="deactivate-form"' not in client.get(f"{GOODS}/{kind}/{item['id']}/deactivate").text


def test_another_merchant_s_and_the_other_mode_s_items_are_404(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant, owner: users.NewUser
) -> None:
    # Theirs, made over the API.
    theirs = client.post("/v1/files", headers=auth(other_merchant.test_api_key), files={"file": ("x.pdf", PDF)})
    their_id = theirs.json()["file"]["id"]
    csrf = sign_in(client)
    make_items(client, csrf)
    assert "x.pdf" not in client.get(GOODS).text
    with writes_nothing(db):
        assert client.get(f"{GOODS}/files/{their_id}/deactivate").status_code == 404
        assert client.post(f"{GOODS}/files/{their_id}/deactivate", data={"csrf_token": csrf}).status_code == 404
        for path in ("files/99999999999999999999", "files/-1", "files/1e3", "songs/1"):
            assert client.get(f"{GOODS}/{path}/deactivate").status_code == 404, path
            assert client.post(f"{GOODS}/{path}/deactivate", data={"csrf_token": csrf}).status_code == 404, path
    # Ours, seen in live mode.
    ours = api_list(client, merchant.test_api_key, "files")[0]["id"]
    assert client.post("/dashboard/mode", data={"csrf_token": csrf, "mode": "live"}).status_code == 200
    assert "ebook.pdf" not in client.get(GOODS).text
    with writes_nothing(db):
        assert client.post(f"{GOODS}/files/{ours}/deactivate", data={"csrf_token": csrf}).status_code == 404
    assert api_list(client, merchant.test_api_key, "files")[0]["active"] is True


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_without_this_session_s_csrf_token_nothing_changes(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, owner: users.NewUser, token: str | None
) -> None:
    csrf = sign_in(client)
    assert post_file(client, csrf, PDF).status_code == 303
    [item] = api_list(client, merchant.test_api_key, "files")
    blobs = media_files(settings)
    with writes_nothing(db):
        assert post_file(client, token, PDF + b"other").status_code == 403
        assert post_image(client, token, image_bytes()).status_code == 403
        data = {} if token is None else {"csrf_token": token}
        assert client.post(f"{GOODS}/contents", data={**data, "title": "t", "content": "c"}).status_code == 403
        assert client.post(f"{GOODS}/files/{item['id']}/deactivate", data=data).status_code == 403
    assert media_files(settings) == blobs


def test_a_cashier_may_not_use_the_page_and_a_developer_may(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    for email, role in ((CASHIER, "cashier"), (DEVELOPER, "developer")):

        def add_user(conn: sa.Connection, e: str = email, r: str = role) -> users.NewUser:
            return users.create_user(conn, merchant.username, e, utcnow(), role=r, password=PASSWORD)

        db.write_sync(add_user)
    response = client.post("/dashboard/login", data={"email": CASHIER, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303
    page = client.get(GOODS)
    assert page.status_code == 403
    assert "Peran Anda tidak boleh" in page.text
    csrf = csrf_of(client.get("/dashboard/orders").text)
    assert f'href="{GOODS}"' not in client.get("/dashboard/orders").text  # not in the navigation
    with writes_nothing(db):
        assert post_file(client, csrf, PDF).status_code == 403
        assert post_content(client, csrf, title="t", type="text", content="c").status_code == 403
    assert media_files(settings) == []
    client.cookies.clear()
    csrf = sign_in(client, DEVELOPER)
    assert post_file(client, csrf, PDF).status_code == 303
    assert [line[2] for line in audit_lines(db)] == [DEVELOPER]


def test_the_page_speaks_english_too(client: TestClient, merchant: NewMerchant, owner: users.NewUser) -> None:
    sign_in(client)
    page = client.get(GOODS, params={"lang": "en"}).text
    assert "Digital goods" in page
    assert "Upload the photo" in page
    assert "Hidden contents" in page

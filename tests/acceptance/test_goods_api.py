"""Digital goods end to end (issue 6): files, hidden contents and product photos uploaded and
listed through the API, checked by create-payment, and delivered to the buyer through the pay
page, the status JSON, ``/download/<token>`` and ``/media/<public_id>.webp``.

Everything is observed through HTTP answers, the database and the media folder. Every test runs
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import io
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import ExifTags, Image

from kasir.app import create_app
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import download_grants, payments
from kasir.merchants.service import NewMerchant
from tests.conftest import LiveServer, assert_error, auth, row_counts, table_dump, writes_nothing

CREATE = "/api/create-payment.php"
FILES = "/v1/files"
CONTENTS = "/v1/contents"
IMAGES = "/v1/images"
LISTS = {"file": "/api/list-files.php", "content": "/api/list-contents.php", "image": "/api/list-images.php"}
V1 = {"file": FILES, "content": CONTENTS, "image": IMAGES}
# What create-payment calls each kind, and the code a wrong id answers there.
ATTACH = {
    "file": ("file_id", "file_not_found"),
    "content": ("content_id", "content_not_found"),
    "image": ("product_image_id", "product_image_not_found"),
}
# The 404 code of deactivating an id that is not the caller's.
NOT_FOUND = {"file": "file_not_found", "content": "content_not_found", "image": "image_not_found"}

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><head><title>x</title></head><body><script>alert(document.cookie)</script></body></html>"

# Written here, not imported from kasir.clock: the tests must not share the code under test.
WIB = timezone(timedelta(hours=7))


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def make_client(settings: Settings, db: Database) -> Iterator[Callable[..., TestClient]]:
    """Another app on the same database and media folder, with some settings changed
    (small upload limits, another download limit)."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            app = create_app(settings.model_copy(update=overrides), database=db, background=False)
            return stack.enter_context(TestClient(app))

        yield make


@pytest.fixture
def lenient(client: TestClient) -> TestClient:
    """The same running app, but a crash answers 500 instead of raising in the test."""
    return TestClient(client.app, raise_server_exceptions=False)


def media_files(settings: Settings) -> list[Path]:
    """Every file in the media folder (blobs and any temporary leftovers)."""
    root = settings.resolved_media_dir
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def upload(
    client: TestClient,
    key: str,
    data: bytes,
    name: str = "ebook.pdf",
    content_type: str = "application/pdf",
    **fields: str,
) -> httpx.Response:
    """POST /v1/files: ``data`` as the multipart part ``file`` named ``name``; ``fields`` as
    further form fields."""
    response: httpx.Response = client.post(
        FILES, headers=auth(key), files={"file": (name, data, content_type)}, data=fields or None
    )
    return response


def uploaded(client: TestClient, key: str, data: bytes = PDF, name: str = "ebook.pdf", **kwargs: Any) -> dict[str, Any]:
    response = upload(client, key, data, name, **kwargs)
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    return dict(response.json()["file"])


def upload_image(
    client: TestClient, key: str, data: bytes, filename: str = "product.jpg", content_type: str = "image/jpeg"
) -> httpx.Response:
    response: httpx.Response = client.post(IMAGES, headers=auth(key), files={"image": (filename, data, content_type)})
    return response


def uploaded_image(client: TestClient, key: str, data: bytes, filename: str = "product.jpg") -> dict[str, Any]:
    response = upload_image(client, key, data, filename)
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    return dict(response.json()["image"])


def new_content(client: TestClient, key: str, **fields: Any) -> httpx.Response:
    response: httpx.Response = client.post(CONTENTS, headers=auth(key), json=fields)
    return response


def created_content(
    client: TestClient, key: str, title: str = "Kode lisensi", kind: str = "text", body: str | None = None
) -> dict[str, Any]:
    response = new_content(client, key, title=title, type=kind, content=body or f"SECRET-{secrets.token_hex(8)}")
    assert response.status_code == 200, response.text
    return dict(response.json()["content"])


def image_bytes(
    size: tuple[int, int] = (64, 48), fmt: str = "JPEG", mode: str = "RGB", color: Any = (200, 40, 40), **save: Any
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt, **save)
    return out.getvalue()


def noisy_jpeg(size: tuple[int, int] = (96, 96)) -> bytes:
    """A JPEG that does not compress: a few kilobytes even when small."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(out, "JPEG", quality=95)
    return out.getvalue()


def make_item(client: TestClient, key: str, kind: str) -> int:
    """A new active file, content or image of the key's merchant and mode; its id."""
    if kind == "file":
        return int(uploaded(client, key, PDF + secrets.token_bytes(8))["id"])
    if kind == "content":
        return int(created_content(client, key)["id"])
    return int(uploaded_image(client, key, image_bytes())["id"])


def deactivate(client: TestClient, key: str, kind: str, item_id: int) -> httpx.Response:
    response: httpx.Response = client.post(f"{V1[kind]}/{item_id}/deactivate", headers=auth(key))
    return response


def listing(client: TestClient, key: str, kind: str, **params: str) -> list[dict[str, Any]]:
    response = client.get(LISTS[kind], headers=auth(key), params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return list(body["data"])


def create(client: TestClient, key: str, amount: int = 25000, **fields: Any) -> dict[str, Any]:
    response = client.post(CREATE, headers=auth(key), json={"amount": amount, **fields})
    assert response.status_code == 200, response.text
    return dict(response.json()["payment"])


def pay(client: TestClient, key: str, invoice: str) -> None:
    response = client.post(f"/v1/sandbox/payments/{invoice}/pay", headers=auth(key))
    assert response.status_code == 200, response.text
    assert response.json()["payment"]["status"] == "paid"


def status(client: TestClient, invoice: str) -> dict[str, Any]:
    response = client.get("/pay/status", params={"invoice": invoice})
    assert response.status_code == 200, response.text
    return dict(response.json()["payment"])


def page(client: TestClient, invoice: str) -> str:
    # starlette types TestClient over httpx2, which is not installed (it runs on httpx): its answers are Any to mypy
    response: httpx.Response = client.get("/pay", params={"invoice": invoice})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def paid_download(client: TestClient, key: str, file_id: int) -> tuple[str, dict[str, Any]]:
    """A payment of the file, paid; its invoice and the download link /pay/status shows."""
    invoice = create(client, key, file_id=file_id)["invoice_id"]
    pay(client, key, invoice)
    link = status(client, invoice)["download"]
    assert link is not None
    return invoice, dict(link)


def grants(db: Database) -> list[dict[str, Any]]:
    rows = db.read_sync(lambda conn: conn.execute(sa.select(download_grants)).mappings().all())
    return [dict(row) for row in rows]


def wire(moment: datetime) -> str:
    """How the API shows a moment: WIB wall time."""
    return moment.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S")


def path_of(url: str) -> str:
    return urlsplit(url).path


# --- file uploads ---------------------------------------------------------------------------


def test_a_pdf_named_txt_is_stored_and_served_as_pdf(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """The type comes from the bytes: a PDF named x.txt, sent as text/plain, is application/pdf,
    listed in seed 004's shape, stored once under its SHA-256, and downloads as a PDF."""
    key = merchant.test_api_key
    file = uploaded(client, key, PDF, "x.txt", content_type="text/plain")
    assert file["content_type"] == "application/pdf"
    assert file["filename"] == "x.txt"
    assert file["size"] == len(PDF)
    assert file["active"] is True
    assert isinstance(file["id"], int)
    [blob] = media_files(settings)
    assert blob.read_bytes() == PDF
    assert blob.name == file["sha256"]

    [listed] = listing(client, key, "file")
    assert list(listed)[:4] == ["id", "filename", "size", "active"]  # seed 004's fields first
    assert {k: listed[k] for k in ("id", "filename", "size", "active")} == {
        "id": file["id"],
        "filename": "x.txt",
        "size": len(PDF),
        "active": True,
    }

    _, link = paid_download(client, key, file["id"])
    response = client.get(link["url"])
    assert response.status_code == 200, response.text
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_html_named_pdf_is_stored_and_served_as_plain_text(client: TestClient, merchant: NewMerchant) -> None:
    """HTML bytes named ebook.pdf and claimed as application/pdf are text/plain, never text/html;
    the download is an attachment with nosniff, so it never renders on Kasir's origin."""
    key = merchant.test_api_key
    file = uploaded(client, key, HTML, "ebook.pdf", content_type="application/pdf")
    assert file["content_type"].startswith("text/plain"), file
    assert "html" not in file["content_type"]

    _, link = paid_download(client, key, file["id"])
    response = client.get(link["url"])
    assert response.status_code == 200, response.text
    assert response.content == HTML
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    assert "html" not in response.headers["content-type"]
    assert response.headers["content-disposition"].startswith("attachment")
    assert "ebook.pdf" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_an_empty_file_is_refused(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    before = row_counts(db)
    assert_error(upload(client, merchant.test_api_key, b"", "empty.pdf"), 400, "file_empty", "file")
    assert row_counts(db) == before


def test_an_empty_file_leaves_no_blob_behind(client: TestClient, settings: Settings, merchant: NewMerchant) -> None:
    assert_error(upload(client, merchant.test_api_key, b"", "empty.pdf"), 400, "file_empty")
    assert media_files(settings) == []


def test_a_file_over_max_file_bytes_is_413_and_leaves_nothing(
    make_client: Callable[..., TestClient], db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """Just over the limit (refused while streaming), far over it (refused by Content-Length) and
    far over it chunked (no length to check up front): 413 each time, no row, no file in the media
    folder. Exactly the limit is accepted."""
    small = make_client(max_file_bytes=1024, max_image_bytes=1024)
    key = merchant.test_api_key
    before = row_counts(db)

    response = upload(small, key, PDF + b"x" * (1025 - len(PDF)))
    assert response.status_code == 413, response.text
    assert response.json()["success"] is False
    assert response.json()["code"] == "file_too_large"

    response = upload(small, key, PDF + b"x" * 200_000)
    assert response.status_code == 413, response.text
    assert response.json()["success"] is False

    boundary = "kasirboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        f"Content-Type: application/pdf\r\n\r\n".encode()
        + PDF
        + b"y" * 200_000
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 16384):
            yield body[start : start + 16384]

    response = small.post(
        FILES,
        headers={**auth(key), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=chunks(),
    )
    assert response.status_code == 413, response.text
    assert response.json()["success"] is False

    assert row_counts(db) == before
    assert media_files(settings) == []

    exact = uploaded(small, key, PDF + b"z" * (1024 - len(PDF)))
    assert exact["size"] == 1024


def test_missing_file_field_is_missing_file(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """No part named ``file`` (a text field only, or ``file`` as text rather than a file, or no
    body): 400 missing_file; a file under another name is refused too. Nothing is written."""
    key = merchant.test_api_key
    with writes_nothing(db):
        assert_error(
            client.post(FILES, headers=auth(key), files={"filename": (None, "ebook.pdf")}), 400, "missing_file", "file"
        )
        assert_error(
            client.post(FILES, headers=auth(key), files={"file": (None, "not a file")}), 400, "missing_file", "file"
        )
        assert_error(client.post(FILES, headers=auth(key)), 400, "missing_file", "file")
        response = client.post(FILES, headers=auth(key), files={"upload": ("ebook.pdf", PDF, "application/pdf")})
        assert response.status_code == 400, response.text
        assert response.json()["success"] is False


def test_a_json_body_is_a_clear_4xx(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    with writes_nothing(db):
        response = client.post(FILES, headers=auth(key), json={"file": "JVBERi0xLjcK", "filename": "ebook.pdf"})
        body = assert_error(response, 400, "missing_file", "file")
        assert "multipart" in body["error"]
        response = client.post(FILES, headers={**auth(key), "Content-Type": "application/octet-stream"}, content=PDF)
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["success"] is False


def test_uploads_need_an_api_key(client: TestClient, db: Database) -> None:
    with writes_nothing(db):
        response = client.post(FILES, files={"file": ("ebook.pdf", PDF, "application/pdf")})
        assert response.status_code == 401, response.text
        assert response.json()["success"] is False
        assert client.get(LISTS["file"]).status_code == 401


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/var/www/evil.pdf", "evil.pdf"),
        ("..", "file"),
        ("a<b>c|d.pdf", "abcd.pdf"),
    ],
)
def test_path_traversal_in_the_filename_is_cleaned(
    client: TestClient, settings: Settings, merchant: NewMerchant, sent: str, expected: str
) -> None:
    """Only the last path component of the multipart filename survives, without angle brackets
    or pipes; the bytes land in the media folder under their hash whatever the name."""
    key = merchant.test_api_key
    file = uploaded(client, key, PDF, sent, content_type="application/pdf")
    assert file["filename"] == expected
    assert "/" not in file["filename"]
    assert "\\" not in file["filename"]
    assert all(path.is_relative_to(settings.resolved_media_dir) for path in media_files(settings))
    assert [path.name for path in media_files(settings)] == [file["sha256"]]

    _, link = paid_download(client, key, file["id"])
    response = client.get(link["url"])
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert "\r" not in disposition
    assert "\n" not in disposition
    assert "/" not in disposition
    assert ".." not in disposition.replace(expected, "")


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("../private/Buku Resep.pdf", "Buku Resep.pdf"),
        ('report"\r\nX-Injected: 1<x>.pdf', "reportX-Injected 1x.pdf"),
        ("  ...  ", "file"),
    ],
)
def test_the_filename_field_overrides_the_upload_name_and_is_cleaned(
    client: TestClient, merchant: NewMerchant, sent: str, expected: str
) -> None:
    """The optional ``filename`` field (sent as is, unlike a multipart filename that clients
    percent-encode) names the file: cleaned of paths, quotes and control characters."""
    key = merchant.test_api_key
    file = uploaded(client, key, PDF, "scan0001.tmp", filename=sent)
    assert file["filename"] == expected
    assert file["content_type"] == "application/pdf"
    _, link = paid_download(client, key, file["id"])
    disposition = client.get(link["url"]).headers["content-disposition"]
    assert disposition.startswith("attachment")
    assert "\r" not in disposition
    assert "\n" not in disposition
    assert disposition.count('"') in (0, 2)


# --- product images -------------------------------------------------------------------------


def fetch_webp(client: TestClient, url: str) -> tuple[Image.Image, bytes]:
    response = client.get(path_of(url))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["x-content-type-options"] == "nosniff"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    assert image.format == "WEBP"
    return image, response.content


@pytest.mark.parametrize(
    ("fmt", "filename"), [("JPEG", "product.jpg"), ("PNG", "product.png"), ("WEBP", "product.webp")]
)
def test_an_accepted_image_is_served_as_webp_with_its_recorded_size(
    client: TestClient, settings: Settings, merchant: NewMerchant, fmt: str, filename: str
) -> None:
    """A large JPEG, PNG or WebP is scaled to fit 1600 px, re-encoded as WebP and served at its
    url with the width and height recorded; its thumbnail is smaller still."""
    key = merchant.test_api_key
    image = uploaded_image(client, key, image_bytes((2000, 1000), fmt), filename)
    assert image["filename"] == filename
    assert image["active"] is True
    assert (image["width"], image["height"]) == (1600, 800)
    assert image["url"].startswith(f"{settings.public_url}/media/img_")
    assert image["url"].endswith(".webp")
    assert image["thumbnail_url"] != image["url"]

    full, full_bytes = fetch_webp(client, image["url"])
    assert full.size == (image["width"], image["height"])
    assert image["size"] == len(full_bytes)
    thumb, thumb_bytes = fetch_webp(client, image["thumbnail_url"])
    assert thumb.width < full.width
    assert thumb.height < full.height
    assert max(thumb.size) <= 400
    assert len(thumb_bytes) < len(full_bytes)

    [listed] = listing(client, key, "image")
    assert list(listed)[:4] == ["id", "filename", "url", "active"]  # seed 004's fields first
    assert (listed["id"], listed["url"], listed["active"]) == (image["id"], image["url"], True)
    assert not any(path.name.startswith(".upload-") for path in media_files(settings))


def test_a_png_keeps_its_transparency(client: TestClient, merchant: NewMerchant) -> None:
    picture = Image.new("RGBA", (60, 40), (0, 0, 0, 0))
    picture.paste((20, 160, 60, 255), (30, 0, 60, 40))
    out = io.BytesIO()
    picture.save(out, "PNG")
    image = uploaded_image(client, merchant.test_api_key, out.getvalue(), "logo.png")
    assert (image["width"], image["height"]) == (60, 40)
    served, _ = fetch_webp(client, image["url"])
    assert served.mode == "RGBA"
    transparent, opaque = served.getpixel((5, 20)), served.getpixel((50, 20))
    assert isinstance(transparent, tuple)  # a pixel of RGBA is a tuple of its four bands
    assert isinstance(opaque, tuple)
    assert transparent[3] < 16  # transparent half
    assert opaque[3] > 240  # opaque half


def test_exif_with_gps_is_dropped(client: TestClient, merchant: NewMerchant) -> None:
    """A phone photo carrying the shop's GPS position comes back with no EXIF at all, in the
    photo and in its thumbnail."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "KasirTestCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLatitude] = (6.0, 10.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (106.0, 49.0, 10.0)
    data = image_bytes((80, 60), "JPEG", exif=exif)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the upload has it

    image = uploaded_image(client, merchant.test_api_key, data)
    for url in (image["url"], image["thumbnail_url"]):
        served, raw = fetch_webp(client, url)
        assert "exif" not in served.info
        assert len(served.getexif()) == 0
        assert b"Exif" not in raw
        assert b"KasirTestCam" not in raw


def test_exif_orientation_is_applied(client: TestClient, merchant: NewMerchant) -> None:
    """A 40×20 photo tagged "rotate 90° clockwise" (orientation 6) is stored standing up, 20×40,
    its left (red) half on top."""
    picture = Image.new("RGB", (40, 20), (0, 0, 255))
    picture.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif, quality=95)
    image = uploaded_image(client, merchant.test_api_key, out.getvalue())
    assert (image["width"], image["height"]) == (20, 40)
    served, _ = fetch_webp(client, image["url"])
    assert served.size == (20, 40)
    top, bottom = served.convert("RGB").getpixel((10, 5)), served.convert("RGB").getpixel((10, 35))
    assert isinstance(top, tuple)  # a pixel of RGB is a tuple of its three bands
    assert isinstance(bottom, tuple)
    assert top[0] > 200, top  # red
    assert top[2] < 60, top
    assert bottom[2] > 200, bottom  # blue
    assert bottom[0] < 60, bottom
    assert len(served.getexif()) == 0


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_image_formats_are_refused(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, fmt: str
) -> None:
    data = image_bytes((32, 32), fmt)
    with writes_nothing(db):
        assert_error(
            upload_image(client, merchant.test_api_key, data, "product.jpg"), 400, "image_unsupported_format", "image"
        )
    assert media_files(settings) == []


@pytest.mark.parametrize("kind", ["random", "truncated", "pdf"])
def test_unreadable_images_are_refused(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, kind: str
) -> None:
    data = {
        "random": os.urandom(4096),
        "truncated": noisy_jpeg()[:600],
        "pdf": PDF,
    }[kind]
    with writes_nothing(db):
        assert_error(upload_image(client, merchant.test_api_key, data), 400, "image_unreadable", "image")
    assert media_files(settings) == []


def test_an_image_over_max_image_bytes_is_413(
    make_client: Callable[..., TestClient], db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    small = make_client(max_file_bytes=1024, max_image_bytes=1024)
    data = noisy_jpeg()
    assert len(data) > 1024
    with writes_nothing(db):
        response = upload_image(small, merchant.test_api_key, data)
        assert_error(response, 413, "image_too_large")
        response = upload_image(small, merchant.test_api_key, data * 100)  # over the body limit too
        assert response.status_code == 413, response.text
    assert media_files(settings) == []


def test_an_image_of_too_many_pixels_is_413(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A small file that decodes to 7100×7100 pixels (50.4 million) is refused before decoding."""
    data = image_bytes((7100, 7100), "PNG", mode="1", color=0)
    assert len(data) < 100_000
    with writes_nothing(db):
        assert_error(upload_image(client, merchant.test_api_key, data, "bomb.png", "image/png"), 413, "image_too_large")


def test_image_upload_without_an_image_is_refused(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    with writes_nothing(db):
        assert_error(client.post(IMAGES, headers=auth(key), json={"image": "aGVsbG8="}), 400, "missing_image", "image")
        assert_error(upload_image(client, key, b""), 400, "image_empty", "image")


def test_a_phone_jpeg_with_a_second_picture_is_accepted(client: TestClient, merchant: NewMerchant) -> None:
    first, second = Image.new("RGB", (64, 48), (200, 40, 40)), Image.new("RGB", (64, 48), (40, 40, 200))
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second])
    data = out.getvalue()
    assert data[:3] == b"\xff\xd8\xff"  # a JPEG file, as any .jpg from the phone
    response = upload_image(client, merchant.test_api_key, data, "IMG_0001.jpg")
    assert response.status_code == 200, response.text
    assert (response.json()["image"]["width"], response.json()["image"]["height"]) == (64, 48)


# --- hidden contents ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("text", "Terima kasih! Kode voucher: HEMAT-2025"),
        ("link", "https://drive.example.com/share/abc123"),
        ("license_key", "ABCD-EFGH-IJKL-MNOP"),
    ],
)
def test_create_hidden_content(client: TestClient, merchant: NewMerchant, kind: str, body: str) -> None:
    """Each type is created and answered with its body; list-contents shows it in seed 004's
    shape without the body; GET /v1/contents/{id} has the body."""
    key = merchant.test_api_key
    created = created_content(client, key, title="Produk A", kind=kind, body=body)
    assert (created["title"], created["type"], created["content"], created["active"]) == ("Produk A", kind, body, True)

    response = client.get(LISTS["content"], headers=auth(key))
    assert response.status_code == 200
    [listed] = response.json()["data"]
    assert list(listed)[:4] == ["id", "title", "type", "active"]
    assert "content" not in listed
    assert "body" not in listed
    assert body not in response.text

    response = client.get(CONTENTS, headers=auth(key))
    assert body not in response.text

    one = client.get(f"{CONTENTS}/{created['id']}", headers=auth(key))
    assert one.status_code == 200, one.text
    assert one.json()["content"]["content"] == body


def test_content_type_defaults_to_text_and_form_bodies_work(client: TestClient, merchant: NewMerchant) -> None:
    response = client.post(CONTENTS, headers=auth(merchant.test_api_key), data={"title": "Catatan", "content": "isi"})
    assert response.status_code == 200, response.text
    assert response.json()["content"]["type"] == "text"


BAD_LINKS = (
    "javascript:alert(1)",
    "JavaScript:alert(document.domain)",
    "  javascript:alert(1)",
    "java\tscript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "ftp://files.example.com/a.zip",
    "//evil.example.com/x",
    "https://",
    "not a url",
)


def test_a_link_must_be_http_or_https(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A link is shown as <a href> on the pay page: anything but an http(s) URL with a host is
    400 invalid_url (a control character in it, 400 control_character, refused before any
    route reads it), and nothing is written."""
    with writes_nothing(db):
        for link in BAD_LINKS:
            response = new_content(client, merchant.test_api_key, title="Link", type="link", content=link)
            assert response.status_code == 400, (link, response.text)
            code = "control_character" if link.startswith("\x01") else "invalid_url"
            assert_error(response, 400, code, "content")


CONTENT_ERRORS: tuple[tuple[dict[str, Any], str, str], ...] = (
    ({"type": "text", "content": "x"}, "missing_title", "title"),
    ({"title": "   ", "content": "x"}, "missing_title", "title"),
    ({"title": "T", "type": "text"}, "missing_content", "content"),
    ({"title": "T", "content": "  "}, "missing_content", "content"),
    ({"title": "T", "type": "html", "content": "x"}, "invalid_type", "type"),
    ({"title": "x" * 201, "content": "x"}, "title_too_long", "title"),
    ({"title": "T", "content": "x" * 20_001}, "content_too_long", "content"),
)


def test_content_field_errors(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    with writes_nothing(db):
        for fields, code, field in CONTENT_ERRORS:
            response = new_content(client, merchant.test_api_key, **fields)
            assert response.status_code == 400, (fields, response.text)
            assert_error(response, 400, code, field)


def test_one_content_is_readable_only_by_its_owner_and_mode(
    client: TestClient, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    content = created_content(client, merchant.test_api_key, body="RAHASIA-123")
    for key in (other_merchant.test_api_key, merchant.live_api_key):
        response = client.get(f"{CONTENTS}/{content['id']}", headers=auth(key))
        assert_error(response, 404, "content_not_found")
        assert "RAHASIA-123" not in response.text
    assert_error(client.get(f"{CONTENTS}/424242", headers=auth(merchant.test_api_key)), 404, "content_not_found")


# --- lists and deactivation -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "content", "image"])
def test_active_only_after_deactivation(
    client: TestClient, merchant: NewMerchant, other_merchant: NewMerchant, kind: str
) -> None:
    """After deactivating one of two items: the default and active_only=true list the active one;
    active_only=false lists both (the deactivated one as active: false). Other merchants' and the
    other mode's items never appear. An active_only that is not a boolean is 400."""
    key = merchant.test_api_key
    gone, kept = make_item(client, key, kind), make_item(client, key, kind)
    make_item(client, other_merchant.test_api_key, kind)
    make_item(client, merchant.live_api_key, kind)

    response = deactivate(client, key, kind, gone)
    assert response.status_code == 200, response.text
    assert response.json()[kind]["active"] is False
    again = deactivate(client, key, kind, gone)  # twice is the same as once
    assert again.status_code == 200, again.text
    assert again.json()[kind]["active"] is False

    for params in ({}, {"active_only": "true"}, {"active_only": "1"}, {"active_only": ""}):
        assert [item["id"] for item in listing(client, key, kind, **params)] == [kept], params
    for params in ({"active_only": "false"}, {"active_only": "0"}):
        everything = listing(client, key, kind, **params)
        assert [(item["id"], item["active"]) for item in everything] == [(gone, False), (kept, True)], params

    # The same list under the other paths.
    for path in (LISTS[kind].removesuffix(".php"), V1[kind]):
        response = client.get(path, headers=auth(key), params={"active_only": "false"})
        assert response.status_code == 200, response.text
        assert [item["id"] for item in response.json()["data"]] == [gone, kept]
    # The apiKey query parameter (seed 004) works as well as the header.
    response = client.get(LISTS[kind], params={"apiKey": key})
    assert [item["id"] for item in response.json()["data"]] == [kept]

    assert_error(client.get(LISTS[kind], headers=auth(key), params={"active_only": "maybe"}), 400, "invalid_parameter")


@pytest.mark.parametrize("kind", ["file", "content", "image"])
def test_deactivating_someone_elses_item_is_404(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant, kind: str
) -> None:
    theirs = make_item(client, other_merchant.test_api_key, kind)
    live = make_item(client, merchant.live_api_key, kind)
    key = merchant.test_api_key
    with writes_nothing(db):
        assert_error(deactivate(client, key, kind, theirs), 404, NOT_FOUND[kind])
        assert_error(deactivate(client, key, kind, live), 404, NOT_FOUND[kind])  # the other mode's
        assert_error(deactivate(client, key, kind, 424242), 404, NOT_FOUND[kind])
    assert [item["id"] for item in listing(client, other_merchant.test_api_key, kind)] == [theirs]


@pytest.mark.parametrize("kind", ["file", "content", "image"])
def test_a_huge_id_is_404_not_500(lenient: TestClient, db: Database, merchant: NewMerchant, kind: str) -> None:
    """An id beyond 64 bits in the path names nothing: 404, like any other unknown id
    (deactivate for each kind, and GET /v1/contents/{id})."""
    huge = 99999999999999999999
    with writes_nothing(db):
        assert_error(deactivate(lenient, merchant.test_api_key, kind, huge), 404, NOT_FOUND[kind])
        if kind == "content":
            response = lenient.get(f"{CONTENTS}/{huge}", headers=auth(merchant.test_api_key))
            assert_error(response, 404, "content_not_found")


# --- create-payment checks the ids ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["file", "content", "image"])
@pytest.mark.parametrize("case", ["other_merchant", "deactivated", "other_mode", "nonexistent"])
def test_create_payment_refuses_an_id_that_is_not_an_active_item_of_yours(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant, kind: str, case: str
) -> None:
    """Another merchant's item, a deactivated one, one of the live mode for a test key, and an id
    that was never issued: the same 400 with the field's code, and nothing is written."""
    key = merchant.test_api_key
    make_item(client, key, kind)  # the merchant has a good one too: the check is per id
    if case == "other_merchant":
        item_id = make_item(client, other_merchant.test_api_key, kind)
    elif case == "deactivated":
        item_id = make_item(client, key, kind)
        assert deactivate(client, key, kind, item_id).status_code == 200
    elif case == "other_mode":
        item_id = make_item(client, merchant.live_api_key, kind)
    else:
        item_id = 424242
    field, code = ATTACH[kind]
    before = row_counts(db)
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth(key), json={"amount": 25000, field: item_id})
        assert_error(response, 400, code, field)
        # As a form field (string id), the same.
        response = client.post(CREATE, headers=auth(key), data={"amount": "25000", field: str(item_id)})
        assert_error(response, 400, code, field)
    assert row_counts(db) == before


@pytest.mark.parametrize("kind", ["file", "content", "image"])
def test_a_live_key_cannot_use_a_test_item(client: TestClient, db: Database, merchant: NewMerchant, kind: str) -> None:
    item_id = make_item(client, merchant.test_api_key, kind)
    field, code = ATTACH[kind]
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth(merchant.live_api_key), json={"amount": 25000, field: item_id})
        assert_error(response, 400, code, field)


def test_create_payment_with_valid_items(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """The merchant's own active file, content and image are accepted and kept on the payment;
    the product photo shows on the pay page (as its thumbnail) at a same-origin /media URL that
    serves it."""
    key = merchant.test_api_key
    file_id, content_id, image_id = (make_item(client, key, kind) for kind in ("file", "content", "image"))
    payment = create(client, key, file_id=file_id, content_id=content_id, product_image_id=image_id)
    row = db.read_sync(
        lambda conn: (
            conn.execute(sa.select(payments).where(payments.c.invoice_id == payment["invoice_id"])).mappings().one()
        )
    )
    assert (row["file_id"], row["content_id"], row["product_image_id"]) == (file_id, content_id, image_id)

    shown = status(client, payment["invoice_id"])
    assert shown["has_file"] is True
    assert shown["has_content"] is True
    photo = shown["product_image"]
    assert photo["url"].startswith("/media/img_")
    assert photo["thumbnail_url"].startswith("/media/img_")
    assert photo["thumbnail_url"] in page(client, payment["invoice_id"])
    served, _ = fetch_webp(client, photo["url"])
    assert served.size == (photo["width"], photo["height"])
    thumbnail, _ = fetch_webp(client, photo["thumbnail_url"])
    assert max(thumbnail.size) <= max(served.size)


def test_create_payment_refuses_an_id_that_is_not_a_number(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    with writes_nothing(db):
        for value in ("abc", -1, 0, 1.5, True):
            response = client.post(
                CREATE, headers=auth(merchant.test_api_key), json={"amount": 25000, "file_id": value}
            )
            assert_error(response, 400, "invalid_parameter", "file_id")


# --- delivery: download links and hidden content --------------------------------------------


def test_goods_are_absent_before_payment_and_present_after(client: TestClient, merchant: NewMerchant) -> None:
    """Before ``paid`` neither the status JSON nor the HTML carries the content (title or body) or
    a download link; once paid, both do."""
    key = merchant.test_api_key
    body = f"LICENSE-{secrets.token_hex(10).upper()}"
    title = f"Judul-{secrets.token_hex(4)}"
    content = created_content(client, key, title=title, kind="license_key", body=body)
    file = uploaded(client, key, PDF, "panduan.pdf")
    invoice = create(client, key, file_id=file["id"], content_id=content["id"])["invoice_id"]

    shown = status(client, invoice)
    assert shown["status"] == "pending"
    assert shown["content"] is None
    assert shown["download"] is None
    raw = client.get("/pay/status", params={"invoice": invoice}).text
    html = page(client, invoice)
    for text in (raw, html):
        assert body not in text
        assert title not in text
        assert "/download/" not in text

    pay(client, key, invoice)
    shown = status(client, invoice)
    assert shown["status"] == "paid"
    assert shown["content"] == {"title": title, "type": "license_key", "body": body}
    assert shown["download"]["url"].startswith("/download/")
    assert shown["download"]["filename"] == "panduan.pdf"
    assert shown["download"]["size"] == len(PDF)
    html = page(client, invoice)
    assert body in html
    assert shown["download"]["url"] in html


def test_a_paid_link_content_is_shown_as_a_safe_link(client: TestClient, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    link = f"https://drive.example.com/share/{secrets.token_hex(6)}"
    content = created_content(client, key, title="Unduh", kind="link", body=link)
    invoice = create(client, key, content_id=content["id"])["invoice_id"]
    assert link not in page(client, invoice)
    pay(client, key, invoice)
    html = page(client, invoice)
    assert f'href="{link}"' in html
    assert 'rel="noopener noreferrer"' in html


def test_a_cancelled_payment_never_reveals_its_goods(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    body = f"SECRET-{secrets.token_hex(10)}"
    content = created_content(client, key, body=body)
    file = uploaded(client, key)
    invoice = create(client, key, file_id=file["id"], content_id=content["id"])["invoice_id"]
    response = client.post(f"/v1/payments/{invoice}/cancel", headers=auth(key))
    assert response.status_code == 200, response.text
    shown = status(client, invoice)
    assert shown["status"] == "cancelled"
    assert shown["content"] is None
    assert shown["download"] is None
    assert body not in page(client, invoice)
    assert grants(db) == []


def test_the_download_link_works_download_limit_times(
    make_client: Callable[..., TestClient], db: Database, merchant: NewMerchant
) -> None:
    """With KASIR_DOWNLOAD_LIMIT=3 the link serves the file three times (counting down in
    X-Downloads-Remaining and on the page), then answers 410 download_exhausted."""
    client = make_client(download_limit=3)
    key = merchant.test_api_key
    file = uploaded(client, key, PDF, "ebook.pdf")
    invoice, link = paid_download(client, key, file["id"])
    assert link["remaining"] == 3

    for left in (2, 1, 0):
        response = client.get(link["url"])
        assert response.status_code == 200, response.text
        assert response.content == PDF
        assert response.headers["x-downloads-remaining"] == str(left)
        assert response.headers["cache-control"] == "no-store"
        assert status(client, invoice)["download"]["remaining"] == left

    with writes_nothing(db):
        assert_error(client.get(link["url"]), 410, "download_exhausted")
    [grant] = grants(db)
    assert grant["downloads"] == 3
    html = page(client, invoice)
    assert 'data-testid="download"' not in html  # no button for a used-up link
    assert 'data-testid="downloads-left"' in html


def test_the_download_link_expires_download_ttl_after_paid_at(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """The link's expires_at is paid_at + KASIR_DOWNLOAD_TTL; once that moment passes, 410
    download_expired (and the refusal counts nothing)."""
    key = merchant.test_api_key
    file = uploaded(client, key)
    invoice, link = paid_download(client, key, file["id"])
    paid_at = db.read_sync(
        lambda conn: conn.execute(sa.select(payments.c.paid_at).where(payments.c.invoice_id == invoice)).scalar_one()
    )
    assert link["expires_at"] == wire(paid_at + timedelta(seconds=settings.download_ttl))
    assert client.get(link["url"]).status_code == 200

    past = datetime.now(UTC) - timedelta(seconds=1)
    db.write_sync(lambda conn: conn.execute(sa.update(download_grants).values(expires_at=past)))
    with writes_nothing(db):
        assert_error(client.get(link["url"]), 410, "download_expired")
    assert grants(db)[0]["downloads"] == 1


def test_a_link_first_shown_after_the_ttl_is_already_expired(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """A buyer who first opens the page longer than the TTL after paying gets an expired link:
    the TTL runs from paid_at, not from the first visit."""
    key = merchant.test_api_key
    file = uploaded(client, key)
    invoice = create(client, key, file_id=file["id"])["invoice_id"]
    pay(client, key, invoice)
    long_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=settings.download_ttl + 60)
    db.write_sync(
        lambda conn: conn.execute(sa.update(payments).where(payments.c.invoice_id == invoice).values(paid_at=long_ago))
    )
    link = status(client, invoice)["download"]
    assert link["expires_at"] == wire(long_ago + timedelta(seconds=settings.download_ttl))
    assert_error(client.get(link["url"]), 410, "download_expired")
    assert grants(db)[0]["downloads"] == 0


def test_a_made_up_token_is_404(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    file = uploaded(client, key)
    _, link = paid_download(client, key, file["id"])
    token = link["url"].removeprefix("/download/")
    with writes_nothing(db):
        for fake in (secrets.token_urlsafe(32), token[:-1] + ("A" if token[-1] != "A" else "B"), "x" * 300):
            assert_error(client.get(f"/download/{fake}"), 404, "download_not_found")
        # A control character in the path is refused before any route looks it up.
        assert_error(client.get("/download/%00"), 400, "control_character", "path")


def test_the_link_is_stable_unguessable_and_not_stored_in_clear(
    client: TestClient, make_client: Callable[..., TestClient], db: Database, merchant: NewMerchant
) -> None:
    """Every visit (the status JSON, the page, another app node, after a download) shows the same
    link; two payments get different links; the token appears nowhere in the database."""
    key = merchant.test_api_key
    file = uploaded(client, key)
    invoice, link = paid_download(client, key, file["id"])
    url = link["url"]
    token = url.removeprefix("/download/")
    assert len(token) >= 32
    assert invoice not in token

    assert status(client, invoice)["download"]["url"] == url
    assert url in page(client, invoice)
    assert status(make_client(), invoice)["download"]["url"] == url  # another node, same database
    assert client.get(url).status_code == 200
    assert status(client, invoice)["download"]["url"] == url
    assert len(grants(db)) == 1

    _, other = paid_download(client, key, file["id"])
    assert other["url"] != url

    [grant] = [g for g in grants(db) if g["downloads"] == 1]
    for column in download_grants.c:
        if isinstance(column.type, sa.String):
            assert token not in str(grant[column.name]), column.name
    for table, rows in table_dump(db).items():
        for row in rows:
            assert not any(token in str(value) for value in row), table


def test_concurrent_downloads_never_exceed_the_limit(settings: Settings, db: Database, merchant: NewMerchant) -> None:
    """Over real HTTP: eight first page views at once create one grant and show one link; then
    twelve downloads at once with a limit of 3 serve exactly three."""
    app = create_app(settings.model_copy(update={"download_limit": 3}), database=db, background=False)
    key = merchant.test_api_key
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        response = http.post(FILES, headers=auth(key), files={"file": ("ebook.pdf", PDF, "application/pdf")})
        assert response.status_code == 200, response.text
        file_id = response.json()["file"]["id"]
        response = http.post(CREATE, headers=auth(key), json={"amount": 25000, "file_id": file_id})
        invoice = response.json()["payment"]["invoice_id"]
        assert http.post(f"/v1/sandbox/payments/{invoice}/pay", headers=auth(key)).status_code == 200

        def run_together(count: int, call: Callable[[], httpx.Response]) -> list[httpx.Response]:
            barrier = threading.Barrier(count)

            def one(_: int) -> httpx.Response:
                barrier.wait(timeout=10)
                return call()

            with ThreadPoolExecutor(count) as pool:
                return list(pool.map(one, range(count)))

        views = run_together(8, lambda: http.get("/pay/status", params={"invoice": invoice}))
        assert all(view.status_code == 200 for view in views), [view.text for view in views]
        urls = {view.json()["payment"]["download"]["url"] for view in views}
        assert len(urls) == 1
        assert len(grants(db)) == 1

        [url] = urls
        answers = run_together(12, lambda: http.get(url))
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [200] * 3 + [410] * 9, codes
        assert all(answer.content == PDF for answer in answers if answer.status_code == 200)
        assert {answer.json()["code"] for answer in answers if answer.status_code == 410} == {"download_exhausted"}
    assert grants(db)[0]["downloads"] == 3


def test_a_file_deactivated_after_the_payment_was_made_is_still_delivered(
    client: TestClient, merchant: NewMerchant
) -> None:
    key = merchant.test_api_key
    file = uploaded(client, key)
    invoice = create(client, key, file_id=file["id"])["invoice_id"]
    assert deactivate(client, key, "file", file["id"]).status_code == 200
    pay(client, key, invoice)
    link = status(client, invoice)["download"]
    response = client.get(link["url"])
    assert response.status_code == 200
    assert response.content == PDF


# --- the pay page: escaping, headers, unknown things ----------------------------------------


def test_merchant_and_buyer_text_is_escaped_on_the_pay_page(client: TestClient, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    content = created_content(client, key, title="<b>Bonus</b>", body="<img src=x onerror=alert(3)>")
    payment = create(
        client,
        key,
        description="<script>alert(1)</script>",
        customer_name="<script>alert(2)</script>",
        content_id=content["id"],
    )
    invoice = payment["invoice_id"]
    before = page(client, invoice)
    pay(client, key, invoice)
    after = page(client, invoice)
    for html in (before, after):
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    html = after
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(3)&gt;" in html
    assert "<b>Bonus</b>" not in html
    assert "&lt;b&gt;Bonus&lt;/b&gt;" in html


def test_the_pay_page_sends_a_content_security_policy(client: TestClient, merchant: NewMerchant) -> None:
    invoice = create(client, merchant.test_api_key)["invoice_id"]
    for response in (client.get("/pay", params={"invoice": invoice}), client.get("/pay", params={"invoice": "nope"})):
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"


def test_unknown_invoice_on_the_pay_page_is_an_escaped_404_page(client: TestClient, db: Database) -> None:
    with writes_nothing(db):
        for invoice in ("PAY-nobody-1-XXXXXX", "", "<script>alert(1)</script>"):
            response = client.get("/pay", params={"invoice": invoice})
            assert response.status_code == 404, response.text
            assert response.headers["content-type"].startswith("text/html")
            assert "<html" in response.text.lower()
            assert "<script>alert" not in response.text


def test_unknown_invoice_on_the_status_is_404_json(client: TestClient, db: Database) -> None:
    with writes_nothing(db):
        assert_error(client.get("/pay/status", params={"invoice": "PAY-nobody-1-XXXXXX"}), 404, "payment_not_found")
        assert_error(client.get("/pay/status"), 404, "payment_not_found")


def test_unknown_media_is_404(client: TestClient, merchant: NewMerchant) -> None:
    image = uploaded_image(client, merchant.test_api_key, image_bytes())
    public_id = path_of(image["url"]).removeprefix("/media/").removesuffix(".webp")
    for name in ("unknown.webp", "img_doesnotexist.webp", f"{public_id}.png", f"{public_id}", "..%2Fkasir.db"):
        response = client.get(f"/media/{name}")
        assert response.status_code == 404, (name, response.text)
    assert client.get(f"/media/{public_id}.webp").status_code == 200

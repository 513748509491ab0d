"""QRIS over HTTP (issue 5): qris-convert and qris-info, the QR images behind ``qr_image_url``,
``image_url`` fetched through the SSRF guard, and the dynamic QRIS every QR payment carries.

Inputs are real QRIS published by merchants and libraries (tests/fixtures/qris/public_qris.json)
and real QR images drawn here with segno and Pillow; ``image_url`` is served by a real HTTP server
on loopback. Answers are checked with a TLV reader and a CRC written in this file, not with
Kasir's parser. Every refusal must answer ``{"success": false, "error", "code"}`` and leave the
database as it was. Tests that touch storage run on SQLite and on PostgreSQL (``backend``).
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import segno
import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image

from kasir.app import create_app
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import events, merchants, payments
from kasir.merchants.service import NewMerchant, configure_merchant
from kasir.qris.demo import DEMO_NAME, DEMO_STATIC_QRIS
from kasir.qris.emv import QrisError
from kasir.qris.image import read_codes
from tests.acceptance.test_ssrf import IPV6_BYPASSES
from tests.conftest import VALID_QRIS, LiveServer, assert_error, auth, row_counts, table_dump, writes_nothing
from tests.qris_helpers import crc16, tlv, with_crc, wrong_crc

CONVERT = "/api/qris-convert.php"
INFO = "/api/qris-info.php"
CREATE = "/api/create-payment.php"
CHECK = "/api/check-payment.php"
METHODS = "/api/get-payment-methods.php"

FIXTURES: dict[str, list[dict[str, Any]]] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "qris" / "public_qris.json").read_text(encoding="utf-8")
)
VALID = FIXTURES["valid"]
INVALID = FIXTURES["invalid"]


def public(name: str, *, static: bool = True) -> str:
    """The first published QRIS of the merchant ``name``."""
    return str(next(e["qris"] for e in VALID if e["merchant_name"] == name and e["static"] is static))


WARUNG = public("Warung Sayur Bu Sugeng")  # DANA, static, NMID ID1020017611473, criteria UMI
ALDO = public("aldo soft")  # GoPay, static
BAZNAS = public("Baznas")  # ShopeePay, static, criteria UBE
STARBUCKS = public("Starbucks ", static=False)  # GoPay, dynamic, amount "39000.00" after tag 61
TIMS_PERCENT = next(e["qris"] for e in VALID if "tag 57 percentage" in e.get("notes", ""))
TIMS_FIXED = next(e["qris"] for e in VALID if "tag 56 fixed fee 7000" in e.get("notes", ""))

# The tags converting may touch: point of initiation, amount, fee, CRC. Every other one stays.
CONVERTED_TAGS = {"01", "54", "55", "56", "57", "63"}
BODY_CAP = 20 * 1024 * 1024


# --- an independent reading of QRIS ---------------------------------------------------------


def assert_dynamic(qris: str, static: str, amount: int) -> None:
    """``qris`` is ``static`` with ``amount`` embedded: point of initiation 12, one tag 54 equal
    to the amount, a correct CRC last, and every other data object unchanged and in its order."""
    objects = tlv(qris)
    tags = [tag for tag, _ in objects]
    assert objects[0] == ("00", "01")
    assert dict(objects)["01"] == "12"
    assert tags.count("54") == 1
    assert dict(objects)["54"] == str(amount)
    assert objects[-1] == ("63", crc16(qris[:-4]))
    assert [o for o in objects if o[0] not in CONVERTED_TAGS] == [o for o in tlv(static) if o[0] not in CONVERTED_TAGS]


# --- images ---------------------------------------------------------------------------------


def qr_png(text: str, *, scale: int = 6) -> bytes:
    """A QR code of ``text`` as a PNG, drawn with segno (not with Kasir's renderer)."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def reencode(png: bytes, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, fmt)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def blank_png(width: int = 200, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 255).save(out, "PNG")
    return out.getvalue()


def side_by_side(*pngs: bytes) -> bytes:
    """One PNG holding the given images left to right on white, as a screenshot or a poster."""
    images = [Image.open(io.BytesIO(p)).convert("L") for p in pngs]
    canvas = Image.new("L", (sum(i.width for i in images) + 40 * len(images), max(i.height for i in images)), 255)
    x = 0
    for image in images:
        canvas.paste(image, (x, 0))
        x += image.width + 40
    out = io.BytesIO()
    canvas.save(out, "PNG")
    return out.getvalue()


def decoded(png: bytes) -> list[str]:
    return read_codes(png)


# --- HTTP helpers ---------------------------------------------------------------------------


def convert(client: TestClient, key: str, **body: Any) -> dict[str, Any]:
    """A successful qris-convert (JSON); its answer."""
    response = client.post(CONVERT, headers=auth(key), json=body)
    assert response.status_code == 200, response.text
    answer = dict(response.json())
    assert answer["success"] is True
    return answer


def local(url: str) -> str:
    """Path and query of a link Kasir handed out (public_url is http://kasir.test in tests)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "http://kasir.test", url
    return f"{parts.path}?{parts.query}"


def fetch_png(client: TestClient, url: str) -> bytes:
    """GET a qr_image_url Kasir gave, without an API key; the PNG."""
    # starlette types TestClient over httpx2, which is not installed (it runs on httpx): its answers are Any to mypy
    response: httpx.Response = client.get(local(url))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return response.content


@contextmanager
def app_with(settings: Settings, db: Database, **changes: Any) -> Iterator[TestClient]:
    """The app with some settings changed, on the test's database."""
    with TestClient(create_app(settings.model_copy(update=changes), database=db, background=False)) as client:
        yield client


# --- a real HTTP server for image_url -------------------------------------------------------


@dataclass
class Serve:
    """How the image server answers one path."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # no Content-Length: the size is only known by reading
    stall: str | None = None  # "head": answer nothing; "body": send the head and a few bytes, then stop
    delay: float = 0.0  # seconds before answering at all


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # Kasir hanging up on a stalled or oversized answer is the point of those tests


class ImageServer:
    """GETs on loopback answered from ``routes``; ``paths`` records what was asked, in order."""

    def __init__(self) -> None:
        self.routes: dict[str, Serve] = {}
        self.paths: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.paths.append(self.path)
                serve = server.routes.get(self.path, Serve(404, b"not found"))
                if serve.delay:
                    server.release.wait(serve.delay)
                if serve.stall == "head":
                    server.release.wait(10)
                    self.close_connection = True
                    return
                self.send_response(serve.status)
                for name, value in serve.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "image/png")
                if serve.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(serve.body), 16 * 1024):
                        chunk = serve.body[start : start + 16 * 1024]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self.send_header("Content-Length", str(len(serve.body)))
                self.end_headers()
                if serve.stall == "body":
                    self.wfile.write(serve.body[:64])
                    self.wfile.flush()
                    server.release.wait(10)
                    self.close_connection = True
                    return
                self.wfile.write(serve.body)

            def log_message(self, *_args: Any) -> None:
                return

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> ImageServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def images() -> Iterator[ImageServer]:
    with ImageServer() as server:
        server.routes["/qr.png"] = Serve(body=qr_png(WARUNG))
        yield server


# --- qris-convert ---------------------------------------------------------------------------


def test_convert_answers_seed_004_shape(client: TestClient, merchant: NewMerchant) -> None:
    """{success, qris, qr_image_url, merchant_name, merchant_city, amount}: the QRIS with the
    amount embedded, and a link to its image that needs no key."""
    answer = convert(client, merchant.test_api_key, qris=WARUNG, nominal=50000)
    assert set(answer) == {"success", "qris", "qr_image_url", "merchant_name", "merchant_city", "amount"}
    assert answer["merchant_name"] == "Warung Sayur Bu Sugeng"
    assert answer["merchant_city"] == "Kab. Demak"
    assert answer["amount"] == 50000
    assert answer["qris"].startswith("000201010212")
    assert_dynamic(answer["qris"], WARUNG, 50000)
    assert decoded(fetch_png(client, answer["qr_image_url"])) == [answer["qris"]]


def test_convert_every_published_qris(client: TestClient, merchant: NewMerchant) -> None:
    """Every valid public QRIS (static and dynamic, with fees, tags out of order, two acquirers,
    proprietary tag 98) converts: only tags 01, 54–57 and 63 change. A dynamic one's old amount
    is replaced, not doubled."""
    for entry in VALID:
        answer = convert(client, merchant.test_api_key, qris=entry["qris"], nominal=12345)
        assert answer["merchant_name"] == entry["merchant_name"], entry["source"]
        assert answer["amount"] == 12345
        assert_dynamic(answer["qris"], entry["qris"], 12345)


def test_convert_drops_the_old_amount_and_fee_of_a_dynamic_qris(client: TestClient, merchant: NewMerchant) -> None:
    """Starbucks' dynamic QRIS says 39000.00; converted to 15000 it says 15000, once. A fee the
    old QRIS asked for (tags 55–57) is not carried over into the new amount."""
    key = merchant.test_api_key
    assert dict(tlv(STARBUCKS))["54"] == "39000.00"
    assert_dynamic(convert(client, key, qris=STARBUCKS, nominal=15000)["qris"], STARBUCKS, 15000)
    for with_fee in (TIMS_PERCENT, TIMS_FIXED):
        converted = dict(tlv(convert(client, key, qris=with_fee, nominal=15000)["qris"]))
        assert converted["54"] == "15000"
        assert {"55", "56", "57"}.isdisjoint(converted)


@pytest.mark.parametrize("path", [CONVERT, "/api/qris-convert"], ids=["php", "bare"])
def test_convert_takes_json_form_and_multipart(client: TestClient, merchant: NewMerchant, path: str) -> None:
    """The same answer whether the fields come as JSON, urlencoded form or multipart (as PHP's
    curl sends them), and whether nominal is a number or a digit string."""
    headers = auth(merchant.test_api_key)
    answers = [
        client.post(path, headers=headers, json={"qris": WARUNG, "nominal": 25000}),
        client.post(path, headers=headers, json={"qris": WARUNG, "nominal": "25000"}),
        client.post(path, headers=headers, data={"qris": WARUNG, "nominal": "25000"}),
        client.post(path, headers=headers, files={"qris": (None, WARUNG), "nominal": (None, "25000")}),
    ]
    for response in answers:
        assert response.status_code == 200, response.text
    assert len({r.json()["qris"] for r in answers}) == 1
    assert_dynamic(answers[0].json()["qris"], WARUNG, 25000)


def test_convert_forgives_surrounding_whitespace(client: TestClient, merchant: NewMerchant) -> None:
    """A QRIS pasted with a line break or spaces around it is the same QRIS."""
    answer = convert(client, merchant.test_api_key, qris=f"  {WARUNG}\r\n", nominal=1000)
    assert_dynamic(answer["qris"], WARUNG, 1000)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda png: {"json": {"image": b64(png)}}, id="base64"),
        pytest.param(lambda png: {"json": {"image": "data:image/png;base64," + b64(png)}}, id="data-url"),
        pytest.param(lambda png: {"json": {"image": base64.encodebytes(png).decode()}}, id="base64-76-column-lines"),
        pytest.param(lambda png: {"json": {"image": b64(reencode(png, "JPEG"))}}, id="jpeg"),
        pytest.param(lambda png: {"json": {"image": b64(reencode(png, "WEBP"))}}, id="webp"),
        pytest.param(lambda png: {"json": {"image": b64(reencode(png, "GIF"))}}, id="gif"),
        pytest.param(lambda png: {"data": {"image": b64(png)}}, id="base64-form-field"),
        pytest.param(lambda png: {"files": {"image": ("qris.png", png, "image/png")}}, id="multipart-file"),
        pytest.param(
            lambda png: {"files": {"image": ("qris.jpg", reencode(png, "JPEG"), "image/jpeg")}}, id="multipart-jpeg"
        ),
    ],
)
def test_convert_reads_the_qris_from_an_image(client: TestClient, merchant: NewMerchant, make: Any) -> None:
    """image: base64 (a data: URL too) or a multipart file, PNG, JPEG, WebP or GIF."""
    request = make(qr_png(ALDO))
    if "json" in request:
        request["json"]["nominal"] = 75000
    else:
        request["data"] = {**request.get("data", {}), "nominal": "75000"}
    response = client.post(CONVERT, headers=auth(merchant.test_api_key), **request)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["merchant_name"] == "aldo soft"
    assert_dynamic(answer["qris"], ALDO, 75000)


def transparent_png(png: bytes) -> bytes:
    """The QR as a browser canvas exports it: black modules on a transparent background (every
    light pixel is rgba(0, 0, 0, 0)). Shown on a page, it looks like any QR code."""
    gray = Image.open(io.BytesIO(png)).convert("L")
    black = Image.new("L", gray.size, 0)
    alpha = gray.point(lambda value: 255 - value)
    out = io.BytesIO()
    Image.merge("RGBA", (black, black, black, alpha)).save(out, "PNG")
    return out.getvalue()


def test_convert_reads_a_qr_on_a_transparent_background(client: TestClient, merchant: NewMerchant) -> None:
    response = client.post(
        CONVERT,
        headers=auth(merchant.test_api_key),
        json={"image": b64(transparent_png(qr_png(ALDO))), "nominal": 5000},
    )
    assert response.status_code == 200, response.text
    assert_dynamic(response.json()["qris"], ALDO, 5000)


def test_convert_finds_the_qris_among_other_qr_codes(client: TestClient, merchant: NewMerchant) -> None:
    """A poster with a website QR beside the QRIS: the QRIS is the one converted."""
    poster = side_by_side(qr_png("https://example.com/menu"), qr_png(BAZNAS))
    answer = convert(client, merchant.test_api_key, image=b64(poster), nominal=20000)
    assert answer["merchant_name"] == "Baznas"
    assert_dynamic(answer["qris"], BAZNAS, 20000)


def test_convert_works_with_a_live_key_too(client: TestClient, merchant: NewMerchant) -> None:
    answer = convert(client, merchant.live_api_key, qris=WARUNG, nominal=1000)
    assert_dynamic(answer["qris"], WARUNG, 1000)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param("0", "invalid_nominal", id="zero"),
        pytest.param('"1.000"', "invalid_nominal", id="dotted-thousands"),
        pytest.param('"50.000"', "invalid_nominal", id="indonesian-separator"),
        pytest.param("-5", "invalid_nominal", id="negative"),
        pytest.param('"-5"', "invalid_nominal", id="negative-string"),
        pytest.param("1.5", "invalid_nominal", id="fraction"),
        pytest.param("1000.0", "invalid_nominal", id="float-literal"),
        pytest.param("1e3", "invalid_nominal", id="exponent"),
        pytest.param("true", "invalid_nominal", id="boolean"),
        pytest.param('"abc"', "invalid_nominal", id="letters"),
        pytest.param("[1000]", "invalid_nominal", id="list"),
        pytest.param("10000001", "nominal_out_of_range", id="above-10-million"),
        pytest.param("100000000000000000000", "nominal_out_of_range", id="huge"),
        pytest.param("null", "missing_nominal", id="null"),
        pytest.param('""', "missing_nominal", id="empty-string"),
        pytest.param(None, "missing_nominal", id="absent"),
    ],
)
def test_bad_nominal_is_refused(
    client: TestClient, db: Database, merchant: NewMerchant, raw: str | None, code: str
) -> None:
    """nominal is a positive whole number of rupiah up to 10,000,000, without separators."""
    fields = [f'"qris": "{WARUNG}"'] + ([f'"nominal": {raw}'] if raw is not None else [])
    body = "{" + ", ".join(fields) + "}"
    with writes_nothing(db):
        response = client.post(
            CONVERT, headers={**auth(merchant.test_api_key), "Content-Type": "application/json"}, content=body
        )
    assert_error(response, 400, code, "nominal")


def test_nominal_bounds_are_inclusive(client: TestClient, merchant: NewMerchant) -> None:
    """1 and 10,000,000 rupiah themselves are accepted (the counterpart of the range errors)."""
    for nominal in (1, 10_000_000):
        assert_dynamic(convert(client, merchant.test_api_key, qris=WARUNG, nominal=nominal)["qris"], WARUNG, nominal)


def test_bad_nominal_is_answered_before_image_url_is_fetched(
    client: TestClient, merchant: NewMerchant, images: ImageServer
) -> None:
    response = client.post(
        CONVERT, headers=auth(merchant.test_api_key), json={"image_url": images.url("/qr.png"), "nominal": 0}
    )
    assert_error(response, 400, "invalid_nominal", "nominal")
    assert images.paths == []


TRUNCATED = "00020101021126"  # the bare tag 26 has no length
NOT_DIGIT_LENGTH = WARUNG[:14] + "5X" + WARUNG[16:]


@pytest.mark.parametrize(
    ("qris", "code"),
    [
        pytest.param(TRUNCATED, "qris_truncated", id="truncated-tag"),
        pytest.param(WARUNG[:50], "qris_length_overflow", id="truncated-value"),
        pytest.param(WARUNG[:-3], "qris_length_overflow", id="crc-cut-short"),
        pytest.param(WARUNG[:-8], "qris_crc_missing", id="no-crc"),
        pytest.param(NOT_DIGIT_LENGTH, "qris_invalid_length", id="letter-in-length"),
        pytest.param(wrong_crc(WARUNG), "qris_crc_mismatch", id="wrong-crc"),
        pytest.param(WARUNG.replace("Warung", "Wadung"), "qris_crc_mismatch", id="altered-name"),
        pytest.param("https://example.com/pay", "not_qris", id="a-url"),
        pytest.param(WARUNG[:120] + "\n" + WARUNG[120:], "qris_invalid_character", id="line-break-inside"),
        pytest.param(
            with_crc(WARUNG[:-8].replace("5303360", "5303840")), "qris_not_rupiah", id="in-dollars"
        ),  # same QRIS, currency 840, CRC recomputed
    ],
)
def test_bad_qris_is_refused_with_a_precise_code(
    client: TestClient, db: Database, merchant: NewMerchant, qris: str, code: str
) -> None:
    with writes_nothing(db):
        response = client.post(CONVERT, headers=auth(merchant.test_api_key), json={"qris": qris, "nominal": 5000})
    assert_error(response, 400, code)


def test_published_broken_qris_are_refused(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Every broken QRIS found in the wild (wrong CRC, line-wrapped, placeholders, truncated, no
    MCC) is a 400 with a qris_* or not_qris code, by both endpoints."""
    key = merchant.test_api_key
    with writes_nothing(db):
        for entry in INVALID:
            for response in (
                client.post(CONVERT, headers=auth(key), json={"qris": entry["qris"], "nominal": 5000}),
                client.post(INFO, headers=auth(key), json={"qris": entry["qris"]}),
            ):
                body = assert_error(response, 400, response.json().get("code", "?"))
                assert body["code"].startswith("qris_") or body["code"] == "not_qris", (entry["why"], body)
                if "code" in entry:
                    assert body["code"] == entry["code"], entry["why"]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        pytest.param({}, "missing_qris", "qris", id="no-source"),
        pytest.param({"qris": "", "image": "", "image_url": ""}, "missing_qris", "qris", id="empty-sources"),
        pytest.param({"qris": None}, "missing_qris", "qris", id="null-source"),
        pytest.param({"qris": WARUNG, "image": "iVBORw0KGgo="}, "ambiguous_qris", "image", id="qris-and-image"),
        pytest.param(
            {"qris": WARUNG, "image_url": "http://127.0.0.1:9/q.png"}, "ambiguous_qris", "image_url", id="qris-and-url"
        ),
        pytest.param(
            {"image": "iVBORw0KGgo=", "image_url": "http://127.0.0.1:9/q.png"},
            "ambiguous_qris",
            "image_url",
            id="image-and-url",
        ),
        pytest.param(
            {"qris": WARUNG, "image": "iVBORw0KGgo=", "image_url": "http://127.0.0.1:9/q.png"},
            "ambiguous_qris",
            None,
            id="all-three",
        ),
        pytest.param({"qris": 12345}, "invalid_qris", "qris", id="qris-a-number"),
        pytest.param({"image": "not base64!"}, "invalid_image", "image", id="invalid-base64"),
        pytest.param({"image": "data:image/png;base64,%%%"}, "invalid_image", "image", id="invalid-data-url"),
        pytest.param({"image": 42}, "invalid_image", "image", id="image-a-number"),
        pytest.param({"image": b64(b"GIF? no, just text")}, "image_unreadable", "image", id="not-an-image"),
        pytest.param({"image": b64(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)}, "image_unreadable", "image", id="broken-png"),
        pytest.param({"image": b64(blank_png())}, "qr_not_found", "image", id="no-qr"),
        pytest.param({"image": b64(qr_png("https://example.com/menu"))}, "not_qris", None, id="qr-not-qris"),
        pytest.param({"image": b64(reencode(qr_png(WARUNG), "BMP"))}, "image_unsupported_format", "image", id="bmp"),
    ],
)
def test_bad_source_is_refused(
    client: TestClient, db: Database, merchant: NewMerchant, body: dict[str, Any], code: str, field: str | None
) -> None:
    """Exactly one of qris, image, image_url, and it must hold a QRIS; nothing is fetched when
    the sources are ambiguous (the image_url above is a closed port: fetching would fail)."""
    with writes_nothing(db):
        response = client.post(CONVERT, headers=auth(merchant.test_api_key), json={**body, "nominal": 5000})
    assert_error(response, 400, code, field)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        pytest.param("not json", "application/json", 400, "invalid_json", id="broken-json"),
        pytest.param(json.dumps([WARUNG, 5000]), "application/json", 400, "invalid_json", id="json-array"),
        pytest.param(f"qris={WARUNG}&nominal=5000", "text/plain", 415, "unsupported_media_type", id="text-plain"),
    ],
)
def test_unreadable_body_is_refused(
    client: TestClient, db: Database, merchant: NewMerchant, content: str, content_type: str, status: int, code: str
) -> None:
    with writes_nothing(db):
        response = client.post(
            CONVERT, headers={**auth(merchant.test_api_key), "Content-Type": content_type}, content=content
        )
    assert_error(response, status, code)


def test_multipart_file_and_qris_together_are_ambiguous(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    with writes_nothing(db):
        response = client.post(
            CONVERT,
            headers=auth(merchant.test_api_key),
            data={"nominal": "5000", "qris": WARUNG},
            files={"image": ("qris.png", qr_png(ALDO), "image/png")},
        )
    assert_error(response, 400, "ambiguous_qris", "image")


def test_multipart_file_that_is_not_an_image(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    with writes_nothing(db):
        response = client.post(
            CONVERT,
            headers=auth(merchant.test_api_key),
            data={"nominal": "5000"},
            files={"image": ("qris.png", b"%PDF-1.7 not a picture", "image/png")},
        )
    assert_error(response, 400, "image_unreadable", "image")


def test_20_mb_upload_is_refused_by_the_body_cap(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A 20 MB photo is refused before it is read: 413 payload_too_large (the body cap of the
    image endpoints, 4/3 of max_qr_image_bytes plus room for the fields), as multipart or as
    base64 in JSON."""
    photo = b"\xff\xd8\xff\xe0" + bytes(BODY_CAP)
    with writes_nothing(db):
        multipart = client.post(
            CONVERT,
            headers=auth(merchant.test_api_key),
            data={"nominal": "5000"},
            files={"image": ("photo.jpg", photo, "image/jpeg")},
        )
        as_json = client.post(CONVERT, headers=auth(merchant.test_api_key), json={"nominal": 5000, "image": b64(photo)})
        info = client.post(
            INFO, headers=auth(merchant.test_api_key), files={"image": ("photo.jpg", photo, "image/jpeg")}
        )
    for response in (multipart, as_json, info):
        assert_error(response, 413, "payload_too_large")


def test_20_mb_chunked_upload_is_cut_off(live_server: LiveServer, db: Database, merchant: NewMerchant) -> None:
    """Without a Content-Length the cap is enforced while the body streams in, over real HTTP."""

    def body() -> Iterator[bytes]:
        yield b'{"nominal": 5000, "image": "'
        for _ in range(BODY_CAP // (1024 * 1024)):
            yield b"A" * (1024 * 1024)
        yield b'"}'

    counts = row_counts(db)
    response = httpx.post(
        live_server.url + CONVERT,
        headers={**auth(merchant.test_api_key), "Content-Type": "application/json"},
        content=body(),
        timeout=30,
    )
    assert_error(response, 413, "payload_too_large")
    assert row_counts(db) == counts


def test_image_just_over_the_limit_is_image_too_large(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Under the body cap but over max_qr_image_bytes (5 MiB): 413 image_too_large."""
    over = b"\x89PNG\r\n\x1a\n" + bytes(5 * 1024 * 1024)
    key = merchant.test_api_key
    with writes_nothing(db):
        multipart = client.post(
            CONVERT, headers=auth(key), data={"nominal": "5000"}, files={"image": ("big.png", over, "image/png")}
        )
        as_json = client.post(CONVERT, headers=auth(key), json={"nominal": 5000, "image": b64(over)})
    for response in (multipart, as_json):
        assert_error(response, 413, "image_too_large")


def test_decompression_bomb_is_image_too_large(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A 7200×7200 white PNG is 20 KB on the wire and 52 megapixels decoded: refused, not decoded."""
    bomb = io.BytesIO()
    Image.new("1", (7200, 7200), 1).save(bomb, "PNG")
    assert len(bomb.getvalue()) < 100_000
    with writes_nothing(db):
        response = client.post(
            CONVERT, headers=auth(merchant.test_api_key), json={"nominal": 5000, "image": b64(bomb.getvalue())}
        )
    assert_error(response, 413, "image_too_large")


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        pytest.param({}, "missing_api_key", id="no-key"),
        pytest.param({"X-API-Key": "ksr_test_" + "0" * 40}, "invalid_api_key", id="unknown-key"),
    ],
)
@pytest.mark.parametrize("path", [CONVERT, INFO])
def test_convert_and_info_need_the_api_key(
    client: TestClient, db: Database, images: ImageServer, headers: dict[str, str], code: str, path: str
) -> None:
    """Both endpoints are the merchant's: without a valid key, 401, and no image is fetched."""
    with writes_nothing(db):
        response = client.post(path, headers=headers, json={"image_url": images.url("/qr.png"), "nominal": 5000})
        get = client.get(INFO, headers=headers, params={"qris": WARUNG})
    assert_error(response, 401, code)
    assert_error(get, 401, code)
    assert images.paths == []


def test_convert_is_post_only(client: TestClient, merchant: NewMerchant) -> None:
    response = client.get(CONVERT, headers=auth(merchant.test_api_key), params={"qris": WARUNG, "nominal": 5000})
    assert_error(response, 405, "method_not_allowed")


# --- qris-info ------------------------------------------------------------------------------


def test_info_get_describes_a_static_qris(client: TestClient, merchant: NewMerchant) -> None:
    """Seed 004's four fields first (amount 0 for a static QRIS), then what the QRIS says about
    its merchant: NMID and criteria (template 51), acquirers, CRC."""
    response = client.get(INFO, headers=auth(merchant.test_api_key), params={"qris": WARUNG})
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body)[:5] == ["success", "merchant_name", "merchant_city", "amount", "is_dynamic"]
    assert body["success"] is True
    assert body["merchant_name"] == "Warung Sayur Bu Sugeng"
    assert body["merchant_city"] == "Kab. Demak"
    assert body["amount"] == 0
    assert body["is_dynamic"] is False
    assert body["nmid"] == "ID1020017611473"
    assert body["criteria"] == "UMI"
    assert body["crc_valid"] is True
    assert body["crc"] == WARUNG[-4:]
    assert body["postal_code"] == "59567"
    assert body["mcc"] == "5812"
    assert body["currency"] == "360"
    assert body["country_code"] == "ID"
    acquirers = {a["tag"]: a for a in body["acquirers"]}
    assert acquirers["26"]["id"] == "ID.DANA.WWW"
    assert acquirers["26"]["name"] == "DANA"
    assert acquirers["51"]["id"] == "ID.CO.QRIS.WWW"


def test_info_post_and_bare_path_answer_the_same(client: TestClient, merchant: NewMerchant) -> None:
    headers = auth(merchant.test_api_key)
    answers = [
        client.get(INFO, headers=headers, params={"qris": BAZNAS}),
        client.get("/api/qris-info", headers=headers, params={"qris": BAZNAS}),
        client.get(INFO, params={"qris": BAZNAS, "apiKey": merchant.test_api_key}),
        client.post(INFO, headers=headers, json={"qris": BAZNAS}),
        client.post("/api/qris-info", headers=headers, data={"qris": BAZNAS}),
        client.post(INFO, headers=headers, json={"image": b64(qr_png(BAZNAS))}),
        client.post(
            INFO, headers=headers, files={"image": ("baznas.webp", reencode(qr_png(BAZNAS), "WEBP"), "image/webp")}
        ),
    ]
    for response in answers:
        assert response.status_code == 200, response.text
    assert all(r.json() == answers[0].json() for r in answers)
    assert answers[0].json()["merchant_name"] == "Baznas"
    assert answers[0].json()["criteria"] == "UBE"


def test_info_of_a_dynamic_qris(client: TestClient, merchant: NewMerchant) -> None:
    """Starbucks' QRIS is dynamic with 39000.00 embedded: amount 39000, is_dynamic true."""
    body = client.get(INFO, headers=auth(merchant.test_api_key), params={"qris": STARBUCKS}).json()
    assert body["is_dynamic"] is True
    assert body["amount"] == 39000
    assert body["merchant_name"] == "Starbucks "  # the trailing space is the merchant's
    assert body["merchant_city"] == "JAKARTA PUSAT"


def test_info_of_what_convert_produced(client: TestClient, merchant: NewMerchant) -> None:
    """Convert, then describe: dynamic, the amount, the same merchant and NMID, a valid CRC."""
    key = merchant.test_api_key
    dynamic = convert(client, key, qris=WARUNG, nominal=123456)["qris"]
    body = client.post(INFO, headers=auth(key), json={"qris": dynamic}).json()
    static = client.post(INFO, headers=auth(key), json={"qris": WARUNG}).json()
    assert body["is_dynamic"] is True
    assert body["amount"] == 123456
    assert body["crc_valid"] is True
    for same in ("merchant_name", "merchant_city", "nmid", "criteria", "acquirers", "mcc", "postal_code"):
        assert body[same] == static[same], same


def test_info_reports_a_fee(client: TestClient, merchant: NewMerchant) -> None:
    headers = auth(merchant.test_api_key)
    assert client.post(INFO, headers=headers, json={"qris": TIMS_FIXED}).json()["fee"] == {
        "type": "fixed",
        "value": "7000",
    }
    percent = client.post(INFO, headers=headers, json={"qris": TIMS_PERCENT}).json()["fee"]
    assert percent["type"] == "percent"
    assert percent["value"] == dict(tlv(TIMS_PERCENT))["57"]
    assert client.post(INFO, headers=headers, json={"qris": WARUNG}).json()["fee"] is None


@pytest.mark.parametrize(
    ("params", "code"),
    [
        pytest.param({"qris": wrong_crc(WARUNG)}, "qris_crc_mismatch", id="wrong-crc"),
        pytest.param({"qris": TRUNCATED}, "qris_truncated", id="truncated"),
        pytest.param({"qris": NOT_DIGIT_LENGTH}, "qris_invalid_length", id="letter-in-length"),
        pytest.param({}, "missing_qris", id="nothing"),
        pytest.param({"qris": WARUNG, "image_url": "http://127.0.0.1:9/q.png"}, "ambiguous_qris", id="two-sources"),
    ],
)
def test_info_refusals(
    client: TestClient, db: Database, merchant: NewMerchant, params: dict[str, str], code: str
) -> None:
    with writes_nothing(db):
        get = client.get(INFO, headers=auth(merchant.test_api_key), params=params)
        post = client.post(INFO, headers=auth(merchant.test_api_key), json=params)
    assert_error(get, 400, code)
    assert_error(post, 400, code)


# --- /qr.png and /qr.svg --------------------------------------------------------------------


@pytest.fixture
def stateless(tmp_path: Path) -> Iterator[TestClient]:
    """The app for what needs no key and no storage (the QR images): run once, not per backend.
    Its SQLite file is never opened."""
    settings = Settings(
        home=tmp_path, database_url=f"sqlite:///{tmp_path / 'unused.db'}", public_url="http://kasir.test", rate_limit=0
    )
    with TestClient(create_app(settings, background=False)) as client:
        yield client


SHORTEST = min((e["qris"] for e in VALID), key=len)  # SeTORE's: 189 characters, 61 px at one px per module
LONGEST = max((e["qris"] for e in VALID), key=len)


@pytest.mark.parametrize("size", [100, 300, 2048])
def test_qr_png_decodes_back_to_the_qris(stateless: TestClient, size: int) -> None:
    """No key needed; the PNG holds exactly the QRIS; the answer may be cached."""
    dynamic = with_crc(WARUNG[:-8].replace("5802ID", "5405500005802ID").replace("010211", "010212"))
    for data in (WARUNG, dynamic, STARBUCKS, SHORTEST, LONGEST):
        response = stateless.get("/qr.png", params={"data": data, "size": size})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        assert "max-age=" in response.headers["cache-control"]
        assert "public" in response.headers["cache-control"]
        assert decoded(response.content) == [data]


def test_qr_png_default_size_and_non_ascii(stateless: TestClient) -> None:
    """Without size, a scannable PNG; a merchant name outside ASCII survives the URL and the QR."""
    name = "Café Sérénité"
    cafe = with_crc(WARUNG[:-8].replace("5922Warung Sayur Bu Sugeng", f"59{len(name):02d}{name}"))
    for data in (WARUNG, cafe):
        response = stateless.get("/qr.png", params={"data": data})
        assert response.status_code == 200, response.text
        assert decoded(response.content) == [data]


def test_qr_svg(stateless: TestClient) -> None:
    response = stateless.get("/qr.svg", params={"data": WARUNG, "size": 400})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "max-age=" in response.headers["cache-control"]
    text = response.text
    assert "<svg" in text
    assert "</svg>" in text
    assert "<script" not in text.lower()


@pytest.mark.parametrize("size", ["0", "63", "2049", "-1", "100000", "99999999999999999999"])
@pytest.mark.parametrize("path", ["/qr.png", "/qr.svg"])
def test_qr_image_size_out_of_range(stateless: TestClient, path: str, size: str) -> None:
    response = stateless.get(path, params={"data": WARUNG, "size": size})
    assert_error(response, 400, "invalid_size", "size")
    assert "immutable" not in response.headers.get("cache-control", "")


@pytest.mark.parametrize("size", ["abc", "64.5", ""])
def test_qr_image_size_not_a_number_is_invalid_size(stateless: TestClient, size: str) -> None:
    assert_error(stateless.get("/qr.png", params={"data": WARUNG, "size": size}), 400, "invalid_size", "size")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param("https://evil.example/phish", "not_qris", id="a-url"),
        pytest.param("hello", "not_qris", id="text"),
        pytest.param(wrong_crc(WARUNG), "qris_crc_mismatch", id="wrong-crc"),
        pytest.param(WARUNG + " ", "qris_trailing_whitespace", id="trailing-space"),
        pytest.param(TRUNCATED, "qris_truncated", id="truncated"),
        pytest.param("", "qris_empty", id="empty"),
    ],
)
@pytest.mark.parametrize("path", ["/qr.png", "/qr.svg"])
def test_qr_image_only_for_a_valid_qris(stateless: TestClient, path: str, data: str, code: str) -> None:
    """The image endpoints need no key, so they must not draw a QR of anything else."""
    response = stateless.get(path, params={"data": data})
    assert_error(response, 400, code)
    assert "immutable" not in response.headers.get("cache-control", "")


def test_qr_image_needs_data(stateless: TestClient) -> None:
    assert_error(stateless.get("/qr.png"), 400, "missing_parameter", "data")


def test_qr_png_at_the_smallest_size(stateless: TestClient) -> None:
    """size=64, the minimum, draws a QRIS short enough to fit in 64 pixels (one per module)."""
    response = stateless.get("/qr.png", params={"data": SHORTEST, "size": 64})
    assert response.status_code == 200, response.text
    assert Image.open(io.BytesIO(response.content)).width <= 64
    assert decoded(response.content) == [SHORTEST]


@pytest.mark.parametrize("size", [64, 72, 100, 300, 2048])
@pytest.mark.parametrize("path", ["/qr.png", "/qr.svg"])
def test_qr_image_is_never_wider_than_size(stateless: TestClient, path: str, size: int) -> None:
    """size is the width in pixels (OpenAPI): whole pixels per module may make the image
    narrower, never wider. A QR that cannot fit in ``size`` pixels is a 400 invalid_size, not a
    bigger image. The shortest and the longest published QRIS."""
    for data in (SHORTEST, LONGEST):
        response = stateless.get(path, params={"data": data, "size": size})
        if response.status_code != 200:
            assert_error(response, 400, "invalid_size", "size")
            continue
        if path == "/qr.png":
            width = float(Image.open(io.BytesIO(response.content)).width)
        else:
            width = float(response.text.split('width="', 1)[1].split('"', 1)[0])
        assert width <= size, (len(data), size, width)
    # the shortest always fits from 64 up, the longest from 73 up
    assert stateless.get(path, params={"data": SHORTEST, "size": size}).status_code == 200
    if size >= 73:
        assert stateless.get(path, params={"data": LONGEST, "size": size}).status_code == 200


def overlong_qris() -> str:
    """A QRIS every rule of Kasir's parser accepts (primitive merchant accounts 02–25 and
    unreserved templates 80–99 at their 99-character maximum), but 4,600 characters long: more
    than any QR code holds, and far above EMV's 512."""
    body = "000201010211"
    body += "".join(f"{tag:02d}99" + "9" * 99 for tag in range(2, 26))
    body += "26120008ID.X.WWW" + "52045999" + "5303360" + "5802ID" + "5904LONG" + "6003JKT"
    body += "".join(f"{tag:02d}99" + "X" * 99 for tag in range(80, 100))
    return with_crc(body)


def test_qr_png_of_an_overlong_qris_is_refused_not_a_crash(stateless: TestClient) -> None:
    response = TestClient(stateless.app, raise_server_exceptions=False).get("/qr.png", params={"data": overlong_qris()})
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False


def test_convert_never_hands_out_a_broken_qr_image_url(client: TestClient, merchant: NewMerchant) -> None:
    lenient = TestClient(client.app, raise_server_exceptions=False)
    response = lenient.post(
        CONVERT, headers=auth(merchant.test_api_key), json={"qris": overlong_qris(), "nominal": 5000}
    )
    if response.status_code == 200:
        image = lenient.get(local(response.json()["qr_image_url"]))
        assert image.status_code == 200, image.text
    else:
        assert response.status_code == 400, response.text


# --- image_url ------------------------------------------------------------------------------


def test_image_url_is_fetched_and_read(client: TestClient, merchant: NewMerchant, images: ImageServer) -> None:
    """With private networks allowed (development), the QR image on a local server is fetched,
    read and converted; qris-info takes image_url by GET and by POST."""
    key = merchant.test_api_key
    answer = convert(client, key, image_url=images.url("/qr.png"), nominal=30000)
    assert answer["merchant_name"] == "Warung Sayur Bu Sugeng"
    assert_dynamic(answer["qris"], WARUNG, 30000)
    get = client.get(INFO, headers=auth(key), params={"image_url": images.url("/qr.png")})
    post = client.post(INFO, headers=auth(key), json={"image_url": f"  {images.url('/qr.png')}  "})
    assert get.status_code == post.status_code == 200, (get.text, post.text)
    assert get.json()["merchant_name"] == post.json()["merchant_name"] == "Warung Sayur Bu Sugeng"
    assert images.paths == ["/qr.png"] * 3


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:{port}/qr.png", id="loopback"),
        pytest.param("http://localhost:{port}/qr.png", id="localhost"),
        pytest.param("http://[::1]:{port}/qr.png", id="ipv6-loopback"),
        pytest.param("http://169.254.169.254/latest/meta-data/", id="cloud-metadata"),
        pytest.param("http://10.0.0.1/qr.png", id="private"),
        # The IPv6 forms that carry a private IPv4 address (issue 15) are refused here too.
        *[
            pytest.param(f"http://[{param.values[0]}]:{{port}}/qr.png", id=f"ipv6-{param.id}")
            for param in IPV6_BYPASSES
        ],
    ],
)
def test_image_url_on_a_private_network_is_refused(
    settings: Settings, db: Database, merchant: NewMerchant, images: ImageServer, url: str
) -> None:
    """As in production (webhook_allow_private_networks off): 422 unsafe_url, no byte sent."""
    with app_with(settings, db, webhook_allow_private_networks=False) as client, writes_nothing(db):
        for path in (CONVERT, INFO):
            response = client.post(
                path,
                headers=auth(merchant.test_api_key),
                json={"image_url": url.format(port=images.port), "nominal": 5000},
            )
            assert_error(response, 422, "unsafe_url", "image_url")
    assert images.paths == []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/qr.png", "gopher://127.0.0.1:70/", "qr.png", "http://"]
)
def test_image_url_must_be_http(client: TestClient, db: Database, merchant: NewMerchant, url: str) -> None:
    with writes_nothing(db):
        response = client.post(CONVERT, headers=auth(merchant.test_api_key), json={"image_url": url, "nominal": 5000})
    assert_error(response, 422, "invalid_url", "image_url")


@pytest.mark.parametrize("url", ["http://[::1/qr.png", "http://a..b/qr.png"], ids=["unclosed-ipv6", "empty-label"])
@pytest.mark.parametrize("allow_private", [True, False], ids=["dev", "production"])
def test_malformed_image_url_is_refused_not_a_crash(
    settings: Settings, db: Database, merchant: NewMerchant, url: str, allow_private: bool
) -> None:
    app = create_app(
        settings.model_copy(update={"webhook_allow_private_networks": allow_private}), database=db, background=False
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(CONVERT, headers=auth(merchant.test_api_key), json={"image_url": url, "nominal": 5000})
    assert response.status_code in (400, 422), response.text
    body = response.json()
    assert body["success"] is False
    assert body.get("field") == "image_url", body


@pytest.mark.parametrize(
    ("serve", "status", "code"),
    [
        pytest.param(Serve(404, b"not found"), 400, "image_url_failed", id="404"),
        pytest.param(Serve(500, b"oops"), 400, "image_url_failed", id="500"),
        pytest.param(Serve(302, b""), 400, "image_url_failed", id="redirect-without-location"),
        pytest.param(Serve(200, b"<html>a page, not an image</html>"), 400, "image_unreadable", id="html"),
        pytest.param(Serve(200, b""), 400, "image_empty", id="empty-body"),
        pytest.param(Serve(200, blank_png()), 400, "qr_not_found", id="no-qr"),
    ],
)
def test_image_url_failures(
    client: TestClient, db: Database, merchant: NewMerchant, images: ImageServer, serve: Serve, status: int, code: str
) -> None:
    images.routes["/it"] = serve
    with writes_nothing(db):
        response = client.post(
            CONVERT, headers=auth(merchant.test_api_key), json={"image_url": images.url("/it"), "nominal": 5000}
        )
    assert_error(response, status, code)


def test_image_url_unreachable(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A closed port: image_url_failed, promptly."""
    with writes_nothing(db):
        response = client.post(
            CONVERT,
            headers=auth(merchant.test_api_key),
            json={"image_url": "http://127.0.0.1:9/q.png", "nominal": 5000},
        )
    assert_error(response, 400, "image_url_failed", "image_url")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_image_url_larger_than_the_limit(
    settings: Settings, db: Database, merchant: NewMerchant, images: ImageServer, chunked: bool
) -> None:
    """A body above max_qr_image_bytes: 413 image_too_large, announced or only found by reading."""
    images.routes["/big.png"] = Serve(body=qr_png(WARUNG) + bytes(60_000), chunked=chunked)
    images.routes["/fits.png"] = Serve(body=qr_png(WARUNG), chunked=chunked)
    with app_with(settings, db, max_qr_image_bytes=50_000) as client:
        with writes_nothing(db):
            response = client.post(
                CONVERT,
                headers=auth(merchant.test_api_key),
                json={"image_url": images.url("/big.png"), "nominal": 5000},
            )
        assert_error(response, 413, "image_too_large")
        convert(client, merchant.test_api_key, image_url=images.url("/fits.png"), nominal=5000)


@pytest.mark.parametrize("stall", ["head", "body"], ids=["no-answer", "body-stops"])
def test_image_url_that_stalls_times_out(
    settings: Settings, db: Database, merchant: NewMerchant, images: ImageServer, stall: str
) -> None:
    """A server that never finishes answering: image_url_timeout after qr_fetch_timeout."""
    images.routes["/slow.png"] = Serve(body=qr_png(WARUNG), stall=stall)
    with app_with(settings, db, qr_fetch_timeout=0.5) as client, writes_nothing(db):
        started = time.monotonic()
        response = client.post(
            CONVERT, headers=auth(merchant.test_api_key), json={"image_url": images.url("/slow.png"), "nominal": 5000}
        )
        elapsed = time.monotonic() - started
    assert_error(response, 400, "image_url_timeout", "image_url")
    assert 0.4 <= elapsed < 5, elapsed


def test_qr_fetch_timeout_alone_limits_the_fetch(
    settings: Settings, db: Database, merchant: NewMerchant, images: ImageServer
) -> None:
    images.routes["/after-a-second.png"] = Serve(body=qr_png(WARUNG), delay=1.0)
    with app_with(settings, db, qr_fetch_timeout=5.0, delivery_timeout=0.5) as client:
        response = client.post(
            CONVERT,
            headers=auth(merchant.test_api_key),
            json={"image_url": images.url("/after-a-second.png"), "nominal": 5000},
        )
    assert response.status_code == 200, response.text
    assert_dynamic(response.json()["qris"], WARUNG, 5000)


@pytest.mark.parametrize(
    ("hops", "status"),
    [(1, 302), (2, 302), (3, 302), (1, 301), (1, 303), (1, 307), (1, 308)],
)
def test_image_url_redirects_are_followed_up_to_three(
    client: TestClient, merchant: NewMerchant, images: ImageServer, hops: int, status: int
) -> None:
    """Each hop is followed (relative and absolute Locations), up to three."""
    for hop in range(hops, 0, -1):
        target = f"/r{hop - 1}" if hop > 1 else "/qr.png"
        location = target if hop % 2 else images.url(target)
        images.routes[f"/r{hop}"] = Serve(status, headers={"Location": location})
    answer = convert(client, merchant.test_api_key, image_url=images.url(f"/r{hops}"), nominal=5000)
    assert answer["merchant_name"] == "Warung Sayur Bu Sugeng"
    assert images.paths == [f"/r{h}" for h in range(hops, 0, -1)] + ["/qr.png"]


def test_image_url_fourth_redirect_is_refused(
    client: TestClient, db: Database, merchant: NewMerchant, images: ImageServer
) -> None:
    for hop in range(4, 0, -1):
        images.routes[f"/r{hop}"] = Serve(302, headers={"Location": f"/r{hop - 1}" if hop > 1 else "/qr.png"})
    images.routes["/loop"] = Serve(302, headers={"Location": "/loop"})
    with writes_nothing(db):
        four = client.post(
            CONVERT, headers=auth(merchant.test_api_key), json={"image_url": images.url("/r4"), "nominal": 5000}
        )
        loop = client.post(
            CONVERT, headers=auth(merchant.test_api_key), json={"image_url": images.url("/loop"), "nominal": 5000}
        )
    assert_error(four, 400, "image_url_failed", "image_url")
    assert_error(loop, 400, "image_url_failed", "image_url")
    assert images.paths == ["/r4", "/r3", "/r2", "/r1"] + ["/loop"] * 4


def test_image_url_redirect_to_another_scheme_is_refused(
    client: TestClient, db: Database, merchant: NewMerchant, images: ImageServer
) -> None:
    images.routes["/to-file"] = Serve(302, headers={"Location": "file:///etc/passwd"})
    with writes_nothing(db):
        response = client.post(
            CONVERT, headers=auth(merchant.test_api_key), json={"image_url": images.url("/to-file"), "nominal": 5000}
        )
    assert_error(response, 422, "invalid_url", "image_url")


# --- the dynamic QRIS of each payment -------------------------------------------------------


def create(client: TestClient, key: str, amount: int = 50000, **fields: Any) -> dict[str, Any]:
    """create-payment over HTTP; the whole answer."""
    response = client.post(CREATE, headers=auth(key), json={"amount": amount, **fields})
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert body["success"] is True
    return body


def check(client: TestClient, key: str, invoice: str) -> dict[str, Any]:
    response = client.get(CHECK, headers=auth(key), params={"invoice": invoice})
    assert response.status_code == 200, response.text
    return dict(response.json())


def created_event_payload(db: Database, invoice: str) -> dict[str, Any]:
    def read(conn: sa.Connection) -> str:
        return str(
            conn.execute(
                sa.select(events.c.payload)
                .join(payments, payments.c.id == events.c.payment_id)
                .where(payments.c.invoice_id == invoice, events.c.type == "payment.created")
            ).scalar_one()
        )

    return dict(json.loads(db.read_sync(read)))


def assert_payment_qris(client: TestClient, db: Database, key: str, body: dict[str, Any], static: str) -> str:
    """The QR payment's dynamic QRIS: the same at the top level, in ``payment``, in check-payment
    and in the payment.created event; ``static`` with final_amount embedded; its image decodes."""
    payment = body["payment"]
    qris = body["qris_string"]
    assert isinstance(qris, str)
    assert payment["qris_string"] == qris
    assert body["qr_image_url"] == payment["qr_image_url"]
    assert_dynamic(qris, static, payment["final_amount"])
    assert payment["final_amount"] == payment["amount"] + payment["unique_code"]
    checked = check(client, key, payment["invoice_id"])
    assert checked["qris_string"] == qris
    assert checked["qr_image_url"] == body["qr_image_url"]
    event = created_event_payload(db, payment["invoice_id"])
    assert event["qris_string"] == qris
    assert decoded(fetch_png(client, body["qr_image_url"])) == [qris]
    return qris


def test_qris_payment_carries_the_platform_qris_with_its_final_amount(
    settings: Settings, db: Database, merchant: NewMerchant
) -> None:
    """Method qris embeds final_amount into the operator's QRIS (here the labelled demo one)."""
    key = merchant.test_api_key
    with app_with(settings, db, platform_qris=DEMO_STATIC_QRIS) as client:
        body = create(client, key, 50000, payment_method="qris")
        qris = assert_payment_qris(client, db, key, body, DEMO_STATIC_QRIS)
        assert dict(tlv(qris))["59"] == DEMO_NAME
        # the default method is qris as well
        default = create(client, key, 50000)
        assert default["payment"]["payment_method"] == "qris"
        assert_payment_qris(client, db, key, default, DEMO_STATIC_QRIS)
        assert default["qris_string"] != qris  # another unique code, another amount


def test_the_demo_qris_serves_test_mode_only(settings: Settings, db: Database, merchant: NewMerchant) -> None:
    """A live payment on a QR no app can pay would be a lost sale: with the demo platform QRIS,
    method qris is unavailable to a live key (and says why), and nothing is written."""
    with app_with(settings, db, platform_qris=DEMO_STATIC_QRIS) as client:
        methods = client.get("/api/get-payment-methods.php", headers=auth(merchant.live_api_key)).json()["methods"]
        qris = next(m for m in methods if m["id"] == "qris")
        assert qris["available"] is False
        assert "demo" in qris["reason"]
        with writes_nothing(db):
            refused = client.post(CREATE, headers=auth(merchant.live_api_key), json={"amount": 50000})
        assert_error(refused, 400, "payment_method_unavailable", "payment_method")
        assert "KASIR_PLATFORM_QRIS" in refused.json()["error"]
        test_methods = client.get("/api/get-payment-methods.php", headers=auth(merchant.test_api_key)).json()
        assert next(m for m in test_methods["methods"] if m["id"] == "qris")["available"] is True


def test_platform_qris_of_a_real_merchant(settings: Settings, db: Database, merchant: NewMerchant) -> None:
    """KASIR_PLATFORM_QRIS set to the operator's own static QRIS: its merchant name is what the
    buyer's app shows."""
    with app_with(settings, db, platform_qris=ALDO) as client:
        body = create(client, merchant.test_api_key, 20000, payment_method="qris")
        qris = assert_payment_qris(client, db, merchant.test_api_key, body, ALDO)
    assert dict(tlv(qris))["59"] == "aldo soft"


def test_platform_qris_setting_is_validated_and_cleaned(tmp_path: Path) -> None:
    """Settings take `demo`, or a static QRIS (surrounding whitespace dropped); anything else is
    an error naming the rule."""
    assert Settings(home=tmp_path, platform_qris=f"  {ALDO}\n").platform_qris == ALDO
    assert Settings(home=tmp_path, platform_qris="DEMO").platform_qris == DEMO_STATIC_QRIS
    assert Settings(home=tmp_path, platform_qris="").platform_qris is None
    for bad, code in (
        ("garbage", "not_qris"),
        (wrong_crc(ALDO), "qris_crc_mismatch"),
        (STARBUCKS, "qris_not_static"),
    ):
        with pytest.raises(ValueError, match=code):
            Settings(home=tmp_path, platform_qris=bad)


def test_without_platform_qris_method_qris_is_unavailable(
    settings: Settings, db: Database, subscribed_merchant: NewMerchant
) -> None:
    """No KASIR_PLATFORM_QRIS: get-payment-methods says qris is unavailable and why;
    create-payment with qris (explicit or by default) is 400 payment_method_unavailable and
    writes nothing; the merchant's own QR channels still work."""
    key = subscribed_merchant.test_api_key
    with app_with(settings, db, platform_qris=None) as client:
        response = client.get(METHODS, headers=auth(key))
        assert response.status_code == 200, response.text
        methods = {m["id"]: m for m in response.json()["methods"]}
        assert methods["qris"]["available"] is False
        assert "KASIR_PLATFORM_QRIS" in methods["qris"]["reason"]
        assert methods["gopay_qris"]["available"] is True
        with writes_nothing(db):
            for fields in ({"payment_method": "qris"}, {}, {"payment_method": ""}):
                refused = client.post(CREATE, headers=auth(key), json={"amount": 50000, **fields})
                assert_error(refused, 400, "payment_method_unavailable", "payment_method")
        own = create(client, key, 50000, payment_method="gopay_qris")
        assert_payment_qris(client, db, key, own, VALID_QRIS)


@pytest.mark.parametrize(("method", "column"), [("qris_user", "qris_bri"), ("gopay_qris", "qris_gopay")])
def test_own_channel_payment_carries_the_merchants_qris(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant, method: str, column: str
) -> None:
    """qris_user / gopay_qris embed final_amount into the merchant's own static QRIS."""
    key = subscribed_merchant.test_api_key
    body = create(client, key, 250000, payment_method=method)
    qris = assert_payment_qris(client, db, key, body, VALID_QRIS)
    assert dict(tlv(qris))["59"] == "Warung Sederhana Jaya "


def test_each_own_channel_uses_its_own_qris(client: TestClient, db: Database, subscribed_merchant: NewMerchant) -> None:
    """A merchant with a BRI QRIS (Baznas') and a GoPay QRIS (aldo soft's): qris_user shows the
    one, gopay_qris the other; amounts up to 10,000,000 on own channels."""
    db.write_sync(lambda conn: configure_merchant(conn, subscribed_merchant.username, qris_bri=BAZNAS, qris_gopay=ALDO))
    key = subscribed_merchant.test_api_key
    bri = create(client, key, 10_000_000, payment_method="qris_user")
    gopay = create(client, key, 1000, payment_method="gopay_qris")
    assert dict(tlv(assert_payment_qris(client, db, key, bri, BAZNAS)))["59"] == "Baznas"
    assert dict(tlv(assert_payment_qris(client, db, key, gopay, ALDO)))["59"] == "aldo soft"


def test_ovo_payment_has_no_qris(client: TestClient, subscribed_merchant: NewMerchant) -> None:
    key = subscribed_merchant.test_api_key
    body = create(client, key, 50000, payment_method="ovo")
    assert body["qris_string"] is None
    assert body["qr_image_url"] is None
    assert body["payment"]["qris_string"] is None
    assert body["payment"]["qr_image_url"] is None
    checked = check(client, key, body["payment"]["invoice_id"])
    assert checked["qris_string"] is None
    assert checked["qr_image_url"] is None


def test_use_qris_converter_needs_a_qr_method(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant
) -> None:
    """use_qris_converter with ovo: 400 qris_converter_unavailable, nothing written; with a QR
    method it is accepted and the payment carries its QRIS."""
    key = subscribed_merchant.test_api_key
    with writes_nothing(db):
        for flag in (True, "true", "1"):
            refused = client.post(
                CREATE, headers=auth(key), json={"amount": 50000, "payment_method": "ovo", "use_qris_converter": flag}
            )
            assert_error(refused, 400, "qris_converter_unavailable", "use_qris_converter")
    for method, static in (("qris", VALID_QRIS), ("gopay_qris", VALID_QRIS)):
        body = create(client, key, 50000, payment_method=method, use_qris_converter=True)
        assert_payment_qris(client, db, key, body, static)


def test_idempotent_replay_repeats_the_qris(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    headers = {**auth(merchant.test_api_key), "Idempotency-Key": "order-77"}
    first = client.post(CREATE, headers=headers, json={"amount": 50000})
    counts = row_counts(db)
    again = client.post(CREATE, headers=headers, json={"amount": 50000})
    assert first.status_code == again.status_code == 200
    assert again.json()["qris_string"] == first.json()["qris_string"]
    assert again.json()["qr_image_url"] == first.json()["qr_image_url"]
    assert row_counts(db) == counts


def test_a_stored_invalid_qris_makes_the_channel_unavailable(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant
) -> None:
    """A QRIS saved before validation was this strict (written straight into the table): the
    payment is refused with 400 payment_method_unavailable, not a 500, and nothing is written."""

    def corrupt(conn: sa.Connection) -> None:
        conn.execute(
            sa.update(merchants)
            .where(merchants.c.username == subscribed_merchant.username)
            .values(qris_gopay=wrong_crc(VALID_QRIS))
        )

    db.write_sync(corrupt)
    key = subscribed_merchant.test_api_key
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth(key), json={"amount": 50000, "payment_method": "gopay_qris"})
    assert_error(response, 400, "payment_method_unavailable", "payment_method")
    assert "kasir merchant set" in response.json()["error"]
    create(client, key, 50000, payment_method="qris_user")  # the other channel is fine


@pytest.mark.parametrize("entry", [e for e in VALID if e["static"]], ids=lambda e: e["merchant_name"].strip())
def test_configure_merchant_accepts_every_published_static_qris(
    db: Database, merchant: NewMerchant, entry: dict[str, Any]
) -> None:
    row = db.write_sync(lambda conn: configure_merchant(conn, merchant.username, qris_gopay=f" {entry['qris']}\n"))
    assert row["qris_gopay"] == entry["qris"]


@pytest.mark.parametrize(
    ("qris", "code"),
    [
        pytest.param(wrong_crc(ALDO), "qris_crc_mismatch", id="wrong-crc"),
        pytest.param(ALDO[:60], "qris_length_overflow", id="truncated"),
        pytest.param("not a qris", "not_qris", id="garbage"),
        pytest.param(STARBUCKS, "qris_not_static", id="dynamic"),
        pytest.param(TIMS_FIXED, "qris_not_static", id="dynamic-with-fee"),
        pytest.param(with_crc(ALDO[:-8].replace("010211", "010212")), "qris_not_static", id="initiation-12"),
        pytest.param(with_crc(ALDO[:-8].replace("5802ID", "5405100005802ID")), "qris_not_static", id="has-amount"),
        pytest.param(with_crc(ALDO[:-8].replace("5303360", "5303840")), "qris_not_rupiah", id="dollars"),
    ],
)
def test_configure_merchant_refuses_and_stores_nothing(
    db: Database, subscribed_merchant: NewMerchant, qris: str, code: str
) -> None:
    """An invalid or dynamic QRIS is refused with the rule it broke; nothing of the change is
    stored, not even the valid fields given with it."""
    before = table_dump(db)
    with pytest.raises(QrisError) as refused:
        db.write_sync(
            lambda conn: configure_merchant(
                conn, subscribed_merchant.username, qris_bri=BAZNAS, qris_gopay=qris, email="new@example.com"
            )
        )
    assert refused.value.code == code
    assert refused.value.field == "qris_gopay"
    assert table_dump(db) == before


def test_merchant_with_a_public_qris_gets_its_name_in_payments(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """Configured with Kantin Ibu Lilik's GoPay QRIS, the merchant's gopay_qris payments show
    'Kantin Ibu Lilik' with the amount to pay."""
    kantin = public("Kantin Ibu Lilik")
    db.write_sync(lambda conn: configure_merchant(conn, merchant.username, subscription_active=True, qris_gopay=kantin))
    key = merchant.test_api_key
    body = create(client, key, 35000, payment_method="gopay_qris")
    qris = assert_payment_qris(client, db, key, body, kantin)
    assert dict(tlv(qris))["59"] == "Kantin Ibu Lilik"
    info = client.get(INFO, headers=auth(key), params={"qris": qris}).json()
    assert info["amount"] == body["payment"]["final_amount"]
    assert info["is_dynamic"] is True

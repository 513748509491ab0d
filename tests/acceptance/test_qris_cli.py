"""``kasir qris info|convert``, ``kasir merchant set --qris-*`` with an image, and ``kasir serve``
refusing a bad KASIR_PLATFORM_QRIS, as an operator runs them.

The qris commands need no server and no database, so they run once; the commands that store
something run on SQLite and on PostgreSQL (``backend``) and are checked in the database. ``serve``
runs as a real process. QR images are drawn here with segno and Pillow; answers are checked
with a TLV reader and a CRC written in this file.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
import sqlalchemy as sa
from PIL import Image
from typer.testing import CliRunner, Result

from kasir.cli import app
from kasir.db.engine import Database
from kasir.db.tables import merchants
from kasir.qris.image import read_codes
from tests.conftest import free_port, table_dump
from tests.qris_helpers import crc16, tlv, with_crc, wrong_crc

Invoke = Callable[..., Result]

FIXTURES: dict[str, list[dict[str, Any]]] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "qris" / "public_qris.json").read_text(encoding="utf-8")
)
VALID = FIXTURES["valid"]


def public(name: str, *, static: bool = True) -> str:
    return str(next(e["qris"] for e in VALID if e["merchant_name"] == name and e["static"] is static))


WARUNG = public("Warung Sayur Bu Sugeng")  # DANA, static
ALDO = public("aldo soft")  # GoPay, static
BAZNAS = public("Baznas")  # ShopeePay, static, criteria UBE
STARBUCKS = public("Starbucks ", static=False)  # dynamic, 39000.00
TELKOMSEL_GOPAY = next(e["qris"] for e in VALID if e["acquirer"] == "Telkomsel+GoPay")  # two acquirers
CONVERTED_TAGS = {"01", "54", "55", "56", "57", "63"}
INFO_KEYS = {"merchant_name", "merchant_city", "nmid", "criteria", "is_dynamic", "amount", "crc", "crc_valid"}


# --- an independent reading of QRIS ---------------------------------------------------------


def assert_dynamic(qris: str, static: str, amount: int) -> None:
    objects = tlv(qris)
    assert objects[0] == ("00", "01")
    assert dict(objects)["01"] == "12"
    assert [tag for tag, _ in objects].count("54") == 1
    assert dict(objects)["54"] == str(amount)
    assert objects[-1] == ("63", crc16(qris[:-4]))
    assert [o for o in objects if o[0] not in CONVERTED_TAGS] == [o for o in tlv(static) if o[0] not in CONVERTED_TAGS]


def with_acquirer(qris: str, guid: str) -> str:
    """``qris`` with its merchant account (tag 26) at another acquirer: the published static QRIS
    of BRI's are few, so a BRI one is made from a DANA one."""

    def field(tag: str, value: str) -> str:
        return f"{tag}{len(value):02d}{value}"

    objects = [(tag, value) for tag, value in tlv(qris) if tag != "63"]
    account = {**dict(tlv(dict(objects)["26"])), "00": guid}
    rebuilt = "".join(field(k, v) for k, v in account.items())
    return with_crc("".join(field(tag, rebuilt if tag == "26" else value) for tag, value in objects))


BRI = with_acquirer(WARUNG, "ID.CO.BRI.WWW")  # static, acquirer BRI


def qr_image(tmp_path: Path, text: str, name: str = "qris.png", fmt: str = "PNG") -> Path:
    """A photo-like file of the QR of ``text``, drawn with segno (not with Kasir's renderer)."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=6, border=4)
    path = tmp_path / name
    if fmt == "PNG":
        path.write_bytes(out.getvalue())
    else:
        Image.open(out).convert("RGB").save(path, fmt)
    return path


def blank_image(tmp_path: Path) -> Path:
    path = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(path, "PNG")
    return path


def said(text: str) -> str:
    """What was printed, with rich's line wrapping undone."""
    return " ".join(text.split())


# --- runners --------------------------------------------------------------------------------


@pytest.fixture
def qris(tmp_path: Path) -> Invoke:
    """``kasir qris …`` through typer's CliRunner, no database; asserts the exit code and that a
    refusal is a message, never a traceback."""
    runner = CliRunner()
    env = {"KASIR_HOME": str(tmp_path / "home")}

    def invoke(*args: str | Path, code: int = 0) -> Result:
        result = runner.invoke(app, ["qris", *(str(a) for a in args)], env=env)
        assert result.exit_code == code, (result.exit_code, result.output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        return result

    return invoke


@pytest.fixture
def kasir(database_url: str, tmp_path: Path) -> Invoke:
    """Any ``kasir`` command on the test's database."""
    runner = CliRunner()
    env = {"KASIR_DATABASE_URL": database_url, "KASIR_HOME": str(tmp_path / "home")}

    def invoke(*args: str | Path, code: int = 0) -> Result:
        result = runner.invoke(app, [str(a) for a in args], env=env)
        assert result.exit_code == code, (result.exit_code, result.output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        return result

    return invoke


# --- kasir qris info ------------------------------------------------------------------------


def test_info_json_of_a_static_qris(qris: Invoke) -> None:
    out = json.loads(qris("info", WARUNG, "--json").stdout)
    assert set(out) >= INFO_KEYS | {"acquirers", "mcc", "postal_code", "country_code", "currency", "fee"}
    assert out["merchant_name"] == "Warung Sayur Bu Sugeng"
    assert out["merchant_city"] == "Kab. Demak"
    assert out["nmid"] == "ID1020017611473"
    assert out["criteria"] == "UMI"
    assert out["is_dynamic"] is False
    assert out["amount"] in (None, 0)
    assert out["crc"] == WARUNG[-4:]
    assert out["crc_valid"] is True
    assert {a["id"] for a in out["acquirers"]} == {"ID.DANA.WWW", "ID.CO.QRIS.WWW"}


def test_info_json_of_a_dynamic_qris(qris: Invoke) -> None:
    out = json.loads(qris("info", STARBUCKS, "--json").stdout)
    assert out["is_dynamic"] is True
    assert out["amount"] == 39000
    assert out["merchant_name"] == "Starbucks "
    assert out["criteria"] == "UBE"


def test_info_json_prints_one_json_object_alone(qris: Invoke) -> None:
    """--json output is exactly one JSON document on stdout (pipeable into jq)."""
    result = qris("info", BAZNAS, "--json")
    assert result.stdout.count("\n") == 1
    assert json.loads(result.stdout)["merchant_name"] == "Baznas"


def test_info_every_published_qris(qris: Invoke) -> None:
    for entry in VALID:
        out = json.loads(qris("info", entry["qris"], "--json").stdout)
        assert out["merchant_name"] == entry["merchant_name"], entry["source"]
        assert out["is_dynamic"] is (not entry["static"]), entry["source"]
        assert out["crc_valid"] is True


def test_info_human_output(qris: Invoke) -> None:
    text = said(qris("info", WARUNG).stdout)
    for shown in ("Warung Sayur Bu Sugeng", "Kab. Demak", "ID1020017611473", "UMI", "static", "DANA", "valid"):
        assert shown in text, shown


def test_info_writes_the_amount_as_indonesians_do(qris: Invoke) -> None:
    """Rp 39.000, dots for thousands, as every amount Kasir prints (not Rp 39,000)."""
    lines = [" ".join(line.split()) for line in qris("info", STARBUCKS).stdout.splitlines()]
    assert "amount Rp 39.000" in lines
    assert "amount -" in [" ".join(line.split()) for line in qris("info", WARUNG).stdout.splitlines()]


def test_info_of_a_wrong_crc_exits_1_and_still_describes(qris: Invoke) -> None:
    """A mistyped QRIS is still described, with crc_valid false, and the exit code says so."""
    bad = wrong_crc(WARUNG)
    out = json.loads(qris("info", bad, "--json", code=1).stdout)
    assert out["crc_valid"] is False
    assert out["crc"] == bad[-4:]
    assert out["merchant_name"] == "Warung Sayur Bu Sugeng"
    human = qris("info", bad, code=1)
    assert "Warung Sayur Bu Sugeng" in said(human.stdout)
    assert "CRC" in said(human.stderr)


def test_info_reads_an_image_path(qris: Invoke, tmp_path: Path) -> None:
    """A PNG, JPEG or WebP of the QR describes the same QRIS as the string."""
    expected = json.loads(qris("info", ALDO, "--json").stdout)
    for name, fmt in (("aldo.png", "PNG"), ("aldo.jpg", "JPEG"), ("aldo.webp", "WEBP")):
        path = qr_image(tmp_path, ALDO, name, fmt)
        assert json.loads(qris("info", path, "--json").stdout) == expected, name


@pytest.mark.parametrize(
    ("source", "code"),
    [
        pytest.param("hello", "not_qris", id="text"),
        pytest.param("https://example.com/pay", "not_qris", id="a-url"),
        pytest.param("00020101021126", "qris_truncated", id="truncated-tag"),
        pytest.param(WARUNG[:50], "qris_length_overflow", id="truncated-value"),
        pytest.param(WARUNG[:14] + "5X" + WARUNG[16:], "qris_invalid_length", id="letter-in-length"),
        pytest.param("missing-file.png", "not_qris", id="no-such-file"),
        pytest.param("x" * 300, "not_qris", id="longer-than-a-file-name"),
        pytest.param("{text_file}", "image_unreadable", id="text-file"),
        pytest.param("{blank_png}", "qr_not_found", id="image-without-qr"),
        pytest.param("{url_qr_png}", "not_qris", id="qr-of-a-url"),
    ],
)
def test_info_unreadable_input_exits_2_with_the_code(qris: Invoke, tmp_path: Path, source: str, code: str) -> None:
    files = {
        "text_file": tmp_path / "notes.txt",
        "blank_png": blank_image(tmp_path),
        "url_qr_png": qr_image(tmp_path, "https://example.com/menu", "menu.png"),
    }
    files["text_file"].write_text("not an image\n")
    source = source.format(**{k: str(v) for k, v in files.items()})
    for extra in ((), ("--json",)):
        result = qris("info", source, *extra, code=2)
        assert result.stdout == ""
        assert f"({code})" in said(result.stderr), result.stderr


# --- kasir qris convert ---------------------------------------------------------------------


def test_convert_prints_the_dynamic_qris_alone(qris: Invoke) -> None:
    """stdout is the dynamic QRIS and a newline, nothing else: ``$(kasir qris convert …)`` works."""
    result = qris("convert", WARUNG, "--amount", "50000")
    line = result.stdout.removesuffix("\n")
    assert result.stdout == line + "\n"
    assert "\n" not in line
    assert_dynamic(line, WARUNG, 50000)


def test_convert_every_published_qris(qris: Invoke) -> None:
    for entry in VALID:
        line = qris("convert", entry["qris"], "--amount", "777").stdout.strip()
        assert_dynamic(line, entry["qris"], 777)


def test_convert_replaces_a_dynamic_amount(qris: Invoke) -> None:
    line = qris("convert", STARBUCKS, "--amount", "15000").stdout.strip()
    assert_dynamic(line, STARBUCKS, 15000)


def test_convert_writes_png_and_svg_of_what_it_prints(qris: Invoke, tmp_path: Path) -> None:
    png, svg = tmp_path / "out" / "pay.png", tmp_path / "pay.svg"
    png.parent.mkdir()
    result = qris("convert", ALDO, "--amount", "25000", "--png", png, "--svg", svg)
    line = result.stdout.strip()
    assert result.stdout == line + "\n"  # the "wrote …" notes go to stderr
    assert_dynamic(line, ALDO, 25000)
    assert read_codes(png.read_bytes()) == [line]
    text = svg.read_text()
    assert "<svg" in text
    assert "</svg>" in text


def test_convert_takes_an_image_path(qris: Invoke, tmp_path: Path) -> None:
    """The QR photographed or screenshotted: the same dynamic QRIS as from the string."""
    from_string = qris("convert", BAZNAS, "--amount", "10000").stdout
    for name, fmt in (("baznas.png", "PNG"), ("baznas.jpg", "JPEG")):
        path = qr_image(tmp_path, BAZNAS, name, fmt)
        assert qris("convert", path, "--amount", "10000").stdout == from_string, name
    out_png = tmp_path / "again.png"
    line = qris("convert", qr_image(tmp_path, BAZNAS), "--amount", "10000", "--png", out_png).stdout.strip()
    assert read_codes(out_png.read_bytes()) == [line]


@pytest.mark.parametrize("amount", ["0", "-5"])
def test_convert_refuses_a_non_positive_amount(qris: Invoke, tmp_path: Path, amount: str) -> None:
    png = tmp_path / "never.png"
    result = qris("convert", WARUNG, "--amount", amount, "--png", png, code=2)
    assert result.stdout == ""
    assert "(invalid_amount)" in said(result.stderr)
    assert not png.exists()


def test_convert_refuses_amounts_that_are_not_whole_rupiah(qris: Invoke) -> None:
    for amount in ("1.5", "abc", "1e3", ""):
        assert qris("convert", WARUNG, "--amount", amount, code=2).stdout == ""
    assert qris("convert", WARUNG, code=2).stdout == ""  # --amount is required


@pytest.mark.parametrize("amount", ["50.000", "50.0", "1.000"])
def test_convert_refuses_an_amount_with_a_thousands_dot(tmp_path: Path, amount: str) -> None:
    result = CliRunner().invoke(
        app, ["qris", "convert", WARUNG, "--amount", amount], env={"KASIR_HOME": str(tmp_path / "home")}
    )
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("source", "code"),
    [
        pytest.param(wrong_crc(WARUNG), "qris_crc_mismatch", id="wrong-crc"),
        pytest.param("hello", "not_qris", id="text"),
        pytest.param(with_crc(WARUNG[:-8].replace("5303360", "5303840")), "qris_not_rupiah", id="dollars"),
    ],
)
def test_convert_refuses_a_bad_qris(qris: Invoke, source: str, code: str) -> None:
    result = qris("convert", source, "--amount", "5000", code=2)
    assert result.stdout == ""
    assert f"({code})" in said(result.stderr)


def overlong_qris() -> str:
    """Accepted by every rule of Kasir's parser, but 4,600 characters: no QR code holds it."""
    body = "000201010211"
    body += "".join(f"{tag:02d}99" + "9" * 99 for tag in range(2, 26))
    body += "26120008ID.X.WWW" + "52045999" + "5303360" + "5802ID" + "5904LONG" + "6003JKT"
    body += "".join(f"{tag:02d}99" + "X" * 99 for tag in range(80, 100))
    return with_crc(body)


def test_convert_png_of_an_overlong_qris_fails_cleanly(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["qris", "convert", overlong_qris(), "--amount", "5000", "--png", str(tmp_path / "x.png")],
        env={"KASIR_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 2, (result.exit_code, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


# --- kasir merchant set --qris-* with an image ----------------------------------------------


def stored_channels(db: Database, username: str) -> dict[str, Any]:
    row = db.read_sync(
        lambda conn: conn.execute(sa.select(merchants).where(merchants.c.username == username)).mappings().one()
    )
    return {"qris_bri": row["qris_bri"], "qris_gopay": row["qris_gopay"], "subscription": row["subscription_active"]}


@pytest.fixture
def shop(kasir: Invoke) -> str:
    return str(json.loads(kasir("merchant", "create", "--name", "Toko QR", "--json").stdout)["username"])


def test_merchant_set_takes_a_picture_of_the_qr(kasir: Invoke, db: Database, shop: str, tmp_path: Path) -> None:
    """--qris-gopay a PNG, --qris-bri a JPEG: the QRIS they show is stored, as text."""
    kasir(
        "merchant",
        "set",
        shop,
        "--subscription",
        "active",
        "--qris-gopay",
        qr_image(tmp_path, ALDO, "gopay.png"),
        "--qris-bri",
        qr_image(tmp_path, BRI, "bri.jpg", "JPEG"),
    )
    assert stored_channels(db, shop) == {"qris_bri": BRI, "qris_gopay": ALDO, "subscription": True}
    listed = json.loads(kasir("merchant", "list", "--json").stdout)
    assert set(next(m for m in listed if m["username"] == shop)["integrations"]) == {"qris_bri", "qris_gopay"}


def test_merchant_set_takes_the_string_too(kasir: Invoke, db: Database, shop: str) -> None:
    kasir("merchant", "set", shop, "--qris-gopay", f"  {ALDO}  ")
    assert stored_channels(db, shop)["qris_gopay"] == ALDO
    kasir("merchant", "set", shop, "--qris-gopay", "")
    assert stored_channels(db, shop)["qris_gopay"] is None


@pytest.mark.parametrize(
    ("make", "code"),
    [
        pytest.param(lambda tmp: qr_image(tmp, STARBUCKS, "dynamic.png"), "qris_not_static", id="dynamic-qr-image"),
        pytest.param(blank_image, "qr_not_found", id="image-without-qr"),
        pytest.param(lambda tmp: qr_image(tmp, "https://example.com", "url.png"), "not_qris", id="qr-of-a-url"),
        pytest.param(lambda tmp: wrong_crc(ALDO), "qris_crc_mismatch", id="wrong-crc-string"),
        pytest.param(lambda tmp: STARBUCKS, "qris_not_static", id="dynamic-string"),
        pytest.param(lambda tmp: WARUNG, "qris_wrong_acquirer", id="another-acquirer"),
        pytest.param(
            lambda tmp: qr_image(tmp, BAZNAS, "shopee.png"), "qris_wrong_acquirer", id="another-acquirer-image"
        ),
    ],
)
def test_merchant_set_refuses_and_stores_nothing(
    kasir: Invoke, db: Database, shop: str, tmp_path: Path, make: Any, code: str
) -> None:
    """A refused QRIS changes nothing, not even the other options given with it."""
    kasir("merchant", "set", shop, "--qris-bri", BRI)
    before = table_dump(db)
    result = kasir(
        "merchant", "set", shop, "--subscription", "active", "--qris-gopay", make(tmp_path), "--email", "a@b.id", code=2
    )
    assert f"({code})" in said(result.stderr)
    assert table_dump(db) == before


@pytest.mark.parametrize(
    ("option", "source", "expected", "acquirer"),
    [
        pytest.param("--qris-gopay", WARUNG, "GoPay", "DANA (ID.DANA.WWW)", id="dana-as-gopay"),
        pytest.param("--qris-gopay", BRI, "GoPay", "BRI (ID.CO.BRI.WWW)", id="bri-as-gopay"),
        pytest.param("--qris-bri", ALDO, "BRI", "GoPay (COM.GO-JEK.WWW)", id="gopay-as-bri"),
        pytest.param("--qris-bri", BAZNAS, "BRI", "ShopeePay (ID.CO.SHOPEE.WWW)", id="shopeepay-as-bri"),
    ],
)
def test_merchant_set_refuses_a_qris_of_another_acquirer_saying_whose_it_is(
    kasir: Invoke, db: Database, shop: str, option: str, source: str, expected: str, acquirer: str
) -> None:
    """Saved as a GoPay (or BRI) channel, another acquirer's QRIS would take buyers' money to an
    account nothing reads for that channel: refused, naming the acquirer as `qris info` reads it,
    the merchant and the NMID, and pointing at --force. Nothing is stored."""
    before = table_dump(db)
    result = kasir("merchant", "set", shop, "--subscription", "active", option, source, code=2)
    message = said(result.stderr)
    assert f"must be a {expected} QRIS" in message
    assert f"is acquired by {acquirer}" in message
    described = json.loads(kasir("qris", "info", source, "--json").stdout)
    assert described["merchant_name"].strip() in message
    assert described["nmid"] in message
    assert "(qris_wrong_acquirer)" in message
    assert "--force" in message
    assert table_dump(db) == before


def test_merchant_set_force_saves_a_qris_of_another_acquirer(kasir: Invoke, db: Database, shop: str) -> None:
    kasir("merchant", "set", shop, "--qris-gopay", WARUNG, "--qris-bri", ALDO, "--force")
    assert stored_channels(db, shop) == {"qris_bri": ALDO, "qris_gopay": WARUNG, "subscription": False}
    # --force waives the acquirer, not the other rules.
    result = kasir("merchant", "set", shop, "--qris-gopay", STARBUCKS, "--force", code=2)
    assert "(qris_not_static)" in said(result.stderr)
    assert stored_channels(db, shop)["qris_gopay"] == WARUNG


def test_merchant_set_takes_a_qris_with_the_channels_acquirer_among_others(
    kasir: Invoke, db: Database, shop: str
) -> None:
    """A QRIS may name several acquirers (Telkomsel's, and GoPay's): one of them is enough."""
    kasir("merchant", "set", shop, "--qris-gopay", TELKOMSEL_GOPAY)
    assert stored_channels(db, shop)["qris_gopay"] == TELKOMSEL_GOPAY


# --- kasir serve and KASIR_PLATFORM_QRIS ----------------------------------------------------


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASIR_")}
    return {**env, "KASIR_HOME": str(tmp_path / "home"), **extra}


@pytest.mark.parametrize(
    ("value", "code"),
    [
        pytest.param("garbage", "not_qris", id="garbage"),
        pytest.param(wrong_crc(ALDO), "qris_crc_mismatch", id="wrong-crc"),
        pytest.param(STARBUCKS, "qris_not_static", id="dynamic"),
    ],
)
def test_serve_refuses_a_bad_platform_qris_at_start(tmp_path: Path, value: str, code: str) -> None:
    """``kasir serve`` stops at once, naming KASIR_PLATFORM_QRIS and the rule, without a traceback
    and before touching the database."""
    started = subprocess.run(
        [sys.executable, "-m", "kasir.cli", "serve", "--port", str(free_port())],
        env=serve_env(tmp_path, KASIR_PLATFORM_QRIS=value),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert started.returncode == 2, (started.stdout, started.stderr)
    message = said(started.stderr)
    assert "KASIR_PLATFORM_QRIS" in message
    assert f"({code})" in message
    assert "Traceback" not in started.stderr + started.stdout
    assert "Uvicorn running" not in started.stderr + started.stdout
    assert not (tmp_path / "home" / "kasir.db").exists()


def test_serve_with_a_platform_qris_embeds_it_in_payments(kasir: Invoke, database_url: str, tmp_path: Path) -> None:
    """KASIR_PLATFORM_QRIS, pasted with spaces around it, is the QRIS every qris payment of the
    running server embeds its final amount into."""
    key = json.loads(kasir("merchant", "create", "--name", "Toko Serve", "--json").stdout)["test_api_key"]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "kasir.cli", "serve", "--port", str(port), "--no-worker", "--log-level", "warning"],
        env=serve_env(tmp_path, KASIR_PLATFORM_QRIS=f"  {ALDO}\n", KASIR_DATABASE_URL=database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "kasir serve did not start"
            time.sleep(0.1)
        response = httpx.post(
            f"{base}/api/create-payment.php", headers={"X-API-Key": key}, json={"amount": 42000}, timeout=10
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert_dynamic(body["qris_string"], ALDO, body["payment"]["final_amount"])
        assert dict(tlv(body["qris_string"]))["59"] == "aldo soft"
        image = httpx.get(body["qr_image_url"], timeout=10)
        assert image.status_code == 200
        assert read_codes(image.content) == [body["qris_string"]]
    finally:
        server.terminate()
        server.wait(timeout=15)

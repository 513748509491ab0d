"""How every app table is read (kasir.sources.parsers.engine): whitespace, big_text, the shared
promotion and code rules, and the checks on a table itself."""

from __future__ import annotations

import pytest

from kasir.sources.parsers import Ignored, Incoming, Notification, Unparsed, parse
from kasir.sources.parsers.amounts import DOT_THOUSANDS
from kasir.sources.parsers.engine import LONGEST_TEXT, AppParser, Credit, Ignore, normalise

GOPAY_TITLE = "Pembayaran QRIS statis diterima"


@pytest.mark.parametrize(
    "text",
    [
        "Rp\u00a01.127 di JAJAN.AI",
        "Rp\u202f1.127 di JAJAN.AI",
        "Rp 1.127\ndi JAJAN.AI",
        "  Rp   1.127 \t di  JAJAN.AI  ",
        "Rp\u200b 1.127 di JAJAN.AI",
        "Rp1.127 di JAJAN.AI",
    ],
)
def test_odd_whitespace(text: str) -> None:
    assert parse(Notification("com.gojek.gopaymerchant", GOPAY_TITLE, text)) == Incoming(1127, "gopay_merchant")


def test_odd_whitespace_in_the_title() -> None:
    title = "Pembayaran\u00a0QRIS  statis\nditerima "
    assert parse(Notification("com.gojek.gopaymerchant", title, "Rp 1.127 di X.")) == Incoming(1127, "gopay_merchant")


def test_normalise() -> None:
    assert normalise("\u00a0a\u202f\u2007b\r\n\tc\u200d ") == "a b c"


def test_big_text_is_preferred_when_it_holds_the_phrase() -> None:
    notification = Notification(
        "id.dana",
        "Pembayaran Masuk",
        "Rp 1.500.000 diterima dari Budi…",
        big_text="Rp 1.500.000 diterima dari Budi Santoso",
    )
    assert parse(notification) == Incoming(1_500_000, "dana", payer="Budi Santoso")


def test_text_is_read_when_big_text_lacks_the_phrase() -> None:
    notification = Notification("id.dana", "Pembayaran Masuk", "Rp 20.000 diterima dari Ani", big_text="Lihat detail")
    assert parse(notification) == Incoming(20_000, "dana", payer="Ani")


def test_payer_ends_with_its_sentence() -> None:
    text = "Rp 20.000 diterima dari H.Ani Lestari. Saldo Rp 100.000"
    assert parse(Notification("id.dana", "Pembayaran Masuk", text)) == Incoming(20_000, "dana", payer="H.Ani Lestari")


@pytest.mark.parametrize(
    ("package", "title", "text"),
    [
        ("id.dana", "Cashback Rp 5.000 diterima!", "Rp 5.000 diterima dari DANA"),
        ("com.gojek.gopaymerchant", "Promo spesial", "Pembayaran QRIS statis diterima: Rp 1 di mana saja"),
        ("ovo.id", "Diskon 50%", "Bayar pakai OVO"),
        ("com.shopeepay.id", "ShopeePay", "Klaim voucher Rp 10.000 sekarang"),
        ("id.dana", "DANA", "Kamu berhasil menerima cashback Rp 5.000"),
    ],
)
def test_promotions_are_ignored(package: str, title: str, text: str) -> None:
    result = parse(Notification(package, title, text))
    assert isinstance(result, Ignored)
    assert result.reason == "promotion"


def test_a_shops_name_does_not_hide_its_payments() -> None:
    """Promotion words are looked for in a body only after the incoming phrases."""
    text = "Rp 1.127 di TOKO DISKON JAYA."
    assert parse(Notification("com.gojek.gopaymerchant", GOPAY_TITLE, text)) == Incoming(1127, "gopay_merchant")


@pytest.mark.parametrize(
    ("title", "text"),
    [("Kode OTP", "Jangan berikan kode 123456 kepada siapa pun"), ("DANA", "Kode verifikasi kamu 123456")],
)
def test_codes_are_ignored(title: str, text: str) -> None:
    assert parse(Notification("id.dana", title, text)) == Ignored("otp", "dana")


def test_empty_notification() -> None:
    assert parse(Notification("id.dana", "", "")) == Unparsed("no_rule")


def test_a_credit_must_name_its_amount_once() -> None:
    with pytest.raises(ValueError, match="amount"):
        AppParser("x", ("x",), DOT_THOUSANDS, (Credit(title="Uang masuk", body="dari {payer}"),))
    with pytest.raises(ValueError, match="amount"):
        AppParser("x", ("x",), DOT_THOUSANDS, (Credit(title="Masuk {amount}", body="{amount}"),))
    with pytest.raises(ValueError, match="title or a body"):
        AppParser("x", ("x",), DOT_THOUSANDS, (Ignore("promotion"),))


def test_an_overlong_text_is_left_for_review_unread() -> None:
    padding = " Digital & Kreatif" * (LONGEST_TEXT // 10)
    notification = Notification("com.gojek.gopaymerchant", GOPAY_TITLE, "Rp 1.127 di JAJAN.AI" + padding)
    assert parse(notification) == Unparsed("no_rule")
    assert parse(Notification("id.dana", "DANA", "DANA Protection: " + "QRIS " * 200_000)) == Unparsed("no_rule")

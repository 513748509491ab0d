"""The mistakes published notification parsers make, each one a test the naive parser fails.

Synthetic texts here are built from the recorded ones (test_parser_formats.py) by adding what
real notifications carry: a balance sentence, a shop's name, odd whitespace.
"""

from __future__ import annotations

import re

from kasir.sources.parsers import PACKAGES, SUPERSEDED, Ignored, Incoming, Invalid, Notification, Unparsed, parse


def naive_amount(text: str) -> int:
    """What published parsers do: the last "Rp" figure, every separator stripped."""
    return int(re.findall(r"Rp\s*([0-9.,]+[0-9])", text)[-1].replace(".", "").replace(",", ""))


def test_the_amount_is_the_one_the_phrase_names_not_the_last_rp() -> None:
    text = "Pembayaran QRIS statis diterima: Rp 10.000 di J Store. Saldo Rp 250.000"
    assert naive_amount(text) == 250_000
    assert parse(Notification("com.gojek.gopaymerchant", "GoPay Merchant", text)) == Incoming(10_000, "gopay_merchant")


def test_nor_the_first_rp() -> None:
    text = "Saldo Rp 250.000. Rp 10.000 diterima dari Budi Santoso"
    assert parse(Notification("id.dana", "Pembayaran Masuk", text)) == Incoming(10_000, "dana", payer="Budi Santoso")


def test_the_recorded_mistake_text_is_not_read_as_its_balance() -> None:
    """The exact text in which the naive parser took the balance matches no app's phrase here:
    it is left for review, neither 10,000 guessed nor 250,000 taken."""
    text = "Pembayaran QRIS Rp 10.000 diterima. Saldo Rp 250.000"
    assert naive_amount(text) == 250_000
    for package in ("com.gojek.gopaymerchant", "id.dana", "com.interactive.qrisid"):
        assert parse(Notification(package, "Pembayaran QRIS", text)) == Unparsed("no_rule")


def test_decimals_are_not_stripped_into_the_amount() -> None:
    text = "Rp 1.500.000,00 diterima dari Budi Santoso"
    assert naive_amount(text) == 150_000_000
    assert parse(Notification("id.dana", "Pembayaran Masuk", text)) == Incoming(1_500_000, "dana", payer="Budi Santoso")
    text = "Jumlah Rp 1.000,00"
    assert naive_amount(text) == 100_000
    assert parse(Notification("src.com.bni", "Transaksi diterima!", text)) == Incoming(1000, "bni")


def test_mybca_english_grouping() -> None:
    notification = Notification("com.bca.mybca.omni.android", "Catatan Finansial", "Pemasukan 1,500,000.00")
    assert parse(notification) == Incoming(1_500_000, "mybca")


def test_a_fraction_is_refused_not_rounded() -> None:
    result = parse(Notification("id.dana", "Pembayaran Masuk", "Rp 10.000,50 diterima dari Budi"))
    assert isinstance(result, Invalid)
    assert (result.code, result.parser) == ("amount_fraction", "dana")


def test_a_malformed_group_is_refused() -> None:
    result = parse(
        Notification("com.gojek.gopaymerchant", "Pembayaran QRIS statis diterima", "Rp 1.50.000 di J Store.")
    )
    assert isinstance(result, Invalid)
    assert result.code == "amount_malformed"


def test_keywords_alone_do_not_make_money_in() -> None:
    """Each of these holds "diterima", "masuk", "berhasil" or "QRIS" and an amount; none is a credit."""
    texts = [
        (
            "id.co.bri.brimo",
            "Notifikasi Transaksi",
            "Notifikasi Transaksi QRIS di WARUNG ABC sebesar Rp35.000 berhasil.",
        ),
        ("id.dana", "DANA", "DANA Protection: 09/09 15:40 QRIS Indomaret ... Rp 54.000 Berhasil"),
        ("ovo.id", "OVO", "OVO Cash: 14/09 16:30 Transaksi QRIS Fore Coffee ... Rp 35.000 Berhasil"),
        ("id.dana", "DANA", "Pembayaran QRIS Rp 25.000 berhasil"),
        ("com.gojek.gopaymerchant", "GoPay Merchant", "Pencairan Rp 500.000 berhasil masuk ke rekening"),
        ("com.shopeepay.id", "ShopeePay", "Top up Rp 50.000 diterima"),
        ("com.bnc.finance", "Transfer Keluar", "Rp10.000 berhasil dikirim"),
    ]
    for package, title, text in texts:
        result = parse(Notification(package, title, text))
        assert not isinstance(result, Incoming), (package, text, result)


def test_outgoing_is_checked_before_the_incoming_phrase() -> None:
    """A shop the merchant paid may be named anything, an incoming phrase included."""
    text = "Notifikasi Transaksi QRIS di Transfer masuk sebesar Rp 1 sebesar Rp35.000 berhasil."
    assert parse(Notification("id.co.bri.brimo", "Notifikasi Transaksi", text)) == Ignored("outgoing", "brimo")


def test_one_payment_on_gopay_and_gopay_merchant_is_not_counted_twice() -> None:
    """The consumer app is superseded by the merchant app: the caller drops its credits."""
    assert SUPERSEDED["com.gojek.gopay"] == "com.gojek.gopaymerchant"
    assert PACKAGES[SUPERSEDED["com.gojek.gopay"]] == "gopay_merchant"
    assert "com.gojek.gopaymerchant" not in SUPERSEDED  # the merchant app's credits always count


def test_an_unknown_title_surfaces_instead_of_vanishing() -> None:
    """A dynamic-QRIS payment's title was never observed; it is left for review, not dropped."""
    notification = Notification("com.gojek.gopaymerchant", "Pembayaran QRIS dinamis diterima", "Rp 1.127 di J Store.")
    assert parse(notification) == Unparsed("no_rule")


def test_a_summary_of_several_payments_is_not_read_as_one() -> None:
    text = "Pembayaran QRIS diterima, Rp114 akan dikreditkan ke Tabungan Reguler kamu 5859********8988"
    assert parse(Notification("com.bnc.finance", "Kamu menerima 2 pembayaran", text)) == Unparsed("no_rule")


def test_a_truncated_reference_is_no_reference() -> None:
    """Two payments whose ids share a cut-off prefix must not look like one (the caller
    de-duplicates on the reference)."""
    for cut in ("1335...", "1335…"):
        text = f"Pembayaran sebesar Rp2 telah diterima pada transaksi {cut}"
        assert parse(Notification("com.shopeepay.id", "", text)) == Incoming(2, "shopeepay")
    whole = "Pembayaran sebesar Rp2 telah diterima pada transaksi 133512345678."
    assert parse(Notification("com.shopeepay.id", "", whole)) == Incoming(2, "shopeepay", reference="133512345678")


def test_the_receiver_is_not_taken_for_the_payer() -> None:
    """ "Rp10 diterima DANA Bisnis." is received *by* DANA Bisnis; a published parser reports it as the sender."""
    result = parse(Notification("id.dana", "Pembayaran Masuk", "Rp10 diterima DANA Bisnis."))
    assert result == Incoming(10, "dana", payer=None)

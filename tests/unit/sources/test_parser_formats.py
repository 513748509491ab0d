"""Every notification text recorded from the apps, word for word, and what it reads as.

These are the confirmed texts the app modules' docstrings point to (incoming money, then the
merchant's own payments that look like it). Where the record elides part of a text ("…" / "...")
the elision is kept as recorded.
"""

from __future__ import annotations

import pytest

from kasir.sources.parsers import (
    APPS,
    PACKAGES,
    SUPERSEDED,
    Ignored,
    Incoming,
    Notification,
    Result,
    Unparsed,
    parse,
)

INCOMING: list[tuple[str, str, str, Result]] = [
    (
        "com.gojek.gopaymerchant",
        "Pembayaran QRIS statis diterima",
        "Rp 1.127 di JAJAN.AI DIY YOGYAKARTA, Digital & Kreatif.",
        Incoming(1127, "gopay_merchant"),
    ),
    (
        "com.gojek.gopaymerchant",
        "GoPay Merchant",
        "Pembayaran QRIS statis diterima: Rp 18.017 di J Store.",
        Incoming(18017, "gopay_merchant"),
    ),
    ("id.dana", "Pembayaran Masuk", "Rp10 diterima DANA Bisnis.", Incoming(10, "dana")),
    ("id.dana.business", "Pembayaran Masuk", "Rp10 diterima DANA Bisnis.", Incoming(10, "dana")),
    (
        "id.dana",
        "Pembayaran Masuk",
        "Rp 1.500.000 diterima dari Budi Santoso",
        Incoming(1_500_000, "dana", payer="Budi Santoso"),
    ),
    (
        "id.dana.business",
        "Pembayaran Masuk",
        "Rp 1.500.000 diterima dari Budi Santoso",
        Incoming(1_500_000, "dana", payer="Budi Santoso"),
    ),
    # The recorded text elides the payer ("dari ..."): no name is made of the dots.
    ("id.dana", "Kamu berhasil menerima", "Kamu berhasil menerima Rp99.947 dari ...", Incoming(99_947, "dana")),
    # The recorded reference is cut ("1335..."): a truncated id is no reference at all.
    (
        "com.shopeepay.id",
        "Pembayaran sebesar Rp2 diterima",
        "Pembayaran sebesar Rp2 telah diterima pada transaksi 1335...",
        Incoming(2, "shopeepay"),
    ),
    (
        "com.shopee.id",
        "Pembayaran sebesar Rp2 diterima",
        "Pembayaran sebesar Rp2 telah diterima pada transaksi 1335...",
        Incoming(2, "shopeepay"),
    ),
    ("com.bca.mybca.omni.android", "Catatan Finansial", "Pemasukan 1,500,000.00", Incoming(1_500_000, "mybca")),
    ("src.com.bni", "Transaksi diterima!", "Jumlah Rp 2.500.000", Incoming(2_500_000, "bni")),
    ("id.co.bni.merchant", "Transaksi diterima!", "Jumlah Rp 2.500.000", Incoming(2_500_000, "bni")),
    # BRImo's title was not recorded.
    ("id.co.bri.brimo", "", "BRImo - Transfer masuk sebesar Rp 750000", Incoming(750_000, "brimo")),
    ("id.co.bri.brimo", "BRImo", "BRImo - Transfer masuk sebesar Rp 750000", Incoming(750_000, "brimo")),
    ("com.bnc.finance", "Transfer Masuk", "Rp10347 akan dikreditkan ke rekening Anda", Incoming(10_347, "nobu")),
    (
        "com.bnc.finance",
        "Kamu menerima 1 pembayaran",
        "Pembayaran QRIS diterima, Rp114 akan dikreditkan ke Tabungan Reguler kamu 5859********8988",
        Incoming(114, "nobu"),
    ),
    (
        "com.interactive.qrisid",
        "Transaksi InterActive QRIS",
        "Pembayaran QRIS sebesar Rp 1 Sample Sender - Sample Source telah diterima",
        Incoming(1, "interactive_qris", payer="Sample Sender"),
    ),
]

OUTGOING: list[tuple[str, str, str, Result]] = [
    (
        "id.co.bri.brimo",
        "Notifikasi Transaksi",
        "Notifikasi Transaksi QRIS di WARUNG ABC sebesar Rp35.000 berhasil.",
        Ignored("outgoing", "brimo"),
    ),
    (
        "id.dana",
        "DANA",
        "DANA Protection: 09/09 15:40 QRIS Indomaret ... Rp 54.000 Berhasil",
        Ignored("outgoing", "dana"),
    ),
    (
        "ovo.id",
        "OVO",
        "OVO Cash: 14/09 16:30 Transaksi QRIS Fore Coffee ... Rp 35.000 Berhasil",
        Ignored("outgoing", "ovo"),
    ),
    (
        "ovo.merchant",
        "OVO",
        "OVO Cash: 14/09 16:30 Transaksi QRIS Fore Coffee ... Rp 35.000 Berhasil",
        Ignored("outgoing", "ovo"),
    ),
]


@pytest.mark.parametrize(("package", "title", "text", "expected"), INCOMING + OUTGOING)
def test_recorded_text(package: str, title: str, text: str, expected: Result) -> None:
    assert parse(Notification(package, title, text)) == expected


@pytest.mark.parametrize(("package", "title", "text", "expected"), INCOMING + OUTGOING)
def test_recorded_text_as_big_text(package: str, title: str, text: str, expected: Result) -> None:
    """Apps that set an expanded text often leave ``text`` short; the expanded one is read."""
    assert parse(Notification(package, title, text[:8] + "…", big_text=text)) == expected


def test_blu_incoming_title_alone_is_not_guessed_at() -> None:
    """blu's incoming title is known, its text is not: no amount is invented for it."""
    assert parse(Notification("id.co.bcadigital.blu", "Kamu Menerima Dana Nih!", "")) == Unparsed("no_rule")


@pytest.mark.parametrize(
    "package",
    ["com.gojek.gopay", "id.bmri.livin", "id.co.bcadigital.blu", "com.bcadigital.blu", "ovo.id"],
)
def test_apps_without_a_confirmed_incoming_text_leave_everything_for_review(package: str) -> None:
    notification = Notification(package, "Transfer masuk", "Kamu menerima Rp 50.000 dari Budi")
    assert parse(notification) == Unparsed("no_rule")


def test_package_without_a_parser() -> None:
    assert parse(Notification("com.whatsapp", "Budi", "sudah transfer Rp 50.000 ya")) == Unparsed("no_parser")
    assert "com.whatsapp" not in PACKAGES


def test_every_app_package_is_listed_under_its_module_name() -> None:
    expected = {
        "com.gojek.gopaymerchant": "gopay_merchant",
        "com.gojek.gopay": "gopay",
        "id.dana": "dana",
        "id.dana.business": "dana",
        "com.shopeepay.id": "shopeepay",
        "com.shopee.id": "shopeepay",
        "ovo.id": "ovo",
        "ovo.merchant": "ovo",
        "id.co.bri.brimo": "brimo",
        "src.com.bni": "bni",
        "id.co.bni.merchant": "bni",
        "com.bca.mybca.omni.android": "mybca",
        "id.co.bcadigital.blu": "blu",
        "com.bcadigital.blu": "blu",
        "com.bnc.finance": "nobu",
        "id.bmri.livin": "livin",
        "com.interactive.qrisid": "interactive_qris",
    }
    assert dict(PACKAGES) == expected
    assert {app.name for app in APPS} == set(expected.values())


def test_app_names_are_their_module_names() -> None:
    import importlib

    for app in APPS:
        module = importlib.import_module(f"kasir.sources.parsers.{app.name}")
        assert module.PARSER is app


def test_gopay_is_superseded_by_gopay_merchant() -> None:
    assert dict(SUPERSEDED) == {"com.gojek.gopay": "com.gojek.gopaymerchant"}
    assert all(target in PACKAGES for target in SUPERSEDED.values())

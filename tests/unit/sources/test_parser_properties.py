"""Properties of the notification parsers over generated amounts and texts (hypothesis).

Each recorded incoming text (test_parser_formats.py) becomes a template whose amount is replaced
by any amount, written every way its app's style allows: grouped or not, with or without a zero
fraction, "Rp" glued or spaced.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kasir.sources.parsers import PACKAGES, Ignored, Incoming, Invalid, Notification, Unparsed, parse
from kasir.sources.parsers.amounts import MAX_AMOUNT


@dataclass(frozen=True)
class Template:
    package: str
    title: str  # "{amt}" marks where the amount goes, when the title names it
    text: str
    parser: str
    indonesian: bool = True  # dot thousands, comma decimals, "Rp"; else MyBCA's bare 1,500,000.00

    def notification(self, amount: str, text: Callable[[str], str] = lambda text: text) -> Notification:
        return Notification(self.package, self.title.replace("{amt}", amount), text(self.text.replace("{amt}", amount)))


TEMPLATES = [
    Template(
        "com.gojek.gopaymerchant",
        "Pembayaran QRIS statis diterima",
        "{amt} di JAJAN.AI DIY YOGYAKARTA, Digital & Kreatif.",
        "gopay_merchant",
    ),
    Template(
        "com.gojek.gopaymerchant",
        "GoPay Merchant",
        "Pembayaran QRIS statis diterima: {amt} di J Store.",
        "gopay_merchant",
    ),
    Template("id.dana", "Pembayaran Masuk", "{amt} diterima DANA Bisnis.", "dana"),
    Template("id.dana.business", "Pembayaran Masuk", "{amt} diterima dari Budi Santoso", "dana"),
    Template("id.dana", "Kamu berhasil menerima", "Kamu berhasil menerima {amt} dari ...", "dana"),
    Template(
        "com.shopeepay.id",
        "Pembayaran sebesar {amt} diterima",
        "Pembayaran sebesar {amt} telah diterima pada transaksi 1335...",
        "shopeepay",
    ),
    Template("com.shopee.id", "Pembayaran sebesar {amt} diterima", "", "shopeepay"),
    Template("com.bca.mybca.omni.android", "Catatan Finansial", "Pemasukan {amt}", "mybca", indonesian=False),
    Template("src.com.bni", "Transaksi diterima!", "Jumlah {amt}", "bni"),
    Template("id.co.bri.brimo", "", "BRImo - Transfer masuk sebesar {amt}", "brimo"),
    Template("com.bnc.finance", "Transfer Masuk", "{amt} akan dikreditkan ke rekening Anda", "nobu"),
    Template(
        "com.bnc.finance",
        "Kamu menerima 1 pembayaran",
        "Pembayaran QRIS diterima, {amt} akan dikreditkan ke Tabungan Reguler kamu 5859********8988",
        "nobu",
    ),
    Template(
        "com.interactive.qrisid",
        "Transaksi InterActive QRIS",
        "Pembayaran QRIS sebesar {amt} Sample Sender - Sample Source telah diterima",
        "interactive_qris",
    ),
]

amounts = st.integers(min_value=1, max_value=MAX_AMOUNT)
templates = st.sampled_from(TEMPLATES)


def written(amount: int, template: Template, *, grouped: bool, zero_fraction: str, prefix: str) -> str:
    """``amount`` as the template's app writes it."""
    if template.indonesian:
        figure = f"{amount:,}".replace(",", ".") if grouped else str(amount)
        return prefix + figure + ("," + zero_fraction if zero_fraction else "")
    figure = f"{amount:,}" if grouped else str(amount)
    return figure + ("." + zero_fraction if zero_fraction else "")


@st.composite
def renderings(draw: st.DrawFn, template: Template, amount: int) -> str:
    return written(
        amount,
        template,
        grouped=draw(st.booleans()),
        zero_fraction=draw(st.sampled_from(["", "00", "0"])),
        prefix=draw(st.sampled_from(["Rp ", "Rp", "Rp. ", "Rp\u00a0"])),
    )


@settings(max_examples=300, deadline=None)
@given(template=templates, amount=amounts, data=st.data())
def test_any_amount_in_the_apps_style_reads_back(template: Template, amount: int, data: st.DataObject) -> None:
    result = parse(template.notification(data.draw(renderings(template, amount))))
    assert isinstance(result, Incoming), result
    assert (result.amount, result.parser) == (amount, template.parser)


@settings(max_examples=300, deadline=None)
@given(template=templates, amount=amounts, balance=amounts, before=st.booleans(), data=st.data())
def test_a_balance_sentence_never_changes_the_amount(
    template: Template, amount: int, balance: int, before: bool, data: st.DataObject
) -> None:
    # The balance in the app's own style, and in Indonesian "Rp" style for MyBCA too.
    style = data.draw(st.sampled_from([template, TEMPLATES[0]]), label="balance style")
    sentence = "Saldo " + data.draw(renderings(style, balance), label="balance")

    def with_balance(text: str) -> str:
        return f"{sentence}. {text}" if before else f"{text} {sentence}"

    result = parse(template.notification(data.draw(renderings(template, amount)), with_balance))
    assert isinstance(result, Incoming), result
    assert result.amount == amount


SHOPS = st.one_of(
    st.sampled_from(
        [
            "WARUNG ABC",
            "Indomaret",
            "Fore Coffee",
            "Transfer masuk sebesar Rp 5",
            "Kamu berhasil menerima Rp 10.000 dari Budi",
            "Pembayaran QRIS statis diterima: Rp 7 di",
            "Rp 99 diterima dari",
        ]
    ),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=30).filter(
        str.strip
    ),
)


@st.composite
def look_alikes(draw: st.DrawFn) -> tuple[Notification, str]:
    """The merchant's own QRIS payments, as BRImo, DANA and OVO report them, at any shop and amount."""
    shop, amount = draw(SHOPS), draw(amounts)
    rupiah = draw(st.sampled_from(["Rp ", "Rp"])) + f"{amount:,}".replace(",", ".")
    when = f"{draw(st.integers(1, 28)):02d}/{draw(st.integers(1, 12)):02d} {draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}"
    package, title, text, parser = draw(
        st.sampled_from(
            [
                (
                    "id.co.bri.brimo",
                    "Notifikasi Transaksi",
                    f"Notifikasi Transaksi QRIS di {shop} sebesar {rupiah} berhasil.",
                    "brimo",
                ),
                ("id.dana", "DANA", f"DANA Protection: {when} QRIS {shop} {rupiah} Berhasil", "dana"),
                (
                    "id.dana.business",
                    "Pembayaran Masuk",
                    f"DANA Protection: {when} QRIS {shop} {rupiah} Berhasil",
                    "dana",
                ),
                ("ovo.id", "OVO", f"OVO Cash: {when} Transaksi QRIS {shop} {rupiah} Berhasil", "ovo"),
                ("ovo.merchant", "OVO", f"OVO Cash: {when} Transaksi QRIS {shop} {rupiah} Berhasil", "ovo"),
            ]
        )
    )
    return Notification(package, title, text), parser


@settings(max_examples=300, deadline=None)
@given(look_alikes())
def test_the_merchants_own_payments_are_ignored(look_alike: tuple[Notification, str]) -> None:
    notification, parser = look_alike
    assert parse(notification) == Ignored("outgoing", parser)


# Keyword soup: every loose keyword published parsers match on, with amounts, in any order.
WORDS = ["diterima", "masuk", "berhasil", "QRIS", "pembayaran", "transaksi", "saldo", "transfer", "kamu", "ke",
         "Rp 10.000", "Rp5.000", "Rp 1.500.000,00", "1,500,000.00", "dana", "bisnis", ".", ":", "!"]  # fmt: skip
_NOT_PAYMENT_WORDS = re.compile(r"promo|cashback|diskon|voucher|otp|kode verifikasi", re.IGNORECASE)


@settings(max_examples=300, deadline=None)
@given(
    package=st.sampled_from(sorted(PACKAGES)),
    title=st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!", max_size=40),
    words=st.lists(st.sampled_from(WORDS), max_size=12),
    big=st.booleans(),
)
def test_unknown_texts_are_left_for_review(package: str, title: str, words: list[str], big: bool) -> None:
    text = " ".join(words)
    assume(not _NOT_PAYMENT_WORDS.search(title))
    notification = Notification(package, title, "" if big else text, big_text=text if big else None)
    assert parse(notification) == Unparsed("no_rule")


@settings(max_examples=300, deadline=None)
@given(template=templates, amount=st.integers(0, MAX_AMOUNT - 1), fraction=st.integers(1, 99), short=st.booleans())
def test_a_fraction_is_invalid(template: Template, amount: int, fraction: int, short: bool) -> None:
    digits = str(fraction) if short and fraction < 10 else f"{fraction:02d}"
    figure = written(amount, template, grouped=True, zero_fraction="", prefix="Rp ")
    separator = "," if template.indonesian else "."
    result = parse(template.notification(figure + separator + digits))
    assert isinstance(result, Invalid), result
    assert (result.code, result.parser) == ("amount_fraction", template.parser)

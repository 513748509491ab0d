"""GoPay Merchant: the Gojek merchant app, the one that reports a shop's QRIS payments.

Confirmed texts (exact strings in tests/unit/sources/test_parser_formats.py):
title ``Pembayaran QRIS statis diterima`` with text ``Rp 1.127 di <shop>.``, and the variant
title ``GoPay Merchant`` with text ``Pembayaran QRIS statis diterima: Rp 18.017 di <shop>.``.
Only static-QRIS payments have been seen; a dynamic-QRIS title is unknown and surfaces as
Unparsed rather than being assumed to read like the static one.
"""

from kasir.sources.parsers.amounts import DOT_THOUSANDS
from kasir.sources.parsers.engine import NOT_PAYMENTS, PROMOTION_TITLES, AppParser, Credit

PACKAGE = "com.gojek.gopaymerchant"

PARSER = AppParser(
    name="gopay_merchant",
    packages=(PACKAGE,),
    amounts=DOT_THOUSANDS,
    rules=(
        *PROMOTION_TITLES,
        # The phrase is the title; the text names the amount and the shop (not the payer).
        Credit(title=r"Pembayaran QRIS statis diterima", body=r"\b{amount} di \S"),
        Credit(body=r"\bPembayaran QRIS statis diterima: {amount} di \S"),
        *NOT_PAYMENTS,
    ),
)

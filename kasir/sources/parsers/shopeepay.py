"""ShopeePay (its own app and the Shopee app, which carries the same wallet).

Confirmed text (exact string in tests/unit/sources/test_parser_formats.py): title
``Pembayaran sebesar Rp2 diterima``, text ``Pembayaran sebesar Rp2 telah diterima pada transaksi
1335…``. The transaction number is the reference, unless the app cut it short.
"""

from kasir.sources.parsers.amounts import DOT_THOUSANDS
from kasir.sources.parsers.engine import NOT_PAYMENTS, PROMOTION_TITLES, AppParser, Credit

PARSER = AppParser(
    name="shopeepay",
    packages=("com.shopeepay.id", "com.shopee.id"),
    amounts=DOT_THOUSANDS,
    rules=(
        *PROMOTION_TITLES,
        Credit(body=r"\bPembayaran sebesar {amount} telah diterima\b(?: pada transaksi {reference})?"),
        # The title alone says it too, for when the text is something else.
        Credit(title=r"Pembayaran sebesar {amount} diterima"),
        *NOT_PAYMENTS,
    ),
)

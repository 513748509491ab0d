"""OVO and OVO Merchant.

No incoming text has been confirmed, so this table has no incoming rule: OVO's incoming
notifications surface as Unparsed for review. Confirmed (exact string in
tests/unit/sources/test_parser_formats.py) is the merchant's own QRIS payment,
``OVO Cash: 14/09 16:30 Transaksi QRIS Fore Coffee … Rp 35.000 Berhasil``, ignored as outgoing.
"""

from kasir.sources.parsers.amounts import DOT_THOUSANDS
from kasir.sources.parsers.engine import NOT_PAYMENTS, PROMOTION_TITLES, AppParser, Ignore

PARSER = AppParser(
    name="ovo",
    packages=("ovo.id", "ovo.merchant"),
    amounts=DOT_THOUSANDS,
    rules=(
        Ignore("outgoing", body=r"\bOVO Cash: .*\bTransaksi QRIS\b.*\bBerhasil\b"),
        *PROMOTION_TITLES,
        *NOT_PAYMENTS,
    ),
)

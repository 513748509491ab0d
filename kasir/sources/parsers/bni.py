"""BNI: BNI Mobile Banking and BNI's merchant app.

Confirmed text (exact string in tests/unit/sources/test_parser_formats.py): title
``Transaksi diterima!``, text ``Jumlah Rp 2.500.000``. Which of the two apps posts it has not
been recorded; both packages use this table.
"""

from kasir.sources.parsers.amounts import DOT_THOUSANDS
from kasir.sources.parsers.engine import NOT_PAYMENTS, PROMOTION_TITLES, AppParser, Credit

PARSER = AppParser(
    name="bni",
    packages=("src.com.bni", "id.co.bni.merchant"),
    amounts=DOT_THOUSANDS,
    rules=(
        *PROMOTION_TITLES,
        Credit(title=r"Transaksi diterima!?", body=r"\bJumlah {amount}"),
        *NOT_PAYMENTS,
    ),
)

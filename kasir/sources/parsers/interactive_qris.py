"""InterActive QRIS.

Confirmed text (exact string in tests/unit/sources/test_parser_formats.py): title
``Transaksi InterActive QRIS``, text ``Pembayaran QRIS sebesar Rp 1 Sample Sender - Sample Source
telah diterima``: the payer, then after " - " the wallet or bank they paid from.
"""

from kasir.sources.parsers.amounts import DOT_THOUSANDS
from kasir.sources.parsers.engine import NOT_PAYMENTS, PROMOTION_TITLES, AppParser, Credit

PARSER = AppParser(
    name="interactive_qris",
    packages=("com.interactive.qrisid",),
    amounts=DOT_THOUSANDS,
    rules=(
        *PROMOTION_TITLES,
        Credit(body=r"\bPembayaran QRIS sebesar {amount} (?:(?P<payer>[^\W_][^-]*?) - [^-]*? )?telah diterima\b"),
        *NOT_PAYMENTS,
    ),
)

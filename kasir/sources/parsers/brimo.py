"""BRImo, BRI's banking app.

Confirmed texts (exact strings in tests/unit/sources/test_parser_formats.py):
- incoming: ``BRImo - Transfer masuk sebesar Rp 750000`` (no separators);
- the merchant's own QRIS payment: title ``Notifikasi Transaksi``, text
  ``Notifikasi Transaksi QRIS di WARUNG ABC sebesar Rp35.000 berhasil.``, ignored as outgoing.
The same app writes ``Rp35.000`` with dot thousands, so that style is declared; an ungrouped
figure is always read as whole rupiah.
"""

from kasir.sources.parsers.amounts import DOT_THOUSANDS
from kasir.sources.parsers.engine import NOT_PAYMENTS, PROMOTION_TITLES, AppParser, Credit, Ignore

PARSER = AppParser(
    name="brimo",
    packages=("id.co.bri.brimo",),
    amounts=DOT_THOUSANDS,
    rules=(
        # First: the shop the merchant paid could be called anything, an incoming phrase included.
        Ignore("outgoing", body=r"\bNotifikasi Transaksi QRIS di\b.*\bberhasil\b"),
        *PROMOTION_TITLES,
        Credit(body=r"\bTransfer masuk sebesar {amount}"),
        *NOT_PAYMENTS,
    ),
)

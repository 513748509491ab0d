"""DANA and DANA Bisnis (one app family, same texts).

Confirmed texts (exact strings in tests/unit/sources/test_parser_formats.py):
- incoming, DANA Bisnis: title ``Pembayaran Masuk``, text ``Rp10 diterima DANA Bisnis.`` or
  ``Rp 1.500.000 diterima dari Budi Santoso``. "diterima DANA Bisnis" names the receiver, not a
  payer; only "dari …" names one.
- incoming, personal: ``Kamu berhasil menerima Rp99.947 dari …``.
- the merchant's own QRIS payment: ``DANA Protection: 09/09 15:40 QRIS Indomaret … Rp 54.000 Berhasil``.
"""

from kasir.sources.parsers.amounts import DOT_THOUSANDS
from kasir.sources.parsers.engine import NOT_PAYMENTS, PROMOTION_TITLES, AppParser, Credit, Ignore

PARSER = AppParser(
    name="dana",
    packages=("id.dana", "id.dana.business"),
    amounts=DOT_THOUSANDS,
    rules=(
        Ignore("outgoing", body=r"\bDANA Protection: .*\bQRIS\b.*\bBerhasil\b"),
        *PROMOTION_TITLES,
        # "<amount> diterima" alone is too common a phrase to trust without the title.
        Credit(title=r"Pembayaran Masuk", body=r"\b{amount} diterima\b(?: dari {payer})?"),
        Credit(body=r"\bKamu berhasil menerima {amount}(?: dari {payer})?"),
        *NOT_PAYMENTS,
    ),
)

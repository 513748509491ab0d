"""Nobu (Bank Nationalnobu).

Confirmed texts (exact strings in tests/unit/sources/test_parser_formats.py):
- title ``Transfer Masuk``, text ``Rp10347 akan dikreditkan ke rekening Anda``;
- title ``Kamu menerima 1 pembayaran``, text ``Pembayaran QRIS diterima, Rp114 akan dikreditkan
  ke Tabungan Reguler kamu 5859********8988``.
The second title counts payments: only "1" is accepted, since a summary of several payments
would otherwise be read as the first one alone.
"""

from kasir.sources.parsers.amounts import DOT_THOUSANDS
from kasir.sources.parsers.engine import NOT_PAYMENTS, PROMOTION_TITLES, AppParser, Credit

PARSER = AppParser(
    name="nobu",
    packages=("com.bnc.finance",),
    amounts=DOT_THOUSANDS,
    rules=(
        *PROMOTION_TITLES,
        Credit(title=r"Transfer Masuk", body=r"\b{amount} akan dikreditkan ke\b"),
        Credit(
            title=r"Kamu menerima 1 pembayaran",
            body=r"\bPembayaran QRIS diterima, {amount} akan dikreditkan ke\b",
        ),
        *NOT_PAYMENTS,
    ),
)

"""MyBCA, BCA's banking app.

Confirmed text (exact string in tests/unit/sources/test_parser_formats.py): title
``Catatan Finansial``, text ``Pemasukan 1,500,000.00``: comma thousands, dot decimals, no
currency. Read in the Indonesian style it would be 1,500 rupiah with a fraction, or 150,000,000
with the separators stripped; it is 1,500,000.
"""

from kasir.sources.parsers.amounts import COMMA_THOUSANDS_BARE
from kasir.sources.parsers.engine import NOT_PAYMENTS, PROMOTION_TITLES, AppParser, Credit

PARSER = AppParser(
    name="mybca",
    packages=("com.bca.mybca.omni.android",),
    amounts=COMMA_THOUSANDS_BARE,
    rules=(
        *PROMOTION_TITLES,
        Credit(title=r"Catatan Finansial", body=r"\bPemasukan {amount}"),
        *NOT_PAYMENTS,
    ),
)

"""blu by BCA Digital.

Only the title of an incoming notification is confirmed, ``Kamu Menerima Dana Nih!``; its text,
and so how it writes the amount, is not. With no amount to read there is no incoming rule: these
notifications surface as Unparsed for review until a real text is added with its test.
Two package names are in use in public allow-lists; both use this table.
"""

from kasir.sources.parsers.amounts import DOT_THOUSANDS
from kasir.sources.parsers.engine import NOT_PAYMENTS, PROMOTION_TITLES, AppParser

PARSER = AppParser(
    name="blu",
    packages=("id.co.bcadigital.blu", "com.bcadigital.blu"),
    amounts=DOT_THOUSANDS,
    rules=(*PROMOTION_TITLES, *NOT_PAYMENTS),
)

"""Livin' by Mandiri.

No notification text of this app has been confirmed, so this table has no incoming rule: every
notification it posts surfaces as Unparsed for review until a real text is added with its test.
"""

from kasir.sources.parsers.amounts import DOT_THOUSANDS
from kasir.sources.parsers.engine import NOT_PAYMENTS, PROMOTION_TITLES, AppParser

PARSER = AppParser(
    name="livin",
    packages=("id.bmri.livin",),
    amounts=DOT_THOUSANDS,
    rules=(*PROMOTION_TITLES, *NOT_PAYMENTS),
)

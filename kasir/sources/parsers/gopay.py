"""GoPay, the consumer wallet app (``com.gojek.gopay``).

No incoming text of this app has been confirmed (its incoming notifications are known only as
being "Transfer masuk" style, not word for word), so this table has no incoming rule: every
notification it posts surfaces as Unparsed for review until a real text is added with its test.

One payment, two notifications: on a phone that runs GoPay Merchant too, a QRIS payment to the
shop is reported by both apps. ``superseded_by`` names the merchant app, and the caller ignores
this app's credits (``Ignored("superseded")``) whenever it also watches that one, so one payment is
never counted twice; the consumer app counts only on a phone without the merchant app.
"""

from kasir.sources.parsers import gopay_merchant
from kasir.sources.parsers.amounts import DOT_THOUSANDS
from kasir.sources.parsers.engine import NOT_PAYMENTS, PROMOTION_TITLES, AppParser

PARSER = AppParser(
    name="gopay",
    packages=("com.gojek.gopay",),
    amounts=DOT_THOUSANDS,
    rules=(*PROMOTION_TITLES, *NOT_PAYMENTS),
    superseded_by=gopay_merchant.PACKAGE,
)

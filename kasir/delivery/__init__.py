"""Events and their delivery to merchants (docs/delivery.md).

Importing the package registers the callback settings a new merchant gets
(kasir.merchants.service.merchant_created): merchants sit below delivery and cannot write them.
"""

from kasir.delivery import callback_settings
from kasir.merchants.service import merchant_created

merchant_created.register(callback_settings.create)

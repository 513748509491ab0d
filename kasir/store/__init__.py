"""WA Store: orders sold over WhatsApp, paid through Kasir payments (seed 004).

Importing the package registers the order's on-paid hook with kasir.payments.paid_hooks: the
entry points (kasir.app, kasir.cli) import it, so an order is paid with its payment in every
process that can pay one.
"""

from kasir.payments import paid_hooks
from kasir.store import orders

paid_hooks.payments_paid.register(orders.mark_paid)

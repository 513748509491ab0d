"""WA Store: orders sold over WhatsApp, paid through Kasir payments (seed 004)."""

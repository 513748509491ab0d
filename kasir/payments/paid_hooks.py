"""What else becomes true, in the same transaction, when payments become paid.

Payments know nothing of what a payment pays for: a WA Store order (kasir.store) registers a
function on ``payments_paid``, and matching and the manual settlement call it with the payments
they just set to paid, inside their own transaction, so an order is paid exactly when its
payment is (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from kasir.db.statements import Conn
from kasir.hooks import Hook

# (conn, the payment rows just set to paid, the public URL for links in events, now)
payments_paid: Hook[[Conn, Sequence[Mapping[Any, Any]], str, datetime]] = Hook("payments paid")

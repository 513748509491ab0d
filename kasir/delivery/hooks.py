"""What else becomes true, in the same transaction, when Kasir disables an endpoint by itself.

Delivery knows nothing of who cares: the owner's alerts (kasir.alerts) register a function on
``endpoint_disabled`` when the package is imported, and the worker's disable
(``service.disable_endpoint``) calls it with the endpoint it has just disabled, inside the
transaction that disabled it, so the alert exists exactly when the endpoint is off
(docs/architecture.md, "Layers": delivery imports nothing from the layers above it). The same
pattern as kasir.payments.paid_hooks (kasir.hooks.Hook). A function must only write through the
connection it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from kasir.hooks import Hook


class DisableCause(StrEnum):
    """Why Kasir disabled an endpoint (the merchant's own switch calls no hook)."""

    GONE = "gone"  # the receiver answered 410 Gone
    NO_SUCCESS = "no_success"  # no successful delivery for KASIR_ENDPOINT_DISABLE_AFTER


@dataclass(frozen=True, slots=True)
class EndpointDisabled:
    """One automatic disable: the endpoint's row as it is now (disabled), why, and when.
    ``failing_for``: the seconds without a success that disabled it (``NO_SUCCESS`` only)."""

    endpoint: Mapping[Any, Any]
    cause: DisableCause
    at: datetime
    failing_for: float | None = None


EndpointDisabledHook = Callable[[Connection, EndpointDisabled], object]

endpoint_disabled: Hook[[Connection, EndpointDisabled]] = Hook("endpoint disabled")


def on_endpoint_disabled(function: EndpointDisabledHook) -> EndpointDisabledHook:
    """Call ``function(conn, disabled)`` each time Kasir disables an endpoint; idempotent."""
    endpoint_disabled.register(function)
    return function

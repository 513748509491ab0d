"""The delivery package's state machines, one ``StrEnum`` each (docs/architecture.md,
"Aggregates and their owners").

The values are the strings stored (``deliveries.status``, ``delivery_attempts.outcome``), so a
member compares equal to what a row holds and nothing on the wire changes. An endpoint's state
is not stored as one column: it is read from ``enabled``, ``failing_since`` and
``disabled_reason`` (:func:`endpoint_state`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class DeliveryStatus(StrEnum):
    """``deliveries.status``: pending until it succeeds, or fails for good (the retry schedule
    used up, a 410, its endpoint disabled). A redelivery is a new delivery."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# A delivery in one of these states is done: it has its ``completed_at``.
ENDED = frozenset({DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED})


class AttemptOutcome(StrEnum):
    """``delivery_attempts.outcome``: what one try did to its delivery."""

    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    FAILED = "failed"


class EndpointState(StrEnum):
    """Where an endpoint is in its life (docs/receiving.md, "What arrives"):

    ``active`` → ``failing`` at its first failed try after a success, back to ``active`` at the
    next success; ``disabled`` when the merchant turns it off; ``auto_disabled`` when Kasir does
    (a 410 Gone, or no success for ``KASIR_ENDPOINT_DISABLE_AFTER``). Either disabled state
    fails the endpoint's queue, and enabling it again starts it ``active``."""

    ACTIVE = "active"
    FAILING = "failing"
    DISABLED = "disabled"
    AUTO_DISABLED = "auto_disabled"


# Either way off: its queue has failed, and nothing is sent to it until it is enabled again.
OFF = frozenset({EndpointState.DISABLED, EndpointState.AUTO_DISABLED})

# The ``disabled_reason`` of an endpoint its merchant turned off (any other reason is Kasir's).
DISABLED_BY_MERCHANT = "disabled by the merchant"


def endpoint_state(row: Mapping[Any, Any]) -> EndpointState:
    """The state of an endpoint row."""
    if not row["enabled"]:
        if row["disabled_reason"] == DISABLED_BY_MERCHANT:
            return EndpointState.DISABLED
        return EndpointState.AUTO_DISABLED
    return EndpointState.FAILING if row["failing_since"] is not None else EndpointState.ACTIVE

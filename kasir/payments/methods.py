"""Payment methods, the account each one pays into, and when each is available (seed 004)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kasir.config import Settings
from kasir.qris.demo import is_demo


@dataclass(frozen=True, slots=True)
class Method:
    id: str
    name: str
    # The merchants column holding the merchant's own receiving channel; None for the
    # operator's platform QRIS, which every merchant shares.
    channel_column: str | None
    # Paid by scanning a QRIS (into which each payment's amount is embedded), rather than by a
    # transfer to a number (OVO).
    is_qr: bool = True

    @property
    def own_channel(self) -> bool:
        return self.channel_column is not None

    def max_amount(self, settings: Settings) -> int:
        return settings.max_amount_own_channel if self.own_channel else settings.max_amount_qris

    def channel_account(self, merchant_id: int) -> str:
        """Which account a credit for this method lands in. Unique codes are unique per account."""
        return f"merchant:{merchant_id}:{self.id}" if self.own_channel else f"platform:{self.id}"


METHODS: dict[str, Method] = {
    m.id: m
    for m in (
        Method("qris", "QRIS", None),
        Method("qris_user", "BRI QRIS", "qris_bri"),
        Method("gopay_qris", "GoPay QRIS", "qris_gopay"),
        Method("ovo", "OVO", "ovo_number", is_qr=False),
    )
}


def static_qris(method: Method, merchant: Mapping[str, Any], settings: Settings) -> str | None:
    """The static QRIS a payment by ``method`` embeds its amount into; None for OVO, or when the
    channel is not configured."""
    if not method.is_qr:
        return None
    if method.channel_column is None:
        return settings.platform_qris
    value = merchant[method.channel_column]
    return str(value) if value else None


def unavailable_reason(
    method: Method, merchant: Mapping[str, Any], settings: Settings, mode: str = "test"
) -> str | None:
    """Why ``merchant`` cannot take payments by ``method`` in ``mode`` now, or None when it can."""
    if method.channel_column is None:
        if settings.platform_qris is None:
            return "the operator has not configured the platform QRIS (KASIR_PLATFORM_QRIS)"
        if mode == "live" and is_demo(settings.platform_qris):
            # A live payment on a QR that no app can pay would be a sale lost, not a test.
            return "the platform QRIS is Kasir's demo QRIS, which cannot be paid; set KASIR_PLATFORM_QRIS"
        return None
    if not merchant["subscription_active"]:
        return "needs an active subscription"
    if not merchant[method.channel_column]:
        return "its account is not connected"
    return None


def describe_methods(
    merchant: Mapping[str, Any],
    settings: Settings,
    mode: str = "test",
    *,
    sources: Mapping[str, Sequence[str]],
) -> list[dict[str, Any]]:
    """Seed 004's fields, then how a payment by each method gets confirmed: ``confirmation``
    ``automatic`` when ``sources`` (kasir.sources.confirmation.automatic_sources) names a source
    reporting its credits by itself, ``manual`` when someone must report them."""
    described = []
    for method in METHODS.values():
        reason = unavailable_reason(method, merchant, settings, mode)
        entry: dict[str, Any] = {
            "id": method.id,
            "name": method.name,
            "available": reason is None,
            "min_amount": settings.min_amount,
            "max_amount": method.max_amount(settings),
            "requires_subscription": method.own_channel,
            "confirmation": "automatic" if sources.get(method.id) else "manual",
            "sources": list(sources.get(method.id, ())),
        }
        if reason:
            entry["reason"] = reason
        described.append(entry)
    return described

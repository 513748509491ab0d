"""Which payments confirm by themselves: the one rule behind the promise Kasir makes.

A payment is paid when a credit of its exact amount reaches matching (docs/mutations.md). Some
ways in report credits with nobody at the keyboard; the others (``POST /v1/mutations`` by hand,
``kasir mutations import``, ``kasir sandbox pay``, reconciliation) need a person. Only where the
first kind exists may the pay page tell the buyer that the payment "confirms automatically".

A **confirmation source** for a channel (payment method) of a merchant in a mode is:

- a poller of ``KASIR_MUTATION_SOURCES`` that declares that channel in its ``channels``, or that
  declares none (``channels`` absent or None: it may report any channel);
- the merchant's mutation forwarder for that mode (``POST /v1/forwarder``): a forwarder may carry
  any channel;
- a payment source of the merchant in that mode (``POST /v1/sources``, a phone forwarding its
  apps' notifications, or Moota) whose ``apps`` map an app to that channel, whatever its health:
  a silent phone is the shop's to fix, and create-payment warns of it (docs/sources.md);
- in test mode, ``KASIR_SANDBOX_AUTOPAY`` > 0, which pays every test payment whatever its method.

``automatic_sources`` is that rule, and the only place it is written: the methods API, the pay
page and ``kasir demo`` all ask it. Sources are named as their credits record them
(``source:<name>``, ``forwarder``, ``phone:<source id>``).

A poller's channels are its own declaration, read from the source object its factory builds;
factories may do real work, so the app builds them once, in its lifespan, and keeps what the
rule needs of them (``pollers_of``) in its state. Every API node does, ``--no-worker`` ones too:
the promise is the configuration's, and the configured pollers run on whichever nodes run the
background (docs/architecture.md, "Background duties"), which the same sources are handed to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from kasir.config import Settings
from kasir.db.tables import payment_sources
from kasir.payments import forwarders
from kasir.payments.methods import METHODS
from kasir.payments.sources import MutationSource, SandboxAutopay, declared_channels
from kasir.sources.registry import apps_of, source_label

FORWARDER = "forwarder"  # as mutations reported through a forwarder record their source
AUTOPAY = f"source:{SandboxAutopay.name}"


@dataclass(frozen=True, slots=True)
class Poller:
    """What the rule needs of a configured poller: its name and the channels it reports (None:
    any channel)."""

    name: str
    channels: frozenset[str] | None

    @property
    def source(self) -> str:
        return f"source:{self.name}"

    def reports(self, channel: str) -> bool:
        return self.channels is None or channel in self.channels


def pollers_of(sources: Iterable[MutationSource]) -> tuple[Poller, ...]:
    """The pollers among ``sources`` (as ``configured_sources`` builds them). The sandbox
    autopay is left out: it covers test mode only, and the rule reads it from the settings."""
    return tuple(
        Poller(source.name, declared_channels(source)) for source in sources if not isinstance(source, SandboxAutopay)
    )


def automatic_sources(
    conn: Connection, merchant_id: int, mode: str, settings: Settings, pollers: Sequence[Poller]
) -> dict[str, list[str]]:
    """For every method id, the sources that confirm ``merchant_id``'s payments by it in ``mode``
    by themselves; an empty list means someone must report the credit (confirmation "manual").
    Two queries: the merchant's forwarder and payment sources for the mode."""
    found: dict[str, list[str]] = {method_id: [] for method_id in METHODS}
    for poller in pollers:
        for method_id, names in found.items():
            if poller.reports(method_id):
                names.append(poller.source)
    if forwarders.is_set_up(conn, merchant_id, mode):
        for names in found.values():
            names.append(FORWARDER)
    for public_id, apps in conn.execute(
        select(payment_sources.c.public_id, payment_sources.c.apps)
        .where(payment_sources.c.merchant_id == merchant_id, payment_sources.c.mode == mode)
        .order_by(payment_sources.c.id)
    ):
        for channel in sorted(set(apps_of({"apps": apps}).values())):
            if channel in found:
                found[channel].append(source_label(public_id))
    if mode == "test" and settings.sandbox_autopay > 0:
        for names in found.values():
            names.append(AUTOPAY)
    return found

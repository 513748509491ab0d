"""Alerts to the owner (docs/alerts.md): when something breaks that buyers will notice (an
endpoint disabled, a phone that stopped reporting, callbacks failing, a payment link used up),
the owner gets a WhatsApp message and/or an email, at most once an hour per thing that broke,
with a link to the dashboard page that shows it.

``service.raise_alert`` records an alert and queues its messages in the caller's transaction;
``messages`` writes what they say; ``recipients`` is where they go; ``checks`` are the periodic
checks of the sweeper (callbacks failing).

Importing the package plugs alerts into delivery and sources, which know nothing of them
(docs/architecture.md, "Layers"): the hook that alerts the owner when Kasir disables an endpoint
(kasir.delivery.hooks), the one that alerts when a source goes silent (kasir.sources.health), and
the renderer of ``alert.*`` messages (kasir.delivery.notifiers.renderers). The entry points
(kasir.app, kasir.cli) import it, so all three exist in every process.
"""

from sqlalchemy import Connection

from kasir.alerts import causes, messages
from kasir.alerts.service import EVENT_PREFIX
from kasir.delivery import hooks
from kasir.delivery.notifiers import renderers
from kasir.sources import health


def alert_endpoint_disabled(conn: Connection, disabled: hooks.EndpointDisabled) -> None:
    """The owner's ``endpoint_disabled`` alert, in the transaction that disabled it."""
    causes.endpoint_disabled(conn, disabled.endpoint, messages.disabled_reason(disabled), disabled.at)


hooks.on_endpoint_disabled(alert_endpoint_disabled)
health.went_silent.register(causes.source_silent)
renderers.register(EVENT_PREFIX, messages.notifier_text)

"""Alerts to the owner (docs/alerts.md): when something breaks that buyers will notice (an
endpoint disabled, a phone that stopped reporting, callbacks failing, a payment link used up),
the owner gets a WhatsApp message and/or an email, at most once an hour per thing that broke,
with a link to the dashboard page that shows it.

``service.raise_alert`` records an alert and queues its messages in the caller's transaction;
``messages`` writes what they say; ``recipients`` is where they go; ``checks`` are the periodic
checks of the sweeper (callbacks failing).
"""

"""Reading the notifications a merchant's banking and e-wallet apps post into credits.

One module per app, each a table of rules (engine.py) and the amount style the app writes
(amounts.py). :func:`parse` is pure: no I/O, no logging of the text.

Only money in counts (:class:`Incoming`); the app's other known notifications are
:class:`Ignored`; anything else from a parsed app is :class:`Unparsed` and is stored for review,
never guessed at. :data:`SUPERSEDED` maps an app to the app whose notifications report the same
payments: when the caller watches both, it ignores the first's credits (``Ignored("superseded")``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kasir.sources.parsers import (
    blu,
    bni,
    brimo,
    dana,
    gopay,
    gopay_merchant,
    interactive_qris,
    livin,
    mybca,
    nobu,
    ovo,
    shopeepay,
)
from kasir.sources.parsers.engine import AppParser
from kasir.sources.parsers.results import Ignored, Incoming, Invalid, Notification, Result, Unparsed

__all__ = [
    "APPS",
    "PACKAGES",
    "SUPERSEDED",
    "Ignored",
    "Incoming",
    "Invalid",
    "Notification",
    "Result",
    "Unparsed",
    "parse",
]

APPS: tuple[AppParser, ...] = (
    gopay_merchant.PARSER,
    gopay.PARSER,
    dana.PARSER,
    shopeepay.PARSER,
    ovo.PARSER,
    brimo.PARSER,
    bni.PARSER,
    mybca.PARSER,
    blu.PARSER,
    nobu.PARSER,
    livin.PARSER,
    interactive_qris.PARSER,
)


def _by_package(apps: tuple[AppParser, ...]) -> dict[str, AppParser]:
    by_package: dict[str, AppParser] = {}
    for app in apps:
        for package in app.packages:
            if package in by_package:
                raise RuntimeError(f"{package} is claimed by {by_package[package].name} and {app.name}")
            by_package[package] = app
    return by_package


_BY_PACKAGE = _by_package(APPS)

PACKAGES: Mapping[str, str] = MappingProxyType({package: app.name for package, app in _BY_PACKAGE.items()})
SUPERSEDED: Mapping[str, str] = MappingProxyType(
    {package: app.superseded_by for package, app in _BY_PACKAGE.items() if app.superseded_by is not None}
)


def parse(notification: Notification) -> Result:
    """What ``notification`` says: money in, a known non-payment, or nothing understood."""
    app = _BY_PACKAGE.get(notification.package)
    if app is None:
        return Unparsed("no_parser")
    return app.parse(notification)

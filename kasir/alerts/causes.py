"""The alerts Kasir raises itself, one function per cause: what each says and which dashboard
page shows the problem (docs/alerts.md). Each runs in the transaction of the change it reports
(the endpoint disabled, the source marked silent), like that change's event.

``link_exhausted`` is raised by the payment links (kasir/links) through ``raise_alert``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from kasir.alerts.service import CALLBACKS_FAILING, ENDPOINT_DISABLED, SOURCE_SILENT, raise_alert
from kasir.clock import to_wire
from kasir.sources.registry import MOOTA_APP, apps_of

WEBHOOKS_PAGE = "/dashboard/webhooks"
# The endpoint ids the alerts of the merchant's default callback URL (webhook_settings) carry.
CALLBACK_URL_SUBJECT = "callback_url"


def endpoint_page(public_id: str) -> str:
    return f"{WEBHOOKS_PAGE}/endpoints/{public_id}"


def source_page(public_id: str) -> str:
    return f"/dashboard/sources/{public_id}"


def where_to(url: str) -> str:
    """The receiver as an alert names it: its host, never its path or query, which may carry a
    token of the merchant's."""
    return urlsplit(url).hostname or "?"


def endpoint_disabled(conn: Connection, endpoint: Mapping[Any, Any], reason: str, now: datetime) -> bool:
    """``reason``: why Kasir disabled it, in Indonesian."""
    return raise_alert(
        conn,
        merchant_id=endpoint["merchant_id"],
        mode=endpoint["mode"],
        cause=ENDPOINT_DISABLED,
        subject=endpoint["public_id"],
        summary=f"Endpoint {where_to(endpoint['url'])} ({endpoint['public_id']}) dinonaktifkan otomatis: {reason}.",
        page=endpoint_page(endpoint["public_id"]),
        now=now,
    )


def source_silent(conn: Connection, source: Mapping[Any, Any], now: datetime) -> bool:
    channels = sorted({channel for package, channel in apps_of(source).items() if package != MOOTA_APP})
    since = to_wire(source["last_seen_at"])
    summary = f"Sumber «{source['name']}» ({source['public_id']}) tidak melapor"
    summary += f" sejak {since} WIB" if since else ""
    summary += f"; kanal: {', '.join(channels)}." if channels else "."
    return raise_alert(
        conn,
        merchant_id=source["merchant_id"],
        mode=source["mode"],
        cause=SOURCE_SILENT,
        subject=source["public_id"],
        summary=summary,
        page=source_page(source["public_id"]),
        now=now,
    )


def endpoint_failing(conn: Connection, endpoint: Mapping[Any, Any], now: datetime) -> bool:
    since = to_wire(endpoint["failing_since"])
    return raise_alert(
        conn,
        merchant_id=endpoint["merchant_id"],
        mode=endpoint["mode"],
        cause=CALLBACKS_FAILING,
        subject=endpoint["public_id"],
        summary=f"Callback ke endpoint {where_to(endpoint['url'])} ({endpoint['public_id']}) gagal sejak {since} WIB.",
        page=endpoint_page(endpoint["public_id"]),
        now=now,
    )


def callback_url_failing(
    conn: Connection, *, merchant_id: int, mode: str, url: str, since: datetime, now: datetime
) -> bool:
    return raise_alert(
        conn,
        merchant_id=merchant_id,
        mode=mode,
        cause=CALLBACKS_FAILING,
        subject=CALLBACK_URL_SUBJECT,
        summary=f"Callback ke {where_to(url)} (callback URL) gagal sejak {to_wire(since)} WIB.",
        page=WEBHOOKS_PAGE,
        now=now,
    )

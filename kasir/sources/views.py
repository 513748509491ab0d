"""A payment source as it is shown to its merchant, with what to paste into each forwarder shops
already run (QRIS Hook, MacroDroid/Tasker/Automate, Moota): the API's source view and the
dashboard's source pages are this one view (docs/sources.md)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kasir.sources import automation, registry

SOURCES_PREFIX = "/v1/sources"


def source_view(row: Mapping[str, Any], public_url: str, now: datetime, token: str | None = None) -> dict[str, Any]:
    """``registry.view`` plus the forwarders' instructions; ``token`` only when it was just made
    (created or rotated): then the token, the pairing URL, and the instructions with it in place."""
    shown = registry.view(row, public_url, now, token)
    base = f"{public_url}{SOURCES_PREFIX}/{row['public_id']}"
    shown["automation"] = {
        "url": f"{base}/automation",
        "content_type": automation.CONTENT_TYPE,
        "body": automation.template(token or "<token>", row["token_hash"]),
    }
    shown["qrishook"] = {"url": f"{base}/qrishook", "secret": "the token" if token is None else token}
    shown["moota"] = {
        "url": f"{base}/moota",
        "secret_token": "the token" if token is None else token,
        "maps": f'apps["{registry.MOOTA_APP}"]',
    }
    return shown

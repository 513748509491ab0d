"""API keys and webhook secrets: how they look, how they are made, how keys are hashed."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Literal

Mode = Literal["test", "live"]
MODES: tuple[Mode, ...] = ("test", "live")


def new_api_key(mode: Mode) -> str:
    # 32 random bytes: unguessable, so a fast hash is a sound way to store it.
    return f"ksr_{mode}_{secrets.token_urlsafe(32)}"


def new_webhook_secret() -> str:
    # Standard Webhooks' format: whsec_ + base64 of the key bytes. The bayar.gg dialect uses the
    # whole string as its HMAC key, as seed 004's PHP receiver does.
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    """What we may show of a key later: enough to tell two keys apart, useless to an attacker."""
    return key[:13] + "…"


def mode_of_key(key: str) -> Mode | None:
    if key.startswith("ksr_test_"):
        return "test"
    if key.startswith("ksr_live_"):
        return "live"
    return None

"""The signed ingress for mutation forwarders.

A forwarder (an Android app relaying a bank's or e-wallet's notifications, a statement service)
cannot hold an API key safely and often cannot set arbitrary headers beyond one. It gets a URL
with a public id and a secret; it POSTs the same body as ``POST /v1/mutations`` and signs the raw
bytes with HMAC-SHA256, hex, in ``X-Kasir-Signature: sha256=<hex>`` (GitHub's recipe, which
most forwarding tools can produce). The check reuses the dialects' HMAC helpers, so the
comparison is constant-time there as everywhere else.

A replayed request is harmless: every credit carries the provider's reference, and a repeated
reference is a no-op.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from kasir.db.tables import mutation_forwarders
from kasir.dialects.base import hmac_hex, matches_any
from kasir.errors import NotFound, Unauthorized
from kasir.merchants.service import Principal

SIGNATURE_HEADER = "X-Kasir-Signature"
_PREFIX = "sha256="


def new_forwarder_id() -> str:
    return "fwd_" + secrets.token_hex(12)


def new_forwarder_secret() -> str:
    return "fwsec_" + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes) -> str:
    """The header value a forwarder sends (also what `kasir` tools and tests send)."""
    return _PREFIX + hmac_hex(secret, body, "sha256")


def ingress_url(public_url: str, public_id: str) -> str:
    return f"{public_url}/v1/forwarders/{public_id}/mutations"


def setup(conn: Connection, principal: Principal, now: datetime) -> tuple[dict[str, Any], str]:
    """Create the caller's forwarder, or give it a new secret (the old one stops working at
    once: a leaked forwarder secret lets anyone report credits). The secret is shown once."""
    secret = new_forwarder_secret()
    row = (
        conn.execute(
            update(mutation_forwarders)
            .where(
                mutation_forwarders.c.merchant_id == principal.merchant_id, mutation_forwarders.c.mode == principal.mode
            )
            .values(secret=secret, rotated_at=now)
            .returning(*mutation_forwarders.c)
        )
        .mappings()
        .first()
    )
    if row is None:
        row = (
            conn.execute(
                insert(mutation_forwarders)
                .values(
                    public_id=new_forwarder_id(),
                    merchant_id=principal.merchant_id,
                    mode=principal.mode,
                    secret=secret,
                    created_at=now,
                    rotated_at=now,
                )
                .returning(*mutation_forwarders.c)
            )
            .mappings()
            .one()
        )
    return dict(row), secret


def is_set_up(conn: Connection, merchant_id: int, mode: str) -> bool:
    """Whether the merchant has a mutation forwarder in ``mode`` (the confirmation rule asks)."""
    found = conn.execute(
        select(mutation_forwarders.c.id).where(
            mutation_forwarders.c.merchant_id == merchant_id, mutation_forwarders.c.mode == mode
        )
    ).first()
    return found is not None


def get(conn: Connection, principal: Principal) -> dict[str, Any]:
    row = (
        conn.execute(
            select(mutation_forwarders).where(
                mutation_forwarders.c.merchant_id == principal.merchant_id, mutation_forwarders.c.mode == principal.mode
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            "no mutation forwarder is set up; POST /v1/forwarder creates one", code="forwarder_not_configured"
        )
    return dict(row)


def authenticate(conn: Connection, public_id: str, body: bytes, signature: str | None) -> dict[str, Any]:
    """The forwarder ``public_id`` names, once ``signature`` proves the body came from it."""
    if "\x00" in public_id:  # no id has one, and PostgreSQL would refuse to compare it
        raise NotFound(f"forwarder {public_id!r} not found", code="forwarder_not_found")
    row = (
        conn.execute(select(mutation_forwarders).where(mutation_forwarders.c.public_id == public_id)).mappings().first()
    )
    if row is None:
        raise NotFound(f"forwarder {public_id} not found", code="forwarder_not_found")
    if not signature:
        raise Unauthorized(f"the {SIGNATURE_HEADER} header is missing", code="missing_signature")
    given = signature.strip()
    if not given.startswith(_PREFIX):
        given = _PREFIX + given  # a bare hex digest is the same claim
    if not matches_any([sign(row["secret"], body)], given.lower()):
        raise Unauthorized(
            f"{SIGNATURE_HEADER} does not match the body: sign the raw bytes with HMAC-SHA256 and the "
            "forwarder secret, hex, as sha256=<hex>",
            code="invalid_signature",
        )
    return dict(row)


def view(row: dict[str, Any], public_url: str, secret: str | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": row["public_id"],
        "url": ingress_url(public_url, row["public_id"]),
        "signature_header": SIGNATURE_HEADER,
        "signature": "sha256=hex(HMAC-SHA256(secret, raw body))",
        "mode": row["mode"],
        "created_at": row["created_at"].isoformat(),
        "rotated_at": row["rotated_at"].isoformat(),
    }
    if secret is not None:
        shown["secret"] = secret
    else:
        shown["secret_hint"] = row["secret"][:9] + "…"
    return shown

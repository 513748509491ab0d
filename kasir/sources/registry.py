"""Payment sources: a merchant's phone (or forwarding app) that reports the apps' notifications.

A source belongs to one merchant in one mode, like everything an API key touches: another
merchant's source, or the same merchant's in the other mode, is 404. Its ``apps`` map an app's
package to the channel (payment method) the app's credits land on, which is what turns "GoPay
Merchant says Rp 18.017 arrived" into a credit on ``gopay_qris`` (docs/sources.md).

The token is shown once, when the source is created or its token rotated, inside the pairing URL
the forwarder takes (``…/v1/sources/src_…#token=kst_…``: a URL fragment never reaches a server
or its logs). Stored, it is a SHA-256 (what a bearer is checked against) and, encrypted at rest,
the HMAC key that checks a signed body: a signature cannot be checked against a hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from kasir.clock import to_wire
from kasir.db.tables import payment_sources
from kasir.dialects.base import hmac_hex
from kasir.errors import InvalidRequest, NotFound, Unauthorized
from kasir.merchants.service import Principal
from kasir.payments.methods import METHODS

SIGNATURE_HEADER = "X-Kasir-Signature"
SIGNATURE_PREFIX = "sha256="
MAX_NAME = 100
MAX_APPS = 50
MAX_PACKAGE = 200
# An Android application id: two or more dot-separated segments, each a letter then letters,
# digits or underscores (what the Play Store and the build tools accept).
PACKAGE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+")
STATES = ("new", "live", "silent")
# Answered for an unknown source, a wrong token and a wrong signature alike: which of the three
# it was would tell a prober what to try next.
_REFUSED = "the source id, token or signature is not right"


def new_source_id() -> str:
    return "src_" + secrets.token_hex(12)


def new_token() -> str:
    return "kst_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign(token: str, body: bytes) -> str:
    """The ``X-Kasir-Signature`` of ``body``: what the forwarder sends, and tests too."""
    return SIGNATURE_PREFIX + hmac_hex(token, body, "sha256")


def pair_url(public_url: str, public_id: str, token: str) -> str:
    return f"{public_url}/v1/sources/{public_id}#token={token}"


def source_label(public_id: str) -> str:
    """What the credits of a source record as their ``source``."""
    return f"phone:{public_id}"


# The pseudo-package a source's ``apps`` names Moota by (kasir.sources.moota).
MOOTA_APP = "co.moota"


def is_watched(apps: Mapping[str, str]) -> bool:
    """Whether a source is expected to speak on its own (a phone), not only when money moves."""
    return any(package != MOOTA_APP for package in apps)


def apps_of(row: Mapping[str, Any]) -> dict[str, str]:
    apps = json.loads(row["apps"])
    assert isinstance(apps, dict)
    return {str(package): str(channel) for package, channel in apps.items()}


def parse_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("name is required: what the owner calls this phone", field="name", code="invalid_name")
    name = value.strip()
    if len(name) > MAX_NAME or not name.isprintable():
        raise InvalidRequest(
            f"name must be printable text of at most {MAX_NAME} characters", field="name", code="invalid_name"
        )
    return name


def parse_apps(value: Any) -> dict[str, str]:
    """``{"com.gojek.gopaymerchant": "gopay_qris", …}``: each package to a channel of METHODS."""
    if not isinstance(value, Mapping) or not value:
        raise InvalidRequest(
            'apps must map each app\'s package to its channel, e.g. {"com.gojek.gopaymerchant": "gopay_qris"}',
            field="apps",
            code="invalid_apps",
        )
    if len(value) > MAX_APPS:
        raise InvalidRequest(f"apps holds at most {MAX_APPS} packages", field="apps", code="invalid_apps")
    apps: dict[str, str] = {}
    for package, channel in value.items():
        if not isinstance(package, str) or len(package) > MAX_PACKAGE or not PACKAGE.fullmatch(package):
            raise InvalidRequest(
                f"apps: {package!r} is not an Android package name (like com.gojek.gopaymerchant)",
                field="apps",
                code="invalid_package",
            )
        if not isinstance(channel, str) or channel not in METHODS:
            raise InvalidRequest(
                f"apps.{package} must be one of {', '.join(METHODS)}", field=f"apps.{package}", code="invalid_channel"
            )
        apps[package] = channel
    return apps


def create(conn: Connection, principal: Principal, name: str, apps: dict[str, str], now: datetime) -> tuple[Any, str]:
    token = new_token()
    row = (
        conn.execute(
            insert(payment_sources)
            .values(
                public_id=new_source_id(),
                merchant_id=principal.merchant_id,
                mode=principal.mode,
                name=name,
                apps=json.dumps(apps, separators=(",", ":")),
                watched=is_watched(apps),
                token_hash=hash_token(token),
                signing_key=token,
                state="new",
                created_at=now,
                updated_at=now,
                token_rotated_at=now,
            )
            .returning(*payment_sources.c)
        )
        .mappings()
        .one()
    )
    return dict(row), token


def list_sources(conn: Connection, principal: Principal) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(payment_sources)
        .where(payment_sources.c.merchant_id == principal.merchant_id, payment_sources.c.mode == principal.mode)
        .order_by(payment_sources.c.id)
    ).mappings()
    return [dict(row) for row in rows]


def get(conn: Connection, principal: Principal, public_id: str, *, lock: bool = False) -> dict[str, Any]:
    """The caller's source ``public_id``; any other, foreign or absent, is 404."""
    if "\x00" in public_id:  # no id has one, and PostgreSQL would refuse to compare it
        raise NotFound(f"source {public_id!r} not found", code="source_not_found")
    query = select(payment_sources).where(
        payment_sources.c.public_id == public_id,
        payment_sources.c.merchant_id == principal.merchant_id,
        payment_sources.c.mode == principal.mode,
    )
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"source {public_id} not found", code="source_not_found")
    return dict(row)


def change(conn: Connection, principal: Principal, public_id: str, params: Mapping[str, Any], now: datetime) -> Any:
    """PATCH: ``name`` and/or ``apps`` (the whole map, replacing the old one)."""
    known = {"name", "apps"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidRequest(f"{unknown[0]} cannot be changed; send name and/or apps", field=unknown[0])
    values: dict[str, Any] = {}
    if "name" in params:
        values["name"] = parse_name(params["name"])
    if "apps" in params:
        apps = parse_apps(params["apps"])
        values["apps"] = json.dumps(apps, separators=(",", ":"))
        values["watched"] = is_watched(apps)
    if not values:
        raise InvalidRequest("send name and/or apps to change", code="nothing_to_change")
    source = get(conn, principal, public_id, lock=True)
    conn.execute(update(payment_sources).where(payment_sources.c.id == source["id"]).values(updated_at=now, **values))
    return get(conn, principal, public_id)


def remove(conn: Connection, principal: Principal, public_id: str) -> None:
    """Forget the source and what it reported; the credits it made stay (they paid payments)."""
    source = get(conn, principal, public_id)
    conn.execute(delete(payment_sources).where(payment_sources.c.id == source["id"]))


def rotate_token(conn: Connection, principal: Principal, public_id: str, now: datetime) -> tuple[Any, str]:
    """A new token, in force at once: the old one stops working (a leaked token reports credits)."""
    source = get(conn, principal, public_id, lock=True)
    token = new_token()
    conn.execute(
        update(payment_sources)
        .where(payment_sources.c.id == source["id"])
        .values(token_hash=hash_token(token), signing_key=token, token_rotated_at=now, updated_at=now)
    )
    return get(conn, principal, public_id), token


def authenticate(
    conn: Connection, public_id: str, body: bytes, *, bearer: str | None, signature: str | None
) -> dict[str, Any]:
    """The source ``public_id`` once the request proves it holds its token: ``Authorization:
    Bearer <token>`` (compared as hashes, in constant time) or ``X-Kasir-Signature:
    sha256=<hex HMAC-SHA256 of the raw body keyed by the token>``. Every refusal is the same 401."""
    if bearer is None and signature is None:
        raise Unauthorized(
            f"send Authorization: Bearer <token>, or {SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body>",
            code="missing_credentials",
        )
    row = None
    if "\x00" not in public_id and len(public_id) <= 40:
        row = conn.execute(select(payment_sources).where(payment_sources.c.public_id == public_id)).mappings().first()
    ok = False
    if bearer is not None:
        expected = row["token_hash"] if row is not None else "0" * 64
        ok = hmac.compare_digest(hash_token(bearer.strip()), expected)
    else:
        assert signature is not None
        given = signature.strip().lower()
        if not given.startswith(SIGNATURE_PREFIX):
            given = SIGNATURE_PREFIX + given  # a bare hex digest is the same claim
        key = row["signing_key"] if row is not None else "-"
        ok = hmac.compare_digest(sign(key, body).encode(), given.encode())
    if row is None or not ok:
        raise Unauthorized(_REFUSED, code="invalid_credentials")
    return dict(row)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def view(row: Mapping[str, Any], public_url: str, now: datetime, token: str | None = None) -> dict[str, Any]:
    """A source as the API shows it; ``token`` only when it was just made (then the pairing URL)."""
    last_seen = row["last_seen_at"]
    apps = apps_of(row)
    shown: dict[str, Any] = {
        "id": row["public_id"],
        "name": row["name"],
        "apps": apps,
        "channels": sorted(set(apps.values())),
        "state": row["state"],
        "last_seen_at": to_wire(last_seen),
        "last_seen_age_seconds": None if last_seen is None else max(0, round((now - last_seen).total_seconds())),
        "silent_since": to_wire(row["silent_since"]),
        "forwarder": row["forwarder"],
        "queued": row["queued"],
        "mode": row["mode"],
        "notifications_url": f"{public_url}/v1/sources/{row['public_id']}/notifications",
        "heartbeat_url": f"{public_url}/v1/sources/{row['public_id']}/heartbeat",
        "signature_header": SIGNATURE_HEADER,
        "created_at": to_wire(row["created_at"]),
        "token_rotated_at": to_wire(row["token_rotated_at"]),
    }
    if token is not None:
        shown["token"] = token
        shown["pair_url"] = pair_url(public_url, row["public_id"], token)
    return shown

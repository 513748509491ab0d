"""Download links for the file a paid payment delivers.

A link is ``/download/<token>``: unguessable (an HMAC of the payment under a key this installation
generated for itself), valid until ``KASIR_DOWNLOAD_TTL`` after the payment was paid, and good for
``KASIR_DOWNLOAD_LIMIT`` downloads in all. The token is derived rather than stored, so the pay
page shows the same link on every visit without keeping it in clear: the database holds only its
hash, and the count that bounds it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from kasir.db.tables import digital_files, download_grants, instance_secrets
from kasir.errors import KasirError, NotFound

KEY_NAME = "download_links"


class DownloadGone(KasirError):
    status_code = 410
    code = "download_expired"


@dataclass(frozen=True, slots=True)
class Download:
    filename: str
    content_type: str
    size: int
    storage_key: str
    remaining: int


def instance_key(conn: Connection, name: str, now: datetime) -> bytes:
    """A random key this installation keeps in its database, created on first use. Every node
    reads the same one, so a link made by one node opens on another."""
    row = conn.execute(select(instance_secrets.c.secret).where(instance_secrets.c.name == name)).first()
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(instance_secrets).values(name=name, secret=secrets.token_urlsafe(32), created_at=now)
                )
        except IntegrityError:
            pass  # another node made it first: use theirs
        row = conn.execute(select(instance_secrets.c.secret).where(instance_secrets.c.name == name)).one()
    return str(row[0]).encode()


def _token(key: bytes, payment_id: int) -> str:
    mac = hmac.new(key, f"download:{payment_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def needs_grant(conn: Connection, payment: Mapping[str, Any]) -> bool:
    """Whether showing this payment's link would first have to write its grant (or the key)."""
    if payment["status"] != "paid" or payment["file_id"] is None or payment["paid_at"] is None:
        return False
    granted = conn.execute(select(download_grants.c.id).where(download_grants.c.payment_id == payment["id"])).first()
    return granted is None


def link_for(
    conn: Connection, payment: Mapping[str, Any], *, ttl: int, limit: int, public_url: str, now: datetime
) -> dict[str, Any] | None:
    """The download link of a paid payment with a file (its grant created on first ask), or None
    for any other payment. ``remaining`` and ``expires_at`` say what is left of it."""
    if payment["status"] != "paid" or payment["file_id"] is None or payment["paid_at"] is None:
        return None
    token = _token(instance_key(conn, KEY_NAME, now), payment["id"])
    grant = (
        conn.execute(select(download_grants).where(download_grants.c.payment_id == payment["id"])).mappings().first()
    )
    if grant is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(download_grants).values(
                        payment_id=payment["id"],
                        file_id=payment["file_id"],
                        token_hash=_hash(token),
                        downloads=0,
                        max_downloads=limit,
                        expires_at=payment["paid_at"] + timedelta(seconds=ttl),
                        created_at=now,
                    )
                )
        except IntegrityError:
            pass  # a concurrent page view made it
        grant = (
            conn.execute(select(download_grants).where(download_grants.c.payment_id == payment["id"])).mappings().one()
        )
    file = conn.execute(
        select(digital_files.c.filename, digital_files.c.size).where(digital_files.c.id == grant["file_id"])
    ).one()
    return {
        "url": f"{public_url}/download/{token}",
        "filename": file.filename,
        "size": file.size,
        "expires_at": grant["expires_at"],
        "remaining": max(0, grant["max_downloads"] - grant["downloads"]),
    }


def redeem(conn: Connection, token: str, now: datetime) -> Download:
    """Count one download against the link ``token``, or refuse: 404 for a token that was never
    issued, 410 once it has expired or its downloads are used up. The count and its check are one
    UPDATE, so concurrent downloads can never exceed the limit."""
    if not token or len(token) > 100:
        raise NotFound("no such download link", code="download_not_found")
    token_hash = _hash(token)
    grant = conn.execute(select(download_grants).where(download_grants.c.token_hash == token_hash)).mappings().first()
    if grant is None:
        raise NotFound("no such download link", code="download_not_found")
    if grant["expires_at"] <= now:
        raise DownloadGone("this download link has expired", code="download_expired")
    counted = conn.execute(
        update(download_grants)
        .where(
            download_grants.c.id == grant["id"],
            download_grants.c.downloads < download_grants.c.max_downloads,
            download_grants.c.expires_at > now,
        )
        .values(downloads=download_grants.c.downloads + 1, last_download_at=now)
        .returning(download_grants.c.downloads, download_grants.c.max_downloads)
    ).first()
    if counted is None:
        raise DownloadGone(
            f"this download link has been used {grant['max_downloads']} times, its limit", code="download_exhausted"
        )
    file = conn.execute(select(digital_files).where(digital_files.c.id == grant["file_id"])).mappings().one()
    return Download(
        filename=file["filename"],
        content_type=file["content_type"],
        size=file["size"],
        storage_key=file["storage_key"],
        remaining=counted.max_downloads - counted.downloads,
    )

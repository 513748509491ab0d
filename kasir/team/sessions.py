"""Dashboard sessions: an opaque token in a cookie, the session itself in the database.

The cookie (``kasir_session``) holds 32 random bytes; the database holds their SHA-256, so a copy
of it signs nobody in, and signing out deletes the row, so a stolen cookie stops working at once.
A session ends after ``KASIR_DASHBOARD_IDLE_TIMEOUT`` without a request, and after
``KASIR_DASHBOARD_SESSION_LIFETIME`` whatever happens. Every form carries a CSRF token derived
from the session's token (an HMAC of it), checked on every state-changing request: a page of
another site can make the browser send the cookie, never read the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from kasir.db.tables import dashboard_sessions, dashboard_users
from kasir.merchants import lookup

COOKIE = "kasir_session"
# Last-seen is written at most this often: a page view need not be a write.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in dashboard user, in the mode their session shows."""

    session_id: int
    user_id: int
    email: str
    role: str
    merchant_id: int
    merchant_username: str
    merchant_name: str
    mode: str
    must_change_password: bool
    csrf: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_of(token: str) -> str:
    return hmac.new(token.encode(), b"kasir-dashboard-csrf", hashlib.sha256).hexdigest()


def csrf_matches(token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_of(token), given or "")


def start(conn: Connection, user_id: int, now: datetime, lifetime: float, address: str | None) -> str:
    """A new session for ``user_id``, in test mode; the cookie's token."""
    token = secrets.token_urlsafe(32)
    conn.execute(
        insert(dashboard_sessions).values(
            token_hash=hash_token(token),
            user_id=user_id,
            mode="test",
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=lifetime),
            address=(address or "")[:64] or None,
        )
    )
    return token


def find(conn: Connection, token: str, now: datetime, idle: float) -> tuple[Visitor, bool] | None:
    """The visitor ``token`` signs in, and whether its last-seen is due an update; None when the
    session is unknown, over its lifetime or idle too long."""
    if not token or len(token) > 100:
        return None
    row = (
        conn.execute(
            lookup.with_merchant(
                select(
                    dashboard_sessions.c.id,
                    dashboard_sessions.c.mode,
                    dashboard_sessions.c.last_seen_at,
                    dashboard_sessions.c.expires_at,
                    dashboard_users.c.id.label("user_id"),
                    dashboard_users.c.email,
                    dashboard_users.c.role,
                    dashboard_users.c.must_change_password,
                    dashboard_users.c.merchant_id,
                ).join(dashboard_users, dashboard_users.c.id == dashboard_sessions.c.user_id),
                dashboard_users.c.merchant_id,
                username="username",
                name="name",
            ).where(dashboard_sessions.c.token_hash == hash_token(token))
        )
        .mappings()
        .first()
    )
    if row is None or row["expires_at"] <= now or row["last_seen_at"] + timedelta(seconds=idle) <= now:
        return None
    visitor = Visitor(
        session_id=int(row["id"]),
        user_id=int(row["user_id"]),
        email=row["email"],
        role=row["role"],
        merchant_id=int(row["merchant_id"]),
        merchant_username=row["username"],
        merchant_name=row["name"],
        mode=row["mode"],
        must_change_password=bool(row["must_change_password"]),
        csrf=csrf_of(token),
    )
    return visitor, row["last_seen_at"] + TOUCH_EVERY <= now


def touch(conn: Connection, session_id: int, now: datetime) -> None:
    conn.execute(update(dashboard_sessions).where(dashboard_sessions.c.id == session_id).values(last_seen_at=now))


def switch_mode(conn: Connection, session_id: int, mode: str) -> None:
    conn.execute(update(dashboard_sessions).where(dashboard_sessions.c.id == session_id).values(mode=mode))


def end(conn: Connection, token: str) -> None:
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.token_hash == hash_token(token)))


def forget_expired(conn: Connection, now: datetime, idle: float) -> Any:
    """The sweeper's: sessions over their lifetime or idle too long."""
    return conn.execute(
        delete(dashboard_sessions).where(
            (dashboard_sessions.c.expires_at <= now)
            | (dashboard_sessions.c.last_seen_at <= now - timedelta(seconds=idle))
        )
    ).rowcount

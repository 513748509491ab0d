"""Invitations to a merchant's dashboard team: an owner invites an email with a role, Kasir makes
a one-time set-password link, the owner passes it on, the person opens it, chooses a password and
is a user (docs/dashboard.md, "The team").

The link's token is 32 random bytes; only its SHA-256 is stored (as for sessions), so the link is
shown once and a copy of the database accepts nobody. An invitation works until it is used, is
revoked, is replaced by a newer one for the same email, or ``KASIR_DASHBOARD_INVITATION_LIFETIME``
(72 h) has passed. Accepting it is one transaction: the guarded UPDATE that marks it used, the
new user, their first session and the audit line, so two browsers racing with the same link get
one user. Functions take a Connection and never commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from kasir.db.tables import dashboard_invitations, dashboard_users
from kasir.errors import Conflict, InvalidRequest, NotFound
from kasir.merchants import lookup
from kasir.team import audit, sessions, users
from kasir.team.sessions import Visitor

LINK_PATH = "/dashboard/invite/"
MAX_TOKEN = 100  # a token is 43 characters; anything much longer is no token of ours


class InvitationInvalid(NotFound):
    """Unknown, used, revoked, replaced or expired: one answer for all of them, so the page is no
    oracle for which tokens exist."""

    code = "invitation_invalid"


@dataclass(frozen=True, slots=True)
class NewInvitation:
    id: int
    email: str
    role: str
    expires_at: datetime
    token: str  # shown once, in the link


def link(public_url: str, token: str) -> str:
    return public_url.rstrip("/") + LINK_PATH + token


def _pending(now: datetime) -> Any:
    return (
        dashboard_invitations.c.used_at.is_(None)
        & dashboard_invitations.c.revoked_at.is_(None)
        & (dashboard_invitations.c.expires_at > now)
    )


def invite(conn: Connection, visitor: Visitor, email: Any, role: Any, now: datetime, lifetime: float) -> NewInvitation:
    """An invitation of ``email`` with ``role`` to the visitor's merchant (an older pending one
    for the same email stops working), and its audit line."""
    if role not in users.ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(users.ROLES)}", field="role", code="invalid_role")
    address = users.normal_email(email)
    if conn.execute(select(dashboard_users.c.id).where(dashboard_users.c.email == address)).first() is not None:
        raise Conflict(f"{address} already signs in to a dashboard", code="email_taken", field="email")
    replaced = conn.execute(
        update(dashboard_invitations)
        .where(
            dashboard_invitations.c.merchant_id == visitor.merchant_id,
            dashboard_invitations.c.email == address,
            _pending(now),
        )
        .values(revoked_at=now)
    ).rowcount
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=lifetime)
    invitation_id = conn.execute(
        insert(dashboard_invitations)
        .values(
            merchant_id=visitor.merchant_id,
            email=address,
            role=role,
            token_hash=sessions.hash_token(token),
            invited_by=visitor.user_id,
            inviter_email=visitor.email,
            created_at=now,
            expires_at=expires_at,
        )
        .returning(dashboard_invitations.c.id)
    ).scalar_one()
    details: dict[str, Any] = {"role": role, "expires_at": expires_at.isoformat()}
    if replaced:
        details["replaced"] = replaced
    audit.record(conn, visitor, "team.invite", address[:80], now, details=details)
    return NewInvitation(int(invitation_id), address, str(role), expires_at, token)


def pending(conn: Connection, merchant_id: int, now: datetime) -> list[dict[str, Any]]:
    """The merchant's invitations still waiting to be accepted, newest first (never a hash)."""
    rows = conn.execute(
        select(
            dashboard_invitations.c.id,
            dashboard_invitations.c.email,
            dashboard_invitations.c.role,
            dashboard_invitations.c.inviter_email,
            dashboard_invitations.c.created_at,
            dashboard_invitations.c.expires_at,
        )
        .where(dashboard_invitations.c.merchant_id == merchant_id, _pending(now))
        .order_by(dashboard_invitations.c.id.desc())
    ).mappings()
    return [dict(row) for row in rows]


def revoke(conn: Connection, visitor: Visitor, invitation_id: int, now: datetime) -> str:
    """The pending invitation stops working at once; its email."""
    row = conn.execute(
        update(dashboard_invitations)
        .where(
            dashboard_invitations.c.id == invitation_id,
            dashboard_invitations.c.merchant_id == visitor.merchant_id,
            _pending(now),
        )
        .values(revoked_at=now)
        .returning(dashboard_invitations.c.email, dashboard_invitations.c.role)
    ).first()
    if row is None:
        raise NotFound("no such pending invitation", code="invitation_not_found")
    audit.record(conn, visitor, "team.invite_revoke", row.email[:80], now, details={"role": row.role})
    return str(row.email)


def find(conn: Connection, token: str, now: datetime) -> dict[str, Any]:
    """The pending invitation ``token`` opens, with its merchant's name, or InvitationInvalid."""
    if not token or len(token) > MAX_TOKEN:
        raise InvitationInvalid("this invitation link does not work", code="invitation_invalid")
    row = (
        conn.execute(
            lookup.with_merchant(
                select(
                    dashboard_invitations.c.id,
                    dashboard_invitations.c.email,
                    dashboard_invitations.c.role,
                    dashboard_invitations.c.expires_at,
                ),
                dashboard_invitations.c.merchant_id,
                merchant_name="name",
                merchant_username="username",
            ).where(dashboard_invitations.c.token_hash == sessions.hash_token(token), _pending(now))
        )
        .mappings()
        .first()
    )
    if row is None:
        raise InvitationInvalid("this invitation link does not work", code="invitation_invalid")
    return dict(row)


def accept(
    conn: Connection,
    token: str,
    password: str,
    now: datetime,
    *,
    session_lifetime: float,
    idle_timeout: float,
    address: str | None,
) -> str:
    """The invitation is used: its user is made with ``password`` (kasir.team.passwords'
    rules) and signed in; the new session's cookie token. A weak password or a taken email
    raises, and the invitation stays pending (the transaction rolls back)."""
    invitation = find(conn, token, now)
    # Guarded: of two browsers accepting at once, the second matches no row (PostgreSQL re-checks
    # the WHERE after the first commits; SQLite's writers queue), and gets the invalid page.
    used = conn.execute(
        update(dashboard_invitations)
        .where(dashboard_invitations.c.id == invitation["id"], _pending(now))
        .values(used_at=now)
    ).rowcount
    if used != 1:
        raise InvitationInvalid("this invitation link does not work", code="invitation_invalid")
    user = users.create_user(
        conn, invitation["merchant_username"], invitation["email"], now, role=invitation["role"], password=password
    )
    conn.execute(
        update(dashboard_invitations).where(dashboard_invitations.c.id == invitation["id"]).values(user_id=user.id)
    )
    conn.execute(update(dashboard_users).where(dashboard_users.c.id == user.id).values(last_sign_in_at=now))
    session_token = sessions.start(conn, user.id, now, session_lifetime, address)
    found = sessions.find(conn, session_token, now, idle_timeout)
    assert found is not None  # just started, in this transaction
    audit.record(conn, found[0], "team.join", user.email[:80], now, details={"role": user.role})
    return session_token


# How long an ended invitation (used, revoked or expired) is kept: the team page shows pending
# ones only, and the audit log keeps who invited whom; the row is then only a used-up hash.
ENDED_KEPT = timedelta(days=30)


def forget_ended(conn: Connection, now: datetime) -> int:
    """The sweeper's: invitations that expired more than ENDED_KEPT ago (used or not)."""
    return int(
        conn.execute(
            delete(dashboard_invitations).where(dashboard_invitations.c.expires_at <= now - ENDED_KEPT)
        ).rowcount
    )

"""Dashboard users: people who sign in to one merchant's dashboard.

Functions take a Connection and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from kasir.db.tables import audit_log, dashboard_sessions, dashboard_users
from kasir.errors import Conflict, Forbidden, InvalidRequest, NotFound
from kasir.merchants import lookup
from kasir.team import passwords

ROLES = ("owner", "developer", "cashier")
# Who the audit log names for what the operator did with the CLI.
OPERATOR = "operator (kasir CLI)"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_EMAIL = 254


@dataclass(frozen=True, slots=True)
class NewUser:
    id: int
    email: str
    merchant_username: str
    role: str
    password: str  # shown once


def normal_email(value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL.fullmatch(value.strip()) or len(value.strip()) > MAX_EMAIL:
        raise InvalidRequest("email must be an email address", field="email", code="invalid_email")
    return value.strip().lower()


def create_user(
    conn: Connection,
    merchant_username: str,
    email: str,
    now: datetime,
    *,
    role: str = "owner",
    password: str | None = None,
) -> NewUser:
    """A user of ``merchant_username``'s dashboard. Without ``password``, a one-time password is
    made up, to be changed at the first sign-in."""
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}", field="role", code="invalid_role")
    address = normal_email(email)
    merchant_id = lookup.find_merchant_id(conn, merchant_username)
    if merchant_id is None:
        raise NotFound(f"no merchant named {merchant_username!r}", code="merchant_not_found")
    if conn.execute(select(dashboard_users.c.id).where(dashboard_users.c.email == address)).first() is not None:
        raise Conflict(f"{address} already signs in to a dashboard", code="email_taken")
    given = password is not None
    secret = password if password is not None else passwords.one_time_password()
    trouble = passwords.problem(secret)
    if trouble:
        raise InvalidRequest(trouble, field="password", code="weak_password")
    user_id = conn.execute(
        insert(dashboard_users)
        .values(
            merchant_id=merchant_id,
            email=address,
            password_hash=passwords.hash_password(secret),
            role=role,
            must_change_password=not given,
            created_at=now,
            password_changed_at=now,
        )
        .returning(dashboard_users.c.id)
    ).scalar_one()
    return NewUser(int(user_id), address, merchant_username, role, secret)


def find_by_email(conn: Connection, email: str) -> dict[str, Any] | None:
    if "\x00" in email or len(email) > MAX_EMAIL:
        return None
    row = (
        conn.execute(select(dashboard_users).where(dashboard_users.c.email == email.strip().lower())).mappings().first()
    )
    return dict(row) if row is not None else None


def check_password(conn: Connection, email: str, password: str, now: datetime) -> dict[str, Any] | None:
    """The user, when ``password`` is theirs (the hash upgraded if its parameters are old)."""
    user = find_by_email(conn, email)
    if not passwords.verify(user["password_hash"] if user else None, password) or user is None:
        return None
    values: dict[str, Any] = {"last_sign_in_at": now}
    if passwords.needs_rehash(user["password_hash"]):
        values["password_hash"] = passwords.hash_password(password)
    conn.execute(update(dashboard_users).where(dashboard_users.c.id == user["id"]).values(**values))
    return user


def change_password(
    conn: Connection, user: Mapping[str, Any], current: str, new: str, now: datetime, *, keep_session: int | None
) -> None:
    """A new password for ``user``, who proves the current one; every other session ends."""
    stored = conn.execute(
        select(dashboard_users.c.password_hash).where(dashboard_users.c.id == user["id"])
    ).scalar_one()
    if not passwords.verify(stored, current):
        raise InvalidRequest("the current password is not right", field="current_password", code="wrong_password")
    trouble = passwords.problem(new)
    if trouble:
        raise InvalidRequest(trouble, field="new_password", code="weak_password")
    if new == current:
        raise InvalidRequest("the new password is the current one", field="new_password", code="weak_password")
    conn.execute(
        update(dashboard_users)
        .where(dashboard_users.c.id == user["id"])
        .values(password_hash=passwords.hash_password(new), must_change_password=False, password_changed_at=now)
    )
    ended = delete(dashboard_sessions).where(dashboard_sessions.c.user_id == user["id"])
    if keep_session is not None:
        ended = ended.where(dashboard_sessions.c.id != keep_session)
    conn.execute(ended)


def set_password(conn: Connection, user_id: int, password: str, now: datetime) -> None:
    """The operator sets a password (``kasir demo``); every session of the user ends."""
    trouble = passwords.problem(password)
    if trouble:
        raise InvalidRequest(trouble, field="password", code="weak_password")
    conn.execute(
        update(dashboard_users)
        .where(dashboard_users.c.id == user_id)
        .values(password_hash=passwords.hash_password(password), must_change_password=False, password_changed_at=now)
    )
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.user_id == user_id))


# --- the team (docs/dashboard.md, "The team") -----------------------------------------------


def owner_emails(conn: Connection, merchant_id: int) -> tuple[str, ...]:
    """The sign-in addresses of ``merchant_id``'s owners, oldest first: where owners' alerts go
    by default (kasir.alerts.recipients)."""
    return tuple(
        conn.execute(
            select(dashboard_users.c.email)
            .where(dashboard_users.c.merchant_id == merchant_id, dashboard_users.c.role == "owner")
            .order_by(dashboard_users.c.id)
        ).scalars()
    )


def team(conn: Connection, merchant_id: int) -> list[dict[str, Any]]:
    """The users of ``merchant_id``'s dashboard, owners first, then by email (never a hash)."""
    rows = conn.execute(
        select(
            dashboard_users.c.id,
            dashboard_users.c.email,
            dashboard_users.c.role,
            dashboard_users.c.created_at,
            dashboard_users.c.last_sign_in_at,
        )
        .where(dashboard_users.c.merchant_id == merchant_id)
        .order_by(dashboard_users.c.email)
    ).mappings()
    return sorted((dict(row) for row in rows), key=lambda user: ROLES.index(user["role"]))


def _locked_team(conn: Connection, merchant_id: int, actor_id: int, user_id: int) -> tuple[dict[str, Any], int]:
    """The user ``user_id`` of ``merchant_id`` and how many owners it has, the merchant's users
    locked (in id order) for the rest of the transaction: two owners demoting or removing each
    other at once then queue, and the second sees it is no longer an owner, so a merchant never
    ends up without one. The actor is checked again here, under the lock."""
    rows = [
        dict(row)
        for row in conn.execute(
            select(dashboard_users.c.id, dashboard_users.c.email, dashboard_users.c.role)
            .where(dashboard_users.c.merchant_id == merchant_id)
            .order_by(dashboard_users.c.id)
            .with_for_update()
        ).mappings()
    ]
    by_id = {row["id"]: row for row in rows}
    actor = by_id.get(actor_id)
    if actor is None or actor["role"] != "owner":
        raise Forbidden("only an owner may change the team", code="role_refused")
    target = by_id.get(user_id)
    if target is None:
        raise NotFound("no such user in this team", code="user_not_found")
    if target["id"] == actor_id:
        raise Conflict("an owner cannot change their own role or remove themselves", code="own_account")
    return target, sum(1 for row in rows if row["role"] == "owner")


def change_role(conn: Connection, merchant_id: int, actor_id: int, user_id: int, role: Any) -> dict[str, Any]:
    """``user_id`` gets ``role``; their next request has it (the role is read with the session).
    The user as they were before."""
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}", field="role", code="invalid_role")
    target, owners = _locked_team(conn, merchant_id, actor_id, user_id)
    if target["role"] == "owner" and role != "owner" and owners <= 1:
        raise Conflict("the last owner keeps the owner role", code="last_owner")
    conn.execute(update(dashboard_users).where(dashboard_users.c.id == user_id).values(role=role))
    return target


def remove_user(conn: Connection, merchant_id: int, actor_id: int, user_id: int) -> dict[str, Any]:
    """``user_id`` no longer signs in: the user and every session of theirs go at once (a
    browser still holding the cookie is at the sign-in page at its next request). Their lines
    in the audit log stay, with their email."""
    target, owners = _locked_team(conn, merchant_id, actor_id, user_id)
    if target["role"] == "owner" and owners <= 1:
        raise Conflict("the last owner cannot be removed", code="last_owner")
    _delete(conn, user_id)
    return target


def _delete(conn: Connection, user_id: int) -> None:
    conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.user_id == user_id))
    conn.execute(delete(dashboard_users).where(dashboard_users.c.id == user_id))


def remove_by_operator(conn: Connection, email: str, now: datetime) -> dict[str, Any]:
    """What ``kasir user remove`` does: the operator, who answers for the installation, removes
    anyone, the last owner too (a lost or compromised account; ``kasir user create`` makes the
    next one). The user as they were, with ``owners_left``; the team's history says so."""
    found = find_by_email(conn, normal_email(email))
    if found is None:
        raise NotFound(f"no dashboard user {email.strip().lower()}", code="user_not_found")
    _delete(conn, found["id"])
    conn.execute(
        insert(audit_log).values(
            merchant_id=found["merchant_id"],
            # An operator's action belongs to no session, so to no mode; the team's history
            # (team_actions) shows the lines of both.
            mode="live",
            user_id=None,
            actor=OPERATOR,
            action="team.remove",
            subject=found["email"][:80],
            details=json.dumps({"role": found["role"]}),
            created_at=now,
        )
    )
    owners = conn.execute(
        select(func.count())
        .select_from(dashboard_users)
        .where(dashboard_users.c.merchant_id == found["merchant_id"], dashboard_users.c.role == "owner")
    ).scalar_one()
    return {
        "email": found["email"],
        "role": found["role"],
        "merchant_id": found["merchant_id"],
        "owners_left": int(owners),
    }


def team_actions(conn: Connection, merchant_id: int, limit: int = 30) -> list[dict[str, Any]]:
    """The audit log's lines about the team (``team.*``), newest first, of both modes: the team
    is the merchant's, not a mode's."""
    rows = conn.execute(
        select(audit_log)
        .where(audit_log.c.merchant_id == merchant_id, audit_log.c.action.like("team.%"))
        .order_by(audit_log.c.id.desc())
        .limit(limit)
    ).mappings()
    return [{**row, "details": json.loads(row["details"]) if row["details"] else None} for row in rows]

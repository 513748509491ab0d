"""Where a merchant's alerts go (docs/alerts.md): a WhatsApp number, if the owner gave one, and
email addresses, by default the sign-in addresses of the merchant's owners. The same recipients
serve both modes; a test-mode alert says it is one."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kasir import phone
from kasir.db.tables import alert_recipients
from kasir.errors import InvalidRequest
from kasir.team.users import owner_emails

OWNER = "owner"
MAX_EMAILS = 5


@dataclass(frozen=True, slots=True)
class Recipients:
    whatsapp: str | None  # 62…
    emails: tuple[str, ...]
    # No list of its own: the owners' sign-in addresses, following the team as it changes.
    owners_default: bool
    # The owner chose no email at all (an empty list).
    email_off: bool = False


def recipients_of(conn: Connection, merchant_id: int) -> Recipients:
    row = conn.execute(select(alert_recipients).where(alert_recipients.c.merchant_id == merchant_id)).mappings().first()
    whatsapp = row["whatsapp"] if row is not None else None
    if row is None or row["emails"] is None:
        return Recipients(whatsapp, owner_emails(conn, merchant_id), owners_default=True)
    emails = tuple(str(e) for e in json.loads(row["emails"]))
    return Recipients(whatsapp, emails, owners_default=False, email_off=not emails)


def save_recipients(
    conn: Connection, merchant_id: int, *, whatsapp: str | None, emails: list[str] | None, now: datetime
) -> None:
    """``emails``: None for the owners' addresses, ``[]`` for no email. Values are checked by
    the caller (the dashboard form)."""
    values = {
        "whatsapp": whatsapp,
        "emails": None if emails is None else json.dumps(emails),
        "updated_at": now,
    }
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    inserted = conn.execute(
        dialect_insert(alert_recipients)
        .values(merchant_id=merchant_id, **values)
        .on_conflict_do_nothing()
        .returning(alert_recipients.c.id)
    ).first()
    if inserted is None:
        conn.execute(update(alert_recipients).where(alert_recipients.c.merchant_id == merchant_id).values(**values))


# An address as people type it: one @, a dot in the domain, no spaces or control characters
# (RFC 5321 allows more, which no owner's mailbox uses and which SMTP servers refuse anyway).
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f<>,;\"']{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\.[A-Za-z]{2,63}")
_SEPARATORS = re.compile(r"[\s,;]+")


def parse_whatsapp(raw: object) -> str | None:
    """A WhatsApp number from the form: empty for none, else normalised (``62…``)."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return phone.normalise(raw.strip())
    except ValueError as exc:
        raise InvalidRequest(f"WhatsApp: {exc}", field="whatsapp", code="invalid_whatsapp") from None


def parse_emails(raw: object) -> list[str]:
    """Email addresses from the form, separated by commas, spaces or lines; at least one."""
    text = raw if isinstance(raw, str) else ""
    found: list[str] = []
    for item in _SEPARATORS.split(text.strip()):
        if not item:
            continue
        if len(item) > 254 or not _EMAIL.fullmatch(item):
            raise InvalidRequest(f"{item[:80]!r} is not an email address", field="emails", code="invalid_email")
        if item.lower() not in {f.lower() for f in found}:
            found.append(item)
    if not found:
        raise InvalidRequest("give at least one email address", field="emails", code="invalid_email")
    if len(found) > MAX_EMAILS:
        raise InvalidRequest(f"at most {MAX_EMAILS} email addresses", field="emails", code="invalid_email")
    return found

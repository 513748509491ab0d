"""Merchants: create, find, configure, authenticate, rotate keys.

Functions take a Connection and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, TypeVar

from sqlalchemy import ColumnElement, Connection, Select, bindparam, func, insert, select, update

from kasir import phone
from kasir.clock import utcnow
from kasir.db import statements
from kasir.db.engine import Database
from kasir.db.statements import Conn, Statement
from kasir.db.tables import api_keys, merchants
from kasir.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from kasir.hooks import Hook
from kasir.merchants.keys import (
    MODES,
    Mode,
    hash_api_key,
    key_prefix,
    mode_of_key,
    new_api_key,
    new_webhook_secret,
)
from kasir.qris.convert import check_static
from kasir.qris.info import NATIONAL_TAG, info

# Usernames end up inside invoice ids (PAY-{username}-…), so no hyphen: it would make the id
# ambiguous to split.
USERNAME_RE = re.compile(r"^[a-z0-9_]{3,32}$")
# The acquirer (kasir.qris.info's name) a merchant-owned QRIS channel is of. The channel's credits
# are read from that account (its statements, its forwarder), so a QRIS of another acquirer would
# take buyers' money into an account nothing reports for the channel: paid, and never confirmed.
CHANNEL_ACQUIRERS = {"qris_bri": "BRI", "qris_gopay": "GoPay"}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a merchant, in one mode. Every query is scoped by both."""

    merchant_id: int
    username: str
    mode: Mode
    key_hash: str


class _KeyOwner(TypedDict):
    merchant_id: int
    mode: str
    key_hash: str
    username: str


# Every API request: the merchant and mode of an active key (on PostgreSQL on the event loop,
# Database.fetch_one; docs/architecture.md, "Data path").
AUTHENTICATE: Statement[_KeyOwner] = Statement(
    select(api_keys.c.merchant_id, api_keys.c.mode, api_keys.c.key_hash, merchants.c.username)
    .join_from(api_keys, merchants, merchants.c.id == api_keys.c.merchant_id)
    .where(api_keys.c.key_hash == bindparam("key_hash"), api_keys.c.revoked_at.is_(None)),
    name="authenticate",
)

S = TypeVar("S", bound=Select[Any])


def with_shop(query: S, merchant_id: ColumnElement[Any]) -> S:
    """``query`` joined to the merchant ``merchant_id`` names, with what a pay page shows of the
    shop: ``merchant_name`` and ``merchant_ovo_number`` (the page's one statement, composed by
    kasir.payments; the merchants table stays this package's)."""
    return query.join(merchants, merchants.c.id == merchant_id).add_columns(  # type: ignore[return-value]
        merchants.c.name.label("merchant_name"), merchants.c.ovo_number.label("merchant_ovo_number")
    )


# (conn, the new merchant's id, its webhook secret per mode, now): the merchant's callback
# settings are kasir.delivery's, which registers here (merchants sit below delivery:
# docs/architecture.md, "Layers"); in the transaction that creates the merchant.
merchant_created: Hook[[Connection, int, dict[str, str], datetime]] = Hook("merchant created")


@dataclass(frozen=True, slots=True)
class NewMerchant:
    """What `merchant create` hands out once: the only time the keys are shown."""

    id: int
    username: str
    name: str
    email: str | None
    test_api_key: str
    live_api_key: str
    test_webhook_secret: str
    live_webhook_secret: str


def username_from_name(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:32]
    return slug if len(slug) >= 3 else f"{slug}_shop"[:32]


def create_merchant(
    conn: Connection, *, name: str, username: str | None = None, email: str | None = None
) -> NewMerchant:
    name = name.strip()
    if not name:
        raise InvalidRequest("name must not be empty", field="name")
    username = username or username_from_name(name)
    if not USERNAME_RE.fullmatch(username):
        raise InvalidRequest(
            "username must be 3–32 characters of a-z, 0-9 and _",
            field="username",
            code="invalid_username",
        )
    if conn.execute(select(merchants.c.id).where(merchants.c.username == username)).first():
        raise Conflict(f"username {username!r} is taken", code="username_taken")
    now = utcnow()
    merchant_id = conn.execute(
        insert(merchants).values(username=username, name=name, email=email, created_at=now).returning(merchants.c.id)
    ).scalar_one()
    keys = {mode: _issue_key(conn, merchant_id, mode) for mode in MODES}
    secrets_ = {}
    for mode in MODES:
        secrets_[mode] = new_webhook_secret()
    if not merchant_created.functions:
        # Without it the merchant would have no callback settings and no webhook secret stored:
        # refuse rather than make a merchant whose webhooks can never be signed.
        raise RuntimeError("kasir.delivery is not loaded: nothing stores a new merchant's callback settings")
    merchant_created(conn, merchant_id, {str(mode): secret for mode, secret in secrets_.items()}, now)
    return NewMerchant(
        id=merchant_id,
        username=username,
        name=name,
        email=email,
        test_api_key=keys["test"],
        live_api_key=keys["live"],
        test_webhook_secret=secrets_["test"],
        live_webhook_secret=secrets_["live"],
    )


def _issue_key(conn: Connection, merchant_id: int, mode: Mode) -> str:
    key = new_api_key(mode)
    conn.execute(
        insert(api_keys).values(
            merchant_id=merchant_id,
            mode=mode,
            key_hash=hash_api_key(key),
            key_prefix=key_prefix(key),
            created_at=utcnow(),
        )
    )
    return key


def rotate_key(conn: Connection, username: str, mode: Mode) -> str:
    """Revoke the merchant's active key for ``mode`` and issue a new one, at once."""
    merchant_id = merchant_id_by_username(conn, username)
    conn.execute(
        update(api_keys)
        .where(api_keys.c.merchant_id == merchant_id, api_keys.c.mode == mode)
        .where(api_keys.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return _issue_key(conn, merchant_id, mode)


def active_keys(conn: Connection, merchant_id: int) -> dict[str, dict[str, Any]]:
    """The merchant's working API key of each mode, as it may be shown: its prefix and when it
    was issued (the key itself is stored hashed only)."""
    rows = conn.execute(
        select(api_keys.c.mode, api_keys.c.key_prefix, api_keys.c.created_at)
        .where(api_keys.c.merchant_id == merchant_id, api_keys.c.revoked_at.is_(None))
        .order_by(api_keys.c.id)
    ).mappings()
    return {row["mode"]: dict(row) for row in rows}


def merchant_id_by_username(conn: Connection, username: str) -> int:
    merchant_id = conn.execute(select(merchants.c.id).where(merchants.c.username == username)).scalar()
    if merchant_id is None:
        raise NotFound(f"no merchant named {username!r}", code="merchant_not_found")
    return int(merchant_id)


def authenticate(conn: Connection, api_key: str) -> Principal:
    """The merchant and mode an API key belongs to, or Unauthorized, inside the caller's
    transaction (the CLI, tests); the API uses :func:`authenticate_fast`. Same statement."""
    digest = _digest_of(api_key)
    return _principal(statements.first(conn, AUTHENTICATE, {"key_hash": digest}), api_key, digest)


async def authenticate_fast(db: Database, api_key: str) -> Principal:
    digest = _digest_of(api_key)
    return _principal(await db.fetch_one(AUTHENTICATE, {"key_hash": digest}), api_key, digest)


def _digest_of(api_key: str) -> str:
    if mode_of_key(api_key) is None:
        raise Unauthorized("API key is not valid", code="invalid_api_key")
    return hash_api_key(api_key)


def _principal(row: _KeyOwner | None, api_key: str, digest: str) -> Principal:
    # The lookup is by hash, so the database never compares the secret itself; compare_digest
    # keeps the final comparison constant-time all the same.
    if row is None or not hmac.compare_digest(row["key_hash"], digest) or row["mode"] != mode_of_key(api_key):
        raise Unauthorized("API key is not valid", code="invalid_api_key")
    mode: Mode = "test" if row["mode"] == "test" else "live"
    return Principal(merchant_id=row["merchant_id"], username=row["username"], mode=mode, key_hash=digest)


MERCHANT_BY_ID: Statement[dict[str, Any]] = Statement(
    select(merchants).where(merchants.c.id == bindparam("id")), name="merchant_by_id"
)


def get_merchant(conn: Conn, merchant_id: int) -> dict[str, Any]:
    row = statements.first(conn, MERCHANT_BY_ID, {"id": merchant_id})
    if row is None:
        raise NotFound("merchant not found", code="merchant_not_found")
    return row


def list_merchants(conn: Connection) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(select(merchants).order_by(merchants.c.id)).mappings()]


def count_merchants(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(merchants)).scalar_one())


def configure_merchant(
    conn: Connection,
    username: str,
    *,
    subscription_active: bool | None = None,
    qris_bri: str | None = None,
    qris_gopay: str | None = None,
    ovo_number: str | None = None,
    email: str | None = None,
    check_acquirers: bool = False,
) -> dict[str, Any]:
    """Change a merchant's subscription flag and receiving channels. An empty string clears a
    channel; a QRIS must be a valid static rupiah QRIS (``check_static``), an OVO number an
    Indonesian mobile, typed in any of the ways a buyer's phone is (``kasir.phone``) and
    stored as it is dialled at home, ``081234567890``, the form the pay page shows buyers.

    ``check_acquirers`` also refuses a QRIS whose acquirer is not its channel's
    (``CHANNEL_ACQUIRERS``). ``kasir merchant set`` checks unless ``--force``; it is off by
    default for callers that set channels up on purpose (the test fixtures use one DANA QRIS for
    every channel)."""
    merchant_id = merchant_id_by_username(conn, username)
    values: dict[str, Any] = {}
    if subscription_active is not None:
        values["subscription_active"] = subscription_active
    for column, qris in (("qris_bri", qris_bri), ("qris_gopay", qris_gopay)):
        if qris is None:
            continue
        values[column] = check_channel_qris(column, qris, check_acquirer=check_acquirers) if qris.strip() else None
    if ovo_number is not None:
        try:
            values["ovo_number"] = phone.domestic_mobile(ovo_number) if ovo_number.strip() else None
        except ValueError as exc:
            raise InvalidRequest(f"ovo_number {exc}", field="ovo_number", code="invalid_phone") from None
    if email is not None:
        values["email"] = email.strip() or None
    if values:
        conn.execute(update(merchants).where(merchants.c.id == merchant_id).values(**values))
    return get_merchant(conn, merchant_id)


def check_channel_qris(column: str, qris: str, *, check_acquirer: bool = True) -> str:
    """``qris`` as the channel ``column`` stores it: a valid static rupiah QRIS
    (``check_static``), of the channel's acquirer when ``check_acquirer``. What
    ``configure_merchant`` saves, and what the dashboard's preview checks before offering to."""
    checked = check_static(qris, field=column)
    if check_acquirer:
        _check_acquirer(column, checked)
    return checked


def _check_acquirer(column: str, qris: str) -> None:
    """Refuse a QRIS for ``column`` none of whose acquirers is the channel's, naming the ones it
    has as ``kasir qris info`` reads them."""
    expected = CHANNEL_ACQUIRERS[column]
    described = info(qris)
    # Tag 51 is the national repository's record of the merchant (the NMID), not an acquirer.
    acquirers = [a for a in described.acquirers if a.tag != NATIONAL_TAG]
    if any(a.name == expected for a in acquirers):
        return
    found = ", ".join(f"{a.name} ({a.id})" if a.name else (a.id or f"a card scheme (tag {a.tag})") for a in acquirers)
    this = f"this one ({described.merchant_name.strip() or 'no merchant name'}, NMID {described.nmid or 'none'})"
    raise InvalidRequest(
        f"{column} must be a {expected} QRIS; {this} "
        + (f"is acquired by {found}" if found else "names no acquirer Kasir can read"),
        field=column,
        code="qris_wrong_acquirer",
    )

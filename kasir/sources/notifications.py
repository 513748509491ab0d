"""Notifications in: what a source's phone saw, checked item by item, parsed, and matched.

A phone sends its offline queue as one batch, and would send it again forever if one bad item
refused the whole batch: so every item gets its own outcome, in order, and an item that cannot
be read is ``invalid`` with a code while the others go on (docs/sources.md).

What each notification becomes:

- from an app the source does not watch: ``ignored`` (``app_not_watched``) and not stored, so a
  forwarder sending everything never fills the database with somebody's chats;
- from an app whose payments another watched app reports too (GoPay beside GoPay Merchant):
  ``ignored`` (``superseded``), so one payment is not counted twice;
- money in, as its app's parser reads it: a credit on the app's channel, through the same
  matching as ``POST /v1/mutations``: ``matched``, ``unmatched`` or ``late``;
- the same app's other notifications (the merchant paying, a promotion): ``ignored``;
- a notification of a watched app that no rule understands: ``unparsed``, stored raw for review,
  re-parsed after a parser update or assigned by hand; nothing is guessed;
- a notification sent again (the same package, title, text and time): ``duplicate``, answering
  what the first one did.

The credit's reference is the transaction id the app printed when it prints one, else the
notification's fingerprint, so a notification re-sent after a lost answer cannot pay twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from kasir.clock import parse_moment, to_wire
from kasir.config import Settings
from kasir.db import statements
from kasir.db.engine import RetryTransaction
from kasir.db.statements import BulkInsert, unset_columns
from kasir.db.tables import payment_sources, source_notifications
from kasir.errors import Conflict, InvalidRequest, NotFound
from kasir.inputs import CONTROL_CHARACTER
from kasir.merchants.service import Principal
from kasir.payments import ledger, reconciliation
from kasir.payments.matching import Outcome, ingest
from kasir.payments.mutations import EARLIEST, MAX_AMOUNT, Credit, Reporter, storable_text
from kasir.payments.service import get_payment
from kasir.sources import health
from kasir.sources.parsers import (
    PACKAGES,
    SUPERSEDED,
    Ignored,
    Incoming,
    Invalid,
    Notification,
    Result,
    Unparsed,
    parse,
)
from kasir.sources.registry import MOOTA_APP, PACKAGE, apps_of, source_label

MAX_ITEMS = 500
MAX_TITLE = 1_000
MAX_TEXT = 10_000
MAX_CLIENT_ID = 100
OUTCOMES = ("matched", "unmatched", "late", "ignored", "duplicate", "unparsed", "invalid")
# A batch's notifications, in one statement (kasir.db.statements); those a concurrent batch
# stored first are refused by the fingerprint's unique index, and missing from what it returns.
INSERT_NOTIFICATIONS = BulkInsert(source_notifications, returning=("id",), on_conflict_do_nothing=True)
_NOTIFICATION_DEFAULTS = unset_columns(source_notifications)


@dataclass(frozen=True, slots=True)
class Item:
    """One notification as a source reported it, checked."""

    notification: Notification
    posted_at: datetime
    client_id: str | None
    # What the reporter already read from it, when it is not an app's text to parse (a Moota
    # mutation says its amount and direction in fields of its own).
    parsed: Result | None = None

    @property
    def fingerprint(self) -> str:
        """What makes two reports the same notification: an app's own key is no good for this
        (some apps post every notification under one key), its package, texts and time are."""
        n = self.notification
        when = int(self.posted_at.timestamp() * 1000)
        return hashlib.sha256(json.dumps([n.package, n.title, n.text, n.big_text or "", when]).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Refused:
    """An item that cannot be read: answered ``invalid`` with ``code``, stored nowhere."""

    code: str
    message: str


def new_notification_id() -> str:
    return "ntf_" + secrets.token_hex(12)


def parse_batch(body: Any, *, now: datetime, clock_grace: int) -> list[Item | Refused]:
    """A body as items: one notification object, a list of them, or ``{"notifications": [...]}``.
    Only the shape of the whole can refuse the whole (400); a bad item is a ``Refused``."""
    if isinstance(body, Mapping) and "notifications" in body:
        body = body["notifications"]
    items = [body] if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        raise InvalidRequest(
            'send a notification object, a list of them, or {"notifications": [...]}', code="invalid_body"
        )
    if not items:
        raise InvalidRequest("the batch holds no notification", code="empty_batch")
    if len(items) > MAX_ITEMS:
        raise InvalidRequest(
            f"a batch holds at most {MAX_ITEMS} notifications; this one has {len(items)}",
            code="too_many_notifications",
        )
    latest = now + timedelta(seconds=clock_grace)
    return [parse_item(item, latest=latest) for item in items]


def _text(item: Mapping[str, Any], name: str, limit: int, *, required: bool) -> str | Refused | None:
    value = item.get(name)
    if value is None or value == "":
        if required:
            return Refused(f"missing_{name}", f"{name} is required")
        return None
    if not isinstance(value, str):
        return Refused(f"invalid_{name}", f"{name} must be text")
    if len(value) > limit:
        return Refused(f"invalid_{name}", f"{name} is longer than {limit} characters")
    if CONTROL_CHARACTER.search(value):
        return Refused("control_character", f"{name} holds a control character other than tab, LF and CR")
    if not storable_text(value):
        return Refused(f"invalid_{name}", f"{name} holds text no database can store")
    return value


def posted_at_of(value: Any) -> datetime:
    """``posted_at``: unix milliseconds (as Android counts them: a number or its digits), or an
    ISO 8601 time; without an offset, WIB (termux-notification-list prints the phone's local
    time, and an Indonesian shop's phone is on WIB, WITA or WIT: say the offset when it is not)."""
    if isinstance(value, bool):
        raise ValueError("not a time")
    if isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"\s*[0-9]{12,14}\s*", value)):
        try:
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("unix milliseconds out of range") from None
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]+\s*", value):
        raise ValueError("digits that are not unix milliseconds")
    return parse_moment(value)


def parse_item(item: Any, *, latest: datetime) -> Item | Refused:
    if not isinstance(item, Mapping):
        return Refused("invalid_item", "a notification must be an object")
    package = item.get("package")
    if not isinstance(package, str) or not package:
        return Refused("missing_package", "package is required: the Android package of the app that posted it")
    if len(package) > 200 or not PACKAGE.fullmatch(package):
        return Refused("invalid_package", "package is not an Android package name")
    title = _text(item, "title", MAX_TITLE, required=False)
    text = _text(item, "text", MAX_TEXT, required=False)
    big_text = _text(item, "big_text", MAX_TEXT, required=False)
    if isinstance(title, Refused):
        return title
    if isinstance(text, Refused):
        return text
    if isinstance(big_text, Refused):
        return big_text
    if not title and not text and not big_text:
        return Refused("missing_text", "a notification needs a title, a text or a big_text")
    raw_time = item.get("posted_at")
    if raw_time is None or raw_time == "":
        return Refused("missing_posted_at", "posted_at is required: unix milliseconds or ISO 8601")
    try:
        posted_at = posted_at_of(raw_time)
    except ValueError:
        return Refused("invalid_posted_at", "posted_at must be unix milliseconds or ISO 8601")
    if posted_at < EARLIEST:
        return Refused("invalid_posted_at", f"posted_at is before {EARLIEST.year}")
    if posted_at > latest:
        return Refused("posted_at_in_future", "posted_at is in the future")
    client_id = item.get("id")
    if isinstance(client_id, int) and not isinstance(client_id, bool):
        client_id = str(client_id)
    if client_id is not None and (
        not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID or not client_id.isprintable()
    ):
        return Refused("invalid_id", f"id must be printable text of at most {MAX_CLIENT_ID} characters")
    return Item(Notification(package, title or "", text or "", big_text), posted_at, client_id or None)


@dataclass(slots=True)
class _Row:
    """A notification to store, and where its answer comes from."""

    item: Item
    values: dict[str, Any]
    credit: int | None = None  # index into the batch's credits


def _credit_reference(parsed: Incoming, fingerprint: str) -> str:
    if parsed.reference:
        reference = f"{parsed.parser}:{parsed.reference}"
        if len(reference) <= 100 and reference.isprintable():
            return reference
    return f"ntf:{fingerprint}"


def classify(
    notification: Notification, apps: Mapping[str, str], parsed: Result | None = None
) -> tuple[str, str | None, str | None, int | None, Incoming | None]:
    """(stored outcome, code, parser, amount, the incoming money) of a watched app's notification;
    ``parsed`` when the reporter read it already."""
    package = notification.package
    superseding = SUPERSEDED.get(package)
    if superseding is not None and superseding in apps:
        return "ignored", "superseded", PACKAGES.get(package), None, None
    if parsed is None:
        parsed = parse(notification)
    if isinstance(parsed, Incoming):
        if not 0 < parsed.amount <= MAX_AMOUNT:
            return "invalid", "amount_out_of_range", parsed.parser, None, None
        return "credited", None, parsed.parser, parsed.amount, parsed
    if isinstance(parsed, Ignored):
        return "ignored", parsed.reason, parsed.parser, None, None
    if isinstance(parsed, Invalid):
        return "invalid", parsed.code, parsed.parser, None, None
    assert isinstance(parsed, Unparsed)
    return "unparsed", parsed.reason, PACKAGES.get(package), None, None


def _stored_answers(conn: Connection, source_id: int, fingerprints: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not fingerprints:
        return {}
    rows = conn.execute(
        ledger.with_credit(
            select(
                source_notifications.c.fingerprint,
                source_notifications.c.public_id,
                source_notifications.c.outcome,
                source_notifications.c.code,
                source_notifications.c.amount,
            ),
            source_notifications.c.mutation_id,
        ).where(source_notifications.c.source_id == source_id, source_notifications.c.fingerprint.in_(fingerprints))
    ).mappings()
    found = {}
    for row in rows:
        answer: dict[str, Any] = {"outcome": "duplicate", "notification_id": row["public_id"]}
        if row["amount"] is not None:
            answer["amount"] = row["amount"]
        if row["mutation_public_id"]:
            answer["mutation_id"] = row["mutation_public_id"]
        if row["invoice_id"]:
            answer["invoice_id"] = row["invoice_id"]
        if row["code"]:
            answer["code"] = row["code"]
        found[row["fingerprint"]] = answer
    return found


def _credit_answer(outcome: Outcome) -> dict[str, Any]:
    mutation = outcome.mutation
    answer: dict[str, Any] = {
        "outcome": "duplicate" if outcome.duplicate else mutation["status"],
        "amount": mutation["amount"],
        "mutation_id": mutation["public_id"],
    }
    invoice = mutation.get("invoice_id") or (mutation.get("late_invoice_id") if mutation["status"] == "late" else None)
    if invoice:
        answer["invoice_id"] = invoice
    return answer


def ingest_batch(
    conn: Connection, source: Mapping[str, Any], batch: Sequence[Item | Refused], settings: Settings, now: datetime
) -> list[dict[str, Any]]:
    """Store and match ``batch`` for ``source``, in one transaction with the source's sign of
    life: one answer per item, in order."""
    apps = apps_of(source)
    answers: list[dict[str, Any] | None] = [None] * len(batch)
    fingerprints = {i: item.fingerprint for i, item in enumerate(batch) if isinstance(item, Item)}
    stored = _stored_answers(conn, source["id"], sorted(set(fingerprints.values())))
    rows: list[_Row] = []
    credits: list[Credit] = []
    seen: dict[str, int] = {}  # fingerprint -> the first item of this batch that has it
    for i, item in enumerate(batch):
        if isinstance(item, Refused):
            answers[i] = {"outcome": "invalid", "code": item.code, "error": item.message}
            continue
        fingerprint = fingerprints[i]
        if fingerprint in stored:
            answers[i] = stored[fingerprint]
            continue
        if fingerprint in seen:
            continue  # answered below, as its first copy
        seen[fingerprint] = i
        channel = apps.get(item.notification.package)
        if channel is None:
            answers[i] = {"outcome": "ignored", "code": "app_not_watched"}
            continue
        outcome, code, parser, amount, incoming = classify(item.notification, apps, item.parsed)
        row = _Row(
            item,
            {
                **_NOTIFICATION_DEFAULTS,
                "public_id": new_notification_id(),
                "source_id": source["id"],
                "merchant_id": source["merchant_id"],
                "mode": source["mode"],
                "fingerprint": fingerprint,
                "client_id": item.client_id,
                "package": item.notification.package,
                "title": item.notification.title,
                "text": item.notification.text,
                "big_text": item.notification.big_text,
                "posted_at": item.posted_at,
                "received_at": now,
                "outcome": outcome,
                "code": code,
                "parser": parser,
                "channel": channel,
                "amount": amount,
                "mutation_id": None,
                "reparsed_at": None,
            },
        )
        if incoming is not None and amount is not None:
            row.credit = len(credits)
            credits.append(
                Credit(
                    channel,
                    amount,
                    _credit_reference(incoming, fingerprint),
                    item.posted_at,
                    _description(item.notification),
                )
            )
        rows.append(row)

    outcomes: list[Outcome] = []
    row_ids: dict[str, int] = {}
    if credits:
        reporter = Reporter(source["mode"], source["merchant_id"], source_label(source["public_id"]))
        outcomes = ingest(conn, reporter, credits, settings, now)
        row_ids = {outcome.mutation["public_id"]: outcome.mutation["id"] for outcome in outcomes}
    for row in rows:
        answer: dict[str, Any]
        if row.credit is not None:
            credited = outcomes[row.credit]
            row.values["mutation_id"] = row_ids.get(credited.mutation["public_id"])
            answer = _credit_answer(credited)
        else:
            answer = {"outcome": row.values["outcome"], "code": row.values["code"]}
        answer["notification_id"] = row.values["public_id"]
        answers[seen[row.values["fingerprint"]]] = answer
    if rows:
        inserted = statements.insert_many(conn, INSERT_NOTIFICATIONS, [row.values for row in rows])
        if len(inserted) != len(rows):
            raise RetryTransaction("a concurrent batch stored some of these notifications first")
    # Later copies of a notification within the batch answer as duplicates of the first.
    for i, item in enumerate(batch):
        if answers[i] is None and isinstance(item, Item):
            first = answers[seen[fingerprints[i]]]
            assert first is not None
            answers[i] = {**first, "outcome": "duplicate"}
    health.sign_of_life(conn, source, now)
    return [answer for answer in answers if answer is not None]


def _description(notification: Notification) -> str:
    text = " ".join(part for part in (notification.title, notification.big_text or notification.text) if part)
    return text[:500]


# --- review: listing, re-parsing and assigning by hand -------------------------------------------

REVIEWABLE = ("unparsed", "invalid", "ignored")
# A stored notification with the credit it became (its id and status) and the payment it paid.
_WITH_CREDIT = ledger.with_credit(select(source_notifications), source_notifications.c.mutation_id)


def _notification(conn: Connection, source: Mapping[str, Any], public_id: str, *, lock: bool = False) -> dict[str, Any]:
    if "\x00" in public_id:
        raise NotFound(f"notification {public_id!r} not found", code="notification_not_found")
    query = _WITH_CREDIT.where(
        source_notifications.c.public_id == public_id, source_notifications.c.source_id == source["id"]
    )
    if lock:
        query = query.with_for_update(of=source_notifications)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"notification {public_id} not found", code="notification_not_found")
    return dict(row)


def get_notification(conn: Connection, source: Mapping[str, Any], public_id: str) -> dict[str, Any]:
    """The source's notification ``public_id``, with its credit and payment; any other is 404."""
    return _notification(conn, source, public_id)


def row_id(conn: Connection, source: Mapping[str, Any], public_id: str) -> int:
    """The row id of the source's notification ``public_id`` (a page's cursor)."""
    return int(_notification(conn, source, public_id)["id"])


def list_notifications(
    conn: Connection, source: Mapping[str, Any], *, outcome: str | None, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """Newest first; ``outcome`` ``credited``, ``ignored``, ``unparsed`` or ``invalid``."""
    query = (
        _WITH_CREDIT.where(source_notifications.c.source_id == source["id"])
        .order_by(source_notifications.c.id.desc())
        .limit(limit)
    )
    if outcome is not None:
        query = query.where(source_notifications.c.outcome == outcome)
    if before is not None:
        query = query.where(source_notifications.c.id < before)
    return [dict(row) for row in conn.execute(query).mappings()]


def notification_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["public_id"],
        "package": row["package"],
        "title": row["title"],
        "text": row["text"],
        "big_text": row["big_text"],
        "posted_at": to_wire(row["posted_at"]),
        "received_at": to_wire(row["received_at"]),
        "outcome": row["outcome"],
        "code": row["code"],
        "parser": row["parser"],
        "channel": row["channel"],
        "amount": row["amount"],
        "mutation_id": row.get("mutation_public_id"),
        "mutation_status": row.get("mutation_status"),
        "invoice_id": row.get("invoice_id"),
        "client_id": row["client_id"],
        "reparsed_at": to_wire(row["reparsed_at"]),
    }


def reparse(
    conn: Connection, source: Mapping[str, Any], public_id: str, settings: Settings, now: datetime
) -> dict[str, Any]:
    """Run today's parsers over a stored notification that did not become a credit; when they now
    read money in, it becomes one (and may pay), exactly as if it had come in now."""
    row = _notification(conn, source, public_id, lock=True)
    if row["outcome"] == "credited":
        raise Conflict(f"notification {public_id} is already a credit", code="already_credited")
    if row["package"] not in PACKAGES and row["package"] == MOOTA_APP:
        raise Conflict(
            f"notification {public_id} is a Moota mutation: there is no text to parse", code="not_reparsable"
        )
    apps = apps_of(source)
    notification = Notification(row["package"], row["title"], row["text"], row["big_text"])
    outcome, code, parser, amount, incoming = classify(notification, apps)
    channel = apps.get(row["package"], row["channel"])
    values: dict[str, Any] = {
        "outcome": outcome,
        "code": code,
        "parser": parser,
        "amount": amount,
        "channel": channel,
        "reparsed_at": now,
    }
    if incoming is not None and amount is not None and channel is not None:
        credit = Credit(
            channel,
            amount,
            _credit_reference(incoming, row["fingerprint"]),
            row["posted_at"],
            _description(notification),
        )
        reporter = Reporter(source["mode"], source["merchant_id"], source_label(source["public_id"]))
        [result] = ingest(conn, reporter, [credit], settings, now)
        values["mutation_id"] = result.mutation["id"]
    conn.execute(update(source_notifications).where(source_notifications.c.id == row["id"]).values(**values))
    return _notification(conn, source, public_id)


def assign(
    conn: Connection,
    principal: Principal,
    source: Mapping[str, Any],
    public_id: str,
    invoice_id: str,
    settings: Settings,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A person read the notification and says which payment it pays: it becomes a credit of the
    payment's final amount on the payment's channel, settled against that payment, by matching
    when it is still pending (its final amount is unique on its account, so no other payment can
    take the credit) or by hand as ``POST /v1/mutations/{id}/assign`` settles any credit."""
    row = _notification(conn, source, public_id, lock=True)
    if row["outcome"] == "credited":
        raise Conflict(
            f"notification {public_id} is already the credit {row['mutation_public_id']}; assign that one",
            code="already_credited",
        )
    payment = get_payment(conn, principal, invoice_id)
    notification = Notification(row["package"], row["title"], row["text"], row["big_text"])
    credit = Credit(
        payment["payment_method"],
        payment["final_amount"],
        f"ntf:{row['fingerprint']}",
        row["posted_at"],
        _description(notification),
    )
    reporter = Reporter(source["mode"], source["merchant_id"], source_label(source["public_id"]))
    [result] = ingest(conn, reporter, [credit], settings, now)
    if result.mutation.get("invoice_id") != invoice_id:
        reconciliation.assign(conn, principal, result.mutation["public_id"], invoice_id, settings.public_url, now)
    conn.execute(
        update(source_notifications)
        .where(source_notifications.c.id == row["id"])
        .values(
            outcome="credited",
            code="assigned",
            channel=payment["payment_method"],
            amount=credit.amount,
            mutation_id=result.mutation["id"],
        )
    )
    updated = _notification(conn, source, public_id)
    return updated, dict(get_payment(conn, principal, invoice_id))


def with_state(source: Mapping[str, Any], conn: Connection) -> dict[str, Any]:
    """The source as stored now (after a sign of life changed it)."""
    row = conn.execute(select(payment_sources).where(payment_sources.c.id == source["id"])).mappings().one()
    return dict(row)

"""What every dialect is: (event, secrets) -> (headers, body) for the worker, and
(body, headers, secrets) -> event for receivers. Standard library only: the receiver SDK imports
these modules in a merchant's app, which must not pull in Kasir's server stack.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A canonical event as the outbox stores it. ``id`` is stable across every attempt, so a
    receiver can de-duplicate; ``data`` is the payment as check-payment shows it, plus the fields
    of seed 004's callback."""

    id: str
    type: str
    created_at: int  # unix seconds
    data: Mapping[str, Any]
    mode: str = "test"
    business_id: str = ""  # the merchant, for dialects that name the account (Xendit)
    # ``data`` as the outbox stored it (``encode_json``'s compact text), when the caller has it:
    # a dialect whose body embeds the data unchanged splices it instead of encoding it again.
    raw_data: str | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """What a receiver gets back from ``verify``: the event in canonical terms, and the body."""

    id: str | None
    type: str
    data: Mapping[str, Any]
    timestamp: int | None
    dialect: str
    payload: Mapping[str, Any] = field(default_factory=dict)


class WebhookVerificationError(Exception):
    """Base of every reason to refuse a webhook."""


class MissingHeader(WebhookVerificationError):
    pass


class InvalidSignature(WebhookVerificationError):
    pass


class TimestampOutOfTolerance(WebhookVerificationError):
    """The signed timestamp is too far from now (either way), or not a time at all."""


class TimestampTooOld(TimestampOutOfTolerance):
    """Older than the tolerance: a replay, or a message that waited too long."""


class TimestampInFuture(TimestampOutOfTolerance):
    """Ahead of now by more than the tolerance: a sender's clock, or a forged message."""


class MalformedPayload(WebhookVerificationError):
    pass


class Dialect(Protocol):
    name: str
    #: Whether the signature covers a timestamp, so that old messages can be refused.
    has_timestamp: bool

    def event_name(self, event_type: str) -> str | None:
        """The dialect's name for a canonical event, or None when it has no way to say it."""
        ...

    def render(self, event: WebhookEvent, secrets: Sequence[str], *, timestamp: int, delivery_id: str) -> Rendered:
        """Headers and body for one attempt. ``secrets[0]`` is current; more are accepted during a
        rotation, and dialects that can carry several signatures sign with each."""
        ...

    def verify(
        self, body: bytes, headers: Headers, secrets: Sequence[str], *, tolerance: int = 300, now: int | None = None
    ) -> ReceivedEvent: ...


# --- helpers the dialect modules share --------------------------------------------------------


def header_map(headers: Headers) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name.lower(): value for name, value in items}


def require_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower())
    if value is None or value == "":
        raise MissingHeader(f"missing {name} header")
    return value


def hmac_hex(secret: str, message: bytes, digest: str) -> str:
    return hmac.new(secret.encode(), message, getattr(hashlib, digest)).hexdigest()


def matches_any(expected: Iterable[str], given: str) -> bool:
    """Constant-time comparison against every candidate (no early exit on a match either)."""
    found = False
    for candidate in expected:
        found |= hmac.compare_digest(candidate.encode(), given.encode())
    return found


def encode_json(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def encode_json_value(value: str | int | None) -> bytes:
    """One value as ``encode_json`` writes it inside an object."""
    return json.dumps(value, ensure_ascii=False).encode()


def decode_json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise MalformedPayload("body is not a JSON object")
    return payload


def check_timestamp(raw: str, tolerance: int, now: int | None) -> int:
    try:
        timestamp = int(raw)
    except ValueError:
        raise TimestampOutOfTolerance(f"timestamp {raw!r} is not a unix time") from None
    current = int(datetime.now(UTC).timestamp()) if now is None else now
    if current - timestamp > tolerance:
        raise TimestampTooOld(f"timestamp is {current - timestamp} s old (tolerance {tolerance} s)")
    if timestamp - current > tolerance:
        raise TimestampInFuture(f"timestamp is {timestamp - current} s in the future (tolerance {tolerance} s)")
    return timestamp


def iso_utc(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def hookshot_event(event_type: str) -> str | None:
    """Digiflazz and Ilenpay name events by what happened to the transaction; a payment source
    going silent is no transaction, and they have no word for it (None)."""
    if event_type.startswith("source."):
        return None
    if event_type == "ping":
        return "ping"
    return "create" if event_type.endswith(".created") else "update"


def is_order(data: Mapping[str, Any]) -> bool:
    """Whether an event's data is a WA Store order (``order.*``) rather than a payment."""
    return "order_number" in data


def status_field(data: Mapping[str, Any]) -> str:
    """Where hookshot dialects keep Kasir's own status word, their ``status`` being theirs: an
    order's data already has ``payment_status`` (its payment's), so its own is ``order_status``."""
    return "order_status" if is_order(data) else "payment_status"


def canonical_type(hookshot: str, status: str, *, order: bool = False) -> str:
    """Back from a hookshot event name and a payment's (or an order's) status to the canonical
    event type."""
    if hookshot == "ping":
        return "ping"
    if order:
        return "order.created" if hookshot == "create" else f"order.{status or 'updated'}"
    if hookshot == "create":
        return "payment.created"
    return {"paid": "payment.paid", "expired": "payment.expired", "cancelled": "payment.cancelled"}.get(
        status, f"payment.{status or 'updated'}"
    )


@dataclass(frozen=True, slots=True)
class Hookshot:
    """GitHub-style "hookshot" webhooks, the shape Digiflazz and Ilenpay share: an event header
    (create/update/ping), a delivery id header, and a prefixed hex HMAC-SHA1 of the raw body."""

    user_agent: str
    event_header: str
    delivery_header: str
    signature_header: str
    prefix: str  # "sha1=" (Digiflazz), "key=" (Ilenpay)

    def headers(self, event_type: str, delivery_id: str, secret: str, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            self.event_header: hookshot_event(event_type) or "update",
            self.delivery_header: delivery_id,
            self.signature_header: self.prefix + hmac_hex(secret, body, "sha1"),
        }

    def check(
        self, body: bytes, headers: Headers, secrets: Sequence[str]
    ) -> tuple[dict[str, str], str, dict[str, Any]]:
        """(lower-cased headers, event name, decoded body) once the signature is right."""
        h = header_map(headers)
        signature = require_header(h, self.signature_header)
        event = require_header(h, self.event_header)
        if not matches_any((self.prefix + hmac_hex(s, body, "sha1") for s in secrets), signature):
            raise InvalidSignature(f"{self.signature_header} does not match")
        return h, event, decode_json(body)


def data_object(payload: Mapping[str, Any]) -> dict[str, Any]:
    data = payload.get("data")
    if not isinstance(data, dict):
        raise MalformedPayload('body must be {"data": {...}}')
    return data

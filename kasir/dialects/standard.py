"""Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64>``
(several, space-separated, while a secret rotates); HMAC-SHA256 of ``id.timestamp.body`` keyed
by the base64-decoded secret after ``whsec_``; body ``{"type", "timestamp", "data"}``."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Sequence

from kasir.dialects.base import (
    Headers,
    InvalidSignature,
    MalformedPayload,
    ReceivedEvent,
    Rendered,
    WebhookEvent,
    check_timestamp,
    decode_json,
    encode_json,
    encode_json_value,
    header_map,
    iso_utc,
    require_header,
)

name = "standard"
has_timestamp = True
PREFIX = "whsec_"


def event_name(event_type: str) -> str | None:
    return event_type


@functools.lru_cache(maxsize=1024)
def secret_key(secret: str) -> bytes:
    # Cached: the worker signs every attempt with one of a few secrets, and decoding one each
    # time was 4 % of its CPU (benchmarks/worker_profile.py). A bad secret raises, and is not cached.
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except ValueError:
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64") from None


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def render(event: WebhookEvent, secrets: Sequence[str], *, timestamp: int, delivery_id: str) -> Rendered:
    if event.raw_data is not None:
        # The same bytes as encoding the dict below, with the stored data spliced in as it is:
        # the body does not change from one attempt to the next, only its signature does.
        body = b"".join(
            (
                b'{"type":',
                encode_json_value(event.type),
                b',"timestamp":',
                encode_json_value(iso_utc(event.created_at)),
                b',"data":',
                event.raw_data.encode(),
                b"}",
            )
        )
    else:
        body = encode_json({"type": event.type, "timestamp": iso_utc(event.created_at), "data": dict(event.data)})
    signatures = " ".join(sign(secret, event.id, timestamp, body) for secret in secrets)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Kasir-Webhook/1",
        "webhook-id": event.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
    return Rendered(headers, body)


def verify(
    body: bytes, headers: Headers, secrets: Sequence[str], *, tolerance: int = 300, now: int | None = None
) -> ReceivedEvent:
    h = header_map(headers)
    msg_id = require_header(h, "webhook-id")
    raw_timestamp = require_header(h, "webhook-timestamp")
    given = [part for part in require_header(h, "webhook-signature").split(" ") if part.startswith("v1,")]
    expected = [sign(secret, msg_id, raw_timestamp, body) for secret in secrets]
    matched = False
    for signature in given:
        for candidate in expected:
            matched |= hmac.compare_digest(signature.encode(), candidate.encode())
    if not matched:
        raise InvalidSignature("no webhook-signature matches")
    timestamp = check_timestamp(raw_timestamp, tolerance, now)
    payload = decode_json(body)
    if not isinstance(payload.get("type"), str) or not isinstance(payload.get("data"), dict):
        raise MalformedPayload("body must be {type, timestamp, data}")
    return ReceivedEvent(
        id=msg_id, type=payload["type"], data=payload["data"], timestamp=timestamp, dialect=name, payload=payload
    )

"""Every dialect: what it renders, it verifies; tampering, a wrong secret, a missing header and
(where the dialect signs a time) a stale timestamp are each refused with their own exception."""

from __future__ import annotations

import json
import time

import pytest

from kasir import dialects
from kasir.dialects import (
    InvalidSignature,
    MissingHeader,
    TimestampOutOfTolerance,
    WebhookEvent,
)
from kasir.merchants.keys import new_webhook_secret

PAID = WebhookEvent(
    id="evt_0123456789abcdef01234567",
    type="payment.paid",
    created_at=1_705_312_530,
    business_id="toko_satu",
    data={
        "event": "payment.paid",
        "invoice_id": "PAY-toko_satu-1705312000-ABC123",
        "status": "paid",
        "amount": 50000,
        "unique_code": 123,
        "final_amount": 50123,
        "paid_at": "2024-01-15 12:25:30",
        "paid_amount": 50123,
        "paid_reff_num": "TRX123456789",
        "customer_name": "Jöhn Doe",
        "customer_phone": "08123456789",
        "timestamp": 1_705_312_530,
    },
)
ALL = sorted(dialects.REGISTRY)


def render(name: str, secrets: list[str], timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
    rendered = dialects.get(name).render(PAID, secrets, timestamp=timestamp or int(time.time()), delivery_id="dlv_1")
    return rendered.headers, rendered.body


@pytest.mark.parametrize("name", ALL)
def test_round_trip(name: str) -> None:
    secret = new_webhook_secret()
    headers, body = render(name, [secret])
    received = dialects.get(name).verify(body, headers, [secret])
    assert received.type == "payment.paid"
    assert received.dialect == name
    assert received.data["invoice_id"] == PAID.data["invoice_id"]
    assert received.data["final_amount"] == 50123
    assert received.id == PAID.id  # the stable id a receiver de-duplicates on


@pytest.mark.parametrize("name", ALL)
def test_header_names_are_case_insensitive(name: str) -> None:
    secret = new_webhook_secret()
    headers, body = render(name, [secret])
    shouted = [(k.upper(), v) for k, v in headers.items()]
    assert dialects.get(name).verify(body, shouted, [secret]).type == "payment.paid"


@pytest.mark.parametrize("name", ALL)
def test_wrong_secret_is_refused(name: str) -> None:
    headers, body = render(name, [new_webhook_secret()])
    with pytest.raises(InvalidSignature):
        dialects.get(name).verify(body, headers, [new_webhook_secret()])


@pytest.mark.parametrize("name", [n for n in ALL if n != "xendit"])
def test_tampered_body_is_refused(name: str) -> None:
    """Xendit's token does not cover the body (seed 003); every signing dialect's does."""
    secret = new_webhook_secret()
    headers, body = render(name, [secret])
    tampered = body.replace(b"50123", b"90123")
    assert tampered != body
    with pytest.raises(InvalidSignature):
        dialects.get(name).verify(tampered, headers, [secret])


@pytest.mark.parametrize("name", ALL)
def test_missing_signature_header_is_refused(name: str) -> None:
    secret = new_webhook_secret()
    headers, body = render(name, [secret])
    signature_headers = {
        "bayargg": "X-Webhook-Signature",
        "standard": "webhook-signature",
        "digiflazz": "X-Hub-Signature",
        "ilenpay": "X-Ilen-Signature",
        "isikuota": "X-Signature",
        "xendit": "x-callback-token",
    }
    del headers[signature_headers[name]]
    with pytest.raises(MissingHeader):
        dialects.get(name).verify(body, headers, [secret])


@pytest.mark.parametrize("name", [n for n in ALL if dialects.get(n).has_timestamp])
def test_replayed_old_message_is_refused(name: str) -> None:
    secret = new_webhook_secret()
    headers, body = render(name, [secret], timestamp=int(time.time()) - 3600)
    with pytest.raises(TimestampOutOfTolerance):
        dialects.get(name).verify(body, headers, [secret], tolerance=300)


def test_standard_signs_with_every_secret_during_rotation() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    headers, body = render("standard", [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for receiver_secret in (old, new):
        assert dialects.get("standard").verify(body, headers, [receiver_secret]).type == "payment.paid"


def test_standard_verifies_with_the_standardwebhooks_library() -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")
    old, new = new_webhook_secret(), new_webhook_secret()
    headers, body = render("standard", [new, old])
    for secret in (old, new):
        payload = standardwebhooks.Webhook(secret).verify(body.decode(), headers)
        assert payload["type"] == "payment.paid"
        assert payload["data"]["final_amount"] == 50123


def test_bayargg_matches_seed_004_recipe() -> None:
    """hash_hmac('sha256', invoice_id|status|final_amount|timestamp, secret), in header and body."""
    import hashlib
    import hmac

    secret = new_webhook_secret()
    headers, body = render("bayargg", [secret], timestamp=1_705_312_530)
    payload = json.loads(body)
    expected = hmac.new(
        secret.encode(), b"PAY-toko_satu-1705312000-ABC123|paid|50123|1705312530", hashlib.sha256
    ).hexdigest()
    assert headers["X-Webhook-Signature"] == expected == payload["signature"]
    assert headers["X-Webhook-Event"] == "payment.paid"
    assert headers["X-Invoice-ID"] == "PAY-toko_satu-1705312000-ABC123"
    for key in ("event", "invoice_id", "status", "amount", "final_amount", "unique_code", "paid_at", "timestamp"):
        assert key in payload


def test_digiflazz_and_ilenpay_headers_follow_their_seeds() -> None:
    import hashlib
    import hmac

    secret = "somesecretvalue"
    headers, body = render("digiflazz", [secret])
    assert headers["X-Digiflazz-Event"] == "update"
    assert headers["X-Hub-Signature"] == "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    assert headers["User-Agent"].startswith("Digiflazz-Hookshot")
    assert json.loads(body)["data"]["status"] == "Sukses"
    headers, body = render("ilenpay", [secret])
    assert headers["X-Ilen-Signature"] == "key=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    assert json.loads(body)["data"]["status"] == "PAID"


def test_isikuota_names_and_omissions() -> None:
    isikuota = dialects.get("isikuota")
    assert isikuota.event_name("payment.paid") == "order.success"
    assert isikuota.event_name("payment.expired") == "order.failed"
    assert isikuota.event_name("payment.created") is None
    _headers, body = render("isikuota", ["your_secret_key"])
    data = json.loads(body)
    assert data["event"] == "order.success"
    assert data["data"]["ref_id"] == PAID.data["invoice_id"]
    assert data["data"]["sn"] == "TRX123456789"


def test_digiflazz_ping_body_is_the_seed_ping_payload() -> None:
    ping = WebhookEvent(
        id="evt_ping",
        type="ping",
        created_at=1,
        data={
            "sed": "AgXXtVAHp",
            "hook_id": "11aaabbb",
            "hook": {"url": "https://x", "secret": "so***", "type": "application/json", "status": 1},
        },
    )
    rendered = dialects.get("digiflazz").render(ping, ["s"], timestamp=1, delivery_id="d")
    assert rendered.headers["X-Digiflazz-Event"] == "ping"
    assert json.loads(rendered.body) == dict(ping.data)


@pytest.mark.parametrize("name", ALL)
def test_the_stored_data_gives_the_same_request_as_the_decoded_data(name: str) -> None:
    """The worker hands a dialect the data as the outbox stored it (``raw_data``, with a mapping
    that decodes it only when read): every dialect sends exactly the bytes it sends for the
    decoded dict, the ones that splice the stored text included."""
    stored = WebhookEvent(
        id=PAID.id,
        type=PAID.type,
        created_at=PAID.created_at,
        business_id=PAID.business_id,
        data=PAID.data,
        raw_data=json.dumps(PAID.data, separators=(",", ":"), ensure_ascii=False),
    )
    secrets, now = [new_webhook_secret(), new_webhook_secret()], int(time.time())
    decoded = dialects.get(name).render(PAID, secrets, timestamp=now, delivery_id="dlv_1")
    spliced = dialects.get(name).render(stored, secrets, timestamp=now, delivery_id="dlv_1")
    assert spliced.body == decoded.body
    assert spliced.headers == decoded.headers

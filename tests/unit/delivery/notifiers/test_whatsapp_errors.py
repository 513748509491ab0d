"""Which Cloud API errors end a message for good: the ``code`` of Meta's ``{"error": {...}}`` body
decides, not the HTTP status. Anything else (transient codes, bodies that are not the Cloud
API's) leaves the delivery to the retry schedule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kasir.delivery.notifiers import Message
from kasir.delivery.notifiers.whatsapp import PERMANENT_ERRORS, WhatsAppCloudNotifier, permanent_reason


def cloud_error(code: Any, **extra: Any) -> str:
    return json.dumps(
        {
            "error": {
                "message": f"(#{code}) Something about it",
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": "Details."},
                "fbtrace_id": "AbCdEfGhIjKlMnOpQrStUv",
                **extra,
            }
        }
    )


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (33, "phone number was deleted"),
        (100, "invalid parameter"),
        (131008, "required parameter is missing"),
        (131009, "parameter value is not valid"),
        (131021, "recipient is the sender"),
        (131026, "undeliverable"),
        (131047, "24 hours"),
        (131051, "unsupported message type"),
    ],
)
def test_each_permanent_code_has_its_reason(code: int, words: str) -> None:
    reason = permanent_reason(cloud_error(code))
    assert reason is not None
    assert words in reason
    assert reason.endswith(f"(code {code})")


def test_the_permanent_codes_are_exactly_those_tested() -> None:
    assert set(PERMANENT_ERRORS) == {33, 100, 131008, 131009, 131021, 131026, 131047, 131051}


@pytest.mark.parametrize(
    "code",
    [
        1,  # API unknown
        2,  # API service
        4,  # application request limit
        10,  # permission denied: the operator can grant it
        190,  # access token expired: the operator renews it
        200,  # permission
        368,  # temporarily blocked for policy violations
        80007,  # WABA rate limit
        130429,  # throughput reached
        131000,  # something went wrong
        131016,  # service unavailable
        131048,  # spam rate limit
        131056,  # pair rate limit
        133010,  # phone number not registered yet
    ],
)
def test_transient_codes_are_left_to_the_retry_schedule(code: int) -> None:
    assert permanent_reason(cloud_error(code)) is None


def test_the_minimal_error_body_is_enough() -> None:
    assert permanent_reason('{"error": {"code": 131026}}') is not None


@pytest.mark.parametrize(
    "body",
    [
        "",
        "Bad Gateway",
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        '{"error": {"code": 1310',  # cut off
        "null",
        "131026",
        '"131026"',
        "[131026]",
        '[{"error": {"code": 131026}}]',
        "{}",
        '{"error": "code 131026"}',
        '{"error": null}',
        '{"error": ["code", 131026]}',
        '{"error": {"message": "no code"}}',
        '{"code": 131026}',  # not under "error"
        '{"errors": [{"code": 131026}]}',  # another API's shape
        '{"error": {"code": "131026"}}',  # a string, not the Cloud API's number
        '{"error": {"code": 131026.5}}',
        '{"error": {"code": null}}',
    ],
)
def test_bodies_that_are_not_a_cloud_api_permanent_error(body: str) -> None:
    assert permanent_reason(body) is None


def test_the_request_is_a_text_message_to_the_phone_number_ids_endpoint() -> None:
    notifier = WhatsAppCloudNotifier("https://graph.facebook.com/v21.0/", "106540352242922", "EAAG-token", 10.0)
    request = notifier.prepare(
        Message(to="6281234567890", text="Halo Rahim, pesanan *WA260329-A1B2* …", reference="evt_1")
    )
    assert request.url == "https://graph.facebook.com/v21.0/106540352242922/messages"
    assert request.headers == {"Content-Type": "application/json", "Authorization": "Bearer EAAG-token"}
    assert json.loads(request.body) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "6281234567890",
        "type": "text",
        "text": {"preview_url": False, "body": "Halo Rahim, pesanan *WA260329-A1B2* …"},
        "biz_opaque_callback_data": "evt_1",
    }
    # Indonesian text travels as UTF-8, not as \\u escapes.
    assert "…".encode() in request.body

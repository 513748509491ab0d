"""Buyer messages through the WhatsApp Cloud API notifier, end to end: orders made over the API,
the real delivery worker, and a real HTTP server on a loopback port answering as the Cloud API
does (``POST /{phone_number_id}/messages``, its success body, its ``{"error": {...}}`` bodies).

Retries follow the delivery schedule (1 s here), 429's Retry-After is honoured, the Cloud API's
permanent error codes end the delivery at once, and the access token shows nowhere: not in the
attempt log, not in the database, not in the logs."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from tests.conftest import auth, free_port, table_dump
from tests.integration.delivery.notifiers.conftest import (
    BUYER,
    StartWorker,
    attempt_log,
    create_order,
    finished,
    messages,
)
from tests.receivers import Received, Receiver, Reply
from tests.waiting import wait_until

PHONE_NUMBER_ID = "106540352242922"
TOKEN = "EAAGm0PX4ZCpsBAKasirTestToken7c1dZBq9ZAxQ"
WAMID = "wamid.HBgLNjI4MTIzNDU2Nzg5MBUCABIYFjNFQjBGQjc4QkRBMDM2RkQ4MjM2AA=="


def success() -> Reply:
    body = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": BUYER, "wa_id": BUYER}],
        "messages": [{"id": WAMID}],
    }
    return Reply(200, json.dumps(body).encode())


def cloud_error(status: int, code: int, message: str, details: str, headers: dict[str, str] | None = None) -> Reply:
    """An error as the Cloud API answers it; clients are to act on ``code``."""
    body = {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": "AbCdEfGhIjKlMnOpQrStUv",
        }
    }
    return Reply(status, json.dumps(body).encode(), headers=headers or {})


SERVER_ERROR = cloud_error(500, 131000, "(#131000) Something went wrong", "Something went wrong.")
UNAVAILABLE = cloud_error(503, 131016, "(#131016) Service unavailable", "A service is temporarily unavailable.")
THROTTLED = cloud_error(
    429,
    130429,
    "(#130429) Rate limit hit",
    "Cloud API message throughput has been reached.",
    headers={"Retry-After": "2"},
)
TOKEN_EXPIRED = cloud_error(
    401,
    190,
    "Error validating access token: Session has expired on Thursday, 26-Nov-26 02:00:00 PST.",
    "Access token has expired.",
)
UNDELIVERABLE = cloud_error(400, 131026, "(#131026) Message undeliverable", "Message Undeliverable.")


def rp(amount: int) -> str:
    return f"Rp {amount:,}".replace(",", ".")


def wib_deadline(wire: str) -> str:
    """``2026-11-26 19:07:29`` (a WIB wire time) as the message writes it."""
    return f"{wire[8:10]}-{wire[5:7]}-{wire[:4]} pukul {wire[11:16]} WIB"


# --- settings: the Cloud API notifier, at a loopback port ----------------------------------------


@pytest.fixture
def cloud_port() -> int:
    """Where the Cloud API will listen; nothing does until a test starts it there."""
    return free_port()


@pytest.fixture
def settings(settings: Settings, cloud_port: int) -> Settings:
    """The suite's settings with KASIR_NOTIFIER=whatsapp (validated: built, not copied) and a
    one-second retry schedule; the API and the worker both run with them."""
    return Settings(
        **{
            **settings.model_dump(),
            "notifier": "whatsapp",
            "whatsapp_api_url": f"http://127.0.0.1:{cloud_port}",
            "whatsapp_phone_number_id": PHONE_NUMBER_ID,
            "whatsapp_token": TOKEN,
            "delivery_retry_schedule": [1, 1, 1],
        }
    )


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything Kasir and aiohttp log, down to DEBUG; checked for the token afterwards."""
    caplog.set_level(logging.DEBUG, logger="kasir")
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    yield caplog
    assert TOKEN not in caplog.text


def cloud_api(port: int, *replies: Reply) -> Receiver:
    """The Cloud API at ``port``: ``replies`` in turn, then success for every later request."""
    return Receiver(lambda n, _r: replies[n - 1] if n <= len(replies) else success(), port=port)


CloudApi = Callable[..., AbstractContextManager[Receiver]]


@pytest.fixture
def cloud(settings: Settings, start_worker: StartWorker, cloud_port: int) -> CloudApi:
    """``with cloud(*replies) as api``: the Cloud API answering ``replies`` (then success) and a
    worker sending to it, with the test's settings or ``worker_settings``."""

    @contextmanager
    def answering(*replies: Reply, worker_settings: Settings | None = None) -> Iterator[Receiver]:
        with cloud_api(cloud_port, *replies) as api:
            start_worker(worker_settings or settings)
            yield api

    return answering


def sent(request: Received) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request.body)
    return body


def order_events(client: TestClient, merchant: NewMerchant) -> list[dict[str, Any]]:
    response = client.get("/v1/events", headers=auth(merchant.test_api_key), params={"limit": 100})
    assert response.status_code == 200, response.text
    return [e for e in reversed(response.json()["data"]) if e["type"].startswith("order.")]


def assert_token_hidden(db: Database, client: TestClient, merchant: NewMerchant) -> None:
    """The token is in no attempt as the API shows it and in no row of any table."""
    for delivery in messages(client, merchant):
        for attempt in attempt_log(client, merchant, delivery["id"]):
            assert attempt["request_headers"]["Authorization"] == "Bearer ***"
            assert TOKEN not in json.dumps(attempt)
    assert TOKEN not in repr(table_dump(db))


def created_text(order: dict[str, Any]) -> str:
    return (
        f"Halo Rahim, pesanan *{order['order_number']}* di Toko Satu sudah kami terima.\n\n"
        "- Kopi Susu Gula Aren 1 L x2 = Rp 75.000\n"
        "*Total: Rp 75.000*\n\n"
        f"Mohon bayar *tepat {rp(order['final_amount'])}* (termasuk kode unik {order['unique_code']}, "
        "agar pembayaran Anda dikenali otomatis) "
        f"sebelum {wib_deadline(order['payment_expires_at'])} melalui tautan berikut:\n"
        f"{order['payment_url']}"
    )


# --- a message, as Meta documents the request ----------------------------------------------------


def test_order_created_message_is_a_cloud_api_text_message(
    db: Database,
    merchant: NewMerchant,
    client: TestClient,
    cloud: CloudApi,
    cloud_port: int,
    logs: pytest.LogCaptureFixture,
) -> None:
    with cloud() as api:
        order = create_order(client, merchant)
        [request] = api.wait_for(1)
        wait_until(finished(client, merchant, 1), what="the message delivered")

    assert request.path == f"/{PHONE_NUMBER_ID}/messages"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    [event] = order_events(client, merchant)
    assert event["type"] == "order.created"
    body = sent(request)
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": BUYER,
        "type": "text",
        "text": {"preview_url": True, "body": created_text(order)},
        "biz_opaque_callback_data": event["id"],
    }
    # The pieces the buyer needs, whatever the wording around them.
    text = body["text"]["body"]
    assert order["order_number"] in text
    assert "Rp 75.000" in text
    assert order["payment_url"] in text
    assert order["payment_url"].startswith("http://kasir.test/pay?invoice=")
    # WA{yymmdd}-XXXX, the day in WIB, as created_at (a WIB wire time) shows it.
    created = order["created_at"]
    assert order["order_number"].startswith(f"WA{created[2:4]}{created[5:7]}{created[8:10]}-")

    [delivery] = messages(client, merchant)
    assert delivery["url"] == f"whatsapp:{BUYER}"
    assert delivery["event_id"] == event["id"]
    assert delivery["event_type"] == "order.created"
    assert delivery["status"] == "succeeded"
    assert delivery["attempts"] == 1
    [attempt] = attempt_log(client, merchant, delivery["id"])
    assert attempt["url"] == f"http://127.0.0.1:{cloud_port}/{PHONE_NUMBER_ID}/messages"
    assert attempt["status_code"] == 200
    assert attempt["outcome"] == "succeeded"
    assert WAMID in attempt["response_body"]
    assert attempt["request_headers"]["Authorization"] == "Bearer ***"
    assert_token_hidden(db, client, merchant)


def test_a_versioned_api_url_with_a_trailing_slash(
    settings: Settings,
    merchant: NewMerchant,
    client: TestClient,
    cloud: CloudApi,
    cloud_port: int,
) -> None:
    """KASIR_WHATSAPP_API_URL as Meta writes it (``…/v21.0``), with or without a final slash."""
    versioned = settings.model_copy(update={"whatsapp_api_url": f"http://127.0.0.1:{cloud_port}/v21.0/"})
    with cloud(worker_settings=versioned) as api:
        create_order(client, merchant)
        [request] = api.wait_for(1)
    assert request.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"


# --- failures: retried on the schedule, or ended at once -----------------------------------------


@pytest.mark.parametrize(
    ("replies", "codes"),
    [
        pytest.param([SERVER_ERROR, UNAVAILABLE], [500, 503, 200], id="500-then-503"),
        pytest.param([THROTTLED], [429, 200], id="429-throughput-130429"),
        pytest.param([TOKEN_EXPIRED], [401, 200], id="401-expired-token-190"),
    ],
)
def test_transient_errors_are_retried_until_the_message_is_accepted(
    db: Database,
    merchant: NewMerchant,
    client: TestClient,
    cloud: CloudApi,
    logs: pytest.LogCaptureFixture,
    replies: list[Reply],
    codes: list[int],
) -> None:
    with cloud(*replies) as api:
        order = create_order(client, merchant)
        requests = api.wait_for(len(codes), timeout=20)
        wait_until(finished(client, merchant, 1), timeout=20, what="the message delivered")

    assert len(api.requests) == len(codes)
    # Every try carries the same message with the same reference: the buyer gets it once.
    assert len({r.body for r in requests}) == 1
    assert order["order_number"] in sent(requests[0])["text"]["body"]
    for earlier, later in itertools.pairwise(requests):
        assert later.at - earlier.at >= 0.75  # the schedule's second, less its jitter
    if 429 in codes:
        # Retry-After: 2 outweighs the one-second schedule.
        assert requests[1].at - requests[0].at >= 1.9

    [delivery] = messages(client, merchant)
    assert delivery["status"] == "succeeded"
    assert delivery["attempts"] == len(codes)
    log = attempt_log(client, merchant, delivery["id"])
    assert [a["attempt"] for a in log] == list(range(1, len(codes) + 1))
    assert [a["status_code"] for a in log] == codes
    assert [a["outcome"] for a in log] == ["retrying"] * (len(codes) - 1) + ["succeeded"]
    for attempt, reply in zip(log, replies, strict=False):
        assert str(reply.status) in attempt["error"]
        assert json.loads(attempt["response_body"]) == json.loads(reply.body)
    assert log[-1]["error"] is None
    assert_token_hidden(db, client, merchant)


def test_a_permanent_cloud_api_error_fails_the_delivery_after_one_attempt(
    db: Database,
    merchant: NewMerchant,
    client: TestClient,
    cloud: CloudApi,
    logs: pytest.LogCaptureFixture,
) -> None:
    with cloud(UNDELIVERABLE, UNDELIVERABLE, UNDELIVERABLE, UNDELIVERABLE) as api:
        order = create_order(client, merchant)
        api.wait_for(1)
        wait_until(finished(client, merchant, 1), what="the delivery ended")
        # The schedule would have tried again after about a second; nothing comes.
        time.sleep(1.6)
        assert len(api.requests) == 1

    [delivery] = messages(client, merchant)
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 1
    assert delivery["next_attempt_at"] is None
    assert "131026" in delivery["last_error"]
    [attempt] = attempt_log(client, merchant, delivery["id"])
    assert attempt["status_code"] == 400
    assert attempt["outcome"] == "failed"
    assert "refused the message for good" in attempt["error"]
    assert "undeliverable" in attempt["error"]
    assert "(code 131026)" in attempt["error"]
    # The message failing leaves the order as it was.
    response = client.get(f"/v1/store/orders/{order['order_number']}", headers=auth(merchant.test_api_key))
    assert response.json()["order"]["status"] == "waiting_payment"
    assert_token_hidden(db, client, merchant)


def test_a_failed_message_can_be_redelivered_like_a_webhook(
    merchant: NewMerchant,
    client: TestClient,
    cloud: CloudApi,
) -> None:
    """The buyer had blocked the shop (131026) and unblocked it: the merchant sends again."""
    with cloud(UNDELIVERABLE) as api:
        create_order(client, merchant)
        wait_until(finished(client, merchant, 1), what="the first delivery failed")
        [failed] = messages(client, merchant)
        assert failed["status"] == "failed"
        again = client.post(f"/v1/deliveries/{failed['id']}/redeliver", headers=auth(merchant.test_api_key))
        assert again.status_code == 202, again.text
        assert again.json()["delivery"]["url"] == f"whatsapp:{BUYER}"
        first, second = api.wait_for(2)
        wait_until(finished(client, merchant, 2), what="the redelivery delivered")

    assert first.body == second.body  # the same message, the same event reference
    old, new = messages(client, merchant)
    assert (old["id"], old["status"]) == (failed["id"], "failed")
    assert new["status"] == "succeeded"
    assert new["event_id"] == old["event_id"] == sent(second)["biz_opaque_callback_data"]


def test_messages_wait_while_the_cloud_api_is_down_and_go_out_when_it_is_back(
    db: Database,
    settings: Settings,
    merchant: NewMerchant,
    client: TestClient,
    start_worker: StartWorker,
    cloud_port: int,
    logs: pytest.LogCaptureFixture,
) -> None:
    start_worker(settings.model_copy(update={"delivery_retry_schedule": [1, 1, 1, 1, 1]}))
    first = create_order(client, merchant)
    second = create_order(client, merchant, customer_phone="+62 857-1111-2222")
    # Nothing listens at the port: each message's first try is refused and it waits to retry.
    wait_until(
        lambda: len(found := messages(client, merchant)) == 2 and all(d["attempts"] >= 1 for d in found),
        what="both messages tried",
    )
    for delivery in messages(client, merchant):
        assert delivery["status"] == "pending"
        assert delivery["last_status_code"] is None
        refused = attempt_log(client, merchant, delivery["id"])[0]
        assert refused["status_code"] is None
        assert refused["outcome"] == "retrying"
        assert "connect" in refused["error"].lower()

    with cloud_api(cloud_port) as api:
        requests = api.wait_for(2, timeout=20)
        wait_until(finished(client, merchant, 2), timeout=20, what="both messages delivered")

    assert {sent(r)["to"] for r in requests} == {BUYER, "6285711112222"}
    texts = " ".join(sent(r)["text"]["body"] for r in requests)
    assert first["order_number"] in texts
    assert second["order_number"] in texts
    for delivery in messages(client, merchant):
        assert delivery["status"] == "succeeded"
        assert attempt_log(client, merchant, delivery["id"])[-1]["outcome"] == "succeeded"
    assert_token_hidden(db, client, merchant)


# --- an order's life, as the buyer reads it ------------------------------------------------------


def test_the_buyer_gets_one_message_per_step_in_order(
    db: Database,
    merchant: NewMerchant,
    client: TestClient,
    cloud: CloudApi,
    logs: pytest.LogCaptureFixture,
) -> None:
    key = auth(merchant.test_api_key)
    with cloud() as api:
        order = create_order(client, merchant)
        number = order["order_number"]
        api.wait_for(1)

        paid = client.post(f"/v1/sandbox/payments/{order['invoice_id']}/pay", headers=key)
        assert paid.status_code == 200, paid.text
        api.wait_for(2)

        processing = client.post(f"/v1/store/orders/{number}/process", headers=key, json={})
        assert processing.status_code == 200, processing.text
        assert processing.json()["order"]["status"] == "processing"
        api.wait_for(3)

        completed = client.post(
            "/api/wa-store-complete.php", headers=key, json={"order_number": number, "status": "completed"}
        )
        assert completed.status_code == 200, completed.text
        assert completed.json()["order"]["status"] == "completed"
        requests = api.wait_for(4)
        wait_until(finished(client, merchant, 4), what="four messages delivered")

    assert len(api.requests) == 4
    bodies = [sent(r) for r in requests]
    assert all(b["to"] == BUYER for b in bodies)
    events = order_events(client, merchant)
    assert [e["type"] for e in events] == ["order.created", "order.paid", "order.processing", "order.completed"]
    assert [b["biz_opaque_callback_data"] for b in bodies] == [e["id"] for e in events]
    final_amount = paid.json()["payment"]["final_amount"]
    assert [b["text"]["body"] for b in bodies] == [
        created_text(order),
        f"Halo Rahim, pembayaran pesanan *{number}* sebesar {rp(final_amount)} sudah kami terima. "
        "Terima kasih! Pesanan Anda segera kami siapkan.",
        f"Halo Rahim, pesanan *{number}* sedang kami proses. Kami kabari lagi setelah selesai.",
        f"Halo Rahim, pesanan *{number}* telah selesai. Terima kasih sudah berbelanja di Toko Satu!",
    ]
    assert [b["text"]["preview_url"] for b in bodies] == [True, False, False, False]
    assert all(d["status"] == "succeeded" for d in messages(client, merchant))
    assert_token_hidden(db, client, merchant)


def test_an_order_without_a_payment_gets_its_link_later_then_is_cancelled(
    merchant: NewMerchant,
    client: TestClient,
    cloud: CloudApi,
) -> None:
    """create_payment=false: the buyer is told a link will follow; POST …/payment sends it
    (order.waiting_payment); cancelling before payment apologises, with no word of a refund."""
    key = auth(merchant.test_api_key)
    with cloud() as api:
        order = create_order(client, merchant, create_payment=False, customer_name="Siti Aminah")
        number = order["order_number"]
        assert order["status"] == "pending"
        assert order["payment_url"] is None
        api.wait_for(1)
        issued = client.post(f"/v1/store/orders/{number}/payment", headers=key, json={})
        assert issued.status_code == 200, issued.text
        with_link = issued.json()["order"]
        assert with_link["status"] == "waiting_payment"
        api.wait_for(2)
        cancelled = client.post(f"/v1/store/orders/{number}/cancel", headers=key, json={})
        assert cancelled.status_code == 200, cancelled.text
        requests = api.wait_for(3)
        wait_until(finished(client, merchant, 3), what="three messages delivered")

    assert [d["event_type"] for d in messages(client, merchant)] == [
        "order.created",
        "order.waiting_payment",
        "order.cancelled",
    ]
    texts = [sent(r)["text"]["body"] for r in requests]
    assert texts[0] == (
        f"Halo Siti Aminah, pesanan *{number}* di Toko Satu sudah kami terima.\n\n"
        "- Kopi Susu Gula Aren 1 L x2 = Rp 75.000\n*Total: Rp 75.000*\n\n"
        "Kami akan segera mengirimkan tautan pembayaran."
    )
    assert texts[1] == (
        f"Halo Siti Aminah, berikut tautan pembayaran untuk pesanan *{number}*.\n\n"
        "- Kopi Susu Gula Aren 1 L x2 = Rp 75.000\n*Total: Rp 75.000*\n\n"
        f"Mohon bayar *tepat {rp(with_link['final_amount'])}* (termasuk kode unik {with_link['unique_code']}, "
        "agar pembayaran Anda dikenali otomatis) "
        f"sebelum {wib_deadline(with_link['payment_expires_at'])} melalui tautan berikut:\n"
        f"{with_link['payment_url']}"
    )
    assert texts[2] == (f"Halo Siti Aminah, pesanan *{number}* dibatalkan. Mohon maaf atas ketidaknyamanannya.")
    assert [sent(r)["text"]["preview_url"] for r in requests] == [False, True, False]


def test_notify_false_sends_no_message_for_that_step(
    merchant: NewMerchant,
    client: TestClient,
    cloud: CloudApi,
) -> None:
    """notify=false on create, process and wa-store-complete: those events go out to webhooks
    but not to the buyer. A payment always tells the buyer; a cancellation after it does too,
    and says how the money comes back."""
    key = auth(merchant.test_api_key)
    with cloud() as api:
        quiet = create_order(client, merchant, notify=False)
        assert client.post(f"/v1/sandbox/payments/{quiet['invoice_id']}/pay", headers=key).status_code == 200
        api.wait_for(1)
        step = client.post(f"/v1/store/orders/{quiet['order_number']}/process", headers=key, json={"notify": False})
        assert step.status_code == 200, step.text
        done = client.post(
            "/api/wa-store-complete.php",
            headers=key,
            data={"order_number": quiet["order_number"], "status": "completed", "notify": "false"},
        )
        assert done.status_code == 200, done.text
        assert done.json()["order"]["status"] == "completed"

        refunded = create_order(client, merchant, notify="false")
        assert client.post(f"/v1/sandbox/payments/{refunded['invoice_id']}/pay", headers=key).status_code == 200
        api.wait_for(2)
        cancel = client.post(f"/v1/store/orders/{refunded['order_number']}/cancel", headers=key, json={})
        assert cancel.status_code == 200, cancel.text
        requests = api.wait_for(3)
        wait_until(finished(client, merchant, 3), what="three messages delivered")

    assert len(api.requests) == 3
    assert [d["event_type"] for d in messages(client, merchant)] == ["order.paid", "order.paid", "order.cancelled"]
    texts = [sent(r)["text"]["body"] for r in requests]
    assert texts[0].startswith(f"Halo Rahim, pembayaran pesanan *{quiet['order_number']}*")
    assert texts[1].startswith(f"Halo Rahim, pembayaran pesanan *{refunded['order_number']}*")
    assert texts[2] == (
        f"Halo Rahim, pesanan *{refunded['order_number']}* dibatalkan. Pembayaran Anda sudah kami terima; "
        "silakan balas pesan ini untuk pengembalian dana. Mohon maaf atas ketidaknyamanannya."
    )
    # Every step still happened and was recorded as an event.
    assert [e["type"] for e in order_events(client, merchant)] == [
        "order.created",
        "order.paid",
        "order.processing",
        "order.completed",
        "order.created",
        "order.paid",
        "order.cancelled",
    ]

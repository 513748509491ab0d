"""A failure in any stage of one delivery (preparing the request, sending it, the notifier's
prepare and send, or anything else in the attempt) is a failed try in the attempt log, with its
reason and never a secret: the delivery follows the retry schedule and ends ``failed``, the try
counts against the endpoint like any failure, and the worker keeps delivering the rest.

Before, such a delivery was never recorded: it stayed ``pending`` with 0 attempts and came back
every time its lease ran out, forever. A real worker, real receivers on loopback sockets."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import deliveries, delivery_attempts, endpoints
from kasir.delivery.dispatch import Request, Result
from kasir.delivery.notifiers import Message, Notifier
from kasir.delivery.notifiers.log import LogNotifier
from kasir.delivery.ratelimit import TokenBuckets
from kasir.delivery.worker import Worker
from kasir.dialects import Rendered, standard
from kasir.merchants.service import NewMerchant
from tests.integration.delivery.conftest import add_endpoint, make_payments
from tests.integration.delivery.notifiers.conftest import BUYER, create_order
from tests.receivers import Receiver, Reply
from tests.waiting import wait_until
from tests.workers import RunningWorker

PREPARE_FAILED = "cannot prepare the request: "
SEND_FAILED = "cannot send the request: "
StartWorker = Callable[[Settings], RunningWorker]


def fast(settings: Settings, schedule: list[int] | None = None) -> Settings:
    """Retries at once (two of them) and a short idle poll: a schedule used up in well under a second."""
    return settings.model_copy(
        update={"delivery_retry_schedule": [0, 0] if schedule is None else schedule, "worker_poll_interval": 0.05}
    )


def deliveries_of(db: Database, endpoint_id: int | None = None, dialect: str | None = None) -> list[Any]:
    query = sa.select(deliveries).order_by(deliveries.c.id)
    if endpoint_id is not None:
        query = query.where(deliveries.c.endpoint_id == endpoint_id)
    if dialect is not None:
        query = query.where(deliveries.c.dialect == dialect)
    return db.read_sync(lambda conn: list(conn.execute(query)))


def attempts_of(db: Database, delivery_id: int) -> list[Any]:
    query = (
        sa.select(delivery_attempts)
        .where(delivery_attempts.c.delivery_id == delivery_id)
        .order_by(delivery_attempts.c.attempt)
    )
    return db.read_sync(lambda conn: list(conn.execute(query)))


def endpoint_row(db: Database, endpoint_id: int) -> Any:
    return db.read_sync(lambda conn: conn.execute(sa.select(endpoints).where(endpoints.c.id == endpoint_id)).one())


def all_failed(db: Database, endpoint_id: int | None = None, dialect: str | None = None, count: int = 1) -> bool:
    rows = deliveries_of(db, endpoint_id, dialect)
    return len(rows) == count and all(r.status == "failed" for r in rows)


def assert_books_balance(db: Database) -> None:
    """Every try sent is recorded and counted: ``attempts`` == attempt rows, for every delivery."""

    def read(conn: sa.Connection) -> list[tuple[str, int, int]]:
        counted = (
            sa.select(sa.func.count())
            .select_from(delivery_attempts)
            .where(delivery_attempts.c.delivery_id == deliveries.c.id)
            .scalar_subquery()
        )
        return [tuple(r) for r in conn.execute(sa.select(deliveries.c.public_id, deliveries.c.attempts, counted))]

    for public_id, counter, rows in db.read_sync(read):
        assert counter == rows, f"{public_id}: attempts {counter} but {rows} attempt rows"


def assert_failed_on_schedule(db: Database, delivery: Any, error_start: str, tries: int = 3) -> list[Any]:
    """Failed after the whole schedule: one attempt row per try, each with the error."""
    assert delivery.status == "failed"
    assert delivery.attempts == tries
    rows = attempts_of(db, delivery.id)
    assert [a.outcome for a in rows] == ["retrying"] * (tries - 1) + ["failed"]
    for row in rows:
        assert row.status_code is None
        assert row.error.startswith(error_start), row.error
    assert delivery.last_error == rows[-1].error
    return rows


# --- preparing the request ----------------------------------------------------------------------


def test_a_header_stored_before_it_was_checked_fails_each_try_on_schedule_while_the_rest_is_delivered(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    """The real-world case: a NUL in a header value saved before the API refused it."""
    with Receiver() as never, Receiver() as good:
        bad = add_endpoint(db, merchant, never.url, headers={"X-Shop": "kopi", "X-Bad": "a\x00b"})
        fine = add_endpoint(db, merchant, good.url, dialect="bayargg")
        start_worker(fast(settings, [1, 1]))
        make_payments(db, merchant, settings, 1)
        good.wait_for(1)
        wait_until(lambda: len(attempts_of(db, deliveries_of(db, bad["id"])[0].id)) >= 1, what="a first try")
        # The worker goes on delivering while the broken delivery waits for its next try.
        make_payments(db, merchant, settings, 1, amount=20000)
        good.wait_for(2)
        assert deliveries_of(db, bad["id"])[0].status == "pending"
        wait_until(lambda: all_failed(db, bad["id"], count=2), what="the schedule used up")

        for delivery in deliveries_of(db, bad["id"]):
            rows = assert_failed_on_schedule(db, delivery, PREPARE_FAILED + "InvalidHeader: ")
            for row in rows:
                assert "X-Bad contains a control character (0x00)" in row.error
                assert row.url == bad["url"]
                assert json.loads(row.request_headers) == {"X-Shop": "kopi", "X-Bad": "a\x00b"}
        assert never.requests == []
        assert [d.status for d in deliveries_of(db, fine["id"])] == ["succeeded", "succeeded"]
        # Counted as the endpoint's failure: the streak that disables it after endpoint_disable_after.
        assert endpoint_row(db, bad["id"]).failing_since is not None
        assert endpoint_row(db, fine["id"]).failing_since is None
    assert_books_balance(db)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param("a\x01b", "control character (0x01)", id="soh"),
        pytest.param("\x1b[31mred", "control character (0x1b)", id="esc"),
        pytest.param("a\x7fb", "control character (0x7f)", id="del"),
        pytest.param("a\r\nX-Injected: 1", "line break", id="crlf"),
        pytest.param("kopi\u00e9", "non-ASCII character (U+00E9)", id="non-ascii"),
        pytest.param(5, "is not a string", id="not-a-string"),
    ],
)
def test_every_kind_of_unsendable_stored_header_ends_failed_after_the_schedule(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker, value: Any, words: str
) -> None:
    with Receiver() as never:
        bad = add_endpoint(db, merchant, never.url, headers={"X-Bad": value})
        start_worker(fast(settings))
        make_payments(db, merchant, settings, 1)
        wait_until(lambda: all_failed(db, bad["id"]), what="the schedule used up")
        [delivery] = deliveries_of(db, bad["id"])
        for row in assert_failed_on_schedule(db, delivery, PREPARE_FAILED):
            assert "X-Bad" in row.error
            assert words in row.error
        assert never.requests == []
    assert_books_balance(db)


def test_a_failing_prepare_counts_toward_disabling_the_endpoint(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    """An endpoint failing for longer than endpoint_disable_after is disabled by its next failed
    try; a try that could not even be prepared is one."""
    with Receiver() as never:
        long_ago = utcnow() - timedelta(seconds=settings.endpoint_disable_after + 3600)
        bad = add_endpoint(db, merchant, never.url, headers={"X-Bad": "\x1b"}, failing_since=long_ago)
        start_worker(fast(settings, [60]))
        make_payments(db, merchant, settings, 1)
        wait_until(lambda: not endpoint_row(db, bad["id"]).enabled, what="the endpoint disabled")
        assert "no successful delivery" in endpoint_row(db, bad["id"]).disabled_reason
        [delivery] = deliveries_of(db, bad["id"])
        assert delivery.status == "failed"
        [attempt] = attempts_of(db, delivery.id)
        assert attempt.error.startswith(PREPARE_FAILED)
    assert_books_balance(db)


def test_a_dialect_that_raises_while_rendering_fails_each_try_without_showing_the_secret(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(event: Any, secrets: Any, **_kwargs: Any) -> Rendered:
        raise RuntimeError(f"cannot sign {event.id} with {secrets[0]}")

    monkeypatch.setattr(standard, "render", broken)
    with Receiver() as never, Receiver() as good:
        bad = add_endpoint(db, merchant, never.url)
        fine = add_endpoint(db, merchant, good.url, dialect="bayargg")
        start_worker(fast(settings))
        make_payments(db, merchant, settings, 1)
        wait_until(lambda: all_failed(db, bad["id"]), what="the schedule used up")
        [delivery] = deliveries_of(db, bad["id"])
        for row in assert_failed_on_schedule(db, delivery, PREPARE_FAILED + "RuntimeError: cannot sign evt_"):
            assert row.error.endswith(" with ***")
            assert bad["secret"] not in row.error
        assert never.requests == []
        good.wait_for(1)
        wait_until(lambda: deliveries_of(db, fine["id"])[0].status == "succeeded", what="the other delivery")
    assert_books_balance(db)


# --- sending it ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param("a\x1bb", "ValueError: Forbidden control character", id="value-error"),
        pytest.param(7, "TypeError: ", id="type-error"),
    ],
)
def test_the_http_client_raising_on_send_fails_each_try_on_schedule(
    db: Database,
    settings: Settings,
    merchant: NewMerchant,
    start_worker: StartWorker,
    monkeypatch: pytest.MonkeyPatch,
    value: Any,
    error: str,
) -> None:
    """aiohttp raises ValueError or TypeError, not a ClientError, for a header it cannot write:
    here one the dialect itself adds, past every check of the endpoint's own headers."""
    render = standard.render

    def unsendable(*args: Any, **kwargs: Any) -> Rendered:
        rendered = render(*args, **kwargs)
        return Rendered({**rendered.headers, "webhook-trace": value}, rendered.body)

    monkeypatch.setattr(standard, "render", unsendable)
    with Receiver() as never, Receiver() as good:
        bad = add_endpoint(db, merchant, never.url)
        fine = add_endpoint(db, merchant, good.url, dialect="bayargg")
        start_worker(fast(settings))
        make_payments(db, merchant, settings, 1)
        wait_until(lambda: all_failed(db, bad["id"]), what="the schedule used up")
        [delivery] = deliveries_of(db, bad["id"])
        for row in assert_failed_on_schedule(db, delivery, SEND_FAILED + error):
            logged = json.loads(row.request_headers)
            assert logged["webhook-signature"] == "v1,***"  # the prepared request, masked as always
            assert bad["secret"] not in row.error + row.request_headers
        assert never.requests == []
        good.wait_for(1)
        wait_until(lambda: deliveries_of(db, fine["id"])[0].status == "succeeded", what="the other delivery")
        assert endpoint_row(db, bad["id"]).failing_since is not None
    assert_books_balance(db)


def test_anything_else_raising_in_an_attempt_is_a_failed_try_too(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole attempt is guarded, not only prepare and send: here the rate limiter breaks."""

    def broken(self: TokenBuckets, key: int, rate: int) -> float:
        raise RuntimeError("the token bucket broke")

    monkeypatch.setattr(TokenBuckets, "take", broken)
    with Receiver() as never, Receiver() as good:
        bad = add_endpoint(db, merchant, never.url, rate_limit=100)
        fine = add_endpoint(db, merchant, good.url)
        start_worker(fast(settings))
        make_payments(db, merchant, settings, 1)
        wait_until(lambda: all_failed(db, bad["id"]), what="the schedule used up")
        [delivery] = deliveries_of(db, bad["id"])
        for row in assert_failed_on_schedule(db, delivery, "the attempt failed: RuntimeError: the token bucket broke"):
            assert row.url == bad["url"]
        good.wait_for(1)
        wait_until(lambda: deliveries_of(db, fine["id"])[0].status == "succeeded", what="the other delivery")
    assert_books_balance(db)


def test_a_receiver_answering_a_nul_byte_is_recorded_on_both_databases(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    """PostgreSQL refuses NUL in text: stored as it came, one answer failed the recording of its
    whole batch, and the delivery was sent again when its lease ran out."""
    with Receiver(lambda _n, _r: Reply(body=b'{"ok":true}\x00after')) as receiver:
        endpoint = add_endpoint(db, merchant, receiver.url)
        start_worker(fast(settings))
        make_payments(db, merchant, settings, 1)
        receiver.wait_for(1)
        wait_until(lambda: deliveries_of(db, endpoint["id"])[0].status == "succeeded", what="recorded")
        [attempt] = attempts_of(db, deliveries_of(db, endpoint["id"])[0].id)
        assert attempt.response_body == '{"ok":true}\ufffdafter'
    assert_books_balance(db)


# --- the notifier -------------------------------------------------------------------------------


class PrepareFails(LogNotifier):
    def prepare(self, message: Message) -> Request:
        raise ValueError(f"cannot write a message to {message.to}")


class SendFails(LogNotifier):
    async def send(self, request: Request) -> Result:
        raise ConnectionAbortedError("the notifier's transport broke")


@pytest.fixture
def start_worker_with(db: Database) -> Iterator[Callable[[Settings, Notifier], RunningWorker]]:
    running: list[RunningWorker] = []

    def start(worker_settings: Settings, notifier: Notifier) -> RunningWorker:
        runner = RunningWorker(db, worker_settings)
        runner.worker = Worker(db, worker_settings, notifier=notifier)
        running.append(runner.__enter__())
        return runner

    yield start
    for runner in running:
        runner.__exit__(None, None, None)


@pytest.mark.parametrize(
    ("notifier", "url", "error"),
    [
        pytest.param(
            PrepareFails(),
            "notifier:log",
            "cannot prepare the message: ValueError: cannot write a message to ***",
            id="prepare",
        ),
        pytest.param(
            SendFails(),
            "log:kasir.notify",
            "cannot send the message: ConnectionAbortedError: the notifier's transport broke",
            id="send",
        ),
    ],
)
def test_a_notifier_that_raises_fails_each_try_on_schedule_while_webhooks_go_on(
    db: Database,
    settings: Settings,
    merchant: NewMerchant,
    client: TestClient,
    start_worker_with: Callable[[Settings, Notifier], RunningWorker],
    notifier: Notifier,
    url: str,
    error: str,
) -> None:
    with Receiver() as good:
        fine = add_endpoint(db, merchant, good.url)
        start_worker_with(fast(settings), notifier)
        create_order(client, merchant)
        wait_until(lambda: all_failed(db, dialect="notifier"), what="the schedule used up")
        [message] = deliveries_of(db, dialect="notifier")
        for row in assert_failed_on_schedule(db, message, error):
            assert row.error == error
            assert row.url == url
            assert BUYER not in row.error + row.url + row.request_headers  # the buyer's number shows nowhere
        good.wait_for(1)
        wait_until(lambda: all(d.status == "succeeded" for d in deliveries_of(db, fine["id"])), what="webhooks")
    assert_books_balance(db)

"""The chaos test: one real receiver per misbehaviour, each behind an endpoint of its own, the
same events sent to all of them, one worker; every delivery must end exactly as docs/delivery.md says.

Schedule [1, 1] (so three tries at most) and a one-second timeout keep the whole run short.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from email.utils import formatdate
from typing import Any

import sqlalchemy as sa

from kasir import dialects
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import deliveries, delivery_attempts, endpoints, events
from kasir.merchants.service import NewMerchant
from tests.integration.delivery.conftest import add_endpoint, make_payments
from tests.receivers import Received, Receiver, Reply
from tests.workers import RunningWorker

StartWorker = Callable[[Settings], RunningWorker]

SCHEDULE = [1, 1]
TRIES = len(SCHEDULE) + 1
TIMEOUT = 1.0
MAX_RETRY_AFTER = 3
FIRST_WAVE = 3  # payments before the disabled endpoints are gone
SECOND_WAVE = 2  # payments after: none may reach a disabled endpoint


def per_event(*replies: Reply | Callable[[], Reply]) -> Callable[[int, Received], Reply]:
    """The n-th try of each event gets the n-th reply (the last one repeats); a callable is
    asked for its reply at the time of the request."""
    tries: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def script(_n: int, received: Received) -> Reply:
        with lock:
            tries[received.headers["webhook-id"]] += 1
            number = tries[received.headers["webhook-id"]]
        reply = replies[min(number, len(replies)) - 1]
        return reply if isinstance(reply, Reply) else reply()

    return script


def wait_until(what: str, predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def by_event(receiver: Receiver) -> dict[str, list[Received]]:
    grouped: dict[str, list[Received]] = collections.defaultdict(list)
    for request in list(receiver.requests):
        grouped[request.headers["webhook-id"]].append(request)
    return grouped


def test_every_misbehaving_receiver_ends_as_the_rules_say(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    stale_endpoint: dict[str, Any] = {}
    stale_seen: dict[str, Any] = {}
    stale_lock = threading.Lock()
    healthy_url: dict[str, str] = {}
    stale_tries: collections.Counter[str] = collections.Counter()

    def stale_script(_n: int, received: Received) -> Reply:
        # An endpoint that has been failing for 6 days: on the first retry the worker makes,
        # move its failing_since (set by the worker at the first failure) 6 days back, so the
        # failure this reply causes is past endpoint_disable_after (5 days).
        event_id = received.headers["webhook-id"]
        with stale_lock:
            stale_tries[event_id] += 1
            first_retry = stale_tries[event_id] == 2 and "failing_since" not in stale_seen
            if first_retry:

                def backdate(conn: sa.Connection) -> None:
                    row = conn.execute(
                        sa.select(endpoints.c.failing_since).where(endpoints.c.id == stale_endpoint["id"])
                    ).one()
                    stale_seen["failing_since"] = row.failing_since
                    stale_seen["backdated_to"] = utcnow() - timedelta(days=6)
                    conn.execute(
                        sa.update(endpoints)
                        .where(endpoints.c.id == stale_endpoint["id"])
                        .values(failing_since=stale_seen["backdated_to"])
                    )

                db.write_sync(backdate)
        return Reply(status=500)

    scripts: dict[str, Callable[[int, Received], Reply]] = {
        "healthy": lambda _n, _r: Reply(),
        "always_500": lambda _n, _r: Reply(status=500),
        "hangs": lambda _n, _r: Reply(delay=2.5),
        "resets": lambda _n, _r: Reply(reset=True),
        "retry_after": per_event(Reply(status=429, headers={"Retry-After": "2"}), Reply()),
        # An hour asked, delivery_max_retry_after (3 s) granted.
        "retry_after_capped": per_event(Reply(status=503, headers={"Retry-After": "3600"}), Reply()),
        # Retry-After as an HTTP date, 3 s ahead at the time of the answer.
        "retry_after_date": per_event(
            lambda: Reply(status=503, headers={"Retry-After": formatdate(time.time() + 3, usegmt=True)}), Reply()
        ),
        # Retry-After never buys more tries than the schedule has.
        "always_429": lambda _n, _r: Reply(status=429, headers={"Retry-After": "1"}),
        # 3xx is a failure and is not followed (the healthy receiver must not get these).
        "redirects": lambda _n, _r: Reply(status=307, headers={"Location": healthy_url["url"]}),
        "accepted_202": lambda _n, _r: Reply(status=202),
        "huge_body": lambda _n, _r: Reply(body=b"x" * (1 << 20)),
        "gone": lambda _n, _r: Reply(status=410, body=b"gone"),
        "flapping": per_event(Reply(status=502), Reply()),
        "last_chance": per_event(Reply(status=500), Reply(reset=True), Reply()),
        "stale": stale_script,
    }

    with contextlib.ExitStack() as stack:
        receivers = {name: stack.enter_context(Receiver(script)) for name, script in scripts.items()}
        healthy_url["url"] = receivers["healthy"].url
        for receiver in receivers.values():
            # Writing to a client that gave up (timeout, 4 KiB read) is expected here, not news.
            receiver.server.handle_error = lambda *_args: None  # type: ignore[method-assign]
        eps = {
            # The healthy endpoint takes every event, endpoint.disabled included; the others
            # take payment events only, so the notices land on one known endpoint.
            name: add_endpoint(
                db, merchant, receiver.url, **({} if name == "healthy" else {"event_types": ["payment.*"]})
            )
            for name, receiver in receivers.items()
        }
        stale_endpoint.update(eps["stale"])
        names_by_endpoint = {ep["id"]: name for name, ep in eps.items()}

        worker_settings = settings.model_copy(
            update={
                "delivery_retry_schedule": SCHEDULE,
                "delivery_timeout": TIMEOUT,
                "delivery_max_retry_after": MAX_RETRY_AFTER,
            }
        )
        start_worker(worker_settings)
        started = time.monotonic()
        make_payments(db, merchant, settings, FIRST_WAVE, amount=10_000)

        def endpoint_rows() -> dict[str, Any]:
            rows = db.read_sync(lambda conn: conn.execute(sa.select(endpoints)).all())
            return {names_by_endpoint[r.id]: r for r in rows}

        wait_until(
            "the 410 and the stale endpoint to be disabled",
            lambda: not any(endpoint_rows()[name].enabled for name in ("gone", "stale")),
            timeout=30,
        )
        before_second_wave = {name: len(receivers[name].requests) for name in ("gone", "stale")}
        make_payments(db, merchant, settings, SECOND_WAVE, amount=20_000)

        def settled() -> bool:
            rows = db.read_sync(lambda conn: conn.execute(sa.select(deliveries.c.status)).scalars().all())
            # Every payment event to every live endpoint, the first wave to the 2 disabled ones,
            # and 2 notices.
            expected = (FIRST_WAVE + SECOND_WAVE) * (len(scripts) - 2) + FIRST_WAVE * 2 + 2
            return len(rows) == expected and "pending" not in rows

        wait_until("every delivery to finish", settled, timeout=90)
        settled_in = time.monotonic() - started
        time.sleep(1.5)  # nothing may arrive after the schedule is used up
        requests = {name: by_event(receiver) for name, receiver in receivers.items()}

    # --- what the database says ---------------------------------------------------------------

    def load(conn: sa.Connection) -> tuple[Sequence[sa.Row[Any]], Sequence[sa.Row[Any]], Sequence[sa.Row[Any]]]:
        rows = conn.execute(
            sa.select(deliveries, events.c.event_id.label("event_public_id"), events.c.type.label("event_type"))
            .join(events, events.c.id == deliveries.c.event_id)
            .order_by(deliveries.c.id)
        ).all()
        tries = conn.execute(sa.select(delivery_attempts).order_by(delivery_attempts.c.id)).all()
        all_events = conn.execute(sa.select(events).order_by(events.c.id)).all()
        return rows, tries, all_events

    rows, tries, all_events = db.read_sync(load)
    attempts_of: dict[int, list[Any]] = collections.defaultdict(list)
    for attempt in tries:
        attempts_of[attempt.delivery_id].append(attempt)
    final = endpoint_rows()
    by_name: dict[str, list[Any]] = collections.defaultdict(list)
    for row in rows:
        by_name[names_by_endpoint[row.endpoint_id]].append(row)

    payment_events = [e.event_id for e in all_events if e.type == "payment.created"]
    notices = [e for e in all_events if e.type == "endpoint.disabled"]
    first_wave, second_wave = payment_events[:FIRST_WAVE], payment_events[FIRST_WAVE:]
    assert len(payment_events) == FIRST_WAVE + SECOND_WAVE
    assert len(notices) == 2, [n.payload for n in notices]

    table = []
    for name in scripts:
        tally = collections.Counter(
            (r.status, tuple(a.outcome for a in attempts_of[r.id])) for r in by_name.get(name, [])
        )
        table.append(f"  {name:20} {dict(tally)}")
    logged = sorted({len((a.response_body or "").encode()) for r in by_name["huge_body"] for a in attempts_of[r.id]})
    table.append(f"  (huge_body: response_body logged {logged} bytes of a 1 MiB answer)")
    backend = db.engine.dialect.name
    print(
        f"\nchaos test ({backend}) settled in {settled_in:.1f} s; final deliveries per receiver:\n" + "\n".join(table)
    )

    # Nothing is left pending or leased, on any endpoint.
    assert {r.status for r in rows} <= {"succeeded", "failed"}
    assert all(r.claimed_until is None and r.completed_at is not None for r in rows)
    # Every recorded try matches the delivery row's counter.
    assert all(r.attempts == len(attempts_of[r.id]) for r in rows)

    # The table of rules: receiver -> (final status, outcomes of the tries of every delivery).
    retrying_then_failed = ("failed", ("retrying",) * (TRIES - 1) + ("failed",))
    expected: dict[str, tuple[str, tuple[str, ...]]] = {
        "healthy": ("succeeded", ("succeeded",)),
        "always_500": retrying_then_failed,
        "hangs": retrying_then_failed,
        "resets": retrying_then_failed,
        "always_429": retrying_then_failed,
        "redirects": retrying_then_failed,
        "accepted_202": ("succeeded", ("succeeded",)),
        "huge_body": ("succeeded", ("succeeded",)),
        "retry_after": ("succeeded", ("retrying", "succeeded")),
        "retry_after_capped": ("succeeded", ("retrying", "succeeded")),
        "retry_after_date": ("succeeded", ("retrying", "succeeded")),
        "flapping": ("succeeded", ("retrying", "succeeded")),
        "last_chance": ("succeeded", ("retrying", "retrying", "succeeded")),
    }
    for name, (status, outcomes) in expected.items():
        deliveries_here = [r for r in by_name[name] if r.event_type == "payment.created"]
        assert {r.event_public_id for r in deliveries_here} == set(payment_events), name
        for row in deliveries_here:
            got = (row.status, tuple(a.outcome for a in attempts_of[row.id]))
            assert got == (status, outcomes), (
                f"{name}: {row.event_public_id} ended {got}, expected {(status, outcomes)}; tries: "
                + "; ".join(
                    f"{a.outcome} status={a.status_code} error={a.error!r} in {a.duration_ms} ms"
                    for a in attempts_of[row.id]
                )
            )
            # The receiver saw exactly the tries the log shows: none lost, none after the schedule.
            assert len(requests[name][row.event_public_id]) == len(outcomes), name

    # (a) 500s are logged with their status; the last try is marked failed.
    for row in by_name["always_500"]:
        assert [a.status_code for a in attempts_of[row.id]] == [500] * TRIES
        assert row.last_status_code == 500
        assert "500" in row.last_error
        sent = [r.at for r in requests["always_500"][row.event_public_id]]
        assert all(0.75 <= later - earlier <= 5 for earlier, later in itertools.pairwise(sent)), sent

    # Retry-After on every answer still ends after the schedule; 3xx is logged, not followed.
    for row in by_name["always_429"]:
        assert [a.status_code for a in attempts_of[row.id]] == [429] * TRIES
    for row in by_name["redirects"]:
        assert [a.status_code for a in attempts_of[row.id]] == [307] * TRIES
    assert all(r.path == "/hook" for r in receivers["healthy"].requests)
    assert len(receivers["healthy"].requests) == len(payment_events) + len(notices)
    # Any 2xx is a success; a huge answer is logged only up to 4 KiB.
    for row in by_name["huge_body"]:
        [attempt] = attempts_of[row.id]
        assert attempt.status_code == 200
        assert 0 < len(attempt.response_body.encode()) <= 4096, len(attempt.response_body)

    # (b) a receiver that hangs is cut off at the timeout, not waited for.
    for row in by_name["hangs"]:
        for attempt in attempts_of[row.id]:
            assert attempt.status_code is None
            assert "timed out" in attempt.error
            assert 0.9 * TIMEOUT * 1000 <= attempt.duration_ms < 2_400, attempt.duration_ms

    # (c) a reset is an error (not a timeout, not a status) and is retried like one.
    for row in by_name["resets"]:
        for attempt in attempts_of[row.id]:
            assert attempt.status_code is None
            assert attempt.error
            assert "timed out" not in attempt.error
            assert attempt.duration_ms < 900

    # (d) Retry-After is honoured: 2 s asked → at least 2 s, and not the 1 s of the schedule;
    # 3600 s asked → capped at delivery_max_retry_after (3 s).
    # An HTTP date 3 s ahead (whole seconds, so 2-3 s) is honoured the same way.
    for name, asked in (("retry_after", 2), ("retry_after_capped", MAX_RETRY_AFTER), ("retry_after_date", 2)):
        for event_id in payment_events:
            first, second = requests[name][event_id]
            gap = second.at - first.at
            assert asked - 0.1 <= gap <= asked + 3, f"{name}: retried after {gap:.2f} s"
        for row in by_name[name]:
            assert attempts_of[row.id][0].status_code in (429, 503)

    # (e) 410: the endpoint is disabled, its deliveries failed, the healthy endpoint was told,
    # and later events never went to it.
    gone = final["gone"]
    assert not gone.enabled
    assert "410" in gone.disabled_reason
    assert {r.event_public_id for r in by_name["gone"]} == set(first_wave)
    for row in by_name["gone"]:
        assert row.status == "failed"
        assert len(attempts_of[row.id]) <= 1
        assert row.last_status_code == 410 or "endpoint disabled" in (row.last_error or "")
    assert any(a.status_code == 410 for r in by_name["gone"] for a in attempts_of[r.id])
    assert len(receivers["gone"].requests) == before_second_wave["gone"]
    assert not set(requests["gone"]) & set(second_wave)

    # (f) flapping and last-chance receivers: see the table above (succeeded on try 2 and 3).

    # (g) no success for longer than endpoint_disable_after: disabled, with the reason, and the
    # queue failed.
    stale = final["stale"]
    assert stale_seen.get("failing_since") is not None, "the worker did not mark the first failure"
    assert not stale.enabled
    assert "no successful delivery" in stale.disabled_reason
    assert "5 days" in stale.disabled_reason
    assert {r.event_public_id for r in by_name["stale"]} == set(first_wave)
    for row in by_name["stale"]:
        assert row.status == "failed"
        assert 1 <= len(attempts_of[row.id]) <= 2
        assert "endpoint disabled" in (row.last_error or ""), row.last_error
    assert len(receivers["stale"].requests) == before_second_wave["stale"]
    assert not set(requests["stale"]) & set(second_wave)

    # The two endpoint.disabled notices went to the healthy endpoint, signed, and nowhere else.
    notice_rows = [r for r in rows if r.event_type == "endpoint.disabled"]
    assert [names_by_endpoint[r.endpoint_id] for r in notice_rows] == ["healthy", "healthy"]
    assert all(r.status == "succeeded" for r in notice_rows)
    told = {}
    for notice in notices:
        [request] = requests["healthy"][notice.event_id]
        event = dialects.get("standard").verify(
            request.body, request.headers, [eps["healthy"]["secret"]], now=int(request.headers["webhook-timestamp"])
        )
        assert event.type == "endpoint.disabled"
        told[event.data["endpoint_id"]] = event.data["reason"]
    assert told == {eps["gone"]["public_id"]: gone.disabled_reason, eps["stale"]["public_id"]: stale.disabled_reason}

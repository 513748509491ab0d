"""The delivery worker: claims due deliveries, sends them with pooled keep-alive connections,
and records every attempt.

Three loops share one asyncio task group:
- the claimer takes due deliveries in batches while there is room in flight, and sleeps until
  woken (a commit that created deliveries in this process, a PostgreSQL NOTIFY from another) or
  until the poll interval passes;
- each claimed delivery is sent by its own task, at most ``worker_concurrency`` at once;
- the recorder writes finished attempts in batches, one transaction per batch, so the cost of a
  commit is shared by every attempt it carries.

Delivery is at least once: a worker that dies between sending and recording leaves its lease to
run out (PostgreSQL) or to be released by the next worker (SQLite, where one worker at a time
holds the queue: see ``SqliteWorkerLock``), and the delivery is sent again with the same event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

import aiohttp
from sqlalchemy.engine import make_url

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db import statements
from kasir.db.engine import Database
from kasir.db.statements import Conn
from kasir.delivery import dispatch, notifiers, queue
from kasir.delivery import endpoints as endpoint_rows
from kasir.delivery.hooks import DisableCause
from kasir.delivery.metrics import DEFERRED, DeliveryMetrics
from kasir.delivery.notifiers import renderers
from kasir.delivery.outbox import NOTIFY_CHANNEL
from kasir.delivery.ratelimit import TokenBuckets
from kasir.delivery.service import disable_endpoint
from kasir.delivery.states import AttemptOutcome, DeliveryStatus
from kasir.ssrf import GuardedResolver

log = logging.getLogger("kasir.worker")

RECORD_BATCH = 2000
CLAIM_LOG_EVERY = 10.0
RECORD_LINGER = 0.005


class SqliteWorkerLock:
    """One delivery worker per SQLite database, enforced by the operating system.

    SQLite has one writer at a time anyway; a single worker can also treat every lease it finds
    at start-up as a dead predecessor's and release it at once."""

    def __init__(self, database_path: str) -> None:
        self.path = Path(database_path + ".worker-lock")
        self._handle: IO[str] | None = None

    def try_acquire(self) -> bool:
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def notifier_message(job: queue.Job, public_url: str) -> notifiers.Message:
    """What a notifier delivery says, written by the renderer registered for its event type
    (``notifiers.renderers``: buyer messages, the owner's alerts). No renderer is an error of
    the attempt (:class:`renderers.NoRenderer`), never a message skipped."""
    text = renderers.render(job.event_type, job.payload(), public_url, medium=notifiers.medium(job.url))
    return notifiers.Message(
        to=notifiers.recipient(job.url), text=text.text, reference=job.event_id, subject=text.subject
    )


class Worker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        metrics: DeliveryMetrics | None = None,
        notifier: notifiers.Notifier | None = None,
        email_notifier: notifiers.Notifier | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        # By the medium of a notifier delivery's url (notifiers.medium): WhatsApp, or email.
        self.notifier = notifier or notifiers.from_settings(settings)
        self.email_notifier = email_notifier or notifiers.email_from_settings(settings)
        self.metrics = metrics or DeliveryMetrics()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Claimed jobs wait here for one of the sender tasks, which live as long as the worker
        # (a task per delivery cost its creation and its callbacks every time); ``_busy`` counts
        # the jobs being attempted, ``_room`` is set whenever one is done.
        self._jobs: asyncio.Queue[queue.Job | None] = asyncio.Queue()
        self._busy = 0
        self._room = asyncio.Event()
        self._results: asyncio.Queue[queue.Outcome | None] = asyncio.Queue()
        self._buckets = TokenBuckets()
        self._watch: sqlite3.Connection | None = None
        self._lease = timedelta(seconds=settings.delivery_timeout + 30)
        self._claimed = 0
        # The first claim is logged at once: "it works" is worth knowing right after a start.
        self._claimed_logged_at = time.monotonic() - CLAIM_LOG_EVERY
        db.on_new_deliveries(self.wake)

    # -- control ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Thread-safe: called by commit hooks, possibly from a database worker thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    # -- main loop -------------------------------------------------------------------------

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        async with self._queue_ownership() as owned:
            if not owned:  # stopped while standing by
                return
            connector = aiohttp.TCPConnector(
                limit=self.settings.worker_concurrency,
                ttl_dns_cache=60,
                resolver=None if self.settings.webhook_allow_private_networks else GuardedResolver(),
            )
            timeout = aiohttp.ClientTimeout(total=self.settings.delivery_timeout)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
                recorder = asyncio.create_task(self._record_loop(), name="kasir-recorder")
                listener = asyncio.create_task(self._listen(), name="kasir-listen") if not self.db.is_sqlite else None
                senders = [
                    asyncio.create_task(self._sender(session), name=f"kasir-sender-{n}")
                    for n in range(self.settings.worker_concurrency)
                ]
                try:
                    await self._claim_loop()
                finally:
                    # Drain: what is claimed is attempted (or times out) and is recorded.
                    for _ in senders:
                        await self._jobs.put(None)
                    _done, late = await asyncio.wait(senders, timeout=self.settings.delivery_timeout + 5)
                    for sender in late:
                        sender.cancel()
                    await self._results.put(None)
                    await recorder
                    if self._watch is not None:
                        self._watch.close()
                        self._watch = None
                    if listener is not None:
                        listener.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await listener
                    await self.notifier.aclose()
                    await self.email_notifier.aclose()
        # What this process sent, for the operator reading its log (several workers share a
        # queue, and /metrics shows only the process it is scraped from).
        sent = self.metrics.outcomes
        log.info(
            "delivery worker stopped after %d attempts: %d succeeded, %d retrying, %d failed, %d deferred",
            sum(sent[o] for o in AttemptOutcome),
            sent[AttemptOutcome.SUCCEEDED],
            sent[AttemptOutcome.RETRYING],
            sent[AttemptOutcome.FAILED],
            sent[DEFERRED],
        )

    @contextlib.asynccontextmanager
    async def _queue_ownership(self) -> AsyncIterator[bool]:
        """On SQLite, wait until this worker holds the queue's lock (a second worker stands by
        and takes over when the first one stops or dies); then take back stale leases."""
        if not self.db.is_sqlite:
            yield True
            return
        database = make_url(str(self.db.engine.url)).database or ""
        lock = SqliteWorkerLock(os.path.abspath(database))  # noqa: ASYNC240 - string work and one getcwd
        if not lock.try_acquire():
            log.warning("another delivery worker serves %s; this one stands by", database)
            while not lock.try_acquire():
                if self._stopping.is_set():
                    yield False
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.settings.worker_poll_interval)
            log.info("the other worker stopped; this one serves %s now", database)
        try:
            released = await self.db.write(queue.release_all_claims)
            if released:
                log.info("took back %d delivery lease(s) left by a stopped worker", released)
            yield True
        finally:
            lock.release()

    def _in_hand(self) -> int:
        """Jobs claimed and not yet attempted to the end."""
        return self._busy + self._jobs.qsize()

    async def _sender(self, session: aiohttp.ClientSession) -> None:
        while (job := await self._jobs.get()) is not None:
            self._busy += 1
            try:
                await self._attempt(session, job)
            finally:
                self._busy -= 1
                self._room.set()

    async def _claim_loop(self) -> None:
        concurrency = self.settings.worker_concurrency
        while not self._stopping.is_set():
            # Under load, wait for half the room to free up, so claims come in batches.
            while self._in_hand() and concurrency - self._in_hand() < max(1, concurrency // 2):
                self._room.clear()
                await self._room.wait()
            room = min(concurrency - self._in_hand(), self.settings.worker_batch)
            self._wake.clear()
            try:
                # One statement on PostgreSQL (kasir.delivery.queue.CLAIM_JOBS), in a transaction
                # all the same: reading what it returns can fail (a secret the key cannot open),
                # and the claim must then roll back rather than lease what nobody will send.
                jobs = await self.db.unit(self._claim(room))
            except Exception:
                log.exception("claiming deliveries failed; retrying")
                jobs = []
                await asyncio.sleep(1)
            self._note_claimed(len(jobs))
            for job in jobs:
                self._jobs.put_nowait(job)
            if len(jobs) < room:
                await self._idle()

    def _note_claimed(self, count: int) -> None:
        """One log line every CLAIM_LOG_EVERY seconds at most, however many batches: under load
        a line per claim would be thousands a minute, and the operator wants to know it works."""
        self._claimed += count
        now = time.monotonic()
        if self._claimed and now - self._claimed_logged_at >= CLAIM_LOG_EVERY:
            noun = "delivery" if self._claimed == 1 else "deliveries"
            log.info("claimed %d %s in the last %.0f s", self._claimed, noun, now - self._claimed_logged_at)
            self._claimed, self._claimed_logged_at = 0, now

    async def _idle(self) -> None:
        """Wait for new work: a wake from this process's commits, a NOTIFY (PostgreSQL), or, on
        SQLite, another process's commit, seen as a change of ``PRAGMA data_version`` on a
        connection of our own (a few microseconds to read, so we look every 5 ms)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.worker_poll_interval
        watch = self._version_connection()
        version = watch.execute("PRAGMA data_version").fetchone()[0] if watch is not None else None
        while not self._wake.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(remaining, 0.005 if watch else remaining))
            if watch is not None and watch.execute("PRAGMA data_version").fetchone()[0] != version:
                return

    def _version_connection(self) -> sqlite3.Connection | None:
        if not self.db.is_sqlite:
            return None
        if self._watch is None:
            database = make_url(str(self.db.engine.url)).database or ""
            self._watch = sqlite3.connect(database, check_same_thread=False)
        return self._watch

    def _claim(self, limit: int) -> Callable[[Conn], list[queue.Job]]:
        def claim(conn: Conn) -> list[queue.Job]:
            return queue.claim(conn, utcnow(), limit, self._lease)

        return claim

    async def _attempt(self, session: aiohttp.ClientSession, job: queue.Job) -> None:
        """One delivery's turn. Whatever raises ends as a failed try in the attempt log, which
        then follows the retry schedule: a delivery left unrecorded would come back when its
        lease ran out, forever, never failing and never counting against its endpoint."""
        started_at = utcnow()
        try:
            outcome = await self._try(session, job, started_at)
        except Exception as exc:
            log.exception("delivery %s: the attempt failed unexpectedly", job.public_id)
            result = dispatch.failure("the attempt failed", exc, secrets=job.secrets)
            outcome = dispatch.decide(job, self._known_request(job), result, started_at, self.settings)
            self.metrics.observe(outcome.attempt["outcome"] if outcome.attempt else DEFERRED, result.duration)
        await self._results.put(outcome)

    async def _try(self, session: aiohttp.ClientSession, job: queue.Job, now: datetime) -> queue.Outcome:
        if not job.endpoint_enabled:
            return queue.Outcome(
                job, None, DeliveryStatus.FAILED, None, error="endpoint disabled before this delivery was sent"
            )
        if job.rate_limit:
            wait = self._buckets.take(job.endpoint_id or 0, job.rate_limit)
            if wait > 0:
                self.metrics.observe(DEFERRED, None)
                return queue.Outcome(job, None, DeliveryStatus.PENDING, now + timedelta(seconds=wait))
        if job.dialect == notifiers.CHANNEL:
            request, result = await self._notify(job)
        else:
            request, result = await self._send(session, job, now)
        outcome = dispatch.decide(job, request, result, now, self.settings)
        self.metrics.observe(outcome.attempt["outcome"] if outcome.attempt else DEFERRED, result.duration)
        return outcome

    async def _send(
        self, session: aiohttp.ClientSession, job: queue.Job, now: datetime
    ) -> tuple[dispatch.Request, dispatch.Result]:
        try:
            request = dispatch.prepare(job, int(now.timestamp()))
        except Exception as exc:  # a header or a payload that cannot go out is a failed try
            result = dispatch.failure(
                dispatch.PREPARE_FAILED, exc, secrets=dispatch.secret_values(job.headers, job.secrets)
            )
            log.warning("delivery %s: %s", job.public_id, result.error)
            return dispatch.known_request(job), result
        result = await dispatch.send(session, request, guard=not self.settings.webhook_allow_private_networks)
        if result.error and result.error.startswith(dispatch.SEND_FAILED):
            log.warning("delivery %s: %s", job.public_id, result.error)
        return request, result

    def _notifier_of(self, job: queue.Job) -> notifiers.Notifier:
        return self.email_notifier if notifiers.medium(job.url) == "email" else self.notifier

    async def _notify(self, job: queue.Job) -> tuple[dispatch.Request, dispatch.Result]:
        """A message through its medium's notifier, which promises not to raise; one that does
        anyway (or a message that cannot be written) is a failed try all the same."""
        recipient = [notifiers.recipient(job.url)]  # kept out of the log like a secret
        notifier = self._notifier_of(job)
        try:
            request = notifier.prepare(notifier_message(job, self.settings.public_url))
        except renderers.NoRenderer as exc:
            # A process that never imported the package writing these messages: a deployment
            # error the operator must see, and the attempt log says it too.
            result = dispatch.failure("cannot write the message", exc, secrets=recipient)
            log.error("delivery %s: %s", job.public_id, result.error)
            return self._known_request(job), result
        except Exception as exc:
            result = dispatch.failure("cannot prepare the message", exc, secrets=recipient)
            log.warning("delivery %s: %s", job.public_id, result.error)
            return self._known_request(job), result
        started = time.perf_counter()
        try:
            return request, await notifier.send(request)
        except Exception as exc:
            result = dispatch.failure(
                "cannot send the message",
                exc,
                duration=time.perf_counter() - started,
                secrets=dispatch.secret_values(request.headers, recipient),
            )
            log.warning("delivery %s: %s", job.public_id, result.error)
            return request, result

    def _known_request(self, job: queue.Job) -> dispatch.Request:
        # A notifier delivery's url is the buyer's number, which the attempt log never shows.
        if job.dialect == notifiers.CHANNEL:
            return dispatch.Request(f"{notifiers.CHANNEL}:{self._notifier_of(job).name}", {}, b"")
        return dispatch.known_request(job)

    async def _record_loop(self) -> None:
        finished = False
        while not finished:
            first = await self._results.get()
            batch: list[queue.Outcome] = []
            if first is None:
                finished = True
            else:
                batch.append(first)
                # Linger a moment so one commit carries many attempts; the receivers already
                # have their events, only the bookkeeping waits.
                await asyncio.sleep(RECORD_LINGER)
            while len(batch) < RECORD_BATCH and not self._results.empty():
                item = self._results.get_nowait()
                if item is None:
                    finished = True
                else:
                    batch.append(item)
            if batch:
                await self._record(batch)

    async def _record(self, batch: list[queue.Outcome]) -> None:
        settings = self.settings
        for outcome in batch:
            _log_failure(outcome)

        def write(conn: Conn) -> None:
            now = utcnow()
            queue.record(conn, batch, now)
            gone = {o.job.endpoint_id for o in batch if o.endpoint_result == "gone" and o.job.endpoint_id}
            # Each automatic disable also runs the delivery hooks (the owner's alert,
            # docs/alerts.md), in this transaction: rare, and run by SQLAlchemy, on a thread.
            for endpoint_id in gone:
                disable_endpoint(statements.on_sqlalchemy(conn), endpoint_id, DisableCause.GONE, now)
            failing = {o.job.endpoint_id for o in batch if o.endpoint_result == "failure" and o.job.endpoint_id}
            cutoff = now - timedelta(seconds=settings.endpoint_disable_after)
            for endpoint_id in endpoint_rows.failing_since_before(conn, failing - gone, cutoff):
                disable_endpoint(
                    statements.on_sqlalchemy(conn),
                    endpoint_id,
                    DisableCause.NO_SUCCESS,
                    now,
                    failing_for=settings.endpoint_disable_after,
                )

        for attempt in range(5):
            try:
                await self.db.unit(write)
                return
            except Exception:
                # Not recording is not losing: the leases run out and the deliveries go again.
                log.exception("recording %d attempt(s) failed (try %d of 5)", len(batch), attempt + 1)
                await asyncio.sleep(min(2**attempt, 10))

    async def _listen(self) -> None:
        """PostgreSQL: wake on NOTIFY from any node's commit, reconnecting when the link drops."""
        import psycopg

        url = make_url(str(self.db.engine.url)).set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while not self._stopping.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._wake.set()  # anything committed while we were not listening
                    async for _ in conn.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("LISTEN connection lost (%s); polling until it is back", exc)
                await asyncio.sleep(1)


def _log_failure(outcome: queue.Outcome) -> None:
    """A failed try, and a delivery given up on, each as one line with the reason (the attempt
    log has the whole request and answer). The URL is left out: a notifier's is the buyer's
    number, and an endpoint is named by its delivery's id in every page and API answer anyway."""
    attempt = outcome.attempt
    reason = (attempt or {}).get("error") or outcome.error
    if outcome.status == DeliveryStatus.FAILED:
        tries = attempt["attempt"] if attempt else outcome.job.attempts
        log.warning("delivery %s failed after %d attempt(s): %s", outcome.job.public_id, tries, reason)
    elif attempt is not None and attempt["outcome"] == AttemptOutcome.RETRYING:
        log.info(
            "delivery %s attempt %d failed, next try at %s: %s",
            outcome.job.public_id,
            attempt["attempt"],
            f"{outcome.next_attempt_at:%H:%M:%S} UTC" if outcome.next_attempt_at else "?",
            reason,
        )

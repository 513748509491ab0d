"""``once(event_id)``: True the first time, False after, True again once the TTL has passed; one
winner among concurrent claims; ``processing()`` gives the claim back when the work fails. On
SQLite (a file in tmp_path) and on the real Redis at KASIR_TEST_REDIS_URL (skipped when it is not
running, except under CI=true, where that fails)."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from kasir.receive.idempotency import DEFAULT_TTL, RedisOnce, SQLiteOnce

REDIS_URL = os.environ.get("KASIR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
THREADS = 20

T = TypeVar("T")


def event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def claim_concurrently(claim: Callable[[int], T], n: int = THREADS) -> list[T]:
    """``claim(i)`` from ``n`` threads released at the same instant."""
    start = threading.Barrier(n)

    def run(i: int) -> T:
        start.wait()
        return claim(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


class Failed(Exception):
    pass


def fail_while_processing(store: Any, evt: str, seen: list[bool]) -> None:
    """The receiver's work for ``evt`` raising, inside ``processing()``; ``seen`` gets ``first``."""
    with store.processing(evt) as first:
        seen.append(first)
        raise Failed


# --- the stores, as fixtures ----------------------------------------------------------------


@pytest.fixture
def sqlite_path(tmp_path: Path) -> str:
    return str(tmp_path / "webhooks.db")


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"kasir-test:once:{secrets.token_hex(6)}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=prefix + "*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Builds stores of one backend that share their state (one file, one Redis prefix)."""
    made: list[SQLiteOnce | RedisOnce] = []
    if request.param == "sqlite":
        path = str(tmp_path / "webhooks.db")

        def make(ttl: int = DEFAULT_TTL) -> SQLiteOnce | RedisOnce:
            made.append(SQLiteOnce(path, ttl=ttl))
            return made[-1]

    else:
        request.getfixturevalue("redis_client")
        prefix = request.getfixturevalue("redis_prefix")

        def make(ttl: int = DEFAULT_TTL) -> SQLiteOnce | RedisOnce:
            made.append(RedisOnce(REDIS_URL, ttl=ttl, prefix=prefix))
            return made[-1]

    yield make
    for store in made:
        if isinstance(store, SQLiteOnce):
            store.close()
        else:
            store._redis.close()


# --- both backends --------------------------------------------------------------------------


def test_true_first_then_false(make_store: Callable[..., Any]) -> None:
    store = make_store()
    first, second = event_id(), event_id()
    assert store.once(first) is True
    assert store.once(first) is False
    assert store.once(first) is False
    assert store.once(second) is True  # another id is its own claim


def test_true_again_after_the_ttl(make_store: Callable[..., Any]) -> None:
    store = make_store(ttl=1)
    evt = event_id()
    assert store.once(evt) is True
    assert store.once(evt) is False
    time.sleep(1.2)
    assert store.once(evt) is True
    assert store.once(evt) is False  # and the new claim holds again


def test_two_stores_on_the_same_state_agree(make_store: Callable[..., Any]) -> None:
    a, b = make_store(), make_store()
    evt = event_id()
    assert a.once(evt) is True
    assert b.once(evt) is False
    b.forget(evt)
    assert a.once(evt) is True
    assert b.once(evt) is False


def test_one_winner_among_concurrent_claims_on_one_store(make_store: Callable[..., Any]) -> None:
    store = make_store()
    evt = event_id()
    results = claim_concurrently(lambda _i: store.once(evt))
    assert results.count(True) == 1
    assert results.count(False) == THREADS - 1


def test_one_winner_among_concurrent_claims_on_separate_stores(make_store: Callable[..., Any]) -> None:
    stores = [make_store() for _ in range(THREADS)]
    evt = event_id()
    results = claim_concurrently(lambda i: stores[i].once(evt))
    assert results.count(True) == 1


def test_many_ids_claimed_concurrently_each_exactly_once(make_store: Callable[..., Any]) -> None:
    store = make_store()
    ids = [event_id() for _ in range(25)]
    results = claim_concurrently(lambda _i: [store.once(evt) for evt in ids], n=8)
    for position in range(len(ids)):
        assert [claims[position] for claims in results].count(True) == 1


def test_processing_keeps_the_claim_when_the_work_succeeds(make_store: Callable[..., Any]) -> None:
    store = make_store()
    evt = event_id()
    with store.processing(evt) as first:
        assert first is True
    with store.processing(evt) as first:
        assert first is False
    assert store.once(evt) is False


def test_processing_releases_the_claim_when_the_work_raises(make_store: Callable[..., Any]) -> None:
    store = make_store()
    evt = event_id()
    ran: list[bool] = []
    with pytest.raises(Failed):
        fail_while_processing(store, evt, ran)
    assert ran == [True]
    with store.processing(evt) as first:  # the retry runs the work again
        assert first is True
    assert store.once(evt) is False


def test_a_duplicate_that_fails_does_not_release_the_first_claim(make_store: Callable[..., Any]) -> None:
    store = make_store()
    evt = event_id()
    assert store.once(evt) is True
    ran: list[bool] = []
    with pytest.raises(Failed):
        fail_while_processing(store, evt, ran)
    assert ran == [False]
    assert store.once(evt) is False


def test_processing_releases_on_base_exceptions_too(make_store: Callable[..., Any]) -> None:
    store = make_store()
    evt = event_id()
    with pytest.raises(KeyboardInterrupt), store.processing(evt):
        raise KeyboardInterrupt
    assert store.once(evt) is True


def test_forget_of_an_unknown_id_is_harmless(make_store: Callable[..., Any]) -> None:
    store = make_store()
    store.forget(event_id())
    evt = event_id()
    assert store.once(evt) is True


# --- SQLite ---------------------------------------------------------------------------------


def test_sqlite_claims_survive_reopening(sqlite_path: str) -> None:
    evt = event_id()
    store = SQLiteOnce(sqlite_path)
    assert store.once(evt) is True
    store.close()
    reopened = SQLiteOnce(sqlite_path)
    try:
        assert reopened.once(evt) is False
    finally:
        reopened.close()


def test_sqlite_in_memory() -> None:
    store = SQLiteOnce(":memory:", ttl=60)
    evt = event_id()
    results = claim_concurrently(lambda _i: store.once(evt))
    assert results.count(True) == 1
    store.close()


def test_sqlite_expired_rows_are_purged(sqlite_path: str) -> None:
    store = SQLiteOnce(sqlite_path, ttl=60)
    try:
        assert store.once("evt_fresh") is True
        with closing(sqlite3.connect(sqlite_path)) as conn, conn:  # a claim whose TTL ran out long ago
            conn.execute("INSERT INTO kasir_once VALUES ('evt_old', ?)", (time.time() - 3600,))
        store._claims = 999  # the next claim is the thousandth: it sweeps what expired
        assert store.once(event_id()) is True
        with closing(sqlite3.connect(sqlite_path)) as conn:
            rows = {row[0] for row in conn.execute("SELECT event_id FROM kasir_once")}
        assert "evt_old" not in rows
        assert "evt_fresh" in rows
        assert len(rows) == 2
    finally:
        store.close()


def _claim_in_process(path: str, ids: list[str], start: Any, out: Any) -> None:
    start.wait()
    store = SQLiteOnce(path)
    out.put([evt for evt in ids if store.once(evt)])
    store.close()


def test_sqlite_one_winner_across_processes(sqlite_path: str) -> None:
    SQLiteOnce(sqlite_path).close()  # the file exists (and is in WAL mode) before they start
    context = multiprocessing.get_context("fork")
    ids = [event_id() for _ in range(40)]
    start, out = context.Barrier(6), context.Queue()
    processes = [context.Process(target=_claim_in_process, args=(sqlite_path, ids, start, out)) for _ in range(6)]
    for process in processes:
        process.start()
    won = [out.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert sorted(evt for claims in won for evt in claims) == sorted(ids)


def test_sqlite_opening_waits_for_a_writer_instead_of_failing(sqlite_path: str) -> None:
    writer = sqlite3.connect(sqlite_path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE app_orders (id INTEGER PRIMARY KEY)")  # the merchant's own app, writing
    done = threading.Timer(0.3, lambda: writer.execute("COMMIT"))
    done.start()
    try:
        store = SQLiteOnce(sqlite_path)  # expected: waits the 0.3 s out, as its timeout says
        assert store.once(event_id()) is True
        store.close()
    finally:
        done.join()
        writer.close()


# --- Redis ----------------------------------------------------------------------------------


def test_redis_key_carries_the_ttl(redis_client: redis.Redis, redis_prefix: str) -> None:
    store = RedisOnce(redis_client, prefix=redis_prefix)
    evt = event_id()
    assert store.once(evt) is True
    assert DEFAULT_TTL - 5 <= redis_client.ttl(redis_prefix + evt) <= DEFAULT_TTL
    short = RedisOnce(redis_client, ttl=30, prefix=redis_prefix)
    other = event_id()
    assert short.once(other) is True
    assert 0 < redis_client.ttl(redis_prefix + other) <= 30


def test_redis_accepts_a_url_or_a_client(redis_client: redis.Redis, redis_prefix: str) -> None:
    by_url = RedisOnce(REDIS_URL, prefix=redis_prefix)
    by_client = RedisOnce(redis_client, prefix=redis_prefix)
    evt = event_id()
    assert by_url.once(evt) is True
    assert by_client.once(evt) is False
    by_url._redis.close()


def test_redis_prefixes_keep_stores_apart(redis_client: redis.Redis, redis_prefix: str) -> None:
    a = RedisOnce(redis_client, prefix=redis_prefix + "a:")
    b = RedisOnce(redis_client, prefix=redis_prefix + "b:")
    evt = event_id()
    assert a.once(evt) is True
    assert b.once(evt) is True
    assert redis_client.exists(redis_prefix + "a:" + evt) == 1

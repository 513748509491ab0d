"""Group commit on SQLite: units written in the same loop turn share one COMMIT, and a unit that
fails leaves no trace while its neighbours' changes stand."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from kasir.db.engine import Database
from kasir.db.tables import merchants


class Boom(Exception):
    pass


def add(name: str, fail: bool = False) -> Callable[[sa.Connection], str]:
    """A unit that adds a merchant called ``name``, and then raises Boom when ``fail``."""

    def unit(conn: sa.Connection) -> str:
        conn.execute(sa.insert(merchants).values(username=name, name=name, created_at=sa.func.current_timestamp()))
        if fail:
            raise Boom(name)
        return name

    return unit


def test_units_share_a_commit_and_a_failing_unit_rolls_back_alone(db: Database, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("group commit is for the inline SQLite writer; PostgreSQL runs units concurrently")
    commits = []
    sa.event.listen(db.engine, "commit", lambda _conn: commits.append(1))

    async def scenario() -> list[str | BaseException]:
        units = [add(f"shop_{i}", fail=(i == 3)) for i in range(8)]
        return list(await asyncio.gather(*(db.write(u) for u in units), return_exceptions=True))

    results = asyncio.run(scenario())
    assert isinstance(results[3], Boom)
    assert [r for i, r in enumerate(results) if i != 3] == [f"shop_{i}" for i in range(8) if i != 3]
    assert len(commits) == 1  # eight units, one COMMIT (and so one fsync)
    names = db.read_sync(lambda conn: set(conn.execute(sa.select(merchants.c.username)).scalars()))
    assert names == {f"shop_{i}" for i in range(8) if i != 3}


def test_a_lone_unit_is_a_plain_transaction(db: Database) -> None:
    async def scenario() -> str:
        return await db.write(lambda conn: str(conn.execute(sa.text("SELECT 'ok'")).scalar_one()))

    assert asyncio.run(scenario()) == "ok"


class LoopThread:
    """An event loop in a thread of its own, as the TestClient's portal and a worker thread have."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def test_each_loop_runs_and_answers_its_own_units(db: Database, backend: str) -> None:
    """Two event loops writing through one Database at the same moment: each unit runs on its
    own loop's thread and its caller is woken. (A group shared between loops once let loop A run
    B's unit and answer it from A's thread, which never woke B: a delivery claimed, then left
    unsent under its lease until something else woke the worker.)"""
    if backend != "sqlite":
        pytest.skip("group commit is for the inline SQLite writer; PostgreSQL runs units in threads")
    a, b = LoopThread("loop-A"), LoopThread("loop-B")
    try:
        a_queued, b_queued = threading.Event(), threading.Event()

        async def a_side() -> str:
            task = asyncio.ensure_future(db.write(lambda _c: threading.current_thread().name))

            # Hold loop A between queueing its unit and flushing it until B has queued too: the
            # interleaving CPU load produces by chance.
            def hold_until_b_queued() -> None:
                a_queued.set()
                b_queued.wait(5)

            asyncio.get_running_loop().call_soon(hold_until_b_queued)
            return await task

        async def b_side() -> str:
            unit = asyncio.ensure_future(db.write(lambda _c: threading.current_thread().name))
            await asyncio.sleep(0)  # the unit's first step: it is queued now
            b_queued.set()
            return await unit

        in_a = asyncio.run_coroutine_threadsafe(a_side(), a.loop)
        assert a_queued.wait(5)
        in_b = asyncio.run_coroutine_threadsafe(b_side(), b.loop)
        assert in_a.result(5) == "loop-A"
        assert in_b.result(5) == "loop-B"  # answered, by its own loop, without any outside poke
    finally:
        a.stop()
        b.stop()


def test_the_loop_goes_on_while_another_connection_holds_the_write_lock(db: Database, backend: str) -> None:
    """Another connection (here a thread; in production another process) holds SQLite's write
    lock for a second: the loop's units wait for it in a thread, the loop keeps running
    meanwhile, and the units then commit (or fail) as they would have inline."""
    if backend != "sqlite":
        pytest.skip("the inline writer is SQLite's; PostgreSQL units run in threads already")
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with db.engine.connect() as conn:
            transaction = conn.begin()  # BEGIN IMMEDIATE: the write lock
            locked.set()
            release.wait(3)
            transaction.rollback()

    async def scenario() -> tuple[list[str | BaseException], str | BaseException, list[float], float]:
        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        assert locked.wait(10)
        loop = asyncio.get_running_loop()
        ticks: list[float] = []

        async def tick() -> None:
            while True:
                ticks.append(loop.time())
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        held_from = loop.time()
        waiting = asyncio.gather(*(db.write(add(f"shop_{i}", fail=(i == 1))) for i in range(3)), return_exceptions=True)
        lone = asyncio.gather(db.write(add("alone")), return_exceptions=True)
        await asyncio.sleep(1.0)  # the groups are flushed at once and find the lock taken
        release.set()
        results = list(await waiting)
        [alone] = await lone
        ticker.cancel()
        holder.join()
        return results, alone, ticks, held_from

    results, alone, ticks, held_from = asyncio.run(scenario())
    # Had the units waited on the loop, it would not have ticked while the lock was held.
    assert len([t for t in ticks if held_from + 0.1 < t < held_from + 0.9]) >= 10, ticks
    assert results[0] == "shop_0"
    assert isinstance(results[1], Boom)
    assert results[2] == "shop_2"
    assert alone == "alone"
    names = db.read_sync(lambda conn: set(conn.execute(sa.select(merchants.c.username)).scalars()))
    assert names == {"shop_0", "shop_2", "alone"}


def test_a_unit_waiting_for_the_lock_is_not_overtaken_by_the_loops_later_units(db: Database, backend: str) -> None:
    """Once the lock is free, the loop's next unit would find it first (the waiting thread is
    asleep in SQLite's busy handler): it queues behind the waiting one instead, so a busy loop
    cannot keep a waiting unit out until its busy timeout."""
    if backend != "sqlite":
        pytest.skip("the inline writer is SQLite's; PostgreSQL units run in threads already")
    locked, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def hold_the_lock() -> None:
        with db.engine.connect() as conn:
            transaction = conn.begin()
            locked.set()
            release.wait(5)
            transaction.rollback()

    def noting(name: str) -> Callable[[sa.Connection], str]:
        unit = add(name)

        def noted(conn: sa.Connection) -> str:
            ran.append(name)
            return unit(conn)

        return noted

    async def scenario() -> list[str]:
        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        assert locked.wait(10)
        first = asyncio.ensure_future(db.write(noting("first")))
        await asyncio.sleep(0.5)  # it waits in a thread, its busy handler backing off
        release.set()
        holder.join()
        second = await db.write(noting("second"))
        return [await first, second]

    assert asyncio.run(scenario()) == ["first", "second"]
    assert ran == ["first", "second"]

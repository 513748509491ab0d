"""PostgreSQL's hottest reads on the event loop itself, through psycopg's async connections.

Every API request authenticates and pay pages poll check-payment. Run in a thread, each of
those lone SELECTs paid for two thread hops and a fight for the GIL with the other database
threads: ~350 µs of CPU where the same query on an async connection costs ~70 µs (measured with
64 concurrent requests, as benchmarks/api_bench.py loads the server). Writes, and every other
read, keep SQLAlchemy on threads: they are transactions, and a transaction on the loop would
hold it for every round trip.

One ``LoopReads`` serves one event loop (an asyncio connection belongs to the loop that made
it). Connections are autocommit (a lone SELECT is consistent on its own, and no transaction is
left open between requests), opened on demand up to ``size``, and dropped when broken: after
PostgreSQL restarts, the first read on a dead connection is tried once more on a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import psycopg

CONNECT_TIMEOUT = 10  # seconds; a database that does not answer is an error, not a hang
# How these sessions show in pg_stat_activity (SQLAlchemy's pool sets none).
APPLICATION_NAME = "kasir-loop-reads"


class LoopReads:
    def __init__(self, conninfo: str, size: int) -> None:
        self._conninfo = conninfo
        self._slots = asyncio.Semaphore(size)
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._closed = False

    async def fetch_one(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of ``sql`` (compiled for psycopg by kasir.db.statements), or None."""
        async with self._slots:
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect()
            try:
                result = await self._run(conn, sql, params)
            except psycopg.OperationalError:
                await self._discard(conn)
                if not reused:
                    raise
                # An idle connection the server dropped (a restart, an idle timeout): once
                # more on a new one, which fails at once if the server is really away.
                conn = await self._connect()
                try:
                    result = await self._run(conn, sql, params)
                except BaseException:
                    await self._discard(conn)
                    raise
            except BaseException:
                await self._discard(conn)
                raise
            if self._closed:
                await conn.close()
            else:
                self._idle.append(conn)
            return result

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name=APPLICATION_NAME
        )

    @staticmethod
    async def _run(conn: psycopg.AsyncConnection[Any], sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        async with conn.cursor() as cursor:
            await cursor.execute(sql, params)
            row: tuple[Any, ...] | None = await cursor.fetchone()
        return row

    @staticmethod
    async def _discard(conn: psycopg.AsyncConnection[Any]) -> None:
        with contextlib.suppress(Exception):
            await conn.close()

    async def aclose(self) -> None:
        """On the loop's way out (the app's shutdown)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._discard(conn)

    def close_now(self) -> None:
        """Without the loop (it may be gone): end the sessions at the socket."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):
                conn.pgconn.finish()

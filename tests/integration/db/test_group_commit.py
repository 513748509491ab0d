"""Group commit on SQLite: units written in the same loop turn share one COMMIT, and a unit that
fails leaves no trace while its neighbours' changes stand."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from kasir.db.engine import Database
from kasir.db.tables import merchants


class Boom(Exception):
    pass


def test_units_share_a_commit_and_a_failing_unit_rolls_back_alone(db: Database, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("group commit is for the inline SQLite writer; PostgreSQL runs units concurrently")
    commits = []
    sa.event.listen(db.engine, "commit", lambda _conn: commits.append(1))

    def add(name: str, fail: bool = False):  # type: ignore[no-untyped-def]
        def unit(conn: sa.Connection) -> str:
            conn.execute(sa.insert(merchants).values(username=name, name=name, created_at=sa.func.current_timestamp()))
            if fail:
                raise Boom(name)
            return name

        return unit

    async def scenario() -> list[object]:
        units = [add(f"shop_{i}", fail=(i == 3)) for i in range(8)]
        return await asyncio.gather(*(db.write(u) for u in units), return_exceptions=True)

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

"""kasir.db.types.UTCDateTime round-trips the same way on SQLAlchemy's path and on the driver's
(kasir.db.statements): on SQLite both store the very same text, which is what makes
``expires_at <= :now`` compare instants; on both backends both read back the same aware UTC
datetime, whatever zone it was written in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from kasir.clock import WIB
from kasir.db import statements
from kasir.db.engine import Database
from kasir.db.statements import Statement, insertable_columns
from kasir.db.tables import merchants

INSERT: Statement[dict[str, int]] = Statement(
    merchants.insert().returning(merchants.c.id), column_keys=insertable_columns(merchants)
)
BY_ID: Statement[dict[str, Any]] = Statement(
    sa.select(merchants.c.created_at).where(merchants.c.id == sa.bindparam("id"))
)


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2026, 11, 26, 15, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 26, 22, 0, 0, 123456, tzinfo=WIB),
        datetime(2026, 3, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5))),
    ],
    ids=str,
)
def test_both_paths_store_and_read_the_same(db: Database, backend: str, instant: datetime) -> None:
    row = {
        "username": "shop",
        "name": "Shop",
        "email": None,
        "is_verified": True,
        "subscription_active": False,
        "qris_bri": None,
        "qris_gopay": None,
        "ovo_number": None,
        "created_at": instant,
    }

    def write(conn: sa.Connection) -> tuple[int, int]:
        core = conn.execute(sa.insert(merchants).values(row).returning(merchants.c.id)).scalar_one()
        [fast] = statements.scalars(conn, INSERT, {**row, "username": "shop_2"})
        return core, fast

    core_id, fast_id = db.write_sync(write)

    def read(conn: sa.Connection) -> dict[str, Any]:
        stored = conn.execute(sa.text("SELECT id, created_at FROM merchants ORDER BY id")).all()
        return {
            "stored": [value for _id, value in stored],
            "core": [
                conn.execute(sa.select(merchants.c.created_at).where(merchants.c.id == i)).scalar_one()
                for i in (core_id, fast_id)
            ],
            "fast": [statements.first(conn, BY_ID, {"id": i}) for i in (core_id, fast_id)],
        }

    found = db.read_sync(read)
    assert found["stored"][0] == found["stored"][1]
    if backend == "sqlite":  # SQLAlchemy's SQLite DATETIME text of the UTC instant
        assert found["stored"][0] == instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    assert found["core"] == [instant, instant]
    assert found["fast"] == [{"created_at": instant}, {"created_at": instant}]
    assert all(value.tzinfo is UTC for value in found["core"])
    assert all(value["created_at"].tzinfo is UTC for value in found["fast"])

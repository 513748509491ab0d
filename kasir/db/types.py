"""Column and parameter types that behave the same on SQLite and PostgreSQL.

Their processors are what every path binds and reads with: SQLAlchemy's own execution, and the
statements run on the driver (kasir.db.statements) gather the same processors once per backend
(docs/architecture.md, "Data path").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect, processors
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in Python on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so we store naive UTC there and
    re-attach UTC on the way out. Comparisons in SQL stay correct on both because every stored
    value is UTC, and on SQLite because every value is written as the same text: SQLAlchemy's
    SQLite DATETIME text of the UTC instant, whichever zone the Python value was in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # The processors, the same on SQLAlchemy's path and on the driver's, are written out rather
    # than composed from the two methods above: they run for every datetime of a batch of
    # thousands of rows. Binding is cached, since a batch writes the same few instants (its
    # ``now``) again and again. On SQLite the text is what SQLAlchemy's SQLite DATETIME writes
    # (its own bind processor makes it); reading it is one call.

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        driver_bind = self.impl_instance.dialect_impl(dialect).bind_processor(dialect)
        if dialect.name == "sqlite":
            assert driver_bind is not None
            sqlite_text = driver_bind

            @lru_cache(maxsize=1024)
            def bound(value: datetime) -> Any:
                return sqlite_text(_utc(value).replace(tzinfo=None))

        elif driver_bind is None:
            bound = lru_cache(maxsize=1024)(_utc)
        else:
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> Any:
            return None if value is None else bound(value)

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        parse: Callable[[Any], Any] | None = self.impl_instance.dialect_impl(dialect).result_processor(dialect, coltype)
        utc = UTC
        if dialect.name == "sqlite":
            assert parse is not None
            if parse is processors.str_to_datetime:  # what SQLAlchemy reads its text with: called directly
                parse = datetime.fromisoformat
            text_of = parse

            def from_text(value: str | None) -> datetime | None:
                return None if value is None else cast(datetime, text_of(value)).replace(tzinfo=utc)

            return from_text
        if parse is not None:
            return super().result_processor(dialect, coltype)

        def in_utc(value: datetime | None) -> datetime | None:  # process_result_value, inlined
            if value is None:
                return None
            return value.replace(tzinfo=utc) if value.tzinfo is None else value.astimezone(utc)

        return in_utc


class ValueList(TypeDecorator[list[Any]]):
    """A list bound as one parameter (kasir.db.statements: ``in_list``, ``unnest``): on SQLite
    JSON text, which the statement reads with ``json_each``; on PostgreSQL the list itself, which
    the statement casts to an array of ``item``. Each value goes through ``item``'s own bind
    processor first, when it has one; no cast of its own (NullType): the statement says it."""

    impl = NullType
    cache_ok = True

    def __init__(self, item: TypeEngine[Any] | None = None) -> None:
        super().__init__()
        self.item = item

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        each = None if self.item is None else self.item.dialect_impl(dialect).bind_processor(dialect)
        if dialect.name == "sqlite":
            if each is None:
                return json.dumps
            return lambda values: json.dumps([each(v) for v in values])
        if each is None:
            return None
        return lambda values: [each(v) for v in values]

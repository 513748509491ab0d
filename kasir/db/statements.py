"""Statements written once as SQLAlchemy Core, compiled once per backend, run on the driver.

Every API request authenticates, pay pages and shops poll check-payment, and a batch of credits
runs a handful of statements over thousands of rows. Through SQLAlchemy's execution machinery
each statement costs ~40 µs more than the query itself (measured in benchmarks/), so the
statements of those paths are :class:`Statement` objects: a Core construct against
kasir.db.tables, declared by the package that owns the table (kasir.payments, kasir.merchants,
kasir.delivery), compiled the first time a backend runs it, and executed straight on the DBAPI
cursor of the caller's Connection, inside its transaction (docs/architecture.md, "Data path").

What SQLAlchemy's execution would do on the way is done once, at compile time: the SQL text in
the driver's parameter style, and the bind and result processors of the types involved, kept
only where they are not None. So both paths bind the same values (an aware datetime becomes the
same SQLite text, kasir.db.types.UTCDateTime) and read the same Python values (aware UTC
datetimes, real booleans), and the hot path pays only for the columns that need it.

Rows are plain dicts keyed by column name: a statement that selects a table (``select(table)``,
``returning(*table.c)``) carries a column added to it with nothing else to change.

A constant is written with :func:`const` (rendered into the SQL, where SQLite's planner can see
that ``status = 'pending'`` implies a partial index); every other value is a named
``bindparam``. A value the construct binds by itself is refused when it is compiled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Connection, Table, bindparam, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.selectable import FromClause, FromGrouping, ReturnsRows, TableValuedAlias
from sqlalchemy.types import NullType, TypeEngine

from kasir.db.loop import LoopConnection, NeedsThread
from kasir.db.types import ValueList

R = TypeVar("R", bound=Mapping[str, Any])
Processor = Callable[[Any], Any]
Params = Mapping[str, Any]

# SQLite allows 32,766 parameters per statement; a multi-row insert stays well below.
_SQLITE_PARAMETERS = 30_000


# --- what statements are written with ------------------------------------------------------------

_CONSTANT = re.compile(r"[A-Za-z0-9_.:-]*")


def const(value: str | int) -> ColumnElement[Any]:
    """A constant rendered into the SQL (``status = 'pending'``), not bound: SQLite's planner
    uses a partial index only when the query's own text implies the index's WHERE."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"const() takes a str or an int, not {value!r}")
    if isinstance(value, int):
        return literal_column(str(value))
    if not _CONSTANT.fullmatch(value):
        raise ValueError(f"const() is for names and codes, not {value!r}")
    return literal_column(f"'{value}'")


class _InList(ColumnElement[Any]):
    inherit_cache = True
    # Not Boolean: SQLite renders a Boolean element of a WHERE as ``(…) = 1``.
    type = NullType()

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.values = bindparam(name, type_=ValueList(column.type))


def in_list(column: ColumnElement[Any], name: str) -> ColumnElement[Any]:
    """``column`` is one of the values of the list parameter ``name``, in a statement whose text
    is the same whatever the list's length: ``= ANY(CAST(:name AS T[]))`` on PostgreSQL (an
    index lookup per value), ``IN (SELECT value FROM json_each(:name))`` on SQLite."""
    return _InList(column, name)


@compiles(_InList, "sqlite")
def _in_list_sqlite(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} IN (SELECT value FROM json_each({values}))"  # noqa: S608 - compiled parts


@compiles(_InList, "postgresql")
def _in_list_postgresql(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} = ANY(CAST({values} AS {_type_name(compiler, element.column.type)}[]))"


def _type_name(compiler: SQLCompiler, type_: TypeEngine[Any]) -> str:
    return str(compiler.dialect.type_compiler_instance.process(type_))


class _Array(ColumnElement[Any]):
    inherit_cache = True
    type = NullType()

    def __init__(self, name: str, item: TypeEngine[Any]) -> None:
        self.item = item
        self.values = bindparam(name, type_=ValueList(item))


@compiles(_Array, "postgresql")
def _array_postgresql(element: _Array, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.values, **kw)} AS {_type_name(compiler, element.item)}[])"


def array(name: str, item: TypeEngine[Any]) -> ColumnElement[Any]:
    """PostgreSQL: the list parameter ``name`` as an array of ``item``, ``CAST(:name AS T[])``;
    each value goes through ``item``'s bind processor."""
    return _Array(name, item)


def unnest(table: Table, columns: Sequence[str], *, name: str, prefix: str = "") -> TableValuedAlias:
    """PostgreSQL: rows given as one array parameter per column of ``table`` (each bound by the
    column's name, after ``prefix``), as a FROM ``unnest(CAST(:a AS T[]), …) AS name(a, …)``: a
    thousand rows in a statement with a placeholder per column, not per value (psycopg parses
    every placeholder each time, and caches only short queries)."""
    arrays = func.unnest(*(_Array(prefix + column, table.c[column].type) for column in columns))
    return arrays.table_valued(*columns).render_derived(name=name)


class _IndexedBy(FromGrouping):
    inherit_cache = True

    def __init__(self, table: Table, index: str) -> None:
        super().__init__(table)
        self.index = index

    @property
    def _hide_froms(self) -> Sequence[FromClause]:
        return [self.element]  # the table itself: selecting its columns adds no second FROM


@compiles(_IndexedBy)
def _indexed_by(element: _IndexedBy, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.element, **kw))


@compiles(_IndexedBy, "sqlite")
def _indexed_by_sqlite(element: _IndexedBy, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.element, **kw)} INDEXED BY {element.index}"


def indexed_by(table: Table, index: str) -> FromClause:
    """``table`` as a FROM that tells SQLite which index to use (``select_from`` it); other
    backends see the plain table. (SQLAlchemy's ``with_hint`` renders nothing on SQLite.)"""
    if index not in {ix.name for ix in table.indexes}:
        raise ValueError(f"{table.name} has no index {index}")
    return _IndexedBy(table, index)


def insert_for(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's own ``INSERT`` (SQLAlchemy writes ``ON CONFLICT`` per dialect): for a
    statement built per backend, ``Statement(lambda dialect: insert_for(dialect, t)…)``."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def insertable_columns(table: Table) -> tuple[str, ...]:
    """Every column of ``table`` but an autoincremented primary key: what a new row sets."""
    return tuple(c.key for c in table.c if not (c.primary_key and c.autoincrement in (True, "auto")))


def unset_columns(table: Table) -> dict[str, None]:
    """None for every insertable column without a server default: what a new row starts from,
    so that a nullable column added to ``table`` is written NULL by every writer with nothing to
    change. A column with a server default is left out: an insert of all the columns
    (``BulkInsert``, ``insertable_columns``) must be given its value, or fails with its name."""
    return {name: None for name in insertable_columns(table) if table.c[name].server_default is None}


# --- compiled statements -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """A statement compiled for one backend."""

    sql: str
    # The parameter of each placeholder in order (SQLite's ``?``), or None: by name (psycopg).
    names: tuple[str, ...] | None
    # The bind processors: by placeholder position, or by parameter name.
    binds: tuple[tuple[Any, Processor], ...]
    columns: tuple[str, ...]
    # The result processors, by column name.
    results: tuple[tuple[str, Processor], ...]

    def parameters(self, params: Params) -> Any:
        """``params`` as the driver takes them, converted."""
        if self.names is not None:
            values = [params[name] for name in self.names]
            for position, process in self.binds:
                values[position] = process(values[position])
            return values
        if self.binds:
            params = dict(params)
            for name, process in self.binds:
                params[name] = process(params[name])
        return params

    def record(self, row: Sequence[Any]) -> dict[str, Any]:
        """A driver's row as the dict of Python values SQLAlchemy's path would give."""
        record = dict(zip(self.columns, row, strict=True))
        for name, process in self.results:
            record[name] = process(record[name])
        return record

    def first_values(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        values = [row[0] for row in rows]
        for name, process in self.results:
            if name == self.columns[0]:
                return [process(value) for value in values]
        return values


class Statement(Generic[R]):
    """One statement: a Core construct, or a function of the dialect's name that builds it (for
    what SQLAlchemy writes per dialect, ``ON CONFLICT``), compiled on first use by each backend.

    ``column_keys``: for an ``INSERT``/``UPDATE``, columns it sets from parameters of their own
    names (what SQLAlchemy compiles for ``executemany``). ``binary``: PostgreSQL takes every
    parameter in binary (psycopg's ``%b``): for arrays, which as text psycopg would escape value
    by value on the way out. ``R`` types its rows (a TypedDict of the aggregate)."""

    __slots__ = ("_binary", "_build", "_column_keys", "_plans", "name")

    def __init__(
        self,
        construct: ClauseElement | Callable[[str], ClauseElement],
        *,
        name: str = "",
        column_keys: Sequence[str] | None = None,
        binary: bool = False,
    ) -> None:
        self._build = construct
        self._column_keys = None if column_keys is None else list(column_keys)
        self._binary = binary
        # By backend and driver: psycopg takes named placeholders, asyncpg numbered ones.
        self._plans: dict[tuple[str, str], Plan] = {}
        self.name = name

    def construct(self, dialect: str) -> ClauseElement:
        return self._build if isinstance(self._build, ClauseElement) else self._build(dialect)

    def plan(self, dialect: Dialect) -> Plan:
        key = (dialect.name, dialect.driver)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._compile(dialect)
        return plan

    def _compile(self, dialect: Dialect) -> Plan:
        construct = self.construct(dialect.name)
        compiled = cast(SQLCompiler, construct.compile(dialect=dialect, column_keys=self._column_keys))
        processors: dict[str, Processor | None] = {}
        for name, bind in compiled.binds.items():
            if not bind.required or bind.callable is not None or bind.expanding:
                raise CompileError(
                    f"statement {self.name or compiled.string!r}: parameter {name!r} has a value of "
                    "its own; write constants with kasir.db.statements.const(), bind the rest by name"
                )
            processors[name] = bind.type.dialect_impl(dialect).bind_processor(dialect)
        sql = compiled.string
        names: tuple[str, ...] | None = None
        binds: list[tuple[Any, Processor]]
        if compiled.positional:
            names = tuple(compiled.positiontup or ())
            binds = [(i, p) for i, name in enumerate(names) if (p := processors[name]) is not None]
        else:
            binds = [(name, p) for name, p in processors.items() if p is not None]
            if self._binary and dialect.name == "postgresql":
                for name in processors:
                    sql = sql.replace(f"%({name})s", f"%({name})b")
        columns, results = _result_plan(construct, dialect)
        return Plan(sql, names, tuple(binds), columns, results)


def _result_plan(
    construct: ClauseElement, dialect: Dialect
) -> tuple[tuple[str, ...], tuple[tuple[str, Processor], ...]]:
    if not isinstance(construct, ReturnsRows):
        return (), ()
    exported = construct.exported_columns
    names = tuple(exported.keys())
    if len(set(names)) != len(names):
        raise CompileError(f"columns of the same name in {names}: label them")
    results: list[tuple[str, Processor]] = []
    for name, column in zip(names, exported, strict=True):
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            results.append((name, process))
    return names, tuple(results)


# A unit's connection: SQLAlchemy's (a transaction on a thread, or inline SQLite), or the
# event loop's over asyncpg (kasir.db.loop), whose statements are compiled for that driver.
Conn = Connection | LoopConnection


def on_sqlalchemy(conn: Conn) -> Connection:
    """``conn`` for a cold branch of a hot unit that runs SQLAlchemy's own execution: on the
    event loop (a LoopConnection) the whole unit starts again on a thread (kasir.db.loop)."""
    if isinstance(conn, LoopConnection):
        raise NeedsThread("a branch of this unit runs SQLAlchemy's execution")
    return conn


def _cursor(conn: Connection) -> Any:
    driver = conn.connection.dbapi_connection
    assert driver is not None
    return driver.cursor()


def _fetch(conn: Conn, plan: Plan, params: Params) -> Sequence[Sequence[Any]]:
    """Every row of ``plan`` run with ``params`` (none for a statement that returns none)."""
    if isinstance(conn, LoopConnection):
        return conn.fetch(plan.sql, plan.parameters(params))
    cursor = _cursor(conn)
    try:
        cursor.execute(plan.sql, plan.parameters(params))
        return cast(Sequence[Sequence[Any]], cursor.fetchall() if cursor.description else [])
    finally:
        cursor.close()


def rows(conn: Conn, statement: Statement[R], params: Params) -> list[R]:
    """Every row of ``statement``, as dicts, inside the caller's transaction."""
    plan = statement.plan(conn.dialect)
    return cast(list[R], [plan.record(row) for row in _fetch(conn, plan, params)])


def first(conn: Conn, statement: Statement[R], params: Params) -> R | None:
    """The first row of ``statement``, or None."""
    plan = statement.plan(conn.dialect)
    if isinstance(conn, LoopConnection):
        row = conn.fetch_row(plan.sql, plan.parameters(params))
    else:
        cursor = _cursor(conn)
        try:
            cursor.execute(plan.sql, plan.parameters(params))
            row = cursor.fetchone()
        finally:
            cursor.close()
    return None if row is None else cast(R, plan.record(row))


def scalars(conn: Conn, statement: Statement[Any], params: Params) -> list[Any]:
    """The first column of every row: the ids a ``RETURNING`` gave, the values of a lookup."""
    plan = statement.plan(conn.dialect)
    return plan.first_values(_fetch(conn, plan, params))


def execute(conn: Conn, statement: Statement[Any], params: Params) -> int:
    """Run ``statement`` for its effect; the number of rows it changed."""
    plan = statement.plan(conn.dialect)
    if isinstance(conn, LoopConnection):
        return conn.run(plan.sql, plan.parameters(params))
    cursor = _cursor(conn)
    try:
        cursor.execute(plan.sql, plan.parameters(params))
        return int(cursor.rowcount)
    finally:
        cursor.close()


def execute_many(conn: Connection, statement: Statement[Any], params: Sequence[Params]) -> int:
    """``executemany`` of ``statement``, a set of parameters per row; the rows changed. SQLite's
    way: on PostgreSQL many rows go in one statement (``unnest``, ``BulkInsert``)."""
    if not params:
        return 0
    plan = statement.plan(conn.dialect)
    cursor = _cursor(conn)
    try:
        cursor.executemany(plan.sql, [plan.parameters(p) for p in params])
        return int(cursor.rowcount)
    finally:
        cursor.close()


# --- many rows in one statement ------------------------------------------------------------------


class BulkInsert:
    """A multi-row ``INSERT`` of ``table`` (``ON CONFLICT DO NOTHING`` when asked, ``RETURNING``
    some columns): a thousand rows cost one statement, and unlike ``executemany`` it says which
    rows went in (with ``on_conflict_do_nothing``, the rows a unique index refused are absent).

    ``columns``: what each row sets; by default every column but an autoincremented primary key
    (``insertable_columns``). SQLite gets a ``VALUES`` group per row (the single-row statement's
    own group, repeated); PostgreSQL one binary array per column through :func:`unnest`."""

    __slots__ = ("_groups", "_postgresql", "_sqlite", "columns", "returning", "table")

    def __init__(
        self,
        table: Table,
        *,
        columns: Sequence[str] | None = None,
        returning: Sequence[str] = (),
        on_conflict_do_nothing: bool = False,
    ) -> None:
        self.table = table
        self.columns = tuple(columns) if columns is not None else insertable_columns(table)
        if len(self.columns) < 2:
            raise ValueError("a bulk insert sets at least two columns")
        self.returning = tuple(returning)

        def finish(statement: postgresql.Insert | sqlite.Insert) -> Insert:
            if on_conflict_do_nothing:
                statement = statement.on_conflict_do_nothing()
            if self.returning:
                return statement.returning(*(table.c[name] for name in self.returning))
            return statement

        rows = unnest(table, self.columns, name="v")
        self._postgresql: Statement[dict[str, Any]] = Statement(
            finish(postgresql.insert(table).from_select(list(self.columns), select(*rows.c))), binary=True
        )
        self._sqlite: Statement[dict[str, Any]] = Statement(finish(sqlite.insert(table)), column_keys=self.columns)
        self._groups: dict[tuple[str, str], tuple[Plan, str, str, str]] = {}

    def sqlite_plan(self, dialect: Dialect) -> tuple[Plan, str, str, str]:
        """The single-row plan, and its text cut around its ``VALUES`` group: head, group, tail."""
        cut = self._groups.get((dialect.name, dialect.driver))
        if cut is None:
            plan = self._sqlite.plan(dialect)
            group = "(" + ", ".join(["?"] * len(self.columns)) + ")"
            head, found, tail = plan.sql.partition(group)
            if not found or group in tail or plan.names != self.columns:
                raise CompileError(f"no single VALUES group of the columns in {plan.sql!r}")
            cut = self._groups[(dialect.name, dialect.driver)] = (plan, head, group, tail)
        return cut

    def postgresql_plan(self, dialect: Dialect) -> Plan:
        return self._postgresql.plan(dialect)


def insert_many(conn: Conn, bulk: BulkInsert, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Insert ``rows`` (dicts holding at least ``bulk.columns``), inside the caller's transaction;
    the ``RETURNING`` columns of the rows that went in, as dicts."""
    if not rows:
        return []
    values = itemgetter(*bulk.columns)
    returned: list[dict[str, Any]] = []
    if conn.dialect.name == "postgresql":
        plan = bulk.postgresql_plan(conn.dialect)
        arrays = dict(zip(bulk.columns, map(list, zip(*map(values, rows), strict=True)), strict=True))
        return [plan.record(row) for row in _fetch(conn, plan, arrays)]
    assert isinstance(conn, Connection)
    cursor = _cursor(conn)
    try:
        plan, head, group, tail = bulk.sqlite_plan(conn.dialect)
        width = len(bulk.columns)
        per_statement = max(1, _SQLITE_PARAMETERS // width)
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = list(chain.from_iterable(map(values, chunk)))
            for position, process in plan.binds:  # only the columns whose type converts
                params[position::width] = [process(v) for v in params[position::width]]
            cursor.execute(head + ", ".join([group] * len(chunk)) + tail, params)
            if bulk.returning:
                returned.extend(plan.record(row) for row in cursor.fetchall())
    finally:
        cursor.close()
    return returned

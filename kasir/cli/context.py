"""What every ``kasir`` command shares (docs/architecture.md, "CLI"): the consoles, the settings
read from the environment, the database opened with its secret key, and the one place where a
known failure becomes a message on stderr and an exit code.

A command reads::

    settings = load_settings()
    with database(settings) as db:
        done = db.write_sync(owner_function)
    console.print(...)

``database`` disposes of the engine whatever happens, and turns a :class:`KasirError` raised
inside it into ``error: <message> (<code>)`` and exit code 2 (:func:`reported`). Exit code 1
is kept for a failure outside Kasir's control (a port in use, a file that cannot be read, an
unreachable URL), 2 for a refusal of what was asked (bad settings, no database, an unknown
merchant, a wrong key).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kasir import secrets_at_rest
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.db.migrate import upgrade
from kasir.errors import KasirError

# soft_wrap: a key, a secret or a path is printed on one line whatever the width (piped output
# is 80 columns), so that it can be copied; tables still fit the terminal. Made once, at import:
# rich reads the terminal's width then (tests/conftest.py clears COLUMNS before that).
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

# A refusal of what was asked; a failure of the world around (a port, a file, a URL) exits 1.
REFUSED = 2


def load_settings() -> Settings:
    """Settings from the environment; a bad KASIR_* value stops the command with its reason."""
    try:
        return Settings()
    except ValidationError as exc:
        for problem in exc.errors():
            reason = problem["msg"].removeprefix("Value error, ")
            # A check across several settings has no single variable to name; its message does.
            where = "_".join(str(part) for part in problem["loc"]).upper()
            err_console.print(f"[red]error:[/red] {'KASIR_' + where + ': ' if where else ''}{reason}")
        raise typer.Exit(code=REFUSED) from None


def fail(exc: KasirError) -> typer.Exit:
    """Print a refusal; the caller raises the exit it returns."""
    err_console.print(f"[red]error:[/red] {exc.message} ({exc.code})")
    return typer.Exit(code=REFUSED)


def _refuse_key(exc: secrets_at_rest.SecretKeyError) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=REFUSED)


@contextlib.contextmanager
def reported(*, hints: Mapping[str, str] | None = None) -> Iterator[None]:
    """Known failures raised inside become a message on stderr and exit code 2: a
    :class:`KasirError` as ``error: <message> (<code>)``, followed by ``hints[code]`` if there
    is one (what to do about it); a :class:`~kasir.secrets_at_rest.SecretKeyError` (a missing or
    wrong key) by its message alone. Anything else is a bug and keeps its traceback."""
    try:
        yield
    except KasirError as exc:
        failure = fail(exc)
        hint = (hints or {}).get(exc.code)
        if hint is not None:
            err_console.print(hint, highlight=False)
        raise failure from None
    except secrets_at_rest.SecretKeyError as exc:
        raise _refuse_key(exc) from None


def open_database(settings: Settings, *, create: bool = False, require_key: bool = True) -> Database:
    """The database, migrated (an up-to-date schema costs one version lookup), with its secret
    key loaded (see ``_load_secret_key``; ``require_key=False``: only if something needs it).
    The caller disposes of it; a command uses :func:`database`, which does.

    A SQLite file that does not exist yet is created only by ``kasir migrate`` or with
    ``--create``: ``KASIR_HOME`` is relative to the current folder, and a command run from
    another one would otherwise work on a new, empty database and answer "not found"."""
    path = settings.sqlite_path
    if path is not None and not create and not path.exists():
        relative = (
            ""
            if settings.home.is_absolute() or settings.database_url
            else (f" (KASIR_HOME={settings.home} is relative to the current folder, {Path.cwd()})")
        )
        err_console.print(
            f"[red]error:[/red] no Kasir database at {path}{relative}. Run this where your data is, "
            "set KASIR_HOME to its folder, or create a new database there with `kasir migrate`.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=REFUSED)
    db = Database(build_engine(settings.resolved_database_url))
    upgrade(db.engine)
    # A command allowed to create a SQLite database may create its key file too (`make run`).
    _load_secret_key(db, settings, create_key=create and path is not None, require_key=require_key)
    return db


def _load_secret_key(db: Database, settings: Settings, *, create_key: bool, require_key: bool) -> None:
    """Every command checks the key against the database before doing anything: a node with a
    missing or wrong key stops here, saying so, instead of failing (or signing nonsense) later.
    Notes (a key generated, clear secrets encrypted) go to stderr: stdout may be --json."""
    try:
        notes = secrets_at_rest.load_key(db, settings, create_key=create_key, require_key=require_key)
    except secrets_at_rest.SecretKeyError as exc:
        db.dispose()
        raise _refuse_key(exc) from None
    for note in notes:
        err_console.print(escape(note), highlight=False, soft_wrap=True)


@contextlib.contextmanager
def database(
    settings: Settings,
    *,
    create: bool = False,
    require_key: bool = True,
    hints: Mapping[str, str] | None = None,
) -> Iterator[Database]:
    """The database for the length of the block (:func:`open_database`), disposed of at its
    end; a known failure inside the block is reported as :func:`reported` says."""
    db = open_database(settings, create=create, require_key=require_key)
    try:
        with reported(hints=hints):
            yield db
    finally:
        db.dispose()


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, ids: Sequence[str]) -> None:
    """A table whose ``ids`` columns are never cut short or wrapped, however narrow the terminal:
    an id is copied from here into another command or call (``sandbox pay``, ``merchant set``,
    ``POST /v1/mutations/{id}/assign``), so it must come out whole. Other columns wrap instead."""
    table = Table()
    for index, header in enumerate(headers):
        if header in ids:
            widest = max((cell_len(row[index]) for row in rows), default=0)
            table.add_column(header, no_wrap=True, min_width=max(widest, cell_len(header)))
        else:
            table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)

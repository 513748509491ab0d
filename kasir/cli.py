"""The ``kasir`` command: serve, worker, migrate, merchant, demo, mutations, sandbox, qris, listen, trigger."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import socket
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from pydantic import ValidationError
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from typer.core import TyperArgument, TyperGroup

from kasir import __version__, dialects
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.db.migrate import upgrade
from kasir.devtools.trigger import EVENT_TYPES
from kasir.errors import KasirError
from kasir.logs import configure_logging
from kasir.merchants import service as merchants
from kasir.merchants.keys import Mode
from kasir.money import rupiah
from kasir.payments.methods import METHODS
from kasir.qris.cli import names_a_file, qris_app, read_source, rupiah_option
from kasir.qris.demo import is_demo

# Choice options are typed as Literals, so that the parser refuses any other value and lists the
# choices, and --help shows them. These choices come from the lists themselves (the events a
# sample exists for, the dialect registry, the payment methods), which mypy cannot read as
# Literal values: to it they are strings.
if TYPE_CHECKING:
    EventType = str
    DialectName = str
    Channel = str
else:
    EventType = Literal[EVENT_TYPES]
    DialectName = Literal[tuple(dialects.REGISTRY)]
    Channel = Literal[tuple(METHODS)]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
StatementFormat = Literal["auto", "csv", "json"]
Subscription = Literal["active", "inactive"]


class _NamedArgument(TyperArgument):
    """An argument shown by its metavar alone (FILE, USERNAME, EVENT): typer would follow it with
    its Python type (``<str>``, ``<path>``), which says less than the name does, or with all its
    choices on one line (a choice argument lists them in its help instead)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _name_arguments(command: Any) -> None:
    for param in command.params:
        if type(param) is TyperArgument and param.metavar:
            param.__class__ = _NamedArgument
    for sub in getattr(command, "commands", {}).values():
        _name_arguments(sub)


class _Commands(TyperGroup):
    """The ``kasir`` command tree. typer builds the subcommands first, so the root sees them all;
    typer offers no other hook into how an argument is shown in --help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _name_arguments(self)


# rich_markup_mode=None: Click's plain help. typer's rich panels print a type after every option,
# `<bool>` after each flag (--help included) and `<str>` after free text; the plain help names
# flags alone and free text by its metavar.
app = typer.Typer(
    help="Kasir: a self-hosted QRIS payment gateway.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    cls=_Commands,
)
merchant_app = typer.Typer(help="Create and configure merchants.", no_args_is_help=True)
app.add_typer(merchant_app, name="merchant")
mutations_app = typer.Typer(help="Credits on receiving accounts: import statements, reconcile.", no_args_is_help=True)
app.add_typer(mutations_app, name="mutations")
sandbox_app = typer.Typer(help="Test mode: act as the customer.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(qris_app, name="qris")
user_app = typer.Typer(help="People who sign in to a merchant's dashboard (/dashboard).", no_args_is_help=True)
app.add_typer(user_app, name="user")
secrets_app = typer.Typer(help="The key that encrypts the stored webhook secrets.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
# soft_wrap: a key, a secret or a path is printed on one line whatever the width (piped output
# is 80 columns), so that it can be copied; tables still fit the terminal.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DEMO_USERNAME = "demo"
DEMO_KEY_FILE = "demo-merchant.json"
DEMO_DASHBOARD_EMAIL = "demo@example.com"


def _settings() -> Settings:
    """Settings from the environment; a bad KASIR_* value stops the command with its reason."""
    try:
        return Settings()
    except ValidationError as exc:
        for problem in exc.errors():
            reason = problem["msg"].removeprefix("Value error, ")
            # A check across several settings has no single variable to name; its message does.
            where = "_".join(str(part) for part in problem["loc"]).upper()
            err_console.print(f"[red]error:[/red] {'KASIR_' + where + ': ' if where else ''}{reason}")
        raise typer.Exit(code=2) from None


def _database(settings: Settings, *, create: bool = False, require_key: bool = True) -> Database:
    """The database, migrated (an up-to-date schema costs one version lookup), with its secret
    key loaded (see ``_load_secret_key``; ``require_key=False``: only if something needs it).

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
        raise typer.Exit(code=2)
    db = Database(build_engine(settings.resolved_database_url))
    upgrade(db.engine)
    # A command allowed to create a SQLite database may create its key file too (`make run`).
    _load_secret_key(db, settings, create_key=create and path is not None, require_key=require_key)
    return db


def _load_secret_key(db: Database, settings: Settings, *, create_key: bool, require_key: bool) -> None:
    """Every command checks the key against the database before doing anything: a node with a
    missing or wrong key stops here, saying so, instead of failing (or signing nonsense) later.
    Notes (a key generated, clear secrets encrypted) go to stderr: stdout may be --json."""
    from rich.markup import escape

    from kasir import secrets_at_rest

    try:
        notes = secrets_at_rest.load_key(db, settings, create_key=create_key, require_key=require_key)
    except secrets_at_rest.SecretKeyError as exc:
        db.dispose()
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    for note in notes:
        err_console.print(escape(note), highlight=False, soft_wrap=True)


def _fail(exc: KasirError) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {exc.message} ({exc.code})")
    return typer.Exit(code=2)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kasir {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print kasir's version and exit.")
    ] = False,
) -> None:
    """Kasir: a self-hosted QRIS payment gateway."""


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, ids: Sequence[str]) -> None:
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


@app.command()
def migrate() -> None:
    """Create the database, or bring its schema up to date (safe to run any number of times)."""
    settings = _settings()
    # No key needed while nothing is stored that needs one: nodes of a new PostgreSQL migrate
    # before their operator has chosen it (each node stops at start until it is set).
    db = _database(settings, create=True, require_key=False)
    db.dispose()
    console.print(f"database is up to date: {_safe_url(settings)}")


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(metavar="HOST", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="TCP port.")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="API only: leave background work to other nodes.")
    ] = False,
    log_level: Annotated[LogLevel | None, typer.Option(help="Overrides KASIR_LOG_LEVEL (default info).")] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Also log one line per HTTP request (every pay-page poll too).")
    ] = False,
    create: Annotated[bool, typer.Option("--create", help="Create the SQLite database if there is none.")] = False,
) -> None:
    """Migrate, then serve the API (uvicorn with uvloop and httptools)."""
    import uvicorn

    from kasir.app import create_app

    settings = _settings()
    level = log_level or settings.log_level
    configure_logging(level, settings.log_format)
    base = f"http://{host}:{port}"
    if "public_url" not in settings.model_fields_set:
        # Links in answers (payment_url) must reach this server even on a non-default port.
        local = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - comparing, not binding
        settings = settings.model_copy(update={"public_url": f"http://{local}:{port}"})
    db = _database(settings, create=create)
    # Bound before anything is printed, so that a second `make run` says what is wrong in one
    # line instead of a banner followed by uvicorn's traceback; uvicorn serves on this socket.
    listening_socket = _listen_socket(host, port, hint="--port N (with make run: PORT=N make run)")
    console.print(f"[bold]Kasir[/bold] on {base}  (database: {_safe_url(settings)})")
    console.print(f"  API docs      {base}/docs")
    console.print(f"  OpenAPI       {base}/openapi.json")
    console.print(f"  bayar.gg API  {base}/api/create-payment.php …")
    console.print(f"  pay page      {settings.public_url}/pay?invoice=…")
    if settings.platform_qris is None:
        console.print("  method qris     off: set KASIR_PLATFORM_QRIS to your static QRIS (or `demo`)")
    elif is_demo(settings.platform_qris):
        console.print("  method qris     [yellow]DEMO QRIS[/yellow] (not payable; pay in test mode with the sandbox)")
    if settings.webhook_allow_private_networks:
        # `make run` turns it on (local development); a production server must not have it.
        console.print(
            "  callback URLs   [yellow]loopback and private networks allowed[/yellow] "
            "(KASIR_WEBHOOK_ALLOW_PRIVATE_NETWORKS=1: local development only)",
            soft_wrap=True,
        )
    if no_worker:
        console.print("  background work: off (--no-worker)")
    application = create_app(settings, database=db, background=not no_worker)
    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level=level,
        # Our handler on the root logger (configure_logging): uvicorn's loggers propagate to it.
        log_config=None,
        access_log=access_log,
        # uvicorn would otherwise trust X-Forwarded-For from 127.0.0.1 by default; which proxies
        # are trusted is KASIR_TRUSTED_PROXIES' decision (kasir.api.throttle).
        proxy_headers=False,
    )
    logging.getLogger("kasir.serve").info("listening on %s", base)
    uvicorn.Server(config).run(sockets=[listening_socket])
    db.dispose()


def _port_in_use(host: str, port: int, hint: str) -> typer.Exit:
    err_console.print(
        f"[red]error:[/red] port {port} on {host} is already in use (is Kasir running already?); "
        f"stop that program or choose another port: {hint}",
        highlight=False,
        soft_wrap=True,
    )
    return typer.Exit(code=1)


def _listen_socket(host: str, port: int, *, hint: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise _port_in_use(host, port, hint) from None
        err_console.print(f"[red]error:[/red] cannot listen on {host}:{port}: {exc.strerror}", highlight=False)
        raise typer.Exit(code=1) from None
    return sock


@app.command()
def worker(
    create: Annotated[bool, typer.Option("--create", help="Create the SQLite database if there is none.")] = False,
) -> None:
    """Deliver webhooks (and sweep expired payments) without serving the API.

    Any number of these may share one PostgreSQL. On SQLite one worker at a time serves the
    queue; a second one stands by until the first stops."""
    import asyncio
    import signal

    from kasir.delivery.worker import Worker
    from kasir.sweeper import run_sweeper

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    db = _database(settings, create=create)
    db.dispose()
    # On SQLite the worker's commits skip the fsync, so running them on the loop costs less than
    # the hop to a thread (measured in benchmarks/); PostgreSQL round trips go to threads.
    db = Database(build_engine(settings.resolved_database_url, bookkeeping=True))

    async def main() -> None:
        delivery = Worker(db, settings)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, delivery.stop)
        sweeper = asyncio.create_task(run_sweeper(db, settings))
        console.print(f"[bold]Kasir worker[/bold] delivering from {_safe_url(settings)}")
        try:
            await delivery.run()
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    import uvloop

    uvloop.run(main())  # the same loop as `kasir serve`; 15-20 % faster sends than asyncio's
    db.dispose()


@merchant_app.command("create")
def merchant_create(
    name: Annotated[str, typer.Option(metavar="NAME", help="Shop name.")],
    username: Annotated[
        str | None, typer.Option(metavar="USERNAME", help="a-z, 0-9, _; appears in invoice ids.")
    ] = None,
    email: Annotated[str | None, typer.Option(metavar="EMAIL", help="Contact email.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create a merchant. Its keys and webhook secrets are shown now, and never again."""
    settings = _settings()
    db = _database(settings)
    try:
        created = db.write_sync(lambda conn: merchants.create_merchant(conn, name=name, username=username, email=email))
    except KasirError as exc:
        raise _fail(exc) from None
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(_new_merchant_dict(created)))
        return
    console.print(
        f"merchant [bold]{created.username}[/bold] (id {created.id}) created. Keep these; they are shown once:"
    )
    for label, value in _new_merchant_dict(created).items():
        if label.endswith(("key", "secret")):
            console.print(f"  {label:22} {value}")


DashboardRole = Literal["owner", "developer", "cashier"]


@user_app.command("create")
def user_create(
    merchant: Annotated[str, typer.Option(metavar="USERNAME", help="The merchant whose dashboard it is.")],
    email: Annotated[str, typer.Option(metavar="EMAIL", help="What the person signs in with.")],
    role: Annotated[DashboardRole, typer.Option(help="owner, developer or cashier.")] = "owner",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create a dashboard user. Its one-time password is shown now, once, and must be changed at
    the first sign-in."""
    from kasir.clock import utcnow
    from kasir.dashboard import users

    settings = _settings()
    db = _database(settings)
    try:
        created = db.write_sync(lambda conn: users.create_user(conn, merchant, email, utcnow(), role=role))
    except KasirError as exc:
        raise _fail(exc) from None
    finally:
        db.dispose()
    sign_in = f"{settings.public_url}/dashboard/login"
    if as_json:
        shown = {"email": created.email, "merchant": created.merchant_username, "role": created.role}
        typer.echo(json.dumps({**shown, "one_time_password": created.password, "sign_in": sign_in}))
        return
    console.print(
        f"dashboard user [bold]{created.email}[/bold] ({created.role} of {created.merchant_username}) created."
    )
    console.print(f"  sign in at         {sign_in}", soft_wrap=True)
    console.print(
        f"  one-time password  {created.password}  (shown once; changed at the first sign-in)", soft_wrap=True
    )


@user_app.command("list")
def user_list(
    merchant: Annotated[str, typer.Option(metavar="USERNAME", help="The merchant whose dashboard it is.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """List a merchant's dashboard users: email, role, last sign-in (never a password)."""
    from kasir.clock import to_wire
    from kasir.dashboard import users

    settings = _settings()
    db = _database(settings)
    try:
        team = db.read_sync(lambda conn: users.team(conn, merchants.merchant_id_by_username(conn, merchant)))
    except KasirError as exc:
        raise _fail(exc) from None
    finally:
        db.dispose()
    shown = [
        {
            "email": user["email"],
            "role": user["role"],
            "created_at": to_wire(user["created_at"]),
            "last_sign_in_at": to_wire(user["last_sign_in_at"]) if user["last_sign_in_at"] else None,
        }
        for user in team
    ]
    if as_json:
        typer.echo(json.dumps(shown))
        return
    lines = [(user["email"], user["role"], user["last_sign_in_at"] or "never") for user in shown]
    # The email is what `kasir user remove` takes.
    _print_table(("email", "role", "last sign-in"), lines, ids=("email",))


@user_app.command("remove")
def user_remove(
    email: Annotated[str, typer.Option(metavar="EMAIL", help="The user to remove.")],
) -> None:
    """Remove a dashboard user: they cannot sign in again and their open sessions end at once.
    The last owner too (then make the next one with `kasir user create`)."""
    from kasir.clock import utcnow
    from kasir.dashboard import users

    settings = _settings()
    db = _database(settings)
    try:
        gone = db.write_sync(lambda conn: users.remove_by_operator(conn, email, utcnow()))
    except KasirError as exc:
        raise _fail(exc) from None
    finally:
        db.dispose()
    console.print(f"dashboard user [bold]{gone['email']}[/bold] ({gone['role']}) removed; their sessions ended.")
    if not gone["owners_left"]:
        console.print("  the merchant has no owner now: make one with kasir user create --role owner")


def _new_merchant_dict(created: merchants.NewMerchant) -> dict[str, Any]:
    return {
        "id": created.id,
        "username": created.username,
        "name": created.name,
        "email": created.email,
        "test_api_key": created.test_api_key,
        "live_api_key": created.live_api_key,
        "test_webhook_secret": created.test_webhook_secret,
        "live_webhook_secret": created.live_webhook_secret,
    }


@merchant_app.command("list")
def merchant_list(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False) -> None:
    """List merchants (never their keys)."""
    settings = _settings()
    db = _database(settings)
    rows = db.read_sync(merchants.list_merchants)
    db.dispose()
    shown = [
        {
            "id": r["id"],
            "username": r["username"],
            "name": r["name"],
            "email": r["email"],
            "subscription_active": bool(r["subscription_active"]),
            "integrations": [c for c in ("qris_bri", "qris_gopay", "ovo_number") if r[c]],
        }
        for r in rows
    ]
    if as_json:
        typer.echo(json.dumps(shown))
        return
    lines = [
        (
            str(r["id"]),
            r["username"],
            r["name"],
            "active" if r["subscription_active"] else "inactive",
            ", ".join(r["integrations"]) or "-",
        )
        for r in shown
    ]
    # The username is the id the other merchant commands take.
    _print_table(("id", "username", "name", "subscription", "channels"), lines, ids=("id", "username"))


@merchant_app.command("set")
def merchant_set(
    username: Annotated[str, typer.Argument(metavar="USERNAME", help="The merchant's username.")],
    subscription: Annotated[Subscription | None, typer.Option(help="The subscription flag.")] = None,
    qris_bri: Annotated[
        str | None,
        typer.Option(metavar="QRIS", help="Static BRI QRIS: the string or an image file of it ('' clears)."),
    ] = None,
    qris_gopay: Annotated[
        str | None,
        typer.Option(metavar="QRIS", help="Static GoPay Merchant QRIS: the string or an image file of it ('' clears)."),
    ] = None,
    ovo_number: Annotated[
        str | None,
        typer.Option(metavar="PHONE", help="OVO account's mobile number, as 0812-3456-7890 or +62 812… ('' clears)."),
    ] = None,
    email: Annotated[str | None, typer.Option(metavar="EMAIL", help="Contact email.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Save a QRIS even if its acquirer is not the channel's (BRI, GoPay).")
    ] = False,
) -> None:
    """Set a merchant's subscription flag and receiving channels.

    A QRIS is refused when its acquirer (as `kasir qris info` reads it) is not the channel's: the
    channel's credits are read from that account, so buyers' money would land where nothing
    confirms it."""
    settings = _settings()
    try:
        # Either option may name an image of the QR code instead of the string.
        bri, gopay = (read_source(v) if v and names_a_file(v) else v for v in (qris_bri, qris_gopay))
    except KasirError as exc:
        raise _fail(exc) from None
    db = _database(settings)
    try:
        row = db.write_sync(
            lambda conn: merchants.configure_merchant(
                conn,
                username,
                subscription_active=None if subscription is None else subscription == "active",
                qris_bri=bri,
                qris_gopay=gopay,
                ovo_number=ovo_number,
                email=email,
                check_acquirers=not force,
            )
        )
    except KasirError as exc:
        failure = _fail(exc)
        if exc.code == "qris_wrong_acquirer":
            err_console.print("  --force saves it anyway", highlight=False)
        raise failure from None
    finally:
        db.dispose()
    console.print(
        f"{row['username']}: subscription {'active' if row['subscription_active'] else 'inactive'}; "
        f"channels: {', '.join(c for c in ('qris_bri', 'qris_gopay', 'ovo_number') if row[c]) or 'none'}"
    )


@merchant_app.command("rotate-key")
def merchant_rotate_key(
    username: Annotated[str, typer.Argument(metavar="USERNAME", help="The merchant's username.")],
    mode: Annotated[Mode, typer.Option(help="Which of the merchant's two keys.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Revoke the merchant's API key for a mode and print a new one (the old one stops at once)."""
    settings = _settings()
    db = _database(settings)
    try:
        key = db.write_sync(lambda conn: merchants.rotate_key(conn, username, mode))
    except KasirError as exc:
        raise _fail(exc) from None
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps({"username": username, "mode": mode, "api_key": key}))
    else:
        console.print(f"new {mode} key for {username} (shown once): {key}")


@app.command()
def demo() -> None:
    """First-run set-up for `make run`: a demo merchant, created once; prints its test key.

    Keys are stored hashed, so the demo's test key is also kept in KASIR_HOME/demo-merchant.json
    (readable by you only) to be printed again on later runs. A demo for trying things out; real
    merchants come from `kasir merchant create`.
    """
    settings = _settings()
    db = _database(settings)
    key_file = settings.home / DEMO_KEY_FILE

    def ensure(conn: Any) -> dict[str, Any]:
        saved = _read_json(key_file)
        exists = any(m["username"] == DEMO_USERNAME for m in merchants.list_merchants(conn))
        if exists and saved:
            return saved
        if exists:  # the file was lost: issue a fresh key rather than leave the demo unusable
            return {
                "username": DEMO_USERNAME,
                "test_api_key": merchants.rotate_key(conn, DEMO_USERNAME, "test"),
            }
        created = merchants.create_merchant(conn, name="Toko Demo", username=DEMO_USERNAME, email="demo@example.com")
        return {
            "username": created.username,
            "test_api_key": created.test_api_key,
            "test_webhook_secret": created.test_webhook_secret,
        }

    demo_info = db.write_sync(ensure)
    demo_info["dashboard_email"] = DEMO_DASHBOARD_EMAIL
    demo_info["dashboard_password"] = db.write_sync(
        lambda conn: _ensure_demo_user(conn, demo_info.get("dashboard_password"))
    )
    # What the demo's pay pages will promise: which channels nothing confirms by itself.
    from kasir.payments.confirmation import automatic_sources, pollers_of
    from kasir.payments.sources import configured_sources

    pollers = pollers_of(configured_sources(settings, db))

    def unconfirmed(conn: Any) -> list[str]:
        [demo_id] = [m["id"] for m in merchants.list_merchants(conn) if m["username"] == DEMO_USERNAME]
        found = automatic_sources(conn, demo_id, "test", settings, pollers)
        return [method for method, names in found.items() if not names]

    manual = db.read_sync(unconfirmed)
    db.dispose()
    _write_private_json(key_file, demo_info)
    console.print(f"demo merchant [bold]{demo_info['username']}[/bold]")
    console.print(f"  test API key         {demo_info['test_api_key']}")
    if "test_webhook_secret" in demo_info:
        console.print(f"  test webhook secret  {demo_info['test_webhook_secret']}")
    console.print(f"  dashboard            {settings.public_url}/dashboard/login", soft_wrap=True)
    console.print(f"    email              {demo_info['dashboard_email']}", soft_wrap=True)
    console.print(f"    password           {demo_info['dashboard_password']}", soft_wrap=True)
    console.print(f"  (kept in {key_file})")
    # soft_wrap: one line each whatever the terminal's width, so that they can be grepped.
    if manual:
        console.print(
            f"  no confirmation source  {', '.join(manual)} (test mode): their pay pages say the seller confirms",
            soft_wrap=True,
        )
        console.print("    pay one by hand      kasir sandbox pay <invoice>", soft_wrap=True)
        console.print(
            "    confirm by itself    KASIR_SANDBOX_AUTOPAY=10, or a forwarder: POST /v1/forwarder (docs/mutations.md)",
            soft_wrap=True,
        )
    else:
        console.print("  confirmation         automatic on every channel (test mode)")


def _ensure_demo_user(conn: Any, saved_password: str | None) -> str:
    """The demo merchant's dashboard owner, and its password: the saved one, or a new one when
    the user is new or its password was not kept."""
    from kasir.clock import utcnow
    from kasir.dashboard import passwords, users

    user = users.find_by_email(conn, DEMO_DASHBOARD_EMAIL)
    if user is not None and saved_password and passwords.verify(user["password_hash"], saved_password):
        return saved_password
    password = passwords.one_time_password()
    if user is None:
        users.create_user(conn, DEMO_USERNAME, DEMO_DASHBOARD_EMAIL, utcnow(), role="owner", password=password)
    else:
        users.set_password(conn, user["id"], password, utcnow())
    return password


def _merchant_id(conn: Any, username: str | None) -> int | None:
    if username is None:
        return None
    for row in merchants.list_merchants(conn):
        if row["username"] == username:
            return int(row["id"])
    raise KasirError(f"no merchant named {username!r}", code="merchant_not_found")


@mutations_app.command("import")
def mutations_import(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, metavar="FILE", help="CSV or JSON export."),
    ],
    channel: Annotated[Channel, typer.Option(help="The account the statement is of.")],
    mode: Annotated[
        Mode,
        typer.Option(
            help="Which payments its credits may pay: live for real statements, test for test-mode payments. "
            "No default: a statement imported into the other mode pays nothing, and says nothing of it."
        ),
    ],
    merchant: Annotated[
        str | None,
        typer.Option(
            metavar="USERNAME",
            help="Whose account. Required for own channels; for qris it limits matching.",
        ),
    ] = None,
    fmt: Annotated[StatementFormat, typer.Option("--format", help="The file's format.")] = "auto",
    amount_column: Annotated[str | None, typer.Option(metavar="COLUMN", help="Column holding the amount.")] = None,
    reference_column: Annotated[
        str | None, typer.Option(metavar="COLUMN", help="Column holding the provider's reference.")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option(metavar="COLUMN", help="Column holding the time (WIB unless it says).")
    ] = None,
    description_column: Annotated[
        str | None, typer.Option(metavar="COLUMN", help="Column holding the description.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and check the file; store nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tally as JSON.")] = False,
) -> None:
    """Import a statement export: each credit is matched to a pending payment exactly as a
    reported one is; debits are skipped; a reference already imported is a no-op, so importing
    overlapping statements is safe. A file with any unreadable row is refused as a whole."""
    from rich.progress import Progress

    from kasir.clock import utcnow
    from kasir.payments.matching import account_of
    from kasir.payments.mutations import MAX_BATCH, Reporter
    from kasir.payments.statements import StatementError, read_statement

    settings = _settings()
    columns = {
        name: value
        for name, value in (
            ("amount", amount_column),
            ("reference", reference_column),
            ("occurred_at", time_column),
            ("description", description_column),
        )
        if value
    }
    try:
        statement = read_statement(
            file, channel=channel, now=utcnow(), clock_grace=settings.mutation_clock_grace, columns=columns, fmt=fmt
        )
    except (StatementError, UnicodeDecodeError) as exc:
        err_console.print(f"[red]error:[/red] {file}: {exc}")
        raise typer.Exit(code=1) from None
    if statement.errors:
        for line, problem in statement.errors[:20]:
            err_console.print(f"[red]line {line}:[/red] {problem}")
        more = f" ({len(statement.errors) - 20} more not shown)" if len(statement.errors) > 20 else ""
        err_console.print(f"[red]error:[/red] {len(statement.errors)} unreadable row(s){more}; nothing was imported")
        raise typer.Exit(code=1)
    db = _database(settings)
    counts = {"matched": 0, "unmatched": 0, "late": 0, "duplicate": 0}
    try:
        merchant_id = db.read_sync(lambda conn: _merchant_id(conn, merchant))
        reporter = Reporter(mode=mode, merchant_id=merchant_id, source="import")
        account_of(channel, reporter)  # refuses an own channel without --merchant, dry run or not
        if dry_run:
            tally = {"credits": len(statement.credits), "skipped": len(statement.skipped)}
            _print_tally(tally, as_json, f"{file} ({mode} mode): would import")
            return
        credits = [credit for _line, credit in statement.credits]
        with Progress(console=err_console, disable=as_json or not credits, transient=False) as progress:
            task = progress.add_task(f"importing {file.name} ({mode} mode)", total=len(credits))
            for start in range(0, len(credits), MAX_BATCH):
                batch = credits[start : start + MAX_BATCH]
                outcomes = db.write_sync(
                    partial(_ingest_batch, reporter=reporter, batch=batch, settings=settings), retry_conflicts=True
                )
                for outcome in outcomes:
                    counts["duplicate" if outcome.duplicate else outcome.mutation["status"]] += 1
                progress.advance(task, len(batch))
    except KasirError as exc:
        raise _fail(exc) from None
    finally:
        db.dispose()
    _print_tally({**counts, "skipped": len(statement.skipped)}, as_json, f"{file} ({mode} mode): imported")


def _ingest_batch(conn: Any, *, reporter: Any, batch: list[Any], settings: Settings) -> list[Any]:
    from kasir.clock import utcnow
    from kasir.payments.matching import ingest

    return ingest(conn, reporter, batch, settings, utcnow())


def _print_tally(tally: dict[str, int], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(tally))
        return
    # soft_wrap: one line whatever the terminal's width, so that a script can grep it.
    summary = title + " " + ", ".join(f"{count} {name}" for name, count in tally.items())
    console.print(summary, highlight=False, soft_wrap=True)


@mutations_app.command("list")
def mutations_list(
    mode: Annotated[
        Mode,
        typer.Option(
            help="Whose credits: live or test. No default, as for `mutations import`: "
            "an empty list must not hide the other mode's credits."
        ),
    ],
    merchant: Annotated[str | None, typer.Option(metavar="USERNAME", help="Only this merchant's.")] = None,
    unmatched: Annotated[bool, typer.Option("--unmatched", help="Only what needs reconciling.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, metavar="N", help="At most N credits.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """Credits, newest first: the operator's reconciliation view (every merchant's, and the
    shared QRIS credits nobody's payment claimed)."""
    import sqlalchemy as sa

    from kasir.db.tables import mutations

    settings = _settings()
    db = _database(settings)

    def read(conn: Any) -> list[dict[str, Any]]:
        query = sa.select(mutations).where(mutations.c.mode == mode)
        if merchant is not None:
            query = query.where(mutations.c.merchant_id == _merchant_id(conn, merchant))
        if unmatched:
            query = query.where(mutations.c.status != "matched")
        return [dict(r) for r in conn.execute(query.order_by(mutations.c.id.desc()).limit(limit)).mappings()]

    try:
        rows = db.read_sync(read)
    except KasirError as exc:
        raise _fail(exc) from None
    finally:
        db.dispose()
    from kasir.clock import to_wire

    shown = [
        {
            "id": r["public_id"],
            "channel": r["channel"],
            "amount": r["amount"],
            "reference": r["reference"],
            "occurred_at": to_wire(r["occurred_at"]),
            "status": r["status"],
            "source": r["source"],
        }
        for r in rows
    ]
    if as_json:
        typer.echo(json.dumps(shown))
        return
    whose = f" of {merchant}" if merchant else ""
    which = " needing a person" if unmatched else ""
    plural = "" if len(shown) == 1 else "s"
    console.print(f"{len(shown)} {mode}-mode credit{plural}{whose}{which}, newest first", highlight=False)
    lines = [
        (r["id"], r["channel"], f"Rp {rupiah(r['amount'])}", r["reference"], r["occurred_at"], r["status"], r["source"])
        for r in shown
    ]
    _print_table(("id", "channel", "amount", "reference", "occurred (WIB)", "status", "source"), lines, ids=("id",))


@sandbox_app.command("pay")
def sandbox_pay(
    invoice: Annotated[str, typer.Argument(metavar="INVOICE", help="Invoice id of a test-mode payment.")],
    amount: Annotated[
        str | None,
        typer.Option(metavar="RUPIAH", help="Pay this instead of the exact final amount (plain digits)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the credit as one JSON object.")] = False,
) -> None:
    """Pay a test-mode payment as its customer would: a credit of its exact final amount goes
    through matching, and payment.paid goes out to the merchant's webhooks."""
    import sqlalchemy as sa

    from kasir.clock import utcnow
    from kasir.db.tables import payments
    from kasir.errors import NotFound
    from kasir.payments import sandbox
    from kasir.payments.mutations import mutation_view

    try:
        credit = None if amount is None else rupiah_option(amount, "--amount")
    except KasirError as exc:
        raise _fail(exc) from None
    settings = _settings()
    db = _database(settings)

    def pay(conn: Any) -> dict[str, Any]:
        row = conn.execute(sa.select(payments).where(payments.c.invoice_id == invoice)).mappings().first()
        if row is None:
            raise NotFound(f"payment {invoice} not found", code="payment_not_found")
        return mutation_view(sandbox.pay(conn, dict(row), settings, utcnow(), amount=credit, source="sandbox").mutation)

    try:
        shown = db.write_sync(pay)
    except KasirError as exc:
        raise _fail(exc) from None
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(shown))
    elif shown["status"] == "matched":
        console.print(
            f"{invoice} is paid: credit {shown['id']} of Rp {rupiah(shown['amount'])} ({shown['reference']})",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            f"credit {shown['id']} of Rp {rupiah(shown['amount'])} was kept {shown['status']}; {invoice} is unpaid",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def trigger(
    event: Annotated[EventType, typer.Argument(metavar="EVENT", help=f"One of {', '.join(EVENT_TYPES)}.")],
    url: Annotated[str, typer.Option(metavar="URL", help="Where to send it (your receiver, or `kasir listen`).")],
    dialect: Annotated[DialectName, typer.Option(help="The receiver's dialect.")] = "bayargg",
    secret: Annotated[
        str | None, typer.Option(metavar="SECRET", help="Sign with this secret; default a new one, printed.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Send one realistic, signed sample event to URL and print the answer."""
    from kasir.devtools import trigger as sample

    chosen = secret or sample.new_secret()
    try:
        rendered = sample.render(sample.sample_event(event), dialect, chosen)
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from None
    try:
        answer = sample.send(url, rendered)
    except OSError as exc:
        err_console.print(f"[red]error:[/red] could not send to {url}: {exc}")
        raise typer.Exit(code=1) from None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "secret": chosen,
                    "request": {"headers": rendered.headers, "body": rendered.body.decode()},
                    "response": {
                        "status": answer.status,
                        "body": answer.body.decode("utf-8", "replace"),
                        "ms": round(answer.milliseconds, 1),
                    },
                }
            )
        )
    else:
        if secret is None:
            console.print(f"signed with a new secret: [bold]{chosen}[/bold]")
        console.print(f"[bold]POST[/bold] {url}  ({dialect}, {event})")
        for name, value in rendered.headers.items():
            console.print(f"  {name}: {value}", highlight=False, soft_wrap=True)
        colour = "green" if 200 <= answer.status < 300 else "red"
        console.print(f"[{colour}]{answer.status}[/{colour}] in {answer.milliseconds:.0f} ms")
        console.print(sample.pretty_body(answer.body), highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code=0 if 200 <= answer.status < 300 else 1)


@app.command()
def listen(
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 4567,
    host: Annotated[str, typer.Option(metavar="HOST", help="Interface to listen on.")] = "127.0.0.1",
    dialect: Annotated[DialectName, typer.Option(help="Dialect to verify.")] = "bayargg",
    secret: Annotated[
        str | None, typer.Option(metavar="SECRET", help="Verify with this secret (without one, nothing is verified).")
    ] = None,
    status: Annotated[
        int, typer.Option(metavar="STATUS", help="HTTP status to answer verified requests with (500 to watch retries).")
    ] = 200,
    forward_to: Annotated[
        str | None, typer.Option(metavar="URL", help="Forward each verified request here; answer its answer.")
    ] = None,
    server: Annotated[
        str | None, typer.Option(metavar="URL", help="A running Kasir to register with as a temporary endpoint.")
    ] = None,
    api_key: Annotated[str | None, typer.Option(metavar="KEY", help="That Kasir's API key (test mode).")] = None,
    public_host: Annotated[
        str | None, typer.Option(metavar="HOST", help="Host the server should call (default --host).")
    ] = None,
) -> None:
    """A local webhook receiver: verifies, prints and answers every request."""
    import threading

    from kasir.devtools import listen as listening

    if (server is None) != (api_key is None):
        err_console.print("[red]error:[/red] --server and --api-key go together")
        raise typer.Exit(code=2)

    def show(seen: listening.Received) -> None:
        mark = {True: "[green]verified[/green]", False: "[red]REFUSED[/red]", None: "[yellow]not verified[/yellow]"}
        what = seen.event_type or "?"
        console.print(
            f"{seen.at:%H:%M:%S} {seen.method} {seen.path} {mark[seen.verified]} {what} "
            f"{seen.event_id or ''} → {seen.answered}"
        )
        if seen.error:
            console.print(f"  {seen.error}", style="red", highlight=False, markup=False)
        from kasir.devtools.trigger import pretty_body

        # soft_wrap: no line breaks inside long values, so the printed body is JSON to copy.
        console.print(pretty_body(seen.body), highlight=False, markup=False, soft_wrap=True)

    listener = listening.Listener(dialect, secret, status, forward_to, on_request=show)
    try:
        httpd = listening.serve(listener, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise _port_in_use(host, port, "--port N") from None
        raise
    bound_port = httpd.server_address[1]
    endpoint_id = None
    if server is not None and api_key is not None:
        url = f"http://{public_host or host}:{bound_port}/"
        try:
            endpoint_id, listener.secret = listening.register(server, api_key, url, dialect)
        except listening.RegistrationError as exc:
            httpd.shutdown()
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(code=1) from None
        console.print(f"registered endpoint {endpoint_id} on {server} → {url}")
        # The app behind --forward-to verifies with it too.
        console.print(f"  its secret: {listener.secret}", highlight=False)
    console.print(
        f"[bold]kasir listen[/bold] on http://{host}:{bound_port}/  dialect {dialect}, "
        f"{'verifying' if listener.secret else 'NOT verifying (no --secret)'}; Ctrl+C to stop",
        highlight=False,
    )
    stop = threading.Event()
    try:
        while not stop.wait(20 * 60):
            if endpoint_id is not None and server is not None and api_key is not None:
                # A temporary endpoint expires on its own if we die; while we live, keep it alive.
                listening._api(
                    "PATCH",
                    f"{server.rstrip('/')}/v1/endpoints/{endpoint_id}",
                    api_key,
                    {"expires_in": listening.TEMPORARY_ENDPOINT_SECONDS},
                )
    except KeyboardInterrupt:
        pass
    finally:
        httpd.shutdown()
        if endpoint_id is not None and server is not None and api_key is not None:
            try:
                listening.unregister(server, api_key, endpoint_id)
                console.print(f"removed endpoint {endpoint_id}")
            except listening.RegistrationError as exc:
                err_console.print(f"[red]error:[/red] could not remove endpoint {endpoint_id}: {exc}")


@secrets_app.command("new-key")
def secrets_new_key() -> None:
    """Print a fresh key for KASIR_SECRET_KEY (32 random bytes, base64url). Nothing is stored."""
    from kasir import secrets_at_rest

    typer.echo(secrets_at_rest.new_key())


@secrets_app.command("rotate-key")
def secrets_rotate_key() -> None:
    """Re-encrypt every stored secret under a new key, in one transaction.

    With KASIR_SECRET_KEY: the new key is KASIR_SECRET_KEY, the old one(s) KASIR_SECRET_KEY_PREVIOUS.
    With the key file (KASIR_HOME/secret.key): a new key is generated and replaces the file once
    everything is re-encrypted. Webhook secrets themselves do not change."""
    from rich.markup import escape

    from kasir import secrets_at_rest

    settings = _settings()
    db = _database(settings)
    try:
        done = secrets_at_rest.rotate_key(db, settings)
    except secrets_at_rest.SecretKeyError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    finally:
        db.dispose()
    where = f"the key file {done.key_file}" if done.key_file else "KASIR_SECRET_KEY"
    console.print(
        f"re-encrypted {done.rewritten} of {done.stored} stored secrets under key {done.key_id} ({where})",
        highlight=False,
        soft_wrap=True,
    )
    if done.left:
        err_console.print(
            f"[yellow]{done.left} secret(s) were written under another key meanwhile[/yellow] (a node still "
            "running with the old key): restart every node with the new key, then run this again",
            highlight=False,
            soft_wrap=True,
        )
    console.print("next:", highlight=False)
    if done.key_file:
        console.print(
            "  restart kasir serve / kasir worker (make run): a running one still holds the old key and cannot "
            "read what is now stored",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            "  restart every node (kasir serve, kasir worker) with this KASIR_SECRET_KEY; once all run it, "
            "remove KASIR_SECRET_KEY_PREVIOUS from their environment",
            highlight=False,
            soft_wrap=True,
        )


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_private_json(path: Path, data: dict[str, Any]) -> None:
    from kasir.private_files import write_private_file

    write_private_file(path, json.dumps(data, indent=2).encode())


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def forward(ctx: typer.Context) -> None:
    """The phone forwarder (Termux): pair, run, status. Its own --help says more (docs/forwarder.md)."""
    from kasir.forward import main as forward_main

    raise typer.Exit(forward_main(ctx.args, prog="kasir forward"))


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""``kasir serve`` and ``kasir worker``: the long-running processes."""

from __future__ import annotations

import errno
import logging
import socket
from typing import Annotated, Literal

import typer

from kasir.cli.context import console, err_console, load_settings, open_database
from kasir.cli.root import app
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.logs import configure_logging
from kasir.qris.demo import is_demo

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


def safe_url(settings: Settings) -> str:
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

    settings = load_settings()
    level = log_level or settings.log_level
    configure_logging(level, settings.log_format)
    base = f"http://{host}:{port}"
    if "public_url" not in settings.model_fields_set:
        # Links in answers (payment_url) must reach this server even on a non-default port.
        local = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - comparing, not binding
        settings = settings.model_copy(update={"public_url": f"http://{local}:{port}"})
    db = open_database(settings, create=create)
    # Bound before anything is printed, so that a second `make run` says what is wrong in one
    # line instead of a banner followed by uvicorn's traceback; uvicorn serves on this socket.
    listening_socket = _listen_socket(host, port, hint="--port N (with make run: PORT=N make run)")
    console.print(f"[bold]Kasir[/bold] on {base}  (database: {safe_url(settings)})")
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


def port_in_use(host: str, port: int, hint: str) -> typer.Exit:
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
            raise port_in_use(host, port, hint) from None
        err_console.print(f"[red]error:[/red] cannot listen on {host}:{port}: {exc.strerror}", highlight=False)
        raise typer.Exit(code=1) from None
    return sock


@app.command()
def worker(
    create: Annotated[bool, typer.Option("--create", help="Create the SQLite database if there is none.")] = False,
) -> None:
    """Run the background without serving the API: deliver webhooks, expire payments, poll the
    mutation sources, check the payment sources' health and the alerts.

    Any number of these may share one PostgreSQL. On SQLite one worker at a time delivers; a
    second one stands by until the first stops (docs/architecture.md, "Background duties")."""
    import asyncio
    import signal

    from kasir.background import Background

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    # The sweeps and the pollers commit accepted data (an expiry, a payment paid) on this one.
    db = open_database(settings, create=create)
    # The delivery worker's own: its commits skip the fsync (kasir.db.engine.build_engine), so on
    # SQLite running them on the loop costs less than the hop to a thread (measured in
    # benchmarks/); on PostgreSQL its units run on the loop too, over asyncpg (kasir.db.loop).
    worker_db = Database(build_engine(settings.resolved_database_url, bookkeeping=True))

    async def main() -> None:
        background = Background(db, settings, worker_db=worker_db)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, background.request_stop)
        console.print(f"[bold]Kasir worker[/bold] delivering from {safe_url(settings)}")
        console.print(f"  background duties  {', '.join(background.names)}", highlight=False)
        try:
            await background.run()
        finally:
            await worker_db.aclose()
            await db.aclose()

    import uvloop

    try:
        uvloop.run(main())  # the same loop as `kasir serve`; 15-20 % faster sends than asyncio's
    finally:
        worker_db.dispose()
        db.dispose()

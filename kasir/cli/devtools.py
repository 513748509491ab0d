"""``kasir trigger`` and ``kasir listen``: the webhook developer's tools (kasir.devtools)."""

from __future__ import annotations

import errno
import json
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from kasir import dialects
from kasir.cli.context import console, err_console
from kasir.cli.root import app
from kasir.cli.server import port_in_use
from kasir.devtools.trigger import EVENT_TYPES

# Choice options are typed as Literals, so that the parser refuses any other value and lists the
# choices, and --help shows them. These choices come from the lists themselves (the events a
# sample exists for, the dialect registry), which mypy cannot read as Literal values: to it they
# are strings.
if TYPE_CHECKING:
    EventType = str
    DialectName = str
else:
    EventType = Literal[EVENT_TYPES]
    DialectName = Literal[tuple(dialects.REGISTRY)]


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
            raise port_in_use(host, port, "--port N") from None
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

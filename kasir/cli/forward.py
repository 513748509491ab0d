"""``kasir forward``: the phone forwarder (kasir.forward), which parses its own arguments."""

from __future__ import annotations

import typer

from kasir.cli.root import app


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def forward(ctx: typer.Context) -> None:
    """The phone forwarder (Termux): pair, run, status. Its own --help says more (docs/forwarder.md)."""
    from kasir.forward import main as forward_main

    raise typer.Exit(forward_main(ctx.args, prog="kasir forward"))

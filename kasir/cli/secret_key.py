"""``kasir secrets``: the key that encrypts the stored webhook secrets (kasir.secrets_at_rest)."""

from __future__ import annotations

import typer

from kasir import secrets_at_rest
from kasir.cli.context import console, database, err_console, load_settings

secrets_app = typer.Typer(help="The key that encrypts the stored webhook secrets.", no_args_is_help=True)


@secrets_app.command("new-key")
def secrets_new_key() -> None:
    """Print a fresh key for KASIR_SECRET_KEY (32 random bytes, base64url). Nothing is stored."""
    typer.echo(secrets_at_rest.new_key())


@secrets_app.command("rotate-key")
def secrets_rotate_key() -> None:
    """Re-encrypt every stored secret under a new key, in one transaction.

    With KASIR_SECRET_KEY: the new key is KASIR_SECRET_KEY, the old one(s) KASIR_SECRET_KEY_PREVIOUS.
    With the key file (KASIR_HOME/secret.key): a new key is generated and replaces the file once
    everything is re-encrypted. Webhook secrets themselves do not change."""
    settings = load_settings()
    with database(settings) as db:
        done = secrets_at_rest.rotate_key(db, settings)
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

"""The ``kasir`` command (docs/architecture.md, "CLI"): serve, worker, migrate, demo, trigger,
listen, forward, and the groups merchant, mutations, sandbox, qris, user, secrets.

One module per command or group, each registered on the root app of :mod:`kasir.cli.root`; what
they share (settings, the database, errors as exit codes, the consoles) is
:mod:`kasir.cli.context`. A command parses, calls the owning package's functions, and prints:
no SQL here."""

from __future__ import annotations

import kasir.alerts
import kasir.store  # noqa: F401 - registers the on-paid hook of WA Store orders (kasir.payments.paid_hooks)

# Each of these modules registers its commands on the root app as it is imported.
from kasir.cli import demo, devtools, forward, migrate, server  # noqa: F401
from kasir.cli.merchant import merchant_app
from kasir.cli.mutations import mutations_app
from kasir.cli.qris import qris_app
from kasir.cli.root import app
from kasir.cli.sandbox import sandbox_app
from kasir.cli.secret_key import secrets_app
from kasir.cli.user import user_app

# The commands, then the groups, in the order `kasir --help` lists them (the commands' modules
# import each other, so the order they are imported in is not theirs).
COMMANDS = ("migrate", "serve", "worker", "demo", "trigger", "listen", "forward")
app.registered_commands.sort(key=lambda command: COMMANDS.index(getattr(command.callback, "__name__", "")))
app.add_typer(merchant_app, name="merchant")
app.add_typer(mutations_app, name="mutations")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(qris_app, name="qris")
app.add_typer(user_app, name="user")
app.add_typer(secrets_app, name="secrets")

__all__ = ["app", "main"]


def main() -> None:
    app()

"""``kasir migrate``: create the database, or bring its schema up to date."""

from __future__ import annotations

from kasir.cli.context import console, database, load_settings
from kasir.cli.root import app
from kasir.cli.server import safe_url


@app.command()
def migrate() -> None:
    """Create the database, or bring its schema up to date (safe to run any number of times)."""
    settings = load_settings()
    # No key needed while nothing is stored that needs one: nodes of a new PostgreSQL migrate
    # before their operator has chosen it (each node stops at start until it is set).
    with database(settings, create=True, require_key=False):
        pass
    console.print(f"database is up to date: {safe_url(settings)}")

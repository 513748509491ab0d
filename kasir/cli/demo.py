"""``kasir demo``: the first-run set-up ``make run`` does, a demo merchant and its dashboard owner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from kasir.cli.context import console, database, load_settings
from kasir.cli.root import app
from kasir.merchants import lookup
from kasir.merchants import service as merchants

DEMO_USERNAME = "demo"
DEMO_KEY_FILE = "demo-merchant.json"
DEMO_DASHBOARD_EMAIL = "demo@example.com"


@app.command()
def demo() -> None:
    """First-run set-up for `make run`: a demo merchant, created once; prints its test key.

    Keys are stored hashed, so the demo's test key is also kept in KASIR_HOME/demo-merchant.json
    (readable by you only) to be printed again on later runs. A demo for trying things out; real
    merchants come from `kasir merchant create`.
    """
    # What the demo's pay pages will promise: which channels nothing confirms by itself.
    from kasir.payments.sources import configured_sources
    from kasir.sources.confirmation import automatic_sources, pollers_of

    settings = load_settings()
    key_file = settings.home / DEMO_KEY_FILE

    def ensure(conn: Connection) -> dict[str, Any]:
        saved = _read_json(key_file)
        exists = lookup.find_merchant_id(conn, DEMO_USERNAME) is not None
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

    with database(settings) as db:
        demo_info = db.write_sync(ensure)
        demo_info["dashboard_email"] = DEMO_DASHBOARD_EMAIL
        demo_info["dashboard_password"] = db.write_sync(
            lambda conn: _ensure_demo_user(conn, demo_info.get("dashboard_password"))
        )
        pollers = pollers_of(configured_sources(settings, db))

        def unconfirmed(conn: Connection) -> list[str]:
            demo_id = merchants.merchant_id_by_username(conn, DEMO_USERNAME)
            found = automatic_sources(conn, demo_id, "test", settings, pollers)
            return [method for method, names in found.items() if not names]

        manual = db.read_sync(unconfirmed)
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


def _ensure_demo_user(conn: Connection, saved_password: str | None) -> str:
    """The demo merchant's dashboard owner, and its password: the saved one, or a new one when
    the user is new or its password was not kept."""
    from kasir.clock import utcnow
    from kasir.team import passwords, users

    user = users.find_by_email(conn, DEMO_DASHBOARD_EMAIL)
    if user is not None and saved_password and passwords.verify(user["password_hash"], saved_password):
        return saved_password
    password = passwords.one_time_password()
    if user is None:
        users.create_user(conn, DEMO_USERNAME, DEMO_DASHBOARD_EMAIL, utcnow(), role="owner", password=password)
    else:
        users.set_password(conn, user["id"], password, utcnow())
    return password


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_private_json(path: Path, data: dict[str, Any]) -> None:
    from kasir.private_files import write_private_file

    write_private_file(path, json.dumps(data, indent=2).encode())

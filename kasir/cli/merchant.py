"""``kasir merchant``: create merchants, list them, set their channels, rotate their keys."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import typer

from kasir.cli.context import console, database, load_settings, print_table, reported
from kasir.cli.qris import names_a_file, read_source
from kasir.merchants import service as merchants
from kasir.merchants.keys import Mode

merchant_app = typer.Typer(help="Create and configure merchants.", no_args_is_help=True)

Subscription = Literal["active", "inactive"]
CHANNELS = ("qris_bri", "qris_gopay", "ovo_number")


def new_merchant_dict(created: merchants.NewMerchant) -> dict[str, Any]:
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
    with database(load_settings()) as db:
        created = db.write_sync(lambda conn: merchants.create_merchant(conn, name=name, username=username, email=email))
    if as_json:
        typer.echo(json.dumps(new_merchant_dict(created)))
        return
    console.print(
        f"merchant [bold]{created.username}[/bold] (id {created.id}) created. Keep these; they are shown once:"
    )
    for label, value in new_merchant_dict(created).items():
        if label.endswith(("key", "secret")):
            console.print(f"  {label:22} {value}")


@merchant_app.command("list")
def merchant_list(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False) -> None:
    """List merchants (never their keys)."""
    with database(load_settings()) as db:
        rows = db.read_sync(merchants.list_merchants)
    shown = [
        {
            "id": r["id"],
            "username": r["username"],
            "name": r["name"],
            "email": r["email"],
            "subscription_active": bool(r["subscription_active"]),
            "integrations": [c for c in CHANNELS if r[c]],
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
    print_table(("id", "username", "name", "subscription", "channels"), lines, ids=("id", "username"))


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
    settings = load_settings()
    with reported():
        # Either option may name an image of the QR code instead of the string.
        bri, gopay = (read_source(v) if v and names_a_file(v) else v for v in (qris_bri, qris_gopay))
    with database(settings, hints={"qris_wrong_acquirer": "  --force saves it anyway"}) as db:
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
    console.print(
        f"{row['username']}: subscription {'active' if row['subscription_active'] else 'inactive'}; "
        f"channels: {', '.join(c for c in CHANNELS if row[c]) or 'none'}"
    )


@merchant_app.command("rotate-key")
def merchant_rotate_key(
    username: Annotated[str, typer.Argument(metavar="USERNAME", help="The merchant's username.")],
    mode: Annotated[Mode, typer.Option(help="Which of the merchant's two keys.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Revoke the merchant's API key for a mode and print a new one (the old one stops at once)."""
    with database(load_settings()) as db:
        key = db.write_sync(lambda conn: merchants.rotate_key(conn, username, mode))
    if as_json:
        typer.echo(json.dumps({"username": username, "mode": mode, "api_key": key}))
    else:
        console.print(f"new {mode} key for {username} (shown once): {key}")

"""``kasir user``: the people who sign in to a merchant's dashboard."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer

from kasir.cli.context import console, database, load_settings, print_table
from kasir.clock import to_wire, utcnow
from kasir.merchants import service as merchants
from kasir.team import users

user_app = typer.Typer(help="People who sign in to a merchant's dashboard (/dashboard).", no_args_is_help=True)

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
    settings = load_settings()
    with database(settings) as db:
        created = db.write_sync(lambda conn: users.create_user(conn, merchant, email, utcnow(), role=role))
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
    with database(load_settings()) as db:
        team = db.read_sync(lambda conn: users.team(conn, merchants.merchant_id_by_username(conn, merchant)))
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
    print_table(("email", "role", "last sign-in"), lines, ids=("email",))


@user_app.command("remove")
def user_remove(
    email: Annotated[str, typer.Option(metavar="EMAIL", help="The user to remove.")],
) -> None:
    """Remove a dashboard user: they cannot sign in again and their open sessions end at once.
    The last owner too (then make the next one with `kasir user create`)."""
    with database(load_settings()) as db:
        gone = db.write_sync(lambda conn: users.remove_by_operator(conn, email, utcnow()))
    console.print(f"dashboard user [bold]{gone['email']}[/bold] ({gone['role']}) removed; their sessions ended.")
    if not gone["owners_left"]:
        console.print("  the merchant has no owner now: make one with kasir user create --role owner")

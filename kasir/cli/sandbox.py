"""``kasir sandbox``: test mode, the operator acting as a customer."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from kasir.cli.context import console, database, load_settings, reported
from kasir.cli.qris import rupiah_option
from kasir.money import rupiah

sandbox_app = typer.Typer(help="Test mode: act as the customer.", no_args_is_help=True)


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
    from kasir.clock import utcnow
    from kasir.payments import sandbox
    from kasir.payments.mutations import mutation_view

    with reported():
        credit = None if amount is None else rupiah_option(amount, "--amount")
    settings = load_settings()

    def pay(conn: Connection) -> dict[str, Any]:
        outcome = sandbox.pay_invoice(conn, invoice, settings, utcnow(), amount=credit, source="sandbox")
        return mutation_view(outcome.mutation)

    with database(settings) as db:
        shown = db.write_sync(pay)
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

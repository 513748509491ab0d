"""``kasir mutations``: import statement exports, list the credits (the operator's
reconciliation view)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from sqlalchemy import Connection

from kasir.cli.context import console, database, err_console, load_settings, print_table
from kasir.config import Settings
from kasir.merchants import service as merchants
from kasir.merchants.keys import Mode
from kasir.money import rupiah
from kasir.payments.methods import METHODS

mutations_app = typer.Typer(help="Credits on receiving accounts: import statements, reconcile.", no_args_is_help=True)

# A Literal, so that the parser refuses any other value and --help lists the choices; they come
# from the payment methods, which mypy cannot read as Literal values: to it they are strings.
if TYPE_CHECKING:
    Channel = str
else:
    Channel = Literal[tuple(METHODS)]
StatementFormat = Literal["auto", "csv", "json"]


def _merchant_id(conn: Connection, username: str | None) -> int | None:
    return None if username is None else merchants.merchant_id_by_username(conn, username)


@mutations_app.command("import")
def mutations_import(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, metavar="FILE", help="CSV or JSON export."),
    ],
    channel: Annotated[Channel, typer.Option(help="The account the statement is of.")],
    mode: Annotated[
        Mode,
        typer.Option(
            help="Which payments its credits may pay: live for real statements, test for test-mode payments. "
            "No default: a statement imported into the other mode pays nothing, and says nothing of it."
        ),
    ],
    merchant: Annotated[
        str | None,
        typer.Option(
            metavar="USERNAME",
            help="Whose account. Required for own channels; for qris it limits matching.",
        ),
    ] = None,
    fmt: Annotated[StatementFormat, typer.Option("--format", help="The file's format.")] = "auto",
    amount_column: Annotated[str | None, typer.Option(metavar="COLUMN", help="Column holding the amount.")] = None,
    reference_column: Annotated[
        str | None, typer.Option(metavar="COLUMN", help="Column holding the provider's reference.")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option(metavar="COLUMN", help="Column holding the time (WIB unless it says).")
    ] = None,
    description_column: Annotated[
        str | None, typer.Option(metavar="COLUMN", help="Column holding the description.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and check the file; store nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tally as JSON.")] = False,
) -> None:
    """Import a statement export: each credit is matched to a pending payment exactly as a
    reported one is; debits are skipped; a reference already imported is a no-op, so importing
    overlapping statements is safe. A file with any unreadable row is refused as a whole."""
    from rich.progress import Progress

    from kasir.clock import utcnow
    from kasir.payments.matching import account_of
    from kasir.payments.mutations import MAX_BATCH, Reporter
    from kasir.payments.statements import StatementError, read_statement

    settings = load_settings()
    columns = {
        name: value
        for name, value in (
            ("amount", amount_column),
            ("reference", reference_column),
            ("occurred_at", time_column),
            ("description", description_column),
        )
        if value
    }
    try:
        statement = read_statement(
            file, channel=channel, now=utcnow(), clock_grace=settings.mutation_clock_grace, columns=columns, fmt=fmt
        )
    except (StatementError, UnicodeDecodeError) as exc:
        err_console.print(f"[red]error:[/red] {file}: {exc}")
        raise typer.Exit(code=1) from None
    if statement.errors:
        for line, problem in statement.errors[:20]:
            err_console.print(f"[red]line {line}:[/red] {problem}")
        more = f" ({len(statement.errors) - 20} more not shown)" if len(statement.errors) > 20 else ""
        err_console.print(f"[red]error:[/red] {len(statement.errors)} unreadable row(s){more}; nothing was imported")
        raise typer.Exit(code=1)
    counts = {"matched": 0, "unmatched": 0, "late": 0, "duplicate": 0}
    with database(settings) as db:
        merchant_id = db.read_sync(lambda conn: _merchant_id(conn, merchant))
        reporter = Reporter(mode=mode, merchant_id=merchant_id, source="import")
        account_of(channel, reporter)  # refuses an own channel without --merchant, dry run or not
        if dry_run:
            tally = {"credits": len(statement.credits), "skipped": len(statement.skipped)}
            _print_tally(tally, as_json, f"{file} ({mode} mode): would import")
            return
        credits = [credit for _line, credit in statement.credits]
        with Progress(console=err_console, disable=as_json or not credits, transient=False) as progress:
            task = progress.add_task(f"importing {file.name} ({mode} mode)", total=len(credits))
            for start in range(0, len(credits), MAX_BATCH):
                batch = credits[start : start + MAX_BATCH]
                outcomes = db.write_sync(
                    partial(_ingest_batch, reporter=reporter, batch=batch, settings=settings), retry_conflicts=True
                )
                for outcome in outcomes:
                    counts["duplicate" if outcome.duplicate else outcome.mutation["status"]] += 1
                progress.advance(task, len(batch))
    _print_tally({**counts, "skipped": len(statement.skipped)}, as_json, f"{file} ({mode} mode): imported")


def _ingest_batch(conn: Connection, *, reporter: Any, batch: list[Any], settings: Settings) -> list[Any]:
    from kasir.clock import utcnow
    from kasir.payments.matching import ingest

    return ingest(conn, reporter, batch, settings, utcnow())


def _print_tally(tally: dict[str, int], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(tally))
        return
    # soft_wrap: one line whatever the terminal's width, so that a script can grep it.
    summary = title + " " + ", ".join(f"{count} {name}" for name, count in tally.items())
    console.print(summary, highlight=False, soft_wrap=True)


@mutations_app.command("list")
def mutations_list(
    mode: Annotated[
        Mode,
        typer.Option(
            help="Whose credits: live or test. No default, as for `mutations import`: "
            "an empty list must not hide the other mode's credits."
        ),
    ],
    merchant: Annotated[str | None, typer.Option(metavar="USERNAME", help="Only this merchant's.")] = None,
    unmatched: Annotated[bool, typer.Option("--unmatched", help="Only what needs reconciling.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, metavar="N", help="At most N credits.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """Credits, newest first: the operator's reconciliation view (every merchant's, and the
    shared QRIS credits nobody's payment claimed)."""
    from kasir.clock import to_wire
    from kasir.payments import ledger

    def read(conn: Connection) -> list[dict[str, Any]]:
        whose = _merchant_id(conn, merchant)
        return ledger.operator_credits(conn, mode=mode, merchant_id=whose, unmatched=unmatched, limit=limit)

    with database(load_settings()) as db:
        rows = db.read_sync(read)
    shown = [
        {
            "id": r["public_id"],
            "channel": r["channel"],
            "amount": r["amount"],
            "reference": r["reference"],
            "occurred_at": to_wire(r["occurred_at"]),
            "status": r["status"],
            "source": r["source"],
        }
        for r in rows
    ]
    if as_json:
        typer.echo(json.dumps(shown))
        return
    whose = f" of {merchant}" if merchant else ""
    which = " needing a person" if unmatched else ""
    plural = "" if len(shown) == 1 else "s"
    console.print(f"{len(shown)} {mode}-mode credit{plural}{whose}{which}, newest first", highlight=False)
    lines = [
        (r["id"], r["channel"], f"Rp {rupiah(r['amount'])}", r["reference"], r["occurred_at"], r["status"], r["source"])
        for r in shown
    ]
    print_table(("id", "channel", "amount", "reference", "occurred (WIB)", "status", "source"), lines, ids=("id",))

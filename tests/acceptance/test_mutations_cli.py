"""``kasir mutations import|list`` and ``kasir sandbox pay`` as an operator uses them.

The commands run through typer's CliRunner with KASIR_DATABASE_URL pointing at the test's
database (SQLite and PostgreSQL, see ``backend``); what they did is read back from the database:
payments, the stored credits, and the ``payment.paid`` rows of the outbox.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from kasir.cli import app
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant, authenticate
from tests.conftest import row_counts, writes_nothing
from tests.payment_helpers import create, credit_rows, paid_events, stored

Invoke = Callable[..., Result]

# Written here, not imported from kasir.clock: the tests must not share the code under test.
WIB = timezone(timedelta(hours=7))
HEADER = "Tanggal;Keterangan;Nominal;Tipe;No. Referensi\n"
TALLY_KEYS = {"matched", "unmatched", "late", "duplicate", "skipped"}


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"KASIR_DATABASE_URL": database_url, "KASIR_HOME": str(tmp_path / "home")}


@pytest.fixture
def run(cli_env: dict[str, str]) -> Invoke:
    runner = CliRunner()

    def invoke(*args: str | Path, code: int = 0, columns: int | None = None) -> Result:
        # COLUMNS: the terminal width rich lays tables out for.
        env = {**cli_env, **({"COLUMNS": str(columns)} if columns else {})}
        result = runner.invoke(app, [str(a) for a in args], env=env)
        assert result.exit_code == code, (result.exit_code, result.output, result.exception)
        if code != 0:
            # A refusal is a message, never a traceback.
            assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
            assert "Traceback" not in result.output
        return result

    return invoke


def said(result: Result) -> str:
    """Everything printed, with rich's line wrapping undone."""
    return " ".join(result.output.split())


def wib_now(offset: timedelta = timedelta(0)) -> str:
    """Now, as an Indonesian export prints it."""
    return (datetime.now(UTC) + offset).astimezone(WIB).strftime("%d/%m/%Y %H:%M:%S")


def statement(tmp_path: Path, rows: list[tuple[int | str, str, str]], name: str = "mutasi.csv") -> Path:
    """An Indonesian ``;`` export: rows of (amount, CR/DB, reference), all timed now."""
    path = tmp_path / name
    text = HEADER + "".join(
        f"{wib_now()};TRANSFER {i};{amount if isinstance(amount, str) else f'Rp {amount:,}'.replace(',', '.')};"
        f"{kind};{ref}\n"
        for i, (amount, kind, ref) in enumerate(rows)
    )
    path.write_text(text, encoding="utf-8")
    return path


def import_json(run: Invoke, path: Path, *extra: str, code: int = 0) -> dict[str, int]:
    result = run("mutations", "import", path, *extra, "--json", code=code)
    tally = json.loads(result.stdout)
    assert isinstance(tally, dict)
    return {str(k): int(v) for k, v in tally.items()}


# --- mutations import -----------------------------------------------------------------------


def test_import_pays_exact_amounts_skips_debits_and_keeps_the_rest(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    first = create(db, settings, merchant.test_api_key, 50000)
    second = create(db, settings, merchant.test_api_key, 75000)
    untouched = create(db, settings, merchant.test_api_key, 90000)
    path = statement(
        tmp_path,
        [
            (first["final_amount"], "CR", "OVO-1001"),
            (first["final_amount"], "DB", "OVO-1002"),  # a debit of the right amount pays nothing
            (second["final_amount"], "CR", "OVO-1003"),
            (12345, "CR", "OVO-1004"),  # nobody's amount
        ],
    )

    tally = import_json(run, path, "--channel", "qris", "--merchant", merchant.username, "--mode", "test")
    assert tally == {"matched": 2, "unmatched": 1, "late": 0, "duplicate": 0, "skipped": 1}

    for payment, reference in ((first, "OVO-1001"), (second, "OVO-1003")):
        row = stored(db, payment["invoice_id"])
        assert row["status"] == "paid"
        assert row["paid_reff_num"] == reference
        assert row["paid_amount"] == payment["final_amount"]
        assert paid_events(db, payment["invoice_id"]) == 1
    assert stored(db, untouched["invoice_id"])["status"] == "pending"
    assert paid_events(db, untouched["invoice_id"]) == 0

    credits = {c["reference"]: c for c in credit_rows(db)}
    assert set(credits) == {"OVO-1001", "OVO-1003", "OVO-1004"}
    assert {c["source"] for c in credits.values()} == {"import"}
    assert {c["mode"] for c in credits.values()} == {"test"}
    assert credits["OVO-1001"]["status"] == credits["OVO-1003"]["status"] == "matched"
    assert credits["OVO-1001"]["payment_id"] == first["id"]
    assert credits["OVO-1004"]["status"] == "unmatched"
    assert credits["OVO-1004"]["amount"] == 12345

    # What the import left unmatched is the operator's to reconcile.
    listed = json.loads(run("mutations", "list", "--mode", "test", "--unmatched", "--json").stdout)
    assert [(m["reference"], m["amount"], m["status"], m["source"], m["channel"]) for m in listed] == [
        ("OVO-1004", 12345, "unmatched", "import", "qris")
    ]
    assert listed[0]["id"] == credits["OVO-1004"]["public_id"]
    everything = json.loads(run("mutations", "list", "--mode", "test", "--json").stdout)
    assert {m["reference"] for m in everything} == {"OVO-1001", "OVO-1003", "OVO-1004"}
    assert json.loads(run("mutations", "list", "--mode", "live", "--json").stdout) == []

    # The same file again: every credit is a duplicate, and nothing changes.
    with writes_nothing(db):
        again = import_json(run, path, "--channel", "qris", "--merchant", merchant.username, "--mode", "test")
    assert again == {"matched": 0, "unmatched": 0, "late": 0, "duplicate": 3, "skipped": 1}


def test_import_prints_a_readable_tally(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    path = statement(tmp_path, [(payment["final_amount"], "CR", "R-1"), (5000, "DB", "R-2")])
    out = said(run("mutations", "import", path, "--channel", "qris", "--mode", "test"))
    assert f"{path} (test mode): imported 1 matched, 0 unmatched, 0 late, 0 duplicate, 1 skipped" in out
    assert stored(db, payment["invoice_id"])["status"] == "paid"


def test_the_mode_has_no_default(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    """A statement imported into the other mode pays nothing and says nothing of it, so the mode
    is never assumed: without --mode the import is refused, naming both modes, and stores nothing."""
    test_payment = create(db, settings, merchant.test_api_key)
    path = statement(tmp_path, [(test_payment["final_amount"], "CR", "R-1")])
    with writes_nothing(db):
        out = said(run("mutations", "import", path, "--channel", "qris", code=2))
        assert "Missing option '--mode'. Choose from: test, live" in out
        assert "--mode" in said(run("mutations", "import", path, "--channel", "qris", "--dry-run", code=2))


def test_a_live_import_never_pays_a_test_payment_and_says_it_was_live(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    test_payment = create(db, settings, merchant.test_api_key)
    path = statement(tmp_path, [(test_payment["final_amount"], "CR", "R-1")])
    out = said(run("mutations", "import", path, "--channel", "qris", "--mode", "live"))
    assert f"{path} (live mode): imported 0 matched, 1 unmatched" in out
    assert stored(db, test_payment["invoice_id"])["status"] == "pending"
    assert [c["mode"] for c in credit_rows(db)] == ["live"]


def test_merchant_limits_what_a_qris_import_may_pay(
    run: Invoke,
    db: Database,
    settings: Settings,
    merchant: NewMerchant,
    other_merchant: NewMerchant,
    tmp_path: Path,
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    theirs = statement(tmp_path, [(payment["final_amount"], "CR", "R-1")], name="theirs.csv")
    tally = import_json(run, theirs, "--channel", "qris", "--merchant", other_merchant.username, "--mode", "test")
    assert tally["unmatched"] == 1
    assert stored(db, payment["invoice_id"])["status"] == "pending"
    # Without --merchant the credits are the operator's own feed: any merchant's payment.
    operator = statement(tmp_path, [(payment["final_amount"], "CR", "R-2")], name="operator.csv")
    assert import_json(run, operator, "--channel", "qris", "--mode", "test")["matched"] == 1
    assert stored(db, payment["invoice_id"])["paid_reff_num"] == "R-2"


def test_an_own_channel_import_pays_the_merchants_own_payment(
    run: Invoke, db: Database, settings: Settings, subscribed_merchant: NewMerchant, tmp_path: Path
) -> None:
    key = subscribed_merchant.test_api_key
    ovo = create(db, settings, key, 60000, method="ovo")
    qris = create(db, settings, key, 60000, method="qris")
    # Both may hold the same final amount: they are on different accounts.
    path = statement(tmp_path, [(ovo["final_amount"], "CR", "OVO-1"), (qris["final_amount"], "CR", "OVO-2")])
    tally = import_json(run, path, "--channel", "ovo", "--merchant", subscribed_merchant.username, "--mode", "test")
    assert tally["matched"] == 1
    assert stored(db, ovo["invoice_id"])["status"] == "paid"
    assert stored(db, ovo["invoice_id"])["paid_reff_num"] == "OVO-1"
    assert stored(db, qris["invoice_id"])["status"] == "pending"


def test_a_credit_after_expiry_is_late_and_listed_for_reconciliation(
    run: Invoke,
    db: Database,
    settings: Settings,
    merchant: NewMerchant,
    other_merchant: NewMerchant,
    tmp_path: Path,
) -> None:
    # Over ten minutes ago; nobody has swept it yet.
    expired = create(
        db, settings, merchant.test_api_key, at=datetime.now(UTC) - timedelta(seconds=settings.payment_ttl + 600)
    )
    paid = create(db, settings, merchant.test_api_key, 60000)
    theirs = create(db, settings, other_merchant.test_api_key, 70000)
    path = statement(
        tmp_path,
        [
            (expired["final_amount"], "CR", "LATE-1"),
            (paid["final_amount"], "CR", "PAID-1"),
            (theirs["final_amount"] + 1, "CR", "WRONG-1"),
        ],
    )
    tally = import_json(run, path, "--channel", "qris", "--mode", "test")
    assert tally == {"matched": 1, "unmatched": 1, "late": 1, "duplicate": 0, "skipped": 0}
    assert stored(db, expired["invoice_id"])["status"] == "expired"
    assert paid_events(db, expired["invoice_id"]) == 0

    listed = json.loads(run("mutations", "list", "--mode", "test", "--unmatched", "--json").stdout)
    assert sorted((m["reference"], m["status"]) for m in listed) == [("LATE-1", "late"), ("WRONG-1", "unmatched")]
    # The late credit is the merchant's whose payment it was late for; the paid one too.
    mine = json.loads(run("mutations", "list", "--mode", "test", "--merchant", merchant.username, "--json").stdout)
    assert sorted(m["reference"] for m in mine) == ["LATE-1", "PAID-1"]
    limited = json.loads(run("mutations", "list", "--mode", "test", "--limit", "1", "--json").stdout)
    assert len(limited) == 1


def test_list_needs_a_mode_and_says_which_it_shows(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    """Listing live by default showed an empty table to an operator working in test mode."""
    payment = create(db, settings, merchant.test_api_key)
    run(
        "mutations",
        "import",
        statement(tmp_path, [(payment["final_amount"] + 1, "CR", "M-1")]),
        "--channel",
        "qris",
        "--mode",
        "test",
    )
    out = said(run("mutations", "list", code=2))
    assert "Missing option '--mode'. Choose from: test, live" in out
    assert "1 test-mode credit, newest first" in said(run("mutations", "list", "--mode", "test"))
    assert "0 live-mode credits, newest first" in said(run("mutations", "list", "--mode", "live"))
    shown = said(run("mutations", "list", "--mode", "test", "--merchant", merchant.username, "--unmatched"))
    assert f"test-mode credits of {merchant.username} needing a person" in shown


def test_list_prints_ids_whole_and_amounts_in_rupiah_in_a_narrow_terminal(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    """A mutation id is what `assign` takes: cut to "mut_4f1…" it cannot be copied. Amounts read
    as Indonesians write them, dots for thousands."""
    payment = create(db, settings, merchant.test_api_key, 50000)
    stray = payment["final_amount"] + 1234567
    path = statement(tmp_path, [(stray, "CR", "SETORAN-TUNAI-2026112210150300001")])
    run("mutations", "import", path, "--channel", "qris", "--mode", "test")
    [listed] = json.loads(run("mutations", "list", "--mode", "test", "--json").stdout)
    for columns in (60, 80, 200):
        out = run("mutations", "list", "--mode", "test", columns=columns).stdout
        assert listed["id"] in out, (columns, out)
        assert max(len(line) for line in out.splitlines()) <= columns
    out = said(run("mutations", "list", "--mode", "test", columns=200))
    assert f"Rp {stray // 1000000}.{stray // 1000 % 1000:03d}.{stray % 1000:03d}" in out
    assert f"{stray:,}" not in out


def test_a_file_with_an_unreadable_row_is_refused_whole(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    path = statement(
        tmp_path,
        [
            (payment["final_amount"], "CR", "R-1"),  # line 2: fine on its own
            (5000, "DB", "R-2"),  # line 3
            ("Rp 50.000,50", "CR", "R-3"),  # line 4: half a rupiah
        ],
    )
    with writes_nothing(db):
        result = run("mutations", "import", path, "--channel", "qris", "--mode", "test", code=1)
    out = said(result)
    assert "line 4" in out
    assert "line 2" not in out
    assert "nothing was imported" in out
    assert stored(db, payment["invoice_id"])["status"] == "pending"


def test_a_repeated_reference_in_the_file_is_refused(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    path = statement(tmp_path, [(payment["final_amount"], "CR", "DUP"), (70000, "CR", "DUP")])
    with writes_nothing(db):
        out = said(run("mutations", "import", path, "--channel", "qris", "--mode", "test", code=1))
    assert "line 3" in out


def test_a_file_that_is_not_a_statement_is_refused(run: Invoke, db: Database, tmp_path: Path) -> None:
    no_amount = tmp_path / "saldo.csv"
    no_amount.write_text("Tanggal;Saldo;No. Referensi\n22/11/2026;50.000;R-1\n")
    not_json = tmp_path / "broken.json"
    not_json.write_text("[{")
    utf16 = tmp_path / "excel.csv"
    utf16.write_bytes("amount;reference\n50000;A\n".encode("utf-16"))
    with writes_nothing(db):
        live = ("--channel", "qris", "--mode", "live")
        assert "amount" in said(run("mutations", "import", no_amount, *live, code=1))
        run("mutations", "import", not_json, *live, code=1)
        run("mutations", "import", utf16, *live, code=1)
        # A column named on the command line must exist.
        out = said(run("mutations", "import", no_amount, *live, "--amount-column", "Kredit", code=1))
        assert "Kredit" in out
        # A file that is not there is a usage error.
        run("mutations", "import", tmp_path / "missing.csv", *live, code=2)


def test_columns_can_be_named_on_the_command_line(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    path = tmp_path / "custom.csv"
    path.write_text(
        "Waktu Masuk,Jumlah Masuk,Kode Bank,Uraian\n"
        f"{wib_now()},{payment['final_amount']},KB-77,SETORAN\n"
        f"{wib_now()},1000,KB-78,SETORAN\n"
    )
    tally = import_json(
        run,
        path,
        "--channel",
        "qris",
        "--mode",
        "test",
        "--amount-column",
        "Jumlah Masuk",
        "--reference-column",
        "Kode Bank",
        "--time-column",
        "Waktu Masuk",
        "--description-column",
        "Uraian",
    )
    assert tally == {"matched": 1, "unmatched": 1, "late": 0, "duplicate": 0, "skipped": 0}
    assert stored(db, payment["invoice_id"])["paid_reff_num"] == "KB-77"
    assert {c["description"] for c in credit_rows(db)} == {"SETORAN"}


def test_a_json_statement_imports_like_a_csv(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    path = tmp_path / "export.json"
    path.write_text(
        json.dumps({"mutations": [{"amount": payment["final_amount"], "reference": "J-1"}, {"amount": -500, "id": 2}]})
    )
    assert set(import_json(run, path, "--channel", "qris", "--mode", "test")) == TALLY_KEYS
    assert stored(db, payment["invoice_id"])["paid_reff_num"] == "J-1"


def test_dry_run_reads_the_file_and_stores_nothing(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    path = statement(tmp_path, [(payment["final_amount"], "CR", "R-1"), (5000, "DB", "R-2"), (7000, "CR", "R-3")])
    with writes_nothing(db):
        result = run("mutations", "import", path, "--channel", "qris", "--mode", "test", "--dry-run", "--json")
    assert json.loads(result.stdout) == {"credits": 2, "skipped": 1}
    with writes_nothing(db):
        out = said(run("mutations", "import", path, "--channel", "qris", "--mode", "live", "--dry-run"))
    assert f"{path} (live mode): would import 2 credits, 1 skipped" in out
    assert stored(db, payment["invoice_id"])["status"] == "pending"


def test_bad_arguments_are_refused_and_store_nothing(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    path = statement(tmp_path, [(payment["final_amount"], "CR", "R-1")])
    with writes_nothing(db):
        out = said(run("mutations", "import", path, "--channel", "bogus", "--mode", "test", code=2))
        assert "'qris', 'qris_user', 'gopay_qris', 'ovo'" in out
        out = said(run("mutations", "import", path, "--channel", "qris", "--mode", "sandbox", code=2))
        assert "'test', 'live'" in out
        out = said(run("mutations", "import", path, "--channel", "qris", "--mode", "test", "--format", "xls", code=2))
        assert "'auto', 'csv', 'json'" in out
        # An own channel is a merchant's own account: whose?
        out = said(run("mutations", "import", path, "--channel", "ovo", "--mode", "test", code=2))
        assert "merchant_required" in out
        out = said(
            run("mutations", "import", path, "--channel", "qris", "--merchant", "nobody", "--mode", "live", code=2)
        )
        assert "merchant_not_found" in out
        out = said(run("mutations", "list", "--merchant", "nobody", "--mode", "live", code=2))
        assert "merchant_not_found" in out
    assert stored(db, payment["invoice_id"])["status"] == "pending"


def test_an_ancient_time_is_refused_and_listing_keeps_working(
    cli_env: dict[str, str], db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "ancient.csv"
    path.write_text("Tanggal;Nominal;No. Referensi\n01/01/0999 10:00;50.000;OLD-1\n")
    counts = row_counts(db)
    result = CliRunner().invoke(
        app, ["mutations", "import", str(path), "--channel", "qris", "--mode", "live"], env=cli_env
    )
    listing = CliRunner().invoke(app, ["mutations", "list", "--mode", "live", "--json"], env=cli_env)
    assert listing.exit_code == 0, listing.exception
    assert result.exit_code == 1
    assert row_counts(db) == counts


def test_a_nul_character_is_a_line_error_not_a_crash(cli_env: dict[str, str], db: Database, tmp_path: Path) -> None:
    path = tmp_path / "nul.json"
    path.write_text(json.dumps([{"amount": 50000, "reference": "A\u0000B", "description": "x\u0000y"}]))
    counts = row_counts(db)
    result = CliRunner().invoke(
        app, ["mutations", "import", str(path), "--channel", "qris", "--mode", "live"], env=cli_env
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1
    assert "line 1" in said(result)
    assert row_counts(db) == counts


# --- sandbox pay ----------------------------------------------------------------------------


def test_sandbox_pay_pays_a_test_payment_once(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    shown = json.loads(run("sandbox", "pay", payment["invoice_id"], "--json").stdout)
    assert shown["status"] == "matched"
    assert shown["source"] == "sandbox"
    assert shown["invoice_id"] == payment["invoice_id"]
    assert shown["amount"] == payment["final_amount"]
    assert shown["mode"] == "test"

    row = stored(db, payment["invoice_id"])
    assert row["status"] == "paid"
    assert row["paid_reff_num"] == shown["reference"]
    assert paid_events(db, payment["invoice_id"]) == 1
    [credit] = credit_rows(db)
    assert (credit["source"], credit["public_id"], credit["payment_id"]) == ("sandbox", shown["id"], payment["id"])

    with writes_nothing(db):
        out = said(run("sandbox", "pay", payment["invoice_id"], code=2))
    assert "payment_not_pending" in out
    assert paid_events(db, payment["invoice_id"]) == 1


def test_sandbox_pay_says_what_it_did(run: Invoke, db: Database, settings: Settings, merchant: NewMerchant) -> None:
    payment = create(db, settings, merchant.test_api_key, 75000)
    out = said(run("sandbox", "pay", payment["invoice_id"]))
    assert f"{payment['invoice_id']} is paid" in out
    # Rp 75.194, as Indonesians write it; never Rp 75,194.
    final = payment["final_amount"]
    assert f" of Rp {final // 1000}.{final % 1000:03d} " in out
    assert f"{final:,}" not in out


def test_sandbox_pay_refuses_live_payments(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    payment = create(db, settings, merchant.live_api_key)
    with writes_nothing(db):
        out = said(run("sandbox", "pay", payment["invoice_id"], code=2))
    assert "sandbox_test_mode_only" in out
    assert stored(db, payment["invoice_id"])["status"] == "pending"


def test_sandbox_pay_with_another_amount_leaves_the_payment_pending(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    wrong = payment["final_amount"] - 1
    shown = json.loads(run("sandbox", "pay", payment["invoice_id"], "--amount", str(wrong), "--json").stdout)
    assert (shown["status"], shown["amount"], shown["invoice_id"]) == ("unmatched", wrong, None)
    assert stored(db, payment["invoice_id"])["status"] == "pending"
    assert paid_events(db, payment["invoice_id"]) == 0
    listed = json.loads(run("mutations", "list", "--mode", "test", "--unmatched", "--json").stdout)
    assert [(m["id"], m["amount"], m["source"]) for m in listed] == [(shown["id"], wrong, "sandbox")]
    # Said in words, too.
    out = said(run("sandbox", "pay", payment["invoice_id"], "--amount", str(wrong)))
    assert "unpaid" in out
    assert f" of Rp {wrong // 1000}.{wrong % 1000:03d} was kept unmatched" in out


def test_sandbox_pay_refuses_what_it_cannot_pay(
    run: Invoke, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    pending = create(db, settings, merchant.test_api_key)
    overdue = create(
        db, settings, merchant.test_api_key, at=datetime.now(UTC) - timedelta(seconds=settings.payment_ttl + 60)
    )
    with writes_nothing(db):
        assert "payment_not_found" in said(run("sandbox", "pay", "PAY-nobody-1-AAAAAA", code=2))
        assert "payment_not_pending" in said(run("sandbox", "pay", overdue["invoice_id"], code=2))
        for amount in ("0", "-5"):
            out = said(run("sandbox", "pay", pending["invoice_id"], "--amount", amount, code=2))
            assert "invalid_amount" in out
    assert stored(db, pending["invoice_id"])["status"] == "pending"


# --- first run ------------------------------------------------------------------------------


def test_merchant_create_on_a_brand_new_home_after_migrate(tmp_path: Path) -> None:
    """The default database is SQLite inside KASIR_HOME; neither exists until `kasir migrate`."""
    home = tmp_path / "brand" / "new" / "home"
    runner = CliRunner()
    env = {"KASIR_HOME": str(home)}
    migrated = runner.invoke(app, ["migrate"], env=env)
    assert migrated.exit_code == 0, (migrated.output, migrated.exception)
    created = runner.invoke(app, ["merchant", "create", "--name", "Toko Pertama", "--json"], env=env)
    assert created.exit_code == 0, (created.output, created.exception)
    out = json.loads(created.stdout)
    assert out["username"] == "toko_pertama"
    assert (home / "kasir.db").exists()
    listed = runner.invoke(app, ["merchant", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert [m["username"] for m in json.loads(listed.stdout)] == ["toko_pertama"]
    # The keys it printed are the keys the database knows.
    from kasir.db.engine import build_engine

    database = Database(build_engine(f"sqlite:///{home / 'kasir.db'}"))
    try:
        assert database.read_sync(lambda conn: authenticate(conn, out["test_api_key"])).username == "toko_pertama"
    finally:
        database.dispose()

"""``read_statement``: a bank or e-wallet export (CSV or JSON) as credits, with what it skipped
(debits, zero rows) and what it could not read, line by line. It stores nothing.

Times here are written as the export would print them (WIB wall time) and checked against UTC
instants computed by hand, not with ``kasir.clock``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from kasir.payments.mutations import Credit
from kasir.payments.statements import Statement, StatementError, read_statement

# 2026-11-22 12:00:00 in Jakarta.
NOW = datetime(2026, 11, 22, 5, 0, 0, tzinfo=UTC)
GRACE = 120
WIB = timezone(timedelta(hours=7))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def wib(moment: datetime, fmt: str = "%d/%m/%Y %H:%M:%S") -> str:
    return moment.astimezone(WIB).strftime(fmt)


def read(
    tmp_path: Path,
    text: str,
    name: str = "mutasi.csv",
    *,
    channel: str = "qris",
    now: datetime = NOW,
    grace: int = GRACE,
    columns: dict[str, str] | None = None,
    fmt: str = "auto",
    encoding: str = "utf-8",
) -> Statement:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return read_statement(path, channel=channel, now=now, clock_grace=grace, columns=columns, fmt=fmt)


def lines(entries: list[tuple[int, Any]]) -> list[int]:
    return [line for line, _ in entries]


def only_error_lines(statement: Statement) -> list[int]:
    return lines(statement.errors)


# --- layouts --------------------------------------------------------------------------------


def test_an_indonesian_export_with_semicolons(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "Tanggal;Keterangan;Nominal;Tipe;No. Referensi\n"
        "22/11/2026 10:15:03;TRANSFER DARI BUDI;Rp 50.123,00;CR;OVO-8812734\n"
        "22/11/2026 10:20:00;BAYAR LISTRIK;Rp 15.000,00;DB;OVO-8812735\n"
        "22/11/2026 10:30:00;TRANSFER DARI SITI;Rp 1.250.000;CR;OVO-8812736\n",
    )
    assert statement.errors == []
    assert statement.credits == [
        (2, Credit("qris", 50123, "OVO-8812734", utc(2026, 11, 22, 3, 15, 3), "TRANSFER DARI BUDI")),
        (4, Credit("qris", 1250000, "OVO-8812736", utc(2026, 11, 22, 3, 30, 0), "TRANSFER DARI SITI")),
    ]
    assert lines(statement.skipped) == [3]
    assert "debit" in statement.skipped[0][1].lower()


def test_an_english_export_with_commas_and_quoted_amounts(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "date,description,amount,type,reference\n"
        '2026-11-22 10:15:03,"Transfer from Budi, Jakarta","50,123.00",CR,TRX-1\n'
        '2026-11-22T03:16:00Z,Refund,"15,000.00",DB,TRX-2\n'
        "2026-11-22T10:17:00+07:00,Top up,75000,CR,TRX-3\n",
        channel="ovo",
    )
    assert statement.errors == []
    assert statement.credits == [
        (2, Credit("ovo", 50123, "TRX-1", utc(2026, 11, 22, 3, 15, 3), "Transfer from Budi, Jakarta")),
        (4, Credit("ovo", 75000, "TRX-3", utc(2026, 11, 22, 3, 17, 0), "Top up")),
    ]
    assert lines(statement.skipped) == [3]


def test_a_tab_separated_export(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "Tanggal\tKeterangan\tNominal\tNo. Referensi\n"
        "22/11/2026 09:00:00\tTRF, BUDI; JKT\t50.000\tR-1\n"
        "22/11/2026 09:05:00\tTRF SITI\t60.000\tR-2\n",
        name="mutasi.tsv",
    )
    assert statement.errors == []
    assert statement.credits == [
        (2, Credit("qris", 50000, "R-1", utc(2026, 11, 22, 2, 0, 0), "TRF, BUDI; JKT")),
        (3, Credit("qris", 60000, "R-2", utc(2026, 11, 22, 2, 5, 0), "TRF SITI")),
    ]


def test_a_pipe_separated_export(tmp_path: Path) -> None:
    statement = read(tmp_path, "amount|reference\n50.000|P-1\n60.000|P-2\n")
    assert [(line, c.amount, c.reference) for line, c in statement.credits] == [(2, 50000, "P-1"), (3, 60000, "P-2")]


def test_separate_debit_and_credit_columns(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "Tanggal;Keterangan;Debit;Kredit;No. Referensi\n"
        "22/11/2026 10:00:00;MASUK BUDI;;50.000,00;K-1\n"
        "22/11/2026 10:01:00;TARIK TUNAI;15.000,00;;K-2\n"
        "22/11/2026 10:02:00;MASUK SITI;;60.000,00;K-3\n",
    )
    assert statement.errors == []
    assert [(line, c.amount, c.reference) for line, c in statement.credits] == [(2, 50000, "K-1"), (4, 60000, "K-3")]
    assert lines(statement.skipped) == [3]


def test_a_bca_style_mutasi_column_with_cr_and_db_suffixes(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "Tanggal Transaksi,Keterangan,Mutasi,ID Transaksi\n"
        '22/11/2026 08:00,TRSF E-BANKING,"50,000.00 CR",B-1\n'
        '22/11/2026 08:10,BIAYA ADM,"15,000.00 DB",B-2\n',
    )
    assert statement.errors == []
    assert [(line, c.amount, c.reference, c.occurred_at) for line, c in statement.credits] == [
        (2, 50000, "B-1", utc(2026, 11, 22, 1, 0, 0))
    ]
    assert lines(statement.skipped) == [3]


@pytest.mark.parametrize("word", ["CR", "cr", "K", "Kredit", "credit", "masuk", "IN", "+"])
def test_credit_words_in_the_type_column(tmp_path: Path, word: str) -> None:
    statement = read(tmp_path, f"Nominal;Tipe;Ref\n50.000;{word};R-1\n")
    assert statement.errors == []
    assert [c.amount for _, c in statement.credits] == [50000]


@pytest.mark.parametrize("word", ["DB", "db", "D", "Debit", "debet", "keluar", "OUT", "-"])
def test_debit_words_in_the_type_column(tmp_path: Path, word: str) -> None:
    statement = read(tmp_path, f"Nominal;Tipe;Ref\n50.000;{word};R-1\n")
    assert statement.errors == []
    assert statement.credits == []
    assert lines(statement.skipped) == [2]


def test_signed_and_suffixed_debits_and_zero_amounts_are_skipped_with_their_lines(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "amount;reference\n50.000;A\n-15.000;B\n15.000 DB;C\n0;D\nRp 0,00;E\n70.000;F\n",
    )
    assert statement.errors == []
    assert [(line, c.reference) for line, c in statement.credits] == [(2, "A"), (7, "F")]
    assert lines(statement.skipped) == [3, 4, 5, 6]
    assert "zero" in dict(statement.skipped)[5]


def test_without_a_time_column_the_credit_has_no_time(tmp_path: Path) -> None:
    [(_, credit)] = read(tmp_path, "amount,reference\n50000,R\n").credits
    assert credit.occurred_at is None
    assert credit.description is None


def test_headers_are_matched_without_regard_to_case_or_spaces(tmp_path: Path) -> None:
    statement = read(tmp_path, " TANGGAL ; NOMINAL ;  no. referensi \n22/11/2026 11:00;50.000;R-1\n")
    assert statement.credits == [(2, Credit("qris", 50000, "R-1", utc(2026, 11, 22, 4, 0, 0)))]


def test_a_utf8_bom_is_tolerated(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "\ufeffTanggal;Nominal;No. Referensi\n22/11/2026 10:00:00;50.000;R-1\n",
    )
    assert statement.errors == []
    # The first header is found despite the BOM in front of it.
    assert statement.credits == [(2, Credit("qris", 50000, "R-1", utc(2026, 11, 22, 3, 0, 0)))]


def test_a_utf8_bom_before_json_is_tolerated(tmp_path: Path) -> None:
    statement = read(tmp_path, '\ufeff[{"amount": 50000, "reference": "J-1"}]', name="mutasi.json")
    assert [(c.amount, c.reference) for _, c in statement.credits] == [(50000, "J-1")]


def test_blank_lines_are_ignored_but_counted(tmp_path: Path) -> None:
    statement = read(tmp_path, "amount;reference\n50.000;A\n\n;\n60.000;B\nabc;C\n")
    assert [(line, c.reference) for line, c in statement.credits] == [(2, "A"), (5, "B")]
    assert only_error_lines(statement) == [6]


def test_long_descriptions_are_cut_to_500_characters(tmp_path: Path) -> None:
    [(_, credit)] = read(tmp_path, f"amount;reference;description\n50.000;A;{'x' * 700}\n").credits
    assert credit.description == "x" * 500


# --- rows that cannot be read ---------------------------------------------------------------


def test_bad_rows_are_reported_with_their_csv_line_numbers(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "Tanggal;Keterangan;Nominal;Tipe;No. Referensi\n"  # line 1
        "22/11/2026 10:00:00;OK;50.000;CR;R-1\n"  # 2
        "22/11/2026 10:00:00;HALF A RUPIAH;50.000,50;CR;R-2\n"  # 3
        "22/11/2026 10:00:00;NOT A NUMBER;lima puluh;CR;R-3\n"  # 4
        "22/11/2026 10:00:00;NO REFERENCE;50.000;CR;\n"  # 5
        "kemarin;BAD TIME;50.000;CR;R-5\n"  # 6
        "22/11/2026 10:00:00;BAD TYPE;50.000;XX;R-6\n"  # 7
        "22/11/2026 10:00:00;NO AMOUNT;;CR;R-7\n"  # 8
        "31/02/2026;NO SUCH DAY;50.000;CR;R-8\n"  # 9
        "22/11/2026 10:00:00;TOO BIG;10.000.000.001;CR;R-9\n"  # 10
        f"22/11/2026 10:00:00;LONG REF;50.000;CR;{'R' * 101}\n"  # 11
        "22/11/2026 10:00:00;OK TOO;60.000;CR;R-11\n",  # 12
    )
    assert only_error_lines(statement) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert [line for line, _ in statement.credits] == [2, 12]
    assert all(problem.strip() for _, problem in statement.errors)
    problems = dict(statement.errors)
    assert "fraction" in problems[3]
    assert "reference" in problems[5]
    assert "kemarin" in problems[6]
    assert "XX" in problems[7].upper()


def test_the_largest_plausible_amount_is_accepted(tmp_path: Path) -> None:
    statement = read(tmp_path, f"amount;reference\n10.000.000.000;A\n50.000;{'R' * 100}\n")
    assert statement.errors == []
    assert [c.amount for _, c in statement.credits] == [10_000_000_000, 50000]


def test_a_reference_repeated_inside_one_file_is_an_error(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "amount;reference\n50.000;DUP\n60.000;OTHER\n70.000;DUP\n15.000 DB;DUP\n",
    )
    assert [(line, c.amount) for line, c in statement.credits] == [(2, 50000), (3, 60000)]
    assert only_error_lines(statement) == [4]
    assert "line 2" in statement.errors[0][1]
    # A debit with the same reference is skipped, not compared.
    assert lines(statement.skipped) == [5]


def test_a_file_without_an_amount_column_is_refused_as_a_whole(tmp_path: Path) -> None:
    with pytest.raises(StatementError, match="amount"):
        read(tmp_path, "Tanggal;Keterangan;No. Referensi\n22/11/2026;X;R-1\n")


def test_a_file_without_a_reference_column_is_refused_as_a_whole(tmp_path: Path) -> None:
    with pytest.raises(StatementError, match="reference"):
        read(tmp_path, "Tanggal;Keterangan;Nominal\n22/11/2026;X;50.000\n")


def test_a_header_only_file_without_an_amount_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StatementError):
        read(tmp_path, "Tanggal;Keterangan;Saldo\n")


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StatementError):
        read(tmp_path, "")
    with pytest.raises(StatementError):
        read(tmp_path, "\n\n")


def test_a_row_with_more_cells_than_the_header_is_an_error(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "date,description,amount,reference\n2026-11-22 10:15,BUDI,60000,REF-0\n2026-11-22 10:15,BUDI,50,123.00,REF-1\n",
    )
    # Read as it stands the row is a credit of Rp 50 with reference "123.00".
    assert only_error_lines(statement) == [3]
    assert [c.reference for _, c in statement.credits] == ["REF-0"]


def test_a_reference_that_is_not_printable_text_is_an_error(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        json.dumps([{"amount": 50000, "reference": "A\u0000B"}, {"amount": 60000, "reference": "C\u0007D"}]),
        name="mutasi.json",
    )
    assert only_error_lines(statement) == [1, 2]
    assert statement.credits == []


# --- times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("22/11/2026 10:15:03", utc(2026, 11, 22, 3, 15, 3)),
        ("22/11/2026 10:15", utc(2026, 11, 22, 3, 15, 0)),
        ("22-11-2026 10:15:03", utc(2026, 11, 22, 3, 15, 3)),
        ("22.11.2026 10:15:03", utc(2026, 11, 22, 3, 15, 3)),
        ("2/1/2026 10:15:03", utc(2026, 1, 2, 3, 15, 3)),
        ("22/11/2026 03:00:00", utc(2026, 11, 21, 20, 0, 0)),  # the day before, in UTC
        ("2026-11-22 10:15:03", utc(2026, 11, 22, 3, 15, 3)),
        ("2026-11-22 10:15", utc(2026, 11, 22, 3, 15, 0)),
        ("2026-11-22T03:15:03Z", utc(2026, 11, 22, 3, 15, 3)),
        ("2026-11-22T10:15:03+07:00", utc(2026, 11, 22, 3, 15, 3)),
        ("1795317303", utc(2026, 11, 22, 3, 15, 3)),
    ],
)
def test_statement_times_are_wib_unless_they_say_otherwise(tmp_path: Path, text: str, expected: datetime) -> None:
    statement = read(tmp_path, f"Tanggal;Nominal;Ref\n{text};50.000;R\n")
    assert statement.errors == []
    assert statement.credits[0][1].occurred_at == expected


def test_a_one_digit_hour_is_read(tmp_path: Path) -> None:
    statement = read(tmp_path, "Tanggal;Nominal;Ref\n22/11/2026 9:15:03;50.000;R\n")
    assert statement.errors == []
    assert statement.credits[0][1].occurred_at == utc(2026, 11, 22, 2, 15, 3)


@pytest.mark.parametrize("text", ["21/11/2026", "2026-11-21", "21-11-2026"])
def test_a_date_without_time_is_the_end_of_that_day_in_wib(tmp_path: Path, text: str) -> None:
    statement = read(tmp_path, f"Tanggal;Nominal;Ref\n{text};50.000;R\n")
    assert statement.errors == []
    # 2026-11-21 23:59:59 WIB.
    assert statement.credits[0][1].occurred_at == utc(2026, 11, 21, 16, 59, 59)


@pytest.mark.parametrize("text", ["22/11/2026", "2026-11-22"])
def test_todays_date_without_time_is_now(tmp_path: Path, text: str) -> None:
    statement = read(tmp_path, f"Tanggal;Nominal;Ref\n{text};50.000;R\n")
    assert statement.errors == []
    assert statement.credits[0][1].occurred_at == NOW


def test_a_date_is_a_day_in_wib_not_in_utc(tmp_path: Path) -> None:
    # At 17:30 UTC on the 22nd it is already 00:30 on the 23rd in Jakarta: the 22nd is over
    # (its end, 16:59:59 UTC, has passed) and the 23rd is today.
    now = utc(2026, 11, 22, 17, 30, 0)
    statement = read(tmp_path, "Tanggal;Nominal;Ref\n22/11/2026;50.000;A\n23/11/2026;60.000;B\n", now=now)
    assert statement.errors == []
    assert [c.occurred_at for _, c in statement.credits] == [utc(2026, 11, 22, 16, 59, 59), now]


def test_a_time_ahead_within_the_grace_is_forgiven_beyond_it_an_error(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "Tanggal;Nominal;Ref\n"
        f"{wib(NOW + timedelta(seconds=GRACE))};50.000;A\n"
        f"{wib(NOW + timedelta(seconds=GRACE + 1))};60.000;B\n"
        f"{wib(NOW + timedelta(days=1))};70.000;C\n",
    )
    assert [(line, c.occurred_at) for line, c in statement.credits] == [(2, NOW + timedelta(seconds=GRACE))]
    assert only_error_lines(statement) == [3, 4]
    assert "future" in statement.errors[0][1]


def test_the_grace_is_the_callers(tmp_path: Path) -> None:
    text = f"Tanggal;Nominal;Ref\n{wib(NOW + timedelta(seconds=30))};50.000;A\n"
    assert only_error_lines(read(tmp_path, text, grace=0)) == [2]
    assert only_error_lines(read(tmp_path, text, grace=60)) == []


@pytest.mark.parametrize("text", ["23/11/2026", "2099-01-01"])
def test_a_date_without_time_in_the_future_is_an_error(tmp_path: Path, text: str) -> None:
    statement = read(tmp_path, f"Tanggal;Nominal;Ref\n{text};50.000;R\n")
    assert only_error_lines(statement) == [2]


@pytest.mark.parametrize("text", ["01/01/0999 10:00", "1999-12-31 23:00:00"])
def test_a_time_before_2000_is_an_error(tmp_path: Path, text: str) -> None:
    statement = read(tmp_path, f"Tanggal;Nominal;Ref\n{text};50.000;R\n")
    assert only_error_lines(statement) == [2]


# --- naming columns -------------------------------------------------------------------------


def test_columns_name_what_the_aliases_do_not_find(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "Tgl;Jumlah Masuk;Kode Unik Bank;Uraian\n22/11/2026 10:00:00;50.000;KB-1;SETORAN\n",
        columns={
            "amount": "Jumlah Masuk",
            "reference": "kode unik bank",
            "occurred_at": "Tgl",
            "description": "Uraian",
        },
    )
    assert statement.errors == []
    assert statement.credits == [(2, Credit("qris", 50000, "KB-1", utc(2026, 11, 22, 3, 0, 0), "SETORAN"))]


def test_a_named_column_wins_over_an_alias(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        "Nominal;Jumlah Masuk;Reference\n999;50.000;R-1\n",
        columns={"amount": "Jumlah Masuk"},
    )
    assert [c.amount for _, c in statement.credits] == [50000]


def test_a_named_column_that_is_not_there_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StatementError, match="Jumlah Masuk"):
        read(tmp_path, "Nominal;Reference\n50.000;R-1\n", columns={"amount": "Jumlah Masuk"})


# --- JSON -----------------------------------------------------------------------------------


def test_a_json_list(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        json.dumps(
            [
                {"amount": 50000, "reference": "J-1", "occurred_at": "2026-11-22 10:00:00", "description": "A"},
                {"amount": "Rp 60.000", "reference": 12345, "occurred_at": 1795317303, "description": "B"},
                {"amount": -15000, "reference": "J-3", "occurred_at": "2026-11-22 10:00:00", "description": "C"},
                {"amount": "abc", "reference": "J-4", "occurred_at": "2026-11-22 10:00:00", "description": "D"},
            ]
        ),
        name="mutasi.json",
    )
    assert statement.credits == [
        (1, Credit("qris", 50000, "J-1", utc(2026, 11, 22, 3, 0, 0), "A")),
        (2, Credit("qris", 60000, "12345", utc(2026, 11, 22, 3, 15, 3), "B")),
    ]
    # Line numbers of a JSON statement are 1-based item numbers.
    assert lines(statement.skipped) == [3]
    assert only_error_lines(statement) == [4]


def test_a_json_object_holding_mutations(tmp_path: Path) -> None:
    body = {"mutations": [{"nominal": "50.000", "no_ref": "J-1"}, {"nominal": "60.000", "no_ref": "J-2"}]}
    statement = read(tmp_path, json.dumps(body), name="export.json")
    assert [(line, c.amount, c.reference) for line, c in statement.credits] == [(1, 50000, "J-1"), (2, 60000, "J-2")]


def test_json_amounts_with_a_zero_fraction_are_whole_and_others_are_errors(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        '[{"amount": 50000.0, "reference": "A"}, {"amount": 50000.5, "reference": "B"}]',
        name="mutasi.json",
    )
    assert [(line, c.amount) for line, c in statement.credits] == [(1, 50000)]
    assert only_error_lines(statement) == [2]


def test_json_is_recognised_by_content_and_format_can_be_forced(tmp_path: Path) -> None:
    text = '[{"amount": 50000, "reference": "A"}]'
    assert len(read(tmp_path, text, name="export.txt").credits) == 1
    assert len(read(tmp_path, text, name="export.csv", fmt="json").credits) == 1
    csv_text = "amount;reference\n50000;A\n"
    assert len(read(tmp_path, csv_text, name="export.json", fmt="csv").credits) == 1
    with pytest.raises(StatementError):
        read(tmp_path, csv_text, name="export.json")  # a .json file must be JSON
    with pytest.raises(StatementError, match="xml"):
        read(tmp_path, csv_text, fmt="xml")


@pytest.mark.parametrize(
    "text",
    [
        "[{",
        '{"amount": 50000, "reference": "A"}',
        '{"rows": []}',
        '"mutations"',
        "42",
    ],
)
def test_json_that_is_not_a_statement_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(StatementError):
        read(tmp_path, text, name="mutasi.json")


def test_a_json_statement_without_an_amount_field_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StatementError, match="amount"):
        read(tmp_path, '[{"value": 50000, "reference": "A"}]', name="mutasi.json")


def test_json_objects_need_not_all_have_the_same_fields(tmp_path: Path) -> None:
    statement = read(
        tmp_path,
        json.dumps(
            [
                {"amount": 50000, "reference": "A"},
                {"amount": 60000, "reference": "B", "occurred_at": "2026-11-22 10:00:00", "description": "TRF"},
                {"amount": 70000, "reference": "C", "occurred_at": "2099-01-01 00:00:00"},
            ]
        ),
        name="mutasi.json",
    )
    assert statement.credits[1] == (2, Credit("qris", 60000, "B", utc(2026, 11, 22, 3, 0, 0), "TRF"))
    assert only_error_lines(statement) == [3]

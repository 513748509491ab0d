"""Statement exports (CSV or JSON) as credits, for ``kasir mutations import``.

Banks and e-wallets export statements with their own column names, in Indonesian or English,
with amounts such as ``Rp 50.123,00`` and times such as ``22/11/2026 10:15:03``. This module
reads such a file into credits and says, line by line, what it skipped (debits) and what it could
not read. It stores nothing: the command validates the whole file first and imports only a file
without errors, so a half-imported statement never needs untangling.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kasir.clock import WIB, parse_moment
from kasir.money import statement_amount
from kasir.payments.mutations import EARLIEST, MAX_AMOUNT, MAX_DESCRIPTION, MAX_REFERENCE, Credit, storable_text

# Header names seen in exports, lower-cased, for each field we need.
ALIASES: dict[str, tuple[str, ...]] = {
    "amount": (
        "amount",
        "nominal",
        "jumlah",
        "mutasi",
        "credit",
        "kredit",
        "amount (idr)",
        "nominal (rp)",
        "jumlah (rp)",
    ),
    "reference": (
        "reference",
        "ref",
        "reff",
        "reff_num",
        "reference_id",
        "no_ref",
        "no. ref",
        "no. referensi",
        "referensi",
        "transaction_id",
        "transaction id",
        "id transaksi",
        "trx_id",
        "id",
    ),
    "occurred_at": (
        "occurred_at",
        "time",
        "datetime",
        "date",
        "tanggal",
        "waktu",
        "tanggal transaksi",
        "transaction_date",
        "transaction date",
        "created_at",
    ),
    "description": ("description", "keterangan", "deskripsi", "remark", "remarks", "catatan", "note", "berita"),
    "direction": ("type", "jenis", "tipe", "db/cr", "cr/db", "dc", "d/k", "direction"),
    "debit": ("debit", "debet"),
}
_DEBIT_WORDS = {"db", "d", "debit", "debet", "keluar", "out", "outgoing", "-"}
_CREDIT_WORDS = {"cr", "c", "k", "credit", "kredit", "masuk", "in", "incoming", "+"}
_DAY_FIRST = re.compile(
    r"^(?P<d>[0-9]{1,2})[/.-](?P<m>[0-9]{1,2})[/.-](?P<y>[0-9]{4})(?:[ T](?P<time>[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?))?$"
)
_DATE_ONLY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class StatementError(ValueError):
    """The file as a whole cannot be read (no header, no amount column, not JSON)."""


@dataclass(slots=True)
class Statement:
    credits: list[tuple[int, Credit]] = field(default_factory=list)  # (line, credit)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, why): debits, zero rows
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, what is wrong)


def read_statement(
    path: Path,
    *,
    channel: str,
    now: datetime,
    clock_grace: int,
    columns: Mapping[str, str] | None = None,
    fmt: str = "auto",
) -> Statement:
    """``columns`` names the file's column for a field when the aliases do not find it."""
    text = path.read_text(encoding="utf-8-sig")
    kind = fmt if fmt != "auto" else ("json" if path.suffix.lower() == ".json" or text.lstrip()[:1] in "[{" else "csv")
    if kind == "json":
        records = _json_records(text)
        # JSON objects need not all carry every field: look for columns in all of them.
        fieldnames = list(dict.fromkeys(key for _line, record in records for key in record))
    elif kind == "csv":
        fieldnames, records = _csv_records(text)
    else:
        raise StatementError(f"unknown format {fmt!r}: use csv or json")
    # Resolved before any row is read, so a header-only file without the columns is refused too.
    resolved = _resolve(fieldnames, columns or {})
    return _to_credits(records, resolved, channel=channel, now=now, clock_grace=clock_grace)


def _json_records(text: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(text, parse_float=str)
    except ValueError as exc:
        raise StatementError(f"not JSON: {exc}") from None
    if isinstance(data, dict):
        data = data.get("mutations", data.get("data"))
    if not isinstance(data, list):
        raise StatementError('a JSON statement is a list of objects, or {"mutations": [...]}')
    # Lines are 1-based item numbers for JSON.
    return [(i + 1, item if isinstance(item, dict) else {"": item}) for i, item in enumerate(data)]


def _csv_records(text: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    sample = text[:8192]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames:
        raise StatementError("the CSV file has no header row")
    # DictReader counts physical lines; line 1 is the header.
    fieldnames = [name for name in reader.fieldnames if name is not None]
    return fieldnames, [
        (reader.line_num, row)
        for row in reader
        if any((v or "").strip() if isinstance(v, str) else v for v in row.values())  # blank lines
    ]


def _resolve(fieldnames: Iterable[str], columns: Mapping[str, str]) -> dict[str, str]:
    by_lower = {name.strip().lower(): name for name in fieldnames if name is not None}
    resolved: dict[str, str] = {}
    for wanted, aliases in ALIASES.items():
        if wanted in columns:
            chosen = by_lower.get(columns[wanted].strip().lower())
            if chosen is None:
                raise StatementError(
                    f"no column named {columns[wanted]!r}; the file has {', '.join(by_lower.values())}"
                )
            resolved[wanted] = chosen
            continue
        for alias in aliases:
            if alias in by_lower:
                resolved[wanted] = by_lower[alias]
                break
    for required in ("amount", "reference"):
        if required not in resolved:
            raise StatementError(
                f"no {required} column found (looked for {', '.join(ALIASES[required][:6])}, …); "
                f"name it with --{required}-column"
            )
    return resolved


def _to_credits(
    records: Iterable[tuple[int, dict[str, Any]]],
    resolved: Mapping[str, str],
    *,
    channel: str,
    now: datetime,
    clock_grace: int,
) -> Statement:
    statement = Statement()
    latest = now + timedelta(seconds=clock_grace)
    seen: dict[str, int] = {}
    for line, record in records:
        if None in record:  # csv.DictReader puts cells beyond the header under None
            statement.errors.append(
                (line, "more cells than the header has columns (an unquoted separator inside a value?)")
            )
            continue
        try:
            credit = _credit(record, resolved, channel, now, latest)
        except ValueError as exc:
            statement.errors.append((line, str(exc)))
            continue
        if isinstance(credit, str):
            statement.skipped.append((line, credit))
            continue
        if credit.reference in seen:
            statement.errors.append((line, f"reference {credit.reference!r} repeats line {seen[credit.reference]}"))
            continue
        seen[credit.reference] = line
        statement.credits.append((line, credit))
    return statement


def _cell(record: Mapping[str, Any], resolved: Mapping[str, str], name: str) -> str:
    column = resolved.get(name)
    value = record.get(column) if column is not None else None
    return "" if value is None else str(value).strip()


def _credit(
    record: Mapping[str, Any], resolved: Mapping[str, str], channel: str, now: datetime, latest: datetime
) -> Credit | str:
    """The row's credit, or why it is skipped (a str); ValueError when it cannot be read."""
    direction = _cell(record, resolved, "direction").lower()
    if direction in _DEBIT_WORDS:
        return f"a debit ({direction.upper()})"
    if direction and direction not in _CREDIT_WORDS:
        raise ValueError(f"type {direction!r} is neither credit nor debit")
    raw_amount = _cell(record, resolved, "amount")
    if raw_amount == "-":  # how some exports print an empty cell
        raw_amount = ""
    if not raw_amount:
        if _cell(record, resolved, "debit"):
            return "a debit"
        raise ValueError("no amount")
    amount = statement_amount(raw_amount)
    if amount < 0:
        return "a debit"
    if amount == 0:
        return "a zero amount"
    if amount > MAX_AMOUNT:
        raise ValueError(f"amount {raw_amount!r} is implausibly large")
    reference = _cell(record, resolved, "reference")
    if not reference:
        raise ValueError("no reference: every credit needs the provider's id of the transaction")
    if len(reference) > MAX_REFERENCE:
        raise ValueError(f"reference longer than {MAX_REFERENCE} characters")
    if not reference.isprintable():
        raise ValueError(f"reference {reference!r} holds characters that are not printable text")
    raw_time = _cell(record, resolved, "occurred_at")
    occurred_at = _statement_time(raw_time, now, latest) if raw_time else None
    if occurred_at is not None and occurred_at > latest:
        raise ValueError(f"time {raw_time!r} is in the future")
    if occurred_at is not None and occurred_at < EARLIEST:
        raise ValueError(f"time {raw_time!r} is before {EARLIEST.year}")
    description = _cell(record, resolved, "description")[:MAX_DESCRIPTION] or None
    if description is not None and not storable_text(description):
        raise ValueError("description holds characters a database cannot store (NUL, a lone surrogate)")
    return Credit(channel, amount, reference, occurred_at, description)


def _statement_time(raw: str, now: datetime, latest: datetime) -> datetime:
    """A time as statements print it, in WIB unless it says otherwise. A date without a time is
    read as the end of that day (or now, for today): the credit then cannot pay a payment that
    expired earlier that day, and lands in reconciliation as late instead, which is right for a
    time we do not know."""
    day_first = _DAY_FIRST.match(raw)
    if day_first:
        clock = day_first["time"]
        if clock:  # "9:15:03": ISO wants two digits for the hour
            hour, _, rest = clock.partition(":")
            clock = f"{int(hour):02d}:{rest}"
        iso = f"{int(day_first['y']):04d}-{int(day_first['m']):02d}-{int(day_first['d']):02d}"
        raw = f"{iso} {clock}" if clock else iso
    if _DATE_ONLY.match(raw):
        try:
            start_of_day = datetime.fromisoformat(raw + "T00:00:00").replace(tzinfo=WIB)
        except ValueError:
            raise ValueError(f"time {raw!r} is not a date") from None
        if start_of_day > latest:
            raise ValueError(f"date {raw!r} is in the future")
        return min(start_of_day + timedelta(days=1, seconds=-1), now).astimezone(UTC)
    try:
        return parse_moment(raw)
    except ValueError:
        raise ValueError(
            f"time {raw!r} is not a time (use ISO 8601, 'YYYY-MM-DD HH:MM:SS' or DD/MM/YYYY HH:MM)"
        ) from None

"""``kasir qris info`` and ``kasir qris convert``: the QRIS engine (kasir.qris) from the command
line, no server or database needed; and reading a QRIS given as a string or an image, which
``kasir merchant set`` does too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kasir.cli.context import console, err_console, reported
from kasir.errors import InvalidRequest
from kasir.money import rupiah, whole_rupiah
from kasir.qris import image
from kasir.qris.convert import Fee, to_dynamic
from kasir.qris.emv import QrisError, clean
from kasir.qris.info import info

# Plain help, as the rest of `kasir` (kasir.cli.root says why).
qris_app = typer.Typer(
    help="Read, check and convert QRIS strings and QR images.", no_args_is_help=True, rich_markup_mode=None
)
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # a local file may be a full-resolution photo


def read_source(source: str) -> str:
    """A QRIS given as the string itself or as the path of an image of its QR code."""
    text = clean(source)
    if text.startswith("0002"):
        return text
    if names_a_file(source):
        return image.read_qris(Path(source).read_bytes(), max_bytes=MAX_IMAGE_BYTES)
    raise QrisError(f"{source!r} is neither a QRIS string (it starts with 000201) nor an image file", code="not_qris")


def names_a_file(text: str) -> bool:
    """Whether ``text`` is the path of a file. A QRIS string is often longer than a file name may
    be, and asking the filesystem about one raises instead of answering no."""
    try:
        return Path(text).is_file()
    except OSError:  # ENAMETOOLONG
        return False


def rupiah_option(value: str, name: str) -> int:
    """A whole-rupiah option: ``50.000`` is fifty thousand to an Indonesian and fifty to Python,
    so anything but plain digits is refused rather than guessed at."""
    try:
        return whole_rupiah(value, name)
    except ValueError:
        raise InvalidRequest(
            f"{name} must be a whole number of rupiah in plain digits (50000), not {value!r}",
            field=name,
            code="invalid_amount",
        ) from None


@qris_app.command("info")
def qris_info(
    source: Annotated[
        str, typer.Argument(metavar="QRIS", help="A QRIS string, or the path of a PNG/JPEG/GIF/WebP of its QR.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Describe a QRIS: merchant, NMID, criteria, acquirers, amount, CRC. Exits 1 when the CRC is
    wrong (the rest is still shown), 2 when the QRIS cannot be read at all."""
    with reported():
        described = info(read_source(source), require_valid_crc=False)
    if as_json:
        typer.echo(json.dumps(described.to_dict()))
    else:
        _print_info(described.to_dict())
    if not described.crc_valid:
        if not as_json:
            err_console.print("[red]the CRC does not match: this QRIS was altered or mistyped[/red]")
        raise typer.Exit(code=1)


def _print_info(fields: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for name in (
        "merchant_name",
        "merchant_city",
        "postal_code",
        "nmid",
        "criteria",
        "mcc",
        "country_code",
        "currency",
    ):
        value = fields[name]
        if name == "criteria" and value:
            value = f"{value} ({fields['criteria_name'] or 'unknown'})"
        table.add_row(name, "-" if value is None else str(value))
    table.add_row("type", "dynamic" if fields["is_dynamic"] else "static")
    table.add_row("amount", "-" if fields["amount"] is None else f"Rp {rupiah(fields['amount'])}")
    if fields["fee"]:
        table.add_row("fee", json.dumps(fields["fee"]))
    for acquirer in fields["acquirers"]:
        label = acquirer["name"] or acquirer["id"] or "card scheme"
        shown = ("merchant_id", "merchant_pan") if label == acquirer["id"] else ("id", "merchant_id", "merchant_pan")
        detail = ", ".join(f"{k} {v}" for k, v in acquirer.items() if k in shown and v)
        table.add_row(f"acquirer {acquirer['tag']}", f"{label}: {detail}")
    for name, value in fields["additional_data"].items():
        table.add_row(name, value)
    table.add_row("crc", f"{fields['crc']} ({'valid' if fields['crc_valid'] else 'WRONG'})")
    console.print(table)


@qris_app.command("convert")
def qris_convert(
    source: Annotated[
        str, typer.Argument(metavar="QRIS", help="A static QRIS string, or the path of an image of its QR.")
    ],
    amount: Annotated[
        str, typer.Option(metavar="RUPIAH", help="Whole rupiah to embed, digits only (50000, not 50.000).")
    ],
    png: Annotated[Path | None, typer.Option(metavar="FILE", help="Also write the QR code as a PNG here.")] = None,
    svg: Annotated[Path | None, typer.Option(metavar="FILE", help="Also write the QR code as an SVG here.")] = None,
    size: Annotated[int, typer.Option(metavar="PIXELS", help="Image width.")] = 600,
    fee: Annotated[
        str | None, typer.Option(metavar="RUPIAH", help="A fixed convenience fee, digits only (tag 56).")
    ] = None,
) -> None:
    """Embed an amount into a QRIS and print the dynamic QRIS, alone on one line."""
    with reported():
        fixed_fee = Fee.fixed(rupiah_option(fee, "--fee")) if fee is not None else None
        dynamic = to_dynamic(read_source(source), rupiah_option(amount, "--amount"), fixed_fee)
        images = [(path, image.render_png(dynamic, size)) for path in [png] if path is not None]
        images += [(path, image.render_svg(dynamic, size)) for path in [svg] if path is not None]
    for path, data in images:
        path.write_bytes(data)
        err_console.print(f"wrote {path}")
    typer.echo(dynamic)

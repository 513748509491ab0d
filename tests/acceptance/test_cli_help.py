"""``--help`` of every ``kasir`` command reads cleanly (issue 16): no ``<str>``/``<bool>``-style
placeholders; flags show no type, choice options their choices, free text a metavar that says what
goes there; and a value outside the choices is refused by the parser, with the choices listed.

The command tree is walked from the click command typer builds, so a command added later is
checked without being named here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kasir.cli import app

PLACEHOLDERS = ("<str>", "<bool>", "<int>", "<float>", "<file>", "<path>", "<text>")
# What typer prints for a type it has no name for: `<int range>`, `<list[str]>`, `<kasir.x.Y>`...
TYPE_PLACEHOLDER = re.compile(r"<(?![a-z0-9_.]+(?:\|[a-z0-9_.]+)+>)[^>\s|]+(?: range)?>")


def commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from commands(sub, (*path, name))


TREE = list(commands(typer.main.get_command(app)))


def help_of(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, (path, result.output)
    return result.stdout


def test_the_tree_has_every_command() -> None:
    """The walk reaches the commands the README names (and so the test below checks them all)."""
    names = {" ".join(path) for path, _ in TREE}
    assert names >= {
        "migrate",
        "serve",
        "worker",
        "demo",
        "trigger",
        "listen",
        "merchant create",
        "merchant list",
        "merchant set",
        "merchant rotate-key",
        "mutations import",
        "mutations list",
        "sandbox pay",
        "qris info",
        "qris convert",
    }


@pytest.mark.parametrize("path", [path for path, _ in TREE], ids=lambda path: " ".join(path) or "kasir")
def test_help_shows_no_type_placeholders(path: tuple[str, ...]) -> None:
    text = help_of(path)
    for placeholder in PLACEHOLDERS:
        assert placeholder not in text, (path, placeholder, text)
    assert not TYPE_PLACEHOLDER.findall(text), (path, text)
    assert "--help" in text


@pytest.mark.parametrize(
    ("path", "option"),
    [(path, param) for path, command in TREE for param in command.params],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else value.name,
)
def test_every_parameter_is_a_flag_a_choice_or_named(path: tuple[str, ...], option: Any) -> None:
    """How each parameter reads in --help: a flag alone; a choice with its choices; anything else
    by a metavar in capitals (URL, KEY, FILE, N...), not by its Python type."""
    text = help_of(path)
    descriptor = option.type_descriptor
    if getattr(option, "is_flag", False):
        [line] = [line for line in text.splitlines() if line.strip().startswith(option.opts[0])]
        assert line.split()[0] == option.opts[0], line
        assert "<" not in line.split("  ")[0], line
    elif descriptor.is_choice and option.param_type_name == "option":
        choices = "|".join(str(choice) for choice in descriptor.choices)
        assert f"{option.opts[0]} <{choices}>" in text, text
    else:
        assert option.metavar, (path, option.name)
        assert re.fullmatch(r"[A-Z][A-Z_]*", option.metavar), option.metavar
        assert option.metavar in text


@pytest.mark.parametrize(
    ("args", "choices"),
    [
        (["merchant", "set", "toko", "--subscription", "maybe"], "'active', 'inactive'"),
        (["merchant", "rotate-key", "toko", "--mode", "sandbox"], "'test', 'live'"),
        (["mutations", "list", "--mode", "production"], "'test', 'live'"),
        (["mutations", "import", "{csv}", "--channel", "bca", "--mode", "test"], "'qris', 'qris_user'"),
        (["serve", "--log-level", "loud"], "'debug', 'info', 'warning', 'error', 'critical'"),
        (["trigger", "payment.paid", "--url", "http://127.0.0.1:9/", "--dialect", "stripe"], "'bayargg', 'standard'"),
        (["listen", "--dialect", "stripe"], "'bayargg', 'standard', 'digiflazz', 'ilenpay', 'isikuota', 'xendit'"),
        (["trigger", "payment.refunded", "--url", "http://127.0.0.1:9/"], "'payment.created', 'payment.paid'"),
    ],
    ids=lambda value: " ".join(value[:2]) if isinstance(value, list) else None,
)
def test_a_value_outside_the_choices_is_refused_by_the_parser_listing_them(
    tmp_path: Path, args: list[str], choices: str
) -> None:
    """Refused before anything runs: no database is opened (none exists here), nothing is sent."""
    statement = tmp_path / "mutasi.csv"
    statement.write_text("amount;reference\n50000;A\n")
    args = [arg.format(csv=statement) for arg in args]
    result = CliRunner().invoke(app, args, env={"KASIR_HOME": str(tmp_path / "home")})
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "Invalid value" in said
    assert choices in said
    assert not (tmp_path / "home").exists()

"""The root ``kasir`` command every group and command of the package is registered on."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup

from kasir import __version__


class _NamedArgument(TyperArgument):
    """An argument shown by its metavar alone (FILE, USERNAME, EVENT): typer would follow it with
    its Python type (``<str>``, ``<path>``), which says less than the name does, or with all its
    choices on one line (a choice argument lists them in its help instead)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _name_arguments(command: Any) -> None:
    for param in command.params:
        if type(param) is TyperArgument and param.metavar:
            param.__class__ = _NamedArgument
    for sub in getattr(command, "commands", {}).values():
        _name_arguments(sub)


class _Commands(TyperGroup):
    """The ``kasir`` command tree. typer builds the subcommands first, so the root sees them all;
    typer offers no other hook into how an argument is shown in --help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _name_arguments(self)


# rich_markup_mode=None: Click's plain help. typer's rich panels print a type after every option,
# `<bool>` after each flag (--help included) and `<str>` after free text; the plain help names
# flags alone and free text by its metavar.
app = typer.Typer(
    help="Kasir: a self-hosted QRIS payment gateway.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    cls=_Commands,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kasir {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print kasir's version and exit.")
    ] = False,
) -> None:
    """Kasir: a self-hosted QRIS payment gateway."""

"""In-transaction hooks: how a lower layer lets a higher one act inside its unit of work without
importing it (docs/architecture.md, "Layers").

A payment that becomes paid pays an order; a source gone silent raises an owner's alert. The
lower package declares a ``Hook`` and calls it with its connection; the higher package registers
a function when it is imported, and the entry points (kasir.app, kasir.cli) import every package
that registers, so each hook is complete in every process. A hook's functions write only through
the connection they are given, so their changes commit or roll back with the caller's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")


class Hook(Generic[P]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._functions: list[Callable[P, object]] = []

    def register(self, function: Callable[P, object]) -> Callable[P, object]:
        """Call ``function`` each time the hook runs; registering it again changes nothing."""
        if function not in self._functions:
            self._functions.append(function)
        return function

    @property
    def functions(self) -> tuple[Callable[P, object], ...]:
        return tuple(self._functions)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Run every registered function, in registration order, with the caller's arguments."""
        for function in self._functions:
            function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, {len(self._functions)} registered)"

"""Kasir: a self-hosted QRIS payment gateway with a webhook delivery engine at its heart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from kasir.app import create_app
    from kasir.config import Settings

__all__ = ["Settings", "__version__", "create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import kasir.<light module>` (the receiver SDK, the dialects) never pulls in
    # the server stack.
    if name == "create_app":
        from kasir.app import create_app

        return create_app
    if name == "Settings":
        from kasir.config import Settings

        return Settings
    raise AttributeError(name)

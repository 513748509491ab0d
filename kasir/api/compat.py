"""bayar.gg's paths, served as they are: ``/api/name.php`` and ``/api/name``.

Only the ``.php`` form goes into the OpenAPI document, so each operation is listed once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter

F = TypeVar("F", bound=Callable[..., Any])


def bayargg_route(router: APIRouter, name: str, methods: list[str], **kwargs: Any) -> Callable[[F], F]:
    def register(endpoint: F) -> F:
        router.add_api_route(f"/api/{name}.php", endpoint, methods=methods, **kwargs)
        router.add_api_route(f"/api/{name}", endpoint, methods=methods, include_in_schema=False, **kwargs)
        return endpoint

    return register

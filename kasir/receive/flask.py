"""A Flask view decorator that verifies the webhook and passes the view its event.

    @app.post("/webhooks/kasir")
    @verify_webhook("whsec_…", dialect="bayargg")
    def kasir_webhook(event):
        ...

It verifies ``request.get_data()`` (the raw body) and answers 401 with a JSON error when
verification fails; the view never runs then. The event is also in ``flask.g.kasir_event``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from flask import g, jsonify, request

from kasir.dialects import DEFAULT
from kasir.receive import DEFAULT_TOLERANCE, WebhookVerificationError, verify


def verify_webhook(
    secret: str | Sequence[str], *, dialect: str = DEFAULT, tolerance: int = DEFAULT_TOLERANCE
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                event = verify(
                    request.get_data(cache=True), request.headers.items(), secret, dialect=dialect, tolerance=tolerance
                )
            except WebhookVerificationError as exc:
                return jsonify(success=False, error=f"webhook refused: {exc}"), 401
            g.kasir_event = event
            return view(*args, event=event, **kwargs)

        return wrapper

    return decorator

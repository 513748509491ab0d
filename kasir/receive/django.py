"""A Django view decorator that verifies the webhook (CSRF-exempt, as a webhook must be).

    @verify_webhook("whsec_…", dialect="digiflazz")
    def kasir_webhook(request):
        event = request.kasir_event
        ...

It verifies ``request.body`` (the raw bytes) and answers 401 with a JSON error when verification
fails; the view never runs then.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, cast

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from kasir.dialects import DEFAULT
from kasir.receive import DEFAULT_TOLERANCE, WebhookVerificationError, verify


def verify_webhook(
    secret: str | Sequence[str], *, dialect: str = DEFAULT, tolerance: int = DEFAULT_TOLERANCE
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                event = verify(request.body, request.headers.items(), secret, dialect=dialect, tolerance=tolerance)
            except WebhookVerificationError as exc:
                return JsonResponse({"success": False, "error": f"webhook refused: {exc}"}, status=401)
            request.kasir_event = event
            return view(request, *args, **kwargs)

        return cast(Callable[..., HttpResponse], csrf_exempt(wrapper))

    return decorator

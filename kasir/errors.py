"""One exception tree for everything Kasir refuses.

Each error carries the HTTP status it maps to and a stable machine ``code``; the API turns any of
them into ``{"success": false, "error": message, "code": code}``. Services raise these and know
nothing of HTTP otherwise.
"""

from __future__ import annotations


class KasirError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field


class InvalidRequest(KasirError):
    """Well-formed request with a parameter that is missing or wrong (bayar.gg answers 400)."""

    status_code = 400
    code = "invalid_parameter"


class Unauthorized(KasirError):
    status_code = 401
    code = "invalid_api_key"


class Forbidden(KasirError):
    status_code = 403
    code = "forbidden"


class NotFound(KasirError):
    status_code = 404
    code = "not_found"


class Conflict(KasirError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(KasirError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(KasirError):
    status_code = 415
    code = "unsupported_media_type"


class RateLimited(KasirError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after

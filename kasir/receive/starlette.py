"""A FastAPI / Starlette dependency that verifies the webhook and hands the route its event.

    verified = VerifyWebhook("whsec_…", dialect="standard")

    @app.post("/webhooks/kasir")
    async def kasir_webhook(event: Event = Depends(verified)) -> dict[str, bool]:
        ...

It reads the raw body (``await request.body()``; never a parsed model, whose re-serialisation
would not match the signature) and answers 401 when verification fails.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request

from kasir.dialects import DEFAULT
from kasir.receive import DEFAULT_TOLERANCE, Event, WebhookVerificationError, verify


class VerifyWebhook:
    def __init__(
        self, secret: str | Sequence[str], *, dialect: str = DEFAULT, tolerance: int = DEFAULT_TOLERANCE
    ) -> None:
        self.secret = secret
        self.dialect = dialect
        self.tolerance = tolerance

    async def __call__(self, request: Request) -> Event:
        body = await request.body()
        try:
            return verify(body, request.headers.items(), self.secret, dialect=self.dialect, tolerance=self.tolerance)
        except WebhookVerificationError as exc:
            raise HTTPException(status_code=401, detail=f"webhook refused: {exc}") from None

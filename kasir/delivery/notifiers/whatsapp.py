"""WhatsApp Cloud API notifier: ``POST {api_url}/{phone_number_id}/messages`` with a bearer
token and a text message, as Meta documents it.

The Cloud API answers errors as ``{"error": {"message", "type", "code", "error_data":
{"details"}, "fbtrace_id"}}`` and asks clients to act on ``code`` rather than on the HTTP status.
Most codes are worth retrying (throttling, outages, an expired token the operator will renew);
a few say that the same message will never be accepted, and retrying those for three days would
only fill the log, so they end the delivery at once (:data:`PERMANENT_ERRORS`).

Free-form text is accepted within 24 hours of the buyer's last message (a WA Store order starts
with one); later, Meta wants an approved template (code 131047), which this notifier does not
send: such a message fails with that reason in the attempt log.
"""

from __future__ import annotations

import json

import aiohttp

from kasir.config import Settings
from kasir.delivery import dispatch
from kasir.delivery.dispatch import Request, Result
from kasir.delivery.notifiers import Message

# Codes after which sending the same message again cannot succeed.
PERMANENT_ERRORS = {
    33: "the business phone number was deleted",
    100: "invalid parameter",
    131008: "a required parameter is missing",
    131009: "a parameter value is not valid",
    131021: "the recipient is the sender",
    131026: "message undeliverable (not a WhatsApp number, or the buyer blocked the business)",
    131047: "more than 24 hours since the buyer's last message: Meta requires a template message",
    131051: "unsupported message type",
}


class WhatsAppCloudNotifier:
    name = "whatsapp"

    def __init__(self, api_url: str, phone_number_id: str, token: str, timeout: float) -> None:
        self.url = f"{api_url.rstrip('/')}/{phone_number_id}/messages"
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WhatsAppCloudNotifier:
        if not settings.whatsapp_phone_number_id or settings.whatsapp_token is None:
            raise ValueError("KASIR_NOTIFIER=whatsapp needs KASIR_WHATSAPP_PHONE_NUMBER_ID and KASIR_WHATSAPP_TOKEN")
        return cls(
            settings.whatsapp_api_url,
            settings.whatsapp_phone_number_id,
            settings.whatsapp_token.get_secret_value(),
            settings.delivery_timeout,
        )

    def prepare(self, message: Message) -> Request:
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to,
            "type": "text",
            "text": {"preview_url": "http" in message.text, "body": message.text},
            # Echoed back in Meta's status webhooks: ties a delivery report to Kasir's event.
            "biz_opaque_callback_data": message.reference,
        }
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self._token}"}
        return Request(self.url, headers, json.dumps(body, ensure_ascii=False).encode())

    async def send(self, request: Request) -> Result:
        if self._session is None:
            # The operator configured this URL, so no SSRF guard: a local WhatsApp gateway is fine.
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        result = await dispatch.send(self._session, request, guard=False)
        if result.ok or result.response_body is None:
            return result
        reason = permanent_reason(result.response_body)
        if reason is None:
            return result
        return Result(
            result.status_code,
            result.response_body,
            result.duration,
            f"WhatsApp refused the message for good: {reason}",
            permanent=True,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def permanent_reason(response_body: str) -> str | None:
    """Why the Cloud API will never take this message, from its error body; None when a retry
    may succeed (or the body is not the Cloud API's error shape)."""
    try:
        error = json.loads(response_body).get("error")
        code = error.get("code") if isinstance(error, dict) else None
    except (ValueError, AttributeError):
        return None
    if isinstance(code, int) and code in PERMANENT_ERRORS:
        return f"{PERMANENT_ERRORS[code]} (code {code})"
    return None


__all__ = ["PERMANENT_ERRORS", "WhatsAppCloudNotifier", "permanent_reason"]

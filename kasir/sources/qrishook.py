"""The webhook of QRIS Hook, the open-source Android app (suriyadi15/qrishook), as it sends it.

It POSTs one JSON object per payment it recognised, with its shared secret as it is in
``X-Webhook-Secret`` (no signature) and retries anything but a 2xx forever, with the same
``event_id``. Kasir takes the notification it carries (``notification``: package, title, text,
big text, and ``received_at``, the notification's post time in UTC) and reads it with its own
parsers: the app's own ``payment.amount`` strips every separator (``Rp10.000,50`` would be
1,000,050), so it is never used. The secret to paste into the app is the source's token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kasir.errors import InvalidRequest

SECRET_HEADER = "X-Webhook-Secret"  # noqa: S105 (a header name)


def item_of(body: Any) -> dict[str, Any]:
    """The notifications API's item for a QRIS Hook body."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("a QRIS Hook body is one JSON object", code="invalid_body")
    notification = body.get("notification")
    if not isinstance(notification, Mapping):
        notification = body.get("raw")
    if not isinstance(notification, Mapping):
        raise InvalidRequest("the body has no notification object", code="invalid_body", field="notification")
    return {
        "id": body.get("event_id"),
        "package": notification.get("source_package") or body.get("source_package"),
        "title": notification.get("title"),
        "text": notification.get("text"),
        "big_text": notification.get("big_text") or None,
        "posted_at": notification.get("received_at") or body.get("received_at"),
    }

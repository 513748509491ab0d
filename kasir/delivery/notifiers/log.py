"""The default notifier: writes each message to the ``kasir.notify`` log instead of sending it.

It lets a shop run WA Store orders before it has a WhatsApp Business number, and shows in the
attempt log exactly what would have been sent."""

from __future__ import annotations

import logging
import time

from kasir.delivery.dispatch import Request, Result
from kasir.delivery.notifiers import Message, masked_phone

log = logging.getLogger("kasir.notify")


class LogNotifier:
    name = "log"

    def prepare(self, message: Message) -> Request:
        return Request(
            url="log:kasir.notify",
            headers={"Content-Type": "text/plain; charset=utf-8", "X-Kasir-Recipient": masked_phone(message.to)},
            body=message.text.encode(),
        )

    async def send(self, request: Request) -> Result:
        started = time.perf_counter()
        log.info(
            "message to %s (not sent: KASIR_NOTIFIER=log):\n%s",
            request.headers["X-Kasir-Recipient"],
            request.body.decode(),
        )
        # Written to the log is this notifier's success, recorded as a 200 in the attempt log.
        return Result(200, "written to the log (KASIR_NOTIFIER=log)", time.perf_counter() - started, None)

    async def aclose(self) -> None:
        return None

"""The baseline of ``delivery_bench.py``: webhooks sent the way many applications send them, a
Celery task per webhook, Redis as the broker, ``requests`` as the client, no logging.

    celery -A delivery_celery worker -P prefork -c $(nproc) --loglevel=WARNING \\
        --without-gossip --without-mingle --without-heartbeat -Q $KASIR_BENCH_CELERY_QUEUE

(``delivery_bench.py`` starts it, with ``benchmarks/`` on PYTHONPATH.) The broker and the queue
come from ``KASIR_BENCH_CELERY_BROKER`` and ``KASIR_BENCH_CELERY_QUEUE``, so a run never touches
anyone else's queues. Celery's defaults otherwise (prefetch multiplier 4, early acknowledgement,
JSON serialiser), and no result backend: nothing reads the results.

The task renders and signs the body with Kasir's ``standard`` dialect (the same bytes Kasir and
the bare loop send) and POSTs it through a module-level ``requests.Session``, so each pool
process keeps its connection alive between tasks. A non-2xx answer raises, as
``raise_for_status()`` does in a typical implementation; nothing is retried, stored or logged.
"""

from __future__ import annotations

import os
import time
from typing import Any

import requests
from celery import Celery

from kasir import dialects
from kasir.dialects import WebhookEvent

app = Celery("kasir_bench", broker=os.environ.get("KASIR_BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/15"))
app.conf.update(
    task_default_queue=os.environ.get("KASIR_BENCH_CELERY_QUEUE", "kasir_bench"),
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

session = requests.Session()
standard = dialects.get("standard")


@app.task(name="kasir_bench.send_webhook")  # type: ignore[untyped-decorator]
def send_webhook(url: str, event_id: str, payload: dict[str, Any], secret: str, created_at: int) -> int:
    event = WebhookEvent(id=event_id, type="payment.paid", created_at=created_at, data=payload, business_id="bench")
    rendered = standard.render(event, [secret], timestamp=int(time.time()), delivery_id=event_id)
    response = session.post(url, data=rendered.body, headers=rendered.headers, timeout=30, allow_redirects=False)
    response.raise_for_status()
    return response.status_code

"""Buyers racing for a capped link's last uses through the real page, on SQLite and PostgreSQL.

The app on a real socket (uvicorn), each buyer a client of their own (their own cookie and form
token, as two phones are), every form sent at the same moment from its own thread. On SQLite the
app commits concurrent requests together (kasir.db.engine's group commit: one transaction, a
savepoint each), on PostgreSQL each in its own transaction on its own connection; either way the
cap holds: as many buyers reach a pay page as the link has uses, the others see the used-up page.
"""

from __future__ import annotations

import re
import threading

import httpx
import sqlalchemy as sa

from kasir.db.engine import Database
from kasir.db.tables import payments
from kasir.merchants.service import NewMerchant
from tests.conftest import LiveServer, auth

BUYERS = 10
CAP = 3


def test_the_cap_holds_for_buyers_sending_the_form_at_once(
    live_server: LiveServer, db: Database, merchant: NewMerchant
) -> None:
    with httpx.Client(base_url=live_server.url, headers=auth(merchant.test_api_key), timeout=30) as api:
        made = api.post("/v1/links", json={"title": "Kopi edisi terbatas", "amount": 85000, "max_paid_uses": CAP})
        assert made.status_code == 200, made.text
        link = made.json()["link"]
    path = "/l/" + link["url"].rsplit("/", 1)[1]
    phones = [httpx.Client(base_url=live_server.url, timeout=30) for _ in range(BUYERS)]
    try:
        tokens = []
        for phone in phones:
            page = phone.get(path)
            assert page.status_code == 200
            found = re.search(r'name="form_token" value="([^"]+)"', page.text)
            assert found
            tokens.append(found.group(1))
        start = threading.Barrier(BUYERS)
        answers: list[httpx.Response | None] = [None] * BUYERS

        def buy(number: int) -> None:
            start.wait()
            answers[number] = phones[number].post(
                path, data={"form_token": tokens[number], "name": f"Pembeli {number}"}, follow_redirects=False
            )

        threads = [threading.Thread(target=buy, args=(n,)) for n in range(BUYERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for phone in phones:
            phone.close()
    statuses = sorted(answer.status_code for answer in answers if answer is not None)
    assert statuses == [303] * CAP + [409] * (BUYERS - CAP)
    for answer in answers:
        assert answer is not None
        if answer.status_code == 409:
            assert "Link pembayaran sudah habis" in answer.text
    invoices = {answer.headers["location"] for answer in answers if answer is not None and answer.status_code == 303}
    assert len(invoices) == CAP
    stored = db.read_sync(
        lambda conn: conn.execute(
            sa.select(sa.func.count()).select_from(payments).where(payments.c.link_id == link["id"])
        ).scalar_one()
    )
    assert stored == CAP

"""An endpoint's custom headers through the API: a value that cannot go on the wire (a control
character, a line break, non-ASCII) or a name that is not a token is refused when it is saved,
on POST and on PATCH, with nothing written; and an endpoint that holds such a header from before
still answers its ping and its callback tester with a JSON result, not a 500."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.db.engine import Database
from kasir.db.tables import endpoints
from kasir.dialects import Rendered
from kasir.merchants.service import NewMerchant
from tests.conftest import assert_error, auth, writes_nothing
from tests.receivers import Receiver

ENDPOINTS = "/v1/endpoints"
URL = "https://shop.example/hook"

BAD = [
    pytest.param({"X-Trace": "a\x00b"}, "X-Trace", "control character (0x00)", id="nul"),
    pytest.param({"X-Trace": "a\x01b"}, "X-Trace", "control character (0x01)", id="soh"),
    pytest.param({"X-Trace": "\x1b[31mred"}, "X-Trace", "control character (0x1b)", id="esc"),
    pytest.param({"X-Trace": "a\x7fb"}, "X-Trace", "control character (0x7f)", id="del"),
    pytest.param({"X-Trace": "a\rb"}, "X-Trace", "line break", id="cr"),
    pytest.param({"X-Trace": "a\nb"}, "X-Trace", "line break", id="lf"),
    pytest.param({"X-Trace": "kopi\u00e9"}, "X-Trace", "non-ASCII", id="non-ascii"),
    pytest.param({"X-Shop": "ok", "X_Trace": "v"}, "X_Trace", "not a valid header name", id="underscore-name"),
    pytest.param({"X:Trace": "v"}, "X:Trace", "not a valid header name", id="colon-name"),
    pytest.param({"X-Trace\x01": "v"}, "X-Trace", "not a valid header name", id="control-in-name"),
]


def create(client: TestClient, key: str, **fields: Any) -> dict[str, Any]:
    response = client.post(ENDPOINTS, headers=auth(key), json={"url": URL, **fields})
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()["endpoint"]
    return endpoint


def stored_headers(db: Database, public_id: str) -> Any:
    raw = db.read_sync(
        lambda conn: conn.execute(sa.select(endpoints.c.headers).where(endpoints.c.public_id == public_id)).scalar()
    )
    return json.loads(raw) if raw else None


# What kasir/api/body.py refuses in any request text before a route reads it (code
# control_character); what it lets through (DEL, CR, LF, non-ASCII, a bad name) is check_headers'.
C0_BUT_TAB_LF_CR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def assert_header_refused(response: Any, headers: dict[str, str], name: str, words: str) -> None:
    body = assert_error(response, 400, response.json().get("code"))
    if body["code"] == "control_character" and any(C0_BUT_TAB_LF_CR.search(k + v) for k, v in headers.items()):
        assert body["field"].startswith("headers"), body
        return
    assert body["code"] == "invalid_header", body
    assert body["field"] == "headers", body
    assert name in body["error"], body
    assert words in body["error"], body


@pytest.mark.parametrize(("headers", "name", "words"), BAD)
def test_post_refuses_a_header_that_cannot_go_on_the_wire_and_writes_nothing(
    client: TestClient, db: Database, merchant: NewMerchant, headers: dict[str, str], name: str, words: str
) -> None:
    with writes_nothing(db):
        response = client.post(ENDPOINTS, headers=auth(merchant.test_api_key), json={"url": URL, "headers": headers})
    assert_header_refused(response, headers, name, words)


@pytest.mark.parametrize(("headers", "name", "words"), BAD)
def test_patch_refuses_a_header_that_cannot_go_on_the_wire_and_changes_nothing(
    client: TestClient, db: Database, merchant: NewMerchant, headers: dict[str, str], name: str, words: str
) -> None:
    endpoint = create(client, merchant.test_api_key, headers={"X-Shop": "kopi"})
    with writes_nothing(db):
        response = client.patch(
            f"{ENDPOINTS}/{endpoint['id']}",
            headers=auth(merchant.test_api_key),
            json={"description": "changed", "headers": headers},
        )
    assert_header_refused(response, headers, name, words)
    assert stored_headers(db, endpoint["id"]) == {"X-Shop": "kopi"}


def test_spaces_around_a_value_never_reach_storage(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """The API trims every string it reads (EndpointBody), so leading or trailing whitespace is
    gone before ``check_headers``, which refuses it where nothing trims (see the unit tests)."""
    endpoint = create(client, merchant.test_api_key, headers={"X-Shop": " kopi\t", "X-Inner": "a b\tc"})
    assert stored_headers(db, endpoint["id"]) == {"X-Shop": "kopi", "X-Inner": "a b\tc"}


def test_visible_ascii_headers_are_saved_and_shown(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    headers = {"X-Shop": "kopi susu", "Authorization": "Bearer eyJhbGciOi.J9-_~+/==", "X-Empty": ""}
    endpoint = create(client, merchant.test_api_key, headers=headers)
    assert stored_headers(db, endpoint["id"]) == headers
    changed = client.patch(
        f"{ENDPOINTS}/{endpoint['id']}", headers=auth(merchant.test_api_key), json={"headers": {"X-Shop": "teh"}}
    )
    assert changed.status_code == 200, changed.text
    assert stored_headers(db, endpoint["id"]) == {"X-Shop": "teh"}


# --- ping and the callback tester with a header stored before the check --------------------


def store_header_directly(db: Database, public_id: str, headers: dict[str, Any]) -> None:
    """As a row written before the API refused such values: straight into the table."""
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(endpoints).where(endpoints.c.public_id == public_id).values(headers=json.dumps(headers))
        )
    )


SENDS = [
    pytest.param("ping", {}, id="ping"),
    pytest.param("test", {"event_type": "payment.paid"}, id="test"),
]


@pytest.mark.parametrize(("action", "body"), SENDS)
@pytest.mark.parametrize("value", ["a\x00b", "\x1b[0m", "a\x7f", "a\r\nX-Injected: 1", 5])
def test_ping_and_test_answer_why_a_stored_header_cannot_be_sent(
    client: TestClient,
    db: Database,
    merchant: NewMerchant,
    action: str,
    body: dict[str, Any],
    value: Any,
) -> None:
    key = merchant.test_api_key
    with Receiver() as receiver:
        endpoint = create(client, key, dialect="standard")
        store_header_directly(db, endpoint["id"], {"X-Shop": "kopi", "X-Bad": value})
        client.patch(f"{ENDPOINTS}/{endpoint['id']}", headers=auth(key), json={"url": receiver.url})
        response = client.post(f"{ENDPOINTS}/{endpoint['id']}/{action}", headers=auth(key), json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["success"] is True
        result = answer["response"]
        assert result["ok"] is False
        assert result["status_code"] is None
        assert result["error"].startswith("cannot prepare the request: InvalidHeader: ")
        assert "X-Bad" in result["error"]
        assert endpoint["secret"] not in response.text
        assert receiver.requests == []  # nothing went out


@pytest.mark.parametrize(("action", "body"), SENDS)
def test_ping_and_test_answer_json_when_the_http_client_raises(
    client: TestClient,
    db: Database,
    merchant: NewMerchant,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    body: dict[str, Any],
) -> None:
    """A header that only the send refuses (here the dialect's own, made unsendable): aiohttp
    raises ValueError, not a ClientError, and the answer still says what happened."""
    from kasir.dialects import standard

    render = standard.render

    def unsendable(*args: Any, **kwargs: Any) -> Rendered:
        rendered = render(*args, **kwargs)
        return Rendered({**rendered.headers, "webhook-trace": "a\x1bb"}, rendered.body)

    monkeypatch.setattr(standard, "render", unsendable)
    key = merchant.test_api_key
    with Receiver() as receiver:
        endpoint = create(client, key, dialect="standard")
        client.patch(f"{ENDPOINTS}/{endpoint['id']}", headers=auth(key), json={"url": receiver.url})
        response = client.post(f"{ENDPOINTS}/{endpoint['id']}/{action}", headers=auth(key), json=body)
        assert response.status_code == 200, response.text
        result = response.json()["response"]
        assert result["ok"] is False
        assert result["error"].startswith("cannot send the request: ValueError: ")
        assert endpoint["secret"] not in response.text

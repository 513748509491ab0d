"""Schemathesis against a live ``kasir`` server: every operation of /openapi.json, every check.

The server is the real thing (uvicorn on a free local port, a freshly migrated SQLite database, a
merchant with a test key that every request carries), and the document is the one it serves.
Each operation gets its documented examples, its boundary cases (schemathesis' coverage phase)
and 15 drawn cases of valid and of invalid input, and each answer is held to every check
schemathesis has (none is configured off): no 5xx, a documented status, media type, headers and
body, invalid input refused, valid input accepted, no answer without the key, 405 with the
path's every method in Allow for a method it does not have. The operations on one payment link
are sent the id of a real one (made when the server starts), so that a change is checked with the
link it changes, not only refused as an unknown id. About 50 s on two cores.

Valid input is refused, and rightly, where validity depends on something no JSON Schema can
state (a QRIS's CRC, an id that names an existing item, a date relative to another):
REFUSED_FOR_A_REASON lists those refusals, each by status and code, operation by operation.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import hypothesis
import jsonschema_rs
import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from kasir import secrets_at_rest, ssrf
from kasir.app import create_app
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.db.migrate import upgrade
from kasir.merchants.service import configure_merchant, create_merchant
from tests.conftest import TEST_SECRET_KEY, VALID_QRIS, LiveServer


def fuzz_settings(home: Path, database_url: str) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "database_url": database_url,
        "public_url": "http://kasir.test",
        "platform_qris": VALID_QRIS,
        "secret_key": TEST_SECRET_KEY,
        # The fuzzer is one client sending thousands of requests, some with bad keys on purpose:
        # the limits would turn most of them into 429s and leave the routes untested.
        "rate_limit": 0,
        "auth_failure_limit": 0,
        "public_rate_limit": 0,
        # A fetched image_url or a ping must not hold a worker for long.
        "delivery_timeout": 2.0,
        "qr_fetch_timeout": 2.0,
    }
    return Settings(**{name: value for name, value in values.items() if name in Settings.model_fields})


# The document, from an app that is never started (its home and database are never touched): the
# operations are collected from it before the server exists. The fixture checks that the server
# serves the same.
DOCUMENT = create_app(fuzz_settings(Path("unused-home"), "sqlite://")).openapi()

CONFIG = SchemathesisConfig.from_dict(
    {
        # The key is sent with every request (below); generating values for the security schemes
        # as well would only send a second, made-up key next to it.
        "generation": {"max-examples": 15, "with-security-parameters": False},
        "request-timeout": 10,
        "checks": {
            # A body over the route's size limit is refused with 413 before it is read.
            "negative_data_rejection": {"expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]},
        },
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)

Refusal = tuple[int, str]  # (status, code); a code ending in * is a prefix
_SSRF: frozenset[Refusal] = frozenset({(422, "unsafe_url"), (422, "url_unresolvable")})
_QRIS: frozenset[Refusal] = frozenset(
    (400, code)
    for code in (
        "qris_*",
        "not_qris",
        "qr_not_found",
        "image_unreadable",
        "image_unsupported_format",
        "image_empty",
        "invalid_image",
        "image_url_failed",
        "image_url_timeout",
    )
)
_LINK: frozenset[Refusal] = frozenset(
    (400, code)
    for code in (
        "invalid_amount_range",
        "expires_at_past",
        "payment_method_unavailable",
        "file_not_found",
        "content_not_found",
        "product_image_not_found",
        "invalid_title",
    )
)
# Schema-valid input that the server refuses for a reason no JSON Schema can state, by operation:
# a positive case answered with one of these refusals is not held against it. Each is as narrow
# as its reason: any other refusal of valid input still fails the run.
REFUSED_FOR_A_REASON: dict[str, frozenset[Refusal]] = {
    # An attachment's id must name an active file, content or photo of the merchant's: state. And
    # whether a URL's host resolves, and to a public address, is the network's to say.
    "POST /api/create-payment.php": _SSRF
    | {(400, "file_not_found"), (400, "content_not_found"), (400, "product_image_not_found")},
    **{
        operation: _SSRF
        for operation in (
            "PUT /v1/webhook-settings",
            "POST /v1/endpoints",
            "PATCH /v1/endpoints/{endpoint_id}",
            "POST /callback_urls",
        )
    },
    # A QRIS is valid by its CRC and by what its tags hold; an image, by holding a readable QR.
    **{operation: _QRIS | _SSRF for operation in ("POST /api/qris-convert.php", "POST /api/qris-info.php")},
    # ... and exactly one of qris and image_url is given: a relation between two parameters.
    "GET /api/qris-info.php": _QRIS | _SSRF | {(400, "missing_qris"), (400, "ambiguous_qris")},
    "GET /qr.png": _QRIS,
    "GET /qr.svg": _QRIS,
    # A product photo is valid by its bytes: a JPEG, PNG or WebP that decodes. And an upload
    # has bytes: minLength would say so, but schemathesis checks its mutations of a multipart body
    # with the binary parts as "", so every mutation would pass for a real one.
    "POST /v1/images": frozenset({(400, "image_unreadable"), (400, "image_unsupported_format"), (400, "image_empty")}),
    "POST /v1/files": frozenset({(400, "file_empty")}),
    # An order's total, the sum of quantity × price, must be within its payment method's range.
    "POST /v1/store/orders": frozenset({(400, "amount_out_of_range"), (400, "invalid_total")}),
    # A reference must be printable (str.isprintable: no format, private-use or unassigned
    # characters, which no portable pattern can list), and a credit cannot be in the future.
    "POST /v1/mutations": frozenset({(400, "invalid_reference"), (400, "occurred_at_in_future")}),
    # A source's name must be printable too.
    "POST /v1/sources": frozenset({(400, "invalid_name")}),
    "PATCH /v1/sources/{source_id}": frozenset({(400, "invalid_name")}),
    # start_date after end_date: a relation between two parameters.
    "GET /api/list-payments.php": frozenset({(400, "start_date_after_end_date")}),
    # A payment link: amount_min not above amount_max (two fields), expires_at in the future (the
    # clock), a method available to the merchant and goods ids that name active items of theirs
    # (state), a printable title (str.isprintable, as a source's name).
    "POST /v1/links": _LINK,
    # A change is checked with the link it changes: the price, method and uses it does not send are
    # the link's (a bound sent to a fixed-price link, a method whose ceiling its amount is above, a
    # cap sent to a single-use link).
    "PATCH /v1/links/{link_id}": _LINK
    | {(400, "missing_amount"), (400, "amount_out_of_range"), (400, "single_use_cap")},
}


def refused_for_a_reason(case: schemathesis.Case[Any], response: schemathesis.Response) -> bool:
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code not in (400, 413, 422):
        return False
    try:
        answer = response.json()
        code = str(answer["code"])
    except (ValueError, KeyError, TypeError):
        return False
    # A body's size in bytes is no JSON Schema notion: 20,000 characters of content may be more
    # bytes than the route takes.
    if (response.status_code, code) == (413, "payload_too_large"):
        return True
    # To JSON Schema 5000.0 is the integer 5000; to Kasir a number written with a fraction is
    # not a whole amount, count or id, and it says so (a 400 naming the field).
    if isinstance(_value_at(case.body, answer.get("field")), float):
        return True
    allowed = REFUSED_FOR_A_REASON.get(f"{case.method.upper()} {case.path}")
    if not allowed:
        return False
    if answer.get("field") == "start_date" and "after end_date" in answer.get("error", ""):
        code = "start_date_after_end_date"  # list-payments says so with the general code
    return any(
        status == response.status_code
        and (code == refused or (refused.endswith("*") and code.startswith(refused[:-1])))
        for status, refused in allowed
    )


def _value_at(body: Any, field: Any) -> Any:
    """The value a 400's ``field`` (``items.0.price``) names in a JSON body, or None. A batch of
    mutations names its items mutations[i] however it was sent, and a batch of one not at all."""
    if not isinstance(field, str):
        return None
    parts = field.replace("[", ".").replace("]", "").split(".")
    batch = body.get("mutations") if isinstance(body, dict) else body
    candidates = [(body, parts)]
    if isinstance(batch, list):
        candidates += [(batch, parts[1:]), (batch, ["0", *parts])]
    candidates = [(root, path) for root, path in candidates if path]
    for found, path in candidates:
        for part in path:
            if isinstance(found, dict) and part in found:
                found = found[part]
            elif isinstance(found, list) and part.isdigit() and int(part) < len(found):
                found = found[int(part)]
            else:
                break
        else:
            return found
    return None


def mislabelled_negative(case: schemathesis.Case[Any]) -> bool:
    """A negative case whose only negative part is its body, and the body is valid: schemathesis
    sometimes breaks a schema where the value it then draws is not affected (``items`` of a
    value that comes out an object, in a multipart field that may be either). Nothing invalid
    was sent, so nothing had to be refused."""
    meta = case.meta
    if meta is None or case.media_type is None or not meta.generation.mode.is_negative:
        return False
    negative = [location for location, info in meta.components.items() if info.mode.is_negative]
    if [location.value for location in negative] != ["body"]:
        return False
    segments = ("paths", case.path, case.method.lower(), "requestBody", "content", case.media_type, "schema")
    pointer = "#/" + "/".join(quote(part.replace("~", "~0").replace("/", "~1"), safe="~") for part in segments)
    return bool(_body_validator(pointer).is_valid(_as_json(case.body)))


@functools.cache
def _body_validator(pointer: str) -> Any:
    return jsonschema_rs.validator_for({**DOCUMENT, "$ref": pointer})


def _as_json(value: Any) -> Any:
    """The body as the document describes it: a file part (schemathesis' Binary) as text."""
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    return value if value is None or type(value) in (str, int, float, bool) else ""


def with_the_link(case: schemathesis.Case[Any], link_id: str) -> None:
    """Address the real link in ``case`` where it names one by a value the document allows (a
    path that is the negative part of a case must stay as drawn, to be refused)."""
    meta = case.meta
    path = next(
        (info for location, info in (meta.components.items() if meta else ()) if location.value == "path"), None
    )
    if "link_id" in (case.path_parameters or {}) and (path is None or path.mode.is_positive):
        case.path_parameters["link_id"] = link_id


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """The live server's URL, the merchant's test key and the id of a payment link of theirs."""
    # The per-test key fixture comes after this one: the merchant below is written before it.
    replaced = secrets_at_rest.install(secrets_at_rest.Keyring(secrets_at_rest.parse_key(TEST_SECRET_KEY)))
    root = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{root / 'kasir.db'}"
    engine = build_engine(url)
    upgrade(engine)
    engine.dispose()
    db = Database(build_engine(url))
    merchant = db.write_sync(lambda conn: create_merchant(conn, name="Toko Fuzz", username="toko_fuzz"))
    # Every payment method available, so that a valid payment_method is a payable one.
    db.write_sync(
        lambda conn: configure_merchant(
            conn,
            merchant.username,
            subscription_active=True,
            qris_bri=VALID_QRIS,
            qris_gopay=VALID_QRIS,
            ovo_number="081234567890",
        )
    )
    app = create_app(fuzz_settings(root / "home", url), database=db, background=False)
    # The fuzzer draws URLs (image_url, callback URLs that ping and test then call); a public
    # address among them must not be reached from this machine. The SSRF guard (on, as in
    # production) is made to refuse every address: the routes still take the path they take for
    # any refused URL, which the document describes, and nothing leaves the machine.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ssrf, "refusal", lambda _address: "not reachable from the fuzz test")
        with LiveServer(app) as server:
            served = requests.get(f"{server.url}/openapi.json", timeout=10).json()
            assert served == DOCUMENT
            made = requests.post(
                f"{server.url}/v1/links",
                json={"title": "Kopi Gayo 250 g", "amount": 85000},
                headers={"X-API-Key": merchant.test_api_key},
                timeout=10,
            )
            assert made.status_code == 200, made.text
            yield server.url, merchant.test_api_key, made.json()["link"]["id"]
    db.dispose()
    secrets_at_rest.install(replaced)


@schema.parametrize()
# Time is bounded by the number of cases (above) and by this, per operation; one case's time is
# not a deadline, on two cores shared with the rest of the suite.
@hypothesis.settings(deadline=None)
@pytest.mark.timeout(120)
def test_the_server_keeps_to_its_document(case: schemathesis.Case[Any], fuzzed: tuple[str, str, str]) -> None:
    base_url, key, link_id = fuzzed
    with_the_link(case, link_id)
    auth = {"X-API-Key": key}
    response = case.call(base_url=base_url, headers=auth)
    excluded: list[Any] = []
    if refused_for_a_reason(case, response):
        excluded.append(positive_data_acceptance)
    if mislabelled_negative(case):
        excluded.append(negative_data_rejection)
    case.validate_response(
        response, headers=auth, transport_kwargs={"base_url": base_url, "headers": auth}, excluded_checks=excluded
    )

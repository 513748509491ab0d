"""/openapi.json tells the truth: every $ref resolves, no operation promises FastAPI's 422
validation shape (errors are Kasir's 400 Error), the SSRF-guarded routes and only they document
their 422, and the Error schema the document gives is the one the server answers with."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from kasir.merchants.service import NewMerchant
from tests.conftest import auth

# The routes that save or fetch a URL through the SSRF guard, which answers 422 (kasir/errors.py
# has no other 422; kasir.api.errors turns FastAPI's own into 400).
SSRF_GUARDED = {
    "POST /api/create-payment.php",
    "PUT /v1/webhook-settings",
    "POST /v1/endpoints",
    "PATCH /v1/endpoints/{endpoint_id}",
    "POST /callback_urls",
    "POST /api/qris-convert.php",
    "GET /api/qris-info.php",
    "POST /api/qris-info.php",
}
# POSTs that read no body.
BODILESS = {
    "POST /v1/payments/{invoice}/cancel",
    "POST /v1/webhook-settings/rotate-secret",
    "POST /v1/endpoints/{endpoint_id}/rotate-secret",
    "POST /v1/endpoints/{endpoint_id}/ping",
    "POST /v1/deliveries/{delivery_id}/redeliver",
    "POST /v1/forwarder",
    "POST /v1/report/hooks/{hook_id}/pings",
    "POST /v1/files/{file_id}/deactivate",
    "POST /v1/contents/{content_id}/deactivate",
    "POST /v1/images/{image_id}/deactivate",
    "POST /v1/sources/{source_id}/rotate-token",
    "POST /v1/sources/{source_id}/notifications/{notification_id}/reparse",
}


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in refs(item)]
    return []


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = unquote(part).replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), ref
        assert part in node, f"{ref} does not resolve ({part!r} missing)"
        node = node[part]
    return node


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    found = refs(document)
    assert "#/components/schemas/CreatePaymentBody" in found
    assert "#/components/schemas/StoreOrderBody" in found
    for ref in set(found):
        assert isinstance(resolve(document, ref), dict), ref


def test_the_request_bodies_the_routes_read_are_documented(document: dict[str, Any]) -> None:
    ops = operations(document)
    for key, operation in ops.items():
        if key.split()[0] in ("POST", "PUT", "PATCH") and key not in BODILESS:
            assert "requestBody" in operation, f"{key} reads a body the document does not describe"
    create = ops["POST /api/create-payment.php"]["requestBody"]["content"]
    assert set(create) == {"application/json", "application/x-www-form-urlencoded"}
    assert "null" not in str(resolve(document, create["application/x-www-form-urlencoded"]["schema"]["$ref"]))


def test_no_operation_promises_a_422_it_cannot_send(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    with_422 = {key for key, operation in operations(document).items() if "422" in operation["responses"]}
    assert with_422 == SSRF_GUARDED
    for key in with_422:
        assert "unsafe_url" in operations(document)[key]["responses"]["422"]["description"]


def error_schema(document: dict[str, Any], key: str, status: str) -> Any:
    response = operations(document)[key]["responses"][status]
    return response["content"]["application/json"]["schema"]


def test_the_error_statuses_are_documented_with_the_error_schema(document: dict[str, Any]) -> None:
    error = {"$ref": "#/components/schemas/Error"}
    for key, operation in operations(document).items():
        responses = operation["responses"]
        assert error_schema(document, key, "400") == error, key
        if operation.get("security"):  # an API key: 401 without a valid one
            assert error_schema(document, key, "401") == error, key
            assert "429" in responses, key
        if any(parameter["in"] == "path" for parameter in operation.get("parameters", [])):
            assert error_schema(document, key, "404") == error, key
        if "requestBody" in operation:
            assert {"413", "415"} <= set(responses), key
    assert error_schema(document, "GET /api/check-payment.php", "404") == error
    assert error_schema(document, "POST /v1/forwarders/{forwarder_id}/mutations", "401") == error


def test_the_server_answers_with_the_documented_error_schema(
    document: dict[str, Any], client: TestClient, merchant: NewMerchant
) -> None:
    key = merchant.test_api_key
    answers = {
        ("GET /api/check-payment.php", "401"): client.get("/api/check-payment.php?invoice=PAY-x"),
        ("GET /api/check-payment.php", "404"): client.get("/api/check-payment.php?invoice=PAY-x", headers=auth(key)),
        ("GET /api/check-payment.php", "400"): client.get("/api/check-payment.php", headers=auth(key)),
        ("POST /api/create-payment.php", "400"): client.post(
            "/api/create-payment.php", headers=auth(key), json={"amount": "lots"}
        ),
        ("POST /api/create-payment.php", "415"): client.post(
            "/api/create-payment.php", headers={**auth(key), "Content-Type": "text/plain"}, content=b"amount=5"
        ),
        ("GET /v1/endpoints/{endpoint_id}", "404"): client.get("/v1/endpoints/ep_nope", headers=auth(key)),
    }
    for (operation, status), response in answers.items():
        assert str(response.status_code) == status, (operation, response.text)
        schema = {**document, "$ref": error_schema(document, operation, status)["$ref"]}
        jsonschema_rs.validator_for(schema).validate(response.json())

"""Mutations in (the API, the signed forwarder ingress, the sandbox), and reconciliation out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Connection

from kasir.api.body import read_json_or_form, read_params
from kasir.api.deps import principal
from kasir.api.state import AppState, app_state
from kasir.clock import utcnow
from kasir.errors import InvalidRequest
from kasir.merchants.service import Principal
from kasir.money import whole_rupiah
from kasir.payments import forwarders, reconciliation, sandbox
from kasir.payments.matching import Outcome, ingest
from kasir.payments.methods import METHODS
from kasir.payments.mutations import STATUSES, Reporter, mutation_view, parse_credits
from kasir.payments.service import get_payment
from kasir.payments.views import payment_view

router = APIRouter(tags=["mutations"])

MUTATIONS_PREFIX = "/v1/mutations"
FORWARDERS_PREFIX = "/v1/forwarders/"

# The bodies (a credit, a list of them, or {"mutations": [...]}) are documented in kasir.api.openapi.


def _answer(outcomes: list[Outcome]) -> dict[str, Any]:
    summary = {"matched": 0, "unmatched": 0, "late": 0, "duplicate": 0}
    shown = []
    for outcome in outcomes:
        summary["duplicate" if outcome.duplicate else outcome.mutation["status"]] += 1
        shown.append({**mutation_view(outcome.mutation), "duplicate": outcome.duplicate})
    return {"success": True, "mutations": shown, "summary": summary}


async def _ingest(state: AppState, reporter: Reporter, body: Any) -> dict[str, Any]:
    settings = state.settings
    now = utcnow()
    credits = parse_credits(body, now=now, clock_grace=settings.mutation_clock_grace)
    outcomes = await state.db.unit(
        lambda conn: ingest(conn, reporter, credits, settings, utcnow()), retry_conflicts=True
    )
    return _answer(outcomes)


@router.post(MUTATIONS_PREFIX, summary="Report credits on your accounts (one, or up to 1,000)")
async def report_mutations(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    body = await read_json_or_form(request)
    return await _ingest(state, Reporter(caller.mode, caller.merchant_id, "api"), body)


@router.post(
    FORWARDERS_PREFIX + "{forwarder_id}/mutations",
    summary="Signed ingress for mutation forwarders (X-Kasir-Signature: sha256=<hex HMAC of the body>)",
)
async def forwarded_mutations(request: Request, forwarder_id: str) -> dict[str, Any]:
    state = app_state(request)
    raw = await request.body()
    signature = request.headers.get(forwarders.SIGNATURE_HEADER)
    forwarder = await state.auth_throttle.guard(
        state.addresses(request.scope),
        lambda: state.db.read(lambda conn: forwarders.authenticate(conn, forwarder_id, raw, signature)),
    )
    body = await read_json_or_form(request)
    return await _ingest(state, Reporter(forwarder["mode"], forwarder["merchant_id"], "forwarder"), body)


@router.post("/v1/forwarder", summary="Set up the mutation forwarder, or give it a new secret (shown once)")
async def setup_forwarder(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    now = utcnow()
    row, secret = await state.db.write(lambda conn: forwarders.setup(conn, caller, now))
    return {"success": True, "forwarder": forwarders.view(row, state.settings.public_url, secret)}


@router.get("/v1/forwarder", summary="The mutation forwarder's URL and signing recipe")
async def get_forwarder(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    row = await state.db.read(lambda conn: forwarders.get(conn, caller))
    return {"success": True, "forwarder": forwarders.view(row, state.settings.public_url)}


def _page(value: str | None, field: str, default: int) -> int:
    if value is None or value == "":
        return default
    if not value.isascii() or not value.isdigit() or not 0 < int(value) < 10**9:
        raise InvalidRequest(f"{field} must be a positive integer", field=field)
    return int(value)


@router.get(MUTATIONS_PREFIX, summary="Credits, newest first; matched=false lists what needs reconciling")
async def list_mutations(
    request: Request,
    matched: str | None = Query(default=None, description="true: matched only; false: unmatched and late"),
    status: str | None = Query(default=None, description="matched, unmatched, late"),
    channel: str | None = Query(default=None, description="qris, qris_user, gopay_qris, ovo"),
    page: str | None = Query(default=None),
    limit: str | None = Query(default=None, description="Default 20, at most 100"),
    caller: Principal = Depends(principal),
) -> dict[str, Any]:
    if matched not in (None, "", "true", "false", "1", "0"):
        raise InvalidRequest("matched must be true or false", field="matched")
    if status and status not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}", field="status")
    if channel and channel not in METHODS:
        raise InvalidRequest(f"channel must be one of {', '.join(METHODS)}", field="channel", code="invalid_channel")
    flt = reconciliation.MutationFilter(
        matched=None if not matched else matched in ("true", "1"),
        status=status or None,
        channel=channel or None,
        page=_page(page, "page", 1),
        limit=min(_page(limit, "limit", 20), reconciliation.MAX_LIMIT),
    )
    state = app_state(request)
    found = await state.db.read(lambda conn: reconciliation.list_mutations(conn, caller, flt))
    shown = [mutation_view(row) for row in found["rows"]]
    # "data", as every other /v1 list answers; "mutations" too, the same list, for the clients
    # written against it before.
    return {"success": True, "data": shown, "mutations": shown, "pagination": found["pagination"]}


@router.get(MUTATIONS_PREFIX + "/{mutation_id}", summary="One credit")
async def get_mutation(request: Request, mutation_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    row = await state.db.read(lambda conn: reconciliation.get_mutation(conn, caller, mutation_id))
    return {"success": True, "mutation": mutation_view(row)}


@router.post(
    MUTATIONS_PREFIX + "/{mutation_id}/assign",
    summary="Settle an unmatched or late credit against a payment by hand",
)
async def assign_mutation(request: Request, mutation_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    params = await read_params(request)
    invoice = params.get("invoice_id") or params.get("invoice")
    if not isinstance(invoice, str) or not invoice.strip():
        raise InvalidRequest("invoice_id is required", field="invoice_id", code="missing_parameter")
    now = utcnow()
    public_url = state.settings.public_url

    def settle(conn: Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        return reconciliation.assign(conn, caller, mutation_id, invoice.strip(), public_url, now)

    mutation, payment = await state.db.write(settle, retry_conflicts=True)
    return {"success": True, "mutation": mutation_view(mutation), "payment": payment_view(payment, public_url)}


@router.post("/v1/sandbox/payments/{invoice}/pay", summary="Test mode: pay a payment with a credit of its exact amount")
async def sandbox_pay(request: Request, invoice: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    sandbox.require_test_mode(caller.mode)
    state = app_state(request)
    params = await read_params(request)
    amount = None
    if params.get("amount") not in (None, ""):
        try:
            amount = whole_rupiah(params["amount"])
        except ValueError:
            raise InvalidRequest(
                "amount must be a positive whole number of rupiah", field="amount", code="invalid_amount"
            ) from None
    settings = state.settings

    def pay(conn: Connection) -> tuple[Outcome, dict[str, Any]]:
        now = utcnow()
        outcome = sandbox.pay(conn, dict(get_payment(conn, caller, invoice)), settings, now, amount=amount)
        return outcome, dict(get_payment(conn, caller, invoice))

    outcome, payment = await state.db.write(pay, retry_conflicts=True)
    return {
        "success": True,
        "mutation": mutation_view(outcome.mutation),
        "payment": payment_view(payment, settings.public_url),
    }

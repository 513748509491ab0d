"""qris-convert and qris-info (seed 004's QRIS Converter), and the QR images behind
``qr_image_url``."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from kasir.api.body import read_params
from kasir.api.compat import bayargg_route
from kasir.api.deps import principal
from kasir.api.state import AppState, app_state
from kasir.errors import InvalidRequest, PayloadTooLarge
from kasir.merchants.service import Principal
from kasir.money import whole_rupiah
from kasir.payments.views import qr_image_url
from kasir.qris import image
from kasir.qris.convert import to_dynamic
from kasir.qris.emv import QrisError, clean, parse
from kasir.qris.fetch import fetch_image
from kasir.qris.info import QrisInfo, info

router = APIRouter(tags=["qris"])

SOURCES = ("qris", "image", "image_url")
# Path prefixes whose bodies may carry an image (BodySizeLimit in kasir.app).
IMAGE_PATHS = ("/api/qris-convert", "/api/qris-info")


def image_body_limit(max_image_bytes: int) -> int:
    """A base64 image is 4/3 of its bytes; the rest of the body is a few fields."""
    return max_image_bytes * 4 // 3 + 64 * 1024


async def _qris_from(state: AppState, params: dict[str, Any]) -> str:
    """The QRIS text the request names, by string, by image, or by image URL: exactly one."""
    given = [name for name in SOURCES if params.get(name) not in (None, "")]
    if not given:
        raise InvalidRequest(
            "send the QRIS as qris (the string), image (base64, or a file in multipart) or image_url",
            field="qris",
            code="missing_qris",
        )
    if len(given) > 1:
        raise InvalidRequest(
            f"send only one of qris, image or image_url, not {' and '.join(given)}",
            field=given[1],
            code="ambiguous_qris",
        )
    name, value = given[0], params[given[0]]
    limit = state.settings.max_qr_image_bytes
    if name == "qris":
        if not isinstance(value, str):
            raise InvalidRequest("qris must be a string", field="qris", code="invalid_qris")
        return clean(value)
    if name == "image":
        data = await _image_bytes(value, limit)
    else:
        if not isinstance(value, str):
            raise InvalidRequest("image_url must be a string", field="image_url", code="invalid_url")
        data = await fetch_image(
            state.http,
            value.strip(),
            max_bytes=limit,
            seconds=state.settings.qr_fetch_timeout,
            allow_private=state.settings.webhook_allow_private_networks,
        )
    # Decoding a photo and scanning it is milliseconds of CPU: off the event loop.
    return await run_in_threadpool(image.read_qris, data, max_bytes=limit)


async def _image_bytes(value: object, limit: int) -> bytes:
    if isinstance(value, UploadFile):
        data = await value.read(limit + 1)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("data:"):  # a data URL, as a browser's FileReader gives it
            text = text.partition(",")[2]
        if len(text) > image_body_limit(limit):
            raise PayloadTooLarge(f"the image is larger than {limit} bytes", code="image_too_large")
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("image is not valid base64", field="image", code="invalid_image") from None
    else:
        raise InvalidRequest("image must be base64 text or a file", field="image", code="invalid_image")
    if len(data) > limit:
        raise PayloadTooLarge(f"the image is larger than {limit} bytes", code="image_too_large")
    return data


def _nominal(params: dict[str, Any], maximum: int) -> int:
    raw = params.get("nominal")
    if raw in (None, ""):
        raise InvalidRequest("nominal is required: the rupiah amount to embed", field="nominal", code="missing_nominal")
    try:
        nominal = whole_rupiah(raw, "nominal")
    except ValueError:
        raise InvalidRequest(
            f"nominal must be a whole number of rupiah without separators, not {raw!r}",
            field="nominal",
            code="invalid_nominal",
        ) from None
    if nominal <= 0:
        raise InvalidRequest(f"nominal must be positive, not {nominal}", field="nominal", code="invalid_nominal")
    if nominal > maximum:
        raise InvalidRequest(
            f"nominal is above the ceiling of {maximum} rupiah per QRIS transaction",
            field="nominal",
            code="nominal_out_of_range",
        )
    return nominal


# The body (JSON, a form or multipart with the image as a file) is documented in kasir.api.openapi.
@bayargg_route(router, "qris-convert", ["POST"], summary="Static QRIS → dynamic QRIS with the amount")
async def qris_convert(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    params = await read_params(request, files=frozenset({"image"}))
    # The amount first: a bad nominal is answered without fetching or decoding anything.
    nominal = _nominal(params, state.settings.max_amount_own_channel)
    parsed = parse(await _qris_from(state, params))
    dynamic = to_dynamic(parsed, nominal)
    return {
        "success": True,
        "qris": dynamic,
        "qr_image_url": qr_image_url(state.settings.public_url, dynamic),
        "merchant_name": parsed.get("59"),
        "merchant_city": parsed.get("60"),
        "amount": nominal,
    }


def _info_view(described: QrisInfo) -> dict[str, Any]:
    # Seed 004's four fields first (amount 0 for a static QRIS, as the seed shows), then the rest.
    view = described.to_dict()
    return {
        "success": True,
        "merchant_name": view.pop("merchant_name"),
        "merchant_city": view.pop("merchant_city"),
        "amount": view.pop("amount") or 0,
        "is_dynamic": view.pop("is_dynamic"),
        **view,
    }


@bayargg_route(router, "qris-info", ["GET"], summary="Describe and validate a QRIS")
async def qris_info_get(
    request: Request,
    qris: str = Query(default="", description="The QRIS string"),
    image_url: str = Query(default="", description="Or the URL of a QR image"),
    caller: Principal = Depends(principal),
) -> dict[str, Any]:
    state = app_state(request)
    return _info_view(info(await _qris_from(state, {"qris": qris, "image_url": image_url})))


@bayargg_route(router, "qris-info", ["POST"], summary="Describe and validate a QRIS (string, image or URL)")
async def qris_info_post(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    params = await read_params(request, files=frozenset({"image"}))
    return _info_view(info(await _qris_from(state, params)))


def _size(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        raise InvalidRequest(
            f"size must be a whole number of pixels, {image.MIN_SIZE}–{image.MAX_SIZE}",
            field="size",
            code="invalid_size",
        )
    return int(text)


def _check_data(data: str) -> None:
    # Only valid QRIS: this endpoint needs no key, and must not become a QR service for any URL.
    try:
        parse(data)
    except QrisError as exc:
        raise QrisError(f"data: {exc.message}", code=exc.code, position=exc.position, field="data") from None


_CACHE = "public, max-age=86400, immutable"  # the image is a pure function of the query


@router.get("/qr.png", summary="A QRIS as a PNG image", response_class=Response)
async def qr_png(
    data: str = Query(description="The QRIS string"),
    size: str = Query(
        default=str(image.DEFAULT_SIZE), description=f"Width in pixels, {image.MIN_SIZE}–{image.MAX_SIZE}"
    ),
) -> Response:
    _check_data(data)
    png = await run_in_threadpool(image.render_png, data, _size(size))
    return Response(png, media_type="image/png", headers={"Cache-Control": _CACHE})


@router.get("/qr.svg", summary="A QRIS as an SVG image", response_class=Response)
async def qr_svg(
    data: str = Query(description="The QRIS string"),
    size: str = Query(
        default=str(image.DEFAULT_SIZE), description=f"Width in pixels, {image.MIN_SIZE}–{image.MAX_SIZE}"
    ),
) -> Response:
    _check_data(data)
    svg = await run_in_threadpool(image.render_svg, data, _size(size))
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": _CACHE})

"""QR images: render a QRIS as PNG or SVG (segno), read the QR codes in a photo or a screenshot
(zxing-cpp, with Pillow to decode PNG, JPEG, GIF and WebP)."""

from __future__ import annotations

import io
from functools import lru_cache

import segno
import zxingcpp
from PIL import Image

from kasir.errors import InvalidRequest, PayloadTooLarge
from kasir.imaging import decode
from kasir.qris.emv import QrisError

READABLE_FORMATS = frozenset({"PNG", "JPEG", "GIF", "WEBP"})
# A 12-megapixel phone photo is 12e6; anything far beyond is a decompression bomb, not a QR.
MAX_PIXELS = 50_000_000
MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 64, 2048, 300
# Bank Indonesia's QRIS guidance prints with medium error correction; a 4-module quiet zone is
# what scanners need around the symbol.
_ERROR_CORRECTION = "m"
_BORDER = 4


def _symbol(data: str) -> segno.QRCode:
    # micro=False: segno picks Micro QR for short data, which payment apps do not read.
    return segno.make(data, error=_ERROR_CORRECTION, micro=False, boost_error=False)


def _scale(qr: segno.QRCode, size: int) -> int:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise InvalidRequest(
            f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels", field="size", code="invalid_size"
        )
    width, _ = qr.symbol_size(scale=1, border=_BORDER)
    if size < width:
        # A module narrower than a pixel cannot be drawn; say so rather than answer a bigger image.
        raise InvalidRequest(
            f"this QR needs at least {width} pixels; size {size} is too small", field="size", code="invalid_size"
        )
    return size // int(width)


@lru_cache(maxsize=256)
def render_png(data: str, size: int = DEFAULT_SIZE) -> bytes:
    """A PNG at most ``size`` pixels wide (whole pixels per module, so it stays crisp); a size
    below the symbol's width in modules is refused."""
    qr = _symbol(data)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=_scale(qr, size), border=_BORDER)
    return out.getvalue()


@lru_cache(maxsize=256)
def render_svg(data: str, size: int = DEFAULT_SIZE) -> bytes:
    qr = _symbol(data)
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=_scale(qr, size), border=_BORDER, xmldecl=False, svgns=True, title="QRIS")
    return out.getvalue()


def _on_white(image: Image.Image) -> Image.Image:
    """Transparent pixels made white: a canvas export draws black modules on transparent black,
    which a plain grey conversion would turn into black on black."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba)
    return image


def read_codes(data: bytes, *, max_bytes: int | None = None) -> list[str]:
    """The text of every QR code in the image ``data``, as the scanner found them."""
    if max_bytes is not None and len(data) > max_bytes:
        raise PayloadTooLarge(f"the image is larger than {max_bytes} bytes", code="image_too_large")
    if not data:
        raise InvalidRequest("the image is empty", field="image", code="image_empty")
    # The first frame of a GIF or an animated WebP, transparency made white, in grey.
    gray = decode(
        data,
        formats=READABLE_FORMATS,
        names="PNG, JPEG, GIF or WebP",
        max_pixels=MAX_PIXELS,
        then=lambda image: _on_white(image).convert("L"),
    )
    return [
        result.text
        for result in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    ]


def read_qris(data: bytes, *, max_bytes: int | None = None) -> str:
    """The QRIS in the image ``data``: the first QR code that is an EMV merchant payload."""
    codes = read_codes(data, max_bytes=max_bytes)
    if not codes:
        raise InvalidRequest("no QR code was found in the image", field="image", code="qr_not_found")
    for text in codes:
        if text.startswith("0002"):
            return text
    raise QrisError("the image holds a QR code, but it is not a QRIS (it does not start with 000201)", code="not_qris")

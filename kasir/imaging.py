"""Decoding image bytes from outside (QR uploads, product photos): format allow-list, pixel cap,
and every way Pillow can fail turned into one clear 400 or 413."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TypeVar

from PIL import Image, UnidentifiedImageError

from kasir.errors import InvalidRequest, PayloadTooLarge

T = TypeVar("T")


def decode(
    data: bytes,
    *,
    formats: frozenset[str],
    names: str,
    max_pixels: int,
    then: Callable[[Image.Image], T],
) -> T:
    """``then(image)`` on the decoded image, once its format is one of ``formats`` (described to
    people as ``names``) and it has at most ``max_pixels``. ``then`` runs inside the same guard,
    so a file that is truncated where Pillow only notices while converting is refused too."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in formats:
                raise InvalidRequest(
                    f"images must be {names}, not {image.format}", field="image", code="image_unsupported_format"
                )
            width, height = image.size
            if width * height > max_pixels:
                raise PayloadTooLarge(
                    f"the image is {width}×{height} pixels; at most {max_pixels:,} are read", code="image_too_large"
                )
            return then(image)
    except Image.DecompressionBombError:
        raise PayloadTooLarge(f"the image has more than {max_pixels:,} pixels", code="image_too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequest(
            f"the bytes are not a readable {names} image ({type(exc).__name__})", field="image", code="image_unreadable"
        ) from None
